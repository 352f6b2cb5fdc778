//! Rules on a GPU's own state as NVIDIA's health tools judge it (DCGM's
//! health watches and software plugin, gpud, NVSentinel): each cause and fix
//! is those tools' documented meaning, never a guess beyond the fact.

use super::*;
use crate::facts::driver::Gpu;
use crate::facts::gpu_state::{ConfidentialComputing, Fabric};

fn gpus<'f>(e: &Evidence<'f>) -> &'f [Gpu] {
    e.facts.driver.found().map_or(&[], |d| d.gpus.as_slice())
}

fn uuid_evidence(gpu: &Gpu) -> Option<String> {
    gpu.uuid
        .value()
        .map(|u| format!("{}: UUID {u}", gpu.label()))
}

/// `nvmlDeviceValidateInforom` answers NVML_ERROR_CORRUPTED_INFOROM: DCGM's
/// `DCGM_FR_CORRUPT_INFOROM` ("Flash the InfoROM to clear this corruption").
pub(super) fn gpu_inforom_corrupt(e: &Evidence) -> Vec<Finding> {
    let corrupt: Vec<&Gpu> = gpus(e)
        .iter()
        .filter(|g| g.state.inforom_valid.value() == Some(&false))
        .collect();
    if corrupt.is_empty() {
        return vec![];
    }
    let labels: Vec<String> = corrupt.iter().map(|g| g.label()).collect();
    let mut evidence = vec![format!(
        "nvmlDeviceValidateInforom: NVML_ERROR_CORRUPTED_INFOROM (14, \"Corrupted infoROM\") for {}",
        labels.join(", ")
    )];
    evidence.extend(corrupt.iter().filter_map(|g| uuid_evidence(g)));
    finding(
        Severity::Warning,
        format!(
            "the InfoROM of {} is corrupt (NVML's check of its checksum fails): the board's record of ECC errors, retired pages and its configuration cannot be trusted, so its memory's health is unknown",
            labels.join(", ")
        ),
        "flash the InfoROM (DCGM: \"Flash the InfoROM to clear this corruption\"; the board vendor's InfoROM update); drain the runner until it validates (`nvidia-smi -q | grep -i inforom`), and replace the board if it recurs".into(),
        evidence,
    )
}

/// NVML's `NVML_FI_DEV_GET_GPU_RECOVERY_ACTION`: the driver itself asks for
/// a reset, a reboot or a drain after a fault (DCGM's
/// `DCGM_FR_GPU_RECOVERY_*`).
pub(super) fn gpu_needs_recovery(e: &Evidence) -> Vec<Finding> {
    let mut out = Vec::new();
    for gpu in gpus(e) {
        let Some(action) = gpu.state.recovery_action.value() else {
            continue;
        };
        let (cause, fix) = match action.as_str() {
            "none" => continue,
            "gpu_reset" => (
                "requires a reset to recover from a fault (NVML's recovery action GPU_RESET)",
                format!(
                    "drain the runner, stop every process on the GPU and reset it (`nvidia-smi -r -i {}`), then check again",
                    gpu.index
                ),
            ),
            "node_reboot" => (
                "had a fault that may have left the operating system inconsistent (NVML's recovery action NODE_REBOOT)",
                "drain the machine and reboot it".to_string(),
            ),
            "drain_p2p" => (
                "requires its peer-to-peer traffic to be quiesced (NVML's recovery action DRAIN_P2P)",
                "stop the processes using peer-to-peer (NCCL across GPUs), disable UVM persistence, then check again".to_string(),
            ),
            "recover_imex_domain" => (
                "asks for its IMEX domain to be recovered (NVML's recovery action RECOVER_IMEX_DOMAIN): memory shared across the domain's nodes is not usable",
                "restart the IMEX daemon (nvidia-imex) on the domain's nodes, then check again".to_string(),
            ),
            "drain_and_reset" => (
                "runs at reduced capacity after a fault (NVML's recovery action DRAIN_AND_RESET)",
                format!(
                    "schedule no new work on it; once its jobs end, reset it (`nvidia-smi -r -i {}`)",
                    gpu.index
                ),
            ),
            _ => (
                "reports a recovery action gpugate does not know",
                "read `nvidia-smi -q` and the driver's log (`dmesg | grep -i nvrm`) for the action the driver asks for".to_string(),
            ),
        };
        let mut evidence = vec![format!(
            "NVML, {}: GPU recovery action {action}",
            gpu.label()
        )];
        evidence.extend(uuid_evidence(gpu));
        out.extend(finding(
            Severity::Error,
            format!("{} {cause}", gpu.label()),
            fix,
            evidence,
        ));
    }
    out
}

/// A PCIe link narrower than the GPU's maximum, where no power saving
/// explains it: the board or its riser trained down (a seating or signal
/// fault). The generation alone is not judged: the GPU lowers it whenever
/// it saves power.
pub(super) fn gpu_pcie_link_degraded(e: &Evidence) -> Vec<Finding> {
    let mut out = Vec::new();
    for gpu in gpus(e) {
        let Some(link) = gpu.state.pcie_link.value() else {
            continue;
        };
        // A virtual machine's GPU reports the link its hypervisor shows. An
        // idle GPU may lower its link to save power (nvidia-smi(1): "These
        // may be reduced when the GPU is not in use"), and then lowers its
        // generation: a narrow link at full generation is no power saving.
        let virtual_gpu = gpu
            .state
            .virtualization
            .value()
            .is_some_and(|mode| mode != "none");
        let idle = gpu
            .throttle_reasons
            .value()
            .is_none_or(|reasons| reasons.iter().any(|r| r == "gpu_idle"));
        if virtual_gpu || (idle && link.generation < link.max_generation) {
            continue;
        }
        if link.width >= link.max_width {
            continue;
        }
        out.extend(finding(
            Severity::Warning,
            format!(
                "{}'s PCIe link runs at x{} of its x{}: copies between host and GPU (every input batch) get {}% of the bandwidth the slot should give",
                gpu.label(),
                link.width,
                link.max_width,
                link.width * 100 / link.max_width.max(1)
            ),
            "reseat the GPU (and its riser), check the slot's lane configuration in the BIOS, and compare `nvidia-smi -q -d PCIE` under load; if it stays narrow, run the vendor's PCIe diagnostics".into(),
            vec![format!(
                "NVML, {}: PCIe gen {} x{} now, gen {} x{} at most",
                gpu.label(),
                link.generation,
                link.width,
                link.max_generation,
                link.max_width
            )],
        ));
    }
    out
}

/// The GPUs whose NVSwitch fabric registration is not complete and
/// successful: DCGM's `DCGM_FR_FABRIC_PROBE_STATE`, gpud's fabric state.
pub(super) fn unready_fabric(f: &Facts) -> Vec<(&Gpu, &Fabric)> {
    f.driver.found().map_or_else(Vec::new, |d| {
        d.gpus
            .iter()
            .filter_map(|g| g.state.fabric.value().map(|fabric| (g, fabric)))
            .filter(|(_, fabric)| fabric.state != "completed" || fabric.status_code != 0)
            .collect()
    })
}

pub(super) fn gpu_fabric_not_ready(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let unready = unready_fabric(f);
    if unready.is_empty() {
        return vec![];
    }
    let driver = f
        .driver
        .found()
        .map_or("?".to_string(), |d| d.version.to_string());
    let evidence: Vec<String> = unready
        .iter()
        .map(|(g, fabric)| {
            format!(
                "NVML, {}: fabric state {}, status {}",
                g.label(),
                fabric.state,
                fabric.status
            )
        })
        .collect();
    // Still registering (in_progress) is not ready either: CUDA waits.
    // Where cuInit succeeded here, NVML's word that CUDA cannot start is a
    // state that may be stale: a warning, not the cause of a failure.
    let (severity, cause) = if cuda_started(f).is_some() {
        (
            Severity::Warning,
            format!(
                "NVML says {} GPU(s) are not registered with the NVSwitch fabric, though cuInit succeeded here: CUDA work across them may wait or fail until nvidia-fabricmanager registers them",
                unready.len()
            ),
        )
    } else {
        (
            Severity::Error,
            format!(
                "{} GPU(s) are not registered with the NVSwitch fabric (not started, still in progress, or finished with an error): CUDA refuses to start on them (cuInit answers CUDA_ERROR_SYSTEM_NOT_READY) until nvidia-fabricmanager has registered them",
                unready.len()
            ),
        )
    };
    finding(
        severity,
        cause,
        format!(
            "start nvidia-fabricmanager of exactly the driver's version ({driver}): `systemctl enable --now nvidia-fabricmanager`; check `systemctl status nvidia-fabricmanager` and /var/log/fabricmanager.log, and `nvidia-smi -q | grep -A2 -i fabric` until the state is Completed and the status Success"
        ),
        evidence,
    )
}

/// An NVLink down on a GPU whose other links are up, or, on an NVSwitch
/// system (where every GPU's links are wired), a GPU with none up: DCGM's
/// `DCGM_FR_NVLINK_DOWN`. A PCIe card never bridged has every link
/// inactive and is no fault. With any GPU in MIG mode nothing is judged:
/// NVML reports links to MIG GPUs as down (DCGM's `DcgmTopology.cpp`, which
/// then treats every down link as disabled).
pub(super) fn nvlink_down(e: &Evidence) -> Vec<Finding> {
    let gpus = gpus(e);
    if gpus.iter().any(|g| g.mig_enabled.value() == Some(&true)) {
        return vec![];
    }
    let nvswitch_system = e
        .facts
        .host
        .below
        .pci
        .as_ref()
        .is_ok_and(|bus| !bus.nvswitches.is_empty());
    let mut out = Vec::new();
    for gpu in gpus {
        let Some(links) = gpu.state.nvlinks.value() else {
            continue;
        };
        // Links wait for the fabric: gpu-fabric-not-ready says why.
        if gpu
            .state
            .fabric
            .value()
            .is_some_and(|fabric| fabric.state != "completed")
        {
            continue;
        }
        let down: Vec<String> = links
            .iter()
            .enumerate()
            .filter(|(_, up)| !**up)
            .map(|(i, _)| i.to_string())
            .collect();
        let some_up = down.len() < links.len();
        if down.is_empty() || !(some_up || nvswitch_system) {
            continue;
        }
        out.extend(finding(
            Severity::Error,
            format!(
                "{}: NVLink {} down ({} of its {} links): traffic between GPUs (NCCL's all-reduce in multi-GPU training) slows or fails",
                gpu.label(),
                down.join(", "),
                down.len(),
                links.len()
            ),
            "drain the machine; reset the GPUs or reboot, then check `nvidia-smi nvlink -s`; on NVSwitch systems check nvidia-fabricmanager; if a link stays down, the board or its NVLink bridge needs service".into(),
            vec![format!(
                "NVML, {}: nvmlDeviceGetNvLinkState inactive for link(s) {}",
                gpu.label(),
                down.join(", ")
            )],
        ));
    }
    out
}

/// Hotter than the GPU's maximum operating temperature (NVML's
/// `GPU_MAX` threshold, else its slowdown one): DCGM's
/// `DCGM_FR_TEMP_VIOLATION`. The hardware slows it soon, or already does
/// (`gpu-clocks-throttled`).
pub(super) fn gpu_temperature_high(e: &Evidence) -> Vec<Finding> {
    let mut out = Vec::new();
    for gpu in gpus(e) {
        let (Some(t), Some(limits)) = (
            gpu.temperature_c.value(),
            gpu.state.temperature_limits.value(),
        ) else {
            continue;
        };
        if *t <= limits.max_operating_c {
            continue;
        }
        let slowdown = limits
            .slowdown_c
            .map_or(String::new(), |s| format!(", slowdown at {s} °C"));
        out.extend(finding(
            Severity::Warning,
            format!(
                "{} is at {t} °C, above its maximum operating temperature of {} °C: its clocks will be held down and a long run may stop with a thermal fault",
                gpu.label(),
                limits.max_operating_c
            ),
            "check cooling: the fans and airflow, blanking panels, the inlet temperature; `nvidia-smi -q -d TEMPERATURE` shows the limits".into(),
            vec![format!(
                "NVML, {}: {t} °C, maximum operating {} °C{slowdown}",
                gpu.label(),
                limits.max_operating_c
            )],
        ));
    }
    out
}

/// A vGPU guest without a licence: NVIDIA's licensing guide says an
/// unlicensed vGPU runs degraded and, for CUDA, is restricted until a
/// licence is acquired.
pub(super) fn vgpu_unlicensed(e: &Evidence) -> Vec<Finding> {
    let unlicensed: Vec<&Gpu> = gpus(e)
        .iter()
        .filter(|g| {
            g.state.virtualization.value().map(String::as_str) == Some("vgpu")
                && g.state.vgpu_licensed.value() == Some(&false)
        })
        .collect();
    if unlicensed.is_empty() {
        return vec![];
    }
    let labels: Vec<String> = unlicensed.iter().map(|g| g.label()).collect();
    finding(
        Severity::Error,
        format!(
            "{} is a vGPU in a virtual machine without a licence: NVIDIA's vGPU software restricts an unlicensed vGPU (CUDA among what it limits) until the guest acquires one",
            labels.join(", ")
        ),
        "license the guest: point nvidia-gridd at the licence server (a client configuration token in /etc/nvidia/ClientConfigToken, `FeatureType` in /etc/nvidia/gridd.conf), restart nvidia-gridd, and check `nvidia-smi -q | grep -i licen`".into(),
        vec![format!(
            "NVML: virtualization mode vgpu, vGPU licence feature not licensed for {}",
            labels.join(", ")
        )],
    )
}

/// Confidential computing on and the GPUs not accepting work: their ready
/// state is set only after attestation (NVIDIA's Confidential Computing
/// deployment guide, `nvidia-smi conf-compute -srs 1`).
pub(super) fn cc_not_ready(f: &Facts) -> Option<&ConfidentialComputing> {
    f.driver
        .found()?
        .confidential_computing
        .value()
        .filter(|cc| cc.enabled && !cc.gpus_ready)
}

pub(super) fn confidential_computing_not_ready(e: &Evidence) -> Vec<Finding> {
    let Some(cc) = cc_not_ready(e.facts) else {
        return vec![];
    };
    let severity = if cuda_started(e.facts).is_some() {
        Severity::Warning
    } else {
        Severity::Error
    };
    finding(
        severity,
        "confidential computing is on and the GPUs are not set ready: they accept no CUDA work until an attestation sets their ready state".into(),
        "attest the GPUs and set the ready state (NVIDIA's attestation SDK or `nvidia-smi conf-compute -srs 1` after attestation); `nvidia-smi conf-compute -grs` shows it".into(),
        vec![format!(
            "NVML: confidential computing on ({} environment), GPUs ready state: not accepting client requests",
            cc.environment
        )],
    )
}
