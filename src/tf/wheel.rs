//! Reading a wheel without installing it: its METADATA's requirements, and
//! chosen members extracted under fixed, checked names, each verified
//! against the wheel's RECORD (sha256 and size) as it is written.

use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    #[error("failed to read the wheel {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("the wheel {wheel} has no {member}")]
    MissingMember { wheel: String, member: String },
    #[error(
        "{member} of {wheel} does not match the wheel's RECORD: expected sha256 {expected} and {expected_size} bytes, got {actual} and {actual_size} bytes"
    )]
    Mismatch {
        wheel: String,
        member: String,
        expected: String,
        expected_size: u64,
        actual: String,
        actual_size: u64,
    },
    #[error("failed to write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// An opened wheel and its RECORD.
pub struct Wheel {
    path: PathBuf,
    archive: zip::ZipArchive<fs::File>,
    record: HashMap<String, (String, u64)>,
    dist_info: String,
}

impl Wheel {
    pub fn open(path: &Path) -> Result<Wheel, WheelError> {
        let read_err = |reason: String| WheelError::Read {
            path: path.to_path_buf(),
            reason,
        };
        let file = fs::File::open(path).map_err(|e| read_err(e.to_string()))?;
        let mut archive = zip::ZipArchive::new(file).map_err(|e| read_err(e.to_string()))?;
        let record_name = archive
            .file_names()
            .filter_map(Result::ok)
            .find(|n| n.ends_with(".dist-info/RECORD") && n.matches('/').count() == 1)
            .map(|n| n.into_owned())
            .ok_or_else(|| WheelError::MissingMember {
                wheel: file_name(path),
                member: "*.dist-info/RECORD".into(),
            })?;
        let mut record = String::new();
        archive
            .by_name(&record_name)
            .map_err(|e| read_err(e.to_string()))?
            .read_to_string(&mut record)
            .map_err(|e| read_err(e.to_string()))?;
        let dist_info = record_name.trim_end_matches("RECORD").to_string();
        Ok(Wheel {
            path: path.to_path_buf(),
            archive,
            record: parse_record(&record),
            dist_info,
        })
    }

    pub fn name(&self) -> String {
        file_name(&self.path)
    }

    /// The member names RECORD lists, sorted.
    pub fn recorded(&self) -> Vec<String> {
        let mut names: Vec<String> = self.record.keys().cloned().collect();
        names.sort();
        names
    }

    /// The text of `<dist-info>/METADATA`.
    pub fn metadata(&mut self) -> Result<String, WheelError> {
        let name = format!("{}METADATA", self.dist_info);
        let wheel = self.name();
        let mut text = String::new();
        self.archive
            .by_name(&name)
            .map_err(|_| WheelError::MissingMember {
                wheel,
                member: name.clone(),
            })?
            .read_to_string(&mut text)
            .map_err(|e| WheelError::Read {
                path: self.path.clone(),
                reason: format!("{name}: {e}"),
            })?;
        Ok(text)
    }

    /// The size RECORD gives `member`.
    pub fn recorded_size(&self, member: &str) -> Option<u64> {
        self.record.get(member).map(|(_, size)| *size)
    }

    /// Writes `member` to `out_root/member`, verified against RECORD, telling
    /// `written` how many of its bytes are out as they go. Returns the
    /// verified sha256 and size. A member whose name could leave `out_root`
    /// is refused before anything is written.
    pub fn extract(
        &mut self,
        member: &str,
        out_root: &Path,
        written: &mut dyn FnMut(u64),
    ) -> Result<(String, u64), WheelError> {
        let missing = |what: &str| WheelError::MissingMember {
            wheel: file_name(&self.path),
            member: what.to_string(),
        };
        if !is_plain_relative(member) {
            return Err(missing(member));
        }
        let (expected_hash, expected_size) = self
            .record
            .get(member)
            .cloned()
            .ok_or_else(|| missing(&format!("{member} in RECORD")))?;
        let target = out_root.join(member);
        let write_err = |source| WheelError::Write {
            path: target.clone(),
            source,
        };
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(write_err)?;
        }
        let wheel_name = self.name();
        let mut entry = self.archive.by_name(member).map_err(|_| missing(member))?;
        // Libraries are mapped executable; `ptxas` is run.
        let executable =
            member.contains(".so") || entry.unix_mode().is_some_and(|mode| mode & 0o100 != 0);
        let mut out = fs::File::create(&target).map_err(write_err)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            // cuDNN's largest member inflates for seconds: a signal is seen
            // between chunks.
            if crate::procs::is_cancelled() {
                return Err(WheelError::Read {
                    path: self.path.clone(),
                    reason: format!("{member}: interrupted"),
                });
            }
            let n = entry.read(&mut buf).map_err(|e| WheelError::Read {
                path: self.path.clone(),
                reason: format!("{member}: {e}"),
            })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(write_err)?;
            size += n as u64;
            written(size);
        }
        out.sync_all().map_err(write_err)?;
        let actual = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hasher.finalize());
        if actual != expected_hash || size != expected_size {
            return Err(WheelError::Mismatch {
                wheel: wheel_name,
                member: member.to_string(),
                expected: expected_hash,
                expected_size,
                actual,
                actual_size: size,
            });
        }
        if executable {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).map_err(write_err)?;
        }
        Ok((actual, size))
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// Only plain relative names (`a/b/c`) may be written: no `..`, no root.
fn is_plain_relative(member: &str) -> bool {
    !member.is_empty()
        && Path::new(member)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
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

/// What XLA runs on a GPU from `nvidia-cuda-nvcc-cu12`: `ptxas` (and
/// `nvlink`, where a release ships it) to assemble its kernels and the
/// libdevice bitcode its math calls link against. XLA looks for them in
/// `nvidia/cuda_nvcc` beside the TensorFlow package (XLA's
/// `CandidateCudaRoots`).
const XLA_MEMBERS: [&str; 3] = [
    "nvidia/cuda_nvcc/bin/ptxas",
    "nvidia/cuda_nvcc/bin/nvlink",
    "nvidia/cuda_nvcc/nvvm/libdevice/libdevice.10.bc",
];

/// What TensorFlow needs of NVIDIA's `nvidia-*-cu12` wheels, laid out as pip
/// lays it out: the shared libraries of their `nvidia/<component>/lib/`
/// directories, where TensorFlow's RUNPATH (`$ORIGIN/../nvidia/*/lib`)
/// looks, and what XLA runs (`XLA_MEMBERS`).
pub fn nvidia_library_members(recorded: &[String]) -> Vec<String> {
    recorded
        .iter()
        .filter(|name| {
            let parts: Vec<&str> = name.split('/').collect();
            let library = parts.len() == 4
                && parts[0] == "nvidia"
                && parts[2] == "lib"
                && parts[3].contains(".so");
            (library || XLA_MEMBERS.contains(&name.as_str())) && is_plain_relative(name)
        })
        .cloned()
        .collect()
}

/// The requirements METADATA lists for `extra`, e.g. TensorFlow's
/// `and-cuda`: `nvidia-cudnn-cu12==9.3.0.75` or `nvidia-cudnn-cu12<10.0,>=9.3.0.75`,
/// by package name.
pub fn extra_requirements(metadata: &str, extra: &str) -> BTreeMap<String, String> {
    let marker = format!("extra == \"{extra}\"");
    let marker_single = format!("extra == '{extra}'");
    metadata
        .lines()
        .filter_map(|line| line.strip_prefix("Requires-Dist:"))
        .filter_map(|req| {
            let (spec, env) = req.split_once(';')?;
            let env = env.trim();
            (env == marker || env == marker_single).then(|| spec.trim())
        })
        .map(|spec| {
            let spec = spec.replace(['(', ')', ' '], "");
            let name_end = spec
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
                .unwrap_or(spec.len());
            (spec[..name_end].to_ascii_lowercase(), spec)
        })
        .collect()
}

/// The distribution name and version in a wheel's file name
/// (`nvidia_cudnn_cu12-9.3.0.75-py3-none-manylinux_2_27_x86_64.whl`).
pub fn name_and_version(wheel_file: &str) -> Option<(String, String)> {
    let mut parts = wheel_file.strip_suffix(".whl")?.split('-');
    let name = parts.next()?.replace('_', "-").to_ascii_lowercase();
    let version = parts.next()?.to_string();
    Some((name, version))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn b64_sha(data: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(data))
    }

    /// A wheel-shaped zip with the given members and a RECORD listing `recorded`.
    pub(crate) fn make_wheel(
        path: &Path,
        dist_info: &str,
        members: &[(&str, &[u8])],
        recorded: &[(&str, &[u8])],
    ) {
        let mut zip = zip::ZipWriter::new(fs::File::create(path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        for (name, data) in members {
            zip.start_file(*name, opts).unwrap();
            zip.write_all(data).unwrap();
        }
        let record: String = recorded
            .iter()
            .map(|(name, data)| format!("{name},sha256={},{}\n", b64_sha(data), data.len()))
            .collect();
        zip.start_file(format!("{dist_info}/RECORD"), opts).unwrap();
        zip.write_all(record.as_bytes()).unwrap();
        zip.finish().unwrap();
    }

    #[test]
    fn extracts_a_member_and_verifies_it() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("w.whl");
        let members = [("nvidia/cudnn/lib/libcudnn.so.9", b"lib".as_slice())];
        make_wheel(
            &path,
            "nvidia_cudnn_cu12-9.3.0.75.dist-info",
            &members,
            &members,
        );
        let mut wheel = Wheel::open(&path).unwrap();
        let out = tmp.path().join("out");
        wheel
            .extract("nvidia/cudnn/lib/libcudnn.so.9", &out, &mut |_| {})
            .unwrap();
        assert_eq!(
            fs::read(out.join("nvidia/cudnn/lib/libcudnn.so.9")).unwrap(),
            b"lib"
        );
    }

    #[test]
    fn a_tampered_member_is_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("w.whl");
        let members = [("tensorflow/libtensorflow_cc.so.2", b"cc".as_slice())];
        let recorded = [("tensorflow/libtensorflow_cc.so.2", b"other".as_slice())];
        make_wheel(&path, "tensorflow-2.21.0.dist-info", &members, &recorded);
        let mut wheel = Wheel::open(&path).unwrap();
        let err = wheel
            .extract("tensorflow/libtensorflow_cc.so.2", tmp.path(), &mut |_| {})
            .unwrap_err();
        assert!(matches!(err, WheelError::Mismatch { .. }), "{err}");
    }

    #[test]
    fn names_that_leave_the_entry_are_never_written() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("w.whl");
        let members = [("../escape.so", b"evil".as_slice())];
        make_wheel(&path, "x-1.dist-info", &members, &members);
        let mut wheel = Wheel::open(&path).unwrap();
        let out = tmp.path().join("out");
        assert!(wheel.extract("../escape.so", &out, &mut |_| {}).is_err());
        assert!(!tmp.path().join("escape.so").exists());
        assert!(nvidia_library_members(&["nvidia/../lib/x.so".into()]).is_empty());
    }

    #[test]
    fn only_nvidia_libraries_and_what_xla_runs_are_selected() {
        let recorded: Vec<String> = [
            "nvidia/cudnn/lib/libcudnn.so.9",
            "nvidia/cudnn/include/cudnn.h",
            "nvidia/cuda_nvcc/bin/ptxas",
            "nvidia/cuda_nvcc/bin/nvcc",
            "nvidia/cuda_nvcc/nvvm/libdevice/libdevice.10.bc",
            "nvidia/cuda_nvcc/nvvm/lib64/libnvvm.so",
            "nvidia/__init__.py",
            "nvidia_cudnn_cu12-9.3.0.75.dist-info/RECORD",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            nvidia_library_members(&recorded),
            [
                "nvidia/cudnn/lib/libcudnn.so.9",
                "nvidia/cuda_nvcc/bin/ptxas",
                "nvidia/cuda_nvcc/nvvm/libdevice/libdevice.10.bc"
            ]
        );
    }

    #[test]
    fn reads_the_and_cuda_extra_pinned_and_ranged() {
        let metadata = "Name: tensorflow\n\
Requires-Dist: numpy>=1.26.0\n\
Requires-Dist: nvidia-cudnn-cu12==9.3.0.75; extra == \"and-cuda\"\n\
Requires-Dist: nvidia-cublas-cu12<13.0,>=12.5.3.2; extra == \"and-cuda\"\n\
Requires-Dist: nvidia-nccl-cu12 (==2.23.4) ; extra == 'and-cuda'\n\
Requires-Dist: tensorflow-io-gcs-filesystem; extra == \"gcs\"\n";
        let reqs = extra_requirements(metadata, "and-cuda");
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs["nvidia-cudnn-cu12"], "nvidia-cudnn-cu12==9.3.0.75");
        assert_eq!(
            reqs["nvidia-cublas-cu12"],
            "nvidia-cublas-cu12<13.0,>=12.5.3.2"
        );
        assert_eq!(reqs["nvidia-nccl-cu12"], "nvidia-nccl-cu12==2.23.4");
    }

    #[test]
    fn wheel_file_names_give_name_and_version() {
        assert_eq!(
            name_and_version("nvidia_cudnn_cu12-9.3.0.75-py3-none-manylinux_2_27_x86_64.whl"),
            Some(("nvidia-cudnn-cu12".into(), "9.3.0.75".into()))
        );
    }
}
