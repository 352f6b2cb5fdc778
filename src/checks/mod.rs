//! Check kinds: one module each (spec, judgement, tests), registered once in
//! `check_kinds!` below.

mod bounds;
pub mod command;
pub mod cuda_libraries;
pub mod cudnn_compatible;
pub mod driver_supports_cuda;
pub mod driver_version;
pub mod env_var;
pub mod file_exists;
pub mod gpu_compute_capability;
pub mod gpu_count;
pub mod gpu_health;
pub mod gpu_idle;
pub mod gpu_memory;
pub mod invalid;
pub mod kind;
pub mod library_loads;
mod pattern;
pub mod target;
pub mod tensorflow_build;
pub mod tensorflow_devices;
pub mod tensorflow_fit_parity;
pub mod tensorflow_loads;
pub mod tensorflow_matmul;
pub mod tensorflow_placement;
pub mod tensorflow_throughput;
pub mod tensorflow_visibility;
pub mod tensorflow_xla;
#[cfg(test)]
pub(crate) mod testing;

pub use invalid::Invalid;
pub use kind::{Execution, Kind};
pub use pattern::Pattern;
pub use target::{Numerics, Target};

use crate::facts::Facts;
use crate::facts::driver::{Driver, DriverProbe};
use crate::outcome::Verdict;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

macro_rules! check_kinds {
    ($( $name:literal => $variant:ident($module:ident) ),+ $(,)?) => {
        /// A check's kind-specific spec. Serialized (tagged by `kind`) to send
        /// it to a worker.
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub enum CheckKind {
            $( #[serde(rename = $name)] $variant($module::Spec), )+
        }

        /// Every kind name, as written in suites.
        pub const KIND_NAMES: &[&str] = &[$($name),+];

        /// Every kind with its module's minimal example keys (tests check
        /// that each parses, validates and is documented).
        #[cfg(test)]
        #[cfg(test)]
        pub const EXAMPLES: &[(&str, &str)] = &[$(($name, $module::EXAMPLE)),+];

        impl CheckKind {
            /// Reads the kind-specific keys of a check; `None` for an unknown kind.
            pub fn from_toml(kind: &str, de: toml::de::ValueDeserializer<'_>) -> Option<Result<Self, toml::de::Error>> {
                match kind {
                    $( $name => Some($module::Spec::deserialize(de).map(CheckKind::$variant)), )+
                    _ => None,
                }
            }

            pub fn name(&self) -> &'static str {
                match self { $( CheckKind::$variant(_) => $name, )+ }
            }

            /// What the kind says about itself.
            pub fn spec(&self) -> &dyn Kind {
                match self { $( CheckKind::$variant(spec) => spec, )+ }
            }

            pub fn spec_mut(&mut self) -> &mut dyn Kind {
                match self { $( CheckKind::$variant(spec) => spec, )+ }
            }
        }
    };
}

check_kinds! {
    "env.var" => EnvVar(env_var),
    "file.exists" => FileExists(file_exists),
    "library.loads" => LibraryLoads(library_loads),
    "command" => Command(command),
    "tensorflow.loads" => TensorflowLoads(tensorflow_loads),
    "tensorflow.devices" => TensorflowDevices(tensorflow_devices),
    "tensorflow.matmul" => TensorflowMatmul(tensorflow_matmul),
    "tensorflow.fit_parity" => TensorflowFitParity(tensorflow_fit_parity),
    "tensorflow.placement" => TensorflowPlacement(tensorflow_placement),
    "tensorflow.visibility" => TensorflowVisibility(tensorflow_visibility),
    "tensorflow.throughput" => TensorflowThroughput(tensorflow_throughput),
    "tensorflow.xla" => TensorflowXla(tensorflow_xla),
    "tensorflow.build" => TensorflowBuild(tensorflow_build),
    "driver.version" => DriverVersion(driver_version),
    "driver.supports_cuda" => DriverSupportsCuda(driver_supports_cuda),
    "cuda.libraries" => CudaLibraries(cuda_libraries),
    "cudnn.compatible" => CudnnCompatible(cudnn_compatible),
    "gpu.count" => GpuCount(gpu_count),
    "gpu.compute_capability" => GpuComputeCapability(gpu_compute_capability),
    "gpu.memory" => GpuMemory(gpu_memory),
    "gpu.health" => GpuHealth(gpu_health),
    "gpu.idle" => GpuIdle(gpu_idle),
}

/// Judges with the driver facts. Without them a GPU check cannot pass: a
/// missing driver is a failure; a probe that hung or crashed, an error.
pub(crate) fn with_driver(facts: &Facts, judge: impl FnOnce(&Driver) -> Verdict) -> Verdict {
    match &facts.driver {
        DriverProbe::Found(driver) => judge(driver),
        DriverProbe::LibraryMissing { .. } | DriverProbe::InitFailed { .. } => {
            Verdict::fail(facts.driver.why_missing())
        }
        DriverProbe::TimedOut { .. } | DriverProbe::Crashed { .. } | DriverProbe::NotProbed => {
            Verdict::error(facts.driver.why_missing())
        }
    }
}

/// [`with_driver`] for checks about the GPUs themselves, which a driver
/// listing none fails rather than passes vacuously.
pub(crate) fn with_gpus(facts: &Facts, judge: impl FnOnce(&Driver) -> Verdict) -> Verdict {
    with_driver(facts, |driver| {
        if driver.gpus.is_empty() {
            Verdict::fail("NVML lists no GPU")
        } else {
            judge(driver)
        }
    })
}

/// A worker process and what it is for. Checks on the same lane share one
/// worker and run one after another; lanes run side by side.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lane {
    /// Loads arbitrary native libraries; kept apart from TensorFlow's state.
    Native,
    /// Gathers facts (NVML, CUDA libraries); retired after probing.
    Probe,
    /// Loads libtensorflow once and computes on this device; a GPU lane's
    /// worker sees only its GPU.
    Tensorflow {
        device: String,
        /// `CUDA_VISIBLE_DEVICES` for the worker.
        pin: Option<String>,
        numerics: Numerics,
        /// GPU options are process-wide in TensorFlow (the first session
        /// sets them), so a check that sets them gets a worker of its own.
        gpu_options: Option<GpuOptionsKey>,
    },
}

/// A check's GPU session options, as a lane key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GpuOptionsKey {
    pub visible_device_list: Option<String>,
    pub allow_growth: Option<bool>,
    /// `per_process_gpu_memory_fraction`, as the bits of the f64.
    pub memory_fraction_bits: Option<u64>,
}

impl Lane {
    pub fn label(&self) -> String {
        match self {
            Lane::Native => "native".into(),
            Lane::Probe => "probe".into(),
            Lane::Tensorflow {
                device,
                pin,
                numerics,
                gpu_options,
            } => {
                let mut label = format!("tensorflow {device}");
                if gpu_options.is_some() {
                    label.push_str(" (own GPU options)");
                }
                if let Some(pin) = pin {
                    label.push_str(&format!(" (CUDA_VISIBLE_DEVICES={pin})"));
                }
                if *numerics == Numerics::Strict {
                    label.push_str(" (strict numerics)");
                }
                label
            }
        }
    }

    /// Environment variables the lane's worker starts with.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Lane::Native | Lane::Probe => Vec::new(),
            Lane::Tensorflow { pin, numerics, .. } => {
                let mut env: Vec<(&'static str, String)> = numerics
                    .env()
                    .iter()
                    .map(|(k, v)| (*k, v.to_string()))
                    .collect();
                if let Some(pin) = pin {
                    env.push(("CUDA_VISIBLE_DEVICES", pin.clone()));
                }
                env
            }
        }
    }

    /// The default TensorFlow lane: the CPU, TensorFlow's own numerics.
    pub fn tensorflow_default() -> Lane {
        tensorflow_lane(DEFAULT_TF_DEVICE)
    }
}

/// What the parent knows that a worker-side check may need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunContext {
    /// The model of the device the check runs on ("NVIDIA H100 80GB HBM3",
    /// or "CPU: " and the CPU's model name), from the facts.
    pub device_model: Option<String>,
}

impl RunContext {
    pub fn for_check(kind: &CheckKind, facts: &Facts) -> RunContext {
        RunContext {
            device_model: kind
                .spec()
                .per_device()
                .and_then(|t| device_model(t, facts)),
        }
    }
}

/// The model name of a target device, as NVML or /proc/cpuinfo gives it.
fn device_model(target: &Target, facts: &Facts) -> Option<String> {
    use crate::facts::visible::{Visible, visible};
    let gpus = match &facts.driver {
        DriverProbe::Found(driver) => driver.gpus.as_slice(),
        _ => &[],
    };
    let gpu = match target {
        Target::Cpu(_) => return facts.host.cpu_model.as_ref().map(|m| format!("CPU: {m}")),
        Target::EachGpu => None,
        Target::Gpu(k) => match visible(gpus, facts.host.var("CUDA_VISIBLE_DEVICES"))
            .into_iter()
            .nth(*k as usize)
        {
            Some(Visible::Gpu(g)) => Some(g),
            _ => None,
        },
        Target::Uuid(uuid) => gpus
            .iter()
            .find(|g| g.uuid.value().is_some_and(|u| u.starts_with(uuid.as_str()))),
    };
    gpu.and_then(|g| g.name.value().cloned())
}

/// The device TensorFlow checks without a device of their own run against.
pub const DEFAULT_TF_DEVICE: &str = "/device:CPU:0";

/// A TensorFlow lane on `device` with TensorFlow's own numerics and options.
pub(crate) fn tensorflow_lane(device: &str) -> Lane {
    Lane::Tensorflow {
        device: device.to_string(),
        pin: None,
        numerics: Numerics::Default,
        gpu_options: None,
    }
}

impl CheckKind {
    /// The worker lane it runs on: anything that loads native code runs in
    /// a worker (docs/architecture.md); None for a check run in the parent
    /// or judged over the facts.
    pub fn worker_lane(&self) -> Option<Lane> {
        match self.spec().execution() {
            Execution::Worker(lane, _) => Some(lane),
            Execution::Parent(_) | Execution::Facts(_) => None,
        }
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        self.spec().validate()
    }

    /// Whether this check asks for `device = "each-gpu"`.
    pub fn is_each_gpu(&self) -> bool {
        self.spec().per_device() == Some(&Target::EachGpu)
    }

    /// Points a per-device check at one device (the `each-gpu` expansion).
    pub fn set_device(&mut self, device: Target) {
        if let Some(slot) = self.spec_mut().per_device_mut() {
            *slot = device;
        }
    }

    /// Whether libtensorflow must be loaded first: to run on it, or because
    /// the judgement reads the loaded build.
    pub fn needs_tensorflow(&self) -> bool {
        match self.spec().execution() {
            Execution::Worker(lane, _) => matches!(lane, Lane::Tensorflow { .. }),
            Execution::Facts(judge) => judge.reads_loaded_tensorflow(),
            Execution::Parent(_) => false,
        }
    }

    /// Whether a failure is about the GPU stack, so diagnoses may explain it.
    pub fn concerns_gpu(&self) -> bool {
        self.spec().concerns_gpu()
    }

    pub fn default_timeout(&self) -> Duration {
        if self.needs_tensorflow() {
            Duration::from_secs(300)
        } else {
            Duration::from_secs(60)
        }
    }

    /// Makes relative paths relative to the suite's directory.
    pub fn resolve_paths(&mut self, base_dir: &Path) {
        self.spec_mut().resolve_paths(base_dir)
    }
}
