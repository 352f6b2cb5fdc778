//! The pip distributions that own a TensorFlow package directory: their
//! `*.dist-info` beside `tensorflow/`, which of them the files there came
//! from (by the library's size in each RECORD: the CPU and CUDA builds, and
//! releases, differ by megabytes), and what each says in METADATA. pip lets
//! `tensorflow-cpu` be installed over `tensorflow` (both own `tensorflow/`);
//! the files are then the last one's, and uninstalling either breaks the
//! other. Files only (parent-safe).

use crate::version::Version;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The distributions that install the `tensorflow/` package, by their
/// dist-info names (PEP 503 normalised with underscores).
const TENSORFLOW_DISTRIBUTIONS: &[&str] = &[
    "tensorflow",
    "tensorflow_cpu",
    "tensorflow_gpu",
    "tensorflow_intel",
    "tf_nightly",
    "tf_nightly_cpu",
];

/// The most gpugate reads of a RECORD (TensorFlow's is about 1 MiB) or a
/// METADATA.
const DIST_INFO_LIMIT: u64 = 16 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// `tensorflow-cpu`, as pip names it.
    pub name: String,
    pub version: String,
    pub dist_info: PathBuf,
    /// Whether the library gpugate judges is this distribution's file (its
    /// size is the one its RECORD lists); None where the RECORD does not
    /// say.
    pub owns_library: Option<bool>,
}

impl Distribution {
    /// `tensorflow-cpu==2.18.1`
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }
}

/// The TensorFlow distributions installed beside `library`'s package
/// directory (`site-packages/tensorflow/libtensorflow_cc.so.2`), sorted.
pub fn beside(library: &Path) -> Vec<Distribution> {
    let (Some(package), Some(file)) = (library.parent(), library.file_name()) else {
        return Vec::new();
    };
    let Some(site) = package.parent() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(site) else {
        return Vec::new();
    };
    let member = format!(
        "{}/{}",
        package.file_name().unwrap_or_default().to_string_lossy(),
        file.to_string_lossy()
    );
    let size = std::fs::metadata(library).ok().map(|m| m.len());
    let mut found: Vec<Distribution> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let (dist, version) = name.strip_suffix(".dist-info")?.rsplit_once('-')?;
            if !TENSORFLOW_DISTRIBUTIONS.contains(&dist) {
                return None;
            }
            let dist_info = entry.path();
            let recorded = crate::input::read_text(&dist_info.join("RECORD"), DIST_INFO_LIMIT)
                .ok()
                .and_then(|record| recorded_size(&record, &member));
            Some(Distribution {
                name: dist.replace('_', "-"),
                version: version.to_string(),
                dist_info,
                owns_library: recorded.zip(size).map(|(r, s)| r == s),
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// The size RECORD lists for `member` (`path,sha256=...,size`).
fn recorded_size(record: &str, member: &str) -> Option<u64> {
    record.lines().find_map(|line| {
        let mut fields = line.rsplitn(3, ',');
        let size = fields.next()?;
        let _hash = fields.next()?;
        (fields.next()? == member)
            .then(|| size.trim().parse().ok())
            .flatten()
    })
}

/// The CUDA and cuDNN (major.minor) a distribution's `and-cuda` extra
/// installs, from the lower bounds of `nvidia-cuda-runtime-cuNN` and
/// `nvidia-cudnn-cuNN`: what a build whose build_info.py states no version
/// (tf-nightly) was built against.
pub fn cuda_needs(dist: &Distribution) -> Option<(Version, Version)> {
    let metadata =
        crate::input::read_text(&dist.dist_info.join("METADATA"), DIST_INFO_LIMIT).ok()?;
    let extra = crate::tf::wheel::extra_requirements(&metadata, "and-cuda");
    let bound = |prefix: &str| {
        extra
            .iter()
            .find(|(name, _)| name.starts_with(prefix))
            .and_then(|(_, spec)| lower_bound(spec))
            .map(|v| v.truncate(2))
    };
    Some((bound("nvidia-cuda-runtime-cu")?, bound("nvidia-cudnn-cu")?))
}

/// `12.5.82` from `nvidia-cuda-runtime-cu12<13.0,>=12.5.82` or `==12.5.82`.
fn lower_bound(spec: &str) -> Option<Version> {
    let start = spec.find(['<', '>', '=', '!', '~'])?;
    spec[start..].split(',').find_map(|clause| {
        clause
            .strip_prefix(">=")
            .or_else(|| clause.strip_prefix("=="))
            .and_then(Version::parse)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist_info(site: &Path, name: &str, record: &str, metadata: &str) {
        let dir = site.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("RECORD"), record).unwrap();
        std::fs::write(dir.join("METADATA"), metadata).unwrap();
    }

    #[test]
    fn the_owner_of_the_files_is_told_by_the_sizes_in_record() {
        let site = tempfile::tempdir().unwrap();
        let package = site.path().join("tensorflow");
        std::fs::create_dir_all(&package).unwrap();
        let library = package.join("libtensorflow_cc.so.2");
        std::fs::write(&library, vec![0u8; 10]).unwrap();
        dist_info(
            site.path(),
            "tensorflow-2.18.1.dist-info",
            "tensorflow/__init__.py,sha256=x,5\ntensorflow/libtensorflow_cc.so.2,sha256=a,99\n",
            "Name: tensorflow\n",
        );
        dist_info(
            site.path(),
            "tensorflow_cpu-2.18.1.dist-info",
            "tensorflow/libtensorflow_cc.so.2,sha256=b,10\n",
            "Name: tensorflow-cpu\n",
        );
        std::fs::create_dir_all(site.path().join("numpy-2.0.0.dist-info")).unwrap();
        let found = beside(&library);
        let owners: Vec<(&str, Option<bool>)> = found
            .iter()
            .map(|d| (d.name.as_str(), d.owns_library))
            .collect();
        assert_eq!(
            owners,
            [("tensorflow", Some(false)), ("tensorflow-cpu", Some(true))]
        );
        assert_eq!(found[1].requirement(), "tensorflow-cpu==2.18.1");
    }

    #[test]
    fn a_nightly_s_cuda_and_cudnn_come_from_its_and_cuda_extra() {
        let site = tempfile::tempdir().unwrap();
        dist_info(
            site.path(),
            "tf_nightly-2.23.0.dev20261026.dist-info",
            "",
            "Name: tf_nightly\nRequires-Dist: nvidia-cuda-runtime-cu12<13.0,>=12.5.82; extra == \"and-cuda\"\nRequires-Dist: nvidia-cudnn-cu12<10.0,>=9.10.2.21; extra == \"and-cuda\"\nRequires-Dist: nvidia-cudnn-cu12<10.0,>=9.3.0.75; extra == \"gpu\"\n",
        );
        let dist = Distribution {
            name: "tf-nightly".into(),
            version: "2.23.0.dev20261026".into(),
            dist_info: site.path().join("tf_nightly-2.23.0.dev20261026.dist-info"),
            owns_library: None,
        };
        let (cuda, cudnn) = cuda_needs(&dist).unwrap();
        assert_eq!(cuda.to_string(), "12.5");
        assert_eq!(cudnn.to_string(), "9.10");
        assert_eq!(lower_bound("x==12.3.107").unwrap().to_string(), "12.3.107");
        assert_eq!(lower_bound("x<13"), None);
    }
}
