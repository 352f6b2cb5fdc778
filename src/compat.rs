//! What NVIDIA and TensorFlow publish about which versions work together
//! (NVIDIA's CUDA release notes and TensorFlow's published builds, checked against
//! the official wheels' build_info.py), as tables, and the rules that read them.
//! Pure functions: the facts come in, judgements go out.

use crate::version::{Version, v};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One row of TensorFlow's tested-build table for its Linux GPU wheels.
pub struct TfBuildRow {
    /// major.minor releases sharing the row.
    pub releases: &'static [&'static str],
    pub cuda: &'static str,
    pub cudnn: &'static str,
    /// `cuda_compute_capabilities` of the wheel.
    pub archs: &'static [&'static str],
}

const ARCHS_CUDA11: &[&str] = &["sm_35", "sm_50", "sm_60", "sm_70", "sm_75", "compute_80"];

/// Newest first.
pub const TF_BUILDS: &[TfBuildRow] = &[
    TfBuildRow {
        releases: &["2.21", "2.20", "2.19", "2.18"],
        cuda: "12.5.1",
        cudnn: "9.3",
        archs: &["sm_60", "sm_70", "sm_80", "sm_89", "compute_90"],
    },
    TfBuildRow {
        releases: &["2.17"],
        cuda: "12.3",
        cudnn: "8.9",
        archs: &["sm_60", "sm_70", "sm_80", "sm_89", "compute_90"],
    },
    TfBuildRow {
        releases: &["2.16"],
        cuda: "12.3",
        cudnn: "8.9",
        archs: &["sm_50", "sm_60", "sm_70", "sm_80", "compute_90"],
    },
    TfBuildRow {
        releases: &["2.15"],
        cuda: "12.2",
        cudnn: "8.9",
        archs: &["sm_50", "sm_60", "sm_70", "sm_75", "compute_80"],
    },
    TfBuildRow {
        releases: &["2.14"],
        cuda: "11.8",
        cudnn: "8.7",
        archs: ARCHS_CUDA11,
    },
    TfBuildRow {
        releases: &["2.13", "2.12"],
        cuda: "11.8",
        cudnn: "8.6",
        archs: ARCHS_CUDA11,
    },
    TfBuildRow {
        releases: &["2.11", "2.10"],
        cuda: "11.2",
        cudnn: "8.1",
        archs: ARCHS_CUDA11,
    },
];

/// The row for a TensorFlow version, by major.minor.
pub fn tf_row(version: &Version) -> Option<&'static TfBuildRow> {
    let key = version.truncate(2);
    TF_BUILDS
        .iter()
        .find(|row| row.releases.iter().any(|r| v(r) == key))
}

/// Toolkit drivers (full compatibility), Linux x86-64, by CUDA major.minor.
const DRIVER_MINIMUMS: &[(&str, &str)] = &[
    ("11.0", "450.51.05"),
    ("11.1", "455.23"),
    ("11.2", "460.27.03"),
    ("11.3", "465.19.01"),
    ("11.4", "470.42.01"),
    ("11.5", "495.29.05"),
    ("11.6", "510.39.01"),
    ("11.7", "515.43.04"),
    ("11.8", "520.61.05"),
    ("12.0", "525.60.13"),
    ("12.1", "530.30.02"),
    ("12.2", "535.54.03"),
    ("12.3", "545.23.06"),
    ("12.4", "550.54.14"),
    ("12.5", "555.42.02"),
    ("12.6", "560.28.03"),
    ("12.8", "570.26"),
    ("12.9", "575.51.03"),
    ("13.0", "580.65.06"),
];

/// The oldest driver that fully supports `cuda` (its toolkit driver). A CUDA
/// release missing from the table takes the next listed one's minimum.
pub fn toolkit_driver_min(cuda: &Version) -> Option<Version> {
    let key = cuda.truncate(2);
    DRIVER_MINIMUMS
        .iter()
        .find(|(c, _)| v(c) >= key)
        .map(|(_, d)| v(d))
}

/// The newest CUDA a driver fully supports, by the table (when NVML cannot say).
pub fn cuda_of_driver(driver: &Version) -> Option<Version> {
    DRIVER_MINIMUMS
        .iter()
        .rev()
        .find(|(_, d)| v(d) <= *driver)
        .map(|(c, _)| v(c))
}

/// Minor-version compatibility: the oldest driver that runs any release of
/// this CUDA major (without PTX JIT and some features).
pub fn minor_compat_driver_min(cuda_major: u64) -> Option<Version> {
    match cuda_major {
        11 => Some(v("450.80.02")),
        12 => Some(v("525.60.13")),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "support", rename_all = "snake_case")]
pub enum DriverSupport {
    /// The driver's own CUDA is at least the build's.
    Full { driver_cuda: Version },
    /// Older than the toolkit driver, but new enough for minor-version
    /// compatibility: runs, PTX JIT does not.
    MinorVersion {
        driver_cuda: Version,
        toolkit_driver: Version,
    },
    TooOld {
        driver_cuda: Version,
        minor_compat_driver: Option<Version>,
        toolkit_driver: Option<Version>,
    },
}

/// How a driver supports the CUDA a build needs. `driver_cuda` is what NVML
/// reports; when absent, the table decides from the driver version.
pub fn driver_support(
    driver: &Version,
    driver_cuda: Option<&Version>,
    needed: &Version,
) -> DriverSupport {
    let needed = needed.truncate(2);
    let driver_cuda = driver_cuda
        .cloned()
        .or_else(|| cuda_of_driver(driver))
        .unwrap_or_else(|| v("0.0"));
    let toolkit_driver = toolkit_driver_min(&needed);
    if driver_cuda >= needed {
        return DriverSupport::Full { driver_cuda };
    }
    let minor_compat_driver = minor_compat_driver_min(needed.major());
    match (&minor_compat_driver, &toolkit_driver) {
        (Some(min), Some(toolkit)) if driver_cuda.major() == needed.major() && driver >= min => {
            DriverSupport::MinorVersion {
                driver_cuda,
                toolkit_driver: toolkit.clone(),
            }
        }
        _ => DriverSupport::TooOld {
            driver_cuda,
            minor_compat_driver,
            toolkit_driver,
        },
    }
}

/// A compute capability, e.g. 8.9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Capability {
    pub major: u32,
    pub minor: u32,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Capability {
    /// Reads the digits of `sm_89` / `compute_90` (and `8.9`).
    pub fn parse_arch(arch: &str) -> Option<Capability> {
        let digits = arch
            .trim_start_matches("sm_")
            .trim_start_matches("compute_")
            .replace('.', "");
        if digits.len() < 2 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let (major, minor) = digits.split_at(digits.len() - 1);
        Some(Capability {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "coverage", rename_all = "snake_case")]
pub enum Coverage {
    /// Machine code for this architecture is in the build.
    Native { arch: String },
    /// Only PTX that the driver must JIT-compile at start-up (slow first run).
    PtxJit { arch: String },
    /// Only PTX, of an ISA version too old to target this architecture:
    /// nothing runs (Blackwell under TensorFlow 2.18–2.21's PTX ISA 8.5).
    PtxTooOld {
        arch: String,
        isa: Version,
        needed: Version,
    },
    /// Nothing in the build runs on this GPU.
    None { lowest: Option<String> },
}

/// The PTX ISA version a CUDA toolkit writes (NVIDIA, "PTX ISA", release
/// notes: 8.5 for CUDA 12.5 and 12.6, 8.7 for 12.8, ...).
pub fn ptx_isa_of_cuda(cuda: &Version) -> Option<Version> {
    let isa = match (cuda.major(), cuda.minor()) {
        (11, minor @ 0..=8) => format!("7.{minor}"),
        (12, minor @ 0..=5) => format!("8.{minor}"),
        (12, 6) => "8.5".into(),
        (12, 8) => "8.7".into(),
        (12, 9) => "8.8".into(),
        (13, 0) => "9.0".into(),
        _ => return None,
    };
    Version::parse(&isa)
}

/// The lowest PTX ISA version that can target an architecture (NVIDIA,
/// "PTX ISA", target support): sm_90 7.8, sm_100 8.6, sm_120 8.7, sm_103
/// and sm_121 8.8, sm_110 9.0. None for older architectures, which every
/// ISA the table knows can target.
pub fn min_ptx_isa(cc: Capability) -> Option<Version> {
    let isa = match (cc.major, cc.minor) {
        (9, _) => "7.8",
        (10, 0 | 1) => "8.6",
        (10, _) => "8.8",
        (11, _) => "9.0",
        (12, 0) => "8.7",
        (12, _) => "8.8",
        _ => return None,
    };
    Version::parse(isa)
}

/// Whether a build's kernels run on a GPU of capability `cc`: `sm_XY` runs on
/// X.Y and later minors of major X; `compute_XY` JIT-compiles on X.Y and
/// newer, if its PTX ISA (`ptx_isa`, where known) can target `cc`.
pub fn coverage(cc: Capability, archs: &[String], ptx_isa: Option<&Version>) -> Coverage {
    let parsed = || {
        archs
            .iter()
            .filter_map(|a| Capability::parse_arch(a).map(|c| (a, c)))
    };
    let native = parsed()
        .filter(|(a, c)| a.starts_with("sm_") && c.major == cc.major && c.minor <= cc.minor)
        .max_by_key(|(_, c)| *c);
    if let Some((arch, _)) = native {
        return Coverage::Native { arch: arch.clone() };
    }
    let ptx = parsed()
        .filter(|(a, c)| a.starts_with("compute_") && *c <= cc)
        .max_by_key(|(_, c)| *c);
    if let Some((arch, _)) = ptx {
        if let (Some(isa), Some(needed)) = (ptx_isa, min_ptx_isa(cc))
            && *isa < needed
        {
            return Coverage::PtxTooOld {
                arch: arch.clone(),
                isa: isa.clone(),
                needed,
            };
        }
        return Coverage::PtxJit { arch: arch.clone() };
    }
    Coverage::None {
        lowest: parsed().min_by_key(|(_, c)| *c).map(|(a, _)| a.clone()),
    }
}

/// The newest TensorFlow release whose build satisfies `fits`, passing over
/// releases whose pip layout registers no GPU on its own (`RUNPATH_GAPS`):
/// a fix must not send users to another failure.
pub fn newest_tf_where(fits: impl Fn(&TfBuildRow) -> bool) -> Option<&'static str> {
    TF_BUILDS
        .iter()
        .filter(|r| fits(r))
        .find_map(|r| r.releases.iter().find(|tf| runpath_gap(&v(tf)).is_none()))
        .copied()
}

/// How a loaded cuDNN relates to the one a build was compiled with: TF needs
/// the same major and an equal or higher minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CudnnMatch {
    Ok,
    WrongMajor,
    OlderMinor,
}

pub fn cudnn_match(loaded: &Version, built: &Version) -> CudnnMatch {
    if loaded.major() != built.major() {
        CudnnMatch::WrongMajor
    } else if loaded.minor() < built.minor() {
        CudnnMatch::OlderMinor
    } else {
        CudnnMatch::Ok
    }
}

/// The libraries a CUDA build of TensorFlow dlopens at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Driver,
    Cudart,
    Cublas,
    CublasLt,
    Cufft,
    Cusolver,
    Cusparse,
    Cudnn,
    NvJitLink,
}

impl Role {
    /// The library's base name, `lib<base>.so.<n>`.
    pub fn base(self) -> &'static str {
        match self {
            Role::Driver => "cuda",
            Role::Cudart => "cudart",
            Role::Cublas => "cublas",
            Role::CublasLt => "cublasLt",
            Role::Cufft => "cufft",
            Role::Cusolver => "cusolver",
            Role::Cusparse => "cusparse",
            Role::Cudnn => "cudnn",
            Role::NvJitLink => "nvJitLink",
        }
    }

    /// The pip package (`nvidia-<name>-cu12`) that ships the library.
    pub fn pip_name(self) -> Option<&'static str> {
        match self {
            Role::Driver => None,
            Role::Cudart => Some("cuda-runtime"),
            Role::Cublas | Role::CublasLt => Some("cublas"),
            Role::Cufft => Some("cufft"),
            Role::Cusolver => Some("cusolver"),
            Role::Cusparse => Some("cusparse"),
            Role::Cudnn => Some("cudnn"),
            Role::NvJitLink => Some("nvjitlink"),
        }
    }
}

/// A release whose pip wheel's `libtensorflow_framework.so.2` (which holds
/// TensorFlow's library loader, and whose RUNPATH is the one that loader
/// searches) lists no `nvidia/<x>/lib` directory for some libraries that
/// `tensorflow[and-cuda]` installs: with pip's layout alone the loader does
/// not find them and TensorFlow registers no GPU. Read from the wheels with
/// `readelf -d` (2.15.1, 2.17.1-2.20.0 and the 2.23 nightly list them all).
pub struct RunpathGap {
    pub release: &'static str,
    pub missing: &'static [Role],
}

pub const RUNPATH_GAPS: &[RunpathGap] = &[
    RunpathGap {
        release: "2.21.0",
        missing: &[Role::Cusolver],
    },
    RunpathGap {
        release: "2.16.1",
        missing: &[
            Role::Cublas,
            Role::CublasLt,
            Role::Cufft,
            Role::Cusolver,
            Role::Cusparse,
            Role::Cudnn,
        ],
    },
];

/// The gap of a release (`2.21` from `--for-tensorflow` is 2.21.0, the
/// only 2.21 release).
pub fn runpath_gap(version: &Version) -> Option<&'static RunpathGap> {
    RUNPATH_GAPS.iter().find(|gap| *version == v(gap.release))
}

/// A library a build needs, by the exact name it dlopens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Need {
    pub role: Role,
    pub soname: String,
}

/// The sonames TensorFlow's loader asks for, given the build's CUDA and cuDNN majors.
pub fn needed_libraries(cuda_major: u64, cudnn_major: u64) -> Vec<Need> {
    let need = |role: Role, suffix: &str| Need {
        role,
        soname: format!("lib{}.so.{suffix}", role.base()),
    };
    let mut needs = vec![need(Role::Driver, "1")];
    if cuda_major >= 12 {
        needs.extend([
            need(Role::Cudart, &cuda_major.to_string()),
            need(Role::Cublas, &cuda_major.to_string()),
            need(Role::CublasLt, &cuda_major.to_string()),
            need(Role::Cufft, "11"),
            need(Role::Cusolver, "11"),
            need(Role::Cusparse, "12"),
        ]);
    } else {
        needs.extend([
            need(Role::Cudart, "11.0"),
            need(Role::Cublas, "11"),
            need(Role::CublasLt, "11"),
            need(Role::Cufft, "10"),
            need(Role::Cusolver, "11"),
            need(Role::Cusparse, "11"),
        ]);
    }
    needs.push(need(Role::Cudnn, &cudnn_major.to_string()));
    if cuda_major >= 12 {
        // CUDA 12's cusolver and cusparse NEED it.
        needs.push(need(Role::NvJitLink, &cuda_major.to_string()));
    }
    needs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tf_table_by_release() {
        let row = tf_row(&v("2.18.1")).unwrap();
        assert_eq!(row.cuda, "12.5.1");
        assert_eq!(tf_row(&v("2.13.0")).unwrap().cudnn, "8.6");
        assert!(tf_row(&v("2.9")).is_none());
    }

    #[test]
    fn driver_support_full_minor_and_too_old() {
        let cuda = v("12.5.1");
        assert!(matches!(
            driver_support(&v("580.65.06"), Some(&v("13.0")), &cuda),
            DriverSupport::Full { .. }
        ));
        match driver_support(&v("535.104.05"), Some(&v("12.2")), &cuda) {
            DriverSupport::MinorVersion { toolkit_driver, .. } => {
                assert_eq!(toolkit_driver.to_string(), "555.42.02")
            }
            other => panic!("{other:?}"),
        }
        match driver_support(&v("470.182.03"), Some(&v("11.4")), &cuda) {
            DriverSupport::TooOld {
                minor_compat_driver,
                toolkit_driver,
                ..
            } => {
                assert_eq!(minor_compat_driver.unwrap().to_string(), "525.60.13");
                assert_eq!(toolkit_driver.unwrap().to_string(), "555.42.02");
            }
            other => panic!("{other:?}"),
        }
        // Without NVML's figure the table decides.
        assert!(matches!(
            driver_support(&v("560.35.03"), None, &cuda),
            DriverSupport::Full { .. }
        ));
        // CUDA 11.8 on a 470 driver: minor-version compatibility.
        assert!(matches!(
            driver_support(&v("470.182.03"), Some(&v("11.4")), &v("11.8")),
            DriverSupport::MinorVersion { .. }
        ));
    }

    #[test]
    fn coverage_native_ptx_and_none() {
        let archs: Vec<String> = tf_row(&v("2.18"))
            .unwrap()
            .archs
            .iter()
            .map(|s| s.to_string())
            .collect();
        let cc = |major, minor| Capability { major, minor };
        assert_eq!(
            coverage(cc(8, 6), &archs, None),
            Coverage::Native {
                arch: "sm_80".into()
            }
        );
        assert_eq!(
            coverage(cc(7, 5), &archs, None),
            Coverage::Native {
                arch: "sm_70".into()
            }
        );
        assert_eq!(
            coverage(cc(9, 0), &archs, None),
            Coverage::PtxJit {
                arch: "compute_90".into()
            }
        );
        assert_eq!(
            coverage(cc(3, 7), &archs, None),
            Coverage::None {
                lowest: Some("sm_60".into())
            }
        );
        assert_eq!(
            newest_tf_where(|r| {
                let a: Vec<String> = r.archs.iter().map(|s| s.to_string()).collect();
                !matches!(coverage(cc(3, 7), &a, None), Coverage::None { .. })
            }),
            Some("2.14")
        );
    }

    #[test]
    fn cudnn_rules() {
        assert_eq!(cudnn_match(&v("9.3.0"), &v("9.3")), CudnnMatch::Ok);
        assert_eq!(cudnn_match(&v("9.5.1"), &v("9.3")), CudnnMatch::Ok);
        assert_eq!(cudnn_match(&v("9.1.0"), &v("9.3")), CudnnMatch::OlderMinor);
        assert_eq!(cudnn_match(&v("8.9.7"), &v("9.3")), CudnnMatch::WrongMajor);
    }

    #[test]
    fn sonames_per_cuda_major() {
        let names: Vec<String> = needed_libraries(12, 9)
            .into_iter()
            .map(|n| n.soname)
            .collect();
        assert_eq!(
            names,
            [
                "libcuda.so.1",
                "libcudart.so.12",
                "libcublas.so.12",
                "libcublasLt.so.12",
                "libcufft.so.11",
                "libcusolver.so.11",
                "libcusparse.so.12",
                "libcudnn.so.9",
                "libnvJitLink.so.12"
            ]
        );
        assert!(
            needed_libraries(11, 8)
                .iter()
                .any(|n| n.soname == "libcudart.so.11.0")
        );
    }

    #[test]
    fn blackwell_needs_a_ptx_isa_the_2_18_build_does_not_have() {
        let cc = |major, minor| Capability { major, minor };
        let archs: Vec<String> = TF_BUILDS[0].archs.iter().map(|a| a.to_string()).collect();
        let isa = ptx_isa_of_cuda(&v(TF_BUILDS[0].cuda)).unwrap();
        assert_eq!(isa, v("8.5"));
        for (gpu, needed) in [(cc(12, 0), "8.7"), (cc(10, 0), "8.6")] {
            assert_eq!(
                coverage(gpu, &archs, Some(&isa)),
                Coverage::PtxTooOld {
                    arch: "compute_90".into(),
                    isa: isa.clone(),
                    needed: v(needed)
                },
                "{gpu}"
            );
        }
        // Hopper JIT-compiles the same PTX; a CUDA 12.8 build's ISA reaches sm_120.
        assert!(matches!(
            coverage(cc(9, 0), &archs, Some(&isa)),
            Coverage::PtxJit { .. }
        ));
        let isa_12_8 = ptx_isa_of_cuda(&v("12.8")).unwrap();
        assert!(matches!(
            coverage(cc(12, 0), &archs, Some(&isa_12_8)),
            Coverage::PtxJit { .. }
        ));
        // An unknown ISA decides nothing.
        assert!(matches!(
            coverage(cc(12, 0), &archs, None),
            Coverage::PtxJit { .. }
        ));
    }

    #[test]
    fn the_default_release_has_no_runpath_gap() {
        assert!(runpath_gap(&v(crate::tf::DEFAULT_VERSION)).is_none());
        assert_eq!(
            runpath_gap(&v("2.21")).map(|g| g.missing),
            Some(&[Role::Cusolver][..])
        );
        assert!(runpath_gap(&v("2.20.0")).is_none());
        assert!(runpath_gap(&v("2.16.1")).is_some());
    }
}
