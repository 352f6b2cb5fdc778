//! Rules of the `DeviceVisibility` family: the environment hides the GPUs from CUDA.

use super::*;

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

pub(super) fn visible_devices_hide_all(e: &Evidence) -> Vec<Finding> {
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
