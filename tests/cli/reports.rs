//! Reports and their consumers: throughput baselines, the CI reporters and the JSON document against JUnit, and merging reports.

use super::*;

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
    let record = |out: &str, junit: &str| {
        run(&[
            "baseline",
            "record",
            "--suite",
            "throughput.toml",
            "--out",
            out,
            "--junit",
            junit,
        ])
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

    // A baseline file that does not parse is refused before anything runs.
    std::fs::write(dir.path().join("bad.toml"), "[[entry]\nmodel = 1\n").unwrap();
    let untouched = dir.path().join("untouched.xml");
    let (code, stderr) = record("bad.toml", untouched.to_str().unwrap());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("bad.toml"), "{stderr}");
    assert!(!untouched.exists(), "the checks ran and reported");

    let (code, stderr) = record(baseline.to_str().unwrap(), junit);
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
    assert_exit(&out, 101);
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
    assert_exit(&out, 0);
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
    assert_exit(&out, 0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<tr class=\"changed\">"));
    assert!(
        !page.contains("src=") && !page.contains("<link"),
        "self-contained"
    );

    let out = gpugate(&["report", "merge", suite.to_str().unwrap()], dir.path());
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains(
            "s.toml: no <testsuites>, <testsuite> or <testcase> element: not a JUnit report"
        ),
        "{}",
        text(&out.stderr)
    );
}
