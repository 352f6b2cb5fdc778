//! What the TensorFlow build in use needs from the machine: a CUDA build or
//! not, its CUDA and cuDNN versions, kernel architectures, and hence the
//! libraries it will dlopen. Read from files only (parent-safe).

use super::elf;
use crate::compat::{self, Need};
use crate::tf::Loaded;
use crate::version::Version;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TfBuild {
    /// Where these facts come from, for every message that uses them.
    pub source: String,
    pub version: Option<Version>,
    /// None when nothing says (a C library tarball without build_info.py).
    pub cuda_build: Option<bool>,
    pub cuda: Option<Version>,
    /// major.minor: build_info.py gives the major, the release table the minor.
    pub cudnn: Option<Version>,
    pub archs: Vec<String>,
    /// Where TensorFlow's RUNPATH finds pip's NVIDIA libraries.
    pub library_dirs: Vec<PathBuf>,
    /// The newest C and C++ runtime versions its libraries require
    /// (`GLIBC_2.27`, `GLIBCXX_3.4.22`, `CXXABI_1.3.11`), from their ELF
    /// version needs; empty when no library file was read.
    #[serde(default)]
    pub requires: Vec<String>,
}

/// The values of a wheel's `tensorflow/python/platform/build_info.py`.
#[derive(Debug, Default, PartialEq)]
pub struct BuildInfo {
    pub is_cuda_build: Option<bool>,
    pub cuda_version: Option<String>,
    pub cudnn_version: Option<String>,
    pub archs: Vec<String>,
}

static ENTRY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\('(\w+)',\s*(\[[^\]]*\]|'[^']*'|True|False)\)").expect("valid regex")
});

pub fn parse_build_info(text: &str) -> BuildInfo {
    let mut info = BuildInfo::default();
    for cap in ENTRY.captures_iter(text) {
        let value = &cap[2];
        let string = || value.trim_matches('\'').to_string();
        match &cap[1] {
            "is_cuda_build" => info.is_cuda_build = Some(value == "True"),
            "cuda_version" => info.cuda_version = Some(string()),
            "cudnn_version" => info.cudnn_version = Some(string()),
            "cuda_compute_capabilities" => {
                info.archs = value
                    .trim_matches(['[', ']'])
                    .split(',')
                    .map(|a| a.trim().trim_matches('\'').to_string())
                    .filter(|a| !a.is_empty())
                    .collect()
            }
            _ => {}
        }
    }
    info
}

/// build_info.py beside the library (gpugate's cache) or where a pip
/// install keeps it.
fn find_build_info(library: &Path) -> Option<PathBuf> {
    let dir = library.parent()?;
    [
        dir.join("build_info.py"),
        dir.join("python/platform/build_info.py"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// pip's `nvidia/*/lib` directories next to a pip-installed TensorFlow.
/// The newest glibc, libstdc++ and C++ ABI versions TensorFlow's library
/// and its framework library beside it require.
fn runtime_requirements(library: &Path) -> Vec<String> {
    let framework = library.with_file_name("libtensorflow_framework.so.2");
    let mut versions: Vec<String> = [library, framework.as_path()]
        .iter()
        .filter_map(|path| elf::dynamic(path).ok())
        .flat_map(|d| d.versions)
        .filter(|v| {
            ["GLIBC_2.", "GLIBCXX_", "CXXABI_"]
                .iter()
                .any(|p| v.starts_with(p))
        })
        .collect();
    versions.sort_by_key(|v| runtime_version_key(v));
    // The newest of each family is the one that decides.
    let mut newest: Vec<String> = Vec::new();
    for version in versions {
        let family = runtime_version_key(&version).0;
        match newest.last_mut() {
            Some(last) if runtime_version_key(last).0 == family => *last = version,
            _ => newest.push(version),
        }
    }
    newest
}

/// Sorts `GLIBC_2.27` before `GLIBC_2.34` (numerically, by family).
pub fn runtime_version_key(version: &str) -> (String, Vec<u64>) {
    let (family, number) = version.split_once('_').unwrap_or((version, ""));
    let parts = number.split('.').filter_map(|p| p.parse().ok()).collect();
    (family.to_string(), parts)
}

fn pip_nvidia_dirs(library: &Path) -> Vec<PathBuf> {
    let Some(site) = library.parent().and_then(Path::parent) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(site.join("nvidia")) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path().join("lib"))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// A build without build_info.py, judged by where its framework library
/// sends the loader.
fn from_runpath(library: &Path, version: Option<&Version>) -> TfBuild {
    let framework = library.with_file_name("libtensorflow_framework.so.2");
    let framework = if framework.is_file() {
        framework
    } else {
        library.to_path_buf()
    };
    let unknown = |why: String| TfBuild {
        source: why,
        version: version.cloned(),
        cuda_build: None,
        cuda: None,
        cudnn: None,
        archs: Vec::new(),
        library_dirs: Vec::new(),
        requires: Vec::new(),
    };
    let dynamic = match elf::dynamic(&framework) {
        Ok(d) => d,
        Err(e) => {
            return unknown(format!(
                "nothing: no build_info.py beside {}, and {e}",
                library.display()
            ));
        }
    };
    match version {
        Some(version) if dynamic.points_at_cuda() => {
            let mut build = TfBuild::from_table(
                version,
                true,
                format!(
                    "the RUNPATH of {} (it points at pip's CUDA runtime: a CUDA build) and TensorFlow's build table for {version}",
                    framework.display()
                ),
            );
            build.library_dirs = Vec::new();
            build
        }
        _ if dynamic.points_at_cuda() => unknown(format!(
            "the RUNPATH of {} (a CUDA build, of an unknown version)",
            framework.display()
        )),
        _ => unknown(format!(
            "nothing: no build_info.py beside {}, and no CUDA directory in {}'s RUNPATH (build unknown: a CPU-only build, or a CUDA build that finds its libraries elsewhere)",
            library.display(),
            framework.display()
        )),
    }
}

impl TfBuild {
    /// The PTX ISA version of the build's PTX kernels, from the CUDA it was
    /// compiled with (PTX carries its toolkit's ISA). Derived, not read from
    /// the library's fat binaries.
    pub fn ptx_isa(&self) -> Option<Version> {
        self.cuda.as_ref().and_then(crate::compat::ptx_isa_of_cuda)
    }

    /// A build described by the release table alone.
    pub fn from_table(version: &Version, cuda_build: bool, source: String) -> TfBuild {
        let row = compat::tf_row(version);
        let mut build = TfBuild {
            source,
            version: Some(version.clone()),
            cuda_build: Some(cuda_build),
            cuda: None,
            cudnn: None,
            archs: Vec::new(),
            library_dirs: Vec::new(),
            requires: Vec::new(),
        };
        if let (true, Some(row)) = (cuda_build, row) {
            build.cuda = Version::parse(row.cuda);
            build.cudnn = Version::parse(row.cudnn);
            build.archs = row.archs.iter().map(|a| a.to_string()).collect();
        }
        build
    }

    /// `--for-tensorflow 2.18`, `2.18.1`, `2.18-cpu`: judge the machine
    /// against a release without installing it.
    pub fn from_target(spec: &str) -> Result<TfBuild, String> {
        let (version_text, cuda_build) = match spec.strip_suffix("-cpu") {
            Some(v) => (v, false),
            None => (spec.strip_suffix("-gpu").unwrap_or(spec), true),
        };
        let version = Some(version_text)
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
            .and_then(Version::parse)
            .ok_or_else(|| format!("`{spec}` is not a TensorFlow version like 2.18 or 2.18-cpu"))?;
        if cuda_build && compat::tf_row(&version).is_none() {
            let known: Vec<&str> = compat::TF_BUILDS
                .iter()
                .flat_map(|r| r.releases.iter().copied())
                .collect();
            return Err(format!(
                "no build table entry for TensorFlow {version} (known: {})",
                known.join(", ")
            ));
        }
        Ok(TfBuild::from_table(
            &version,
            cuda_build,
            format!("--for-tensorflow {spec} (TensorFlow's published build table)"),
        ))
    }

    /// The build that was loaded.
    pub fn from_loaded(loaded: &Loaded) -> TfBuild {
        TfBuild::from_library(&loaded.path, Version::parse(&loaded.version))
    }

    /// The build in a library file, loaded or not, from files only: its
    /// build_info.py when there is one; else its RUNPATH (a CUDA build sends
    /// the loader to pip's CUDA runtime) with the release table for its
    /// version; else "build unknown", which demands no library.
    pub fn from_library(library: &Path, version: Option<Version>) -> TfBuild {
        let mut build = match (find_build_info(library), &version) {
            (Some(path), _) => {
                let info = crate::input::read_text(&path, crate::input::HOST_FILE_LIMIT)
                    .map(|t| parse_build_info(&t))
                    .unwrap_or_default();
                let mut build = TfBuild {
                    source: format!("{}", path.display()),
                    version: version.clone(),
                    cuda_build: info.is_cuda_build,
                    cuda: info.cuda_version.as_deref().and_then(Version::parse),
                    cudnn: info.cudnn_version.as_deref().and_then(Version::parse),
                    archs: info.archs,
                    library_dirs: Vec::new(),
                    requires: Vec::new(),
                };
                // build_info says "9"; the table knows it was 9.3.
                if let (Some(cudnn), Some(row)) =
                    (&build.cudnn, version.as_ref().and_then(compat::tf_row))
                {
                    let table = Version::parse(row.cudnn).expect("table literal");
                    if table.major() == cudnn.major() {
                        build.cudnn = Some(table);
                    }
                }
                build
            }
            (None, version) => from_runpath(library, version.as_ref()),
        };
        if build.cuda_build == Some(true) && (build.cuda.is_none() || build.cudnn.is_none()) {
            build.needs_from_metadata(library);
        }
        build.library_dirs = pip_nvidia_dirs(library);
        build.requires = runtime_requirements(library);
        build
    }

    /// A CUDA build whose build_info.py states no versions (tf-nightly):
    /// the CUDA and cuDNN its distribution's `and-cuda` extra installs, from
    /// the distribution whose files these are (or the only one).
    fn needs_from_metadata(&mut self, library: &Path) {
        let dists = super::distributions::beside(library);
        let dist = dists
            .iter()
            .find(|d| d.owns_library == Some(true))
            .or_else(|| (dists.len() == 1).then(|| &dists[0]));
        let Some((dist, (cuda, cudnn))) =
            dist.and_then(|d| super::distributions::cuda_needs(d).map(|n| (d, n)))
        else {
            return;
        };
        self.source = format!(
            "{}; CUDA and cuDNN from {}/METADATA (its `and-cuda` requirements), which build_info.py does not state",
            self.source,
            dist.dist_info.display()
        );
        self.cuda = Some(cuda);
        self.cudnn = Some(cudnn);
    }

    /// The libraries this build dlopens at start-up; none for a CPU build.
    pub fn needs(&self) -> Vec<Need> {
        match (self.cuda_build, &self.cuda, &self.cudnn) {
            (Some(false), _, _) => Vec::new(),
            (_, Some(cuda), Some(cudnn)) => compat::needed_libraries(cuda.major(), cudnn.major()),
            _ => Vec::new(),
        }
    }

    /// "TensorFlow 2.18.1 (CUDA 12.5.1, cuDNN 9.3)"
    /// `==2.21.0` for a pip requirement of this release, or nothing when
    /// the release is unknown.
    pub fn pip_pin(&self) -> String {
        self.version
            .as_ref()
            .map_or(String::new(), |v| format!("=={v}"))
    }

    pub fn describe(&self) -> String {
        let version = self
            .version
            .as_ref()
            .map_or("TensorFlow (version unknown)".to_string(), |v| {
                format!("TensorFlow {v}")
            });
        match (self.cuda_build, &self.cuda, &self.cudnn) {
            (Some(false), _, _) => format!("{version} (CPU-only build)"),
            (_, Some(cuda), Some(cudnn)) => format!("{version} (CUDA {cuda}, cuDNN {cudnn})"),
            _ => format!("{version} (build unknown)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GPU_BUILD_INFO: &str = "build_info = collections.OrderedDict([('cpu_compiler', '/usr/lib/llvm-18/bin/clang'), ('cuda_compute_capabilities', ['sm_60', 'sm_70', 'sm_80', 'sm_89', 'compute_90']), ('cuda_version', '12.5.1'), ('cudnn_version', '9'), ('is_cuda_build', True), ('is_rocm_build', False), ('is_tensorrt_build', False)])";

    #[test]
    fn reads_a_cuda_wheels_build_info() {
        let info = parse_build_info(GPU_BUILD_INFO);
        assert_eq!(info.is_cuda_build, Some(true));
        assert_eq!(info.cuda_version.as_deref(), Some("12.5.1"));
        assert_eq!(info.cudnn_version.as_deref(), Some("9"));
        assert_eq!(
            info.archs,
            ["sm_60", "sm_70", "sm_80", "sm_89", "compute_90"]
        );
    }

    #[test]
    fn reads_a_cpu_wheels_build_info() {
        let info = parse_build_info(
            "build_info = collections.OrderedDict([('is_cuda_build', False), ('is_rocm_build', False), ('is_tensorrt_build', False)])",
        );
        assert_eq!(info.is_cuda_build, Some(false));
        assert!(info.archs.is_empty());
    }

    #[test]
    fn loaded_build_combines_build_info_and_table() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("tensorflow/libtensorflow_cc.so.2");
        std::fs::create_dir_all(dir.path().join("tensorflow/python/platform")).unwrap();
        std::fs::create_dir_all(dir.path().join("nvidia/cudnn/lib")).unwrap();
        std::fs::write(
            dir.path().join("tensorflow/python/platform/build_info.py"),
            GPU_BUILD_INFO,
        )
        .unwrap();
        let build = TfBuild::from_loaded(&Loaded {
            source: "pip".into(),
            path: lib,
            version: "2.18.1".into(),
            load_seconds: 0.1,
        });
        assert_eq!(build.cudnn.as_ref().unwrap().to_string(), "9.3");
        assert_eq!(build.needs().len(), 9);
        assert_eq!(build.library_dirs, [dir.path().join("nvidia/cudnn/lib")]);
        assert!(build.source.ends_with("build_info.py"));
    }

    #[test]
    fn targets_from_the_table() {
        let b = TfBuild::from_target("2.15").unwrap();
        assert_eq!(b.describe(), "TensorFlow 2.15 (CUDA 12.2, cuDNN 8.9)");
        assert!(b.needs().iter().any(|n| n.soname == "libcudnn.so.8"));
        assert!(TfBuild::from_target("2.18-cpu").unwrap().needs().is_empty());
        assert!(
            TfBuild::from_target("1.15")
                .unwrap_err()
                .contains("known: 2.21")
        );
        assert!(TfBuild::from_target("latest").is_err());
    }
}
