//! Rules on what TensorFlow's GPU device does with the devices CUDA shows
//! it and the variables that tune it (`gpu_device.cc`,
//! `gpu_process_state.cc`, `gpu_bfc_allocator.cc`, XLA's
//! `gpu_cudamallocasync_allocator.cc`), told before TensorFlow runs.

use super::*;
use crate::facts::libraries::CudaDevice;

/// `kDefaultMinGPUMultiprocessorCount` in `gpu_device.cc`.
const DEFAULT_MIN_MULTIPROCESSORS: i32 = 8;

/// The devices CUDA enumerates for this process, when cuInit succeeded.
fn cuda_devices(f: &Facts) -> &[CudaDevice] {
    cuda_started(f).map_or(&[], |api| api.devices.as_slice())
}

/// TensorFlow's minimum SM count: TF_MIN_GPU_MULTIPROCESSOR_COUNT where it
/// is an integer ≥ 0, else min(8, the largest count among the devices).
fn min_multiprocessors(f: &Facts, devices: &[CudaDevice]) -> i32 {
    let default = devices
        .iter()
        .filter_map(|d| d.multiprocessors)
        .max()
        .map_or(DEFAULT_MIN_MULTIPROCESSORS, |max| {
            max.min(DEFAULT_MIN_MULTIPROCESSORS)
        });
    match f.host.var("TF_MIN_GPU_MULTIPROCESSOR_COUNT") {
        Some(v) if !v.is_empty() => v
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|n| *n >= 0)
            .unwrap_or(default),
        _ => default,
    }
}

pub(super) fn tensorflow_ignores_gpu(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let devices = cuda_devices(f);
    let min = min_multiprocessors(f, devices);
    let mut out = Vec::new();
    for device in devices {
        let Some(count) = device.multiprocessors.filter(|n| *n < min) else {
            continue;
        };
        let bus = device.pci_bus_id.as_deref().unwrap_or("bus id unknown");
        out.extend(finding(
            Severity::Warning,
            format!(
                "TensorFlow will ignore CUDA device {} ({bus}): it has {count} multiprocessors, below TensorFlow's minimum of {min} (\"Ignoring visible gpu device ... with core count: {count}. The minimum required count is {min}.\", logged at INFO, hidden by TF_CPP_MIN_LOG_LEVEL ≥ 1), so a job sees one GPU fewer than the machine has",
                device.ordinal
            ),
            format!(
                "hide it from CUDA where it is a display GPU (CUDA_VISIBLE_DEVICES without {0}), or let TensorFlow use it: TF_MIN_GPU_MULTIPROCESSOR_COUNT={count}",
                device.ordinal
            ),
            vec![format!(
                "cuDeviceGetAttribute(MULTIPROCESSOR_COUNT) of device {}: {count}; TensorFlow's minimum here: {min}",
                device.ordinal
            )],
        ));
    }
    out
}

/// TF_GPU_ALLOCATOR=cuda_malloc_async on a device without memory pools:
/// XLA's allocator aborts the process (LOG(FATAL)) when TensorFlow creates
/// the GPU device.
pub(super) fn gpu_allocator_unsupported(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    if f.host.var("TF_GPU_ALLOCATOR") != Some("cuda_malloc_async") {
        return vec![];
    }
    let without: Vec<&CudaDevice> = cuda_devices(f)
        .iter()
        .filter(|d| d.memory_pools == Some(false))
        .collect();
    if without.is_empty() {
        return vec![];
    }
    let ordinals: Vec<String> = without.iter().map(|d| d.ordinal.to_string()).collect();
    finding(
        Severity::Error,
        format!(
            "TF_GPU_ALLOCATOR=cuda_malloc_async, but CUDA device(s) {} do not support memory pools: TensorFlow aborts when it creates the GPU device (\"TF_GPU_ALLOCATOR=cuda_malloc_async isn't currently supported on GPU id ...\"); some vGPU profiles answer so",
            ordinals.join(", ")
        ),
        "unset TF_GPU_ALLOCATOR (TensorFlow's default BFC allocator works everywhere), or run on a GPU and driver that support memory pools (SM 6.0+, CUDA 11.2+, not every vGPU profile)".into(),
        vec![format!(
            "cuDeviceGetAttribute(MEMORY_POOLS_SUPPORTED) = 0 for device(s) {}",
            ordinals.join(", ")
        )],
    )
}

/// What TensorFlow's GPU device does with a variable's value: nothing
/// wrong (None), or a finding.
fn judge_variable(name: &str, value: &str) -> Option<(Severity, String, String)> {
    match name {
        "TF_GPU_ALLOCATOR"
            if !["cuda_malloc_async", "cuda_malloc", "memory_guard"].contains(&value) =>
        {
            Some((
                Severity::Warning,
                format!(
                    "TF_GPU_ALLOCATOR={value:?} is not an allocator TensorFlow knows (cuda_malloc_async, cuda_malloc, memory_guard; exact and case-sensitive): it is ignored without a word and the default BFC allocator runs"
                ),
                "set TF_GPU_ALLOCATOR=cuda_malloc_async (or unset it)".into(),
            ))
        }
        "TF_GPU_THREAD_MODE"
            if !["global", "gpu_private", "gpu_shared"]
                .contains(&value.to_lowercase().as_str()) =>
        {
            Some((
                Severity::Error,
                format!(
                    "TF_GPU_THREAD_MODE={value:?} is not a thread mode TensorFlow knows (global, gpu_private, gpu_shared): creating the GPU device fails (\"Invalid gpu_thread_mode\"), so no GPU is registered"
                ),
                "unset TF_GPU_THREAD_MODE or set it to gpu_private".into(),
            ))
        }
        "TF_FORCE_GPU_ALLOW_GROWTH" | "TF_ENABLE_GPU_GARBAGE_COLLECTION"
            if value != "true" && value != "false" =>
        {
            Some((
                Severity::Warning,
                format!(
                    "{name}={value:?} is neither \"true\" nor \"false\" (exact, lower case): TensorFlow logs that it could not parse it and ignores it"
                ),
                format!("set {name}=true or {name}=false"),
            ))
        }
        "TF_MIN_GPU_MULTIPROCESSOR_COUNT"
            if !value.is_empty()
                && value
                    .trim()
                    .parse::<i32>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .is_none() =>
        {
            Some((
                Severity::Warning,
                format!(
                    "TF_MIN_GPU_MULTIPROCESSOR_COUNT={value:?} is not a count (an integer ≥ 0): TensorFlow logs \"Invalid minimum GPU multiprocessor count\" and uses its default"
                ),
                "set it to an integer (0 keeps every GPU) or unset it".into(),
            ))
        }
        _ if crate::host::PROFILING_VARS.contains(&name) => Some((
            Severity::Warning,
            format!(
                "{name} is set: DCGM warns of it as a CUDA profiling, injection or debugging variable that can slow the GPU's work (\"Found CUDA performance-limiting environment variable\")"
            ),
            format!("unset {name} on the runner unless a profiler is meant to run"),
        )),
        _ => None,
    }
}

pub(super) fn environment_misconfigured(e: &Evidence) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, value) in &e.facts.host.env {
        let Some(value) = value else {
            continue;
        };
        if let Some((severity, cause, fix)) = judge_variable(name, value) {
            out.extend(finding(
                severity,
                cause,
                fix,
                vec![format!("{name}={value:?} in gpugate's environment")],
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::judge_variable;
    use crate::finding::Severity;

    #[test]
    fn each_variable_is_judged_as_tensorflow_reads_it() {
        assert!(judge_variable("TF_GPU_ALLOCATOR", "cuda_malloc_async").is_none());
        assert_eq!(
            judge_variable("TF_GPU_ALLOCATOR", "CUDA_MALLOC_ASYNC").map(|j| j.0),
            Some(Severity::Warning)
        );
        assert!(judge_variable("TF_GPU_THREAD_MODE", "GPU_PRIVATE").is_none());
        assert_eq!(
            judge_variable("TF_GPU_THREAD_MODE", "private").map(|j| j.0),
            Some(Severity::Error)
        );
        assert!(judge_variable("TF_FORCE_GPU_ALLOW_GROWTH", "true").is_none());
        assert!(judge_variable("TF_FORCE_GPU_ALLOW_GROWTH", "1").is_some());
        assert!(judge_variable("TF_MIN_GPU_MULTIPROCESSOR_COUNT", "0").is_none());
        assert!(judge_variable("TF_MIN_GPU_MULTIPROCESSOR_COUNT", "-1").is_some());
        assert!(judge_variable("CUDA_INJECTION64_PATH", "/x.so").is_some());
        assert!(judge_variable("CUDA_MPS_PIPE_DIRECTORY", "/tmp/mps").is_none());
        assert!(judge_variable("CUDA_VISIBLE_DEVICES", "0").is_none());
    }
}
