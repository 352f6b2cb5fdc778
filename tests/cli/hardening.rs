//! Hostile input and unlucky operators (issue: hardening): each test drives
//! the real binary the way the attack or accident would.

use super::{assert_exit, fixtures, gpugate, root, text};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const ALL_PASS: &str = "fixtures/suites/all-pass.toml";

/// Starts a run of a suite file written by the test, its report beside it,
/// for tests that signal or watch it while it runs.
fn spawn_suite_file(suite: &Path, extra: &[&str]) -> std::process::Child {
    std::process::Command::new(super::BIN)
        .args(["--suite", suite.to_str().unwrap()])
        .arg("--junit")
        .arg(suite.with_extension("xml"))
        .args(extra)
        .current_dir(root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Runs a suite file written by the test, its report beside it.
fn run_suite_file(suite: &Path, extra: &[&str]) -> (std::process::Output, std::path::PathBuf) {
    let junit = suite.with_extension("xml");
    let mut args = vec![
        "--suite",
        suite.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (gpugate(&args, &root()), junit)
}

/// A report path that is not a regular file is refused before anything
/// runs, and is left as it was; so is one of the run's own suites.
#[test]
fn a_report_path_that_is_not_a_regular_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for target in [Path::new("/dev/null"), fifo.as_path(), dir.path()] {
        let out = gpugate(
            &["--suite", ALL_PASS, "--junit", target.to_str().unwrap()],
            &root(),
        );
        assert_exit(&out, 2);
        let err = text(&out.stderr);
        assert!(err.contains("never replaces anything else"), "{err}");
        let meta = std::fs::metadata(target).unwrap();
        assert!(!meta.is_file(), "{} was replaced", target.display());
    }
    let suite = dir.path().join("mine.toml");
    std::fs::copy(fixtures().join("suites/all-pass.toml"), &suite).unwrap();
    let before = std::fs::read(&suite).unwrap();
    let out = gpugate(
        &[
            "--suite",
            suite.to_str().unwrap(),
            "--junit",
            suite.to_str().unwrap(),
        ],
        &root(),
    );
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("is the suite `mine` of this run"));
    assert_eq!(std::fs::read(&suite).unwrap(), before);
}

/// Runs gpugate and waits at most `limit` for it, killing it past that:
/// a run blocked in an open must fail the test, not hang it.
fn output_within(
    args: &[&str],
    env: &[(&str, &Path)],
    limit: std::time::Duration,
) -> std::process::Output {
    let mut command = std::process::Command::new(super::BIN);
    command
        .args(args)
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "gpugate {args:?} was still running after {limit:?}: {}",
                text(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Every path gpugate writes (the report, its attachments directory, a
/// baseline, a merged report, the job summary) and every file it reads as
/// input is checked before it is opened: a FIFO there would block the run
/// in `open` until a peer came, out of reach of SIGTERM's promised exit.
/// Each is refused (exit 2; the summary, a warning) and left a FIFO.
#[test]
fn no_path_gpugate_opens_can_block_it_on_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let report = dir.path().join("r.xml");
    let attachments = dir.path().join("r-attachments");
    for path in [&fifo, &attachments] {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(made.success());
    }
    let f = fifo.to_str().unwrap();
    let limit = std::time::Duration::from_secs(60);
    let junit = fixtures().join("junit/pytest.xml");
    let j = junit.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["baseline", "record", "--out", f, "--suite", "cpu-basic"],
            "the baseline file",
        ),
        (&["report", "merge", j, "--out", f], "--out"),
        (&["report", "merge", f], "failed to read the JUnit report"),
        (
            &["--suite", ALL_PASS, "--junit", report.to_str().unwrap()],
            "attachments directory",
        ),
        (&["--suite", ALL_PASS, "--junit", f], "--junit"),
    ];
    for (args, says) in cases {
        let out = output_within(args, &[], limit);
        assert_exit(&out, 2);
        let err = text(&out.stderr);
        assert!(
            err.contains(says) && err.contains("FIFO"),
            "{args:?}: {err}"
        );
    }
    for path in [&fifo, &attachments] {
        assert!(!std::fs::metadata(path).unwrap().is_file());
    }
    // The job summary is appended at the end of a run: a warning, the run's
    // own exit, and the FIFO left alone.
    let out = output_within(
        &[
            "--suite",
            ALL_PASS,
            "--junit",
            dir.path().join("r2.xml").to_str().unwrap(),
        ],
        &[
            ("GITHUB_ACTIONS", Path::new("true")),
            ("GITHUB_STEP_SUMMARY", &fifo),
        ],
        limit,
    );
    assert_exit(&out, 0);
    assert!(
        text(&out.stderr).contains("failed to append the job summary"),
        "{}",
        text(&out.stderr)
    );
    assert!(!std::fs::metadata(&fifo).unwrap().is_file());
}

/// Reports are created as any file this user makes (0666 less the umask),
/// not 0600 like a temporary file.
#[test]
fn reports_are_readable_as_the_umask_allows() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("r.xml");
    let out = gpugate(
        &["--suite", ALL_PASS, "--junit", junit.to_str().unwrap()],
        &root(),
    );
    assert_exit(&out, 0);
    let mode = std::fs::metadata(&junit).unwrap().permissions().mode() & 0o777;
    // The test harness runs with the usual umask 022.
    assert_eq!(mode & 0o044, 0o044, "report mode {mode:o}");
}

/// Degenerate options are usage errors, not hangs.
#[test]
fn degenerate_options_are_usage_errors() {
    for args in [
        vec!["--suite", ALL_PASS, "--test-threads", "0"],
        vec!["--suite", ALL_PASS, "--timeout", "1e-300"],
        vec!["--suite", ALL_PASS, "--probe-timeout", "0.0000001"],
    ] {
        let out = gpugate(&args, &root());
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("tiny.toml");
    std::fs::write(
        &suite,
        "[[check]]\nname = \"x\"\nkind = \"env.var\"\nvar = \"HOME\"\ntimeout = \"0.000000000001s\"\n",
    )
    .unwrap();
    let out = gpugate(&["--suite", suite.to_str().unwrap()], &root());
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("at least 1ms"),
        "{}",
        text(&out.stderr)
    );
}

/// A suite that is a FIFO, a device or far too large is refused at once.
#[test]
fn suites_must_be_small_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("suite.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let big = dir.path().join("big.toml");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(2 << 30).unwrap(); // sparse: 2 GiB that cost nothing on disk
    for (suite, needle) in [
        (fifo.to_str().unwrap(), "is a FIFO, not a regular file"),
        ("/dev/zero", "is a character device, not a regular file"),
        (
            big.to_str().unwrap(),
            "more than the 16777216 bytes gpugate reads of it",
        ),
    ] {
        let out = gpugate(&["--suite", suite], &root());
        assert_exit(&out, 2);
        assert!(text(&out.stderr).contains(needle), "{}", text(&out.stderr));
    }
}

/// Variables that double each other 40 times stop with an error naming a
/// variable instead of running out of memory.
#[test]
fn exponential_variables_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("bomb.toml");
    let mut source = String::from("[vars]\n");
    for i in 0..40 {
        source.push_str(&format!("v{i} = \"${{v{}}}${{v{}}}\"\n", i + 1, i + 1));
    }
    source.push_str("v40 = \"x\"\n\n[[check]]\nname = \"x\"\nkind = \"env.var\"\nvar = \"HOME\"\nequals = \"${v0}\"\n");
    std::fs::write(&suite, source).unwrap();
    let out = gpugate(&["--suite", suite.to_str().unwrap()], &root());
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("expands to more than 65536 bytes"),
        "{}",
        text(&out.stderr)
    );
}

/// An explicit libtensorflow that does not load is a failure naming it,
/// never silently replaced by the cache's.
#[test]
fn an_explicit_tensorflow_that_fails_is_not_replaced() {
    super::tensorflow_ready();
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.so");
    std::fs::write(&broken, b"not a library").unwrap();
    let junit = dir.path().join("r.xml");
    let out = gpugate(
        &[
            "--suite",
            "cpu-basic",
            "--junit",
            junit.to_str().unwrap(),
            "--tensorflow-lib",
            broken.to_str().unwrap(),
            "libtensorflow loads",
        ],
        &root(),
    );
    assert_exit(&out, 101);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("broken.so"), "{stdout}");
    assert!(!stdout.contains("gpugate cache"), "{stdout}");
    let out = super::gpugate_env(
        &["facts", "--format", "json"],
        &root(),
        &[("TENSORFLOW_DIR", "/nonexistent")],
    );
    let facts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(facts["tensorflow"]["load"]["loaded"].is_null(), "{facts}");
    assert!(facts.to_string().contains("/nonexistent"));
}

/// A `tensorflow/` directory in the working directory is not a
/// pip-installed TensorFlow.
#[test]
fn a_tensorflow_directory_in_the_working_directory_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tensorflow")).unwrap();
    std::fs::write(
        dir.path().join("tensorflow/libtensorflow_cc.so.2"),
        b"planted",
    )
    .unwrap();
    let out = gpugate(&["facts", "--format", "json"], dir.path());
    let facts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let attempts = facts["tensorflow"]["load"]["attempts"].to_string();
    assert!(!attempts.contains("planted"), "{attempts}");
    assert!(
        !attempts.contains(&dir.path().join("tensorflow").display().to_string()),
        "{attempts}"
    );
}

const TOKEN: &str = "dpl-7f3a9c1e5b2d8f4a";
const DB_PASSWORD: &str = "s3cr3t-db-pass";
const SHORT: &str = "xyz";

/// A suite that leaks secrets every way a suite can: in a check name, a
/// failing comparison with a `--var` and a `[vars]` secret, a `matches`
/// pattern, a private key in a command's output, a short secret, and a
/// forged GitHub workflow command.
fn leaky_suite(dir: &Path) -> std::path::PathBuf {
    let suite = dir.join("leaky.toml");
    std::fs::write(
        &suite,
        format!(
            r#"[vars]
db_password = "{DB_PASSWORD}"

[[check]]
name = "check for ${{DEPLOY_TOKEN}}"
kind = "env.var"
var = "HOME"
equals = "${{DEPLOY_TOKEN}}"

[[check]]
name = "database password"
kind = "env.var"
var = "HOME"
equals = "${{db_password}}"

[[check]]
name = "pattern of a secret"
kind = "env.var"
var = "GPUGATE_TEST_API_KEY"
matches = "^nope-${{SHORT_PASSWORD}}$"

[[check]]
name = "a key and a forged command in the output"
kind = "command"
argv = ["sh", "-c", "printf '::error title=forged::owned\n::stop-commands::x\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAsecretbody\n-----END RSA PRIVATE KEY-----\nshort {SHORT} here\n'; exit 3"]
"#
        ),
    )
    .unwrap();
    suite
}

#[test]
fn secrets_never_reach_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let suite = leaky_suite(dir.path());
    let junit = dir.path().join("r.xml");
    let summary = dir.path().join("summary.md");
    let out = super::gpugate_env(
        &[
            "--suite",
            suite.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
            "--var",
            &format!("DEPLOY_TOKEN={TOKEN}"),
            "--var",
            &format!("SHORT_PASSWORD={SHORT}"),
        ],
        &root(),
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ("GPUGATE_TEST_API_KEY", "value-of-the-api-key"),
        ],
    );
    assert_exit(&out, 101);
    let listed = super::gpugate_env(
        &["--suite", suite.to_str().unwrap(), "--list"],
        &root(),
        &[("DEPLOY_TOKEN", TOKEN)],
    );
    let outputs = [
        ("stdout", text(&out.stdout)),
        ("stderr", text(&out.stderr)),
        ("junit", std::fs::read_to_string(&junit).unwrap()),
        ("summary", std::fs::read_to_string(&summary).unwrap()),
        ("--list", text(&listed.stdout)),
    ];
    for (what, output) in &outputs {
        for secret in [
            TOKEN,
            DB_PASSWORD,
            "secretbody",
            "END RSA",
            "value-of-the-api-key",
        ] {
            assert!(!output.contains(secret), "{secret} in {what}:\n{output}");
        }
        assert!(
            !output.contains(&format!(" {SHORT} ")),
            "{SHORT} in {what}:\n{output}"
        );
    }
    let stdout = &outputs[0].1;
    assert!(stdout.contains("check for <redacted>"), "{stdout}");
    for line in stdout.lines() {
        assert!(
            !line.starts_with("::error title=forged") && !line.starts_with("::stop-commands"),
            "a forged workflow command reached stdout: {line}"
        );
    }
    assert!(stdout.contains("| ::stop-commands::x"), "{stdout}");
    // gpugate's own annotations still come out.
    assert!(
        stdout.lines().any(|l| l.starts_with("::error ")),
        "{stdout}"
    );
}

/// A bad regex built from a secret: the validation error does not print it.
#[test]
fn validation_errors_do_not_print_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("bad.toml");
    std::fs::write(
        &suite,
        "[[check]]\nname = \"x\"\nkind = \"env.var\"\nvar = \"HOME\"\nmatches = \"(${API_TOKEN}\"\n",
    )
    .unwrap();
    let out = super::gpugate_env(
        &["--suite", suite.to_str().unwrap()],
        &root(),
        &[("API_TOKEN", TOKEN)],
    );
    assert_exit(&out, 2);
    assert!(!text(&out.stderr).contains(TOKEN), "{}", text(&out.stderr));
}

/// `report merge` scrubs what foreign reports carry.
#[test]
fn merged_reports_are_scrubbed() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("foreign.xml");
    std::fs::write(
        &report,
        r#"<testsuites><testsuite name="s" tests="1"><properties><property name="deploy" value="ghp_0123456789abcdefghijABCDEFGHIJ0123456789"/></properties><testcase classname="s" name="uses ghp_0123456789abcdefghijABCDEFGHIJ0123456789"><failure message="token ghp_0123456789abcdefghijABCDEFGHIJ0123456789 rejected"/></testcase></testsuite></testsuites>"#,
    )
    .unwrap();
    for format in ["markdown", "html", "json"] {
        let out = super::gpugate(
            &[
                "report",
                "merge",
                report.to_str().unwrap(),
                "--format",
                format,
            ],
            &root(),
        );
        assert_exit(&out, 0);
        assert!(
            !text(&out.stdout).contains("ghp_0123"),
            "{format}: {}",
            text(&out.stdout)
        );
    }
}

/// A closed stdout (`gpugate ... | head -0`) neither loses the report nor
/// changes the verdict.
#[test]
fn a_closed_stdout_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("r.xml");
    for args in [
        vec!["--suite", ALL_PASS, "--junit", junit.to_str().unwrap()],
        vec!["suites"],
    ] {
        let mut child = std::process::Command::new(super::BIN)
            .args(&args)
            .current_dir(root())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            !text(&out.stderr).contains("panicked"),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(junit.is_file(), "the report was lost");
}

/// A syntax error far along a long line is shown around its column
/// instead of panicking the error renderer.
#[test]
fn an_error_at_a_far_column_is_rendered() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("long.toml");
    std::fs::write(
        &suite,
        format!(
            "[[check]]\nname = \"x\"\nkind = \"env.var\"\nvar = \"HOME\"\nequals = \"{}\" junk\n",
            "a".repeat(70_000)
        ),
    )
    .unwrap();
    let out = gpugate(&["--suite", suite.to_str().unwrap()], &root());
    assert_exit(&out, 2);
    let err = text(&out.stderr);
    assert!(err.contains("long.toml:5:70013"), "{err}");
    assert!(err.lines().all(|l| l.chars().count() < 300), "{err}");
}

/// `a.toml` with check `b::c` and `a::b.toml` with check `c` would be one
/// test name for two tests.
#[test]
fn tests_that_would_share_a_name_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let check =
        |name: &str| format!("[[check]]\nname = \"{name}\"\nkind = \"env.var\"\nvar = \"HOME\"\n");
    std::fs::write(dir.path().join("a.toml"), check("b::c")).unwrap();
    std::fs::write(dir.path().join("a::b.toml"), check("c")).unwrap();
    let out = gpugate(&["--suite", "a.toml", "--suite", "a::b.toml"], dir.path());
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("two tests would be named `a::b::c`"),
        "{}",
        text(&out.stderr)
    );
}

/// A command that leaves a process holding its stdout: the check ends when
/// the command does (what it left in its group is killed), and one that
/// escaped with setsid cannot keep the run alive either.
#[test]
fn a_command_that_leaves_a_process_behind_cannot_hang_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("bg.toml");
    std::fs::write(
        &suite,
        "[[check]]\nname = \"background\"\nkind = \"command\"\nargv = [\"sh\", \"-c\", \"sleep 25 & echo started\"]\ntimeout = \"2s\"\n\n\
         [[check]]\nname = \"escaped\"\nkind = \"command\"\nargv = [\"sh\", \"-c\", \"setsid sleep 1031 & echo started\"]\ntimeout = \"2s\"\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let (out, _) = run_suite_file(&suite, &[]);
    let took = started.elapsed();
    let _ = std::process::Command::new("pkill")
        .args(["-f", "sleep 1031"])
        .status();
    assert_exit(&out, 0);
    // Bounded by the 1 s grace after each command, far below the sleeps.
    assert!(took.as_secs() < 20, "the run took {took:?}");
    let survivors = std::process::Command::new("pgrep")
        .args(["-f", "^sleep 25$"])
        .output()
        .unwrap();
    assert!(
        survivors.stdout.is_empty(),
        "the command's background sleep survived: {}",
        text(&survivors.stdout)
    );
}

/// Killing gpugate with SIGKILL (no handler runs) takes its children with
/// it: a command check's process and the workers.
#[test]
fn children_die_with_a_killed_gpugate() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("slow.toml");
    std::fs::write(
        &suite,
        "[[check]]\nname = \"slow\"\nkind = \"command\"\nargv = [\"sleep\", \"1047\"]\n\n\
         [[check]]\nname = \"a worker\"\nkind = \"library.loads\"\nlibrary = \"libc.so.6\"\n",
    )
    .unwrap();
    let mut child = spawn_suite_file(&suite, &[]);
    let pid = child.id().to_string();
    let children = || {
        let out = std::process::Command::new("pgrep")
            .args(["-P", &pid])
            .output()
            .unwrap();
        text(&out.stdout).lines().count()
    };
    let sleeping = || {
        let out = std::process::Command::new("pgrep")
            .args(["-f", "^sleep 1047$"])
            .output()
            .unwrap();
        !out.stdout.is_empty()
    };
    let waited = std::time::Instant::now();
    while !(sleeping() && children() >= 2) {
        assert!(waited.elapsed().as_secs() < 20, "the checks never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    let waited = std::time::Instant::now();
    while sleeping() && waited.elapsed().as_secs() < 5 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let survived = sleeping();
    let _ = std::process::Command::new("pkill")
        .args(["-f", "^sleep 1047$"])
        .status();
    assert!(!survived, "the command check's process outlived gpugate");
}

/// A fake `python3` first on PATH that hangs, as a stuck pip would, as
/// `sleep SECONDS` (distinct per test, so tests running side by side can
/// tell their own from another's).
fn hanging_python(dir: &Path, seconds: u32) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let python = bin.join("python3");
    std::fs::write(&python, format!("#!/bin/sh\nexec sleep {seconds}\n")).unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

fn pip_hangs(seconds: u32) -> bool {
    let out = std::process::Command::new("pgrep")
        .args(["-f", &format!("^sleep {seconds}$")])
        .output()
        .unwrap();
    !out.stdout.is_empty()
}

/// Provisioning is bounded in time and ends on SIGINT, leaving no pip and
/// no staging directory behind.
#[test]
fn provisioning_is_bounded_and_cancellable() {
    let dir = tempfile::tempdir().unwrap();
    let path = hanging_python(dir.path(), 1049);
    let cache = dir.path().join("cache");
    let out = super::gpugate_env(
        &["fetch-tensorflow", "--cpu"],
        &root(),
        &[
            ("PATH", &path),
            ("GPUGATE_CACHE_DIR", cache.to_str().unwrap()),
            ("GPUGATE_PROVISION_TIMEOUT", "2"),
        ],
    );
    assert_exit(&out, 5);
    assert!(
        text(&out.stderr).contains("did not finish within 2s"),
        "{}",
        text(&out.stderr)
    );
    assert!(!pip_hangs(1049), "the hanging pip outlived the timeout");

    let child = std::process::Command::new(super::BIN)
        .args(["fetch-tensorflow", "--cpu"])
        .env("PATH", &path)
        .env("GPUGATE_CACHE_DIR", &cache)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waited = std::time::Instant::now();
    while !pip_hangs(1049) {
        assert!(waited.elapsed().as_secs() < 20, "pip never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 130);
    assert!(!pip_hangs(1049), "the hanging pip outlived SIGINT");
    let partial: Vec<String> = std::fs::read_dir(cache.join("tensorflow"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        partial.iter().all(|n| !n.starts_with(".partial-")),
        "{partial:?}"
    );
}

/// A staging directory left by a provisioning killed with SIGKILL is
/// removed by the next provisioning of that entry.
#[test]
fn staging_left_by_a_killed_provisioning_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = hanging_python(dir.path(), 1051);
    let cache = dir.path().join("cache");
    let stale = cache.join(format!(
        "tensorflow/.partial-{}-cpu-abc123",
        gpugate::tf::DEFAULT_VERSION
    ));
    std::fs::create_dir_all(stale.join("entry")).unwrap();
    std::fs::write(stale.join("entry/big"), vec![0u8; 1024]).unwrap();
    let out = super::gpugate_env(
        &["fetch-tensorflow", "--cpu"],
        &root(),
        &[
            ("PATH", &path),
            ("GPUGATE_CACHE_DIR", cache.to_str().unwrap()),
            ("GPUGATE_PROVISION_TIMEOUT", "1"),
        ],
    );
    assert_exit(&out, 5);
    assert!(!stale.exists(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("left by an interrupted provisioning"));
}

/// A cache entry whose library no longer has its verified size.
fn damaged_entry(cache: &Path) -> std::path::PathBuf {
    let version = gpugate::tf::DEFAULT_VERSION;
    let entry = cache.join(format!("tensorflow/{version}-cpu"));
    std::fs::create_dir_all(entry.join("tensorflow")).unwrap();
    std::fs::write(entry.join("tensorflow/libtensorflow_cc.so.2"), b"truncated").unwrap();
    std::fs::write(
        entry.join("gpugate-entry.json"),
        format!(
            r#"{{"package": "tensorflow-cpu", "version": "{version}", "wheels": [{{"name": "tensorflow-cpu", "version": "{version}", "requirement": "tensorflow-cpu=={version}", "file": "x.whl", "files": {{"tensorflow/libtensorflow_cc.so.2": {{"sha256": "x", "size": 1096372272}}}}}}]}}"#
        ),
    )
    .unwrap();
    entry
}

/// The cache is used only when no one else can write it, never falls back
/// to a shared directory, and a damaged entry is not loaded but provisioned
/// anew.
#[test]
fn the_cache_must_be_trusted_and_intact() {
    // Without HOME: the password database's home, not /tmp.
    let out = std::process::Command::new(super::BIN)
        .args(["facts", "--format", "json"])
        .env_remove("HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("GPUGATE_CACHE_DIR")
        .current_dir(root())
        .output()
        .unwrap();
    let facts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let attempts = facts["tensorflow"]["load"]["attempts"].to_string();
    let tmp = std::env::temp_dir().display().to_string();
    assert!(!attempts.contains(&format!("{tmp}/.cache")), "{attempts}");

    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = super::gpugate_env(
        &["facts", "--format", "json"],
        &root(),
        &[("GPUGATE_CACHE_DIR", shared.to_str().unwrap())],
    );
    let facts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        facts.to_string().contains("can be written by other users"),
        "{facts}"
    );

    let cache = dir.path().join("cache");
    damaged_entry(&cache);
    let out = super::gpugate_env(
        &["facts", "--format", "json"],
        &root(),
        &[("GPUGATE_CACHE_DIR", cache.to_str().unwrap())],
    );
    let facts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text_of = facts.to_string();
    assert!(facts["tensorflow"]["load"]["loaded"].is_null(), "{text_of}");
    assert!(
        text_of.contains("is 9 bytes, but 1096372272 bytes were verified"),
        "{text_of}"
    );
    // Provisioning replaces it (here pip hangs and times out after that).
    let path = hanging_python(dir.path(), 1053);
    let out = super::gpugate_env(
        &["fetch-tensorflow", "--cpu"],
        &root(),
        &[
            ("PATH", &path),
            ("GPUGATE_CACHE_DIR", cache.to_str().unwrap()),
            ("GPUGATE_PROVISION_TIMEOUT", "1"),
        ],
    );
    assert!(
        text(&out.stderr).contains("anew: "),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !cache
            .join(format!("tensorflow/{}-cpu", gpugate::tf::DEFAULT_VERSION))
            .exists()
    );
}

/// A library whose constructor forks fails its own check; the next check,
/// in the same worker, is judged on its own.
#[test]
fn a_library_that_forks_is_blamed_not_the_next_check() {
    let libs = super::crash_libraries();
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("fork.toml");
    std::fs::write(
        &suite,
        format!(
            "[[check]]\nname = \"forks\"\nkind = \"library.loads\"\nlibrary = \"{}\"\n\n\
             [[check]]\nname = \"innocent\"\nkind = \"library.loads\"\nlibrary = \"{}\"\n",
            libs.join("libfork_on_load.so").display(),
            libs.join("libok.so").display()
        ),
    )
    .unwrap();
    let (out, junit) = run_suite_file(&suite, &["--test-threads", "1"]);
    assert_exit(&out, 101);
    let report = super::read_junit(&junit);
    let cases = super::cases(&report);
    let forks = super::case(&cases, "forks");
    assert_eq!(forks.status, "fail", "{}", forks.message);
    assert!(
        forks.message.contains("forked the worker"),
        "{}",
        forks.message
    );
    let innocent = super::case(&cases, "innocent");
    assert_eq!(innocent.status, "pass", "{}", innocent.message);
}

/// Many checks that each need a TensorFlow worker of their own keep only a
/// bounded number alive: with one test thread, at most three at a time (the
/// check's, the default lane's and one spare).
#[test]
fn live_tensorflow_workers_are_bounded() {
    super::tensorflow_ready();
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("many.toml");
    let mut source = String::new();
    for i in 1..=8 {
        source.push_str(&format!(
            "[[check]]\nname = \"cpu {i} refused\"\nkind = \"tensorflow.placement\"\ndevice = \"/device:CPU:{i}\"\nexpect = \"refused\"\n\n"
        ));
    }
    std::fs::write(&suite, source).unwrap();
    let mut child = spawn_suite_file(&suite, &["--test-threads", "1"]);
    let pid = child.id().to_string();
    let mut most = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let out = std::process::Command::new("pgrep")
            .args(["-P", &pid])
            .output()
            .unwrap();
        most = most.max(text(&out.stdout).lines().count());
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    // Three TensorFlow workers and the probe worker at most (ten before).
    assert!(most <= 4, "{most} workers were alive at once");
    assert!(most >= 1, "no worker was ever seen");
}

/// A filter that selects nothing is exit 4, not a green gate; a filter by
/// kind loads TensorFlow when the kind needs it.
#[test]
fn a_run_that_checks_nothing_does_not_pass() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("r.xml");
    let junit = junit.to_str().unwrap();
    let out = gpugate(
        &["--suite", ALL_PASS, "--junit", junit, "nosuchcheck"],
        &root(),
    );
    assert_exit(&out, 4);
    assert!(
        text(&out.stderr).contains("no check ran"),
        "{}",
        text(&out.stderr)
    );
    assert!(Path::new(junit).is_file(), "the report is still written");
    let out = gpugate(
        &[
            "--suite",
            ALL_PASS,
            "--junit",
            junit,
            "nosuchcheck",
            "--allow-empty",
        ],
        &root(),
    );
    assert_exit(&out, 0);

    super::tensorflow_ready();
    let out = gpugate(
        &[
            "--suite",
            "cpu-basic",
            "--junit",
            junit,
            "tensorflow.devices",
        ],
        &root(),
    );
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("1 passed"),
        "{}",
        text(&out.stdout)
    );
}

/// `--help` reads like a program's, `--version` works, libtest's leftovers
/// are refused, and README's exit-code table is the one the binary uses.
#[test]
fn the_command_line_is_gpugates_own() {
    let help = gpugate(&["--help"], &root());
    assert_exit(&help, 0);
    let help = text(&help.stdout);
    assert!(help.starts_with("Tells a CI pipeline"), "{help}");
    assert!(help.contains("Usage: gpugate"), "{help}");
    for leftover in [
        "--ignored",
        "--bench",
        "--logfile",
        "--nocapture",
        "--show-output",
    ] {
        assert!(!help.contains(leftover), "{leftover} in --help");
        let out = gpugate(&["--suite", ALL_PASS, leftover], &root());
        assert_exit(&out, 2);
    }
    let version = gpugate(&["--version"], &root());
    assert_exit(&version, 0);
    assert!(text(&version.stdout).starts_with("gpugate "));
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for exit in gpugate::exit::Exit::ALL {
        let row = format!(
            "| {} | `{}` | {} |",
            exit.code(),
            exit.word(),
            exit.meaning()
        );
        assert!(readme.contains(&row), "README lacks the row {row}");
        assert!(
            help.contains(exit.meaning()),
            "--help lacks {}",
            exit.meaning()
        );
    }
}

/// On a machine without a driver, gpu-basic tells the cause and its fix
/// once on the console, first in the job summary, in a few annotations; a
/// plain command failure carries no GPU diagnosis.
#[test]
fn one_root_cause_is_told_once() {
    super::tensorflow_ready();
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("r.xml");
    let summary = dir.path().join("summary.md");
    let out = super::gpugate_env(
        &[
            "--suite",
            "gpu-basic",
            "--suite",
            "fixtures/suites/failing.toml",
            "--junit",
            junit.to_str().unwrap(),
            "--offline",
        ],
        &root(),
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    assert_exit(&out, 101);
    let stdout = text(&out.stdout);
    let fix = "fix: install the NVIDIA driver";
    let console: String = stdout
        .lines()
        .filter(|l| !l.starts_with("::"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(console.matches(fix).count(), 1, "{stdout}");
    assert!(stdout.contains("caused by [nvml-missing], see the root causes below"));
    assert!(stdout.contains("root causes: "), "{stdout}");
    let annotations = stdout.lines().filter(|l| l.starts_with("::error ")).count();
    assert!(
        stdout.contains("::error title=gpugate root cause [nvml-missing]"),
        "{stdout}"
    );
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert_eq!(summary.matches(fix).count(), 1, "{summary}");
    let causes_at = summary.find("### Root causes").expect("root causes");
    assert!(causes_at < summary.find("### Failures").unwrap());
    // The failing fixture's own failures (command, file, library, env) are
    // annotated one each; the GPU failures share one.
    assert!(annotations <= 10, "{annotations} annotations");
    let report = super::read_junit(&junit);
    let cases = super::cases(&report);
    let command = super::case(&cases, "false exits 0");
    assert_eq!(command.status, "fail");
    assert!(!command.text.contains("caused by"), "{}", command.text);
    assert!(!command.text.contains("diagnosis ["), "{}", command.text);
}

/// The JSON documents are a contract: a schema version, and no Rust shapes
/// (`{"Ok": ...}`, `{"Err": ...}`, `[name, value]` pairs).
#[test]
fn json_documents_carry_a_schema_version_and_no_rust_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("r.xml");
    let run = gpugate(
        &[
            "--suite",
            ALL_PASS,
            "--junit",
            junit.to_str().unwrap(),
            "--format",
            "json",
        ],
        &root(),
    );
    let facts = gpugate(&["facts", "--format", "json"], &root());
    let doctor = gpugate(&["doctor", "--format", "json"], &root());
    for (what, out) in [("run", run), ("facts", facts), ("doctor", doctor)] {
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{what}: {e}: {}", text(&out.stdout)));
        assert_eq!(doc["schema_version"], 1, "{what}");
        let text = doc.to_string();
        for rust in ["\"Ok\":", "\"Err\":", "[[\""] {
            assert!(!text.contains(rust), "{what} has {rust}: {text}");
        }
    }
}

/// A token that the output cap would cut in two is scrubbed whole first:
/// no prefix of it is left.
#[test]
fn a_token_at_the_output_cap_leaves_no_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("cap.toml");
    // The captured output starts `$ ARGV\n--- stdout ---\n`; 16 KiB are kept
    // from its head: the token is placed to straddle that cut.
    let token = "ghp_0123456789abcdefghijABCDEFGHIJ0123456789";
    let script =
        |n: usize| format!("yes x | head -c {n}; printf {token}; yes y | head -c 70000; exit 1");
    let header = format!("$ sh -c {}\n--- stdout ---\n", script(10_000)).len();
    let before = 16 * 1024 - header - 10;
    std::fs::write(
        &suite,
        format!(
            "[[check]]\nname = \"long output\"\nkind = \"command\"\nargv = [\"sh\", \"-c\", \"{}\"]\n",
            script(before)
        ),
    )
    .unwrap();
    let (out, junit) = run_suite_file(&suite, &[]);
    assert_exit(&out, 101);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("bytes left out"), "the output was not cut");
    assert!(
        xml.contains("&lt;redacted&gt;"),
        "the token was not where the cut is"
    );
    assert!(!xml.contains("ghp_0"), "a token prefix was left at the cut");
    assert!(!text(&out.stdout).contains("ghp_0"));
}

/// A pip that exits 0 without a wheel is named as such, and the fix says
/// provisioning failed (not "run without --offline", which was not given).
#[test]
fn a_pip_without_a_wheel_is_told_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let python = bin.join("python3");
    std::fs::write(&python, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let junit = dir.path().join("r.xml");
    let out = super::gpugate_env(
        &[
            "--suite",
            "cpu-basic",
            "--junit",
            junit.to_str().unwrap(),
            "libtensorflow loads",
        ],
        &root(),
        &[
            ("PATH", &path),
            (
                "GPUGATE_CACHE_DIR",
                dir.path().join("cache").to_str().unwrap(),
            ),
        ],
    );
    assert_exit(&out, 101);
    let stdout = text(&out.stdout);
    assert!(
        text(&out.stderr).contains("pip reported success but named no wheel"),
        "{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("gpugate's provisioning failed"), "{stdout}");
    assert!(!stdout.contains("run without --offline"), "{stdout}");
}

/// On GitLab the real work is wrapped in one timed section, and the
/// per-suite sections that follow do not repeat the console.
#[test]
fn gitlab_sections_wrap_the_work_without_repeating_it() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("r.xml");
    let out = super::gpugate_env(
        &[
            "--suite",
            "fixtures/suites/failing.toml",
            "--junit",
            junit.to_str().unwrap(),
        ],
        &root(),
        &[("GITLAB_CI", "true")],
    );
    assert_exit(&out, 101);
    let stdout = text(&out.stdout);
    let start = stdout.find("section_start:").expect("a section starts");
    assert!(
        stdout[start..].contains(":gpugate_run[collapsed=false]"),
        "{stdout}"
    );
    let running = stdout.find("running ").expect("libtest's console");
    let end = stdout
        .find(":gpugate_run\r")
        .expect("the run's section ends");
    assert!(start < running && running < end, "{stdout}");
    assert!(stdout[..end].contains("test result: FAILED"), "{stdout}");
    // A failure's text and output are in the run's section only; its
    // suite's section repeats just the one-line message.
    let message = "`false` exited with 1, expected 0";
    assert_eq!(stdout.matches(message).count(), 2, "{stdout}");
    assert_eq!(
        stdout.matches("--- captured output ---").count(),
        stdout[..end].matches("--- captured output ---").count()
    );
    assert!(
        stdout[..end].contains("--- captured output ---"),
        "{stdout}"
    );
    assert!(stdout[end..].contains("gpugate_failing"), "{stdout}");
}

/// GitHub's runner reads a lone CR as the end of a line, so check output
/// with `\r::error ...` would be a workflow command of its own: the guard
/// treats CR as a line break too.
#[test]
fn a_carriage_return_cannot_forge_a_workflow_command() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("cr.toml");
    std::fs::write(
        &suite,
        "[[check]]\nname = \"cr\"\nkind = \"command\"\nargv = [\"printf\", \"progress\\\\r::error file=README.md::forged\\\\n\"]\nexit_code = 1\n",
    )
    .unwrap();
    let junit = suite.with_extension("xml");
    let out = super::gpugate_env(
        &[
            "--suite",
            suite.to_str().unwrap(),
            "--offline",
            "--junit",
            junit.to_str().unwrap(),
        ],
        &root(),
        &[("GITHUB_ACTIONS", "true")],
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("forged"), "{stdout}");
    for line in stdout.split(['\n', '\r']) {
        assert!(!line.starts_with("::error file=README.md"), "{stdout:?}");
    }
}

/// A merged report from a hostile runner: secrets in cause lines and
/// element names redacted, Markdown that cannot end its cell or start a
/// link, no terminal control characters, and no link outside an
/// attachments directory, in every format and on stderr.
#[test]
fn merged_reports_from_a_hostile_runner_are_inert() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("a.xml"),
        r#"<testsuite name="s"><testcase classname="s" name="t"/></testsuite>"#,
    )
    .unwrap();
    let token = format!("ghp_{}", "A".repeat(36));
    std::fs::write(
        d.join("b.xml"),
        format!(
            "<testsuite name=\"s\"><testcase classname=\"s\" name=\"t\"><failure message=\"boom\\| pass |&#13;&#13;## All passed ![ok](https://evil.example/b.svg) A&#x1b;]52;c;cHduZWQ=&#x7;B\">caused by [{token}], see\n[[ATTACHMENT|//evil.example/plot.svg]]</failure></testcase><{token}/></testsuite>"
        ),
    )
    .unwrap();
    for format in ["markdown", "html", "json"] {
        let out = gpugate(
            &["report", "merge", "a.xml", "b.xml", "--format", format],
            d,
        );
        assert_exit(&out, 0);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!all.contains(&token), "{format}: {all}");
        assert!(
            !all.contains('\u{1b}') && !all.contains('\u{7}'),
            "{format}: {all:?}"
        );
        assert!(!all.contains("evil.example/plot.svg"), "{format}: {all}");
        if format == "markdown" {
            let row = all.lines().find(|l| l.contains("boom")).unwrap();
            assert!(!row.contains('\r'), "{row:?}");
            assert!(
                row.contains("boom\\\\\\|") && row.contains("!\\[ok\\]"),
                "{row}"
            );
            // The row has its three cells, whatever the message held.
            assert_eq!(row.matches(" | ").count(), 2, "{row}");
        }
    }
}

/// `GITHUB_STEP_SUMMARY` pointing at one of the run's suites: a warning,
/// and the suite left as it was.
#[test]
fn the_job_summary_is_never_appended_to_a_suite() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("all-pass.toml");
    std::fs::copy(fixtures().join("suites/all-pass.toml"), &suite).unwrap();
    let before = std::fs::read(&suite).unwrap();
    let junit = dir.path().join("own.xml");
    let out = super::gpugate_env(
        &[
            "--suite",
            suite.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
        &root(),
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", suite.to_str().unwrap()),
        ],
    );
    assert_exit(&out, 0);
    assert!(text(&out.stderr).contains("is the suite `all-pass` of this run"));
    assert_eq!(std::fs::read(&suite).unwrap(), before);
}

/// Test threads start before any signal is looked at: a number past the
/// limit is refused, not spent (a million took minutes and outlived SIGTERM;
/// u64::MAX overflowed).
#[test]
fn test_threads_are_bounded() {
    for n in ["257", "10000000", "18446744073709551615"] {
        let out = gpugate(&["--suite", ALL_PASS, "--test-threads", n], &root());
        assert_exit(&out, 2);
        assert!(
            text(&out.stderr).contains("is more than 256"),
            "{}",
            text(&out.stderr)
        );
    }
}

/// `LD_LIBRARY_PATH="/nonexistent:"` (appended to while unset) makes the
/// loader search the working directory: a libnvidia-ml.so.1 planted in the
/// checkout must not run in gpugate's workers, and the run says why.
#[test]
fn an_empty_library_path_element_loads_nothing_from_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let source = d.join("planted.c");
    let marker = d.join("planted-ran");
    std::fs::write(
        &source,
        format!(
            "#include <stdio.h>\n__attribute__((constructor)) static void ran(void) {{ FILE *f = fopen(\"{}\", \"w\"); if (f) fclose(f); }}\nint nvmlInit_v2(void) {{ return 0; }}\n",
            marker.display()
        ),
    )
    .unwrap();
    let status = super::c_compiler()
        .to_command()
        .args(["-shared", "-fPIC", "-o"])
        .arg(d.join("libnvidia-ml.so.1"))
        .arg(&source)
        .status()
        .unwrap();
    assert!(status.success());
    let out = super::gpugate_env(
        &["doctor", "--format", "json", "--for-tensorflow", "2.20"],
        d,
        &[("LD_LIBRARY_PATH", "/nonexistent:")],
    );
    assert!(!marker.exists(), "a library in the working directory ran");
    let doctor: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doctor["diagnoses"]
            .to_string()
            .contains("ld-library-path-searches-cwd"),
        "{doctor}"
    );
}

/// Another run holding the provisioning lock (stopped, frozen, or a paused
/// pod sharing the cache): the wait ends at GPUGATE_PROVISION_TIMEOUT
/// naming the lock and its holder, and SIGTERM ends it at once.
#[test]
fn waiting_for_another_provisioning_is_bounded_and_interruptible() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let downloads = cache.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let lock = downloads.join(format!("{}-cpu.lock", gpugate::tf::DEFAULT_VERSION));
    std::fs::write(&lock, "4242\n").unwrap();
    let mut holder = std::process::Command::new("flock")
        .arg(&lock)
        .args(["sleep", "120"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let cache_env = cache.to_str().unwrap();
    let started = std::time::Instant::now();
    let out = super::gpugate_env(
        &["fetch-tensorflow", "--cpu"],
        &root(),
        &[
            ("GPUGATE_CACHE_DIR", cache_env),
            ("GPUGATE_PROVISION_TIMEOUT", "2"),
        ],
    );
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    assert_exit(&out, 5);
    let err = text(&out.stderr);
    assert!(
        err.contains("(pid 4242)") && err.contains("GPUGATE_PROVISION_TIMEOUT"),
        "{err}"
    );

    let mut waiting = std::process::Command::new(super::BIN)
        .args(["fetch-tensorflow", "--cpu"])
        .env("GPUGATE_CACHE_DIR", cache_env)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (status, stderr, waited) = signal_and_wait(&mut waiting, &[libc::SIGTERM]);
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(
        waited.as_secs() < 10,
        "SIGTERM did not end the wait: {waited:?}"
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
}

/// The host's files under `--host-root` and a baseline file are inputs like
/// a suite: a FIFO is refused without blocking, a sparse gigabyte is not
/// read whole, and the message names the file.
#[test]
fn host_files_and_baselines_are_read_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let proc_dir = dir.path().join("fifo-host/proc/driver/nvidia");
    std::fs::create_dir_all(&proc_dir).unwrap();
    let version = proc_dir.join("version");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&version)
            .status()
            .unwrap()
            .success()
    );
    let big_dir = dir.path().join("big-host/proc/driver/nvidia");
    std::fs::create_dir_all(&big_dir).unwrap();
    std::fs::File::create(big_dir.join("version"))
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    for (host, needle) in [
        ("fifo-host", "is a FIFO, not a regular file"),
        (
            "big-host",
            "has more than the 4194304 bytes gpugate reads of it",
        ),
    ] {
        let host = dir.path().join(host);
        let out = output_within(
            &[
                "facts",
                "--format",
                "json",
                "--host-root",
                host.to_str().unwrap(),
            ],
            &[],
            std::time::Duration::from_secs(60),
        );
        let facts = text(&out.stdout);
        assert!(facts.contains(needle), "{host:?}: {facts}");
        assert!(facts.contains("proc/driver/nvidia/version"), "{facts}");
    }
    let baseline = dir.path().join("baseline.toml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&baseline)
            .status()
            .unwrap()
            .success()
    );
    let suite = dir.path().join("suite.toml");
    std::fs::write(
        &suite,
        format!(
            "[[check]]\nname = \"t\"\nkind = \"tensorflow.throughput\"\ndevice = \"/device:CPU:0\"\ndtypes = [\"float32\"]\nsize = 64\nbaseline = \"{}\"\n",
            baseline.display()
        ),
    )
    .unwrap();
    super::tensorflow_ready();
    let junit = dir.path().join("junit.xml");
    let out = output_within(
        &[
            "--suite",
            suite.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
        &[],
        std::time::Duration::from_secs(120),
    );
    assert_exit(&out, 101);
    assert!(
        text(&out.stdout).contains("the baseline file")
            && text(&out.stdout).contains("is a FIFO, not a regular file"),
        "{}",
        text(&out.stdout)
    );
}

/// A CPU suite whose TensorFlow cannot load (offline, empty cache, no
/// python3) fails with TensorFlow's own reason, and no GPU-stack diagnosis
/// is made its root cause: the refusal check proves nothing of the GPU.
#[test]
fn a_cpu_suite_is_never_blamed_on_the_gpu_stack() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let cache = dir.path().join("cache");
    let out = super::gpugate_env(
        &[
            "--suite",
            "cpu-basic",
            "--offline",
            "--junit",
            junit.to_str().unwrap(),
        ],
        dir.path(),
        &[
            ("GPUGATE_CACHE_DIR", cache.to_str().unwrap()),
            ("PATH", "/nonexistent"),
        ],
    );
    assert_exit(&out, 101);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("libtensorflow did not load"), "{all}");
    assert!(!all.contains("root cause"), "{all}");
    let report = std::fs::read_to_string(&junit).unwrap();
    for id in [
        "nvml-missing",
        "cuda-library-missing",
        "cudnn-missing",
        "no-nvidia-gpu",
    ] {
        assert!(!report.contains(id), "{id} in {report}");
    }
}

/// A second signal ends gpugate at once, with that signal's exit status,
/// without waiting for what the first one is still winding down (children
/// ending, the report being written). Two different signals, sent back to
/// back, so that neither is merged into the other while pending.
#[test]
fn a_second_signal_ends_the_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("sleeps.toml");
    std::fs::write(
        &suite,
        "[[check]]\nname = \"sleeps\"\nkind = \"command\"\nargv = [\"sleep\", \"30\"]\n",
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let mut child = std::process::Command::new(super::BIN)
        .args([
            "--suite",
            suite.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (status, stderr, _) = signal_and_wait(&mut child, &[libc::SIGTERM, libc::SIGINT]);
    assert!(
        stderr.contains("received again: killed at once"),
        "{stderr}"
    );
    assert!(
        matches!(status.code(), Some(130 | 143)),
        "{status:?}: {stderr}"
    );
}

/// SIGTERM while a downloaded TensorFlow is being extracted ends the run
/// within the grace period (exit 143), and nothing half-extracted is
/// published: extraction checks for the signal between chunks. The wheel is
/// made here (a 2 GiB library of zeros, which inflates and hashes for
/// seconds) and handed over by a stand-in `python3 -m pip download`.
#[test]
fn a_signal_stops_extraction_between_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let version = gpugate::tf::DEFAULT_VERSION;
    let name = format!("tensorflow_cpu-{version}-cp311-cp311-manylinux_2_17_x86_64.whl");
    let wheel = dir.path().join(&name);
    let made = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            r#"
import base64, hashlib, sys, zipfile
path, version = sys.argv[1], sys.argv[2]
chunk, chunks = b"\0" * (1 << 24), 128
members = {"tensorflow/libtensorflow_framework.so.2": b"x", "tensorflow/python/platform/build_info.py": b"build_info = {}\n"}
record = []
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
    digest = hashlib.sha256()
    with z.open("tensorflow/libtensorflow_cc.so.2", "w", force_zip64=True) as f:
        for _ in range(chunks):
            f.write(chunk); digest.update(chunk)
    record.append(("tensorflow/libtensorflow_cc.so.2", digest.digest(), len(chunk) * chunks))
    for member, data in members.items():
        z.writestr(member, data)
        record.append((member, hashlib.sha256(data).digest(), len(data)))
    lines = [f"{m},sha256={base64.urlsafe_b64encode(d).rstrip(b'=').decode()},{n}" for m, d, n in record]
    info = f"tensorflow_cpu-{version}.dist-info"
    z.writestr(f"{info}/METADATA", f"Name: tensorflow-cpu\nVersion: {version}\n")
    z.writestr(f"{info}/RECORD", "\n".join(lines + [f"{info}/RECORD,,"]) + "\n")
"#,
        )
        .arg(&wheel)
        .arg(version)
        .status()
        .unwrap();
    assert!(made.success());
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let python = bin.join("python3");
    std::fs::write(
        &python,
        format!(
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do [ \"$1\" = --dest ] && dest=$2; shift; done\ncp '{}' \"$dest/\" && echo \"Saved $dest/{name}\"\n",
            wheel.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cache = dir.path().join("cache");
    let mut child = std::process::Command::new(super::BIN)
        .args(["fetch-tensorflow", "--cpu"])
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("GPUGATE_CACHE_DIR", &cache)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the library is being written into the staging directory.
    let staging = cache.join("tensorflow");
    let started = std::time::Instant::now();
    let extracting = || {
        std::fs::read_dir(&staging)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                e.path()
                    .join("entry/tensorflow/libtensorflow_cc.so.2")
                    .metadata()
                    .is_ok_and(|m| m.len() > 0)
            })
    };
    while !extracting() {
        assert!(started.elapsed().as_secs() < 60, "extraction never started");
        assert!(
            child.try_wait().unwrap().is_none(),
            "gpugate ended before extracting"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (status, stderr, waited) = signal_and_wait(&mut child, &[libc::SIGTERM]);
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        waited < std::time::Duration::from_millis(500),
        "{waited:?}: {stderr}"
    );
    assert!(!cache.join(format!("tensorflow/{version}-cpu")).exists());
}

/// Sends `signals` to `child` back to back, then waits for it at most 30 s:
/// its exit status, its stderr, and how long it took after the last signal.
fn signal_and_wait(
    child: &mut std::process::Child,
    signals: &[i32],
) -> (std::process::ExitStatus, String, std::time::Duration) {
    for signal in signals {
        // SAFETY: a signal to a child this test started.
        unsafe { libc::kill(child.id() as i32, *signal) };
    }
    let signalled = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed().as_secs() < 30,
            "still running after {signals:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let waited = signalled.elapsed();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        pipe.read_to_string(&mut stderr).unwrap();
    }
    (status, stderr, waited)
}

/// What the machine controls never drives the terminal or forges a CI
/// log's markers: an environment value carrying OSC 52 (the clipboard),
/// a screen clear and a BEL, and a check whose output forges a GitLab
/// section, are shown escaped in facts, doctor and a run's console (with
/// `--color always`, whose own colours still pass).
#[test]
fn the_machine_s_words_never_drive_a_terminal() {
    let hostile = "0\u{1b}]52;c;aGk=\u{7}\u{1b}[2J";
    let machine = super::machines::Machine::new("h100-driver-580");
    for args in [
        &["facts", "--for-tensorflow", "2.18"][..],
        &["doctor", "--for-tensorflow", "2.18"],
        &[
            "doctor",
            "--for-tensorflow",
            "2.18",
            "--format",
            "condition",
        ],
    ] {
        let out = machine
            .command(Path::new(super::BIN))
            .args(args)
            .env("CUDA_VISIBLE_DEVICES", hostile)
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        assert!(
            !out.stdout.contains(&0x1b) && !out.stdout.contains(&0x07),
            "{args:?}: {stdout:?}"
        );
        if args[0] == "facts" {
            assert!(stdout.contains("\\x1b]52;c;aGk=\\x07\\x1b[2J"), "{stdout}");
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("loud.toml");
    std::fs::write(
        &suite,
        "[[check]]\nname = \"loud\"\nkind = \"command\"\nargv = [\"printf\", \"\\\\033]52;c;aGk=\\\\007\\\\033[2J\\\\033[0Ksection_start:1:forged\\\\r\\\\033[0Kforged\\\\n\"]\nexit_code = 3\n",
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let out = std::process::Command::new(super::BIN)
        .args([
            "--suite",
            suite.to_str().unwrap(),
            "--color",
            "always",
            "--junit",
        ])
        .arg(&junit)
        .env("GITLAB_CI", "true")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert_exit(&out, 101);
    let all = [out.stdout.clone(), out.stderr.clone()].concat();
    let shown = String::from_utf8_lossy(&all);
    assert!(!shown.contains("\u{1b}]52"), "{shown:?}");
    assert!(!shown.contains("\u{1b}[2J"), "{shown:?}");
    assert!(
        !shown.contains("\u{1b}[0Ksection_start:1:forged"),
        "{shown:?}"
    );
    assert!(shown.contains("\\x1b]52;c;aGk=\\x07\\x1b[2J"), "{shown:?}");
    // gpugate's own colours and sections are still there.
    assert!(shown.contains("\u{1b}[0Ksection_start:"), "{shown:?}");
}

/// A visibility variable whose bytes are not UTF-8 is set (CUDA reads the
/// bytes and finds no GPU in them), shown escaped, and judged.
#[test]
fn a_value_that_is_not_utf8_is_set_and_shown_escaped() {
    use std::os::unix::ffi::OsStrExt;
    let machine = super::machines::Machine::new("h100-driver-580");
    let out = machine
        .command(Path::new(super::BIN))
        .args(["doctor", "--for-tensorflow", "2.18", "--format", "json"])
        .env("CUDA_VISIBLE_DEVICES", std::ffi::OsStr::from_bytes(b"\xff"))
        .output()
        .unwrap();
    assert_exit(&out, 101);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["facts"]["host"]["env"]["CUDA_VISIBLE_DEVICES"], "\\xff",
        "{}",
        json["facts"]["host"]["env"]
    );
    assert!(
        json["diagnoses"]
            .to_string()
            .contains("cuda-visible-devices-hides-all"),
        "{}",
        json["diagnoses"]
    );
}

/// A `--var` no suite uses is a typo of one it does: a usage error naming
/// the variables the suites use, before anything runs.
#[test]
fn a_var_no_suite_uses_is_refused() {
    let out = gpugate(
        &[
            "--suite",
            "gpu-basic",
            "--var",
            "expected_drivr=550.54.14",
            "--list",
        ],
        &root(),
    );
    assert_exit(&out, 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "--var expected_drivr: no suite uses `expected_drivr`; the suites use `expected_driver`"
        ),
        "{stderr}"
    );
    let out = gpugate(
        &[
            "--suite",
            "gpu-basic",
            "--var",
            "expected_driver=550.54.14",
            "--list",
        ],
        &root(),
    );
    assert_exit(&out, 0);
}

/// A job summary that cannot be appended whole (here a file size limit
/// stops the write partway, as a full disk does) is not appended at all:
/// the file is as it was, and gpugate says so.
#[test]
fn the_job_summary_is_appended_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let before = "x".repeat(1500);
    std::fs::write(&summary, &before).unwrap();
    let junit = dir.path().join("r.xml");
    // 4 blocks of 512 bytes: room for what is there and a little more.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 4; exec {} --suite {} --junit {}",
            super::BIN,
            fixtures().join("suites/failing.toml").display(),
            junit.display()
        ))
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GPUGATE_HOST_ROOT", dir.path())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(
        std::fs::read_to_string(&summary).unwrap(),
        before,
        "{stderr}"
    );
    assert!(
        text(&out.stdout).contains("failed to append the job summary")
            || stderr.contains("failed to append the job summary"),
        "{}{stderr}",
        text(&out.stdout)
    );
}

/// When what a command prints is its report (doctor, facts, a merged
/// report), a write to stdout that fails loses it: exit 3, said on stderr.
/// A run's report is its JUnit file, so its console failing changes nothing.
#[test]
fn a_report_lost_on_stdout_is_an_error() {
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let out = std::process::Command::new(super::BIN)
        .args(["doctor", "--for-tensorflow", "2.18"])
        .env("GPUGATE_HOST_ROOT", super::gpu_less_root())
        .stdout(full())
        .output()
        .unwrap();
    assert_exit(&out, 3);
    assert!(
        text(&out.stderr).contains("standard output: No space left on device"),
        "{}",
        text(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(super::BIN)
        .args(["--suite", ALL_PASS, "--junit"])
        .arg(dir.path().join("r.xml"))
        .current_dir(root())
        .env("GPUGATE_HOST_ROOT", super::gpu_less_root())
        .stdout(full())
        .output()
        .unwrap();
    assert_exit(&out, 0);
}
