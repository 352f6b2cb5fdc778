//! Suites as users write them: passing, failing, skipped, malformed, huge; usage errors; `suites` and `--list`.

use super::*;

#[test]
fn all_pass_suite_exits_zero_with_a_complete_report() {
    let (out, junit, _dir) = run_suite("fixtures/suites/all-pass.toml", &[]);
    assert_exit(&out, 0);
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
    assert_exit(&out, 101);
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
    assert_exit(&out, 0);
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
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stem = path.file_stem().unwrap().to_str().unwrap();
        super::assert_snapshot("bad-suites", stem, &stderr);
        assert!(
            stderr.contains(name),
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
    assert_exit(&out, 2);
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
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("error: no suite given"));
    let out = gpugate(&["--suite", "gpu-basc"], &root());
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("did you mean `gpu-basic`?"),
        "{}",
        text(&out.stderr)
    );
    let out = gpugate(&["--suite", "cpu-basic", "--var", "novalue"], &root());
    assert_exit(&out, 2);
}

#[test]
fn suites_command_lists_the_builtin_suites() {
    let out = gpugate(&["suites"], &root());
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("cpu-basic") && stdout.contains("gpu-basic"),
        "{stdout}"
    );
}

#[test]
fn list_shows_checks_without_running_them() {
    let out = gpugate(&["--suite", "gpu-basic", "--list"], &root());
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("gpu-basic::TensorFlow lists a GPU: test"),
        "{stdout}"
    );
    assert!(!text(&out.stderr).contains("downloading"));
}
