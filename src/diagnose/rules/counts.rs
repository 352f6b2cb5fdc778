//! Rules of the `GpuHealth` family that compare what each layer counts: the
//! kernel driver (`/proc/driver/nvidia/gpus`), NVML, and the CUDA driver
//! API (`cuDeviceGetCount` after `cuInit`). A GPU one layer has and the next
//! lacks is one no job can use, whatever the host root shows of `/sys`.

use super::*;

/// The counts each layer gave, and the reasons a difference is expected.
struct Counts {
    kernel: usize,
    nvml: usize,
    cuda: Option<i32>,
    /// `/dev/nvidiaN` nodes: in a container, the GPUs it was given.
    device_nodes: usize,
}

fn counts(f: &Facts) -> Option<Counts> {
    let kernel = f.host.nvidia.as_ref().ok()?.gpus;
    let nvml = f.driver.found()?.gpus.len();
    let cuda = cuda_started(f).and_then(|api| api.device_count);
    let device_nodes = f
        .host
        .dev_nodes
        .iter()
        .filter(|n| {
            n.strip_prefix("nvidia")
                .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
        })
        .count();
    Some(Counts {
        kernel,
        nvml,
        cuda,
        device_nodes,
    })
}

pub(super) fn gpu_counts_disagree(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let (Some(c), Some(driver)) = (counts(f), f.driver.found()) else {
        return vec![];
    };
    // A container sees every GPU in /proc but is given some: the device
    // nodes say which. Elsewhere NVML must list what the kernel driver has.
    let given = if f.host.container.is_some() && c.device_nodes < c.kernel {
        c.device_nodes
    } else {
        c.kernel
    };
    let reachable = driver
        .gpus
        .iter()
        .filter(|g| g.unreachable.is_none())
        .count();
    // CUDA counts MIG devices and obeys CUDA_VISIBLE_DEVICES: its count is
    // comparable only on whole GPUs with nothing hidden.
    let cuda_comparable = f
        .host
        .env
        .iter()
        .all(|(name, value)| name != "CUDA_VISIBLE_DEVICES" || value.is_none())
        && driver
            .gpus
            .iter()
            .all(|g| g.mig_enabled.value() != Some(&true));
    let mut gaps = Vec::new();
    // gpu-unreachable and gpu-missing-from-nvml tell NVML's gap when /sys
    // shows the functions; this tells it from /proc alone.
    let told = !f.silent_functions(driver).is_empty()
        || driver.gpus.iter().any(|g| g.unreachable.is_some());
    if c.nvml < given && !told {
        gaps.push(format!(
            "NVML lists {} GPU(s) where the kernel driver has {given}",
            c.nvml
        ));
    }
    if let Some(cuda) = c.cuda.filter(|_| cuda_comparable)
        && (cuda as usize) < reachable
    {
        gaps.push(format!(
            "CUDA (cuDeviceGetCount) finds {cuda} device(s) where NVML reaches {reachable} GPU(s)"
        ));
    }
    if gaps.is_empty() {
        return vec![];
    }
    let mut evidence = vec![
        format!(
            "kernel driver: {} GPU(s) in {}/proc/driver/nvidia/gpus",
            c.kernel,
            root_prefix(f)
        ),
        format!(
            "NVML (nvmlDeviceGetCount): {} GPU(s), {reachable} reachable",
            c.nvml
        ),
        match c.cuda {
            Some(n) => format!("CUDA driver API (cuInit, cuDeviceGetCount): {n} device(s)"),
            None => "CUDA driver API: not counted (cuInit failed or libcuda not probed)".into(),
        },
    ];
    if f.host.container.is_some() {
        evidence.push(format!(
            "in a container with {} /dev/nvidiaN node(s)",
            c.device_nodes
        ));
    }
    finding(
        Severity::Error,
        format!(
            "the driver's layers count different GPUs: {}; the GPUs missing from a layer can run nothing",
            gaps.join("; ")
        ),
        "read `dmesg | grep -iE 'nvrm|xid'` for the GPUs the driver could not initialise; compare `ls /proc/driver/nvidia/gpus` with `nvidia-smi -L`; reset the GPU (`nvidia-smi -r`) or reboot, and service one that fails again; in a container, pass the GPUs' device nodes (`--gpus`, the device plugin)".into(),
        evidence,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{facts_with_driver, gpu};

    fn judged(f: &Facts) -> Vec<Finding> {
        gpu_counts_disagree(&Evidence { facts: f, log: "" })
    }

    fn two_in_proc_one_in_nvml() -> Facts {
        let mut f = facts_with_driver("580.65.06", &[gpu(0, "H100", (9, 0))]);
        if let Ok(p) = &mut f.host.nvidia {
            p.gpus = 2;
        }
        f
    }

    #[test]
    fn a_gpu_the_kernel_has_and_nvml_lacks_is_an_error_outside_a_container() {
        let found = judged(&two_in_proc_one_in_nvml());
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .cause
                .contains("NVML lists 1 GPU(s) where the kernel driver has 2"),
            "{found:?}"
        );
    }

    /// A pod given one GPU of the host's two: /proc shows both, the device
    /// nodes and NVML one. That is the container's share, not a lost GPU;
    /// given both nodes, NVML must list both.
    #[test]
    fn a_container_given_some_gpus_is_judged_by_its_device_nodes() {
        let mut f = two_in_proc_one_in_nvml();
        f.host.container = Some("kubernetes".into());
        assert!(judged(&f).is_empty());
        f.host.dev_nodes.push("nvidia1".into());
        assert_eq!(judged(&f).len(), 1);
    }
}
