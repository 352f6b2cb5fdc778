//! Where a compute check runs: a device written in a suite, and the worker
//! that runs it. A GPU check gets a worker of its own pinned to its GPU with
//! `CUDA_VISIBLE_DEVICES`, so that ops TensorFlow places by itself (the
//! gradients' ops have no device) cannot land on another GPU.

use super::Lane;
use serde::{Deserialize, Serialize};

/// How strictly the worker's numerics are pinned down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Numerics {
    /// TensorFlow's defaults: TF32 matmuls on Ampere and newer, fastest kernels.
    #[default]
    Default,
    /// No TF32 (`NVIDIA_TF32_OVERRIDE=0`), deterministic kernels
    /// (`TF_DETERMINISTIC_OPS=1`).
    Strict,
}

impl Numerics {
    pub fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Numerics::Default => &[],
            Numerics::Strict => &[("NVIDIA_TF32_OVERRIDE", "0"), ("TF_DETERMINISTIC_OPS", "1")],
        }
    }
}

/// A TensorFlow device name as the suite wrote it (`/device:GPU:0`,
/// `/job:localhost/replica:0/task:0/device:CPU:0`), refused when read if it
/// is not one. Checks that hand the name to TensorFlow as written hold this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceName(String);

impl TryFrom<String> for DeviceName {
    type Error = String;

    fn try_from(device: String) -> Result<DeviceName, String> {
        if device.starts_with("/device:") || device.starts_with("/job:") {
            Ok(DeviceName(device))
        } else {
            Err(format!(
                "`device` must be a TensorFlow device name such as /device:GPU:0, got `{device}`"
            ))
        }
    }
}

impl From<DeviceName> for String {
    fn from(name: DeviceName) -> String {
        name.0
    }
}

impl std::ops::Deref for DeviceName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DeviceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The value of `device` that expands a check into one test per visible GPU.
pub const EACH_GPU: &str = "each-gpu";

/// A `device` key parsed once, when the suite is read: specs hold this, never
/// the text (`/device:gpu:1` is shown as `/device:GPU:1` from then on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Target {
    /// `/device:CPU:k`
    Cpu(u32),
    /// `/device:GPU:k`: the k-th GPU this process sees.
    Gpu(u32),
    /// A GPU (or MIG instance) by UUID, as `CUDA_VISIBLE_DEVICES` takes it.
    Uuid(String),
    /// `each-gpu`, expanded by the plan into [`Target::Uuid`]s.
    EachGpu,
}

impl Target {
    pub fn parse(device: &str) -> Result<Target, String> {
        let bad = || {
            format!(
                "`device` must be /device:CPU:N, /device:GPU:N, a GPU UUID (GPU-...) or `{EACH_GPU}`, got `{device}`"
            )
        };
        if device == EACH_GPU {
            return Ok(Target::EachGpu);
        }
        if device.starts_with("GPU-") || device.starts_with("MIG-") {
            return Ok(Target::Uuid(device.to_string()));
        }
        let rest = device.strip_prefix("/device:").ok_or_else(bad)?;
        let (kind, index) = rest.split_once(':').ok_or_else(bad)?;
        let index: u32 = index.parse().map_err(|_| bad())?;
        match kind.to_ascii_uppercase().as_str() {
            "CPU" => Ok(Target::Cpu(index)),
            "GPU" => Ok(Target::Gpu(index)),
            _ => Err(bad()),
        }
    }

    /// The name TensorFlow gives the device, or a GPU UUID as written:
    /// `GPU:1` from `/device:GPU:1`.
    pub fn short(&self) -> String {
        let name = self.to_string();
        match name.strip_prefix("/device:") {
            Some(short) => short.to_string(),
            None => name,
        }
    }

    pub fn is_gpu(&self) -> bool {
        !matches!(self, Target::Cpu(_))
    }

    /// The device name inside the worker, and the `CUDA_VISIBLE_DEVICES`
    /// that pins the worker to this GPU, given the list the parent inherited
    /// (the k-th GPU of a process is the k-th entry of its list). A GPU past
    /// the end of that list is asked for unpinned, for TensorFlow to refuse.
    pub fn worker(&self, inherited: Option<&str>) -> (String, Option<String>) {
        let pinned = |pin: String| ("/device:GPU:0".to_string(), Some(pin));
        match self {
            Target::Cpu(k) => (format!("/device:CPU:{k}"), None),
            Target::Uuid(uuid) => pinned(uuid.clone()),
            Target::EachGpu => (EACH_GPU.to_string(), None),
            Target::Gpu(k) => match inherited.filter(|list| !list.trim().is_empty()) {
                None => pinned(k.to_string()),
                Some(list) => match list.split(',').nth(*k as usize) {
                    Some(entry) => pinned(entry.trim().to_string()),
                    None => (format!("/device:GPU:{k}"), None),
                },
            },
        }
    }

    /// The worker lane for this target, pinned with the parent's view of
    /// `CUDA_VISIBLE_DEVICES`.
    pub fn lane(&self, numerics: Numerics) -> Lane {
        let inherited = std::env::var("CUDA_VISIBLE_DEVICES").ok();
        let (device, pin) = self.worker(inherited.as_deref());
        Lane::Tensorflow {
            device,
            pin,
            numerics,
            gpu_options: None,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Cpu(k) => write!(f, "/device:CPU:{k}"),
            Target::Gpu(k) => write!(f, "/device:GPU:{k}"),
            Target::Uuid(uuid) => f.write_str(uuid),
            Target::EachGpu => f.write_str(EACH_GPU),
        }
    }
}

impl TryFrom<String> for Target {
    type Error = String;

    fn try_from(device: String) -> Result<Target, String> {
        Target::parse(&device)
    }
}

impl From<Target> for String {
    fn from(target: Target) -> String {
        target.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_or_say_what_is_accepted() {
        assert_eq!(Target::parse("/device:CPU:0"), Ok(Target::Cpu(0)));
        assert_eq!(Target::parse("/device:gpu:3"), Ok(Target::Gpu(3)));
        assert_eq!(
            Target::parse("GPU-8f6a1b2c-0000"),
            Ok(Target::Uuid("GPU-8f6a1b2c-0000".into()))
        );
        assert_eq!(Target::parse("each-gpu"), Ok(Target::EachGpu));
        for bad in ["GPU:0", "/device:TPU:0", "/device:GPU:x", "/device:GPU", ""] {
            let e = Target::parse(bad).unwrap_err();
            assert!(e.contains("each-gpu") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn a_gpu_is_pinned_through_the_inherited_list() {
        let gpu0 = |pin: &str| ("/device:GPU:0".to_string(), Some(pin.to_string()));
        assert_eq!(Target::Gpu(1).worker(None), gpu0("1"));
        assert_eq!(Target::Gpu(1).worker(Some("")), gpu0("1"));
        assert_eq!(Target::Gpu(1).worker(Some("2, 3")), gpu0("3"));
        assert_eq!(Target::Gpu(0).worker(Some("GPU-abc")), gpu0("GPU-abc"));
        assert_eq!(
            Target::Gpu(4).worker(Some("2,3")),
            ("/device:GPU:4".to_string(), None)
        );
        assert_eq!(
            Target::Uuid("GPU-x".into()).worker(Some("0")),
            gpu0("GPU-x")
        );
        assert_eq!(
            Target::Cpu(0).worker(Some("0")),
            ("/device:CPU:0".to_string(), None)
        );
        assert_eq!(Numerics::Strict.env().len(), 2);
        assert!(Numerics::Default.env().is_empty());
    }
}
