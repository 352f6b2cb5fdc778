//! Provisioning: what `python3 -m pip install tensorflow[and-cuda]==V` would
//! put on disk, without installing anything. `pip download` fetches the
//! TensorFlow wheel (and, for the CUDA build, the `nvidia-*` wheels its
//! `and-cuda` extra names), only the library directories are extracted,
//! every file is verified against its wheel's RECORD, and the entry is
//! published with one rename, so concurrent runs never see half of one.
//!
//! The entry is laid out as pip lays out site-packages, so TensorFlow's own
//! RUNPATH (`$ORIGIN/../nvidia/*/lib`) finds the NVIDIA libraries:
//!
//! ```text
//! <cache>/tensorflow/2.21.0-gpu/tensorflow/libtensorflow_cc.so.2
//!                               tensorflow/libtensorflow_framework.so.2
//!                               tensorflow/python/platform/build_info.py
//!                               nvidia/cudnn/lib/libcudnn.so.9 ...
//!                               gpugate-entry.json
//! ```

use super::cache::{self, ENTRY_MARKER, EntryRecord, FileRecord, Flavor, WheelRecord};
use super::pip::{self, PipError};
use super::wheel::{self, Wheel, WheelError};
use crate::progress::{Progress, QUIET, Unit};
use std::collections::BTreeMap;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Members of the TensorFlow wheel that are extracted, by their wheel paths.
const TENSORFLOW_MEMBERS: &[&str] = &[
    "tensorflow/libtensorflow_cc.so.2",
    "tensorflow/libtensorflow_framework.so.2",
    "tensorflow/python/platform/build_info.py",
];
/// The extra of TensorFlow's METADATA that names NVIDIA's libraries.
const CUDA_EXTRA: &str = "and-cuda";

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    NoCache(#[from] cache::NoCacheDir),
    #[error("the cache is not safe to use: {0}")]
    Untrusted(#[source] cache::CacheError),
    #[error(transparent)]
    Pip(#[from] PipError),
    #[error("pip reported success but named no wheel for {0}")]
    NoWheel(String),
    #[error(transparent)]
    Wheel(#[from] WheelError),
    #[error(
        "{0} names no `{CUDA_EXTRA}` extra in its METADATA, so gpugate cannot tell which NVIDIA libraries it needs"
    )]
    NoCudaExtra(String),
    #[error(
        "another gpugate (pid {holder}) has held {lock} for {seconds}s, longer than {var} allows; if that run is stopped or frozen, end it (or remove the lock once no gpugate runs)",
        var = super::pip::TIMEOUT_VAR
    )]
    LockWait {
        lock: PathBuf,
        holder: String,
        seconds: u64,
    },
    #[error("interrupted while waiting for another gpugate's provisioning ({0})")]
    LockInterrupted(PathBuf),
    #[error("interrupted while extracting {0}; nothing was published to the cache")]
    ExtractInterrupted(String),
    #[error("failed to write the cache entry {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ProvisionError + '_ {
    move |source| ProvisionError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The CPython version whose wheel is fetched; the libraries do not depend
/// on it, so one that every release of the range ships is chosen.
fn python_version_for(version: &str) -> &'static str {
    let minor: u32 = version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(18);
    if version.starts_with("2.") && minor <= 11 {
        "3.10"
    } else {
        "3.11"
    }
}

/// An exclusive lock on one entry's provisioning, released on drop: a
/// second run waits, then finds the entry the first one published.
struct EntryLock {
    _held: fs::File,
}

impl EntryLock {
    fn take(path: &Path, say: &mut dyn FnMut(&str)) -> Result<EntryLock, ProvisionError> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        // SAFETY: flock on a descriptor this function owns, never blocking:
        // the wait is polled, so a signal or the provisioning timeout ends
        // it (a holder that is stopped or frozen would hold it for ever).
        let try_lock =
            || unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if !try_lock() {
            let holder = fs::read_to_string(path)
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "unknown".into());
            say(&format!(
                "gpugate: waiting for another gpugate (pid {holder}) provisioning the same entry ({})",
                path.display()
            ));
            let started = std::time::Instant::now();
            let limit = super::pip::timeout();
            while !try_lock() {
                if crate::procs::is_cancelled() {
                    return Err(ProvisionError::LockInterrupted(path.to_path_buf()));
                }
                if started.elapsed() > limit {
                    return Err(ProvisionError::LockWait {
                        lock: path.to_path_buf(),
                        holder,
                        seconds: started.elapsed().as_secs(),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        // The holder's PID, for a run that waits on it to name.
        let _ = file.set_len(0);
        let _ =
            std::io::Write::write_all(&mut &file, format!("{}\n", std::process::id()).as_bytes());
        Ok(EntryLock { _held: file })
    }
}

/// Provisions `version` of `flavor` into the cache unless a verified entry
/// is already there. `say` receives progress lines meant for a person.
pub fn provision(
    cache_root: &Result<PathBuf, cache::NoCacheDir>,
    version: &str,
    flavor: Flavor,
    say: &mut dyn FnMut(&str),
) -> Result<PathBuf, ProvisionError> {
    let cache_root = cache_root
        .as_ref()
        .map_err(|why| ProvisionError::NoCache(*why))?;
    let entry = cache::entry_dir(cache_root, version, flavor);
    if cache::verify(&entry).is_ok() {
        return Ok(entry);
    }
    let parent = entry.parent().expect("entry has a parent").to_path_buf();
    let name = entry.file_name().expect("entry has a name").to_owned();
    let downloads = cache_root.join("downloads").join(&name);
    fs::create_dir_all(&parent).map_err(io_err(&parent))?;
    fs::create_dir_all(&downloads).map_err(io_err(&downloads))?;
    for dir in [cache_root.as_path(), &parent] {
        cache::trusted(dir).map_err(ProvisionError::Untrusted)?;
    }
    let lock_path = cache_root
        .join("downloads")
        .join(format!("{}.lock", name.to_string_lossy()));
    let _lock = EntryLock::take(&lock_path, say)?;
    match cache::verify(&entry) {
        Ok(()) => return Ok(entry),
        // A damaged entry (a truncated library, a file replaced) is
        // provisioned anew rather than loaded.
        Err(why) if entry.exists() => {
            say(&format!(
                "gpugate: provisioning {} anew: {why}",
                entry.display()
            ));
            fs::remove_dir_all(&entry).map_err(io_err(&entry))?;
        }
        Err(_) => {}
    }
    // Under the lock no other run provisions this entry: a staging
    // directory of it that is still there was left by a killed run.
    let partial_prefix = format!(".partial-{}-", name.to_string_lossy());
    remove_stale(&parent, &partial_prefix, say);
    let staging = tempfile::Builder::new()
        .prefix(&partial_prefix)
        .tempdir_in(&parent)
        .map_err(io_err(&parent))?;
    let out_dir = staging.path().join("entry");
    fs::create_dir_all(&out_dir).map_err(io_err(&out_dir))?;

    let package = flavor.package();
    let target = pip::Target {
        python: python_version_for(version),
        platforms: pip::host_platforms(),
    };
    let started = Instant::now();
    say(&format!(
        "gpugate: downloading {package}=={version} ({}) with pip into {} (wheels kept in {} until it is complete, so an interrupted download resumes)",
        match flavor {
            Flavor::Cpu => "CPU build, about 250 MB",
            Flavor::Gpu => "CUDA build, about 600 MB, then NVIDIA's CUDA libraries, about 2 GB",
        },
        entry.display(),
        downloads.display()
    ));
    let requirement = format!("{package}=={version}");
    let chosen = pip::download(std::slice::from_ref(&requirement), &target, &downloads, say)?;
    let tf_wheel = chosen
        .first()
        .ok_or_else(|| ProvisionError::NoWheel(requirement.clone()))?;
    let mut tf = Wheel::open(tf_wheel)?;
    let mut wheels = vec![extract(
        &mut tf,
        &requirement,
        TENSORFLOW_MEMBERS.iter().map(|m| m.to_string()),
        &out_dir,
        say,
    )?];

    if flavor == Flavor::Gpu {
        let extra = wheel::extra_requirements(&tf.metadata()?, CUDA_EXTRA);
        if extra.is_empty() {
            return Err(ProvisionError::NoCudaExtra(tf.name()));
        }
        let requirements: Vec<String> = extra.values().cloned().collect();
        say(&format!(
            "gpugate: {} names {} NVIDIA packages in its `{CUDA_EXTRA}` extra: {}",
            tf.name(),
            requirements.len(),
            requirements.join(" ")
        ));
        let chosen = pip::download(&requirements, &target, &downloads, say)?;
        for (name, requirement) in &extra {
            let path = chosen
                .iter()
                .find(|p| wheel_identity(p).is_some_and(|(n, _)| n.replace('_', "-") == *name))
                .ok_or_else(|| ProvisionError::NoWheel(requirement.clone()))?;
            let mut nvidia = Wheel::open(path)?;
            let members = wheel::nvidia_library_members(&nvidia.recorded());
            wheels.push(extract(&mut nvidia, requirement, members, &out_dir, say)?);
        }
    }

    let record = EntryRecord {
        package: package.into(),
        version: version.into(),
        wheels,
    };
    let files: usize = record.wheels.iter().map(|w| w.files.len()).sum();
    let marker = out_dir.join(ENTRY_MARKER);
    fs::write(
        &marker,
        serde_json::to_vec_pretty(&record).expect("entry record serializes"),
    )
    .map_err(io_err(&marker))?;
    publish(&out_dir, &entry)?;
    // The wheels are no longer needed once their files are published.
    let _ = fs::remove_dir_all(&downloads);
    let chosen: Vec<String> = record
        .wheels
        .iter()
        .map(|w| format!("{}=={}", w.name, w.version))
        .collect();
    say(&format!(
        "gpugate: TensorFlow {version} ({}) ready in {} after {:.0}s: {files} files, {} MB, verified against their wheels' RECORD ({})",
        flavor.word(),
        entry.display(),
        started.elapsed().as_secs_f64(),
        dir_size(&entry) / 1_000_000,
        chosen.join(", ")
    ));
    Ok(entry)
}

/// Removes `dir/<prefix>*` staging directories that killed runs left.
fn remove_stale(dir: &Path, prefix: &str, say: &mut dyn FnMut(&str)) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            let path = entry.path();
            match fs::remove_dir_all(&path) {
                Ok(()) => say(&format!(
                    "gpugate: removed {}, left by an interrupted provisioning",
                    path.display()
                )),
                Err(e) => say(&format!(
                    "gpugate: warning: failed to remove {}, left by an interrupted provisioning: {e}",
                    path.display()
                )),
            }
        }
    }
}

fn wheel_identity(path: &Path) -> Option<(String, String)> {
    wheel::name_and_version(&path.file_name()?.to_string_lossy())
}

/// Extracts `members` of one wheel into the entry and records them.
fn extract(
    wheel: &mut Wheel,
    requirement: &str,
    members: impl IntoIterator<Item = String>,
    out_dir: &Path,
    say: &mut dyn FnMut(&str),
) -> Result<WheelRecord, ProvisionError> {
    let file = wheel.name();
    let (name, version) = wheel::name_and_version(&file).unwrap_or((file.clone(), String::new()));
    let members: Vec<String> = members.into_iter().collect();
    let total = members.iter().filter_map(|m| wheel.recorded_size(m)).sum();
    let mut progress =
        Progress::on_stderr(&format!("extracting {file}"), total, Unit::Bytes).quiet_for(QUIET);
    let mut files = BTreeMap::new();
    let mut before = 0;
    for member in members {
        // A signal stops the run between members, not after the whole
        // stack (a CUDA entry takes a minute to inflate).
        if crate::procs::is_cancelled() {
            return Err(ProvisionError::ExtractInterrupted(file));
        }
        let (sha256, size) = wheel.extract(&member, out_dir, &mut |done| {
            progress.update(before + done, say)
        })?;
        before += size;
        files.insert(member, FileRecord { sha256, size });
    }
    progress.finish();
    Ok(WheelRecord {
        name,
        version,
        requirement: requirement.into(),
        file,
        files,
    })
}

/// Moves the finished entry into place with one rename.
fn publish(out_dir: &Path, entry: &Path) -> Result<(), ProvisionError> {
    match fs::rename(out_dir, entry) {
        Ok(()) => Ok(()),
        Err(_) if cache::verify(entry).is_ok() => Ok(()),
        Err(e) => {
            // A stale entry (an older gpugate's layout, or one left
            // incomplete) is replaced.
            if entry.exists() && !cache::is_complete(entry) {
                fs::remove_dir_all(entry).map_err(io_err(entry))?;
                fs::rename(out_dir, entry).map_err(io_err(entry))
            } else {
                Err(ProvisionError::Io {
                    path: entry.to_path_buf(),
                    source: e,
                })
            }
        }
    }
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tf::wheel::tests::make_wheel;

    #[test]
    fn extracts_the_tensorflow_members_under_their_wheel_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp
            .path()
            .join("tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl");
        let members: Vec<(&str, &[u8])> = vec![
            ("tensorflow/libtensorflow_cc.so.2", b"cc"),
            ("tensorflow/libtensorflow_framework.so.2", b"fw"),
            ("tensorflow/python/platform/build_info.py", b"x = 1"),
            ("tensorflow/other.py", b"not extracted"),
        ];
        make_wheel(&path, "tensorflow_cpu-2.21.0.dist-info", &members, &members);
        let out = tmp.path().join("entry");
        let record = extract(
            &mut Wheel::open(&path).unwrap(),
            "tensorflow-cpu==2.21.0",
            TENSORFLOW_MEMBERS.iter().map(|m| m.to_string()),
            &out,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(record.name, "tensorflow-cpu");
        assert_eq!(record.version, "2.21.0");
        assert_eq!(record.files.len(), 3);
        assert!(out.join("tensorflow/libtensorflow_cc.so.2").is_file());
        assert!(!out.join("tensorflow/other.py").exists());
    }

    #[test]
    fn a_wheel_without_the_libraries_is_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("tensorflow-2.21.0-cp311-cp311-any.whl");
        let members: Vec<(&str, &[u8])> = vec![("other/file", b"x")];
        make_wheel(&path, "tensorflow-2.21.0.dist-info", &members, &members);
        let err = extract(
            &mut Wheel::open(&path).unwrap(),
            "tensorflow==2.21.0",
            TENSORFLOW_MEMBERS.iter().map(|m| m.to_string()),
            &tmp.path().join("entry"),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("tensorflow/libtensorflow_cc.so.2"),
            "{err}"
        );
    }

    #[test]
    fn python_version_follows_the_release() {
        assert_eq!(python_version_for("2.10.1"), "3.10");
        assert_eq!(python_version_for("2.21.0"), "3.11");
    }
}
