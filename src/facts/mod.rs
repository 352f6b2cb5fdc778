//! The machine as a typed, serializable snapshot (docs/architecture.md, "Facts, then judgements"):
//! host, driver and GPUs, what the TensorFlow build needs and which of those
//! libraries the machine provides. Checks, diagnoses, JUnit properties and
//! `gpugate facts` all read the same [`Facts`].
//!
//! Types and pure judgement only: the probing that drives worker processes
//! lives in `runner::probe`, so nothing here depends on workers or checks.

pub mod build;
pub mod distributions;
pub mod driver;
pub mod elf;
pub mod field;
pub mod gpu_state;
pub mod libraries;
pub mod loader;
pub mod visible;
pub mod xla;

use crate::host::HostFacts;
use crate::tf::runtime::DeviceInfo;
use crate::tf::{DEFAULT_VERSION, LoadReport};
use crate::version::Version;
use build::TfBuild;
use driver::DriverProbe;
use libraries::LibraryFact;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Facts {
    pub host: HostFacts,
    pub driver: DriverProbe,
    pub tensorflow: TfFacts,
    /// The libraries [`TfBuild::needs`] names, as this machine provides them.
    pub libraries: Vec<LibraryFact>,
    /// Why `libraries` is empty when the probe could not run.
    pub libraries_error: Option<String>,
}

/// TensorFlow: what the build needs, and what happened when it was loaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TfFacts {
    pub build: TfBuild,
    /// None when this run did not load TensorFlow.
    pub load: Option<LoadReport>,
    #[serde(with = "crate::json_shape::option_result")]
    pub devices: Option<Result<Vec<DeviceInfo>, String>>,
    /// TensorFlow's own stderr while loading and listing devices: evidence.
    pub log: String,
    /// TensorFlow's own library loader, asked whether it can load the CUDA
    /// libraries; None where there was no CUDA build's library to ask.
    #[serde(default)]
    pub loader: Option<loader::LoaderCheck>,
    /// Where XLA would find ptxas and libdevice, for a CUDA build found on
    /// this machine.
    #[serde(default)]
    pub xla: Option<xla::XlaFacts>,
    /// The pip distributions that own the judged library's `tensorflow/`
    /// directory; more than one is a broken install.
    #[serde(default)]
    pub distributions: Vec<distributions::Distribution>,
}

/// What a run knows about TensorFlow once it has tried to load it.
#[derive(Debug, Clone, Default)]
pub struct TfRuntime {
    /// The library discovery found first, and its release, when this run
    /// did not load TensorFlow: the build to judge is still that one.
    pub found: Option<(PathBuf, Option<String>)>,
    pub load: Option<LoadReport>,
    pub devices: Option<Result<Vec<DeviceInfo>, String>>,
    pub log: String,
}

#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// `--nvml-library`: a libnvidia-ml in an unusual place.
    pub nvml_library: Option<PathBuf>,
    pub host_root: PathBuf,
    /// How long NVML and the CUDA libraries get to answer.
    pub timeout: Duration,
    /// `--for-tensorflow`: judge against this build instead of the loaded one.
    pub for_tensorflow: Option<TfBuild>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            nvml_library: None,
            host_root: "/".into(),
            timeout: DEFAULT_PROBE_TIMEOUT,
            for_tensorflow: None,
        }
    }
}

pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The build to judge the machine against: an explicit target, else the
/// loaded TensorFlow, else the release gpugate would provision.
pub fn choose_build(opts: &ProbeOptions, tf: &TfRuntime) -> TfBuild {
    if let Some(build) = &opts.for_tensorflow {
        return build.clone();
    }
    if let Some(loaded) = tf.load.as_ref().and_then(|r| r.loaded.as_ref()) {
        return TfBuild::from_loaded(loaded);
    }
    if let Some((path, version)) = &tf.found {
        let mut build = TfBuild::from_library(path, version.as_deref().and_then(Version::parse));
        build.source = format!(
            "{} (found at {}, not loaded in this run)",
            build.source,
            path.display()
        );
        return build;
    }
    let pinned = Version::parse(DEFAULT_VERSION).expect("pinned version");
    TfBuild::from_table(
        &pinned,
        true,
        format!(
            "the TensorFlow {DEFAULT_VERSION} CUDA build gpugate provisions (no libtensorflow was loaded)"
        ),
    )
}

/// Facts for a run that probes nothing (`--list`).
pub fn skipped(host: HostFacts) -> Facts {
    Facts {
        host,
        driver: DriverProbe::NotProbed,
        tensorflow: TfFacts {
            build: choose_build(&ProbeOptions::default(), &TfRuntime::default()),
            load: None,
            devices: None,
            log: String::new(),
            loader: None,
            xla: None,
            distributions: Vec::new(),
        },
        libraries: Vec::new(),
        libraries_error: None,
    }
}

/// A PCI address in the kernel's form (`0000:3b:00.0`): NVML writes the
/// domain with eight digits and in upper case.
pub fn bus_address(id: &str) -> String {
    let id = id.to_ascii_lowercase();
    match id.split_once(':') {
        Some((domain, rest)) => format!(
            "{:04x}:{rest}",
            u32::from_str_radix(domain, 16).unwrap_or(0)
        ),
        None => id,
    }
}

impl Facts {
    /// The functions the nvidia driver holds on the bus that no GPU NVML can
    /// reach has: NVML left them out (RmInitAdapter failed) or lost them.
    pub fn silent_functions(&self, driver: &driver::Driver) -> Vec<&crate::host::below::PciGpu> {
        let reached: Vec<String> = driver
            .gpus
            .iter()
            .filter(|g| g.unreachable.is_none())
            .filter_map(|g| g.pci_bus_id.value().map(|b| bus_address(b)))
            .collect();
        self.host
            .below
            .pci
            .as_ref()
            .map(|bus| {
                bus.nvidia
                    .iter()
                    .filter(|g| g.driver.as_deref() == Some("nvidia"))
                    .filter(|g| !reached.contains(&bus_address(&g.address)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Each GPU's bus address: NVML's, or for GPUs NVML cannot reach, the
    /// silent functions on the bus in order, when there are as many of them
    /// as unreachable GPUs (NVML numbers GPUs in bus order), so a lost GPU
    /// keeps the address an operator looks for.
    pub fn bus_addresses(&self, driver: &driver::Driver) -> Vec<Option<String>> {
        let silent: Vec<String> = self
            .silent_functions(driver)
            .iter()
            .map(|g| bus_address(&g.address))
            .collect();
        let unreachable = driver
            .gpus
            .iter()
            .filter(|g| g.unreachable.is_some())
            .count();
        let mut paired = (silent.len() == unreachable).then(|| silent.into_iter());
        driver
            .gpus
            .iter()
            .map(|g| match g.pci_bus_id.value() {
                Some(bus) => Some(bus_address(bus)),
                None if g.unreachable.is_some() => paired.as_mut().and_then(Iterator::next),
                None => None,
            })
            .collect()
    }

    pub fn library(&self, role: crate::compat::Role) -> Option<&LibraryFact> {
        self.libraries.iter().find(|l| l.role == role)
    }

    /// The essentials as report properties, in a stable order.
    pub fn properties(&self) -> Vec<(String, String)> {
        let mut props = self.host.properties();
        match self.driver.found() {
            Some(driver) => {
                props.push(("nvidia.driver".into(), driver.version.to_string()));
                if let Some(cuda) = driver.cuda.value() {
                    props.push(("nvidia.driver_cuda".into(), cuda.to_string()));
                }
                let models: Vec<String> = driver
                    .gpus
                    .iter()
                    .map(|g| g.name.value().cloned().unwrap_or_else(|| "unknown".into()))
                    .collect();
                props.push(("nvidia.gpu_models".into(), models.join(", ")));
            }
            None => props.push((
                "nvidia.driver".into(),
                format!("none ({})", self.driver.why_missing()),
            )),
        }
        let build = &self.tensorflow.build;
        props.push(("tensorflow.build".into(), build.describe()));
        for lib in &self.libraries {
            if matches!(
                lib.role,
                crate::compat::Role::Cudart | crate::compat::Role::Cudnn
            ) {
                let value = match &lib.resolved {
                    Some(copy) => format!(
                        "{} ({})",
                        copy.version
                            .as_ref()
                            .map_or("version unknown".to_string(), |v| v.to_string()),
                        copy.path.display()
                    ),
                    None => "not found".into(),
                };
                props.push((format!("cuda.{}", lib.soname), value));
            }
        }
        props
    }
}
