//! The NVIDIA driver and its GPUs as NVML reports them. [`probe`] runs in a
//! worker only: NVML is native code that can crash or hang.

pub use super::field::{Field, NVML_SONAME};
use crate::compat::Capability;
use crate::dl::Library;
use crate::version::Version;
use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::{
    ComputeMode, EccCounter, MemoryError, TemperatureSensor,
};
use nvml_wrapper::error::NvmlError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the driver probe found; every way it can end is a value.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DriverProbe {
    Found(Driver),
    /// No libnvidia-ml could be loaded: each place tried and the loader's error.
    LibraryMissing {
        #[serde(with = "crate::json_shape::pairs")]
        tried: Vec<(String, String)>,
    },
    /// The library loaded but `nvmlInit` failed.
    InitFailed {
        library: String,
        error: String,
    },
    /// The probe did not answer in time and was killed.
    TimedOut {
        seconds: f64,
    },
    /// The probe died: how, and the last lines it wrote.
    Crashed {
        how: String,
        stderr_tail: String,
    },
    /// Not probed in this run.
    NotProbed,
}

impl DriverProbe {
    pub fn found(&self) -> Option<&Driver> {
        match self {
            DriverProbe::Found(d) => Some(d),
            _ => None,
        }
    }

    /// One line on why there are no driver facts, for failure texts.
    pub fn why_missing(&self) -> String {
        match self {
            DriverProbe::Found(_) => "the driver was found".into(),
            DriverProbe::LibraryMissing { tried } => {
                let (name, error) = tried.first().cloned().unwrap_or_default();
                format!("no NVIDIA driver: {name} not found (loader error: {error})")
            }
            DriverProbe::InitFailed { library, error } => {
                format!("NVML ({library}) failed to initialise: {error}")
            }
            DriverProbe::TimedOut { seconds } => {
                format!("NVML did not answer within {seconds:.0}s; the probe was killed")
            }
            DriverProbe::Crashed { how, .. } => format!("the NVML probe crashed: {how}"),
            DriverProbe::NotProbed => "the driver was not probed".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Driver {
    /// The libnvidia-ml file that answered.
    pub library: String,
    pub version: Version,
    /// The newest CUDA this driver supports.
    pub cuda: Field<Version>,
    pub nvml_version: Field<String>,
    /// Confidential computing, system-wide.
    pub confidential_computing: Field<super::gpu_state::ConfidentialComputing>,
    pub gpus: Vec<Gpu>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Gpu {
    pub index: u32,
    pub name: Field<String>,
    pub uuid: Field<String>,
    pub pci_bus_id: Field<String>,
    pub compute_capability: Field<Capability>,
    pub memory: Field<Memory>,
    pub ecc_enabled: Field<bool>,
    pub ecc_uncorrected_volatile: Field<u64>,
    pub ecc_uncorrected_aggregate: Field<u64>,
    pub retired_pages_pending: Field<bool>,
    pub remapped_rows: Field<RemappedRows>,
    pub persistence_mode: Field<bool>,
    pub mig_enabled: Field<bool>,
    /// The UUIDs of the MIG devices (GPU and compute instances) this GPU
    /// has; empty where MIG is off. CUDA runs only on these in MIG mode.
    #[serde(default = "no_mig_devices")]
    pub mig_devices: Field<Vec<String>>,
    pub temperature_c: Field<u32>,
    pub power_watts: Field<f64>,
    /// Active clock throttle reasons, by NVML's names.
    pub throttle_reasons: Field<Vec<String>>,
    pub processes: Field<Vec<GpuProcess>>,
    /// `default`, `exclusive_process`, `exclusive_thread` or `prohibited`:
    /// whether a process may create a CUDA context where another has one.
    #[serde(default = "compute_mode_unread")]
    pub compute_mode: Field<String>,
    /// Why NVML gave no handle for this GPU, told once (every field then
    /// carries the same error): the GPU fell off the bus, or another error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<Unreachable>,
    /// What NVIDIA's health tools read of it beyond the fields above.
    pub state: super::gpu_state::GpuState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unreachable {
    /// NVML_ERROR_GPU_IS_LOST: "GPU has fallen off the bus" (Xid 79).
    pub lost: bool,
    pub error: String,
}

fn compute_mode_unread() -> Field<String> {
    Field::Error("not read by this gpugate".into())
}

impl Gpu {
    /// "GPU 0 (NVIDIA H100 80GB HBM3)"
    pub fn label(&self) -> String {
        match self.name.value() {
            Some(name) => format!("GPU {} ({name})", self.index),
            None => format!("GPU {}", self.index),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub total_mib: u64,
    pub free_mib: u64,
    pub used_mib: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RemappedRows {
    pub corrected: u32,
    pub uncorrected: u32,
    pub pending: bool,
    pub failure: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuProcess {
    pub pid: u32,
    /// From /proc/PID/comm where this process can see it.
    pub name: Option<String>,
    pub used_mib: Option<u64>,
}

/// Throttle reasons that mean the GPU is slowed down by a fault or heat,
/// rather than by being idle or by settings.
pub const HARMFUL_THROTTLE: &[&str] = &[
    "hw_slowdown",
    "sw_thermal_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
];

const THROTTLE_BITS: &[(u64, &str)] = &[
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
];

fn throttle_names(bits: u64) -> Vec<String> {
    THROTTLE_BITS
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| name.to_string())
        .collect()
}

/// Where to look for NVML, in order: an explicit path, the loader, then the
/// host's library directories when the host is mounted elsewhere.
pub fn nvml_candidates(explicit: Option<&Path>, host_root: &Path) -> Vec<PathBuf> {
    if let Some(path) = explicit {
        return vec![path.to_path_buf()];
    }
    let mut candidates = vec![PathBuf::from(NVML_SONAME)];
    // Where the driver sits off the loader's path (WSL 2's Windows driver,
    // managed platforms' mounts): the GPUs are still read there.
    let wsl = crate::host::is_wsl(host_root).then_some(crate::host::WSL_LIB_DIR);
    let off_path = wsl
        .into_iter()
        .chain(crate::host::DRIVER_LAYOUTS.iter().map(|(dir, _)| *dir));
    for dir in off_path {
        let there = host_root.join(dir).join(NVML_SONAME);
        if there.exists() {
            candidates.push(there);
        }
    }
    if host_root != Path::new("/") {
        for dir in ["usr/lib/x86_64-linux-gnu", "usr/lib64", "usr/lib"] {
            candidates.push(host_root.join(dir).join(NVML_SONAME));
        }
    }
    candidates
}

/// Loads NVML and, where `init` allows, reads every fact it offers.
pub fn probe(explicit: Option<&Path>, host_root: &Path, init: Result<(), String>) -> DriverProbe {
    let mut tried = Vec::new();
    for candidate in nvml_candidates(explicit, host_root) {
        let name = candidate.to_string_lossy().into_owned();
        // Opening it ourselves first gives the loader's own words on failure
        // and the resolved path on success; NVML then reuses the loaded copy.
        let library = match Library::open(&name) {
            Ok(lib) => lib,
            Err(error) => {
                tried.push((name, error.to_string()));
                continue;
            }
        };
        let path = library
            .path()
            .map_or(name.clone(), |p| p.display().to_string());
        library.keep();
        if let Err(why) = init {
            return DriverProbe::InitFailed {
                library: path,
                error: why,
            };
        }
        return match Nvml::builder().lib_path(name.as_ref()).init() {
            Ok(nvml) => DriverProbe::Found(read_driver(&nvml, path)),
            // The file the soname points at carries the library's version
            // (libnvidia-ml.so.535.309.01), which a mismatch must name.
            Err(e) => DriverProbe::InitFailed {
                library: std::fs::canonicalize(&path).map_or(path, |p| p.display().to_string()),
                error: describe_init_error(e),
            },
        };
    }
    DriverProbe::LibraryMissing { tried }
}

/// NVML's failure in its own name, code and words (`nvmlErrorString`),
/// then what it means.
fn describe_init_error(e: NvmlError) -> String {
    let meaning = match &e {
        NvmlError::DriverNotLoaded => Some((
            "NVML_ERROR_DRIVER_NOT_LOADED",
            "the NVIDIA kernel driver is not running",
        )),
        NvmlError::LibRmVersionMismatch => Some((
            "NVML_ERROR_LIB_RM_VERSION_MISMATCH",
            "the kernel module and libnvidia-ml are different driver versions",
        )),
        NvmlError::Unknown => Some(("NVML_ERROR_UNKNOWN", "an internal driver error")),
        NvmlError::NoPermission => Some((
            "NVML_ERROR_NO_PERMISSION",
            "no permission to talk to the driver (/dev/nvidia* not accessible)",
        )),
        _ => None,
    };
    let described = e.to_string();
    // nvml-wrapper's own failures (a symbol missing) map to UNKNOWN: NVML
    // has no words for them.
    let own = matches!(
        e,
        NvmlError::FailedToLoadSymbol(_)
            | NvmlError::LibloadingError(_)
            | NvmlError::Utf8Error(_)
            | NvmlError::NulError(_)
            | NvmlError::IncorrectBits(_)
    );
    if own {
        return described;
    }
    let code: u32 = e.into();
    let words = super::field::nvml_error_string(code);
    match (meaning, words) {
        (Some((name, meaning)), Some(words)) => format!("{name} ({code}, \"{words}\"): {meaning}"),
        (Some((name, meaning)), None) => format!("{name} ({code}): {meaning}"),
        (None, Some(words)) => format!("NVML error {code} (\"{words}\"): {described}"),
        (None, None) => format!("NVML error {code}: {described}"),
    }
}

fn read_driver(nvml: &Nvml, library: String) -> Driver {
    let version = nvml
        .sys_driver_version()
        .ok()
        .and_then(|v| Version::parse(&v))
        .unwrap_or_else(|| Version::from_parts(&[0]));
    let cuda = Field::from_nvml(nvml.sys_cuda_driver_version()).and_then_opt(|v| {
        Version::from_cuda_int(v as i64).ok_or_else(|| format!("NVML reported CUDA version {v}"))
    });
    let count = nvml.device_count().unwrap_or(0);
    Driver {
        library,
        version,
        cuda,
        nvml_version: Field::from_nvml(nvml.sys_nvml_version()),
        confidential_computing: super::gpu_state::confidential_computing(nvml),
        gpus: (0..count).map(|i| read_gpu(nvml, i)).collect(),
    }
}

impl<T> Field<T> {
    fn and_then_opt<U>(self, f: impl FnOnce(T) -> Result<U, String>) -> Field<U> {
        match self {
            Field::Value(v) => match f(v) {
                Ok(u) => Field::Value(u),
                Err(e) => Field::Error(e),
            },
            Field::Unsupported => Field::Unsupported,
            Field::Error(e) => Field::Error(e),
        }
    }
}

fn no_mig_devices() -> Field<Vec<String>> {
    Field::Value(Vec::new())
}

/// The MIG devices of a GPU in MIG mode, by UUID: NVML hands out a handle
/// for each index below its maximum that has a compute instance.
fn mig_devices(device: &nvml_wrapper::Device) -> Field<Vec<String>> {
    match device.mig_mode() {
        Ok(mode) if mode.current != 0 => {}
        // MIG off, or not a MIG-capable GPU: no MIG devices.
        Ok(_) | Err(NvmlError::NotSupported) => return Field::Value(Vec::new()),
        Err(e) => return Field::Error(e.to_string()),
    }
    let max = match device.mig_device_count() {
        Ok(max) => max,
        Err(e) => return Field::Error(e.to_string()),
    };
    let mut uuids = Vec::new();
    for index in 0..max {
        match device.mig_device_by_index(index).and_then(|mig| mig.uuid()) {
            Ok(uuid) => uuids.push(uuid),
            Err(NvmlError::NotFound | NvmlError::InvalidArg) => {}
            Err(e) => return Field::Error(e.to_string()),
        }
    }
    Field::Value(uuids)
}

fn read_gpu(nvml: &Nvml, index: u32) -> Gpu {
    let device = match nvml.device_by_index(index) {
        Ok(d) => d,
        Err(e) => {
            let unreachable = Unreachable {
                lost: matches!(e, NvmlError::GpuLost),
                error: e.to_string(),
            };
            let e = format!("no handle for this GPU: {e}");
            return Gpu {
                state: super::gpu_state::GpuState::unreadable(&e),
                compute_mode: Field::Error(e.clone()),
                unreachable: Some(unreachable),
                index,
                name: Field::Error(e.clone()),
                uuid: Field::Error(e.clone()),
                pci_bus_id: Field::Error(e.clone()),
                compute_capability: Field::Error(e.clone()),
                memory: Field::Error(e.clone()),
                ecc_enabled: Field::Error(e.clone()),
                ecc_uncorrected_volatile: Field::Error(e.clone()),
                ecc_uncorrected_aggregate: Field::Error(e.clone()),
                retired_pages_pending: Field::Error(e.clone()),
                remapped_rows: Field::Error(e.clone()),
                persistence_mode: Field::Error(e.clone()),
                mig_enabled: Field::Error(e.clone()),
                mig_devices: Field::Error(e.clone()),
                temperature_c: Field::Error(e.clone()),
                power_watts: Field::Error(e.clone()),
                throttle_reasons: Field::Error(e.clone()),
                processes: Field::Error(e.clone()),
            };
        }
    };
    let mib = |bytes: u64| bytes >> 20;
    let remapped = {
        // nvml-wrapper has no call for it; the raw symbol is optional.
        match nvml.lib().nvmlDeviceGetRemappedRows.as_ref() {
            Err(_) => Field::Unsupported,
            Ok(sym) => {
                let (mut corr, mut unc, mut pending, mut failure) = (0u32, 0u32, 0u32, 0u32);
                // SAFETY: a valid device handle and four out-pointers, as NVML documents.
                let rc = unsafe {
                    sym(
                        device.handle(),
                        &mut corr,
                        &mut unc,
                        &mut pending,
                        &mut failure,
                    )
                };
                match rc {
                    0 => Field::Value(RemappedRows {
                        corrected: corr,
                        uncorrected: unc,
                        pending: pending != 0,
                        failure: failure != 0,
                    }),
                    3 => Field::Unsupported,
                    code => Field::Error(format!("nvmlDeviceGetRemappedRows returned {code}")),
                }
            }
        }
    };
    Gpu {
        index,
        state: super::gpu_state::read(nvml, &device),
        compute_mode: Field::from_nvml(device.compute_mode().map(|m| {
            match m {
                ComputeMode::Default => "default",
                ComputeMode::ExclusiveThread => "exclusive_thread",
                ComputeMode::Prohibited => "prohibited",
                ComputeMode::ExclusiveProcess => "exclusive_process",
            }
            .to_string()
        })),
        unreachable: None,
        name: Field::from_nvml(device.name()),
        uuid: Field::from_nvml(device.uuid()),
        pci_bus_id: Field::from_nvml(device.pci_info().map(|p| p.bus_id)),
        compute_capability: Field::from_nvml(device.cuda_compute_capability().map(|c| {
            Capability {
                major: c.major as u32,
                minor: c.minor as u32,
            }
        })),
        memory: Field::from_nvml(device.memory_info().map(|m| Memory {
            total_mib: mib(m.total),
            free_mib: mib(m.free),
            used_mib: mib(m.used),
        })),
        ecc_enabled: Field::from_nvml(device.is_ecc_enabled().map(|s| s.currently_enabled)),
        ecc_uncorrected_volatile: Field::from_nvml(
            device.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile),
        ),
        ecc_uncorrected_aggregate: Field::from_nvml(
            device.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Aggregate),
        ),
        retired_pages_pending: Field::from_nvml(device.are_pages_pending_retired()),
        remapped_rows: remapped,
        persistence_mode: Field::from_nvml(device.is_in_persistent_mode()),
        mig_enabled: Field::from_nvml(device.mig_mode().map(|m| m.current != 0)),
        mig_devices: mig_devices(&device),
        temperature_c: Field::from_nvml(device.temperature(TemperatureSensor::Gpu)),
        power_watts: Field::from_nvml(device.power_usage().map(|mw| mw as f64 / 1000.0)),
        throttle_reasons: Field::from_nvml(
            device
                .current_throttle_reasons()
                .map(|r| throttle_names(r.bits())),
        ),
        processes: Field::from_nvml(device.running_compute_processes().map(|ps| {
            ps.into_iter()
                .map(|p| GpuProcess {
                    pid: p.pid,
                    name: std::fs::read_to_string(format!("/proc/{}/comm", p.pid))
                        .ok()
                        .map(|s| s.trim().to_string()),
                    used_mib: match p.used_gpu_memory {
                        nvml_wrapper::enums::device::UsedGpuMemory::Used(b) => Some(mib(b)),
                        nvml_wrapper::enums::device::UsedGpuMemory::Unavailable => None,
                    },
                })
                .collect()
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_bits_by_name() {
        assert_eq!(
            throttle_names(0x1 | 0x40),
            ["gpu_idle", "hw_thermal_slowdown"]
        );
        assert!(throttle_names(0).is_empty());
    }

    #[test]
    fn candidates_add_the_host_root_only_when_mounted_elsewhere() {
        assert_eq!(
            nvml_candidates(None, Path::new("/")),
            [PathBuf::from(NVML_SONAME)]
        );
        let mounted = nvml_candidates(None, Path::new("/host"));
        assert!(mounted.contains(&PathBuf::from("/host/usr/lib64/libnvidia-ml.so.1")));
        let explicit = nvml_candidates(
            Some(Path::new("/opt/wsl/libnvidia-ml.so.1")),
            Path::new("/"),
        );
        assert_eq!(explicit, [PathBuf::from("/opt/wsl/libnvidia-ml.so.1")]);
    }

    #[test]
    fn a_missing_library_is_a_fact_with_the_loader_error() {
        let probe = probe(
            Some(Path::new("/nonexistent/libnvidia-ml.so.1")),
            Path::new("/"),
            Ok(()),
        );
        let DriverProbe::LibraryMissing { tried } = &probe else {
            panic!("{probe:?}")
        };
        assert!(tried[0].1.contains("No such file"), "{tried:?}");
        assert!(probe.why_missing().starts_with(
            "no NVIDIA driver: /nonexistent/libnvidia-ml.so.1 not found (loader error: "
        ));
    }
}
