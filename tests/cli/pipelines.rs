//! The pipelines and manifests shipped in the repository: each parses as
//! YAML, and every gpugate command they run parses as gpugate's command line
//! (so a renamed flag or subcommand breaks this test, not a user's nightly).

use super::root;
use clap::Parser;
use gpugate::cli::Cli;
use regex::Regex;
use yaml_rust2::{Yaml, YamlLoader};

const FILES: &[&str] = &[
    ".github/workflows/ci.yml",
    ".github/workflows/gpu.yml",
    "ci/gitlab-ci.yml",
    "ci/gitlab-ci.example.yml",
    "ci/k8s/daemonset.yaml",
    "ci/k8s/job.yaml",
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
    let expr = Regex::new(r#"\$\{\{[^}]*\}\}|\$\([^)]*\)|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?"#).unwrap();
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
    // ci.yml 1, gpu.yml 4, the GitLab template 4, the k8s manifests 2.
    assert!(checked >= 11, "only {checked} gpugate commands found");
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
