//! `tensorflow.placement`: a MatMul → Relu → Sum graph pinned to a device with
//! soft placement off, optionally under GPU session options
//! (`visible_device_list`, memory growth, memory fraction). Where each op ran
//! is read from the run metadata's step stats. A device TensorFlow cannot
//! provide fails with TensorFlow's own error, or passes where the suite
//! expects the refusal (proof that nothing falls back to the CPU silently).

use crate::checks::Invalid;
use crate::checks::kind::TENSORFLOW_COMPUTE;
use crate::checks::kind::{Execution, Kind, verdict_in_worker};
use crate::diagnose::Family;

use super::{GpuOptionsKey, Lane, Numerics};
use crate::outcome::Verdict;
use crate::rng::SplitMix64;
use crate::tf::placement::PlacementRun;
use crate::tf::proto::{ConfigProto, GpuOptions, short_device};
use crate::tf::runtime::Runtime;
use serde::{Deserialize, Serialize};

/// Matrices small enough to cost nothing, big enough for a real kernel.
const SIZE: usize = 64;
/// TF32 matmuls keep about 1e-3 relative.
const RTOL: f64 = 5e-3;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// The ops run on the device, and nowhere else.
    #[default]
    Runs,
    /// TensorFlow refuses the device (it does not exist here).
    Refused,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// A TensorFlow device name, e.g. `/device:GPU:1`.
    pub device: super::target::DeviceName,
    /// `gpu_options.visible_device_list`: which GPUs, in which order, become
    /// this process's GPU:0, GPU:1...
    pub visible_device_list: Option<String>,
    /// `gpu_options.allow_growth`.
    pub allow_growth: Option<bool>,
    /// `gpu_options.per_process_gpu_memory_fraction`.
    pub memory_fraction: Option<f64>,
    #[serde(default)]
    pub expect: Expect,
}

impl Spec {
    fn gpu_options(&self) -> Option<GpuOptionsKey> {
        let key = GpuOptionsKey {
            visible_device_list: self.visible_device_list.clone(),
            allow_growth: self.allow_growth,
            memory_fraction_bits: self.memory_fraction.map(f64::to_bits),
        };
        (key.visible_device_list.is_some()
            || key.allow_growth.is_some()
            || key.memory_fraction_bits.is_some())
        .then_some(key)
    }

    pub fn lane(&self) -> Lane {
        // The graph names its device itself. A refusal runs nothing, so it
        // needs no device lane (nor a TensorFlow load) of its own.
        let device = match self.expect {
            Expect::Refused => crate::checks::DEFAULT_TF_DEVICE.to_string(),
            Expect::Runs => self.device.to_string(),
        };
        Lane::Tensorflow {
            device,
            pin: None,
            numerics: Numerics::Default,
            gpu_options: self.gpu_options(),
        }
    }

    fn config(&self) -> ConfigProto {
        ConfigProto {
            allow_soft_placement: false,
            gpu_options: self.gpu_options().map(|_| GpuOptions {
                per_process_gpu_memory_fraction: self.memory_fraction.unwrap_or(0.0),
                allow_growth: self.allow_growth.unwrap_or(false),
                visible_device_list: self.visible_device_list.clone().unwrap_or_default(),
            }),
            ..Default::default()
        }
    }

    /// The session options this check sets, for messages.
    fn described(&self) -> String {
        let mut parts = vec!["soft placement off".to_string()];
        if let Some(list) = &self.visible_device_list {
            parts.push(format!("visible_device_list \"{list}\""));
        }
        if let Some(growth) = self.allow_growth {
            parts.push(format!("allow_growth {growth}"));
        }
        if let Some(f) = self.memory_fraction {
            parts.push(format!("memory fraction {f}"));
        }
        parts.join(", ")
    }

    pub fn run(&self, tf: &mut Runtime) -> Verdict {
        let mut rng = SplitMix64::from_time();
        let a: Vec<f32> = (0..SIZE * SIZE).map(|_| rng.next_unit()).collect();
        let b: Vec<f32> = (0..SIZE * SIZE).map(|_| rng.next_unit()).collect();
        let result = tf.placement(&self.device, &self.config(), SIZE, &a, &b);
        self.judge(result.map_err(|e| e.to_string()), reference(&a, &b, SIZE))
    }

    pub fn judge(&self, result: Result<PlacementRun, String>, expected: f64) -> Verdict {
        let settings = self.described();
        let run = match (result, self.expect) {
            (Err(e), Expect::Runs) => {
                return Verdict::fail(format!(
                    "ops pinned to {} did not run ({settings}): {e}",
                    self.device
                ));
            }
            // Only a refusal of this device counts: libtensorflow failing to
            // load, or any other error, is not the proof the suite asked for.
            (Err(e), Expect::Refused) if !e.contains(&*self.device) => {
                return Verdict::error(format!(
                    "expected TensorFlow to refuse {}, but the graph failed for another reason: {e}",
                    self.device
                ));
            }
            (Err(e), Expect::Refused) => {
                let first = e.lines().next().unwrap_or("").to_string();
                return Verdict::pass(format!(
                    "TensorFlow refused {} as expected ({settings}): {first}",
                    self.device
                ))
                .with_property("tensorflow_error", first);
            }
            (Ok(run), Expect::Refused) => {
                return Verdict::fail(format!(
                    "TensorFlow ran ops pinned to {} ({settings}), but the suite expects it to refuse that device",
                    self.device
                ))
                .with_detail(placements(&run));
            }
            (Ok(run), Expect::Runs) => run,
        };
        let wanted = short_device(&self.device);
        let unreported: Vec<&str> = run
            .ran_on
            .iter()
            .filter(|(_, devices)| devices.is_empty())
            .map(|(node, _)| node.as_str())
            .collect();
        let misplaced: Vec<String> = run
            .ran_on
            .iter()
            .flat_map(|(node, devices)| devices.iter().map(move |d| (node, d)))
            .filter(|(_, d)| short_device(d) != wanted)
            .map(|(node, d)| format!("{node} ran on {d}"))
            .collect();
        let error = ((run.value as f64 - expected) / expected.abs().max(1.0)).abs();
        let verdict = if !misplaced.is_empty() {
            Verdict::fail(format!(
                "ops pinned to {} ran elsewhere ({settings}): {}",
                self.device,
                misplaced.join("; ")
            ))
        } else if !unreported.is_empty() {
            Verdict::error(format!(
                "TensorFlow's run metadata does not say where {} ran",
                unreported.join(", ")
            ))
        } else if !error.is_finite() || error > RTOL {
            Verdict::fail(format!(
                "ops on {} computed {} where {expected:.4} was expected (relative error {error:.2e})",
                self.device, run.value
            ))
        } else {
            Verdict::pass(format!(
                "MatMul, Relu and Sum ran on {} ({settings}), relative error {error:.1e}",
                self.device
            ))
        };
        let matmul_ran_on = run
            .ran_on
            .first()
            .map(|(_, d)| d.join(", "))
            .unwrap_or_default();
        verdict
            .with_detail(placements(&run))
            .with_property("session", settings)
            .with_property("matmul_ran_on", matmul_ran_on)
    }
}

fn placements(run: &PlacementRun) -> String {
    run.ran_on
        .iter()
        .map(|(node, devices)| format!("{node}: {}", devices.join(", ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// sum(relu(a · b)) in float64.
fn reference(a: &[f32], b: &[f32], n: usize) -> f64 {
    let mut total = 0.0;
    for i in 0..n {
        for j in 0..n {
            let v: f64 = (0..n)
                .map(|k| a[i * n + k] as f64 * b[k * n + j] as f64)
                .sum();
            total += v.max(0.0);
        }
    }
    total
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "device = '/device:CPU:0'";

impl Kind for Spec {
    fn validate(&self) -> Result<(), Invalid> {
        if let Some(list) = self
            .visible_device_list
            .as_ref()
            .filter(|l| l.split(',').any(|e| e.trim().parse::<u32>().is_err()))
        {
            return Err(Invalid::at(
                "visible_device_list",
                format!(
                    "`visible_device_list` must be GPU indices separated by commas, such as \"1,0\", got `{list}`"
                ),
            ));
        }
        if let Some(f) = self.memory_fraction.filter(|f| !(*f > 0.0 && *f <= 1.0)) {
            return Err(Invalid::at(
                "memory_fraction",
                format!("`memory_fraction` must be above 0 and at most 1, got {f}"),
            ));
        }
        Ok(())
    }

    fn execution(&self) -> Execution<'_> {
        Execution::Worker(self.lane(), self)
    }

    /// A refusal proves something of TensorFlow, not of the GPU stack: a
    /// broken driver or library cannot explain its failure.
    fn concerns_gpu(&self) -> bool {
        self.expect == Expect::Runs
            && (self.device.to_ascii_uppercase().contains("GPU") || self.gpu_options().is_some())
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

    fn spec(toml: &str) -> Spec {
        let spec: Spec = toml::from_str(toml).unwrap();
        spec.validate().unwrap();
        spec
    }

    fn ran(device: &str, value: f32) -> Result<PlacementRun, String> {
        Ok(PlacementRun {
            value,
            ran_on: crate::tf::placement::NODES
                .iter()
                .map(|n| {
                    (
                        n.to_string(),
                        vec![format!("/job:localhost/replica:0/task:0{device}")],
                    )
                })
                .collect(),
        })
    }

    #[test]
    fn ops_where_asked_with_the_right_sum_pass() {
        let v = spec("device = '/device:GPU:1'").judge(ran("/device:GPU:1", 100.0), 100.0);
        assert_eq!(v.status, Status::Pass, "{v:?}");
        assert!(
            v.detail
                .unwrap()
                .contains("gpugate_placement/matmul: /job:localhost")
        );
    }

    #[test]
    fn each_kind_of_wrong_fails_with_its_reason() {
        let s = spec("device = '/device:GPU:0'\nvisible_device_list = '1'");
        let v = s.judge(ran("/device:CPU:0", 100.0), 100.0);
        assert_eq!(v.status, Status::Fail);
        assert!(
            v.message
                .contains("ran elsewhere (soft placement off, visible_device_list \"1\")"),
            "{}",
            v.message
        );
        let v = s.judge(ran("/device:GPU:0", 90.0), 100.0);
        assert!(
            v.message
                .contains("computed 90 where 100.0000 was expected"),
            "{}",
            v.message
        );
        let e = "InvalidArgument: Cannot assign a device for operation gpugate_placement/matmul: ... was explicitly assigned to /device:GPU:0 but available devices are [ /job:localhost/replica:0/task:0/device:CPU:0 ]";
        let v = s.judge(Err(e.into()), 100.0);
        assert_eq!(v.status, Status::Fail);
        assert!(v.message.ends_with(e), "{}", v.message);
        let mut silent = ran("/device:GPU:0", 100.0).unwrap();
        silent.ran_on[1].1.clear();
        assert_eq!(s.judge(Ok(silent), 100.0).status, Status::Error);
    }

    #[test]
    fn an_expected_refusal_passes_only_when_tensorflow_refuses() {
        let s = spec("device = '/device:GPU:7'\nexpect = 'refused'");
        let refusal = "InvalidArgument: ... was explicitly assigned to /device:GPU:7 but available devices are [...]";
        let v = s.judge(Err(format!("{refusal}\nmore")), 1.0);
        assert_eq!(v.status, Status::Pass);
        assert!(v.message.ends_with(refusal), "{}", v.message);
        // Any other failure (libtensorflow not loading) is no such proof.
        let v = s.judge(Err("libtensorflow did not load: ...".into()), 1.0);
        assert_eq!(v.status, Status::Error);
        let v = s.judge(ran("/device:GPU:7", 1.0), 1.0);
        assert_eq!(v.status, Status::Fail);
    }

    #[test]
    fn gpu_options_get_their_own_worker_and_reach_the_config() {
        let plain = spec("device = '/device:GPU:0'");
        let tuned = spec("device = '/device:GPU:0'\nallow_growth = true\nmemory_fraction = 0.5");
        assert_ne!(plain.lane(), tuned.lane());
        let options = tuned.config().gpu_options.unwrap();
        assert!(options.allow_growth);
        assert_eq!(options.per_process_gpu_memory_fraction, 0.5);
        assert!(plain.config().gpu_options.is_none());
        assert!(!plain.config().allow_soft_placement);
    }

    #[test]
    fn bad_options_are_refused() {
        // The device is typed as it is read.
        let e = toml::from_str::<Spec>("device = 'GPU:0'").unwrap_err();
        assert!(e.message().starts_with("`device` must be"), "{e}");
        for (toml, needle) in [
            (
                "device = '/device:GPU:0'\nvisible_device_list = '0,a'",
                "`visible_device_list`",
            ),
            (
                "device = '/device:GPU:0'\nmemory_fraction = 1.5",
                "`memory_fraction`",
            ),
        ] {
            let e = toml::from_str::<Spec>(toml)
                .unwrap()
                .validate()
                .unwrap_err();
            assert_eq!(e.key.map(|k| format!("`{k}`")).as_deref(), Some(needle));
            assert!(e.message.contains(needle), "{e}");
        }
    }

    #[test]
    fn the_reference_is_sum_of_relu_of_the_product() {
        // [[1, -2], [3, 4]] · I = itself; relu keeps 1 + 3 + 4.
        assert_eq!(
            reference(&[1.0, -2.0, 3.0, 4.0], &[1.0, 0.0, 0.0, 1.0], 2),
            8.0
        );
    }
}
