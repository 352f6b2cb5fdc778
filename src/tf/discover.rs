//! Where libtensorflow may be, in the documented order. Only looks at files
//! and asks `python3` where its TensorFlow lives; loading is the worker's job.

use super::cache::{self, C_API_LIBRARY, Flavor};
use super::{Attempt, Candidate, Setup};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// File names that export TensorFlow's C API, in the order tried in a directory.
const LIBRARY_NAMES: &[&str] = &["libtensorflow.so", "libtensorflow.so.2", C_API_LIBRARY];
/// Directories libtensorflow tarballs are usually unpacked into.
const STANDARD_PREFIXES: &[&str] = &[
    "/usr/local/lib",
    "/usr/local/lib/libtensorflow",
    "/opt/tensorflow/lib",
    "/usr/lib",
];

pub struct Options {
    pub explicit: Option<PathBuf>,
    /// Err: why there is no cache directory.
    pub cache_root: Result<PathBuf, super::cache::NoCacheDir>,
    pub version: String,
    /// `--tensorflow-version`: that release's cache entry and nothing else.
    pub only_cache: bool,
    pub flavor: Flavor,
}

fn candidate(source: &str, target: &Path) -> Candidate {
    Candidate {
        source: source.into(),
        target: target.display().to_string(),
    }
}

fn note(source: &str, target: &str, why: impl Into<String>) -> Attempt {
    Attempt {
        source: source.into(),
        target: target.into(),
        error: Some(why.into()),
    }
}

/// The first file in `dir` that may export the C API.
fn library_in(dir: &Path) -> Option<PathBuf> {
    LIBRARY_NAMES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// A path given by the user or the environment: a file, or a directory
/// holding one of [`LIBRARY_NAMES`].
fn push_path(setup: &mut Setup, source: &str, path: &Path) {
    if path.is_file() {
        setup.candidates.push(candidate(source, path));
    } else if path.is_dir() {
        match library_in(path) {
            Some(lib) => setup.candidates.push(candidate(source, &lib)),
            None => setup.notes.push(note(
                source,
                &path.display().to_string(),
                format!("directory holds none of {}", LIBRARY_NAMES.join(", ")),
            )),
        }
    } else {
        setup
            .notes
            .push(note(source, &path.display().to_string(), "does not exist"));
    }
}

/// `--tensorflow-lib`, else `TENSORFLOW_DIR`: an explicit choice, which is
/// then the only candidate (one that does not load is a failure naming it,
/// never silently replaced by another TensorFlow).
pub fn explicit_choice(opts: &Options) -> Option<(&'static str, PathBuf)> {
    if let Some(path) = &opts.explicit {
        return Some(("--tensorflow-lib", path.clone()));
    }
    std::env::var_os("TENSORFLOW_DIR")
        .filter(|v| !v.is_empty())
        .map(|dir| ("TENSORFLOW_DIR", PathBuf::from(dir)))
}

/// The loader, standard prefixes and pip's TensorFlow: the steps between an
/// explicit choice and the cache.
fn search_outside_cache(setup: &mut Setup) {
    // The loader's own search: LD_LIBRARY_PATH, ld.so.cache, system directories.
    for soname in ["libtensorflow.so.2", "libtensorflow.so"] {
        setup.candidates.push(Candidate {
            source: "loader path".into(),
            target: soname.into(),
        });
    }
    let mut any_prefix = false;
    for prefix in STANDARD_PREFIXES {
        if let Some(lib) = library_in(Path::new(prefix)) {
            any_prefix = true;
            setup.candidates.push(candidate("standard prefix", &lib));
        }
    }
    if !any_prefix {
        setup.notes.push(note(
            "standard prefix",
            &STANDARD_PREFIXES.join(", "),
            "no libtensorflow there",
        ));
    }
    match pip_tensorflow_dir() {
        Ok(dir) => push_path(setup, "python3 (pip)", &dir.join(C_API_LIBRARY)),
        Err(why) => setup.notes.push(note("python3 (pip)", "tensorflow", why)),
    }
}

pub fn discover(opts: &Options) -> Setup {
    let mut setup = Setup::default();
    if let Some((source, path)) = explicit_choice(opts) {
        push_path(&mut setup, source, &path);
        return setup;
    }
    setup.notes.push(note("--tensorflow-lib", "-", "not given"));
    setup.notes.push(note("TENSORFLOW_DIR", "-", "not set"));
    if opts.only_cache {
        setup.notes.push(note(
            "--tensorflow-version",
            &opts.version,
            "given: only gpugate's cache entry of this release is tried",
        ));
    } else {
        search_outside_cache(&mut setup);
    }
    let root = match &opts.cache_root {
        Ok(root) => root,
        Err(why) => {
            setup
                .notes
                .push(note("gpugate cache", "-", why.to_string()));
            return setup;
        }
    };
    if root.exists()
        && let Err(why) = cache::trusted(root)
    {
        setup.notes.push(note(
            "gpugate cache",
            &root.display().to_string(),
            why.to_string(),
        ));
        return setup;
    }
    let preferred = cache::entry_dir(root, &opts.version, opts.flavor);
    let (mut entries, rejected) = cache::usable_entries(root, &preferred);
    for (entry, why) in rejected {
        setup.notes.push(note(
            "gpugate cache",
            &entry.display().to_string(),
            format!("not used: {why}"),
        ));
    }
    if opts.only_cache {
        entries.retain(|e| e == &preferred);
    }
    if entries.is_empty() {
        setup.notes.push(note(
            "gpugate cache",
            &root.join("tensorflow").display().to_string(),
            "no usable entry",
        ));
    }
    for entry in entries {
        setup
            .candidates
            .push(candidate("gpugate cache", &cache::library(&entry)));
    }
    setup
}

/// The directory of the active python3's TensorFlow package, without importing it.
fn pip_tensorflow_dir() -> Result<PathBuf, String> {
    // `python3 -c` puts the working directory first on sys.path: a
    // `tensorflow/` directory there is not a pip-installed TensorFlow.
    const SCRIPT: &str = "import os, sys\nsys.path = [p for p in sys.path if p not in ('', '.', os.getcwd())]\nimport importlib.util as u\ns = u.find_spec('tensorflow')\nprint(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')";
    let mut command = Command::new("python3");
    command.args(["-c", SCRIPT]);
    let out = crate::procs::output_within(command, Duration::from_secs(20))
        .map_err(|e| format!("python3: {e}"))?;
    let dir = out.trim();
    if dir.is_empty() {
        Err("TensorFlow is not installed in the active python3".into())
    } else {
        Ok(PathBuf::from(dir))
    }
}

/// The first candidate that is a file (a bare soname needs the loader),
/// with its release when files tell it: gpugate's cache record, or pip's
/// `tensorflow*-VERSION.dist-info` beside it.
pub fn first_file(setup: &Setup) -> Option<(PathBuf, Option<String>)> {
    let path = setup
        .candidates
        .iter()
        .map(|c| PathBuf::from(&c.target))
        .find(|p| p.is_absolute() && p.is_file())?;
    let site = path.parent().and_then(Path::parent);
    let version =
        site.and_then(|site| cache::entry_version(site).or_else(|| pip_dist_version(site)));
    Some((path, version))
}

fn pip_dist_version(site: &Path) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(site)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.iter().find_map(|name| {
        let stem = name.strip_suffix(".dist-info")?;
        let (dist, version) = stem.rsplit_once('-')?;
        matches!(
            dist,
            "tensorflow" | "tensorflow_cpu" | "tensorflow_gpu" | "tf_nightly"
        )
        .then(|| version.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_choice_is_the_only_candidate_else_the_cache_is_last() {
        let tmp = tempfile::tempdir().unwrap();
        let explicit = tmp.path().join("tf");
        std::fs::create_dir_all(&explicit).unwrap();
        std::fs::write(explicit.join("libtensorflow.so.2"), "").unwrap();
        let cache_root = tmp.path().join("cache");
        let entry = cache::entry_dir(&cache_root, "2.18.1", Flavor::Cpu);
        std::fs::create_dir_all(&entry).unwrap();
        std::fs::create_dir_all(entry.join("tensorflow")).unwrap();
        std::fs::write(entry.join("tensorflow").join(C_API_LIBRARY), "lib").unwrap();
        std::fs::write(
            entry.join(cache::ENTRY_MARKER),
            r#"{"package": "tensorflow-cpu", "version": "2.18.1", "wheels": [{"name": "tensorflow-cpu", "version": "2.18.1", "requirement": "", "file": "", "files": {"tensorflow/libtensorflow_cc.so.2": {"sha256": "", "size": 3}}}]}"#,
        )
        .unwrap();

        let setup = discover(&Options {
            explicit: Some(explicit.clone()),
            cache_root: Ok(cache_root.clone()),
            version: "2.18.1".into(),
            only_cache: false,
            flavor: Flavor::Cpu,
        });
        assert_eq!(setup.candidates.len(), 1, "{:?}", setup.candidates);
        let first = &setup.candidates[0];
        assert_eq!(first.source, "--tensorflow-lib");
        assert_eq!(
            first.target,
            explicit.join("libtensorflow.so.2").display().to_string()
        );
        let setup = discover(&Options {
            explicit: None,
            cache_root: Ok(cache_root.clone()),
            version: "2.18.1".into(),
            only_cache: false,
            flavor: Flavor::Cpu,
        });
        let last = setup.candidates.last().unwrap();
        assert_eq!(last.source, "gpugate cache");
        assert_eq!(last.target, cache::library(&entry).display().to_string());
    }

    #[test]
    fn missing_explicit_path_is_noted() {
        let tmp = tempfile::tempdir().unwrap();
        let setup = discover(&Options {
            explicit: Some(tmp.path().join("nope")),
            cache_root: Ok(tmp.path().join("cache")),
            version: "2.18.1".into(),
            only_cache: false,
            flavor: Flavor::Cpu,
        });
        assert!(setup.notes.iter().any(
            |n| n.source == "--tensorflow-lib" && n.error.as_deref() == Some("does not exist")
        ));
        // Nothing else is tried: the explicit choice fails, naming itself.
        assert!(setup.candidates.is_empty(), "{:?}", setup.candidates);
    }
}
