//! The pipelines, action, component, image and manifests shipped in the
//! repository: each parses, every gpugate command they run parses as
//! gpugate's command line (so a renamed flag or subcommand breaks this test,
//! not a user's nightly), and the action's scripts run as written.

use super::{BIN, assert_exit, gpu_less_root, root, text};
use clap::Parser;
use gpugate::cli::Cli;
use gpugate::exit::Exit;
use regex::Regex;
use std::path::Path;
use std::process::{Command, Output};
use yaml_rust2::{Yaml, YamlLoader};

const FILES: &[&str] = &[
    ".github/workflows/ci.yml",
    ".github/workflows/gpu.yml",
    ".github/workflows/release.yml",
    "action.yml",
    "templates/gpugate.yml",
    "templates/gpugate-merge.yml",
    "ci/k8s/node-job.yaml",
    "ci/k8s/merge-job.yaml",
    "ci/k8s/reports.yaml",
];

/// Every string under a `run`, `script` or `args` key, arrays joined.
fn commands(yaml: &Yaml, out: &mut Vec<String>) {
    match yaml {
        Yaml::Hash(map) => {
            for (k, v) in map {
                let key = k.as_str().unwrap_or("");
                match (key, v) {
                    ("run" | "script" | "args", Yaml::String(s)) => out.push(s.clone()),
                    ("script", Yaml::Array(items)) => {
                        out.extend(items.iter().filter_map(|i| i.as_str().map(String::from)))
                    }
                    ("args", Yaml::Array(items)) => {
                        let words: Vec<&str> = items.iter().filter_map(|i| i.as_str()).collect();
                        // A container's arguments to the gpugate image.
                        if words.first().is_some_and(|w| w.starts_with("--")) {
                            out.push(format!("gpugate {}", words.join(" ")));
                        } else {
                            out.extend(words.iter().map(|w| w.to_string()));
                        }
                    }
                    _ => commands(v, out),
                }
            }
        }
        Yaml::Array(items) => items.iter().for_each(|i| commands(i, out)),
        _ => {}
    }
}

/// The argument lists of the gpugate invocations in a shell snippet, with
/// CI expressions and shell variables replaced by a placeholder.
fn invocations(script: &str) -> Vec<Vec<String>> {
    let expr = Regex::new(
        r#"\$\{\{[^}]*\}\}|\$\[\[[^\]]*\]\]|\$\([^)]*\)|\$@|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?"#,
    )
    .unwrap();
    let script = expr.replace_all(script, "X");
    let mut found = Vec::new();
    for part in script.split(['\n', ';']).flat_map(|l| l.split("&&")) {
        let line = part.trim();
        let rest = if let Some(i) = line.find("cargo run --release --") {
            &line[i + "cargo run --release --".len()..]
        } else if let Some(i) = line
            .find("gpugate ")
            .filter(|i| *i == 0 || line[..*i].ends_with(' '))
        {
            &line[i + "gpugate ".len()..]
        } else {
            continue;
        };
        let rest = rest.split(">>").next().unwrap_or(rest);
        found.push(
            rest.split_whitespace()
                .map(|w| w.trim_matches('"').to_string())
                .collect(),
        );
    }
    found
}

#[test]
fn pipelines_parse_and_their_gpugate_commands_exist() {
    let mut checked = 0;
    for file in FILES {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        // The GitLab component's first line collects `--suite S` pairs in "$@".
        let text = text.replace(r#""$@""#, "--suite X");
        let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!docs.is_empty(), "{file} is empty");
        let mut scripts = Vec::new();
        docs.iter().for_each(|d| commands(d, &mut scripts));
        for args in scripts.iter().flat_map(|s| invocations(s)) {
            let argv = std::iter::once("gpugate".to_string()).chain(args.iter().cloned());
            if let Err(e) = Cli::try_parse_from(argv) {
                panic!("{file}: `gpugate {}` does not parse: {e}", args.join(" "));
            }
            for pair in args.windows(2).filter(|w| w[0] == "--suite") {
                let suite = &pair[1];
                assert!(
                    gpugate::suite::builtin_source(suite).is_some()
                        || suite == "X"
                        || root().join(suite).exists(),
                    "{file}: suite `{suite}` is neither built in nor a file"
                );
            }
            checked += 1;
        }
    }
    // The GitLab component 1, its merge 2, the k8s Jobs 3 (the workflows run
    // gpugate through the action, checked below).
    assert!(checked >= 6, "only {checked} gpugate commands found");
}

#[test]
fn invocations_are_found_in_shell_snippets() {
    let found = invocations(
        "cargo run --release -- --suite \"$GPUGATE_SUITE\" --junit reports/${{ matrix.x }}.xml >> \"$GITHUB_STEP_SUMMARY\"\nwhile true; do gpugate --suite a --junit /r/$(NODE).xml; sleep 1; done",
    );
    assert_eq!(
        found,
        [
            vec!["--suite", "X", "--junit", "reports/X.xml"],
            vec!["--suite", "a", "--junit", "/r/X.xml"]
        ]
    );
    // A command line that no longer parses is caught.
    assert!(Cli::try_parse_from(["gpugate", "--no-such-flag"]).is_err());
}

fn load(file: &str) -> Vec<Yaml> {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Every step in `yaml` whose `uses` is `uses`.
fn steps_using<'a>(yaml: &'a Yaml, uses: &str, out: &mut Vec<&'a Yaml>) {
    match yaml {
        Yaml::Hash(map) => {
            if map.get(&Yaml::String("uses".into())).and_then(Yaml::as_str) == Some(uses) {
                out.push(yaml);
            }
            map.values().for_each(|v| steps_using(v, uses, out));
        }
        Yaml::Array(items) => items.iter().for_each(|i| steps_using(i, uses, out)),
        _ => {}
    }
}

#[test]
fn the_action_declares_what_it_and_its_users_refer_to() {
    let action = &load("action.yml")[0];
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let inputs: Vec<&str> = action["inputs"]
        .as_hash()
        .unwrap()
        .keys()
        .filter_map(Yaml::as_str)
        .collect();
    let step_ids: Vec<&str> = action["runs"]["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    for used in Regex::new(r"inputs\.([a-z-]+)")
        .unwrap()
        .captures_iter(&text)
    {
        assert!(
            inputs.contains(&&used[1]),
            "action.yml uses undeclared input {}",
            &used[1]
        );
    }
    for used in Regex::new(r"steps\.([a-z-]+)\.outputs")
        .unwrap()
        .captures_iter(&text)
    {
        assert!(
            step_ids.contains(&&used[1]),
            "action.yml reads step {} which has no id",
            &used[1]
        );
    }
    for script in Regex::new(r#"\$GITHUB_ACTION_PATH/([^"\s]+)"#)
        .unwrap()
        .captures_iter(&text)
    {
        assert!(
            root().join(&script[1]).is_file(),
            "action.yml runs missing {}",
            &script[1]
        );
    }
    let mut uses = 0;
    for file in [".github/workflows/ci.yml", ".github/workflows/gpu.yml"] {
        for doc in load(file) {
            let mut steps = Vec::new();
            steps_using(&doc, "./", &mut steps);
            for step in steps {
                uses += 1;
                for (key, value) in step["with"].as_hash().into_iter().flatten() {
                    let key = key.as_str().unwrap();
                    assert!(
                        inputs.contains(&key),
                        "{file}: the action has no input {key}"
                    );
                    let value = value.as_str().unwrap_or("");
                    if key == "suites" {
                        for suite in value.split_whitespace() {
                            assert!(
                                gpugate::suite::builtin_source(suite).is_some()
                                    || root().join(suite).exists(),
                                "{file}: suite `{suite}` is neither built in nor a file"
                            );
                        }
                    }
                    if key == "args" {
                        let args = &invocations(&format!("gpugate {value}"))[0];
                        let argv =
                            std::iter::once("gpugate".to_string()).chain(args.iter().cloned());
                        Cli::try_parse_from(argv)
                            .unwrap_or_else(|e| panic!("{file}: args `{value}`: {e}"));
                    }
                }
            }
        }
    }
    // ci.yml's cpu-basic, gpu.yml's gate, nightly leg and merge.
    assert_eq!(uses, 4, "steps that use the action");
}

#[test]
fn the_action_verdicts_are_the_exit_table() {
    let script = std::fs::read_to_string(root().join("ci/github/run.sh")).unwrap();
    let arms: Vec<(u8, String)> = Regex::new(r"(?m)^\s*(\d+)\) verdict=([a-z-]+) ;;$")
        .unwrap()
        .captures_iter(&script)
        .map(|c| (c[1].parse().unwrap(), c[2].to_string()))
        .collect();
    let table: Vec<(u8, String)> = Exit::ALL
        .iter()
        .map(|e| (e.code(), e.word().to_string()))
        .collect();
    assert_eq!(arms, table);
}

/// Runs one of the action's scripts as its step would: gpugate on PATH,
/// outputs appended to a GITHUB_OUTPUT file, which is returned.
fn action_script(script: &str, dir: &Path, env: &[(&str, &str)]) -> (Output, String) {
    let output = dir.join("github-output");
    let _ = std::fs::remove_file(&output);
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg(root().join("ci/github").join(script))
        .current_dir(root())
        .env("PATH", path)
        .env("GITHUB_ACTION_PATH", root())
        .env("GITHUB_OUTPUT", &output)
        .env("GPUGATE_HOST_ROOT", gpu_less_root())
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GH_TOKEN")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (out, std::fs::read_to_string(&output).unwrap_or_default())
}

#[test]
fn the_action_runs_gpugate_and_sets_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let cases = [
        (
            "all-pass",
            "fixtures/suites/all-pass.toml",
            "",
            "passed",
            "0",
        ),
        (
            "failing",
            "fixtures/suites/failing.toml",
            "",
            "failed",
            "101",
        ),
        (
            "typo",
            "fixtures/suites/all-pass.toml",
            "nosuchcheck",
            "nothing-ran",
            "4",
        ),
        (
            "bad-flag",
            "fixtures/suites/all-pass.toml",
            "--no-such-flag",
            "usage",
            "2",
        ),
    ];
    for (leg, suites, args, verdict, code) in cases {
        let report_dir = reports.join(leg);
        let (out, outputs) = action_script(
            "run.sh",
            dir.path(),
            &[
                ("SUITES", suites),
                ("ARGS", args),
                ("REPORT_DIR", report_dir.to_str().unwrap()),
            ],
        );
        assert_exit(&out, 0);
        let report = report_dir.join("gpugate.xml");
        assert_eq!(
            outputs,
            format!(
                "verdict={verdict}\nexit-code={code}\nreport={}\n",
                report.display()
            ),
            "{leg}"
        );
        assert_eq!(report.exists(), code != "2", "{leg}: report written");
    }
    let matrix_dir = dir.path().join("matrix");
    let glob = format!("{}/*/gpugate.xml", reports.display());
    let (out, outputs) = action_script(
        "run.sh",
        dir.path(),
        &[
            ("MERGE", glob.as_str()),
            ("REPORT_DIR", matrix_dir.to_str().unwrap()),
        ],
    );
    assert_exit(&out, 0);
    assert!(
        outputs.starts_with("verdict=passed\nexit-code=0\n"),
        "{outputs}"
    );
    let html = std::fs::read_to_string(matrix_dir.join("matrix.html")).unwrap();
    assert!(
        html.contains("false exits 0"),
        "the failing leg's checks are in the matrix"
    );
}

#[test]
fn the_action_installs_a_release_binary_only_if_its_checksum_holds() {
    let dir = tempfile::tempdir().unwrap();
    let asset = "gpugate-x86_64-unknown-linux-gnu.tar.gz";
    let release = dir
        .path()
        .join("server/acme/gpugate/releases/download/v9.8.7");
    std::fs::create_dir_all(&release).unwrap();
    let bin_dir = Path::new(BIN).parent().unwrap();
    let status = Command::new("tar")
        .args(["-czf", release.join(asset).to_str().unwrap(), "-C"])
        .arg(bin_dir)
        .arg("gpugate")
        .status()
        .unwrap();
    assert!(status.success());
    let sum = Command::new("sha256sum")
        .arg(asset)
        .current_dir(&release)
        .output()
        .unwrap();
    std::fs::write(release.join(format!("{asset}.sha256")), &sum.stdout).unwrap();
    let server = format!("file://{}", dir.path().join("server").display());
    // A PATH with only what the release path of install.sh runs, so that it
    // downloads with curl even where gh is installed.
    let tools = dir.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    for tool in [
        "bash",
        "curl",
        "sha256sum",
        "tar",
        "gzip",
        "mkdir",
        "mktemp",
        "rm",
    ] {
        let found = Command::new("bash")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        let target = text(&found.stdout).trim().to_string();
        assert!(!target.is_empty(), "this test needs {tool}");
        std::os::unix::fs::symlink(target, tools.join(tool)).unwrap();
    }
    let path = tools.to_str().unwrap();
    let install = |root_dir: &Path| {
        let github_path = dir.path().join("github-path");
        let out = Command::new(tools.join("bash"))
            .arg(root().join("ci/github/install.sh"))
            .arg("install")
            .env_clear()
            .env("PATH", path)
            .env("HOME", dir.path())
            .env("GITHUB_ACTION_PATH", root())
            .env("GITHUB_SERVER_URL", &server)
            .env("GITHUB_PATH", &github_path)
            .env("GPUGATE_INSTALL_ROOT", root_dir)
            .env("ACTION_REF", "v9.8.7")
            .env("ACTION_REPOSITORY", "acme/gpugate")
            .output()
            .unwrap();
        (
            out,
            std::fs::read_to_string(&github_path).unwrap_or_default(),
        )
    };
    let good = dir.path().join("good");
    let (out, github_path) = install(&good);
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("(release v9.8.7)"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(github_path.trim(), good.join("bin").to_str().unwrap());
    let version = Command::new(good.join("bin/gpugate"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(text(&version.stdout).starts_with("gpugate "));

    // A tampered download is refused and nothing is installed.
    let mut tampered = std::fs::read(release.join(asset)).unwrap();
    let last = tampered.len() - 1;
    tampered[last] ^= 0xff;
    std::fs::write(release.join(asset), tampered).unwrap();
    let bad = dir.path().join("bad");
    let (out, _) = install(&bad);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("did NOT match"),
        "{}",
        text(&out.stderr)
    );
    assert!(!bad.join("bin/gpugate").exists());
}

fn fleet(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(root().join("ci/k8s/fleet.sh"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_fleet_is_one_job_per_node_holding_its_gpus() {
    let out = fleet(&[
        "render",
        "--image",
        "gpugate:2.21.0",
        "--nodes",
        "gpu-a:8,gpu-b.lab:4",
        "--run",
        "n1",
    ]);
    assert_exit(&out, 0);
    let docs = YamlLoader::load_from_str(&text(&out.stdout)).unwrap();
    let jobs: Vec<&Yaml> = docs
        .iter()
        .filter(|d| d["kind"].as_str() == Some("Job"))
        .collect();
    assert_eq!(jobs.len(), 3, "two nodes and the merge");
    for (job, (node, gpus)) in jobs.iter().zip([("gpu-a", 8), ("gpu-b.lab", 4)]) {
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(
            pod["nodeSelector"]["kubernetes.io/hostname"].as_str(),
            Some(node)
        );
        assert_eq!(
            pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"].as_i64(),
            Some(gpus)
        );
        assert_eq!(
            pod["restartPolicy"].as_str(),
            Some("Never"),
            "a run completes"
        );
        assert!(
            job["spec"]["activeDeadlineSeconds"].as_i64().is_some(),
            "a run ends"
        );
        let args: Vec<&str> = pod["containers"][0]["args"]
            .as_vec()
            .unwrap()
            .iter()
            .filter_map(Yaml::as_str)
            .collect();
        assert!(
            args.ends_with(&["--junit", &format!("/reports/n1/{node}.xml")]),
            "{args:?}"
        );
        assert!(!text(&out.stdout).contains("hostPath"), "no host paths");
    }
    let merge = jobs[2]["spec"]["template"]["spec"]["containers"][0]["args"][0]
        .as_str()
        .unwrap();
    assert!(merge.contains("report merge /reports/n1/*.xml"), "{merge}");

    // Values that could break out of their YAML scalar are refused.
    for (flag, value) in [
        ("--nodes", "gpu-a:8,evil\n  hostNetwork: true:1"),
        ("--nodes", "gpu-a:0"),
        ("--nodes", "gpu-a:8;rm"),
        ("--image", "img|x"),
        ("--run", "Bad_Run"),
    ] {
        let mut args = vec![
            "render",
            "--image",
            "gpugate:1",
            "--nodes",
            "gpu-a:1",
            "--run",
            "r",
        ];
        let at = args.iter().position(|a| *a == flag).unwrap();
        args[at + 1] = value;
        let out = fleet(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flag} {value:?}: {}",
            text(&out.stdout)
        );
        assert!(!text(&out.stdout).contains("hostNetwork"));
    }
}

#[test]
fn the_dockerfile_builds_from_its_own_stages_and_runs_gpugate() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    // Continuation lines joined, build arguments at their defaults.
    let mut joined = dockerfile.replace("\\\n", " ");
    for arg in Regex::new(r"(?m)^ARG (\w+)=(\S+)$")
        .unwrap()
        .captures_iter(&dockerfile)
    {
        joined = joined.replace(&format!("${}", &arg[1]), &arg[2]);
    }
    let lines: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut stages: Vec<&str> = Vec::new();
    let mut entrypoint = None;
    for line in &lines {
        let (instruction, rest) = line.split_once(' ').unwrap_or((line, ""));
        match instruction {
            "FROM" => stages.push(rest.split(" AS ").nth(1).unwrap_or("")),
            "COPY" => {
                if let Some(from) = rest.strip_prefix("--from=") {
                    let stage = from.split_whitespace().next().unwrap();
                    assert!(
                        stages[..stages.len() - 1].contains(&stage),
                        "COPY from unknown stage {stage}"
                    );
                } else {
                    let source = rest.split_whitespace().next().unwrap();
                    assert!(root().join(source).exists(), "COPY of missing {source}");
                }
            }
            "RUN" => {
                for args in invocations(rest) {
                    let argv = std::iter::once("gpugate".to_string()).chain(args.iter().cloned());
                    Cli::try_parse_from(argv)
                        .unwrap_or_else(|e| panic!("Dockerfile: `{rest}`: {e}"));
                }
            }
            "ENTRYPOINT" => entrypoint = Some(rest),
            "CMD" => {
                let words: Vec<String> = serde_json::from_str(rest).unwrap();
                let argv = std::iter::once("gpugate".to_string()).chain(words);
                Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("Dockerfile CMD: {e}"));
            }
            _ => {}
        }
    }
    assert_eq!(stages, ["build", "stack", ""], "build, provision, run");
    assert_eq!(entrypoint, Some(r#"["gpugate"]"#));
    assert!(
        joined.contains("fetch-tensorflow --gpu"),
        "the GPU stack is provisioned at build time"
    );
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l == "target/"),
        "the build context leaves out target/"
    );
}
