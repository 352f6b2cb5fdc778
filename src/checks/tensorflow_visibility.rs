//! `tensorflow.visibility`: the GPUs TensorFlow registers are the GPUs the
//! driver exposes once `CUDA_VISIBLE_DEVICES` is applied: as many, the same
//! models (matched by PCI bus id from TensorFlow's "Created device" log
//! lines, else by order), and each with at least `min_memory_fraction` of
//! its memory available to TensorFlow. When TensorFlow registers fewer, the
//! failure carries the diagnoses, which quote TensorFlow's own log lines.

use crate::checks::Invalid;
use crate::checks::kind::TENSORFLOW_COMPUTE;
use crate::checks::kind::facts_kind;

use super::with_driver;
use crate::diagnose::tf_log::{LogEvent, scan};
use crate::facts::Facts;
use crate::facts::driver::Driver;
use crate::facts::driver::Gpu;
use crate::facts::visible::{Visible, same_pci_bus_id, visible};
use crate::outcome::Verdict;
use crate::tf::runtime::DeviceInfo;
use serde::{Deserialize, Serialize};

fn default_min_memory_fraction() -> f64 {
    0.5
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The share of each GPU's total memory TensorFlow must be able to use
    /// (its device memory limit), which catches GPUs other work has filled.
    #[serde(default = "default_min_memory_fraction")]
    pub min_memory_fraction: f64,
}

/// What TensorFlow's log says about one registered GPU.
struct Created {
    tf_index: u32,
    name: String,
    pci_bus_id: String,
}

impl Spec {
    pub fn validate(&self) -> Result<(), Invalid> {
        if !(0.0..=1.0).contains(&self.min_memory_fraction) {
            return Err(Invalid::at(
                "min_memory_fraction",
                format!(
                    "`min_memory_fraction` must be between 0 and 1, got {}",
                    self.min_memory_fraction
                ),
            ));
        }
        Ok(())
    }

    pub fn judge(&self, facts: &Facts) -> Verdict {
        with_driver(facts, |driver| self.judge_driver(facts, driver))
    }

    fn judge_driver(&self, facts: &Facts, driver: &Driver) -> Verdict {
        let devices = match &facts.tensorflow.devices {
            Some(Ok(devices)) => devices,
            Some(Err(e)) => {
                return Verdict::error(format!("TensorFlow could not list its devices: {e}"));
            }
            None => {
                return Verdict::error(
                    "TensorFlow was not loaded in this run, so its devices are unknown",
                );
            }
        };
        let var = facts.host.var("CUDA_VISIBLE_DEVICES");
        let exposed = visible(&driver.gpus, var);
        let after = match var {
            Some(v) => format!("after CUDA_VISIBLE_DEVICES=\"{v}\""),
            None => "(CUDA_VISIBLE_DEVICES unset)".to_string(),
        };
        let registered: Vec<&DeviceInfo> =
            devices.iter().filter(|d| d.device_type == "GPU").collect();
        let listing = format!(
            "driver exposes {after}:\n{}\nTensorFlow registers:\n{}",
            lines(exposed.iter().map(describe_visible)),
            lines(registered.iter().map(|d| format!(
                "{} ({} MiB available)",
                d.name,
                d.memory_bytes >> 20
            )))
        );
        if exposed.is_empty() {
            return Verdict::fail(format!(
                "the driver exposes none of its {} GPU(s) {after}: there is nothing for TensorFlow to use",
                driver.gpus.len()
            ))
            .with_detail(listing);
        }
        if registered.len() != exposed.len() {
            return Verdict::fail(format!(
                "TensorFlow registers {} of the {} GPU(s) the driver exposes {after}",
                registered.len(),
                exposed.len()
            ))
            .with_detail(listing);
        }

        let created: Vec<Created> = scan(&facts.tensorflow.log)
            .into_iter()
            .filter_map(|l| match l.event {
                LogEvent::CreatedDevice {
                    tf_index,
                    name,
                    pci_bus_id,
                    ..
                } => Some(Created {
                    tf_index,
                    name,
                    pci_bus_id,
                }),
                _ => None,
            })
            .collect();
        let by_log = created.len() == registered.len();
        let mut problems = Vec::new();
        // What could not be compared is said, never passed over.
        let mut uncompared = Vec::new();
        for (k, device) in registered.iter().enumerate() {
            let log = created
                .iter()
                .find(|c| device.name.ends_with(&format!("GPU:{}", c.tf_index)));
            let gpu: Option<&Gpu> = if by_log {
                log.and_then(|c| {
                    exposed.iter().find_map(|v| match v {
                        Visible::Gpu(g)
                            if g.pci_bus_id
                                .value()
                                .is_some_and(|p| same_pci_bus_id(p, &c.pci_bus_id)) =>
                        {
                            Some(*g)
                        }
                        _ => None,
                    })
                })
            } else {
                match exposed.get(k) {
                    Some(Visible::Gpu(g)) => Some(*g),
                    _ => None,
                }
            };
            let Some(gpu) = gpu else {
                match log.filter(|_| by_log) {
                    Some(c) => problems.push(format!(
                        "{} is {} at {}, which is not one of the GPUs the driver exposes {after}",
                        device.name, c.name, c.pci_bus_id
                    )),
                    None => uncompared.push(format!("{} (no NVML GPU to match)", device.name)),
                }
                continue;
            };
            if let (Some(c), Some(model)) = (log.filter(|_| by_log), gpu.name.value())
                && &c.name != model
            {
                problems.push(format!(
                    "{} is a {} but NVML says {} is a {model}",
                    device.name,
                    c.name,
                    gpu.label()
                ));
            }
            let Some(memory) = gpu.memory.value() else {
                uncompared.push(format!("{}'s memory (NVML could not read it)", gpu.label()));
                continue;
            };
            let available_mib = (device.memory_bytes >> 20) as u64;
            let needed = (memory.total_mib as f64 * self.min_memory_fraction) as u64;
            if available_mib > memory.total_mib {
                problems.push(format!(
                    "{} reports {available_mib} MiB, more than {}'s {} MiB",
                    device.name,
                    gpu.label(),
                    memory.total_mib
                ));
            } else if available_mib < needed {
                problems.push(format!(
                    "{} can use {available_mib} MiB of {}'s {} MiB, below min_memory_fraction {} ({needed} MiB); {} MiB are in use",
                    device.name,
                    gpu.label(),
                    memory.total_mib,
                    self.min_memory_fraction,
                    memory.used_mib
                ));
            }
        }
        let matched_by = if by_log {
            "matched by PCI bus id from TensorFlow's log"
        } else {
            "matched by order: TensorFlow did not log its devices (TF_CPP_MIN_LOG_LEVEL?), so models were not compared"
        };
        let matched_by = if uncompared.is_empty() {
            matched_by.to_string()
        } else {
            format!("{matched_by}; not compared: {}", uncompared.join(", "))
        };
        if problems.is_empty() {
            Verdict::pass(format!(
                "TensorFlow registers all {} GPU(s) the driver exposes {after} ({matched_by})",
                exposed.len()
            ))
            .with_detail(listing)
            .with_property("gpus_registered", registered.len())
        } else {
            Verdict::fail(problems[0].clone())
                .with_detail(problems[1..].join("\n"))
                .with_detail(format!("{listing}\n({matched_by})"))
        }
    }
}

fn describe_visible(v: &Visible) -> String {
    match v {
        Visible::Gpu(g) => {
            let pci = g.pci_bus_id.value().cloned().unwrap_or_default();
            let memory = g
                .memory
                .value()
                .map(|m| format!(", {} MiB", m.total_mib))
                .unwrap_or_default();
            format!("{} at {pci}{memory}", g.label())
        }
        Visible::Mig(m) => format!("MIG instance {m}"),
    }
}

fn lines(items: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = items.map(|i| format!("  {i}")).collect();
    if all.is_empty() {
        "  (none)".into()
    } else {
        all.join("\n")
    }
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "";

facts_kind! {
    explained_by: TENSORFLOW_COMPUTE,
    reads_loaded_tensorflow: true,
    validated_by: Spec::validate,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{facts_with_driver, gpu};
    use crate::outcome::Status;

    fn tf_gpu(k: u32, mib: i64) -> DeviceInfo {
        DeviceInfo {
            name: format!("/job:localhost/replica:0/task:0/device:GPU:{k}"),
            device_type: "GPU".into(),
            memory_bytes: mib << 20,
        }
    }

    fn cpu() -> DeviceInfo {
        DeviceInfo {
            name: "/job:localhost/replica:0/task:0/device:CPU:0".into(),
            device_type: "CPU".into(),
            memory_bytes: 256 << 20,
        }
    }

    fn created(k: u32, model: &str, bus: u32) -> String {
        format!(
            "I0000 gpu_device.cc:2022] Created device /job:localhost/replica:0/task:0/device:GPU:{k} with 78000 MB memory:  -> device: {k}, name: {model}, pci bus id: 0000:0{bus}:00.0, compute capability: 9.0\n"
        )
    }

    fn machine(gpus: u32, visible: Option<&str>, devices: Vec<DeviceInfo>, log: String) -> Facts {
        let gpus: Vec<Gpu> = (0..gpus)
            .map(|i| gpu(i, "NVIDIA H100 80GB HBM3", (9, 0)))
            .collect();
        let mut facts = facts_with_driver("580.65.06", &gpus);
        facts.host.env = vec![("CUDA_VISIBLE_DEVICES".into(), visible.map(String::from))];
        facts.tensorflow.devices = Some(Ok(devices));
        facts.tensorflow.log = log;
        facts
    }

    fn judge(facts: &Facts) -> Verdict {
        Spec {
            min_memory_fraction: 0.5,
        }
        .judge(facts)
    }

    const H100: &str = "NVIDIA H100 80GB HBM3";

    #[test]
    fn all_exposed_gpus_registered_pass() {
        let log = created(0, H100, 0) + &created(1, H100, 1);
        let v = judge(&machine(
            2,
            None,
            vec![cpu(), tf_gpu(0, 78000), tf_gpu(1, 78000)],
            log,
        ));
        assert_eq!(v.status, Status::Pass, "{v:?}");
        assert!(
            v.message.contains("all 2 GPU(s)") && v.message.contains("PCI bus id"),
            "{}",
            v.message
        );
        // Without TensorFlow's log, by order, and it says what it did not compare.
        let v = judge(&machine(
            2,
            None,
            vec![tf_gpu(0, 78000), tf_gpu(1, 78000)],
            String::new(),
        ));
        assert_eq!(v.status, Status::Pass);
        assert!(
            v.message.contains("models were not compared"),
            "{}",
            v.message
        );
    }

    #[test]
    fn cuda_visible_devices_sets_the_expectation() {
        let log = created(0, H100, 2);
        let v = judge(&machine(4, Some("2"), vec![tf_gpu(0, 78000)], log.clone()));
        assert_eq!(v.status, Status::Pass, "{v:?}");
        // TensorFlow's GPU:0 is at bus 2, but the list exposes GPU 3.
        let v = judge(&machine(4, Some("3"), vec![tf_gpu(0, 78000)], log));
        assert_eq!(v.status, Status::Fail);
        assert!(
            v.message.contains(
                "not one of the GPUs the driver exposes after CUDA_VISIBLE_DEVICES=\"3\""
            ),
            "{}",
            v.message
        );
        // A MIG instance has no NVML GPU to compare with: said, not skipped.
        let v = judge(&machine(
            2,
            Some("MIG-abc"),
            vec![tf_gpu(0, 5000)],
            String::new(),
        ));
        assert_eq!(v.status, Status::Pass, "{v:?}");
        assert!(
            v.message.contains(
                "not compared: /job:localhost/replica:0/task:0/device:GPU:0 (no NVML GPU to match)"
            ),
            "{}",
            v.message
        );
        let v = judge(&machine(2, Some("-1"), vec![cpu()], String::new()));
        assert!(
            v.message.starts_with(
                "the driver exposes none of its 2 GPU(s) after CUDA_VISIBLE_DEVICES=\"-1\""
            ),
            "{}",
            v.message
        );
    }

    #[test]
    fn fewer_gpus_in_tensorflow_fail() {
        let v = judge(&machine(2, None, vec![cpu()], String::new()));
        assert_eq!(v.status, Status::Fail);
        assert_eq!(
            v.message,
            "TensorFlow registers 0 of the 2 GPU(s) the driver exposes (CUDA_VISIBLE_DEVICES unset)"
        );
        assert!(
            v.detail
                .unwrap()
                .contains("GPU 1 (NVIDIA H100 80GB HBM3) at 00000000:01:00.0, 81559 MiB")
        );
    }

    #[test]
    fn wrong_models_and_short_memory_fail() {
        let v = judge(&machine(
            1,
            None,
            vec![tf_gpu(0, 78000)],
            created(0, "Tesla T4", 0),
        ));
        assert!(
            v.message
                .contains("is a Tesla T4 but NVML says GPU 0 (NVIDIA H100 80GB HBM3)"),
            "{}",
            v.message
        );
        let v = judge(&machine(
            1,
            None,
            vec![tf_gpu(0, 20000)],
            created(0, H100, 0),
        ));
        assert!(
            v.message.contains("can use 20000 MiB of GPU 0"),
            "{}",
            v.message
        );
        let v = judge(&machine(
            1,
            None,
            vec![tf_gpu(0, 90000)],
            created(0, H100, 0),
        ));
        assert!(v.message.contains("more than GPU 0"), "{}", v.message);
    }

    #[test]
    fn without_tensorflow_or_driver_it_cannot_pass() {
        let mut facts = machine(1, None, vec![], String::new());
        facts.tensorflow.devices = None;
        assert_eq!(judge(&facts).status, Status::Error);
        facts.tensorflow.devices = Some(Err("boom".into()));
        assert_eq!(judge(&facts).status, Status::Error);
        facts.driver = crate::facts::driver::DriverProbe::NotProbed;
        assert_eq!(judge(&facts).status, Status::Error);
    }
}
