//! Rules of the `GpuHealth`, `GpuBusy` and `Mig` families: the GPUs' own state.

use super::*;
use crate::facts::driver::Gpu;

pub(super) fn gpu_unhealthy(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(driver) = f.driver.found() else {
        return vec![];
    };
    let mut out = Vec::new();
    for gpu in &driver.gpus {
        // Throttling is gpu-clocks-throttled's: its causes are not the board's memory.
        let problems = memory_faults(gpu);
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

/// What makes a GPU unfit to run on, from NVML's health fields: its
/// memory's faults and the hardware slowing its clocks.
pub fn health_problems(gpu: &crate::facts::driver::Gpu) -> Vec<String> {
    let mut problems = memory_faults(gpu);
    let slowed = harmful_throttling(gpu);
    if !slowed.is_empty() {
        problems.push(format!("clocks throttled by {}", slowed.join(", ")));
    }
    problems
}

/// The active throttle reasons that are a fault of the machine, not a
/// setting or an idle GPU.
fn harmful_throttling(gpu: &Gpu) -> Vec<&str> {
    gpu.throttle_reasons
        .value()
        .map_or_else(Vec::new, |reasons| {
            reasons
                .iter()
                .map(String::as_str)
                .filter(|r| HARMFUL_THROTTLE.contains(r))
                .collect()
        })
}

/// ECC errors, pending retirements or remaps, failed remaps: the board's
/// memory, which a reset or a new board fixes.
fn memory_faults(gpu: &Gpu) -> Vec<String> {
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
        if rows.uncorrected >= UNCORRECTABLE_REMAP_LIMIT {
            problems.push(format!(
                "{} rows remapped for uncorrectable errors (DCGM's limit: {UNCORRECTABLE_REMAP_LIMIT})",
                rows.uncorrected
            ));
        }
    }
    if let Some(pages) = gpu.state.retired_pages.value() {
        if pages.total() >= RETIRED_PAGES_LIMIT {
            problems.push(format!(
                "{} retired pages ({} for single-bit, {} for double-bit errors; DCGM's limit: {RETIRED_PAGES_LIMIT})",
                pages.total(),
                pages.single_bit,
                pages.double_bit
            ));
        } else if pages.double_bit > RETIRED_DBE_SOFT_LIMIT && pages.double_bit_last_week > 1 {
            problems.push(format!(
                "{} pages retired for double-bit errors, {} of them in the last week (DCGM: more than {RETIRED_DBE_SOFT_LIMIT}, and more than one a week)",
                pages.double_bit, pages.double_bit_last_week
            ));
        }
    }
    problems
}

/// DCGM's limits (`DcgmGPUHardwareLimits.h`): retired pages of both
/// causes (`DCGM_FR_RETIRED_PAGES_LIMIT`), double-bit retirements that
/// keep coming (`DCGM_FR_RETIRED_PAGES_DBE_LIMIT`), and rows remapped for
/// uncorrectable errors (`DCGM_FR_UNCORRECTABLE_ROW_REMAP_LIMIT`).
const RETIRED_PAGES_LIMIT: u32 = 63;
const RETIRED_DBE_SOFT_LIMIT: u32 = 15;
const UNCORRECTABLE_REMAP_LIMIT: u32 = 512;

/// What each harmful throttle reason means, in NVML's words
/// (`nvmlClocksEventReasons`), and what to look at: each has its own
/// cause, and none of them is the board's memory.
fn throttle_meaning(reason: &str) -> (&'static str, &'static str) {
    match reason {
        "hw_power_brake_slowdown" => (
            "an external power brake is asserted (HW Power Brake Slowdown): the system's power supply or its management controller tells the GPU to cut its clocks",
            "check the chassis: its power supplies (a failed or missing PSU, lost redundancy) and the BMC's power capping (`ipmitool dcmi power reading`, the vendor's event log); the GPU board itself is not at fault",
        ),
        "hw_thermal_slowdown" => (
            "the GPU is too hot and the hardware halves its clocks (HW Thermal Slowdown)",
            "check cooling: `nvidia-smi -q -d TEMPERATURE`, the fans and airflow, blanking panels, the room's temperature",
        ),
        "sw_thermal_slowdown" => (
            "the driver slows the clocks to keep the GPU or its memory below their maximum operating temperature (SW Thermal Slowdown)",
            "check cooling: `nvidia-smi -q -d TEMPERATURE` (GPU and memory against their maximum operating temperatures), the fans and airflow",
        ),
        _ => (
            "the hardware slows the clocks by half or more (HW Slowdown): too hot, an external power brake, or power draw past what the board's fast trigger allows",
            "tell which: `nvidia-smi -q -d PERFORMANCE` (its HW Thermal and HW Power Brake lines), `-d TEMPERATURE,POWER`; then cooling, or the chassis' power supplies and power capping",
        ),
    }
}

/// The hardware slows a GPU's clocks: each reason with its own cause and
/// what to look at.
pub(super) fn gpu_clocks_throttled(e: &Evidence) -> Vec<Finding> {
    let Some(driver) = e.facts.driver.found() else {
        return vec![];
    };
    let mut out = Vec::new();
    for gpu in &driver.gpus {
        let reasons = harmful_throttling(gpu);
        if reasons.is_empty() {
            continue;
        }
        let (causes, fixes): (Vec<&str>, Vec<&str>) =
            reasons.iter().map(|r| throttle_meaning(r)).unzip();
        let mut fixes = fixes;
        fixes.dedup();
        out.extend(finding(
            Severity::Error,
            format!(
                "{}'s clocks are held down ({}): {}; everything on it runs slower",
                gpu.label(),
                reasons.join(", "),
                causes.join("; ")
            ),
            fixes.join("; "),
            vec![format!(
                "NVML, {}: throttle reasons {}",
                gpu.label(),
                gpu.throttle_reasons
                    .value()
                    .map_or(String::new(), |r| r.join(","))
            )],
        ));
    }
    out
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
        // A GPU whose mode refuses the job is `gpu-compute-mode-blocks`',
        // one whose memory is taken is `gpu-memory-held`'s.
        .filter(|g| blocking_mode(g, &f.host.mps).is_none() && memory_held(g).is_none())
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
        "wait for or stop those processes, or give each job GPUs of its own (one job per GPU on the runner; on Kubernetes, `nvidia.com/gpu` requests); do not make the GPU EXCLUSIVE_PROCESS while others hold it, which stops the job's CUDA context instead".into(),
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

/// NVML hands out no handle for a GPU: it fell off the bus
/// (NVML_ERROR_GPU_IS_LOST, Xid 79) or is otherwise out of reach. A GPU
/// nothing could be read of is an error, never health.
pub(super) fn gpu_unreachable(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(driver) = f.driver.found() else {
        return vec![];
    };
    let gone: Vec<&Gpu> = driver
        .gpus
        .iter()
        .filter(|g| g.unreachable.is_some())
        .collect();
    if gone.is_empty() {
        return vec![];
    }
    let silent: Vec<String> = f
        .silent_functions(driver)
        .iter()
        .map(|g| g.address.clone())
        .collect();
    let lost = gone
        .iter()
        .any(|g| g.unreachable.as_ref().is_some_and(|u| u.lost));
    let evidence: Vec<String> = gone
        .iter()
        .map(|g| {
            format!(
                "NVML, GPU {}: {}",
                g.index,
                g.unreachable.as_ref().map_or("", |u| u.error.as_str())
            )
        })
        .chain((!silent.is_empty()).then(|| {
            format!(
                "bound to the nvidia driver on the PCI bus but not reachable: {}",
                silent.join(", ")
            )
        }))
        .collect();
    let which = gone
        .iter()
        .map(|g| format!("GPU {}", g.index))
        .collect::<Vec<_>>()
        .join(", ");
    let at = if silent.is_empty() {
        String::new()
    } else {
        format!(" (bus {})", silent.join(", "))
    };
    finding(
        Severity::Error,
        if lost {
            format!("{which}{at} has fallen off the bus: NVML reports it lost (Xid 79), and nothing can run on it")
        } else {
            format!("NVML cannot reach {which}{at}: nothing could be read of it, so nothing can be judged healthy")
        },
        "drain this machine and reset the GPU (`nvidia-smi -r -i INDEX` where supported, with no process on it) or reboot; `dmesg | grep -i xid` says what happened (Xid 79: fallen off the bus, often power, thermal or a PCIe link fault); if it recurs, have the GPU serviced".into(),
        evidence,
    )
}

/// NVML lists fewer GPUs than the functions the nvidia driver holds on the
/// bus, and none of its own is unreachable (that is `gpu-unreachable`'s): the
/// driver could not initialise the missing ones (`RmInitAdapter failed`).
pub(super) fn gpu_missing_from_nvml(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(driver) = f.driver.found() else {
        return vec![];
    };
    if driver.gpus.iter().any(|g| g.unreachable.is_some()) {
        return vec![];
    }
    let missing = f.silent_functions(driver);
    if missing.is_empty() {
        return vec![];
    }
    let labels: Vec<String> = missing.iter().map(|g| g.label()).collect();
    finding(
        Severity::Error,
        format!(
            "the nvidia driver holds {} on the PCI bus that NVML does not list: {}",
            if missing.len() == 1 { "a GPU" } else { "GPUs" },
            labels.join("; ")
        ),
        "the driver failed to initialise them: read `dmesg | grep -i nvrm` (\"RmInitAdapter failed\", an Xid), then drain the machine and reset the GPU or reboot; a GPU that fails again needs service (power, seating, the PCIe link)".into(),
        vec![
            format!(
                "NVML lists {} GPU(s): {}",
                driver.gpus.len(),
                driver
                    .gpus
                    .iter()
                    .map(|g| g.pci_bus_id.value().map_or("?", String::as_str))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "{}/sys/bus/pci/devices: bound to nvidia, not in NVML: {}",
                root_prefix(f),
                labels.join("; ")
            ),
        ],
    )
}

/// The free memory a GPU needs for gpu-basic's compute checks: TensorFlow's
/// CUDA context and cuBLAS' workspace (a few hundred MiB) and the checks'
/// tensors (the largest, the 8192² float32 throughput matmul, is 768 MiB in
/// its three matrices).
pub const MIN_FREE_MIB_FOR_COMPUTE: u64 = 2048;

/// Other processes hold so much of a GPU's memory that the job's compute
/// cannot fit (TensorFlow's allocator fails with "CUDA_ERROR_OUT_OF_MEMORY").
fn memory_held(gpu: &Gpu) -> Option<String> {
    let me = std::process::id();
    let free = gpu.memory.value()?.free_mib;
    let others: Vec<String> = gpu
        .processes
        .value()?
        .iter()
        .filter(|p| p.pid != me)
        .map(|p| match p.used_mib {
            Some(mib) => format!("pid {} {mib} MiB", p.pid),
            None => format!("pid {}", p.pid),
        })
        .collect();
    (free < MIN_FREE_MIB_FOR_COMPUTE && !others.is_empty()).then(|| {
        format!(
            "{}: {free} MiB free, held by {}",
            gpu.label(),
            others.join(", ")
        )
    })
}

pub(super) fn gpu_memory_held(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(driver) = f.driver.found() else {
        return vec![];
    };
    let full: Vec<String> = driver.gpus.iter().filter_map(memory_held).collect();
    if full.is_empty() {
        return vec![];
    }
    finding(
        Severity::Error,
        format!(
            "other processes hold the GPU's memory, and less than the {MIN_FREE_MIB_FOR_COMPUTE} MiB TensorFlow's compute needs is free: {}",
            full.join("; ")
        ),
        "stop those processes or wait for them, or give each job GPUs of its own (one job per GPU on the runner; on Kubernetes, `nvidia.com/gpu` requests); TensorFlow would fail to allocate (CUDA_ERROR_OUT_OF_MEMORY) or its first kernel would".into(),
        full,
    )
}

/// Why `gpu`'s compute mode refuses a new CUDA context, if it does.
fn blocking_mode(gpu: &Gpu, mps: &crate::host::mps::Mps) -> Option<String> {
    let me = std::process::id();
    let mode = gpu.compute_mode.value()?;
    let others: Vec<String> = gpu
        .processes
        .value()
        .map(|p| {
            p.iter()
                .filter(|p| p.pid != me)
                // Under MPS the server holds an exclusive GPU for its
                // clients, whom the control socket sends to it.
                .filter(|p| !(mps.control && mps.servers.contains(&p.pid)))
                .map(|p| format!("pid {}", p.pid))
                .collect()
        })
        .unwrap_or_default();
    match mode.as_str() {
        "prohibited" => Some(format!("{}: compute mode PROHIBITED", gpu.label())),
        "exclusive_process" | "exclusive_thread" if !others.is_empty() => Some(format!(
            "{}: compute mode {}, held by {}",
            gpu.label(),
            mode.to_ascii_uppercase(),
            others.join(", ")
        )),
        _ => None,
    }
}

/// A compute mode that refuses the job's CUDA context: PROHIBITED always,
/// EXCLUSIVE_PROCESS (or _THREAD) while another process holds the GPU.
/// TensorFlow then fails with CUDA_ERROR_DEVICE_UNAVAILABLE ("all
/// CUDA-capable devices are busy or unavailable").
pub(super) fn gpu_compute_mode_blocks(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(driver) = f.driver.found() else {
        return vec![];
    };
    let blocked: Vec<String> = driver
        .gpus
        .iter()
        .filter_map(|g| blocking_mode(g, &f.host.mps))
        .collect();
    if blocked.is_empty() {
        return vec![];
    }
    finding(
        Severity::Error,
        format!(
            "the compute mode lets no new CUDA context onto {}: TensorFlow fails with CUDA_ERROR_DEVICE_UNAVAILABLE (all CUDA-capable devices are busy or unavailable)",
            if blocked.len() == 1 { "this GPU" } else { "these GPUs" }
        ),
        "wait for or stop the process that holds an exclusive GPU, or set the mode back to DEFAULT (`nvidia-smi -c DEFAULT -i INDEX`, as root); on Kubernetes, let the device plugin give each pod its own GPUs".into(),
        blocked,
    )
}
