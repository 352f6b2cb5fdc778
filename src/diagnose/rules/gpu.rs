//! Rules of the `GpuHealth`, `GpuBusy` and `Mig` families: the GPUs' own state.

use super::*;

pub(super) fn gpu_unhealthy(e: &Evidence) -> Vec<Finding> {
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

/// Persistence mode off: the driver tears the GPU state down whenever no
/// process holds it, so every CUDA start pays for initialisation again.
pub(super) fn persistence_mode_off(e: &Evidence) -> Vec<Finding> {
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

pub(super) fn gpu_busy(e: &Evidence) -> Vec<Finding> {
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
        Severity::Warning,
        "other processes hold GPU contexts: tests share memory and compute with them, and timings are not representative".into(),
        "wait for or stop those processes, or give the runner exclusive GPUs (one job per GPU, or `nvidia-smi -c EXCLUSIVE_PROCESS`)".into(),
        busy,
    )
}

/// A GPU in MIG mode runs CUDA only on its MIG devices (GPU instances with a
/// compute instance); with none created, CUDA finds nothing on it.
pub(super) fn mig_without_devices(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(driver) = f.driver.found() else {
        return vec![];
    };
    let empty: Vec<&crate::facts::driver::Gpu> = driver
        .gpus
        .iter()
        .filter(|g| {
            g.mig_enabled.value() == Some(&true) && g.mig_devices.value().is_some_and(Vec::is_empty)
        })
        .collect();
    if empty.is_empty() {
        return vec![];
    }
    let labels: Vec<String> = empty.iter().map(|g| g.label()).collect();
    let mut evidence: Vec<String> = empty
        .iter()
        .map(|g| format!("{}: MIG mode on, no MIG device", g.label()))
        .collect();
    for g in driver
        .gpus
        .iter()
        .filter(|g| g.mig_enabled.value() == Some(&true))
    {
        if let Some(devices) = g.mig_devices.value().filter(|d| !d.is_empty()) {
            evidence.push(format!("{}: MIG devices {}", g.label(), devices.join(", ")));
        }
    }
    let indexes: Vec<String> = empty.iter().map(|g| g.index.to_string()).collect();
    finding(
        Severity::Error,
        format!(
            "{} {} in MIG mode with no MIG device, so CUDA (and TensorFlow) can use nothing on {}",
            labels.join(", "),
            if labels.len() == 1 { "is" } else { "are" },
            if labels.len() == 1 { "it" } else { "them" }
        ),
        format!(
            "create GPU and compute instances (`sudo nvidia-smi mig -i {} -cgi 1g.10gb -C`; `nvidia-smi mig -lgip` lists the profiles), or turn MIG off (`sudo nvidia-smi -i {} -mig 0`, then reset the GPU); on Kubernetes let the GPU operator's MIG manager apply a MIG profile",
            indexes.join(","),
            indexes.join(",")
        ),
        evidence,
    )
}
