//! `tensorflow.xla`: a MatMul → Relu, Exp → Add → Sum graph that XLA must
//! compile and run on a device, as every Keras 3 fit on a GPU does
//! (`jit_compile="auto"`). On a GPU, XLA assembles its kernels with `ptxas`
//! and links libdevice for `Exp`: a machine without them fails here, while
//! a graph without XLA passes. The run metadata must show the compiled
//! launch (`_XlaRun`) on the device and no uncompiled fallback; the result
//! is compared with a float64 reference.

use crate::checks::kind::TENSORFLOW_XLA;
use crate::checks::kind::{Execution, Kind, verdict_in_worker};
use crate::diagnose::Family;

use crate::outcome::Verdict;
use crate::rng::SplitMix64;
use crate::tf::proto::short_device;
use crate::tf::runtime::Runtime;
use crate::tf::xla::XlaRun;
use serde::{Deserialize, Serialize};

/// Matrices small enough to compile in a moment, big enough for a real kernel.
const SIZE: usize = 64;
/// TF32 matmuls and XLA's fused `exp` keep about 1e-3 relative.
const RTOL: f64 = 5e-3;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// A TensorFlow device name, e.g. `/device:GPU:0`.
    pub device: super::target::DeviceName,
}

impl Spec {
    pub fn run(&self, tf: &mut Runtime) -> Verdict {
        let mut rng = SplitMix64::from_time();
        let a: Vec<f32> = (0..SIZE * SIZE).map(|_| rng.next_unit()).collect();
        let b: Vec<f32> = (0..SIZE * SIZE).map(|_| rng.next_unit()).collect();
        let result = tf.xla(&self.device, SIZE, &a, &b);
        self.judge(result.map_err(|e| e.to_string()), reference(&a, &b, SIZE))
    }

    pub fn judge(&self, result: Result<XlaRun, String>, expected: f64) -> Verdict {
        let run = match result {
            Ok(run) => run,
            Err(e) => {
                return Verdict::fail(format!(
                    "XLA could not compile or run the graph on {}: {e}",
                    self.device
                ));
            }
        };
        let wanted = short_device(&self.device);
        let launches: Vec<String> = run
            .launches
            .iter()
            .map(|(node, device)| format!("{node} on {device}"))
            .collect();
        let fallback = run
            .executed
            .iter()
            .any(|n| n.ends_with("/stateful_partitioned_call"));
        let compiled_ran = run.executed.iter().any(|n| n.ends_with("/xla_run"));
        let error = ((run.value as f64 - expected) / expected.abs().max(1.0)).abs();
        let verdict = if run.launches.is_empty() {
            Verdict::error(
                "TensorFlow's partition graphs hold no XLA launch (_XlaRun): whether XLA compiled the graph cannot be told",
            )
        } else if let Some((node, device)) =
            run.launches.iter().find(|(_, d)| short_device(d) != wanted)
        {
            Verdict::fail(format!(
                "XLA's compiled cluster {node} was placed on {device}, not {}",
                self.device
            ))
        } else if fallback {
            Verdict::fail(format!(
                "the graph ran on {} without XLA: TensorFlow took the uncompiled fallback of the cluster",
                self.device
            ))
        } else if !compiled_ran {
            Verdict::error(
                "TensorFlow's step stats do not show the XLA launch running: whether XLA ran the graph cannot be told",
            )
        } else if !error.is_finite() || error > RTOL {
            Verdict::fail(format!(
                "XLA on {} computed {} where {expected:.4} was expected (relative error {error:.2e})",
                self.device, run.value
            ))
        } else {
            Verdict::pass(format!(
                "XLA compiled MatMul, Relu, Exp, Add and Sum and ran them on {}, relative error {error:.1e}",
                self.device
            ))
        };
        verdict
            .with_detail(format!(
                "XLA launches: {}\nexecuted: {}",
                launches.join("; "),
                run.executed.join(", ")
            ))
            .with_property("xla_launch", launches.join("; "))
    }
}

/// sum(relu(a · b) + exp(a)) in float64.
fn reference(a: &[f32], b: &[f32], n: usize) -> f64 {
    let mut total = 0.0;
    for i in 0..n {
        for j in 0..n {
            let v: f64 = (0..n)
                .map(|k| a[i * n + k] as f64 * b[k * n + j] as f64)
                .sum();
            total += v.max(0.0) + (a[i * n + j] as f64).exp();
        }
    }
    total
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "device = '/device:CPU:0'";

impl Kind for Spec {
    fn execution(&self) -> Execution<'_> {
        Execution::Worker(super::tensorflow_lane(&self.device), self)
    }

    fn concerns_gpu(&self) -> bool {
        self.device.to_ascii_uppercase().contains("GPU")
    }

    fn explained_by(&self) -> &'static [Family] {
        TENSORFLOW_XLA
    }
}

verdict_in_worker!(|spec, tf| spec.run(tf));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;

    fn spec(device: &str) -> Spec {
        Spec {
            device: device.to_string().try_into().unwrap(),
        }
    }

    fn run(device: &str, value: f32, executed: &[&str]) -> Result<XlaRun, String> {
        Ok(XlaRun {
            value,
            launches: vec![(
                "cluster_0_1/xla_run".into(),
                format!("/job:localhost/replica:0/task:0{device}"),
            )],
            executed: executed.iter().map(|s| s.to_string()).collect(),
        })
    }

    const COMPILED: &[&str] = &["cluster_0_1/xla_compile", "cluster_0_1/xla_run"];

    #[test]
    fn a_compiled_launch_on_the_device_with_the_right_sum_passes() {
        let v = spec("/device:GPU:0").judge(run("/device:GPU:0", 100.0, COMPILED), 100.0);
        assert_eq!(v.status, Status::Pass, "{v:?}");
    }

    #[test]
    fn anything_short_of_xla_running_there_does_not_pass() {
        let s = spec("/device:GPU:0");
        let cases = [
            (
                run("/device:CPU:0", 100.0, COMPILED),
                Status::Fail,
                "placed on",
            ),
            (
                run(
                    "/device:GPU:0",
                    100.0,
                    &[
                        "cluster_0_1/xla_compile",
                        "cluster_0_1/stateful_partitioned_call",
                    ],
                ),
                Status::Fail,
                "without XLA",
            ),
            (
                run("/device:GPU:0", 100.0, &[]),
                Status::Error,
                "step stats",
            ),
            (
                run("/device:GPU:0", 90.0, COMPILED),
                Status::Fail,
                "relative error",
            ),
            (
                Ok(XlaRun {
                    value: 100.0,
                    launches: vec![],
                    executed: vec![],
                }),
                Status::Error,
                "no XLA launch",
            ),
            (
                Err("INTERNAL: libdevice not found at ./libdevice.10.bc".into()),
                Status::Fail,
                "libdevice not found",
            ),
        ];
        for (result, status, needle) in cases {
            let v = s.judge(result, 100.0);
            assert_eq!(v.status, status, "{v:?}");
            assert!(v.message.contains(needle), "{needle}: {v:?}");
        }
    }

    #[test]
    fn the_reference_adds_exp_of_a_to_the_relu_of_the_product() {
        // 1×1: relu(2 · -3) + e^2.
        assert!((reference(&[2.0], &[-3.0], 1) - 2f64.exp()).abs() < 1e-12);
    }
}
