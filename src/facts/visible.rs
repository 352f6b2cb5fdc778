//! Which of the driver's GPUs a CUDA process sees, by CUDA's reading of
//! `CUDA_VISIBLE_DEVICES`: unset, all of them; otherwise the listed ordinals
//! or UUIDs (unique prefixes allowed), in the order listed, up to the first
//! entry that names no GPU; empty, none.

use super::driver::Gpu;

/// A GPU the list makes visible, and the entry that did.
#[derive(Debug, Clone)]
pub enum Visible<'a> {
    Gpu(&'a Gpu),
    /// A MIG instance: visible, but not one of NVML's whole GPUs.
    Mig(String),
}

impl PartialEq for Visible<'_> {
    /// The same GPU (by NVML index) or the same MIG instance.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Visible::Gpu(a), Visible::Gpu(b)) => a.index == b.index,
            (Visible::Mig(a), Visible::Mig(b)) => a == b,
            _ => false,
        }
    }
}

/// The GPUs a CUDA process would see, in its order. Ordinals are read as
/// NVML's indices, which is CUDA's order when CUDA_DEVICE_ORDER=PCI_BUS_ID
/// and, on machines of one GPU model, its default order too.
pub fn visible<'a>(gpus: &'a [Gpu], cuda_visible_devices: Option<&str>) -> Vec<Visible<'a>> {
    let Some(list) = cuda_visible_devices else {
        return gpus.iter().map(Visible::Gpu).collect();
    };
    let mut seen = Vec::new();
    for entry in list.split(',').map(str::trim) {
        let found = if entry.starts_with("MIG-") {
            Some(Visible::Mig(entry.to_string()))
        } else if let Ok(ordinal) = entry.parse::<u32>() {
            gpus.iter().find(|g| g.index == ordinal).map(Visible::Gpu)
        } else if entry.starts_with("GPU-") {
            let matching: Vec<&Gpu> = gpus
                .iter()
                .filter(|g| g.uuid.value().is_some_and(|u| u.starts_with(entry)))
                .collect();
            match matching[..] {
                [one] => Some(Visible::Gpu(one)),
                _ => None,
            }
        } else {
            None
        };
        match found {
            Some(v) if !seen.contains(&v) => seen.push(v),
            Some(_) => {}
            None => break,
        }
    }
    seen
}

/// `0000:00:05.0` and `00000000:00:05.0` name the same device.
pub fn same_pci_bus_id(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> Option<(u64, String)> {
        let (domain, rest) = s.split_once(':')?;
        Some((
            u64::from_str_radix(domain, 16).ok()?,
            rest.to_ascii_lowercase(),
        ))
    };
    match (norm(a), norm(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.eq_ignore_ascii_case(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::gpu;

    fn indices(v: &[Visible]) -> Vec<String> {
        v.iter()
            .map(|v| match v {
                Visible::Gpu(g) => g.index.to_string(),
                Visible::Mig(m) => m.clone(),
            })
            .collect()
    }

    #[test]
    fn cuda_visible_devices_is_read_as_cuda_reads_it() {
        let gpus: Vec<Gpu> = (0..4)
            .map(|i| gpu(i, "NVIDIA A100-SXM4-40GB", (8, 0)))
            .collect();
        let uuid1 = gpus[1].uuid.value().unwrap().clone();
        let see = |var: Option<&str>| indices(&visible(&gpus, var));
        assert_eq!(see(None), ["0", "1", "2", "3"]);
        assert_eq!(see(Some("")), Vec::<String>::new());
        assert_eq!(see(Some("2,0")), ["2", "0"]);
        assert_eq!(see(Some("-1")), Vec::<String>::new());
        // The list ends at the first entry that names no GPU.
        assert_eq!(see(Some("3,-1,0")), ["3"]);
        assert_eq!(see(Some("1,7,2")), ["1"]);
        assert_eq!(see(Some(&uuid1)), ["1"]);
        assert_eq!(see(Some(&uuid1[..12])), ["1"]);
        assert_eq!(see(Some("MIG-abc")), ["MIG-abc"]);
        assert_eq!(see(Some("0,0")), ["0"]);
    }

    #[test]
    fn pci_bus_ids_compare_across_domain_widths() {
        assert!(same_pci_bus_id("0000:00:05.0", "00000000:00:05.0"));
        assert!(same_pci_bus_id("0000:3B:00.0", "00000000:3b:00.0"));
        assert!(!same_pci_bus_id("0000:00:05.0", "00000000:00:06.0"));
    }
}
