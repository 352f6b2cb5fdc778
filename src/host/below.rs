//! What lies below the driver, read from files under the host root: the
//! NVIDIA functions on the PCI bus and the driver bound to each, and the
//! kernel modules, loaded and installed. What an engineer checks first when
//! NVML does not answer; nothing here needs root or changes the machine.

use serde::{Deserialize, Serialize};
use std::fs;
use std::path::Path;

/// PCI vendor ID of NVIDIA.
const NVIDIA_VENDOR: &str = "0x10de";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Below {
    /// The PCI bus; an error when `sys/bus/pci/devices` cannot be read.
    #[serde(with = "crate::json_shape::result")]
    pub pci: Result<PciBus, String>,
    /// The kernel modules; an error when `proc/modules` cannot be read.
    #[serde(with = "crate::json_shape::result")]
    pub modules: Result<Modules, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PciBus {
    /// How many PCI functions the bus has, NVIDIA's or not.
    pub functions: usize,
    /// NVIDIA's display and 3D controllers (PCI class 0x03xx).
    pub nvidia: Vec<PciGpu>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PciGpu {
    /// `0000:17:00.0`
    pub address: String,
    /// `10de:2330`: its name where NVML cannot give one.
    pub device: String,
    /// The kernel driver bound to it (`nvidia`, `nouveau`, `vfio-pci`);
    /// None when no driver holds it.
    pub driver: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Modules {
    /// The running kernel (`proc/sys/kernel/osrelease`).
    pub running_kernel: String,
    /// Loaded modules of the NVIDIA driver and nouveau (`proc/modules`).
    pub loaded: Vec<String>,
    /// The kernels under `lib/modules` that have an NVIDIA module file
    /// (`nvidia.ko`, compressed or not), as DKMS, the distribution's
    /// packages or the `.run` installer put it; empty when none has one or
    /// `lib/modules` is not there.
    pub nvidia_module_for: Vec<String>,
}

impl Modules {
    pub fn nvidia_loaded(&self) -> bool {
        self.loaded.iter().any(|m| m == "nvidia")
    }
}

impl Below {
    /// Nothing read: the host of facts made up by the checks' tests.
    pub fn unread() -> Below {
        Below {
            pci: Err("not read".into()),
            modules: Err("not read".into()),
        }
    }

    pub fn gather(root: &Path) -> Below {
        Below {
            pci: pci_bus(root),
            modules: modules(root),
        }
    }
}

fn read(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn pci_bus(root: &Path) -> Result<PciBus, String> {
    let dir = root.join("sys/bus/pci/devices");
    let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut bus = PciBus {
        functions: 0,
        nvidia: Vec::new(),
    };
    for entry in entries.flatten() {
        bus.functions += 1;
        let path = entry.path();
        let is_display = read(&path.join("class")).is_some_and(|c| c.starts_with("0x03"));
        if read(&path.join("vendor")).as_deref() != Some(NVIDIA_VENDOR) || !is_display {
            continue;
        }
        let device = read(&path.join("device")).unwrap_or_default();
        bus.nvidia.push(PciGpu {
            address: entry.file_name().to_string_lossy().into_owned(),
            device: format!("10de:{}", device.trim_start_matches("0x")),
            driver: fs::read_link(path.join("driver"))
                .ok()
                .and_then(|target| target.file_name().map(|n| n.to_string_lossy().into_owned())),
        });
    }
    bus.nvidia.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(bus)
}

fn modules(root: &Path) -> Result<Modules, String> {
    let proc_modules = root.join("proc/modules");
    let text = fs::read_to_string(&proc_modules)
        .map_err(|e| format!("{}: {e}", proc_modules.display()))?;
    let loaded = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|m| m.starts_with("nvidia") || *m == "nouveau")
        .map(str::to_string)
        .collect();
    let running_kernel = read(&root.join("proc/sys/kernel/osrelease")).unwrap_or_default();
    let mut nvidia_module_for: Vec<String> = fs::read_dir(root.join("lib/modules"))
        .map(|kernels| {
            kernels
                .flatten()
                .filter(|k| has_nvidia_module(&k.path(), 0))
                .map(|k| k.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    nvidia_module_for.sort();
    Ok(Modules {
        running_kernel,
        loaded,
        nvidia_module_for,
    })
}

/// Whether a kernel's module tree holds `nvidia.ko` (or `.ko.xz`, `.ko.zst`,
/// `.ko.gz`); symlinks are not followed (`build`, `source` point at sources).
fn has_nvidia_module(dir: &Path, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        match entry.file_type() {
            Ok(t) if t.is_dir() => has_nvidia_module(&entry.path(), depth + 1),
            Ok(t) if t.is_file() => name == "nvidia.ko" || name.starts_with("nvidia.ko."),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(root: &Path, address: &str, vendor: &str, class: &str, driver: Option<&str>) {
        let dir = root.join("sys/bus/pci/devices").join(address);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("vendor"), format!("{vendor}\n")).unwrap();
        fs::write(dir.join("device"), "0x2330\n").unwrap();
        fs::write(dir.join("class"), format!("{class}\n")).unwrap();
        if let Some(driver) = driver {
            let target = root.join("sys/bus/pci/drivers").join(driver);
            fs::create_dir_all(&target).unwrap();
            std::os::unix::fs::symlink(&target, dir.join("driver")).unwrap();
        }
    }

    #[test]
    fn nvidia_display_functions_and_their_drivers_are_read() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        function(r, "0000:00:01.0", "0x1af4", "0x020000", Some("virtio-pci"));
        function(r, "0000:17:00.0", "0x10de", "0x030200", Some("nouveau"));
        function(r, "0000:18:00.0", "0x10de", "0x030000", None);
        // NVIDIA's audio function of the same card is not a GPU.
        function(
            r,
            "0000:17:00.1",
            "0x10de",
            "0x040300",
            Some("snd_hda_intel"),
        );
        let bus = pci_bus(r).unwrap();
        assert_eq!(bus.functions, 4);
        assert_eq!(
            bus.nvidia,
            [
                PciGpu {
                    address: "0000:17:00.0".into(),
                    device: "10de:2330".into(),
                    driver: Some("nouveau".into())
                },
                PciGpu {
                    address: "0000:18:00.0".into(),
                    device: "10de:2330".into(),
                    driver: None
                }
            ]
        );
        assert!(pci_bus(&r.join("nowhere")).is_err());
    }

    #[test]
    fn modules_loaded_and_installed_per_kernel() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("proc/sys/kernel")).unwrap();
        fs::write(r.join("proc/sys/kernel/osrelease"), "6.8.0-49-generic\n").unwrap();
        fs::write(
            r.join("proc/modules"),
            "nouveau 2772992 0 - Live 0x0\ndrm 1 2 nouveau, Live 0x0\n",
        )
        .unwrap();
        let old = r.join("lib/modules/6.8.0-45-generic/updates/dkms");
        fs::create_dir_all(&old).unwrap();
        fs::write(old.join("nvidia.ko.zst"), "").unwrap();
        fs::create_dir_all(r.join("lib/modules/6.8.0-49-generic/kernel")).unwrap();
        let modules = modules(r).unwrap();
        assert_eq!(modules.running_kernel, "6.8.0-49-generic");
        assert_eq!(modules.loaded, ["nouveau"]);
        assert!(!modules.nvidia_loaded());
        assert_eq!(modules.nvidia_module_for, ["6.8.0-45-generic"]);
    }
}
