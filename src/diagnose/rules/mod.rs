//! The rules, one function each, in one file per family of causes; this
//! module lists them and holds what several families share. Each cites the
//! facts it used; the fix names versions, paths and commands, never "check
//! your installation". A rule's id is written once, here: `diagnose` stamps
//! it on every finding the rule returns.

use super::tf_log::{LogEvent, scan};
use super::{Evidence, Finding, Rule, Severity};
use crate::compat::{self, Coverage, CudnnMatch, DriverSupport, Role};
use crate::facts::Facts;
use crate::facts::driver::{DriverProbe, HARMFUL_THROTTLE};
use crate::facts::libraries::LibraryFact;
use crate::facts::loader::{LoaderCheck, LoaderLibrary, LoaderOutcome};
use crate::version::Version;

use super::family::Family;

mod below;
mod capability;
mod counts;
mod cuda_init;
mod driver;
mod driver_version;
mod gpu;
mod host;
mod libraries;
mod tensorflow;
mod tensorflow_env;
mod visibility;
mod watches;
mod xla;

use below::*;
use capability::*;
use counts::*;
use cuda_init::*;
use driver::*;
use driver_version::*;
pub use gpu::health_problems;
use gpu::*;
use host::*;
use libraries::*;
use tensorflow::*;
use tensorflow_env::*;
use visibility::*;
use watches::*;
use xla::*;

pub static RULES: &[Rule] = &[
    Rule {
        id: "no-nvidia-gpu",
        family: Family::Driver,
        judge: no_nvidia_gpu,
    },
    Rule {
        id: "gpu-held-by-other-driver",
        family: Family::Driver,
        judge: gpu_held_by_other_driver,
    },
    Rule {
        id: "nvidia-module-for-other-kernel",
        family: Family::Driver,
        judge: nvidia_module_for_other_kernel,
    },
    Rule {
        id: "secure-boot-blocks-module",
        family: Family::Driver,
        judge: secure_boot_blocks_module,
    },
    Rule {
        id: "open-module-unsupported-gpu",
        family: Family::Driver,
        judge: open_module_unsupported_gpu,
    },
    Rule {
        id: "gpu-needs-open-module",
        family: Family::Driver,
        judge: gpu_needs_open_module,
    },
    Rule {
        id: "nvml-missing",
        family: Family::Driver,
        judge: nvml_missing,
    },
    Rule {
        id: "driver-not-loaded",
        family: Family::Driver,
        judge: driver_not_loaded,
    },
    Rule {
        id: "driver-library-mismatch",
        family: Family::Driver,
        judge: driver_library_mismatch,
    },
    Rule {
        id: "nvml-no-permission",
        family: Family::Driver,
        judge: nvml_no_permission,
    },
    Rule {
        id: "nvml-unknown-error",
        family: Family::Driver,
        judge: nvml_unknown_error,
    },
    Rule {
        id: "cuda-init-failed",
        family: Family::Driver,
        judge: cuda_init_failed,
    },
    Rule {
        id: "mps-serves-another-user",
        family: Family::Driver,
        judge: mps_serves_another_user,
    },
    Rule {
        id: "gpu-fabric-not-ready",
        family: Family::Driver,
        judge: gpu_fabric_not_ready,
    },
    Rule {
        id: "confidential-computing-not-ready",
        family: Family::Driver,
        judge: confidential_computing_not_ready,
    },
    Rule {
        id: "vgpu-unlicensed",
        family: Family::Driver,
        judge: vgpu_unlicensed,
    },
    Rule {
        id: "nvml-unresponsive",
        family: Family::Driver,
        judge: nvml_unresponsive,
    },
    Rule {
        id: "no-device-nodes",
        family: Family::Driver,
        judge: no_device_nodes,
    },
    Rule {
        id: "device-nodes-not-accessible",
        family: Family::Driver,
        judge: device_nodes_not_accessible,
    },
    Rule {
        id: "container-gpus-not-exposed",
        family: Family::Driver,
        judge: container_gpus_not_exposed,
    },
    Rule {
        id: "container-capabilities-missing",
        family: Family::Driver,
        judge: container_capabilities_missing,
    },
    Rule {
        id: "driver-libraries-off-path",
        family: Family::Driver,
        judge: driver_libraries_off_path,
    },
    Rule {
        id: "wsl-libraries-not-found",
        family: Family::Driver,
        judge: wsl_libraries_not_found,
    },
    Rule {
        id: "wsl-linux-driver-installed",
        family: Family::Driver,
        judge: wsl_linux_driver_installed,
    },
    Rule {
        id: "tensorflow-ignores-gpu",
        family: Family::DeviceVisibility,
        judge: tensorflow_ignores_gpu,
    },
    Rule {
        id: "gpu-allocator-unsupported",
        family: Family::TensorflowSession,
        judge: gpu_allocator_unsupported,
    },
    Rule {
        id: "environment-misconfigured",
        family: Family::TensorflowSession,
        judge: environment_misconfigured,
    },
    Rule {
        id: "cuda-visible-devices-hides-all",
        family: Family::DeviceVisibility,
        judge: visible_devices_hide_all,
    },
    Rule {
        id: "driver-too-old",
        family: Family::DriverTooOld,
        judge: driver_too_old,
    },
    Rule {
        id: "driver-minor-version-compat",
        family: Family::DriverCompatibility,
        judge: driver_minor_compat,
    },
    Rule {
        id: "cuda-library-missing",
        family: Family::CudaLibrary,
        judge: cuda_library_missing,
    },
    Rule {
        id: "tensorflow-loader-cannot-load",
        family: Family::CudaLibrary,
        judge: tensorflow_loader_cannot_load,
    },
    Rule {
        id: "tensorflow-loader-crashed",
        family: Family::CudaLibrary,
        judge: tensorflow_loader_crashed,
    },
    Rule {
        id: "tensorflow-runpath-gap",
        family: Family::CudaLibrary,
        judge: tensorflow_runpath_gap,
    },
    Rule {
        id: "library-needs-newer-dependency",
        family: Family::CudaLibrary,
        judge: library_needs_newer_dependency,
    },
    Rule {
        id: "library-probe-crashed",
        family: Family::CudaLibrary,
        judge: library_probe_crashed,
    },
    Rule {
        id: "cudnn-incomplete",
        family: Family::Cudnn,
        judge: cudnn_incomplete,
    },
    Rule {
        id: "cudnn-built-for-other-cuda",
        family: Family::Cudnn,
        judge: cudnn_built_for_other_cuda,
    },
    Rule {
        id: "cudnn-mixed",
        family: Family::LibraryShadowed,
        judge: cudnn_mixed,
    },
    Rule {
        id: "cudnn-missing",
        family: Family::Cudnn,
        judge: cudnn_missing,
    },
    Rule {
        id: "cudnn-wrong-major",
        family: Family::Cudnn,
        judge: cudnn_wrong_major,
    },
    Rule {
        id: "cudnn-older-minor",
        family: Family::CudnnMinor,
        judge: cudnn_older_minor,
    },
    Rule {
        id: "compute-capability-unsupported",
        family: Family::ComputeCapability,
        judge: capability_unsupported,
    },
    Rule {
        id: "compute-capability-ptx-jit",
        family: Family::PtxJit,
        judge: capability_ptx_jit,
    },
    Rule {
        id: "tensorflow-distributions-overlap",
        family: Family::CpuOnlyBuild,
        judge: tensorflow_distributions_overlap,
    },
    Rule {
        id: "tensorflow-does-not-load",
        family: Family::TensorflowLoad,
        judge: tensorflow_does_not_load,
    },
    Rule {
        id: "tensorflow-cpu-only",
        family: Family::CpuOnlyBuild,
        judge: tensorflow_cpu_only,
    },
    Rule {
        id: "tensorflow-fell-back-to-cpu",
        family: Family::CpuFallback,
        judge: fell_back_to_cpu,
    },
    Rule {
        id: "tensorflow-session-failed",
        family: Family::TensorflowSession,
        judge: session_failed,
    },
    Rule {
        id: "ld-library-path-searches-cwd",
        family: Family::LibraryShadowed,
        judge: ld_library_path_searches_cwd,
    },
    Rule {
        id: "library-shadowed",
        family: Family::LibraryShadowed,
        judge: library_shadowed,
    },
    Rule {
        id: "gpu-unhealthy",
        family: Family::GpuHealth,
        judge: gpu_unhealthy,
    },
    Rule {
        id: "gpu-clocks-throttled",
        family: Family::GpuHealth,
        judge: gpu_clocks_throttled,
    },
    Rule {
        id: "gpu-needs-recovery",
        family: Family::GpuHealth,
        judge: gpu_needs_recovery,
    },
    Rule {
        id: "gpu-inforom-corrupt",
        family: Family::GpuHealth,
        judge: gpu_inforom_corrupt,
    },
    Rule {
        id: "gpu-pcie-link-degraded",
        family: Family::GpuHealth,
        judge: gpu_pcie_link_degraded,
    },
    Rule {
        id: "nvlink-down",
        family: Family::GpuHealth,
        judge: nvlink_down,
    },
    Rule {
        id: "gpu-temperature-high",
        family: Family::GpuHealth,
        judge: gpu_temperature_high,
    },
    Rule {
        id: "mig-without-devices",
        family: Family::Mig,
        judge: mig_without_devices,
    },
    Rule {
        id: "gpu-unreachable",
        family: Family::GpuHealth,
        judge: gpu_unreachable,
    },
    Rule {
        id: "gpu-missing-from-nvml",
        family: Family::GpuHealth,
        judge: gpu_missing_from_nvml,
    },
    Rule {
        id: "gpu-counts-disagree",
        family: Family::GpuHealth,
        judge: gpu_counts_disagree,
    },
    Rule {
        id: "gpu-memory-held",
        family: Family::GpuHealth,
        judge: gpu_memory_held,
    },
    Rule {
        id: "gpu-compute-mode-blocks",
        family: Family::GpuHealth,
        judge: gpu_compute_mode_blocks,
    },
    Rule {
        id: "gpu-busy",
        family: Family::GpuBusy,
        judge: gpu_busy,
    },
    Rule {
        id: "xla-ptxas-missing",
        family: Family::Xla,
        judge: xla_ptxas_missing,
    },
    Rule {
        id: "xla-libdevice-missing",
        family: Family::Xla,
        judge: xla_libdevice_missing,
    },
    Rule {
        id: "xla-ptxas-miscompiles",
        family: Family::Xla,
        judge: xla_ptxas_miscompiles,
    },
    Rule {
        id: "cpu-without-avx",
        family: Family::HostCpu,
        judge: cpu_without_avx,
    },
    Rule {
        id: "host-runtime-too-old",
        family: Family::HostRuntime,
        judge: host_runtime_too_old,
    },
    Rule {
        id: "persistence-mode-off",
        family: Family::GpuHealth,
        judge: persistence_mode_off,
    },
];

/// Rules whose finding makes others' redundant, so the cause is told once:
/// the more specific cause (the container's setting, the device files'
/// permissions) is told, not the symptom it explains.
pub static SUPERSEDES: &[(&str, &[&str])] = &[
    (
        "container-gpus-not-exposed",
        &["nvml-missing", "no-device-nodes", "cuda-init-failed"],
    ),
    (
        "container-capabilities-missing",
        &["nvml-missing", "no-device-nodes", "cuda-init-failed"],
    ),
    ("device-nodes-not-accessible", &["nvml-no-permission"]),
    // NVML's own state proves which of 802's causes it is.
    ("gpu-fabric-not-ready", &["cuda-init-failed"]),
    ("confidential-computing-not-ready", &["cuda-init-failed"]),
    // Below the driver: the root cause of a driver that does not answer.
    ("no-nvidia-gpu", BELOW_THE_DRIVER),
    ("gpu-held-by-other-driver", BELOW_THE_DRIVER),
    ("nvidia-module-for-other-kernel", BELOW_THE_DRIVER),
    ("secure-boot-blocks-module", BELOW_THE_DRIVER),
    // tensorflow-cpu installed over tensorflow: the overlap is the cause of
    // the CPU build's files.
    ("tensorflow-distributions-overlap", &["tensorflow-cpu-only"]),
    ("open-module-unsupported-gpu", BELOW_THE_DRIVER),
    // The GPU the module refuses: what NVML and CUDA then miss follows.
    (
        "gpu-needs-open-module",
        &[
            "cuda-init-failed",
            "gpu-missing-from-nvml",
            "gpu-counts-disagree",
            "gpu-held-by-other-driver",
            "nvml-missing",
            "driver-not-loaded",
            "no-device-nodes",
        ],
    ),
];

/// What a machine whose NVIDIA kernel driver is absent shows above it.
const BELOW_THE_DRIVER: &[&str] = &[
    "nvml-missing",
    "driver-not-loaded",
    "no-device-nodes",
    "cuda-init-failed",
];

/// One finding; `diagnose` stamps it with its rule's id.
fn finding(severity: Severity, cause: String, fix: String, evidence: Vec<String>) -> Vec<Finding> {
    vec![Finding {
        id: "",
        severity,
        cause,
        fix,
        evidence,
    }]
}

/// CUDA's driver API where cuInit succeeded in gpugate's probe.
fn cuda_started(f: &Facts) -> Option<&crate::facts::libraries::DriverApi> {
    f.library(Role::Driver)
        .and_then(|l| l.driver_api.as_ref())
        .filter(|api| api.init_error.is_none())
}

/// How many GPUs the machine has, by NVML or else the kernel driver.
fn gpu_count(f: &Facts) -> usize {
    match (f.driver.found(), &f.host.nvidia) {
        (Some(d), _) => d.gpus.len(),
        (None, Ok(p)) => p.gpus,
        (None, Err(_)) => 0,
    }
}

fn kernel_driver_evidence(f: &Facts) -> String {
    match &f.host.nvidia {
        Ok(p) => format!(
            "kernel driver {} lists {} GPU(s) in {}/proc/driver/nvidia",
            p.driver.as_deref().unwrap_or("(version unknown)"),
            p.gpus,
            root_prefix(f)
        ),
        Err(why) => why.clone(),
    }
}

fn root_prefix(f: &Facts) -> String {
    let root = f.host.root.display().to_string();
    if root == "/" {
        String::new()
    } else {
        root.trim_end_matches('/').to_string()
    }
}

fn log_lines(e: &Evidence, keep: impl Fn(&LogEvent) -> bool) -> Vec<String> {
    scan(e.log)
        .into_iter()
        .filter(|l| keep(&l.event))
        .map(|l| format!("TensorFlow logged: {}", crate::text::cap(&l.text, 300, 0)))
        .collect()
}

const CONTAINER_FIX: &str = "start the container with the GPUs: `docker run --gpus all ...` (NVIDIA Container Toolkit), or on Kubernetes request `nvidia.com/gpu` in resources.limits (with runtimeClassName: nvidia where the cluster needs it)";

#[cfg(test)]
mod tests {
    #[test]
    fn cuinit_answers_map_to_their_causes() {
        assert_eq!(
            super::cuda_result("CUDA_ERROR_SYSTEM_NOT_READY (802)"),
            Some(802)
        );
        assert_eq!(
            super::cuda_result("not initialised: no NVIDIA kernel module"),
            None
        );
        // 802 names the fabric manager only where NVSwitches are on the bus.
        let (cause, fix) = super::system_not_ready("560.35.03", Some(4));
        assert!(
            cause.contains("4 NVSwitch")
                && fix.contains("fabricmanager of exactly the driver's version (560.35.03)")
        );
        let (cause, fix) = super::system_not_ready("560.35.03", Some(0));
        assert!(
            cause.contains("not the fabric manager") && cause.contains("confidential-computing")
        );
        assert!(
            !fix.contains("systemctl enable --now nvidia-fabricmanager"),
            "{fix}"
        );
        let (cause, fix) = super::system_not_ready("560.35.03", None);
        assert!(
            cause.contains("could not be read to tell the candidates apart"),
            "{cause}"
        );
        assert!(fix.contains("lspci -d 10de:"), "{fix}");
        let facts = crate::checks::testing::facts_with_driver("550.54.15", &[]);
        assert!(
            super::cuda_init_cause(804, &facts)
                .0
                .contains("cuda-compat")
        );
        assert!(super::cuda_init_cause(34, &facts).0.contains("stub"));
        // A code no rule knows says so, never a guessed cause.
        assert!(
            super::cuda_init_cause(222, &facts)
                .0
                .starts_with("no rule knows")
        );
    }

    #[test]
    fn pip_fixes_pin_the_major_the_build_dlopens() {
        assert_eq!(
            super::pinned_package("cudnn", 12, "libcudnn.so.8"),
            "\"nvidia-cudnn-cu12>=8,<9\""
        );
        assert_eq!(
            super::pinned_package("cufft", 12, "libcufft.so.11"),
            "\"nvidia-cufft-cu12>=11,<12\""
        );
    }

    use super::*;
    use crate::checks::testing::{facts_with_driver, gpu};

    fn rule(id: &str) -> &'static Rule {
        RULES
            .iter()
            .find(|r| r.id == id)
            .expect("a rule with this id")
    }
    use crate::tf::runtime::DeviceInfo;

    fn cpu_only_devices() -> Option<Result<Vec<DeviceInfo>, String>> {
        Some(Ok(vec![DeviceInfo {
            name: "/job:localhost/replica:0/task:0/device:CPU:0".into(),
            device_type: "CPU".into(),
            memory_bytes: 0,
        }]))
    }

    #[test]
    fn an_old_ptxas_is_a_warning_only_where_a_gpu_is_hopper_or_newer() {
        use crate::facts::xla::{Ptxas, XlaFacts};
        let with = |cc: (u32, u32), ptxas: &str| {
            let mut facts = facts_with_driver("580.65.06", &[gpu(0, "GPU", cc)]);
            facts.tensorflow.xla = Some(XlaFacts {
                roots: vec![],
                libdevice: Some("/x/nvvm/libdevice/libdevice.10.bc".into()),
                ptxas: vec![Ptxas {
                    path: "/x/bin/ptxas".into(),
                    version: Ok(ptxas.into()),
                    refused: None,
                }],
                path_skipped: vec![],
            });
            rule("xla-ptxas-miscompiles").findings(&Evidence {
                facts: &facts,
                log: "",
            })
        };
        let found = with((9, 0), "12.5.82");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::Warning);
        assert!(found[0].fix.contains(">=12.6.85"), "{}", found[0].fix);
        assert!(with((8, 0), "12.5.82").is_empty());
        assert!(with((9, 0), "12.6.85").is_empty());
        assert!(with((10, 0), "13.0.48").is_empty());
    }

    #[test]
    fn a_tensorflow_that_loads_but_cannot_list_devices_is_an_error() {
        let mut facts = facts_with_driver("580.65.06", &[gpu(0, "H100", (9, 0))]);
        let quiet = Evidence {
            facts: &facts,
            log: "",
        };
        assert!(
            session_failed(&quiet).is_empty(),
            "nothing loaded: no finding"
        );
        facts.tensorflow.load = Some(crate::tf::LoadReport {
            attempts: vec![],
            loaded: Some(crate::tf::Loaded {
                source: "gpugate cache".into(),
                path: "/c/libtensorflow_cc.so.2".into(),
                version: "2.21.0".into(),
                load_seconds: 0.5,
            }),
        });
        facts.tensorflow.devices = cpu_only_devices();
        assert!(
            session_failed(&Evidence {
                facts: &facts,
                log: ""
            })
            .is_empty()
        );
        facts.tensorflow.devices = Some(Err(
            "Failed to create session: INTERNAL: CUDA error: CUDA_ERROR_SYSTEM_NOT_READY".into(),
        ));
        let found = rule("tensorflow-session-failed").findings(&Evidence {
            facts: &facts,
            log: "",
        });
        assert_eq!(found[0].id, "tensorflow-session-failed");
        assert_eq!(found[0].severity, Severity::Error);
        assert!(found[0].cause.contains("CUDA_ERROR_SYSTEM_NOT_READY"));
    }

    #[test]
    fn fallback_to_cpu_from_the_device_list_and_the_log() {
        let mut facts = facts_with_driver("580.65.06", &[gpu(0, "H100", (9, 0))]);
        let silent = Evidence {
            facts: &facts,
            log: "",
        };
        assert!(
            fell_back_to_cpu(&silent).is_empty(),
            "no TensorFlow evidence: no finding"
        );
        let log = "W gpu_device.cc:2344] Cannot dlopen some GPU libraries. Please make sure the missing libraries mentioned above are installed properly.";
        let found = rule("tensorflow-fell-back-to-cpu").findings(&Evidence { facts: &facts, log });
        assert_eq!(found[0].id, "tensorflow-fell-back-to-cpu");
        assert!(
            found[0]
                .evidence
                .iter()
                .any(|e| e.contains("Cannot dlopen some GPU libraries"))
        );
        facts.tensorflow.devices = cpu_only_devices();
        let found = fell_back_to_cpu(&Evidence {
            facts: &facts,
            log: "",
        });
        assert!(
            found[0]
                .evidence
                .contains(&"TensorFlow's device list has no GPU".to_string())
        );
        // Not on a machine without GPUs, and not for a CPU-only build.
        let no_gpu = facts_with_driver("580.65.06", &[]);
        assert!(
            fell_back_to_cpu(&Evidence {
                facts: &no_gpu,
                log
            })
            .is_empty()
        );
    }

    #[test]
    fn cpu_only_build_only_where_gpus_are() {
        let mut facts = facts_with_driver("580.65.06", &[gpu(0, "H100", (9, 0))]);
        assert!(
            tensorflow_cpu_only(&Evidence {
                facts: &facts,
                log: ""
            })
            .is_empty()
        );
        facts.tensorflow.build = crate::facts::build::TfBuild::from_target("2.18.1-cpu").unwrap();
        let found = tensorflow_cpu_only(&Evidence {
            facts: &facts,
            log: "",
        });
        assert!(
            found[0].fix.contains("tensorflow[and-cuda]==2.18.1"),
            "{}",
            found[0].fix
        );
        let mut no_gpu = facts_with_driver("580.65.06", &[]);
        no_gpu.host.nvidia = Err("no driver".into());
        no_gpu.tensorflow.build = facts.tensorflow.build.clone();
        assert!(
            tensorflow_cpu_only(&Evidence {
                facts: &no_gpu,
                log: ""
            })
            .is_empty()
        );
    }

    #[test]
    fn visible_devices_values() {
        let uuids = vec!["GPU-1234".to_string()];
        assert!(hides_all("", 2, &uuids));
        assert!(hides_all("-1", 2, &uuids));
        assert!(hides_all("2", 2, &uuids));
        assert!(hides_all("NoDevFiles", 2, &uuids));
        assert!(hides_all("GPU-9999", 2, &uuids));
        assert!(!hides_all("1", 2, &uuids));
        assert!(!hides_all("0,5", 2, &uuids));
        assert!(!hides_all("GPU-12", 2, &uuids));
        assert!(!hides_all("MIG-abcd", 2, &uuids));
    }

    #[test]
    fn a_cpp_runtime_or_glibc_older_than_the_build_needs_is_named() {
        let mut facts = facts_with_driver("580.65.06", &[gpu(0, "H100", (9, 0))]);
        facts.host.glibc = Some("2.36".into());
        facts.tensorflow.build.requires = vec!["GLIBC_2.27".into(), "GLIBCXX_3.4.22".into()];
        let quiet = |facts: &Facts| {
            rule("host-runtime-too-old")
                .findings(&Evidence { facts, log: "" })
                .is_empty()
        };
        assert!(quiet(&facts), "glibc 2.36 covers GLIBC_2.27");

        // The loader's refusal names the version and the library.
        facts.tensorflow.load = Some(crate::tf::LoadReport {
            attempts: vec![crate::tf::Attempt {
                source: "gpugate cache".into(),
                target: "/c/libtensorflow_cc.so.2".into(),
                error: Some("/opt/conda/lib/libstdc++.so.6: version `GLIBCXX_3.4.30' not found (required by /c/libtensorflow_cc.so.2)".into()),
            }],
            loaded: None,
        });
        let found = rule("host-runtime-too-old").findings(&Evidence {
            facts: &facts,
            log: "",
        });
        assert_eq!(found[0].id, "host-runtime-too-old");
        assert!(
            found[0].cause.contains("lacks GLIBCXX_3.4.30"),
            "{}",
            found[0].cause
        );
        assert!(found[0].fix.contains("libstdcxx-ng"), "{}", found[0].fix);

        // Without a load: a glibc older than the build's libraries require.
        facts.tensorflow.load = None;
        facts.tensorflow.build.requires = vec!["GLIBC_2.38".into()];
        let found = rule("host-runtime-too-old").findings(&Evidence {
            facts: &facts,
            log: "",
        });
        assert!(
            found[0].cause.contains("requires GLIBC_2.38"),
            "{}",
            found[0].cause
        );
        facts.host.glibc = Some("2.39".into());
        assert!(quiet(&facts), "glibc 2.39 covers GLIBC_2.38");
    }

    #[test]
    fn device_files_this_process_cannot_open_are_named_with_their_fix() {
        let mut facts = facts_with_driver("550.54.14", &[gpu(0, "L4", (8, 9))]);
        let quiet = |facts: &Facts| {
            rule("device-nodes-not-accessible")
                .findings(&Evidence { facts, log: "" })
                .is_empty()
        };
        assert!(quiet(&facts), "every node opens");
        facts.host.dev_nodes_denied = vec!["nvidia0 (mode 0660, uid 0, gid 44)".into()];
        let found = rule("device-nodes-not-accessible").findings(&Evidence {
            facts: &facts,
            log: "",
        });
        assert!(
            found[0]
                .cause
                .contains("nvidia0 (mode 0660, uid 0, gid 44)"),
            "{}",
            found[0].cause
        );
        assert!(found[0].fix.contains("usermod -aG"), "{}", found[0].fix);
    }

    /// What one rule finds on these facts, with no TensorFlow log.
    fn judged(id: &str, facts: &Facts) -> Vec<Finding> {
        (rule(id).judge)(&Evidence { facts, log: "" })
    }

    /// A power brake is the chassis' doing: never page retirements or a
    /// new board, and not gpu-unhealthy's memory faults.
    #[test]
    fn a_power_brake_is_not_the_board_s_memory() {
        let mut gpu = crate::checks::testing::gpu(0, "H100", (9, 0));
        gpu.throttle_reasons =
            crate::facts::driver::Field::Value(vec!["hw_power_brake_slowdown".into()]);
        let facts = crate::checks::testing::facts_with_driver("580.65.06", &[gpu]);
        assert!(judged("gpu-unhealthy", &facts).is_empty());
        let found = judged("gpu-clocks-throttled", &facts);
        assert_eq!(found.len(), 1);
        assert!(found[0].fix.contains("power supplies"), "{}", found[0].fix);
        for wrong in ["retire", "replac", "nvidia-smi -r"] {
            assert!(!found[0].fix.contains(wrong), "{wrong}: {}", found[0].fix);
        }
    }

    fn loads_everything() -> LoaderOutcome {
        LoaderOutcome::Answered {
            entry: "tsl::internal::DsoLoader::TryDlopenCUDALibraries()".into(),
            ok: true,
            libraries: vec![],
        }
    }

    fn found(soname: &str, role: Role, dir: &str) -> LibraryFact {
        crate::checks::testing::library_fact(dir, soname, role, Some("11.7.5"))
    }

    fn loader_check(outcome: LoaderOutcome) -> Option<LoaderCheck> {
        Some(LoaderCheck {
            framework: "/venv/site/tensorflow/libtensorflow_framework.so.2".into(),
            runpath: vec![
                "$ORIGIN/../../nvidia/cublas/lib".into(),
                "$ORIGIN/../nvidia/cublas/lib".into(),
                "$ORIGIN/../nvidia/cudnn/lib".into(),
            ],
            outcome,
            seconds: 0.1,
        })
    }

    fn cusolver_fails() -> LoaderOutcome {
        LoaderOutcome::Answered {
            entry: "tsl::internal::DsoLoader::TryDlopenCUDALibraries()".into(),
            ok: false,
            libraries: vec![LoaderLibrary {
                role: Role::Cusolver,
                soname: "libcusolver.so.11".into(),
                path: None,
                version: None,
                error: Some("Could not load dynamic library 'libcusolver.so.11'; dlerror: libcusolver.so.11: cannot open shared object file: No such file or directory".into()),
            }],
        }
    }

    /// A library gpugate's search finds but TensorFlow's own loader does
    /// not: the RUNPATH is named and the fix is the directory to add; a
    /// library neither finds is left to `cuda-library-missing`.
    #[test]
    fn the_loader_s_verdict_overrules_gpugate_s_search() {
        let mut facts = facts_with_driver("580.65.06", &[gpu(0, "H100", (9, 0))]);
        facts.tensorflow.build = crate::facts::build::TfBuild::from_target("2.21.0").unwrap();
        facts.libraries = vec![found(
            "libcusolver.so.11",
            Role::Cusolver,
            "/venv/site/nvidia/cusolver/lib",
        )];
        facts.tensorflow.loader = loader_check(cusolver_fails());
        let findings = judged("tensorflow-loader-cannot-load", &facts);
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!(f.severity, Severity::Error);
        assert!(f.cause.contains("libcusolver.so.11"), "{}", f.cause);
        assert!(
            f.fix.contains("export LD_LIBRARY_PATH=/venv/site/nvidia/cusolver/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"),
            "{}",
            f.fix
        );
        assert!(f.fix.contains(crate::tf::DEFAULT_VERSION), "{}", f.fix);
        assert!(
            f.evidence[0].contains("reaches only nvidia/{cublas, cudnn}/lib"),
            "{:?}",
            f.evidence
        );
        // Not found by gpugate either: the missing-library rule tells it.
        facts.libraries[0].resolved = None;
        assert!(judged("tensorflow-loader-cannot-load", &facts).is_empty());
        // The loader loads it: nothing to say.
        facts.libraries = vec![found("libcusolver.so.11", Role::Cusolver, "/x")];
        facts.tensorflow.loader = loader_check(loads_everything());
        assert!(judged("tensorflow-loader-cannot-load", &facts).is_empty());
    }

    #[test]
    fn a_loader_that_crashes_is_an_error_naming_the_library() {
        let mut facts = facts_with_driver("580.65.06", &[gpu(0, "H100", (9, 0))]);
        assert!(judged("tensorflow-loader-crashed", &facts).is_empty());
        facts.tensorflow.loader = loader_check(LoaderOutcome::Failed {
            library: Some("libcudnn.so.9".into()),
            why: "asking TensorFlow's library loader crashed: killed by SIGABRT while loading libcudnn.so.9\nUnable to load any of {libcudnn_graph.so.9}".into(),
        });
        let findings = judged("tensorflow-loader-crashed", &facts);
        assert_eq!(findings[0].severity, Severity::Error);
        assert!(findings[0].cause.contains("libcudnn.so.9"));
        assert_eq!(
            findings[0].evidence,
            ["Unable to load any of {libcudnn_graph.so.9}"]
        );
    }

    /// Judged from the table (`--for-tensorflow 2.21`, `doctor --releases`),
    /// pip's 2.21.0 is a warning naming the directory; 2.20 is not, and a
    /// release whose loader was asked is judged by its answer instead.
    #[test]
    fn releases_with_a_runpath_gap_are_warned_from_the_table() {
        let mut facts = facts_with_driver("580.65.06", &[gpu(0, "H100", (9, 0))]);
        facts.tensorflow.build = crate::facts::build::TfBuild::from_target("2.21").unwrap();
        let findings = judged("tensorflow-runpath-gap", &facts);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Warning);
        assert!(
            findings[0].cause.contains("libcusolver.so.11"),
            "{}",
            findings[0].cause
        );
        assert!(
            findings[0].fix.contains("nvidia/cusolver/lib"),
            "{}",
            findings[0].fix
        );
        facts.tensorflow.loader = loader_check(loads_everything());
        assert!(judged("tensorflow-runpath-gap", &facts).is_empty());
        facts.tensorflow.loader = None;
        facts.tensorflow.build = crate::facts::build::TfBuild::from_target("2.20").unwrap();
        assert!(judged("tensorflow-runpath-gap", &facts).is_empty());
    }

    #[test]
    fn an_undefined_versioned_symbol_names_the_release_it_needs() {
        let error = "/x/nvidia/cusparse/lib/libcusparse.so.12: undefined symbol: __nvJitLinkAddData_12_9, version libnvJitLink.so.12";
        assert_eq!(
            super::libraries::undefined_symbol(error),
            Some(("__nvJitLinkAddData_12_9", "libnvJitLink.so.12"))
        );
        assert_eq!(
            super::libraries::release_of_symbol("__nvJitLinkAddData_12_9"),
            Some(crate::version::v("12.9"))
        );
        assert_eq!(super::libraries::release_of_symbol("cudnnCreate"), None);
        assert_eq!(
            super::libraries::undefined_symbol("libx.so: cannot open shared object file"),
            None
        );
    }

    /// cuDNN missing parts of itself is told by `cudnn-incomplete` alone;
    /// another library's crash beside it is still told.
    #[test]
    fn an_incomplete_cudnn_does_not_hide_another_library_s_crash() {
        let mut facts = facts_with_driver("580.65.06", &[gpu(0, "H100", (9, 0))]);
        let need = |role, soname: &str| crate::compat::Need {
            role,
            soname: soname.into(),
        };
        let mut cudnn = LibraryFact::crashed(
            &need(Role::Cudnn, "libcudnn.so.9"),
            "the probe of libcudnn.so.9 crashed: killed by signal 6 (SIGABRT)".into(),
        );
        cudnn.missing_parts = vec!["/site/nvidia/cudnn/lib/libcudnn_graph.so.9".into()];
        let cublas = LibraryFact::crashed(
            &need(Role::Cublas, "libcublas.so.12"),
            "the probe of libcublas.so.12 crashed: killed by signal 11 (SIGSEGV)".into(),
        );
        facts.libraries = vec![cudnn, cublas];
        facts.tensorflow.loader = loader_check(LoaderOutcome::Failed {
            library: Some("libcudnn.so.9".into()),
            why: "crashed".into(),
        });
        let incomplete = judged("cudnn-incomplete", &facts);
        assert!(incomplete[0].cause.contains("libcudnn_graph.so.9"));
        let crashed = judged("library-probe-crashed", &facts);
        assert_eq!(crashed.len(), 1);
        assert!(
            crashed[0].cause.contains("libcublas.so.12"),
            "{}",
            crashed[0].cause
        );
        assert!(judged("tensorflow-loader-crashed", &facts).is_empty());
        facts.tensorflow.loader = loader_check(LoaderOutcome::Failed {
            library: Some("libcublas.so.12".into()),
            why: "crashed".into(),
        });
        assert_eq!(judged("tensorflow-loader-crashed", &facts).len(), 1);
    }
}
