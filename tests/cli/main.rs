//! Runs the real binary on fixture suites: the shared harness, with the tests
//! in one file per topic (suites, faults, tensorflow, reports, hardening,
//! machines, pipelines). One test binary, so the shared setup (crash
//! libraries, the provisioned libtensorflow) happens once.

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

mod consumers;
mod faults;
mod fleet;
mod hardening;
mod machines;
mod pipelines;
mod reports;
mod suites;
mod tensorflow;

#[path = "../../src/snapshot.rs"]
mod snapshot;
use snapshot::assert_snapshot;

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
    gpugate_env(args, dir, &[])
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

/// The run ended with `code`; otherwise the failure shows all it printed.
#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
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
