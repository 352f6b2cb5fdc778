//! Faults the run survives: crashing and hanging libraries, signals, a full disk, an unwritable report, and secrets that must not reach any output.

use super::*;

#[test]
fn crashing_and_hanging_libraries_become_errors_and_the_run_goes_on() {
    let libs = crash_libraries();
    let started = std::time::Instant::now();
    let libs_var = format!("LIBS={}", libs.display());
    let (out, junit, _dir) = run_suite("fixtures/suites/crash.toml", &["--var", &libs_var]);
    assert_exit(&out, 101);
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
    assert_exit(&out, 3);
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
    assert_exit(&out, 3);
    assert!(
        text(&out.stderr).contains("failed to write the JUnit report"),
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
    assert_exit(&out, 101);
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
