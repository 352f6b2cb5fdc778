//! What XLA needs to compile for a GPU, found the way XLA finds it: `ptxas`
//! (which assembles every kernel; TensorFlow's pip builds have no other PTX
//! compiler) and libdevice (`nvvm/libdevice/libdevice.10.bc`, the bitcode of
//! CUDA's math functions). XLA looks in `--xla_gpu_cuda_data_dir` (from
//! `XLA_FLAGS`), then for `ptxas` on `PATH`, then in its candidate CUDA roots:
//! `/usr/local/cuda`, `/opt/cuda` and `nvidia/cuda_nvcc` beside the
//! TensorFlow package (XLA's `CandidateCudaRoots`, cuda_root_path.cc, and
//! `FindCudaExecutable`, subprocess_compilation.cc). Relative roots, which
//! XLA resolves against the working directory, are not searched here.

use crate::version::Version;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where libdevice lies below a CUDA root.
const LIBDEVICE: &str = "nvvm/libdevice/libdevice.10.bc";

/// XLA's floor for ptxas (`FindPtxAsExecutable`).
const PTXAS_MIN: &str = "11.8.0";
/// The ptxas XLA refuses by name: it miscompiles XLA's kernels
/// (openxla/xla#7344; fatal in TensorFlow 2.16, skipped since).
const PTXAS_BROKEN: &str = "12.3.103";
/// The first ptxas (CUDA 12.6.3's) that compiles clamping edge cases right
/// for compute capability 9.0 and newer; XLA warns below it
/// (`WarnIfBadPtxasVersion`, ptx_compiler_helpers.cc).
pub const PTXAS_CLAMP_FIXED: &str = "12.6.85";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XlaFacts {
    /// The CUDA roots searched, in XLA's order.
    pub roots: Vec<PathBuf>,
    /// The first libdevice XLA would use; None: XLA falls back to
    /// `./libdevice.10.bc` and fails ("libdevice not found").
    pub libdevice: Option<PathBuf>,
    /// Every `ptxas` found, in XLA's order, with its version or why it is
    /// refused; XLA runs the first usable one.
    pub ptxas: Vec<Ptxas>,
    /// `PATH` elements XLA would search that gpugate did not: empty or
    /// relative ones, which name the working directory.
    pub path_skipped: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ptxas {
    pub path: PathBuf,
    /// `12.9.86` from `ptxas --version`'s `V12.9.86`.
    #[serde(with = "crate::json_shape::result")]
    pub version: Result<String, String>,
    /// Why XLA would pass it over; None where XLA uses it.
    pub refused: Option<String>,
}

impl XlaFacts {
    /// The ptxas XLA would run.
    pub fn usable_ptxas(&self) -> Option<&Ptxas> {
        self.ptxas.iter().find(|p| p.refused.is_none())
    }

    /// The version of the ptxas XLA would run, where it is a CUDA 12 one
    /// older than [`PTXAS_CLAMP_FIXED`].
    pub fn ptxas_miscompiling_clamps(&self) -> Option<Version> {
        let version = Version::parse(self.usable_ptxas()?.version.as_ref().ok()?)?;
        let fixed = Version::parse(PTXAS_CLAMP_FIXED).expect("a version");
        (version.major() == 12 && version < fixed).then_some(version)
    }

    /// Looks for XLA's tools as XLA would in a process with `xla_flags`
    /// and `path`, for the TensorFlow whose package directory is `tf_dir`.
    pub fn gather(tf_dir: &Path, xla_flags: Option<&str>, path: Option<&str>) -> XlaFacts {
        let data_dir = xla_flags.and_then(cuda_data_dir);
        let mut roots: Vec<PathBuf> = data_dir.iter().cloned().collect();
        roots.extend(["/usr/local/cuda", "/opt/cuda"].iter().map(PathBuf::from));
        roots.push(tf_dir.join("../nvidia/cuda_nvcc"));
        roots.push(tf_dir.join("../../nvidia/cuda_nvcc"));
        let libdevice = roots
            .iter()
            .map(|r| r.join(LIBDEVICE))
            .find(|p| p.is_file());
        let mut path_skipped = Vec::new();
        let mut candidates: Vec<PathBuf> = data_dir.iter().map(|d| d.join("bin/ptxas")).collect();
        for element in path.unwrap_or("").split(':') {
            if element.starts_with('/') {
                candidates.push(Path::new(element).join("ptxas"));
            } else if path.is_some() {
                path_skipped.push(element.to_string());
            }
        }
        candidates.extend(roots.iter().map(|r| r.join("bin/ptxas")));
        let mut seen = Vec::new();
        let ptxas = candidates
            .into_iter()
            .filter(|p| p.is_file())
            .filter(|p| {
                let key = p.canonicalize().unwrap_or_else(|_| p.clone());
                let new = !seen.contains(&key);
                seen.push(key);
                new
            })
            .map(|path| {
                let version = ptxas_version(&path);
                let refused = match &version {
                    Ok(v) => refusal(v),
                    Err(e) => Some(format!("`ptxas --version` failed: {e}")),
                };
                Ptxas {
                    path,
                    version,
                    refused,
                }
            })
            .collect();
        XlaFacts {
            roots,
            libdevice,
            ptxas,
            path_skipped,
        }
    }
}

/// `--xla_gpu_cuda_data_dir=DIR` from `XLA_FLAGS`, where absolute.
fn cuda_data_dir(flags: &str) -> Option<PathBuf> {
    flags
        .split_whitespace()
        .rev()
        .find_map(|f| f.strip_prefix("--xla_gpu_cuda_data_dir="))
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// The fact, as text: the facts are data that a report serializes.
fn ptxas_version(path: &Path) -> Result<String, String> {
    let mut command = std::process::Command::new(path);
    command.arg("--version");
    let out =
        crate::procs::output_within(command, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    parse_ptxas_version(&out).ok_or_else(|| {
        format!(
            "no version in its output: {}",
            crate::text::cap(out.trim(), 200, 0)
        )
    })
}

/// `12.9.86` from `Cuda compilation tools, release 12.9, V12.9.86`.
fn parse_ptxas_version(out: &str) -> Option<String> {
    out.split_whitespace()
        .filter_map(|w| w.strip_prefix('V'))
        .find(|v| v.split('.').count() == 3 && Version::parse(v).is_some())
        .map(str::to_string)
}

/// Why XLA passes over a ptxas of `version`, if it does.
fn refusal(version: &str) -> Option<String> {
    let v = Version::parse(version)?;
    let version_of = |text| Version::parse(text).expect("a version");
    if v < version_of(PTXAS_MIN) {
        Some(format!("XLA needs ptxas 11.8 or newer; this is {version}"))
    } else if v == version_of(PTXAS_BROKEN) {
        Some(format!(
            "XLA refuses ptxas {version}, which miscompiles its kernels"
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_and_judged_as_xla_does() {
        let out = "ptxas: NVIDIA (R) Ptx optimizing assembler\nCopyright (c) 2005-2024 NVIDIA Corporation\nBuilt on Thu_Jun__6_02:14:54_PDT_2024\nCuda compilation tools, release 12.5, V12.5.82\nBuild cuda_12.5.r12.5/compiler.34385749_0\n";
        assert_eq!(parse_ptxas_version(out).as_deref(), Some("12.5.82"));
        assert_eq!(parse_ptxas_version("nothing"), None);
        assert_eq!(refusal("12.5.82"), None);
        assert!(refusal("12.3.103").unwrap().contains("refuses"));
        assert!(refusal("11.7.99").unwrap().contains("11.8"));
    }

    #[test]
    fn the_data_dir_flag_comes_first_and_relative_path_elements_are_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let cuda = dir.path().join("cuda");
        std::fs::create_dir_all(cuda.join("nvvm/libdevice")).unwrap();
        std::fs::write(cuda.join(LIBDEVICE), "bc").unwrap();
        let tf = dir.path().join("site/tensorflow");
        std::fs::create_dir_all(&tf).unwrap();
        let flags = format!(
            "--xla_gpu_autotune_level=0 --xla_gpu_cuda_data_dir={}",
            cuda.display()
        );
        let facts = XlaFacts::gather(&tf, Some(&flags), Some("/nonexistent::bin"));
        assert_eq!(facts.roots[0], cuda);
        assert_eq!(facts.libdevice, Some(cuda.join(LIBDEVICE)));
        assert_eq!(facts.path_skipped, ["", "bin"]);
        let none = XlaFacts::gather(&tf, None, None);
        assert!(none.roots.contains(&tf.join("../nvidia/cuda_nvcc")));
        assert_eq!(none.path_skipped, Vec::<String>::new());
    }
}
