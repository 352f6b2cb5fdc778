//! Rules of the `Driver` family that read below the driver: the PCI bus and
//! the kernel modules. Each names the root cause that the NVML and device
//! node rules would only see the symptom of.

use super::*;
use crate::host::below::{Modules, PciBus, PciGpu};

fn pci(f: &Facts) -> Option<&PciBus> {
    f.host.below.pci.as_ref().ok()
}

fn modules(f: &Facts) -> Option<&Modules> {
    f.host.below.modules.as_ref().ok()
}

/// No NVIDIA kernel driver answers (the symptom every rule below starts from).
fn no_kernel_driver(f: &Facts) -> bool {
    f.host.nvidia.is_err() && !f.host.wsl
}

fn label(gpu: &PciGpu) -> String {
    gpu.label()
}

/// The machine has a PCI bus and no NVIDIA GPU on it: a CPU machine, a
/// runner picked by the wrong label, an instance type without a GPU.
/// Installing a driver would change nothing.
pub(super) fn no_nvidia_gpu(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(bus) = pci(f) else {
        return vec![];
    };
    if !no_kernel_driver(f) || !bus.nvidia.is_empty() || bus.functions == 0 {
        return vec![];
    }
    finding(
        Severity::Error,
        format!(
            "this machine has no NVIDIA GPU: none of the {} functions on its PCI bus is NVIDIA's",
            bus.functions
        ),
        "run the job where there is a GPU: check the runner labels the job asks for (`runs-on:`, GitLab `tags:`), the Kubernetes node selector or `nvidia.com/gpu` request, or the cloud instance type; installing a driver here changes nothing".into(),
        vec![
            format!(
                "{}/sys/bus/pci/devices: {} functions, none with vendor 0x10de",
                root_prefix(f),
                bus.functions
            ),
            kernel_driver_evidence(f),
        ],
    )
}

/// An NVIDIA GPU is on the bus, but another driver holds it (nouveau, a
/// passthrough driver) or none does, and the NVIDIA module is not loaded.
pub(super) fn gpu_held_by_other_driver(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(bus) = pci(f) else {
        return vec![];
    };
    if !no_kernel_driver(f) || modules(f).is_some_and(Modules::nvidia_loaded) {
        return vec![];
    }
    // No driver holding a GPU because the module exists only for another
    // kernel, or because the kernel refuses it, is another rule's to tell.
    let module_elsewhere =
        module_only_for_other_kernels(f).is_some() || module_refused_by_secure_boot(f).is_some();
    let held: Vec<&PciGpu> = bus
        .nvidia
        .iter()
        .filter(|g| g.driver.as_deref() != Some("nvidia"))
        .filter(|g| !(g.driver.is_none() && module_elsewhere))
        .collect();
    if held.is_empty() {
        return vec![];
    }
    let holders: Vec<String> = held
        .iter()
        .map(|g| {
            format!(
                "{} held by {}",
                label(g),
                g.driver.as_deref().unwrap_or("no driver")
            )
        })
        .collect();
    let fix = match held[0].driver.as_deref() {
        Some("nouveau") => "the open-source nouveau driver holds the GPU: blacklist it (`echo -e 'blacklist nouveau\\noptions nouveau modeset=0' > /etc/modprobe.d/blacklist-nouveau.conf`), rebuild the initramfs (`update-initramfs -u` or `dracut --force`), reboot, and install or load the NVIDIA driver".to_string(),
        Some(passthrough @ ("vfio-pci" | "pci-stub")) => format!(
            "{passthrough} holds the GPU for passthrough to a virtual machine: unbind it from {passthrough} (and remove it from the vfio-pci ids on the kernel command line) if this host should use it, or run the job inside the VM that owns it"
        ),
        _ => "no driver holds the GPU: load the NVIDIA module (`modprobe nvidia`; `dmesg | grep -i nvrm` says why it fails), or install the NVIDIA driver for this kernel".to_string(),
    };
    let mut evidence = holders.clone();
    if let Some(m) = modules(f) {
        evidence.push(format!(
            "loaded modules: {}",
            if m.loaded.is_empty() {
                "no NVIDIA or nouveau module".to_string()
            } else {
                m.loaded.join(", ")
            }
        ));
    }
    evidence.push(kernel_driver_evidence(f));
    finding(
        Severity::Error,
        format!(
            "the NVIDIA driver does not hold this machine's GPU: {}",
            holders.join("; ")
        ),
        fix,
        evidence,
    )
}

/// The NVIDIA module was built for another kernel than the running one
/// (DKMS built it for the previous kernel; the new one booted without it).
/// The modules, where no NVIDIA module is loaded and `nvidia.ko` exists only
/// for kernels other than the running one.
fn module_only_for_other_kernels(f: &Facts) -> Option<&Modules> {
    modules(f).filter(|m| {
        no_kernel_driver(f)
            && !m.nvidia_loaded()
            && !m.nvidia_module_for.is_empty()
            && !m.nvidia_module_for.contains(&m.running_kernel)
    })
}

pub(super) fn nvidia_module_for_other_kernel(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(m) = module_only_for_other_kernels(f) else {
        return vec![];
    };
    finding(
        Severity::Error,
        format!(
            "the NVIDIA kernel module exists only for kernel {}, and this machine runs {}",
            m.nvidia_module_for.join(", "),
            m.running_kernel
        ),
        format!(
            "build it for the running kernel: install its headers (`apt-get install linux-headers-{}` or `dnf install kernel-devel-{}`) and run `dkms autoinstall`, then `modprobe nvidia`; or boot {}",
            m.running_kernel,
            m.running_kernel,
            m.nvidia_module_for.last().map_or("", String::as_str)
        ),
        vec![
            format!(
                "{}/lib/modules/{}: no nvidia.ko",
                root_prefix(f),
                m.running_kernel
            ),
            format!("nvidia.ko found for: {}", m.nvidia_module_for.join(", ")),
            kernel_driver_evidence(f),
        ],
    )
}

/// Whether the firmware or the kernel refuses unsigned modules: Secure Boot
/// on, or a kernel lockdown mode (which enforces module signatures).
fn signatures_enforced(f: &Facts) -> Option<String> {
    let below = &f.host.below;
    if below.secure_boot == Some(true) {
        return Some("Secure Boot is on".into());
    }
    below
        .lockdown
        .as_deref()
        .filter(|mode| *mode != "none")
        .map(|mode| format!("the kernel is locked down ({mode})"))
}

/// The modules, where no NVIDIA module is loaded although one exists for the
/// running kernel, and the machine enforces module signatures.
fn module_refused_by_secure_boot(f: &Facts) -> Option<(&Modules, String)> {
    let why = signatures_enforced(f)?;
    modules(f)
        .filter(|m| {
            no_kernel_driver(f)
                && !m.nvidia_loaded()
                && m.nvidia_module_for.contains(&m.running_kernel)
        })
        .map(|m| (m, why))
}

/// The NVIDIA module is built for the running kernel but not loaded, and
/// Secure Boot (or lockdown) refuses a module not signed by a key the
/// machine trusts: DKMS signs with its own key, which must be enrolled.
pub(super) fn secure_boot_blocks_module(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((m, why)) = module_refused_by_secure_boot(f) else {
        return vec![];
    };
    let mut evidence = vec![format!(
        "{}/lib/modules/{}: nvidia.ko present; not in {}/proc/modules",
        root_prefix(f),
        m.running_kernel,
        root_prefix(f)
    )];
    if f.host.below.secure_boot == Some(true) {
        evidence.push(format!(
            "{}/sys/firmware/efi/efivars/SecureBoot-*: enabled",
            root_prefix(f)
        ));
    }
    if let Some(mode) = &f.host.below.lockdown {
        evidence.push(format!(
            "{}/sys/kernel/security/lockdown: [{mode}]",
            root_prefix(f)
        ));
    }
    evidence.push(kernel_driver_evidence(f));
    finding(
        Severity::Error,
        format!(
            "{why} and the NVIDIA module for kernel {} is installed but not loaded: the kernel refuses a module not signed by a key it trusts",
            m.running_kernel
        ),
        "enroll the key the module was signed with (DKMS: `mokutil --import /var/lib/dkms/mok.pub`, reboot and confirm in the MOK manager), or install the distribution's signed driver packages, or turn Secure Boot off in the firmware; then `modprobe nvidia` (`dmesg | grep -i 'key was rejected'` confirms the cause)".into(),
        evidence,
    )
}

/// A kernel module flavour and the GPUs it does not drive: the module
/// loads, leaves them uninitialised, and NVML and CUDA see no GPU there
/// although one is on the bus.
struct FlavourLimit {
    flavour: &'static str,
    refuses: fn(&crate::host::below::PciGpu) -> Option<bool>,
    cause: &'static str,
    fix: &'static str,
    version_line: &'static str,
    which: &'static str,
}

fn flavour_refuses(e: &Evidence, limit: &FlavourLimit) -> Vec<Finding> {
    let f = e.facts;
    let (Some(bus), Some(m)) = (pci(f), modules(f)) else {
        return vec![];
    };
    if m.nvidia_flavour.as_deref() != Some(limit.flavour) {
        return vec![];
    }
    let refused: Vec<String> = bus
        .nvidia
        .iter()
        .filter(|g| (limit.refuses)(g) == Some(true))
        .map(label)
        .collect();
    if refused.is_empty() {
        return vec![];
    }
    finding(
        Severity::Error,
        format!("{}: {}", limit.cause, refused.join("; ")),
        limit.fix.into(),
        vec![
            format!(
                "{}/proc/driver/nvidia/version: {}",
                root_prefix(f),
                limit.version_line
            ),
            format!("{}: {}", limit.which, refused.join("; ")),
            kernel_driver_evidence(f),
        ],
    )
}

/// NVIDIA's open kernel module with a GPU older than Turing.
pub(super) fn open_module_unsupported_gpu(e: &Evidence) -> Vec<Finding> {
    flavour_refuses(
        e,
        &FlavourLimit {
            flavour: "open",
            refuses: crate::host::below::PciGpu::before_turing,
            cause: "NVIDIA's open kernel module is loaded, and it does not drive GPUs older than Turing",
            fix: "install the proprietary kernel module of the same driver (the `nvidia-driver-VERSION` package rather than `-open`, `nvidia-kernel-dkms` rather than `nvidia-kernel-open-dkms`, or the `.run` installer with `--kernel-module-type=proprietary`), then reboot",
            version_line: "Open Kernel Module",
            which: "before Turing (device ID below 10de:1e00)",
        },
    )
}

/// The mirror: the proprietary module with a Blackwell or newer GPU, which
/// only the open modules drive; no container flag brings it back.
pub(super) fn gpu_needs_open_module(e: &Evidence) -> Vec<Finding> {
    flavour_refuses(
        e,
        &FlavourLimit {
            flavour: "proprietary",
            refuses: crate::host::below::PciGpu::needs_open_module,
            cause: "NVIDIA's proprietary kernel module is loaded, and it does not drive Blackwell or newer GPUs, which need the open module",
            fix: "install the open kernel module of the same driver (the `-open` package, `nvidia-kernel-open-dkms`, or the `.run` installer with `--kernel-module-type=open`; R560 and newer install it by default), then reboot; `dmesg | grep -i 'open kernel modules'` shows the driver's own refusal",
            version_line: "the proprietary (not Open) Kernel Module",
            which: "Blackwell or newer (device ID 10de:2900 and up)",
        },
    )
}
