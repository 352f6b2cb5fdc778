//! `cuda-init-failed` and `mps-serves-another-user`: NVML answers but CUDA
//! does not start, or would queue. Each CUresult's cause is told by the
//! facts where they can tell it; otherwise the driver's own words and the
//! candidates.

use super::*;

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

/// The MPS errors (805 to 810): only a daemon that answered can give them
/// (a client that cannot reach one runs without MPS), so the causes are
/// the server's and its log says which; what a client here finds is the
/// evidence.
fn mps_cause(code: i64, mps: &crate::host::mps::Mps) -> (String, String) {
    let found = format!(
        "{}/control {}; this PID namespace shows {} control daemon(s) and {} server(s)",
        mps.pipe_directory,
        if mps.control {
            "exists"
        } else {
            "does not exist"
        },
        mps.daemons.len(),
        mps.servers.len()
    );
    let logs = "the MPS logs say which (/var/log/nvidia-mps/control.log and server.log, or CUDA_MPS_LOG_DIRECTORY)";
    match code {
        805 => (
            format!(
                "the MPS control daemon answered but this client could not reach a server ({found}); the candidates: the server failed to start (the GPUs' compute mode, their memory, a GPU the daemon cannot see), or it serves another user and this client is refused; {logs}"
            ),
            "read the MPS logs, check the GPUs' compute mode (`nvidia-smi -q -d COMPUTE`) and which user the server runs as (`echo get_server_list | nvidia-cuda-mps-control`); restart the daemon (`echo quit | nvidia-cuda-mps-control`, then `nvidia-cuda-mps-control -d`) once its clients are done".to_string(),
        ),
        807 => (
            format!(
                "the MPS server is not ready to accept clients ({found}): it is still starting, or it is shutting down to serve another user"
            ),
            "retry once the server is up; MPS serves one user at a time: run the jobs as one user, or wait for the other user's clients to end".to_string(),
        ),
        808 => (
            format!(
                "the MPS server cannot take another client ({found}): the hardware's limit on MPS clients per GPU is reached"
            ),
            "run fewer MPS clients per GPU at once (`echo get_server_list | nvidia-cuda-mps-control`, then `get_client_list PID`)".to_string(),
        ),
        809 => (
            format!(
                "the MPS server cannot give this client its device connections ({found}): the hardware's work queues are used up"
            ),
            "lower CUDA_DEVICE_MAX_CONNECTIONS in the clients, or run fewer clients at once".to_string(),
        ),
        _ => (
            format!(
                "MPS failed this client ({found}): the server terminated it (a fault in another client of the same server ends them all) or its call to the server failed; {logs}"
            ),
            "read the MPS logs for the fault and the client that caused it; restart the daemon if the server is gone".to_string(),
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
    // NVML's state proves which of 802's causes it is: that cause's rule says it.
    if code == 802 && (!unready_fabric(f).is_empty() || cc_not_ready(f).is_some()) {
        return vec![];
    }
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

/// An MPS server of another user serves the GPUs this client reaches:
/// MPS serves one user at a time, so this user's CUDA clients (the job's,
/// and gpugate's cuInit, which it therefore skips) wait until that user's
/// clients end.
pub(super) fn mps_serves_another_user(e: &Evidence) -> Vec<Finding> {
    let host = &e.facts.host;
    let Some(uid) = host.mps.serves_another_user(host.process.uid) else {
        return vec![];
    };
    finding(
        Severity::Warning,
        format!(
            "an MPS server of another user (uid {uid}) serves these GPUs: CUDA clients of this user (uid {}) wait until that user's clients end, and gpugate did not call cuInit, so CUDA's own view of the GPUs is not checked",
            host.process.uid
        ),
        "run the GPU jobs of this machine as one user, or stop MPS for them (`echo quit | nvidia-cuda-mps-control`) once the other user's clients are done; then run gpugate again".into(),
        vec![format!(
            "{}/control exists; MPS server(s) {:?} run as uid(s) {:?}",
            host.mps.pipe_directory, host.mps.servers, host.mps.server_uids
        )],
    )
}
