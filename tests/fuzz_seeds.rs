//! The fuzz targets' bodies (src/fuzzing.rs) on stable Rust: every seed of
//! their corpora, then random and mutated bytes. The long runs are
//! `fuzz/run.sh` (cargo fuzz, nightly).

use gpugate::fuzzing;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file in `dirs` (not recursive).
fn seeds(dirs: &[&str]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for dir in dirs {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                found.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    assert!(!found.is_empty(), "no seeds in {dirs:?}");
    found
}

/// A target's name, its body, and where its seeds are.
type Target = (&'static str, fn(&[u8]), &'static [&'static str]);

const TARGETS: &[Target] = &[
    (
        "suite_parse",
        fuzzing::suite_parse,
        &[
            "fuzz/corpus/suite_parse",
            "fixtures/suites",
            "fixtures/suites/bad",
        ],
    ),
    (
        "vars_expand",
        fuzzing::vars_expand,
        &["fuzz/corpus/vars_expand"],
    ),
    (
        "worker_protocol",
        fuzzing::worker_protocol,
        &["fuzz/corpus/worker_protocol"],
    ),
    (
        "junit_read",
        fuzzing::junit_read,
        &[
            "fuzz/corpus/junit_read",
            "fixtures/junit",
            "fixtures/snapshots",
        ],
    ),
];

#[test]
fn every_seed_runs_through_its_target() {
    for (name, target, dirs) in TARGETS {
        let seeds = seeds(dirs);
        for (path, bytes) in &seeds {
            let result = std::panic::catch_unwind(|| target(bytes));
            assert!(result.is_ok(), "{name} panicked on {}", path.display());
        }
    }
}

#[test]
fn protocol_seeds_are_real_messages() {
    use gpugate::worker::protocol::{Request, Response};
    let dir = root().join("fuzz/corpus/worker_protocol");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    serde_json::from_str::<Response>(&read("measured.json")).unwrap();
    serde_json::from_str::<Response>(&read("measured-failed.json")).unwrap();
    serde_json::from_str::<Response>(&read("driver.json")).unwrap();
    serde_json::from_str::<Request>(&read("request.json")).unwrap();
}

/// A seed with a few bytes changed, inserted or cut.
fn mutated(seed: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for &(at, byte, op) in edits {
        if out.is_empty() {
            out.push(byte);
            continue;
        }
        let at = at % out.len();
        match op % 3 {
            0 => out[at] = byte,
            1 => out.insert(at, byte),
            _ => {
                out.truncate(at);
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for (_, target, _) in TARGETS {
            target(&bytes);
        }
    }

    #[test]
    fn mutated_seeds_never_panic(
        which in 0usize..4,
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8),
    ) {
        let (_, target, dirs) = TARGETS[which];
        let seeds = seeds(dirs);
        let (_, seed) = &seeds[pick.index(seeds.len())];
        target(&mutated(seed, &edits));
    }
}

#[test]
fn the_fuzz_crate_names_every_target() {
    let manifest = std::fs::read_to_string(root().join("fuzz/Cargo.toml")).unwrap();
    for (name, _, _) in TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name} missing from fuzz/Cargo.toml"
        );
        assert!(Path::new(&root().join(format!("fuzz/fuzz_targets/{name}.rs"))).exists());
    }
}
