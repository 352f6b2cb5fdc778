//! Rules of the `Driver` family: NVML, `cuInit` and the device nodes cannot be reached.

use super::*;

pub(super) fn nvml_missing(e: &Evidence) -> Vec<Finding> {
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
    finding(Severity::Error, f.driver.why_missing(), fix, evidence)
}

/// The CUresult in a driver-API fact:
/// `CUDA_ERROR_SYSTEM_NOT_READY (802): system not yet initialized`.
pub(super) fn cuda_result(init_error: &str) -> Option<i64> {
    let (_, rest) = init_error.split_once(" (")?;
    rest.split_once(')')?.0.parse().ok()
}

/// The CUDA driver API reference's words for CUDA_ERROR_SYSTEM_NOT_READY
/// (802): more than one cause answers with it.
const SYSTEM_NOT_READY: &str = "\"the system is not yet ready to start any CUDA work\" (CUDA driver API: verify the system configuration is in a valid state and all required driver daemons are actively running)";

/// What 802 means here, told apart by the NVSwitches on the PCI bus
/// (`nvswitches`: None when the bus could not be read): only a machine
/// with them needs nvidia-fabricmanager.
pub(super) fn system_not_ready(driver: &str, nvswitches: Option<usize>) -> (String, String) {
    let fabric_fix = format!(
        "install and start nvidia-fabricmanager of exactly the driver's version ({driver}): `systemctl enable --now nvidia-fabricmanager`; check `systemctl status nvidia-fabricmanager` and its log for a version mismatch"
    );
    let others = "a GPU in confidential-computing mode whose ready state is not set (`nvidia-smi conf-compute -grs`; the attestation service sets it with `nvidia-smi conf-compute -srs 1`), or a driver still initialising its GPUs (persistence mode off, right after boot or a reset: `dmesg | grep -i nvrm`)";
    match nvswitches {
        Some(n) if n > 0 => (
            format!(
                "an NVSwitch system ({n} NVSwitch(es) on the PCI bus) whose nvidia-fabricmanager is not running: CUDA waits for the fabric and refuses to start"
            ),
            fabric_fix,
        ),
        Some(_) => (
            format!(
                "the driver says {SYSTEM_NOT_READY}; this machine has no NVSwitch on its PCI bus, so it is not the fabric manager; the candidates: {others}"
            ),
            "tell the candidates apart: `nvidia-smi conf-compute -f` (confidential computing on?) and `-grs` (ready state), `nvidia-smi -q | grep -i persistence`, `dmesg | grep -i nvrm`; set the ready state, enable persistence (`systemctl enable --now nvidia-persistenced`) or wait for the driver, then retry".to_string(),
        ),
        None => (
            format!(
                "the driver says {SYSTEM_NOT_READY}; the PCI bus could not be read to tell the candidates apart: an NVSwitch system whose nvidia-fabricmanager is not running, {others}"
            ),
            format!(
                "tell them apart: `lspci -d 10de: | grep -i bridge` lists NVSwitches (then {fabric_fix}); without them, `nvidia-smi conf-compute -grs` and `dmesg | grep -i nvrm`"
            ),
        ),
    }
}

/// What a CUresult at `cuInit` means on this machine, and what fixes it:
/// one cause where the facts prove it, else the candidates and how to tell
/// them apart, never one guessed cause.
pub(super) fn cuda_init_cause(code: i64, f: &Facts) -> (String, String) {
    let driver = f
        .driver
        .found()
        .map_or("?".to_string(), |d| d.version.to_string());
    let owned = |(cause, fix): (&str, &str)| (cause.to_string(), fix.to_string());
    match code {
        802 => {
            let nvswitches = f
                .host
                .below
                .pci
                .as_ref()
                .ok()
                .map(|bus| bus.nvswitches.len());
            system_not_ready(&driver, nvswitches)
        }
        803 | 804 => forward_compatibility(code, f),
        805..=810 => mps_cause(code, &f.host.mps),
        100 => owned((
            "NVML sees the GPUs but CUDA sees none: the device nodes are not usable by this process (container cgroup device rules, NVIDIA_VISIBLE_DEVICES, or CUDA_VISIBLE_DEVICES)",
            "give the process the GPUs: run the container with `--gpus all` (or the device plugin's resources), check `ls -l /dev/nvidia*` is readable and writable, and unset CUDA_VISIBLE_DEVICES values that hide them",
        )),
        46 => owned((
            "the GPUs are busy or unavailable: compute mode EXCLUSIVE_PROCESS with another process holding them, or PROHIBITED",
            "check `nvidia-smi -q -d COMPUTE` and the processes on the GPUs; set `nvidia-smi -c DEFAULT` or wait for the other process",
        )),
        34 => owned((
            "the libcuda on the loader path is the CUDA toolkit's stub (lib64/stubs/libcuda.so), which only links and never runs",
            "remove the toolkit's stubs directory from LD_LIBRARY_PATH (and from ld.so.conf) so the driver's libcuda.so.1 is loaded",
        )),
        999 => unknown_error(f),
        3 => owned((
            "CUDA was not initialised: the driver failed inside cuInit",
            "check `dmesg | grep -i nvrm` for the driver's own error, and reload the driver or reboot",
        )),
        _ => owned((
            "no rule knows this CUresult at cuInit: the driver's own name and words above are what is known",
            "look the CUresult up in NVIDIA's driver API documentation (CUresult); check `dmesg | grep -i nvrm`",
        )),
    }
}

/// 803 and 804 come from a forward-compatibility libcuda (cuda-compat):
/// both versions are named, the compat library's (its file name) and the
/// kernel module's (`/proc/driver/nvidia/version`).
fn forward_compatibility(code: i64, f: &Facts) -> (String, String) {
    let libcuda = f
        .library(Role::Driver)
        .and_then(|l| l.resolved.as_ref())
        .map(|copy| {
            copy.path
                .canonicalize()
                .unwrap_or_else(|_| copy.path.clone())
        });
    let compat = libcuda
        .as_ref()
        .and_then(|p| {
            p.file_name()?
                .to_str()?
                .strip_prefix("libcuda.so.")
                .map(str::to_string)
        })
        .filter(|v| v.contains('.'));
    let module = f.host.nvidia.as_ref().ok().and_then(|p| p.driver.clone());
    let versions = format!(
        "the libcuda in use is {} ({}), the kernel module {}",
        libcuda
            .as_ref()
            .map_or("unknown".to_string(), |p| p.display().to_string()),
        compat
            .as_deref()
            .map_or("version unknown".to_string(), |v| format!("driver {v}")),
        module
            .as_deref()
            .map_or("of unknown version".to_string(), |v| format!("is {v}"))
    );
    let dir = libcuda
        .as_ref()
        .and_then(|p| p.parent())
        .map_or("the cuda-compat directory".to_string(), |d| {
            d.display().to_string()
        });
    if code == 803 {
        (
            format!(
                "libcuda and the kernel module are different driver versions: {versions}; a forward-compatibility libcuda (cuda-compat) runs only over the kernel module branches it lists, and the other way round only a reboot after a driver upgrade fixes it"
            ),
            format!(
                "drop {dir} from LD_LIBRARY_PATH (or /etc/ld.so.conf.d) to use the driver's own libcuda, or install the cuda-compat that supports kernel module {}; after a driver upgrade, reboot so the module matches its libraries",
                module.as_deref().unwrap_or("this")
            ),
        )
    } else {
        (
            format!(
                "a forward-compatibility libcuda (cuda-compat) is in use on a GPU that does not support forward compatibility (only data-center GPUs do): {versions}"
            ),
            format!(
                "drop {dir} from LD_LIBRARY_PATH (or /etc/ld.so.conf.d) and upgrade the driver itself to one that supports the CUDA version the build needs"
            ),
        )
    }
}

/// The MPS errors (805 to 810), told apart by what a client here finds:
/// the control socket in its pipe directory and the MPS processes.
fn mps_cause(code: i64, mps: &crate::host::mps::Mps) -> (String, String) {
    let dir = &mps.pipe_directory;
    let found = format!(
        "{dir}/control {}, {} control daemon(s), {} server(s) running",
        if mps.control {
            "exists"
        } else {
            "does not exist"
        },
        mps.daemons.len(),
        mps.servers.len()
    );
    match code {
        805 if mps.control && mps.daemons.is_empty() => (
            format!(
                "this client finds the MPS control socket in {dir} but no nvidia-cuda-mps-control runs: a daemon that died left it, and every CUDA client tries it and fails"
            ),
            format!(
                "start the daemon again (`nvidia-cuda-mps-control -d`, with the same CUDA_MPS_PIPE_DIRECTORY), or remove the stale {dir} if MPS is not meant to run"
            ),
        ),
        805 if !mps.control && !mps.daemons.is_empty() => (
            format!(
                "an MPS control daemon runs, but not with this client's pipe directory ({dir}): the client and the daemon disagree on CUDA_MPS_PIPE_DIRECTORY"
            ),
            "set CUDA_MPS_PIPE_DIRECTORY (and CUDA_MPS_LOG_DIRECTORY) in the job to the daemon's, as the MPS documentation requires of every client".to_string(),
        ),
        805 => (
            format!(
                "the MPS client could not connect to the control daemon or the server ({found}); the candidates: the server failed to start (its log says why: compute mode, memory, a GPU the daemon cannot see), or another user's server holds the GPUs"
            ),
            "read the daemon's log (/var/log/nvidia-mps/control.log and server.log, or CUDA_MPS_LOG_DIRECTORY), check the GPUs' compute mode (`nvidia-smi -q -d COMPUTE`) and which user the server runs as".to_string(),
        ),
        807 => (
            format!(
                "the MPS server is not ready to accept clients ({found}): it is still starting, or it serves another user and this client waits for it"
            ),
            "retry after the server is up; MPS runs one server per user at a time: run the jobs as the server's user or stop that user's clients".to_string(),
        ),
        808 | 809 => (
            format!(
                "the MPS server has no room for another client ({found}): the hardware's limit on MPS clients or device connections is reached"
            ),
            "run fewer MPS clients per GPU at once (`nvidia-smi` lists them), or set CUDA_MPS_ACTIVE_THREAD_PERCENTAGE lower per client".to_string(),
        ),
        _ => (
            format!(
                "MPS failed this client ({found}): the server terminated it or its call to the server failed"
            ),
            "read the MPS logs (/var/log/nvidia-mps, or CUDA_MPS_LOG_DIRECTORY) for the fault, restart the daemon (`echo quit | nvidia-cuda-mps-control`, then `nvidia-cuda-mps-control -d`)".to_string(),
        ),
    }
}

/// 999 has more than one cause: the UVM module missing is told by the
/// facts; otherwise the candidates.
fn unknown_error(f: &Facts) -> (String, String) {
    let uvm_loaded = f
        .host
        .below
        .modules
        .as_ref()
        .ok()
        .map(|m| m.loaded.iter().any(|name| name == "nvidia_uvm"));
    let uvm_node = f.host.dev_nodes.iter().any(|n| n == "nvidia-uvm");
    if uvm_loaded == Some(false) || !uvm_node {
        return (
            format!(
                "the nvidia-uvm module {}, and CUDA cannot start without it",
                if uvm_loaded == Some(false) {
                    "is not loaded"
                } else {
                    "has no device node (/dev/nvidia-uvm)"
                }
            ),
            "load it: `sudo modprobe nvidia-uvm` (or `nvidia-modprobe -u -c=0`, which also creates /dev/nvidia-uvm); in a container, pass /dev/nvidia-uvm".to_string(),
        );
    }
    (
        "the driver gives no reason (CUDA_ERROR_UNKNOWN) and the UVM module is loaded with its device node; the candidates: a GPU in a bad state after a suspend, a driver upgrade without a reboot, or an Xid error".to_string(),
        "tell them apart with `dmesg | grep -iE 'xid|nvrm'`: an Xid names the GPU's fault (reset it or reboot), NVRM version lines a driver upgrade (reboot)".to_string(),
    )
}

/// NVML talks to the driver but `cuInit` fails: the case where the driver
/// looks healthy yet nothing can run (NVSwitch without fabric manager,
/// forward-compatibility packages, cgroups, the toolkit's stub libcuda).
pub(super) fn cuda_init_failed(e: &Evidence) -> Vec<Finding> {
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
    let (cause, fix) = cuda_init_cause(code, f);
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
        Severity::Error,
        format!("CUDA cannot start although NVML lists the GPUs: cuInit answered {error}; {cause}"),
        fix,
        evidence,
    )
}

pub(super) fn driver_not_loaded(e: &Evidence) -> Vec<Finding> {
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
        Severity::Error,
        format!("NVML loaded from {library} but could not reach the driver: {error}"),
        fix,
        vec![kernel_driver_evidence(f)],
    )
}

/// NVML's library and error when `nvmlInit` failed with `code`, unless
/// missing device nodes explain the failure better.
pub(super) fn nvml_init_failure<'f>(f: &'f Facts, code: &str) -> Option<(&'f str, &'f str)> {
    let DriverProbe::InitFailed { library, error } = &f.driver else {
        return None;
    };
    if !error.contains(code) || (f.host.nvidia.is_ok() && missing_nodes(f).is_some()) {
        return None;
    }
    Some((library, error))
}

/// `libnvidia-ml.so.535.309.01` → `535.309.01`.
pub(super) fn library_driver_version(library: &str) -> Option<&str> {
    let name = library.rsplit('/').next()?;
    name.strip_prefix("libnvidia-ml.so.")
        .filter(|v| v.contains('.'))
}

/// NVML_ERROR_LIB_RM_VERSION_MISMATCH, naming both versions.
pub(super) fn driver_library_mismatch(e: &Evidence) -> Vec<Finding> {
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
        Severity::Error,
        format!("the NVIDIA kernel module and its user-space libraries are different driver versions{versions}: the libraries were upgraded and the old module is still loaded"),
        "reboot, or reload the module (`sudo rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia && sudo modprobe nvidia`); in a container, the host's driver was upgraded under it: restart the container".into(),
        vec![format!("NVML from {library}: {error}"), kernel_driver_evidence(f)],
    )
}

/// NVML_ERROR_NO_PERMISSION: rootless containers, device nodes not ours.
pub(super) fn nvml_no_permission(e: &Evidence) -> Vec<Finding> {
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
        Severity::Error,
        "NVML may not talk to the driver: this user cannot open /dev/nvidiactl or /dev/nvidia* (a rootless container, or device nodes whose group this user is not in)".into(),
        "rootless Podman/Docker: generate a CDI spec (`nvidia-ctk cdi generate`) and run with `--device nvidia.com/gpu=all`, or set `no-cgroups = true` in the NVIDIA container runtime's config; on a host, add the user to the group that owns /dev/nvidia* (often `video`)".into(),
        evidence,
    )
}

/// NVML_ERROR_UNKNOWN, typically inside a container that lost its devices.
pub(super) fn nvml_unknown_error(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((library, error)) = nvml_init_failure(f, "NVML_ERROR_UNKNOWN") else {
        return vec![];
    };
    let in_container = f.host.container.is_some();
    finding(
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

pub(super) fn nvml_unresponsive(e: &Evidence) -> Vec<Finding> {
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
        Severity::Error,
        cause,
        "drain this runner; look for Xid errors with `dmesg | grep -i xid` (79: fallen off the bus, 48: double-bit ECC), then reset the GPU (`nvidia-smi -r -i N`) or reboot the node".into(),
        evidence,
    )
}

/// The device nodes a CUDA process needs that are absent, if any are.
pub(super) fn missing_nodes(f: &Facts) -> Option<Vec<&'static str>> {
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

pub(super) fn no_device_nodes(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    // WSL 2 reaches the GPU through /dev/dxg; it has no /dev/nvidia* nodes.
    if f.host.wsl {
        return vec![];
    }
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
        Severity::Error,
        format!(
            "the NVIDIA driver is present but {dev} has no GPU device nodes: this container (or sandbox) was started without GPUs"
        ),
        format!("{CONTAINER_FIX}; NVIDIA_VISIBLE_DEVICES=void or none also hides every GPU"),
        evidence,
    )
}

/// `NVIDIA_VISIBLE_DEVICES` as the NVIDIA container runtime reads it, when
/// it exposes no GPU: `void` (neither GPUs nor the driver's libraries) or
/// `none` (the libraries, no GPU).
pub(super) fn gpus_not_exposed(f: &Facts) -> Option<&str> {
    let value = f.host.var("NVIDIA_VISIBLE_DEVICES")?;
    let lists_gpus = f.driver.found().is_some_and(|d| !d.gpus.is_empty());
    (matches!(value.trim().to_ascii_lowercase().as_str(), "void" | "none") && !lists_gpus)
        .then_some(value)
}

/// The capabilities `NVIDIA_DRIVER_CAPABILITIES` leaves out that this
/// machine's missing driver pieces need: `utility` mounts NVML, `compute`
/// mounts libcuda.
pub(super) fn capabilities_missing(f: &Facts) -> Option<(&str, Vec<&'static str>)> {
    let value = f.host.var("NVIDIA_DRIVER_CAPABILITIES")?;
    let granted: Vec<String> = value
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    if granted.iter().any(|c| c == "all") {
        return None;
    }
    let has = |c: &str| granted.iter().any(|g| g == c);
    let nvml_missing = matches!(f.driver, DriverProbe::LibraryMissing { .. });
    let libcuda_missing = f
        .library(Role::Driver)
        .is_some_and(|l| l.resolved.is_none());
    let mut lacking = Vec::new();
    if nvml_missing && !has("utility") {
        lacking.push("utility");
    }
    if libcuda_missing && !has("compute") {
        lacking.push("compute");
    }
    (!lacking.is_empty()).then_some((value, lacking))
}

pub(super) fn container_gpus_not_exposed(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(value) = gpus_not_exposed(f) else {
        return vec![];
    };
    let what = if value.trim().eq_ignore_ascii_case("void") {
        "neither the GPUs nor the driver's libraries"
    } else {
        "the driver's libraries but no GPU"
    };
    let mut evidence = vec![
        format!("NVIDIA_VISIBLE_DEVICES={value}"),
        kernel_driver_evidence(f),
    ];
    evidence.push(match f.driver.found() {
        Some(d) => format!("NVML lists {} GPU(s)", d.gpus.len()),
        None => format!("NVML: {}", f.driver.why_missing()),
    });
    finding(
        Severity::Error,
        format!(
            "NVIDIA_VISIBLE_DEVICES={value} tells the NVIDIA container runtime to expose {what} to this container"
        ),
        "set NVIDIA_VISIBLE_DEVICES=all (or the GPUs' indexes or UUIDs), or start the container with `--gpus all`; on Kubernetes request `nvidia.com/gpu` in resources.limits and do not set NVIDIA_VISIBLE_DEVICES yourself (the device plugin does)".into(),
        evidence,
    )
}

pub(super) fn container_capabilities_missing(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((value, lacking)) = capabilities_missing(f) else {
        return vec![];
    };
    let pieces: Vec<&str> = lacking
        .iter()
        .map(|c| match *c {
            "utility" => "NVML (libnvidia-ml.so.1)",
            _ => "the CUDA driver (libcuda.so.1)",
        })
        .collect();
    let mut evidence = vec![format!("NVIDIA_DRIVER_CAPABILITIES={value}")];
    evidence.push(format!("NVML: {}", f.driver.why_missing()));
    if let Some(lib) = f.library(Role::Driver) {
        evidence.push(match &lib.resolved {
            Some(copy) => format!("libcuda.so.1: {}", describe_copy(copy)),
            None => "libcuda.so.1: not found".to_string(),
        });
    }
    let mut wanted: Vec<String> = value
        .split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    wanted.extend(lacking.iter().map(|c| c.to_string()));
    finding(
        Severity::Error,
        format!(
            "NVIDIA_DRIVER_CAPABILITIES={value} lacks `{}`, so the NVIDIA container runtime does not mount {}",
            lacking.join("` and `"),
            pieces.join(" or ")
        ),
        format!(
            "set NVIDIA_DRIVER_CAPABILITIES={} (or `all`): TensorFlow needs `compute`, gpugate's NVML facts need `utility`",
            wanted.join(",")
        ),
        evidence,
    )
}

/// WSL 2's own directory of the driver's Linux libraries, under the root.
fn wsl_lib_dir(f: &Facts) -> std::path::PathBuf {
    f.host.root.join(crate::host::WSL_LIB_DIR)
}

/// A managed platform's directory that holds libcuda.so.1 where the loader
/// finds none: the layout and its words.
pub(super) fn driver_layout_off_path(f: &Facts) -> Option<(std::path::PathBuf, &'static str)> {
    if !f
        .library(Role::Driver)
        .is_some_and(|l| l.resolved.is_none() && !l.unloadable_or_crashed())
    {
        return None;
    }
    crate::host::DRIVER_LAYOUTS.iter().find_map(|(dir, words)| {
        let dir = std::path::Path::new(&f.host.root).join(dir);
        dir.join("libcuda.so.1").exists().then_some((dir, *words))
    })
}

pub(super) fn driver_libraries_off_path(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((dir, words)) = driver_layout_off_path(f) else {
        return vec![];
    };
    let present: Vec<&str> = [
        "libcuda.so.1",
        "libnvidia-ml.so.1",
        "libnvidia-ptxjitcompiler.so.1",
    ]
    .into_iter()
    .filter(|name| dir.join(name).exists())
    .collect();
    let mut evidence = vec![format!("in {}: {}", dir.display(), present.join(", "))];
    if let Some(error) = f.library(Role::Driver).and_then(|l| l.error.as_ref()) {
        evidence.push(format!("dlopen(libcuda.so.1): {error}"));
    }
    let dir = dir.display();
    finding(
        Severity::Error,
        format!(
            "the NVIDIA driver's libraries are in {dir} ({words}), but the loader does not search there, so TensorFlow finds no libcuda.so.1 and registers no GPU"
        ),
        format!(
            "put {dir} on the loader's path: in the image or the job, `ENV LD_LIBRARY_PATH={dir}` (shell: `export LD_LIBRARY_PATH={dir}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}`), or `echo {dir} > /etc/ld.so.conf.d/nvidia.conf && ldconfig`; with the NVIDIA Container Toolkit (CDI, or the nvidia runtime), request the GPU so the libraries are mounted where the loader looks"
        ),
        evidence,
    )
}

/// Whether this is WSL 2 with the Windows driver's libcuda where the loader
/// does not look: `wsl-libraries-not-found` then tells why libcuda is missing.
pub(super) fn wsl_libcuda_off_path(f: &Facts) -> bool {
    f.host.wsl
        && f.library(Role::Driver)
            .is_some_and(|l| l.resolved.is_none())
        && wsl_lib_dir(f).join("libcuda.so.1").exists()
}

pub(super) fn wsl_libraries_not_found(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(cuda) = f.library(Role::Driver).filter(|_| wsl_libcuda_off_path(f)) else {
        return vec![];
    };
    let dir = wsl_lib_dir(f);
    let there = dir.join("libcuda.so.1");
    let mut evidence = vec![
        format!("{}/dev/dxg exists: WSL 2", root_prefix(f)),
        format!("{} exists", there.display()),
    ];
    if let Some(error) = &cuda.error {
        evidence.push(format!("dlopen(libcuda.so.1): {error}"));
    }
    finding(
        Severity::Error,
        format!(
            "this is WSL 2 and the Windows driver's libcuda.so.1 is in {}, but the loader does not search there",
            dir.display()
        ),
        format!(
            "put {0} on the loader's path: `echo {0} | sudo tee /etc/ld.so.conf.d/ld.wsl.conf && sudo ldconfig` (or add it to LD_LIBRARY_PATH); do not install a Linux NVIDIA driver inside WSL",
            dir.display()
        ),
        evidence,
    )
}

/// Whether this is WSL 2 and the libcuda the loader finds is not the
/// Windows driver's: a Linux driver installed inside WSL shadows it.
pub(super) fn wsl_libcuda_shadowed(f: &Facts) -> bool {
    let dir = wsl_lib_dir(f);
    f.host.wsl
        && dir.join("libcuda.so.1").exists()
        && f.library(Role::Driver)
            .and_then(|l| l.resolved.as_ref())
            .is_some_and(|copy| !copy.path.starts_with(&dir))
}

pub(super) fn wsl_linux_driver_installed(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    if !wsl_libcuda_shadowed(f) {
        return vec![];
    }
    let Some(copy) = f.library(Role::Driver).and_then(|l| l.resolved.as_ref()) else {
        return vec![];
    };
    let dir = wsl_lib_dir(f);
    finding(
        Severity::Error,
        format!(
            "this is WSL 2, but the libcuda.so.1 the loader finds is {} ({}), not the Windows driver's in {}: a Linux NVIDIA driver installed inside WSL shadows it",
            copy.path.display(),
            copy.version
                .as_ref()
                .map_or("version unknown".to_string(), |v| v.to_string()),
            dir.display()
        ),
        format!(
            "remove the Linux driver packages inside WSL (e.g. `sudo apt-get remove --purge 'libnvidia-compute-*' 'nvidia-driver-*'`, then `sudo ldconfig`) so {} is found; the GPU driver is the Windows one",
            dir.display()
        ),
        vec![
            format!("{}/dev/dxg exists: WSL 2", root_prefix(f)),
            format!("libcuda.so.1 resolves to {}", describe_copy(copy)),
            format!("{} exists", dir.join("libcuda.so.1").display()),
        ],
    )
}

pub(super) fn device_nodes_not_accessible(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    if f.host.dev_nodes_denied.is_empty() {
        return vec![];
    }
    let dev = format!("{}/dev", root_prefix(f));
    let crate::host::ProcessIds { uid, gid } = f.host.process;
    let mut evidence: Vec<String> = f
        .host
        .dev_nodes_denied
        .iter()
        .map(|n| format!("{dev}/{n}: not readable and writable by this process"))
        .collect();
    evidence.push(format!("this process: uid {uid}, gid {gid}"));
    if let DriverProbe::InitFailed { error, .. } = &f.driver {
        evidence.push(format!("NVML: {error}"));
    }
    finding(
        Severity::Error,
        format!(
            "the GPU device files in {dev} exist but this process may not open them ({}): CUDA and NVML cannot reach the GPUs",
            f.host.dev_nodes_denied.join(", ")
        ),
        "add the runner's user to the group that owns the device files (e.g. `sudo usermod -aG video USER`, then log in again), or have the driver create them accessible (module options NVreg_DeviceFileUID/GID/Mode, e.g. `NVreg_DeviceFileMode=0666`, the default); in a container, run with the device files' group (`--group-add`)".into(),
        evidence,
    )
}
