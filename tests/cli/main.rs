//! Runs the real binary on fixture suites. One test binary, so the shared
//! setup (crash libraries, the provisioned libtensorflow) happens once.

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

mod hardening;
mod machines;
mod pipelines;

const BIN: &str = env!("CARGO_BIN_EXE_gpugate");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    root().join("fixtures")
}

/// A host root with no NVIDIA driver, so results do not depend on the machine.
fn gpu_less_root() -> &'static Path {
    static ROOT: OnceLock<tempfile::TempDir> = OnceLock::new();
    ROOT.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

fn gpugate(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("GPUGATE_HOST_ROOT", gpu_less_root())
        .env_remove("CUDA_VISIBLE_DEVICES")
        .output()
        .unwrap()
}

/// [`gpugate`] with extra environment variables.
fn gpugate_env(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("GPUGATE_HOST_ROOT", gpu_less_root())
        .env_remove("CUDA_VISIBLE_DEVICES")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// Runs `suite` from the repository root with a fresh report path.
fn run_suite(suite: &str, extra: &[&str]) -> (Output, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("reports/junit.xml");
    let mut args = vec!["--suite", suite, "--junit", junit.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = gpugate(&args, &root());
    (out, junit, dir)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads a JUnit file back and checks what its consumers need (docs/architecture.md, "Reports").
fn read_junit(path: &Path) -> Report {
    let xml = std::fs::read_to_string(path).unwrap();
    for c in xml.chars() {
        assert!(
            gpugate::text::is_xml_char(c),
            "invalid XML character {c:?} in {}",
            path.display()
        );
    }
    assert!(!xml.contains("type=\"yaml\"") && !xml.contains("type=\"symbol\""));
    let report = Report::deserialize_from_str(&xml).unwrap();
    let mut seen = HashSet::new();
    for suite in &report.test_suites {
        assert!(!suite.name.is_empty());
        for case in &suite.test_cases {
            let classname = case.classname.as_ref().expect("classname").to_string();
            assert!(
                seen.insert((classname, case.name.to_string())),
                "duplicate test case {}",
                case.name.as_str()
            );
            assert!(
                case.time.is_some(),
                "time missing on {}",
                case.name.as_str()
            );
            if let TestCaseStatus::NonSuccess {
                message,
                description,
                ty,
                ..
            } = &case.status
            {
                let message = message.as_ref().expect("failure message").to_string();
                let description = description.as_ref().expect("failure text").to_string();
                assert!(
                    !message.contains('\n'),
                    "message of {} spans lines",
                    case.name.as_str()
                );
                assert_eq!(
                    description.lines().next(),
                    Some(message.as_str()),
                    "message is not the text's first line"
                );
                assert!(
                    ty.is_some(),
                    "failure type missing on {}",
                    case.name.as_str()
                );
            }
        }
    }
    report
}

struct Case {
    name: String,
    status: &'static str,
    message: String,
    text: String,
    system_out: String,
    system_err: String,
}

fn cases(report: &Report) -> Vec<Case> {
    report
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .map(|c| {
            let (status, message, text) = match &c.status {
                TestCaseStatus::Success { .. } => ("pass", None, None),
                TestCaseStatus::NonSuccess {
                    kind,
                    message,
                    description,
                    ..
                } => (
                    if *kind == NonSuccessKind::Failure {
                        "fail"
                    } else {
                        "error"
                    },
                    message.clone(),
                    description.clone(),
                ),
                TestCaseStatus::Skipped { message, .. } => ("skip", message.clone(), None),
            };
            Case {
                name: c.name.to_string(),
                status,
                message: message.map(|m| m.to_string()).unwrap_or_default(),
                text: text.map(|m| m.to_string()).unwrap_or_default(),
                system_out: c
                    .system_out
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
                system_err: c
                    .system_err
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

fn case<'a>(cases: &'a [Case], name: &str) -> &'a Case {
    cases
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no test case {name}"))
}

/// Each named case has `status` and a message starting as given.
fn assert_outcomes(cases: &[Case], status: &str, expected: &[(&str, &str)]) {
    for (name, start) in expected {
        let c = case(cases, name);
        assert_eq!(c.status, status, "{name}");
        assert!(c.message.starts_with(start), "{name}: {}", c.message);
    }
}

#[test]
fn all_pass_suite_exits_zero_with_a_complete_report() {
    let (out, junit, _dir) = run_suite("fixtures/suites/all-pass.toml", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("test result: ok. 6 passed; 0 failed"));
    let report = read_junit(&junit);
    assert_eq!(report.tests, 6);
    assert_eq!(report.failures + report.errors, 0);
    let props: Vec<String> = report.test_suites[0]
        .properties
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    for expected in ["gpugate.version", "host.name", "host.kernel", "nvidia.gpus"] {
        assert!(
            props.contains(&expected.to_string()),
            "property {expected} missing: {props:?}"
        );
    }
    // Nothing but the report is left in its directory (the temporary file was renamed).
    let files: Vec<_> = std::fs::read_dir(junit.parent().unwrap())
        .unwrap()
        .collect();
    assert_eq!(files.len(), 1);
}

#[test]
fn failing_suite_exits_101_and_says_why() {
    let (out, junit, _dir) = run_suite("fixtures/suites/failing.toml", &[]);
    assert_eq!(out.status.code(), Some(101), "{}", text(&out.stderr));
    let report = read_junit(&junit);
    let cases = cases(&report);
    assert_eq!(case(&cases, "this one passes").status, "pass");
    let expect = [
        ("PATH must be absent", "PATH is set to \""),
        ("false exits 0", "`false` exited with 1, expected 0"),
        ("a missing file", "/nonexistent/gpugate does not exist"),
        (
            "a missing library",
            "libgpugate-missing.so.1 does not load: libgpugate-missing.so.1: cannot open shared object file",
        ),
        (
            "needs a GPU and fails without one",
            "requirement `gpu` not met: no NVIDIA kernel driver",
        ),
    ];
    assert_outcomes(&cases, "fail", &expect);
}

#[test]
fn skips_are_reported_with_their_reason_and_do_not_fail_the_run() {
    let (out, junit, _dir) = run_suite("fixtures/suites/skipped.toml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ignored (requirement `gpu` not met: no NVIDIA kernel driver"),
        "{stdout}"
    );
    assert!(stdout.contains("1 passed; 0 failed; 1 ignored"), "{stdout}");
    let report = read_junit(&junit);
    let cases = cases(&report);
    let skipped = case(&cases, "needs a GPU, skipped without one");
    assert_eq!(skipped.status, "skip");
    assert!(skipped.message.starts_with("requirement `gpu` not met"));
    assert_eq!(report.test_suites[0].skipped, 1);
    // GitLab shows the skipped element's text: the reason is there too.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(&format!(">{}</skipped>", "requirement `gpu` not met"))
            || xml.contains("\">requirement `gpu` not met"),
        "{xml}"
    );
}

#[test]
fn malformed_suites_exit_2_with_the_expected_message() {
    let bad = fixtures().join("suites/bad");
    let mut checked = 0;
    for entry in std::fs::read_dir(&bad).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap();
        let junit = tempfile::tempdir().unwrap();
        let out = gpugate(
            &[
                "--suite",
                name,
                "--junit",
                junit.path().join("j.xml").to_str().unwrap(),
            ],
            &bad,
        );
        let expected = std::fs::read_to_string(path.with_extension("stderr")).unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert_eq!(text(&out.stderr), expected, "{name}");
        assert!(
            expected.contains(name),
            "{name}: the message must name the file"
        );
        assert!(text(&out.stdout).is_empty(), "{name}: nothing may run");
        assert!(
            !junit.path().join("j.xml").exists(),
            "{name}: no report for a suite that never ran"
        );
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} malformed suites");
}

/// A suite of 20,001 checks whose last one is bad: refused with the right
/// line, and nothing runs.
#[test]
fn a_huge_suite_is_read_whole_and_its_error_located() {
    let dir = tempfile::tempdir().unwrap();
    let mut toml = String::new();
    for i in 0..20_000 {
        toml.push_str(&format!(
            "[[check]]\nname = \"c{i}\"\nkind = \"env.var\"\nvar = \"HOME\"\n\n"
        ));
    }
    toml.push_str("[[check]]\nname = \"last\"\nkind = \"env.var\"\nvar = \"HOME\"\nmatches = \"([unclosed\"\n");
    std::fs::write(dir.path().join("huge.toml"), &toml).unwrap();
    let out = gpugate(&["--suite", "huge.toml", "--junit", "j.xml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: check `last`: invalid regular expression")
            && stderr.contains("--> huge.toml:100005:11"),
        "{stderr}"
    );
    assert!(!dir.path().join("j.xml").exists());
}

#[test]
fn usage_errors_exit_2() {
    let out = gpugate(&[], &root());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("error: no suite given"));
    let out = gpugate(&["--suite", "gpu-basc"], &root());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did you mean `gpu-basic`?"),
        "{}",
        text(&out.stderr)
    );
    let out = gpugate(&["--suite", "cpu-basic", "--var", "novalue"], &root());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn suites_command_lists_the_builtin_suites() {
    let out = gpugate(&["suites"], &root());
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("cpu-basic") && stdout.contains("gpu-basic"),
        "{stdout}"
    );
}

#[test]
fn list_shows_checks_without_running_them() {
    let out = gpugate(&["--suite", "gpu-basic", "--list"], &root());
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("gpu-basic::TensorFlow lists a GPU: test"),
        "{stdout}"
    );
    assert!(!text(&out.stderr).contains("downloading"));
}

/// The C compiler the `cc` crate finds, for fixture libraries.
fn c_compiler() -> cc::Tool {
    cc::Build::new()
        .target("x86_64-unknown-linux-gnu")
        .host("x86_64-unknown-linux-gnu")
        .opt_level(0)
        .cargo_metadata(false)
        .get_compiler()
}

/// Builds the crash fixtures (and a libtensorflow that cannot create a session).
pub(crate) fn crash_libraries() -> &'static Path {
    static LIBS: OnceLock<tempfile::TempDir> = OnceLock::new();
    LIBS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let compiler = c_compiler();
        for name in [
            "ok",
            "abort_on_load",
            "segv_on_load",
            "kill_on_load",
            "hang_on_load",
            "flood_on_load",
            "fork_on_load",
            "session_fails",
        ] {
            let status = compiler
                .to_command()
                .args(["-shared", "-fPIC", "-o"])
                .arg(dir.path().join(format!("lib{name}.so")))
                .arg(fixtures().join(format!("native/{name}.c")))
                .status()
                .unwrap();
            assert!(status.success(), "compiling {name}.c");
        }
        dir
    })
    .path()
}

#[test]
fn crashing_and_hanging_libraries_become_errors_and_the_run_goes_on() {
    let libs = crash_libraries();
    let started = std::time::Instant::now();
    let libs_var = format!("LIBS={}", libs.display());
    let (out, junit, _dir) = run_suite("fixtures/suites/crash.toml", &["--var", &libs_var]);
    assert_eq!(out.status.code(), Some(101), "{}", text(&out.stderr));
    assert!(started.elapsed().as_secs() < 30, "the hang was not cut off");
    let report = read_junit(&junit);
    let cases = cases(&report);
    assert_eq!(cases.len(), 7, "every check is in the report");
    let expected_errors = [
        (
            "abort on load",
            "the native worker crashed: killed by signal 6 (SIGABRT",
        ),
        (
            "segfault on load",
            "the native worker crashed: killed by signal 11 (SIGSEGV",
        ),
        (
            "killed on load",
            "the native worker crashed: killed by signal 9 (SIGKILL",
        ),
        (
            "hang on load",
            "timed out after 2.0s; the native worker was killed",
        ),
    ];
    assert_outcomes(&cases, "error", &expected_errors);
    let hang = case(&cases, "hang on load");
    assert!(hang.text.contains("the worker was replaced"));
    assert_eq!(case(&cases, "flood while loading").status, "pass");
    assert_eq!(
        case(&cases, "a clean library after the crashes").status,
        "pass"
    );
    assert_eq!(
        case(&cases, "a parent-side check is unaffected").status,
        "pass"
    );
    // The report stays small although the flood wrote 64 MiB.
    assert!(std::fs::metadata(&junit).unwrap().len() < 1 << 20);
}

/// Sends `signal` to a run in the middle of a slow check.
fn interrupted_run(signal: i32, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("slow.toml");
    std::fs::write(
        &suite,
        "[[check]]\nname = \"quick\"\nkind = \"env.var\"\nvar = \"PATH\"\n\n\
         [[check]]\nname = \"slow\"\nkind = \"command\"\nargv = [\"sleep\", \"60\"]\n",
    )
    .unwrap();
    let junit = dir.path().join("slow.xml");
    let child = Command::new(BIN)
        .args([
            "--suite",
            suite.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
            "--test-threads",
            "1",
        ])
        .env("GPUGATE_HOST_ROOT", gpu_less_root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    unsafe { libc::kill(child.id() as i32, signal) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
    let report = read_junit(&junit);
    let cases = cases(&report);
    assert_eq!(case(&cases, "quick").status, "pass");
    let slow = case(&cases, "slow");
    assert_eq!(slow.status, "error");
    assert!(
        slow.message.contains("stopped: the run was cancelled"),
        "{}",
        slow.message
    );
}

#[test]
fn sigint_writes_a_complete_report_and_exits_130() {
    interrupted_run(libc::SIGINT, 130);
}

#[test]
fn sigterm_writes_a_complete_report_and_exits_143() {
    interrupted_run(libc::SIGTERM, 143);
}

#[test]
fn sighup_writes_a_complete_report_and_exits_129() {
    interrupted_run(libc::SIGHUP, 129);
}

/// A disk that fills while the report is written (here: a file-size limit,
/// which fails the write as a full disk would) is exit 3 with the reason,
/// never a half-written report under the final name.
#[test]
fn a_full_disk_is_a_clear_error_and_leaves_no_half_report() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("r.xml");
    let mut cmd = Command::new(BIN);
    cmd.args([
        "--suite",
        "fixtures/suites/failing.toml",
        "--junit",
        junit.to_str().unwrap(),
    ])
    .current_dir(root())
    .env("GPUGATE_HOST_ROOT", gpu_less_root());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 2048,
                rlim_max: 2048,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("failed to write the JUnit report"),
        "{stderr}"
    );
    assert!(
        !junit.exists(),
        "no half-written report under the final name"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

#[test]
fn an_unwritable_report_is_its_own_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let junit = blocker.join("r.xml");
    let out = gpugate(
        &[
            "--suite",
            "fixtures/suites/skipped.toml",
            "--junit",
            junit.to_str().unwrap(),
        ],
        &root(),
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("failed to create the report directory"),
        "{}",
        text(&out.stderr)
    );
}

/// Provisions the CPU build once per test run (a no-op when cached).
fn tensorflow_ready() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let out = gpugate(&["fetch-tensorflow", "--cpu"], &root());
        assert_eq!(
            out.status.code(),
            Some(0),
            "provisioning failed: {}",
            text(&out.stderr)
        );
    });
}

#[test]
fn cpu_basic_passes_with_real_tensorflow() {
    tensorflow_ready();
    let (out, junit, _dir) = run_suite("cpu-basic", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report = read_junit(&junit);
    let props = &report.test_suites[0].properties;
    let version = props
        .iter()
        .find(|p| p.name.as_str() == "tensorflow.version")
        .expect("tensorflow.version");
    assert!(
        version.value.starts_with("2."),
        "{}",
        version.value.as_str()
    );
    // Training parity records its differences and attaches its loss plot.
    let cases = cases(&report);
    let fit = case(&cases, "training matches across CPU thread pools");
    assert_eq!(fit.status, "pass");
    for key in [
        "loss_max_abs_diff: ",
        "weights_max_rel_diff: ",
        "compared: CPU:0, all threads vs CPU:0, 1 thread",
    ] {
        assert!(fit.system_out.contains(key), "{key}: {}", fit.system_out);
    }
    let last = |key: &str| -> f64 {
        let line = fit.system_out.lines().find(|l| l.starts_with(key)).unwrap();
        line[key.len()..].parse().unwrap()
    };
    assert!(
        last("loss_last: ") < last("loss_first: "),
        "the model learned"
    );
    let attachment = fit
        .system_out
        .split("[[ATTACHMENT|")
        .nth(1)
        .and_then(|rest| rest.split("]]").next())
        .expect("an attachment");
    let svg = std::fs::read_to_string(attachment).unwrap();
    // The two loss curves, and their difference in a panel of its own.
    assert!(svg.starts_with("<svg") && svg.matches("<polyline").count() == 3);
    assert!(attachment.contains("junit-attachments/cpu-basic--training-matches"));
    // Placement: TensorFlow's own refusal of a device it does not have is the pass.
    let refused = case(
        &cases,
        "a device that does not exist is refused, not replaced",
    );
    assert!(
        refused
            .system_out
            .contains("was explicitly assigned to /device:GPU:64"),
        "{}",
        refused.system_out
    );
    let pinned = case(&cases, "ops pinned to /device:CPU:0 run there");
    assert!(
        pinned
            .system_out
            .contains("matmul_ran_on: /job:localhost/replica:0/task:0/device:CPU:0"),
        "{}",
        pinned.system_out
    );
}

#[test]
fn gpu_basic_fails_with_reasons_without_a_gpu() {
    tensorflow_ready();
    let (out, junit, _dir) = run_suite("gpu-basic", &[]);
    assert_eq!(out.status.code(), Some(101));
    let report = read_junit(&junit);
    let cases = cases(&report);
    assert_eq!(case(&cases, "libtensorflow loads").status, "pass");
    assert_eq!(case(&cases, "matmul on /device:CPU:0").status, "pass");
    let listed = case(&cases, "TensorFlow lists a GPU");
    assert_eq!(listed.status, "fail");
    assert_eq!(
        listed.message,
        "TensorFlow lists 0 GPU devices (need at least 1)"
    );
    let matmul = case(&cases, "matmul on /device:GPU:0");
    assert_eq!(matmul.status, "fail");
    assert!(
        matmul
            .message
            .contains("was explicitly assigned to /device:GPU:0"),
        "{}",
        matmul.message
    );
    assert!(
        !matmul.system_err.is_empty(),
        "TensorFlow's log is attached to the failure"
    );
    let pinned = case(
        &cases,
        "TensorFlow runs ops pinned to /device:GPU:0 there (explicit device selection)",
    );
    assert_eq!(pinned.status, "fail");
    assert!(
        pinned.message.contains("but available devices are"),
        "{}",
        pinned.message
    );
    let visibility = case(&cases, "TensorFlow registers every GPU the driver exposes");
    assert_eq!(visibility.status, "fail");
    assert!(
        visibility.text.contains("diagnosis [nvml-missing]"),
        "{}",
        visibility.text
    );
    let fit = case(&cases, "GPU training matches the CPU");
    assert_eq!(fit.status, "fail");
    assert!(
        fit.message
            .starts_with("training on /device:GPU:0 did not run: ")
            && fit
                .message
                .contains("was explicitly assigned to /device:GPU:0"),
        "{}",
        fit.message
    );
    assert!(
        fit.text.contains("diagnosis [nvml-missing]"),
        "{}",
        fit.text
    );
    let driver = case(&cases, "NVIDIA driver answers through NVML");
    assert_eq!(driver.status, "fail");
    assert!(
        driver
            .message
            .starts_with("no NVIDIA driver: libnvidia-ml.so.1 not found (loader error: "),
        "{}",
        driver.message
    );
    assert!(
        driver.text.contains("diagnosis [nvml-missing]"),
        "{}",
        driver.text
    );
    let build = case(&cases, "TensorFlow is a CUDA build");
    assert_eq!(build.status, "fail");
    assert!(
        build.message.contains("CPU-only build"),
        "{}",
        build.message
    );
    for name in [
        "driver supports the build's CUDA version",
        "at least one GPU",
        "GPUs are covered by the build's kernels",
        "GPUs are healthy",
        "CUDA libraries the build needs load",
        "cuDNN matches the build",
    ] {
        assert_ne!(
            case(&cases, name).status,
            "pass",
            "{name} cannot pass without a GPU"
        );
    }
}

#[test]
fn tensorflow_not_found_offline_lists_every_place_searched() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("offline.xml");
    let out = Command::new(BIN)
        .args([
            "--suite",
            "cpu-basic",
            "--offline",
            "--junit",
            junit.to_str().unwrap(),
        ])
        .current_dir(root())
        .env("GPUGATE_CACHE_DIR", dir.path().join("empty-cache"))
        .env("GPUGATE_HOST_ROOT", gpu_less_root())
        .env_remove("TENSORFLOW_DIR")
        // A python3 that has no TensorFlow, whatever this machine has installed.
        .env("PYTHONPATH", "")
        .env("PYTHONNOUSERSITE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(101));
    let report = read_junit(&junit);
    let cases = cases(&report);
    let loads = case(&cases, "libtensorflow loads");
    assert_eq!(loads.status, "fail");
    assert_eq!(loads.message, "libtensorflow did not load");
    for expected in [
        "--tensorflow-lib: -: not given",
        "TENSORFLOW_DIR: -: not set",
        "loader path: libtensorflow.so.2: libtensorflow.so.2: cannot open shared object file",
        "gpugate cache:",
    ] {
        assert!(
            loads.text.contains(expected),
            "missing {expected:?} in:\n{}",
            loads.text
        );
    }
    let matmul = case(&cases, "matmul on /device:CPU:0");
    assert_eq!(matmul.status, "fail");
    assert!(
        matmul.message.contains("libtensorflow did not load"),
        "{}",
        matmul.message
    );
}

/// `gpugate baseline record` writes what the throughput checks measured on
/// this machine; the same suite then passes against it, and fails against a
/// baseline far faster than this machine.
#[test]
fn throughput_baselines_are_recorded_and_enforced() {
    tensorflow_ready();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("throughput.toml"),
        r#"
[[check]]
name = "cpu throughput"
kind = "tensorflow.throughput"
device = "/device:CPU:0"
dtypes = ["float32"]
size = 256
iterations = 5
baseline = "baselines/cpu.toml"
# Generous: the test must not depend on how busy this machine is.
min_fraction = 0.05
"#,
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let junit = junit.to_str().unwrap();
    let baseline = dir.path().join("baselines/cpu.toml");
    let run = |args: &[&str]| {
        let out = gpugate(args, dir.path());
        (out.status.code(), text(&out.stderr))
    };

    // Before recording, the missing file is an error that says how to make one.
    let (code, _) = run(&["--suite", "throughput.toml", "--junit", junit]);
    assert_eq!(code, Some(101));
    let report = read_junit(Path::new(junit));
    let before = &cases(&report)[0];
    assert_eq!(before.status, "error");
    assert!(
        before.message.contains("gpugate baseline record"),
        "{}",
        before.message
    );

    let (code, stderr) = run(&[
        "baseline",
        "record",
        "--suite",
        "throughput.toml",
        "--out",
        baseline.to_str().unwrap(),
        "--junit",
        junit,
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let recorded = gpugate::baseline::Baselines::load(&baseline).unwrap();
    assert_eq!(recorded.entries.len(), 1);
    let entry = &recorded.entries[0];
    assert!(entry.model.starts_with("CPU: "), "{}", entry.model);
    assert_eq!(
        (entry.size, entry.measure.as_str()),
        (256, "float32_tflops")
    );
    assert!(entry.value > 0.0);

    let (code, stderr) = run(&["--suite", "throughput.toml", "--junit", junit]);
    assert_eq!(code, Some(0), "{stderr}");

    // A baseline a thousand times faster than this machine: too slow now.
    let mut faster = recorded.clone();
    faster.entries[0].value *= 1000.0;
    faster.save(&baseline).unwrap();
    let (code, _) = run(&["--suite", "throughput.toml", "--junit", junit]);
    assert_eq!(code, Some(101));
    let report = read_junit(Path::new(junit));
    let slow = &cases(&report)[0];
    assert_eq!(slow.status, "fail");
    assert!(
        slow.message.contains("% of the baseline float32"),
        "{}",
        slow.message
    );
}

/// In GitHub Actions and GitLab CI the run adds what those systems show: a
/// job summary and error annotations, log sections; `--format json` puts the
/// whole run on stdout as one document whose counts match the JUnit report.
#[test]
fn ci_reporters_and_the_json_document_agree_with_junit() {
    tensorflow_ready();
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("r.xml");
    let summary = dir.path().join("summary.md");
    let out = Command::new(BIN)
        .args([
            "--suite",
            "fixtures/suites/failing.toml",
            "--suite",
            "fixtures/suites/all-pass.toml",
        ])
        .args(["--format", "json", "--junit", junit.to_str().unwrap()])
        .current_dir(root())
        .env("GPUGATE_HOST_ROOT", gpu_less_root())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITLAB_CI", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(101), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            text(&out.stdout)
        )
    });
    let report = read_junit(&junit);
    let cases = cases(&report);
    let count = |s: &str| cases.iter().filter(|c| c.status == s).count();
    assert_eq!(doc["exit_code"], 101);
    for (json, junit) in [
        ("pass", "pass"),
        ("fail", "fail"),
        ("error", "error"),
        ("skip", "skip"),
    ] {
        assert_eq!(doc["counts"][json], count(junit), "{json}");
    }
    assert_eq!(doc["results"].as_array().unwrap().len(), cases.len());
    assert!(doc["facts"]["host"].is_object());
    // The console went to stderr, with the annotations and sections.
    let stderr = text(&out.stderr);
    assert!(stderr.contains("test result: FAILED"), "{stderr}");
    let annotations = stderr
        .lines()
        .filter(|l| l.starts_with("::error title=gpugate "))
        .count();
    assert_eq!(annotations, count("fail") + count("error"));
    assert!(stderr.contains("section_start:") && stderr.contains("section_end:"));
    assert!(
        stderr.contains("gpugate_failing[collapsed=false]"),
        "{stderr}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("## gpugate failed: "), "{md}");
    assert!(md.contains("| failing | false exits 0 | ❌ fail |"), "{md}");
}

/// `gpugate report merge` over gpugate's own reports and foreign ones
/// (pytest's, a bare <testsuite> root): one matrix, what changed first, the
/// foreign parts it skipped said on stderr, and a self-contained HTML file.
#[test]
fn report_merge_reads_gpugate_and_foreign_junit() {
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before.xml");
    let after = dir.path().join("after.xml");
    // The same suite twice, the second time with PATH set, so one test moves.
    let suite = dir.path().join("s.toml");
    std::fs::write(
        &suite,
        "[[check]]\nname = \"flag\"\nkind = \"env.var\"\nvar = \"GPUGATE_TEST_FLAG\"\nabsent = true\n",
    )
    .unwrap();
    for (junit, flag) in [(&before, None), (&after, Some("1"))] {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "--suite",
            suite.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ])
        .env("GPUGATE_HOST_ROOT", gpu_less_root())
        .env_remove("GPUGATE_TEST_FLAG");
        if let Some(v) = flag {
            cmd.env("GPUGATE_TEST_FLAG", v);
        }
        cmd.output().unwrap();
    }
    let pytest = fixtures().join("junit/pytest.xml");
    let bare = fixtures().join("junit/bare.xml");
    let files = [
        before.to_str().unwrap(),
        after.to_str().unwrap(),
        pytest.to_str().unwrap(),
        bare.to_str().unwrap(),
    ];
    let mut args = vec!["report", "merge"];
    args.extend(files);
    let out = gpugate(&args, dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let md = text(&out.stdout);
    assert!(md.contains("- **s::flag**: pass on "), "{md}");
    assert!(
        md.contains("| s::flag ⚠️ | pass | **fail**: GPUGATE_TEST_FLAG is set to &quot;1&quot; but must not be set | — | — |"),
        "{md}"
    );
    assert!(
        md.contains("| tests.test_gpu::test_b | — | — | **fail**: assert 1 == 2 | — |"),
        "{md}"
    );
    assert!(md.contains("| c::t1 | — | — | — | skip |"), "{md}");
    assert!(
        md.contains("| vm · driver none (before) |") || md.contains(" (before) | "),
        "{md}"
    );
    assert!(text(&out.stderr).contains("pytest.xml: ignored <custom> ×1"));

    let html = dir.path().join("merged.html");
    args.extend(["--format", "html", "--out", html.to_str().unwrap()]);
    let out = gpugate(&args, dir.path());
    assert_eq!(out.status.code(), Some(0));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<tr class=\"changed\">"));
    assert!(
        !page.contains("src=") && !page.contains("<link"),
        "self-contained"
    );

    let out = gpugate(&["report", "merge", suite.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(
            "s.toml: no <testsuites>, <testsuite> or <testcase> element: not a JUnit report"
        ),
        "{}",
        text(&out.stderr)
    );
}

/// Secrets planted in the environment appear in no output: not the console,
/// the JUnit report, the JSON document, the GitHub summary and annotations,
/// nor `facts`, although a check prints the whole environment.
#[test]
fn planted_secrets_reach_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("leaky.toml");
    std::fs::write(
        &suite,
        r#"
[[check]]
name = "prints the environment and fails"
kind = "command"
argv = ["env"]
stdout_matches = "^this will not match$"

[[check]]
name = "judges a secret variable"
kind = "env.var"
var = "GPUGATE_TEST_API_TOKEN"
matches = "^nope$"
"#,
    )
    .unwrap();
    let secrets = [
        ("GPUGATE_TEST_API_TOKEN", "tok-4f9a8b7c6d5e"),
        ("GPUGATE_TEST_DB_PASSWORD", "pw-correct-horse-battery"),
        // Not a secret name, but a token's shape.
        (
            "GPUGATE_TEST_NOTE",
            "ghp_0123456789abcdefghijABCDEFGHIJ0123456789",
        ),
    ];
    let junit = dir.path().join("r.xml");
    let summary = dir.path().join("summary.md");
    let mut cmd = Command::new(BIN);
    cmd.args(["--suite", suite.to_str().unwrap(), "--format", "json"])
        .args(["--junit", junit.to_str().unwrap()])
        .env("GPUGATE_HOST_ROOT", gpu_less_root())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary);
    for (k, v) in secrets {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(101), "{}", text(&out.stderr));
    let mut facts = Command::new(BIN);
    facts
        .args(["facts", "--format", "json"])
        .env("GPUGATE_HOST_ROOT", gpu_less_root());
    for (k, v) in secrets {
        facts.env(k, v);
    }
    let facts = facts.output().unwrap();
    let outputs = [
        ("stdout (JSON)", text(&out.stdout)),
        ("stderr (console, annotations)", text(&out.stderr)),
        ("JUnit", std::fs::read_to_string(&junit).unwrap()),
        ("summary", std::fs::read_to_string(&summary).unwrap()),
        ("facts", text(&facts.stdout)),
    ];
    for (name, output) in &outputs {
        for (_, secret) in secrets {
            assert!(!output.contains(secret), "{secret} leaked into {name}");
        }
    }
    // The check did print the environment: the variables are there, blanked.
    let junit_text = &outputs[2].1;
    assert!(
        junit_text.contains("GPUGATE_TEST_DB_PASSWORD=&lt;redacted&gt;"),
        "{junit_text}"
    );
}

/// Two runs provisioning into the same empty cache at once: both succeed,
/// both name the same library, and what is in the cache loads (downloads go
/// to temporary names and are published with one rename).
#[test]
fn two_runs_provisioning_one_cache_at_once_do_not_corrupt_it() {
    let cache = tempfile::tempdir().unwrap();
    let spawn = || {
        Command::new(BIN)
            .args(["fetch-tensorflow", "--cpu"])
            .env("GPUGATE_CACHE_DIR", cache.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
    assert_eq!(b.status.code(), Some(0), "{}", text(&b.stderr));
    assert_eq!(
        text(&a.stdout),
        text(&b.stdout),
        "both name the same library"
    );
    let lib = text(&a.stdout).trim().to_string();
    let out = Command::new(BIN)
        .args([
            "--suite",
            "cpu-basic",
            "--offline",
            "--exact",
            "cpu-basic::libtensorflow loads",
        ])
        .args(["--tensorflow-lib", &lib, "--junit"])
        .arg(cache.path().join("r.xml"))
        .env("GPUGATE_CACHE_DIR", cache.path())
        .env("GPUGATE_HOST_ROOT", gpu_less_root())
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Nothing half-done is left beside the published entry.
    let entries: Vec<String> = std::fs::read_dir(cache.path().join("tensorflow"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
}
