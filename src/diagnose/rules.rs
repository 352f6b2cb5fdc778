//! The rules, one function each. Each cites the facts it used; the fix names
//! versions, paths and commands, never "check your installation".

use super::tf_log::{LogEvent, scan};
use super::{Evidence, Finding, Rule, Severity};
use crate::compat::{self, Coverage, CudnnMatch, DriverSupport, Role};
use crate::facts::Facts;
use crate::facts::driver::{DriverProbe, HARMFUL_THROTTLE};
use crate::facts::libraries::LibraryFact;
use crate::version::Version;

use super::family::Family;

pub static RULES: &[Rule] = &[
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
        id: "gpu-busy",
        family: Family::GpuBusy,
        judge: gpu_busy,
    },
    Rule {
        id: "cpu-without-avx",
        family: Family::HostCpu,
        judge: cpu_without_avx,
    },
    Rule {
        id: "persistence-mode-off",
        family: Family::GpuHealth,
        judge: persistence_mode_off,
    },
];

fn finding(
    id: &'static str,
    severity: Severity,
    cause: String,
    fix: String,
    evidence: Vec<String>,
) -> Vec<Finding> {
    vec![Finding {
        id,
        severity,
        cause,
        fix,
        evidence,
    }]
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

fn nvml_missing(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let DriverProbe::LibraryMissing { tried } = &f.driver else {
        return vec![];
    };
    let mut evidence: Vec<String> = tried
        .iter()
        .map(|(name, err)| format!("dlopen({name}): {err}"))
        .collect();
    evidence.push(kernel_driver_evidence(f));
    // libcuda without NVML is not "no driver": a container given the
    // `compute` capability without `utility`, or a partial driver install.
    let cuda = f
        .library(Role::Driver)
        .and_then(|l| l.resolved.as_ref().map(|r| (r, l.driver_api.as_ref())));
    if let Some((copy, api)) = cuda {
        let init = api.map_or("not asked".to_string(), |a| match &a.init_error {
            None => format!("succeeded, {} device(s)", a.device_count.unwrap_or(0)),
            Some(e) => e.clone(),
        });
        evidence.push(format!(
            "libcuda.so.1: {} (cuInit: {init})",
            describe_copy(copy)
        ));
        return finding(
            "nvml-missing",
            Severity::Error,
            format!(
                "the NVIDIA driver is only partly here: libcuda.so.1 ({}) loads but NVML (libnvidia-ml.so.1) does not (cuInit: {init})",
                describe_copy(copy)
            ),
            "in a container, add `utility` to NVIDIA_DRIVER_CAPABILITIES (e.g. `compute,utility`, or `all`): `compute` alone mounts libcuda without NVML; on a host, install the driver's NVML package of the same version (e.g. libnvidia-ml1 / libnvidia-compute-XXX) or pass --nvml-library PATH".into(),
            evidence,
        );
    }
    let fix = if f.host.nvidia.is_ok() {
        format!(
            "the kernel driver is loaded but its user-space libraries are not visible here; in a container, {CONTAINER_FIX}; on the host, reinstall the driver's user-space package (e.g. libnvidia-compute-{0}) or pass --nvml-library PATH",
            f.host
                .nvidia
                .as_ref()
                .ok()
                .and_then(|p| p.driver.as_deref())
                .and_then(|d| d.split('.').next())
                .unwrap_or("XXX")
        )
    } else {
        "install the NVIDIA driver on this machine (it provides libnvidia-ml.so.1 and libcuda.so.1), or run this job on a GPU runner; where the library sits elsewhere (WSL: /usr/lib/wsl/lib) pass --nvml-library PATH".to_string()
    };
    finding(
        "nvml-missing",
        Severity::Error,
        f.driver.why_missing(),
        fix,
        evidence,
    )
}

/// The CUresult in a driver-API fact: `CUDA_ERROR_SYSTEM_NOT_READY (802)`.
fn cuda_result(init_error: &str) -> Option<i64> {
    init_error
        .rsplit_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .and_then(|code| code.parse().ok())
}

/// What a CUresult at `cuInit` means on real machines, and what fixes it.
fn cuda_init_cause(code: i64, driver: &str) -> (&'static str, String) {
    match code {
        802 => (
            "an NVSwitch system (HGX/DGX A100, H100, H200, B200) whose nvidia-fabricmanager is not running: CUDA waits for the fabric and refuses to start",
            format!("install and start nvidia-fabricmanager of exactly the driver's version ({driver}): `systemctl enable --now nvidia-fabricmanager`; check `systemctl status nvidia-fabricmanager` and its log for a version mismatch"),
        ),
        803 => (
            "libcuda and the kernel module are different driver versions: usually a forward-compatibility package (cuda-compat, /usr/local/cuda/compat) on the loader path that does not fit this kernel module",
            "drop the cuda-compat directory from LD_LIBRARY_PATH (or install the cuda-compat matching the kernel module), or reboot after a driver upgrade so the kernel module matches its libraries".to_string(),
        ),
        804 => (
            "a forward-compatibility libcuda (cuda-compat) is in use on a GPU that does not support forward compatibility (only data-center GPUs do)",
            "drop the cuda-compat directory (e.g. /usr/local/cuda/compat) from LD_LIBRARY_PATH and upgrade the driver itself to one that supports the CUDA version the build needs".to_string(),
        ),
        100 => (
            "NVML sees the GPUs but CUDA sees none: the device nodes are not usable by this process (container cgroup device rules, NVIDIA_VISIBLE_DEVICES, or CUDA_VISIBLE_DEVICES)",
            "give the process the GPUs: run the container with `--gpus all` (or the device plugin's resources), check `ls -l /dev/nvidia*` is readable and writable, and unset CUDA_VISIBLE_DEVICES values that hide them".to_string(),
        ),
        46 => (
            "the GPUs are busy or unavailable: compute mode EXCLUSIVE_PROCESS with another process holding them, or PROHIBITED",
            "check `nvidia-smi -q -d COMPUTE` and the processes on the GPUs; set `nvidia-smi -c DEFAULT` or wait for the other process".to_string(),
        ),
        34 => (
            "the libcuda on the loader path is the CUDA toolkit's stub (lib64/stubs/libcuda.so), which only links and never runs",
            "remove the toolkit's stubs directory from LD_LIBRARY_PATH (and from ld.so.conf) so the driver's libcuda.so.1 is loaded".to_string(),
        ),
        999 => (
            "an unknown CUDA error at start-up: typically the nvidia-uvm module is not loaded (no /dev/nvidia-uvm), or the GPU is in a bad state after a suspend, a driver upgrade or an Xid error",
            "load the UVM module (`sudo modprobe nvidia-uvm`, or `nvidia-modprobe -u -c=0`), check `dmesg | grep -i xid`, and reboot if the GPU fell off the bus".to_string(),
        ),
        3 => (
            "CUDA was not initialised: the driver failed inside cuInit",
            "check `dmesg | grep -i nvrm` for the driver's own error, and reload the driver or reboot".to_string(),
        ),
        _ => (
            "CUDA could not start on a driver NVML can talk to",
            "look the CUresult up in NVIDIA's driver API documentation (CUresult); check `dmesg | grep -i nvrm`".to_string(),
        ),
    }
}

/// NVML talks to the driver but `cuInit` fails: the case where the driver
/// looks healthy yet nothing can run (NVSwitch without fabric manager,
/// forward-compatibility packages, cgroups, the toolkit's stub libcuda).
fn cuda_init_failed(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(driver) = f.driver.found() else {
        return vec![];
    };
    let Some(lib) = f.library(Role::Driver) else {
        return vec![];
    };
    let Some(error) = lib.driver_api.as_ref().and_then(|a| a.init_error.as_ref()) else {
        return vec![];
    };
    let Some(code) = cuda_result(error) else {
        return vec![];
    };
    let (cause, fix) = cuda_init_cause(code, &driver.version.to_string());
    let mut evidence = vec![
        format!("cuInit: {error}"),
        format!(
            "NVML: driver {}, {} GPU(s)",
            driver.version,
            driver.gpus.len()
        ),
    ];
    if let Some(copy) = &lib.resolved {
        evidence.push(format!("libcuda.so.1: {}", describe_copy(copy)));
    }
    finding(
        "cuda-init-failed",
        Severity::Error,
        format!("CUDA cannot start although NVML lists the GPUs: cuInit answered {error}; {cause}"),
        fix,
        evidence,
    )
}

fn driver_not_loaded(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let DriverProbe::InitFailed { library, error } = &f.driver else {
        return vec![];
    };
    // No device nodes explains an init failure better, when that is the case.
    if f.host.nvidia.is_ok() && missing_nodes(f).is_some() {
        return vec![];
    }
    // Codes with rules of their own.
    if ["RM_VERSION_MISMATCH", "NO_PERMISSION", "NVML_ERROR_UNKNOWN"]
        .iter()
        .any(|code| error.contains(code))
    {
        return vec![];
    }
    let fix = "load the NVIDIA kernel module (`sudo modprobe nvidia`; check `dmesg | grep -i nvrm` for why it did not load, e.g. Secure Boot or a kernel upgrade without a rebuilt module), or reboot after installing the driver".to_string();
    finding(
        "driver-not-loaded",
        Severity::Error,
        format!("NVML loaded from {library} but could not reach the driver: {error}"),
        fix,
        vec![kernel_driver_evidence(f)],
    )
}

/// NVML's library and error when `nvmlInit` failed with `code`, unless
/// missing device nodes explain the failure better.
fn nvml_init_failure<'f>(f: &'f Facts, code: &str) -> Option<(&'f str, &'f str)> {
    let DriverProbe::InitFailed { library, error } = &f.driver else {
        return None;
    };
    if !error.contains(code) || (f.host.nvidia.is_ok() && missing_nodes(f).is_some()) {
        return None;
    }
    Some((library, error))
}

/// `libnvidia-ml.so.535.309.01` → `535.309.01`.
fn library_driver_version(library: &str) -> Option<&str> {
    let name = library.rsplit('/').next()?;
    name.strip_prefix("libnvidia-ml.so.")
        .filter(|v| v.contains('.'))
}

/// NVML_ERROR_LIB_RM_VERSION_MISMATCH, naming both versions.
fn driver_library_mismatch(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((library, error)) = nvml_init_failure(f, "RM_VERSION_MISMATCH") else {
        return vec![];
    };
    let kernel = f.host.nvidia.as_ref().ok().and_then(|p| p.driver.clone());
    let user = library_driver_version(library);
    let versions = match (&kernel, user) {
        (Some(k), Some(u)) => format!(" (kernel module {k}, libnvidia-ml {u})"),
        (Some(k), None) => format!(" (kernel module {k})"),
        (None, Some(u)) => format!(" (libnvidia-ml {u})"),
        (None, None) => String::new(),
    };
    finding(
        "driver-library-mismatch",
        Severity::Error,
        format!("the NVIDIA kernel module and its user-space libraries are different driver versions{versions}: the libraries were upgraded and the old module is still loaded"),
        "reboot, or reload the module (`sudo rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia && sudo modprobe nvidia`); in a container, the host's driver was upgraded under it: restart the container".into(),
        vec![format!("NVML from {library}: {error}"), kernel_driver_evidence(f)],
    )
}

/// NVML_ERROR_NO_PERMISSION: rootless containers, device nodes not ours.
fn nvml_no_permission(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((library, error)) = nvml_init_failure(f, "NO_PERMISSION") else {
        return vec![];
    };
    let mut evidence = vec![format!("NVML from {library}: {error}")];
    evidence.push(format!("/dev nodes: {}", f.host.dev_nodes.join(" ")));
    if let Some(container) = &f.host.container {
        evidence.push(format!("running in a container: {container}"));
    }
    finding(
        "nvml-no-permission",
        Severity::Error,
        "NVML may not talk to the driver: this user cannot open /dev/nvidiactl or /dev/nvidia* (a rootless container, or device nodes whose group this user is not in)".into(),
        "rootless Podman/Docker: generate a CDI spec (`nvidia-ctk cdi generate`) and run with `--device nvidia.com/gpu=all`, or set `no-cgroups = true` in the NVIDIA container runtime's config; on a host, add the user to the group that owns /dev/nvidia* (often `video`)".into(),
        evidence,
    )
}

/// NVML_ERROR_UNKNOWN, typically inside a container that lost its devices.
fn nvml_unknown_error(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((library, error)) = nvml_init_failure(f, "NVML_ERROR_UNKNOWN") else {
        return vec![];
    };
    let in_container = f.host.container.is_some();
    finding(
        "nvml-unknown-error",
        Severity::Error,
        if in_container {
            "NVML fails with an unknown error inside this container: it lost access to its GPUs, typically after `systemctl daemon-reload` on the host reset the container's device cgroup".to_string()
        } else {
            "NVML fails with an unknown driver error".to_string()
        },
        if in_container {
            "restart the container; for good, let the NVIDIA container toolkit manage devices through CDI, or create the /dev/char symlinks (`nvidia-ctk system create-dev-char-symlinks`) so systemd keeps the device rules".into()
        } else {
            "check `dmesg | grep -i -e nvrm -e xid` for the driver's error; reload the driver or reboot".into()
        },
        vec![
            format!("NVML from {library}: {error}"),
            kernel_driver_evidence(f),
        ],
    )
}

fn nvml_unresponsive(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let (cause, evidence) = match &f.driver {
        DriverProbe::TimedOut { seconds } => (
            format!(
                "NVML did not answer within {seconds:.0}s: the driver is hung, usually on a GPU that fell off the bus"
            ),
            vec![kernel_driver_evidence(f)],
        ),
        DriverProbe::Crashed { how, stderr_tail } => (
            format!("the NVML probe died: {how}"),
            stderr_tail
                .lines()
                .rev()
                .take(3)
                .map(|l| format!("probe stderr: {l}"))
                .collect(),
        ),
        _ => return vec![],
    };
    finding(
        "nvml-unresponsive",
        Severity::Error,
        cause,
        "drain this runner; look for Xid errors with `dmesg | grep -i xid` (79: fallen off the bus, 48: double-bit ECC), then reset the GPU (`nvidia-smi -r -i N`) or reboot the node".into(),
        evidence,
    )
}

/// The device nodes a CUDA process needs that are absent, if any are.
fn missing_nodes(f: &Facts) -> Option<Vec<&'static str>> {
    let nodes = &f.host.dev_nodes;
    let mut missing = Vec::new();
    if !nodes.iter().any(|n| n == "nvidiactl") {
        missing.push("nvidiactl");
    }
    if !nodes.iter().any(|n| {
        n.strip_prefix("nvidia")
            .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit()))
    }) {
        missing.push("nvidia0..N");
    }
    (!missing.is_empty()).then_some(missing)
}

fn no_device_nodes(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    // Only meaningful where the driver is running (kernel module or NVML).
    if f.host.nvidia.is_err() && f.driver.found().is_none() {
        return vec![];
    }
    let Some(missing) = missing_nodes(f) else {
        return vec![];
    };
    let dev = format!("{}/dev", root_prefix(f));
    let mut evidence = vec![
        format!(
            "{dev} has {} and lacks {}",
            if f.host.dev_nodes.is_empty() {
                "no nvidia* nodes".to_string()
            } else {
                f.host.dev_nodes.join(", ")
            },
            missing.join(", ")
        ),
        kernel_driver_evidence(f),
    ];
    if let Some(value) = f.host.var("NVIDIA_VISIBLE_DEVICES") {
        evidence.push(format!("NVIDIA_VISIBLE_DEVICES={value}"));
    }
    if let Some(container) = &f.host.container {
        evidence.push(format!("running in a container: {container}"));
    }
    if let DriverProbe::InitFailed { error, .. } = &f.driver {
        evidence.push(format!("NVML: {error}"));
    }
    finding(
        "no-device-nodes",
        Severity::Error,
        format!(
            "the NVIDIA driver is present but {dev} has no GPU device nodes: this container (or sandbox) was started without GPUs"
        ),
        format!("{CONTAINER_FIX}; NVIDIA_VISIBLE_DEVICES=void or none also hides every GPU"),
        evidence,
    )
}

/// Whether a CUDA_VISIBLE_DEVICES value leaves no GPU visible on a machine with `count` GPUs.
pub fn hides_all(value: &str, count: usize, uuids: &[String]) -> bool {
    let entries: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let Some(first) = entries.first() else {
        return true;
    };
    // CUDA stops at the first invalid entry: only what precedes it counts.
    if let Ok(index) = first.parse::<i64>() {
        return index < 0 || index as usize >= count;
    }
    if first.starts_with("GPU-") || first.starts_with("MIG-") {
        return !uuids
            .iter()
            .any(|u| u.starts_with(first) || first.starts_with(u.as_str()))
            && !first.starts_with("MIG-");
    }
    true
}

fn visible_devices_hide_all(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(value) = f.host.var("CUDA_VISIBLE_DEVICES") else {
        return vec![];
    };
    let count = gpu_count(f);
    if count == 0 {
        return vec![];
    }
    let uuids: Vec<String> = f
        .driver
        .found()
        .map(|d| {
            d.gpus
                .iter()
                .filter_map(|g| g.uuid.value().cloned())
                .collect()
        })
        .unwrap_or_default();
    if !hides_all(value, count, &uuids) {
        return vec![];
    }
    let listing = f
        .driver
        .found()
        .map(|d| {
            d.gpus
                .iter()
                .map(|g| g.label())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|| format!("{count} GPU(s)"));
    finding(
        "cuda-visible-devices-hides-all",
        Severity::Error,
        format!(
            "CUDA_VISIBLE_DEVICES=\"{value}\" hides every GPU from CUDA, so TensorFlow sees none"
        ),
        format!(
            "unset CUDA_VISIBLE_DEVICES, or list the GPUs to use by index (0..{}) or UUID, e.g. CUDA_VISIBLE_DEVICES=0",
            count - 1
        ),
        vec![format!("this machine has {listing}")],
    )
}

/// (driver version, NVML's CUDA, needed CUDA, how they relate), where all are known.
fn driver_vs_build(f: &Facts) -> Option<(Version, Option<Version>, Version, DriverSupport)> {
    let driver = f.driver.found()?;
    let needed = f.tensorflow.build.cuda.clone()?;
    if f.tensorflow.build.cuda_build == Some(false) {
        return None;
    }
    let support = compat::driver_support(&driver.version, driver.cuda.value(), &needed);
    Some((
        driver.version.clone(),
        driver.cuda.value().cloned(),
        needed,
        support,
    ))
}

fn driver_too_old(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((
        driver,
        _,
        needed,
        DriverSupport::TooOld {
            driver_cuda,
            minor_compat_driver,
            toolkit_driver,
        },
    )) = driver_vs_build(f)
    else {
        return vec![];
    };
    let build = f.tensorflow.build.describe();
    let mut fix = match (&minor_compat_driver, &toolkit_driver) {
        (Some(minor), Some(full)) => format!(
            "upgrade the NVIDIA driver to {full} or newer (full support for CUDA {}); {minor} or newer runs it under minor-version compatibility (no PTX JIT)",
            needed.truncate(2)
        ),
        (_, Some(full)) => format!("upgrade the NVIDIA driver to {full} or newer"),
        _ => format!("upgrade the NVIDIA driver to one that supports CUDA {needed}"),
    };
    if let Some(tf) = compat::newest_tf_where(|row| {
        let cuda = Version::parse(row.cuda).expect("table");
        !matches!(
            compat::driver_support(&driver, Some(&driver_cuda), &cuda),
            DriverSupport::TooOld { .. }
        )
    }) {
        let row = compat::tf_row(&Version::parse(tf).expect("table")).expect("table");
        fix.push_str(&format!(
            ", or use TensorFlow {tf} (CUDA {}), which driver {driver} runs",
            row.cuda
        ));
    }
    let mut evidence = driver_and_build(f, &driver, &driver_cuda);
    evidence.extend(log_lines(e, |ev| {
        matches!(ev, LogEvent::CuInitFailed { .. })
    }));
    finding(
        "driver-too-old",
        Severity::Error,
        format!(
            "driver {driver} supports CUDA up to {driver_cuda}, but {build} needs CUDA {needed}"
        ),
        fix,
        evidence,
    )
}

/// The evidence the driver-versus-build rules share.
fn driver_and_build(f: &Facts, driver: &Version, driver_cuda: &Version) -> Vec<String> {
    vec![
        format!("NVML: driver {driver}, supports CUDA up to {driver_cuda}"),
        format!(
            "{}, from {}",
            f.tensorflow.build.describe(),
            f.tensorflow.build.source
        ),
    ]
}

fn gpus_needing_jit(f: &Facts) -> Vec<String> {
    let Some(driver) = f.driver.found() else {
        return vec![];
    };
    driver
        .gpus
        .iter()
        .filter(|g| {
            g.compute_capability.value().is_some_and(|cc| {
                matches!(
                    compat::coverage(*cc, &f.tensorflow.build.archs),
                    Coverage::PtxJit { .. }
                )
            })
        })
        .map(|g| g.label())
        .collect()
}

fn driver_minor_compat(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((
        driver,
        _,
        needed,
        DriverSupport::MinorVersion {
            driver_cuda,
            toolkit_driver,
        },
    )) = driver_vs_build(f)
    else {
        return vec![];
    };
    let build = f.tensorflow.build.describe();
    let jit = gpus_needing_jit(f);
    let evidence = driver_and_build(f, &driver, &driver_cuda);
    if jit.is_empty() {
        finding(
            "driver-minor-version-compat",
            Severity::Warning,
            format!(
                "driver {driver} (CUDA {driver_cuda}) runs {build} only under CUDA minor-version compatibility: PTX JIT compilation is unavailable"
            ),
            format!(
                "upgrade the NVIDIA driver to {toolkit_driver} or newer for full CUDA {} support",
                needed.truncate(2)
            ),
            evidence,
        )
    } else {
        finding(
            "driver-minor-version-compat",
            Severity::Error,
            format!(
                "driver {driver} (CUDA {driver_cuda}) runs {build} only under minor-version compatibility, which cannot JIT-compile PTX; {} need PTX JIT for this build, so TensorFlow's kernels will fail there",
                jit.join(", ")
            ),
            format!("upgrade the NVIDIA driver to {toolkit_driver} or newer"),
            evidence,
        )
    }
}

fn describe_copy(copy: &crate::facts::libraries::Copy) -> String {
    match &copy.version {
        Some(v) => format!("{} ({v})", copy.path.display()),
        None => format!("{} (version unknown)", copy.path.display()),
    }
}

fn cuda_library_missing(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let missing: Vec<&LibraryFact> = f
        .libraries
        .iter()
        .filter(|l| l.resolved.is_none() && l.role != Role::Cudnn)
        .collect();
    if missing.is_empty() {
        return vec![];
    }
    // Without a driver at all, the NVML rules say it better.
    if missing.iter().all(|l| l.role == Role::Driver)
        && matches!(f.driver, DriverProbe::LibraryMissing { .. })
    {
        return vec![];
    }
    let build = f.tensorflow.build.describe();
    let mut evidence = Vec::new();
    let mut packages: Vec<String> = Vec::new();
    let mut fixes = Vec::new();
    let major = f.tensorflow.build.cuda.as_ref().map_or(12, |c| c.major());
    for lib in &missing {
        let mut line = format!(
            "{}: {}",
            lib.soname,
            lib.error.as_deref().unwrap_or("not found")
        );
        if !lib.other_versions.is_empty() {
            line.push_str(&format!(
                "; found only {}",
                lib.other_versions
                    .iter()
                    .map(describe_copy)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        evidence.push(line);
        match lib.role.pip_name() {
            Some(pip) => {
                let package = pinned_package(pip, major, &lib.soname);
                if !packages.contains(&package) {
                    packages.push(package);
                }
            }
            None => fixes.push("libcuda.so.1 comes with the driver: in a container, make sure NVIDIA_DRIVER_CAPABILITIES includes `compute` (or `all`)".to_string()),
        }
    }
    if !packages.is_empty() {
        fixes.insert(
            0,
            format!("`python3 -m pip install {}`", packages.join(" ")),
        );
    }
    evidence.extend(log_lines(
        e,
        |ev| matches!(ev, LogEvent::CouldNotLoad { file, .. } if !file.contains("cudnn")),
    ));
    let names: Vec<&str> = missing.iter().map(|l| l.soname.as_str()).collect();
    let wrong_major = missing.iter().any(|l| !l.other_versions.is_empty());
    let version = f
        .tensorflow
        .build
        .version
        .as_ref()
        .map_or(String::new(), |v| format!("=={v}"));
    finding(
        "cuda-library-missing",
        Severity::Error,
        format!(
            "{build} needs {}; the loader {}",
            names.join(", "),
            if wrong_major {
                "finds only other major versions of some of them"
            } else {
                "does not find them"
            }
        ),
        format!(
            "install them: {} (or all at once with `python3 -m pip install tensorflow[and-cuda]{version}`), or add the directory that holds them to LD_LIBRARY_PATH",
            fixes.join("; ")
        ),
        evidence,
    )
}

/// A pip requirement for NVIDIA's wheel of one library, pinned to the
/// soname's major (NVIDIA's `nvidia-*-cu12` wheel versions carry the
/// library's own major: cuDNN 8 and 9, cuFFT 11, cuBLAS 12), quoted for a
/// shell. Unpinned, pip installs the newest major, which the build does not
/// dlopen.
fn pinned_package(pip: &str, cuda_major: u64, soname: &str) -> String {
    let major = soname
        .rsplit_once(".so.")
        .and_then(|(_, v)| v.split('.').next()?.parse::<u64>().ok());
    match major {
        Some(m) => format!("\"nvidia-{pip}-cu{cuda_major}>={m},<{}\"", m + 1),
        None => format!("nvidia-{pip}-cu{cuda_major}"),
    }
}

fn cudnn(f: &Facts) -> Option<(&LibraryFact, Version)> {
    let lib = f.library(Role::Cudnn)?;
    Some((lib, f.tensorflow.build.cudnn.clone()?))
}

fn cudnn_fix(f: &Facts, built: &Version) -> String {
    let cuda_major = f.tensorflow.build.cuda.as_ref().map_or(12, |c| c.major());
    // A copy the build accepts may already be on the machine, shadowed by
    // an older one: then the fix is the search path, not an install.
    let accepted = f.library(Role::Cudnn).and_then(|lib| {
        lib.copies.iter().find(|c| {
            Some(&c.path) != lib.resolved.as_ref().map(|r| &r.path)
                && c.version
                    .as_ref()
                    .is_some_and(|v| v.major() == built.major() && v >= built)
        })
    });
    if let Some(copy) = accepted {
        let resolved_dir = f
            .library(Role::Cudnn)
            .and_then(|l| l.resolved.as_ref())
            .and_then(|r| r.path.parent())
            .map_or("its directory".to_string(), |d| d.display().to_string());
        return format!(
            "an acceptable cuDNN is already installed at {}: drop {resolved_dir} from LD_LIBRARY_PATH (or uninstall that older copy) so that the loader finds it",
            describe_copy(copy)
        );
    }
    format!(
        "install cuDNN {built} or a newer {}.x for CUDA {cuda_major}: `python3 -m pip install \"nvidia-cudnn-cu{cuda_major}>={built},<{}\"` (or NVIDIA's cudnn{}-cuda-{cuda_major} package)",
        built.major(),
        built.major() + 1,
        built.major()
    )
}

fn cudnn_missing(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((lib, built)) = cudnn(f) else {
        return vec![];
    };
    if lib.resolved.is_some() || !lib.other_versions.is_empty() {
        return vec![];
    }
    let mut evidence = vec![format!(
        "{}: {}",
        lib.soname,
        lib.error.as_deref().unwrap_or("not found")
    )];
    evidence.extend(log_lines(
        e,
        |ev| matches!(ev, LogEvent::CouldNotLoad { file, .. } if file.contains("cudnn")),
    ));
    finding(
        "cudnn-missing",
        Severity::Error,
        format!(
            "{} needs {}; no cuDNN is on the loader path",
            f.tensorflow.build.describe(),
            lib.soname
        ),
        cudnn_fix(f, &built),
        evidence,
    )
}

fn other_tf_for_cudnn(found: &Version) -> Option<String> {
    compat::newest_tf_where(|row| {
        Version::parse(row.cudnn).is_some_and(|c| compat::cudnn_match(found, &c) == CudnnMatch::Ok)
    })
    .map(|tf| {
        format!(
            ", or run TensorFlow {tf}, whose build uses cuDNN {}",
            compat::tf_row(&Version::parse(tf).expect("table"))
                .expect("table")
                .cudnn
        )
    })
}

fn cudnn_wrong_major(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((lib, built)) = cudnn(f) else {
        return vec![];
    };
    let mut evidence = Vec::new();
    let mut found = None;
    if lib.resolved.is_none()
        && let Some(other) = lib.other_versions.first()
    {
        evidence.push(format!(
            "{}: {}",
            lib.soname,
            lib.error.as_deref().unwrap_or("not found")
        ));
        evidence.extend(
            lib.other_versions
                .iter()
                .map(|c| format!("found {}", describe_copy(c))),
        );
        found = Some(other.clone());
    }

    let logged = log_lines(
        e,
        |ev| matches!(ev, LogEvent::CudnnMismatch { loaded, compiled } if Version::parse(loaded).map(|v| v.major()) != Version::parse(compiled).map(|v| v.major())),
    );
    if found.is_none() && logged.is_empty() {
        return vec![];
    }
    evidence.extend(logged);
    let (where_, version) = match &found {
        Some(c) => (
            format!(
                " in {}",
                c.path
                    .parent()
                    .map_or(String::new(), |p| p.display().to_string())
            ),
            c.version.clone(),
        ),
        None => (String::new(), None),
    };
    let found_text = match (&found, &version) {
        (Some(c), Some(v)) => format!(
            "{} ({v})",
            c.path.file_name().unwrap_or_default().to_string_lossy()
        ),
        (Some(c), None) => c
            .path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        _ => "another major version".into(),
    };
    let mut fix = cudnn_fix(f, &built);
    if let Some(alt) = version.as_ref().and_then(other_tf_for_cudnn) {
        fix.push_str(&alt);
    }
    finding(
        "cudnn-wrong-major",
        Severity::Error,
        format!(
            "{} needs {}; the loader found only {found_text}{where_}",
            f.tensorflow.build.describe(),
            lib.soname
        ),
        fix,
        evidence,
    )
}

fn cudnn_older_minor(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((lib, built)) = cudnn(f) else {
        return vec![];
    };
    let Some(resolved) = &lib.resolved else {
        return vec![];
    };
    let Some(version) = &resolved.version else {
        return vec![];
    };
    if compat::cudnn_match(version, &built) != CudnnMatch::OlderMinor {
        return vec![];
    }
    let mut evidence = vec![format!(
        "the loader resolves {} to {}",
        lib.soname,
        describe_copy(resolved)
    )];
    evidence.extend(log_lines(e, |ev| {
        matches!(ev, LogEvent::CudnnMismatch { .. })
    }));
    finding(
        "cudnn-older-minor",
        Severity::Error,
        format!(
            "{} was built with cuDNN {built}; the loaded cuDNN {version} is older (TensorFlow needs the same major and an equal or newer minor)",
            f.tensorflow.build.describe()
        ),
        cudnn_fix(f, &built),
        evidence,
    )
}

fn capability_findings(f: &Facts) -> Vec<(String, crate::compat::Capability, Coverage)> {
    let Some(driver) = f.driver.found() else {
        return vec![];
    };
    if f.tensorflow.build.archs.is_empty() {
        return vec![];
    }
    driver
        .gpus
        .iter()
        .filter_map(|g| {
            let cc = *g.compute_capability.value()?;
            Some((
                g.label(),
                cc,
                compat::coverage(cc, &f.tensorflow.build.archs),
            ))
        })
        .collect()
}

fn capability_unsupported(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let bad: Vec<_> = capability_findings(f)
        .into_iter()
        .filter(|(_, _, c)| matches!(c, Coverage::None { .. }))
        .collect();
    let Some((_, cc, Coverage::None { lowest })) = bad.first().cloned() else {
        return vec![];
    };
    let archs = f.tensorflow.build.archs.join(", ");
    let mut fix = format!(
        "run on a GPU of compute capability {} or newer",
        lowest
            .as_deref()
            .and_then(crate::compat::Capability::parse_arch)
            .map_or("?".into(), |c| c.to_string())
    );
    if let Some(tf) = compat::newest_tf_where(|row| {
        let archs: Vec<String> = row.archs.iter().map(|s| s.to_string()).collect();
        !matches!(compat::coverage(cc, &archs), Coverage::None { .. })
    }) {
        fix.push_str(&format!(
            ", or use TensorFlow {tf}, the newest build with kernels for {cc}"
        ));
    } else {
        fix.push_str(&format!("; no TensorFlow build in the table supports {cc}"));
    }
    let mut evidence: Vec<String> = bad
        .iter()
        .map(|(l, c, _)| format!("{l}: compute capability {c}"))
        .collect();
    evidence.push(format!(
        "the build's kernels: {archs} (from {})",
        f.tensorflow.build.source
    ));
    evidence.extend(log_lines(e, |ev| {
        matches!(ev, LogEvent::IgnoredDevice { .. })
    }));
    finding(
        "compute-capability-unsupported",
        Severity::Error,
        format!(
            "{} cannot run on {}: compute capability {cc} is below the build's lowest kernel {}",
            f.tensorflow.build.describe(),
            bad.iter()
                .map(|(l, _, _)| l.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            lowest.unwrap_or_default()
        ),
        fix,
        evidence,
    )
}

fn capability_ptx_jit(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let jit: Vec<_> = capability_findings(f)
        .into_iter()
        .filter_map(|(l, cc, c)| match c {
            Coverage::PtxJit { arch } => Some((l, cc, arch)),
            _ => None,
        })
        .collect();
    let Some((_, cc, arch)) = jit.first().cloned() else {
        return vec![];
    };
    let mut evidence: Vec<String> = jit
        .iter()
        .map(|(l, c, _)| format!("{l}: compute capability {c}"))
        .collect();
    evidence.push(format!(
        "the build's kernels: {} (from {})",
        f.tensorflow.build.archs.join(", "),
        f.tensorflow.build.source
    ));
    evidence.extend(log_lines(e, |ev| matches!(ev, LogEvent::PtxJit { .. })));
    finding(
        "compute-capability-ptx-jit",
        Severity::Warning,
        format!(
            "{} has no machine code for compute capability {cc}; the driver JIT-compiles its {arch} PTX at start-up (slow first run, up to 30 minutes)",
            f.tensorflow.build.describe()
        ),
        "keep the JIT cache between runs (CUDA_CACHE_PATH on a persistent volume, CUDA_CACHE_MAXSIZE=4294967296), or use a TensorFlow build with kernels for this architecture".into(),
        evidence,
    )
}

fn tensorflow_cpu_only(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let count = gpu_count(f);
    if f.tensorflow.build.cuda_build != Some(false) || count == 0 {
        return vec![];
    }
    let version = f
        .tensorflow
        .build
        .version
        .as_ref()
        .map_or(String::new(), |v| format!("=={v}"));
    finding(
        "tensorflow-cpu-only",
        Severity::Error,
        format!(
            "{} is a CPU-only build on a machine with {count} NVIDIA GPU(s): it will never use them",
            f.tensorflow.build.describe()
        ),
        format!(
            "install the CUDA build: `python3 -m pip install tensorflow[and-cuda]{version}` (the `tensorflow-cpu` package has no GPU kernels), or `gpugate fetch-tensorflow --gpu`"
        ),
        vec![
            format!("build facts from {}", f.tensorflow.build.source),
            kernel_driver_evidence(f),
        ],
    )
}

fn fell_back_to_cpu(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    if f.tensorflow.build.cuda_build == Some(false) || gpu_count(f) == 0 {
        return vec![];
    }
    let listed_no_gpu = matches!(&f.tensorflow.devices, Some(Ok(devices)) if !devices.iter().any(|d| d.device_type == "GPU"));
    let logged = log_lines(e, |ev| {
        matches!(
            ev,
            LogEvent::SkippedGpuRegistration
                | LogEvent::NoCudaDrivers
                | LogEvent::CuInitFailed { .. }
        )
    });
    if !listed_no_gpu && logged.is_empty() {
        return vec![];
    }
    let mut evidence = vec![kernel_driver_evidence(f)];
    if listed_no_gpu {
        evidence.push("TensorFlow's device list has no GPU".into());
    }
    evidence.extend(logged);
    finding(
        "tensorflow-fell-back-to-cpu",
        Severity::Error,
        format!("{} loaded but registered no GPU although this machine has {} GPU(s): it silently runs on the CPU", f.tensorflow.build.describe(), gpu_count(f)),
        "fix the causes listed beside this diagnosis (a missing CUDA library, cuDNN, driver or device nodes); to see every library TensorFlow failed to open, run with TF_CPP_MAX_VLOG_LEVEL=1".into(),
        evidence,
    )
}

/// TensorFlow loaded but could not list its devices (a session it could not
/// create, a worker that died): a fact gathered as a failure is never health.
fn session_failed(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let loaded = f.tensorflow.load.as_ref().and_then(|l| l.loaded.as_ref());
    let (Some(loaded), Some(Err(error))) = (loaded, &f.tensorflow.devices) else {
        return vec![];
    };
    let mut evidence = vec![format!(
        "loaded {} from {}",
        loaded.version,
        loaded.path.display()
    )];
    evidence.extend(log_lines(e, |ev| {
        matches!(ev, LogEvent::CuInitFailed { .. })
    }));
    finding(
        "tensorflow-session-failed",
        Severity::Error,
        format!(
            "{} loads but cannot run: listing its devices failed: {}",
            f.tensorflow.build.describe(),
            crate::text::cap(error, 600, 200)
        ),
        "read TensorFlow's error above: a CUDA error at session creation usually names the driver or device (see the driver diagnoses beside this one); rerun with TF_CPP_MIN_LOG_LEVEL=0 for TensorFlow's full log".into(),
        evidence,
    )
}

fn library_shadowed(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let mut out = Vec::new();
    for lib in &f.libraries {
        if lib.copies.len() < 2 {
            continue;
        }
        let versions: Vec<Option<&Version>> =
            lib.copies.iter().map(|c| c.version.as_ref()).collect();
        let differ = versions.windows(2).any(|w| w[0] != w[1]);
        let resolved = lib
            .resolved
            .as_ref()
            .map_or("nothing".into(), describe_copy);
        let others: Vec<String> = lib
            .copies
            .iter()
            .filter(|c| Some(&c.path) != lib.resolved.as_ref().map(|r| &r.path))
            .map(describe_copy)
            .collect();
        let resolved_dir = lib
            .resolved
            .as_ref()
            .and_then(|r| r.path.parent())
            .map(|d| d.display().to_string());
        let fix = match (differ, resolved_dir) {
            (true, Some(dir)) => format!(
                "keep one version of {}: drop {dir} from LD_LIBRARY_PATH (or uninstall the copy there) to use {}, or remove the others; which copy wins depends on LD_LIBRARY_PATH order and RUNPATH, so it can change between runners",
                lib.soname,
                others.join(", ")
            ),
            _ => format!(
                "keep one copy of {}: remove the other directories from LD_LIBRARY_PATH or uninstall the stray copies ({}); which copy wins depends on LD_LIBRARY_PATH order and RUNPATH, so it can change between runners",
                lib.soname,
                others.join(", ")
            ),
        };
        out.extend(finding(
            "library-shadowed",
            if differ {
                Severity::Error
            } else {
                Severity::Warning
            },
            format!(
                "{} copies of {} are on the search path{}; the loader uses {resolved}",
                lib.copies.len(),
                lib.soname,
                if differ {
                    let all: Vec<String> = lib.copies.iter().map(describe_copy).collect();
                    format!(" with different versions ({})", all.join(", "))
                } else {
                    String::new()
                }
            ),
            fix,
            lib.copies
                .iter()
                .map(|c| format!("copy: {}", describe_copy(c)))
                .collect(),
        ));
    }
    out
}

fn gpu_unhealthy(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(driver) = f.driver.found() else {
        return vec![];
    };
    let mut out = Vec::new();
    for gpu in &driver.gpus {
        let problems = health_problems(gpu);
        if problems.is_empty() {
            continue;
        }
        out.extend(finding(
            "gpu-unhealthy",
            Severity::Error,
            format!("{} is unhealthy: {}", gpu.label(), problems.join("; ")),
            format!(
                "drain this runner; reset the GPU to apply pending page retirements or row remaps (`nvidia-smi -r -i {}`, or reboot); if uncorrected errors return, the board needs replacing",
                gpu.index
            ),
            gpu.uuid.value().map(|u| format!("UUID {u}")).into_iter().collect(),
        ));
    }
    out
}

/// What makes a GPU unfit to run on, from NVML's health fields.
pub fn health_problems(gpu: &crate::facts::driver::Gpu) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(n) = gpu.ecc_uncorrected_volatile.value().filter(|n| **n > 0) {
        problems.push(format!(
            "{n} uncorrected ECC error(s) since the driver loaded"
        ));
    }
    if gpu.retired_pages_pending.value() == Some(&true) {
        problems.push("retired pages pending (a reset is needed)".into());
    }
    if let Some(rows) = gpu.remapped_rows.value() {
        if rows.pending {
            problems.push("row remapping pending (a reset is needed)".into());
        }
        if rows.failure {
            problems.push("row remapping failed".into());
        }
    }
    if let Some(reasons) = gpu.throttle_reasons.value() {
        let harmful: Vec<&String> = reasons
            .iter()
            .filter(|r| HARMFUL_THROTTLE.contains(&r.as_str()))
            .collect();
        if !harmful.is_empty() {
            problems.push(format!(
                "clocks throttled by {}",
                harmful
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    problems
}

/// TensorFlow's x86-64 wheels are built with AVX: without it, loading them
/// dies with SIGILL before TensorFlow can say anything.
fn cpu_without_avx(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    if f.host.cpu_avx != Some(false) {
        return vec![];
    }
    let cpu = f.host.cpu_model.as_deref().unwrap_or("this CPU");
    finding(
        "cpu-without-avx",
        Severity::Error,
        format!("{cpu} has no AVX, and TensorFlow's x86-64 wheels are built with AVX: loading them dies with SIGILL (\"Illegal instruction\")"),
        "run on a CPU with AVX (every x86-64 server CPU since 2011); in a virtual machine, expose the host CPU's features (e.g. QEMU/KVM `-cpu host`, or a CPU model with AVX); otherwise build TensorFlow from source without AVX".into(),
        vec!["/proc/cpuinfo flags: no avx".into()],
    )
}

/// Persistence mode off: the driver tears the GPU state down whenever no
/// process holds it, so every CUDA start pays for initialisation again.
fn persistence_mode_off(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(driver) = f.driver.found() else {
        return vec![];
    };
    let off: Vec<String> = driver
        .gpus
        .iter()
        .filter(|g| g.persistence_mode.value() == Some(&false))
        .map(|g| g.label())
        .collect();
    if off.is_empty() {
        return vec![];
    }
    finding(
        "persistence-mode-off",
        Severity::Warning,
        format!(
            "persistence mode is off on {} of {} GPU(s): each process that starts CUDA waits while the driver initialises the GPU again (seconds per GPU), which makes the first check slow and short health-check timeouts fail",
            off.len(),
            driver.gpus.len()
        ),
        "enable the persistence daemon (`sudo systemctl enable --now nvidia-persistenced`), or `sudo nvidia-smi -pm 1` until the next reboot".into(),
        off,
    )
}

fn gpu_busy(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(driver) = f.driver.found() else {
        return vec![];
    };
    let me = std::process::id();
    let busy: Vec<String> = driver
        .gpus
        .iter()
        .filter_map(|g| {
            let procs: Vec<String> = g
                .processes
                .value()?
                .iter()
                .filter(|p| p.pid != me)
                .map(|p| {
                    format!(
                        "pid {} ({})",
                        p.pid,
                        p.name.as_deref().unwrap_or("name not visible")
                    )
                })
                .collect();
            (!procs.is_empty()).then(|| format!("{}: {}", g.label(), procs.join(", ")))
        })
        .collect();
    if busy.is_empty() {
        return vec![];
    }
    finding(
        "gpu-busy",
        Severity::Warning,
        "other processes hold GPU contexts: tests share memory and compute with them, and timings are not representative".into(),
        "wait for or stop those processes, or give the runner exclusive GPUs (one job per GPU, or `nvidia-smi -c EXCLUSIVE_PROCESS`)".into(),
        busy,
    )
}

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
        assert!(
            super::cuda_init_cause(802, "560.35.03")
                .1
                .contains("560.35.03")
        );
        assert!(super::cuda_init_cause(804, "x").1.contains("cuda-compat"));
        assert!(super::cuda_init_cause(34, "x").0.contains("stub"));
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
    use crate::tf::runtime::DeviceInfo;

    fn cpu_only_devices() -> Option<Result<Vec<DeviceInfo>, String>> {
        Some(Ok(vec![DeviceInfo {
            name: "/job:localhost/replica:0/task:0/device:CPU:0".into(),
            device_type: "CPU".into(),
            memory_bytes: 0,
        }]))
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
        let found = session_failed(&Evidence {
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
        let found = fell_back_to_cpu(&Evidence { facts: &facts, log });
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
}
