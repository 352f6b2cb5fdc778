//! `tensorflow.devices`: the devices TensorFlow's C API lists, with minimum
//! counts per device type (`min = { GPU = 1 }`).

use crate::checks::Invalid;
use crate::checks::Lane;
use crate::checks::kind::TENSORFLOW_COMPUTE;
use crate::checks::kind::{Execution, Kind, verdict_in_worker};
use crate::diagnose::Family;

use crate::outcome::Verdict;
use crate::tf::runtime::{DeviceInfo, Runtime};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub min: BTreeMap<String, u32>,
}

impl Spec {
    pub fn run(&self, tf: &mut Runtime) -> Verdict {
        match tf.devices() {
            Ok(devices) => self.judge(&devices),
            Err(e) => Verdict::error(format!("could not list TensorFlow's devices: {e}")),
        }
    }

    pub fn judge(&self, devices: &[DeviceInfo]) -> Verdict {
        let listing = devices
            .iter()
            .map(|d| {
                format!(
                    "  {} ({}, {} MiB)",
                    d.name,
                    d.device_type,
                    d.memory_bytes / (1 << 20)
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let count = |ty: &str| devices.iter().filter(|d| d.device_type == ty).count();
        let short: Vec<String> = self
            .min
            .iter()
            .filter(|(ty, min)| count(ty) < **min as usize)
            .map(|(ty, min)| {
                format!(
                    "{} {ty} device{} (need at least {min})",
                    count(ty),
                    if count(ty) == 1 { "" } else { "s" }
                )
            })
            .collect();
        let summary = devices
            .iter()
            .map(|d| d.device_type.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let verdict = if short.is_empty() {
            Verdict::pass(format!(
                "TensorFlow lists {} device(s): {summary}",
                devices.len()
            ))
        } else {
            Verdict::fail(format!("TensorFlow lists {}", short.join(", ")))
        };
        let mut verdict = verdict.with_detail(format!("devices:\n{listing}"));
        for ty in ["CPU", "GPU"] {
            verdict = verdict.with_property(format!("tensorflow.devices.{ty}"), count(ty));
        }
        verdict
    }
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "";

impl Kind for Spec {
    fn validate(&self) -> Result<(), Invalid> {
        for (ty, min) in &self.min {
            if ty.is_empty() || ty.chars().any(|c| c.is_ascii_lowercase()) {
                return Err(Invalid::at(
                    "min",
                    format!(
                        "device types in `min` are upper case as TensorFlow writes them (CPU, GPU), got `{ty}`"
                    ),
                ));
            }
            // A floor of none can never be missed.
            if *min == 0 {
                return Err(Invalid::at(
                    "min",
                    format!(
                        "`min.{ty}` is 0, which no device list can fall short of; ask for at least 1, or leave {ty} out"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn execution(&self) -> Execution<'_> {
        Execution::Worker(Lane::tensorflow_default(), self)
    }

    fn concerns_gpu(&self) -> bool {
        self.min.contains_key("GPU")
    }

    fn explained_by(&self) -> &'static [Family] {
        TENSORFLOW_COMPUTE
    }
}

verdict_in_worker!(|spec, tf| spec.run(tf));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;

    fn device(ty: &str) -> DeviceInfo {
        DeviceInfo {
            name: format!("/job:localhost/replica:0/task:0/device:{ty}:0"),
            device_type: ty.into(),
            memory_bytes: 1 << 30,
        }
    }

    #[test]
    fn minimum_counts() {
        let spec = Spec {
            min: BTreeMap::from([("GPU".to_string(), 1)]),
        };
        let verdict = spec.judge(&[device("CPU")]);
        assert_eq!(verdict.status, Status::Fail);
        assert_eq!(
            verdict.message,
            "TensorFlow lists 0 GPU devices (need at least 1)"
        );
        assert_eq!(
            spec.judge(&[device("CPU"), device("GPU")]).status,
            Status::Pass
        );
    }

    #[test]
    fn a_floor_of_zero_is_refused() {
        let err = Spec {
            min: BTreeMap::from([("CPU".to_string(), 0)]),
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.key, Some("min"));
        assert!(err.message.contains("`min.CPU` is 0"), "{err}");
    }

    #[test]
    fn lower_case_types_are_rejected() {
        assert!(
            Spec {
                min: BTreeMap::from([("gpu".to_string(), 1)])
            }
            .validate()
            .is_err()
        );
    }
}
