//! What lies below the driver, read from files under the host root: the
//! NVIDIA functions on the PCI bus and the driver bound to each, and the
//! kernel modules, loaded and installed, and whether the firmware lets an
//! unsigned module load. What an engineer checks first when NVML does not
//! answer; nothing here needs root or changes the machine.

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
    /// Whether UEFI Secure Boot is on (its EFI variable); None where the
    /// machine did not boot through UEFI or the variable cannot be read.
    #[serde(default)]
    pub secure_boot: Option<bool>,
    /// The kernel's lockdown mode (`none`, `integrity`, `confidentiality`),
    /// where the kernel says it.
    #[serde(default)]
    pub lockdown: Option<String>,
}

/// The EFI variable that says whether Secure Boot is on: four bytes of
/// attributes, then one byte, 1 for on (UEFI specification, 3.3 "Globally
/// Defined Variables").
const SECURE_BOOT_VAR: &str =
    "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// Where distributions keep the PCI ID list (the `hwdata` and `pciutils`
/// packages), which names a device that NVML cannot.
const PCI_IDS: [&str; 3] = [
    "usr/share/hwdata/pci.ids",
    "usr/share/misc/pci.ids",
    "usr/share/pci.ids",
];

/// The most gpugate reads of the PCI ID list (about 1.4 MiB today).
const PCI_IDS_LIMIT: u64 = 16 << 20;

/// The first device ID of NVIDIA's Turing generation (TU102, 0x1e02): NVIDIA's
/// open kernel modules drive Turing and later only, and every earlier GPU
/// (Volta's GV100 is 0x1dbx) has a lower ID.
const FIRST_TURING_DEVICE: u16 = 0x1e00;

/// The first Blackwell device ID (GB100, 10de:2901): from Blackwell on,
/// only NVIDIA's open kernel modules drive a GPU.
const FIRST_BLACKWELL_DEVICE: u16 = 0x2900;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PciBus {
    /// How many PCI functions the bus has, NVIDIA's or not.
    pub functions: usize,
    /// NVIDIA's display and 3D controllers (PCI class 0x03xx).
    pub nvidia: Vec<PciGpu>,
    /// The addresses of NVIDIA's NVSwitches (PCI class 0x0680, a bridge):
    /// the fabric that nvidia-fabricmanager must bring up before CUDA runs.
    #[serde(default)]
    pub nvswitches: Vec<String>,
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
    /// Its name in the machine's PCI ID list, where there is one.
    #[serde(default)]
    pub name: Option<String>,
}

impl PciGpu {
    /// Whether this GPU is older than Turing, which NVIDIA's open kernel
    /// modules do not drive; None when the device ID does not parse.
    pub fn before_turing(&self) -> Option<bool> {
        let id = self.device.strip_prefix("10de:")?;
        u16::from_str_radix(id, 16)
            .ok()
            .map(|id| id < FIRST_TURING_DEVICE)
    }

    /// Whether this GPU is Blackwell or newer, which NVIDIA's proprietary
    /// kernel module does not drive; None when the device ID does not parse.
    pub fn needs_open_module(&self) -> Option<bool> {
        let id = self.device.strip_prefix("10de:")?;
        u16::from_str_radix(id, 16)
            .ok()
            .map(|id| id >= FIRST_BLACKWELL_DEVICE)
    }

    /// `0000:17:00.0 (NVIDIA L4, device 10de:27b8)`
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} ({name}, device {})", self.address, self.device),
            None => format!("{} (device {})", self.address, self.device),
        }
    }
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
    /// `open` or `proprietary`: the flavour of the loaded NVIDIA module, from
    /// `proc/driver/nvidia/version`; None when none is loaded.
    #[serde(default)]
    pub nvidia_flavour: Option<String>,
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
            secure_boot: None,
            lockdown: None,
        }
    }

    pub fn gather(root: &Path) -> Below {
        Below {
            pci: pci_bus(root),
            modules: modules(root),
            secure_boot: secure_boot(root),
            lockdown: lockdown(root),
        }
    }
}

fn read(path: &Path) -> Option<String> {
    crate::input::host_value(path)
}

fn pci_bus(root: &Path) -> Result<PciBus, String> {
    let dir = root.join("sys/bus/pci/devices");
    let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut bus = PciBus {
        functions: 0,
        nvidia: Vec::new(),
        nvswitches: Vec::new(),
    };
    for entry in entries.flatten() {
        bus.functions += 1;
        let path = entry.path();
        if read(&path.join("vendor")).as_deref() != Some(NVIDIA_VENDOR) {
            continue;
        }
        let class = read(&path.join("class")).unwrap_or_default();
        if class.starts_with("0x0680") {
            bus.nvswitches
                .push(entry.file_name().to_string_lossy().into_owned());
            continue;
        }
        if !class.starts_with("0x03") {
            continue;
        }
        let device = read(&path.join("device")).unwrap_or_default();
        bus.nvidia.push(PciGpu {
            address: entry.file_name().to_string_lossy().into_owned(),
            device: format!("10de:{}", device.trim_start_matches("0x")),
            driver: fs::read_link(path.join("driver"))
                .ok()
                .and_then(|target| target.file_name().map(|n| n.to_string_lossy().into_owned())),
            name: None,
        });
    }
    bus.nvidia.sort_by(|a, b| a.address.cmp(&b.address));
    bus.nvswitches.sort();
    if !bus.nvidia.is_empty()
        && let Some(ids) = PCI_IDS
            .iter()
            .find_map(|p| crate::input::read_text(&root.join(p), PCI_IDS_LIMIT).ok())
    {
        for gpu in &mut bus.nvidia {
            gpu.name = nvidia_device_name(&ids, &gpu.device);
        }
    }
    Ok(bus)
}

/// The name `pci.ids` gives an NVIDIA device (`10de:27b8`): a device line
/// (one tab, the ID, two spaces, the name) inside the vendor's block.
fn nvidia_device_name(ids: &str, device: &str) -> Option<String> {
    let id = device.strip_prefix("10de:")?;
    ids.lines()
        .skip_while(|l| !l.starts_with("10de "))
        .skip(1)
        .take_while(|l| l.starts_with('\t') || l.starts_with('#') || l.is_empty())
        .find_map(|l| {
            let rest = l.strip_prefix('\t')?;
            let (dev, name) = rest.split_once(' ')?;
            (dev.eq_ignore_ascii_case(id)).then(|| name.trim().to_string())
        })
}

fn secure_boot(root: &Path) -> Option<bool> {
    let bytes = crate::input::read(&root.join(SECURE_BOOT_VAR), 64).ok()?;
    bytes.get(4).map(|b| *b == 1)
}

/// The bracketed mode of `sys/kernel/security/lockdown` (`none [integrity]
/// confidentiality`).
fn lockdown(root: &Path) -> Option<String> {
    let text = read(&root.join("sys/kernel/security/lockdown"))?;
    let (_, rest) = text.split_once('[')?;
    rest.split_once(']').map(|(mode, _)| mode.to_string())
}

/// The loaded module's flavour: its version line says "Open Kernel Module"
/// for the open one (NVIDIA's open-gpu-kernel-modules).
fn nvidia_flavour(root: &Path) -> Option<String> {
    let text = read(&root.join("proc/driver/nvidia/version"))?;
    let first = text.lines().next()?;
    Some(if first.contains("Open Kernel Module") {
        "open".into()
    } else {
        "proprietary".into()
    })
}

fn modules(root: &Path) -> Result<Modules, String> {
    let proc_modules = root.join("proc/modules");
    let text = crate::input::read_text(&proc_modules, crate::input::HOST_FILE_LIMIT)
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
        nvidia_flavour: nvidia_flavour(root),
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
                    driver: Some("nouveau".into()),
                    name: None
                },
                PciGpu {
                    address: "0000:18:00.0".into(),
                    device: "10de:2330".into(),
                    driver: None,
                    name: None
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

    #[test]
    fn devices_are_named_from_the_pci_id_list() {
        let ids = "# comment\n10de  NVIDIA Corporation\n\t15f8  GP100GL [Tesla P100 PCIe 16GB]\n\t\t10de 118f  Tesla P100 PCIe 16GB\n\t2330  GH100 [H100 SXM5 80GB]\n10df  Emulex Corporation\n\t2330  Not NVIDIA's\n";
        assert_eq!(
            nvidia_device_name(ids, "10de:2330").as_deref(),
            Some("GH100 [H100 SXM5 80GB]")
        );
        assert_eq!(
            nvidia_device_name(ids, "10de:15F8").as_deref(),
            Some("GP100GL [Tesla P100 PCIe 16GB]")
        );
        assert_eq!(nvidia_device_name(ids, "10de:118f"), None);
        assert_eq!(nvidia_device_name(ids, "10de:9999"), None);
        let p100 = PciGpu {
            address: "0000:00:04.0".into(),
            device: "10de:15f8".into(),
            driver: None,
            name: None,
        };
        assert_eq!(p100.before_turing(), Some(true));
        assert_eq!(p100.label(), "0000:00:04.0 (device 10de:15f8)");
        let t4 = PciGpu {
            device: "10de:1eb8".into(),
            ..p100
        };
        assert_eq!(t4.before_turing(), Some(false));
    }

    #[test]
    fn secure_boot_lockdown_and_the_module_flavour_are_read() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        assert_eq!(secure_boot(r), None);
        assert_eq!(lockdown(r), None);
        assert_eq!(nvidia_flavour(r), None);
        let vars = r.join("sys/firmware/efi/efivars");
        fs::create_dir_all(&vars).unwrap();
        let var = r.join(SECURE_BOOT_VAR);
        fs::write(&var, [6, 0, 0, 0, 1]).unwrap();
        assert_eq!(secure_boot(r), Some(true));
        fs::write(&var, [6, 0, 0, 0, 0]).unwrap();
        assert_eq!(secure_boot(r), Some(false));
        fs::create_dir_all(r.join("sys/kernel/security")).unwrap();
        fs::write(
            r.join("sys/kernel/security/lockdown"),
            "none [integrity] confidentiality\n",
        )
        .unwrap();
        assert_eq!(lockdown(r).as_deref(), Some("integrity"));
        fs::create_dir_all(r.join("proc/driver/nvidia")).unwrap();
        fs::write(
            r.join("proc/driver/nvidia/version"),
            "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build\n",
        )
        .unwrap();
        assert_eq!(nvidia_flavour(r).as_deref(), Some("open"));
        fs::write(
            r.join("proc/driver/nvidia/version"),
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n",
        )
        .unwrap();
        assert_eq!(nvidia_flavour(r).as_deref(), Some("proprietary"));
    }
}
