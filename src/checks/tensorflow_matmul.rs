//! `tensorflow.matmul`: a float32 matmul of fresh random inputs on a named
//! device, checked against a float64 reference computed here, and the device
//! that actually ran it read from TensorFlow's run metadata.

use crate::checks::Invalid;
use crate::checks::kind::TENSORFLOW_COMPUTE;
use crate::checks::kind::{Execution, Kind, verdict_in_worker};
use crate::checks::tensorflow_lane;
use crate::diagnose::Family;

use crate::outcome::Verdict;
use crate::rng::SplitMix64;
use crate::tf::proto::short_device;
use crate::tf::runtime::Runtime;
use serde::{Deserialize, Serialize};

fn default_size() -> usize {
    256
}
fn default_rtol() -> f64 {
    // TF32 (the default for float32 matmul on Ampere and newer) stays near 1e-3.
    5e-3
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub device: super::target::DeviceName,
    #[serde(default = "default_size")]
    pub size: usize,
    /// Largest accepted relative error, ‖C − R‖_F / ‖R‖_F.
    #[serde(default = "default_rtol")]
    pub rtol: f64,
}

impl Spec {
    pub fn run(&self, tf: &mut Runtime) -> Verdict {
        let n = self.size;
        let mut rng = SplitMix64::from_time();
        let a: Vec<f32> = (0..n * n).map(|_| rng.next_unit()).collect();
        let b: Vec<f32> = (0..n * n).map(|_| rng.next_unit()).collect();
        let run = match tf.matmul(&self.device, n, &a, &b) {
            Ok(run) => run,
            Err(e) => {
                // TensorFlow's own error, whole: its first line is the message.
                return Verdict::fail(format!("matmul on {} did not run: {e}", self.device));
            }
        };
        let error = relative_error(&a, &b, &run.product, n);
        let ran_on = if run.ran_on.is_empty() {
            "(not reported)".to_string()
        } else {
            run.ran_on.join(", ")
        };
        let verdict = if !ran_where_asked(&self.device, &run.ran_on) {
            Verdict::fail(format!(
                "{n}×{n} matmul asked for {} but ran on {ran_on}",
                self.device
            ))
        } else if !error.is_finite() || error > self.rtol {
            Verdict::fail(format!(
                "{n}×{n} matmul on {} is wrong: relative error {error:.3e} > rtol {:.1e} (ran on {ran_on})",
                self.device, self.rtol
            ))
        } else {
            Verdict::pass(format!(
                "{n}×{n} matmul ran on {ran_on}, relative error {error:.2e}"
            ))
        };
        verdict
            .with_property("ran_on", ran_on)
            .with_property("relative_error", format!("{error:.3e}"))
    }
}

/// Whether the devices the run metadata names include the one asked for
/// (`/device:GPU:0` matches `/job:localhost/replica:0/task:0/device:GPU:0`).
/// No metadata at all is not counted against the run: soft placement is off,
/// so TensorFlow would have refused a device it could not use.
pub fn ran_where_asked(device: &str, ran_on: &[String]) -> bool {
    let wanted = short_device(device);
    ran_on.is_empty() || ran_on.iter().any(|d| short_device(d) == wanted)
}

/// ‖C − A·B‖_F / ‖A·B‖_F with A·B computed in float64.
pub fn relative_error(a: &[f32], b: &[f32], c: &[f32], n: usize) -> f64 {
    if c.len() != n * n {
        return f64::INFINITY;
    }
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for i in 0..n {
        for j in 0..n {
            let reference: f64 = (0..n)
                .map(|k| a[i * n + k] as f64 * b[k * n + j] as f64)
                .sum();
            let d = c[i * n + j] as f64 - reference;
            diff += d * d;
            norm += reference * reference;
        }
    }
    if norm == 0.0 {
        diff.sqrt()
    } else {
        (diff / norm).sqrt()
    }
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "device = '/device:CPU:0'";

impl Kind for Spec {
    fn validate(&self) -> Result<(), Invalid> {
        if !(1..=8192).contains(&self.size) {
            return Err(Invalid::at(
                "size",
                format!("`size` must be between 1 and 8192, got {}", self.size),
            ));
        }
        if !(self.rtol > 0.0 && self.rtol < 1.0) {
            return Err(Invalid::at(
                "rtol",
                format!("`rtol` must be between 0 and 1, got {}", self.rtol),
            ));
        }
        Ok(())
    }

    fn execution(&self) -> Execution<'_> {
        Execution::Worker(tensorflow_lane(&self.device), self)
    }

    fn concerns_gpu(&self) -> bool {
        self.device.to_uppercase().contains("GPU")
    }

    fn explained_by(&self) -> &'static [Family] {
        TENSORFLOW_COMPUTE
    }
}

verdict_in_worker!(|spec, tf| spec.run(tf));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_error_sees_wrong_products() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [5.0, 6.0, 7.0, 8.0];
        let right = [19.0, 22.0, 43.0, 50.0];
        assert_eq!(relative_error(&a, &b, &right, 2), 0.0);
        let wrong = [19.0, 22.0, 43.0, 51.0];
        assert!(relative_error(&a, &b, &wrong, 2) > 1e-3);
        assert!(relative_error(&a, &b, &right[..3], 2).is_infinite());
    }

    #[test]
    fn placement_must_match_the_device_asked_for() {
        let cpu = vec!["/job:localhost/replica:0/task:0/device:CPU:0".to_string()];
        assert!(ran_where_asked("/device:CPU:0", &cpu));
        assert!(!ran_where_asked("/device:GPU:0", &cpu));
        assert!(!ran_where_asked("/device:CPU:1", &cpu));
        assert!(ran_where_asked("/device:GPU:0", &[]));
    }
}
