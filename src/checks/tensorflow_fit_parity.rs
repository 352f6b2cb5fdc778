//! `tensorflow.fit_parity`: trains the classic smoke-test model (Dense
//! 784→128 ReLU, Dense 128→10 softmax, Adam, cross-entropy) from the same
//! seed on the device under test and on a CPU reference, and compares every
//! step's loss and the final weights within `rtol`/`atol`.
//!
//! On a GPU the reference is the CPU. On a CPU the reference is the CPU with
//! a single thread, so the whole path runs on machines without a GPU.

use crate::checks::Invalid;
use crate::checks::kind::TENSORFLOW_COMPUTE;
use crate::checks::kind::{Execution, Kind, WorkerCheck};
use crate::diagnose::Family;

/// What the worker sends back: the device it trained on and both runs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FitPair {
    pub device: String,
    pub subject: Result<FitRun, String>,
    pub reference: Result<FitRun, String>,
}

use super::Lane;
use super::target::{Numerics, Target};
use crate::outcome::Verdict;
use crate::plot::{self, Series};
use crate::tf::fit::{FitRun, SessionShape};
use crate::tf::mlp::Problem;
use crate::tf::runtime::Runtime;
use serde::{Deserialize, Serialize};

fn default_steps() -> usize {
    30
}
fn default_batch() -> usize {
    64
}
fn default_seed() -> u64 {
    20_240_917
}
fn default_learning_rate() -> f32 {
    1e-3
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// /device:CPU:0, /device:GPU:N, a GPU UUID, or `each-gpu`.
    pub device: Target,
    /// `strict`: no TF32, deterministic kernels, tight tolerances.
    /// `default`: TensorFlow's own numerics, looser tolerances.
    #[serde(default = "strict")]
    pub mode: Numerics,
    #[serde(default = "default_steps")]
    pub steps: usize,
    #[serde(default = "default_batch")]
    pub batch: usize,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f32,
    /// Defaults depend on `mode`, see [`Spec::tolerances`].
    pub rtol: Option<f64>,
    pub atol: Option<f64>,
    /// The share of final weights allowed outside the tolerances (default
    /// 1e-4, about 10 of the model's 101,770). Adam's first step moves every
    /// weight by ±learning_rate whatever its gradient's size, so a gradient
    /// that is zero up to rounding may take either sign on two devices and
    /// put that one weight 2·learning_rate away; a broken device moves many.
    #[serde(default = "default_max_outside_fraction")]
    pub max_outside_fraction: f64,
}

fn default_max_outside_fraction() -> f64 {
    1e-4
}

fn strict() -> Numerics {
    Numerics::Strict
}

/// How far apart two runs are, element by element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    pub max_abs: f64,
    pub max_rel: f64,
    /// The element farthest outside `atol + rtol·|reference|`, if any is.
    pub worst_outside: Option<usize>,
    pub outside: usize,
}

/// numpy's `allclose` rule, element by element, with `reference` as the
/// second argument: |d − r| ≤ atol + rtol·|r|. A non-finite value on either
/// side is outside, whatever the tolerances.
pub fn compare(device: &[f32], reference: &[f32], rtol: f64, atol: f64) -> Difference {
    let mut diff = Difference {
        max_abs: 0.0,
        max_rel: 0.0,
        worst_outside: None,
        outside: 0,
    };
    let mut worst_excess = 0.0f64;
    if device.len() != reference.len() {
        diff.outside = device.len().max(reference.len());
        diff.max_abs = f64::INFINITY;
        diff.max_rel = f64::INFINITY;
        return diff;
    }
    for (i, (d, r)) in device.iter().zip(reference).enumerate() {
        let (d, r) = (*d as f64, *r as f64);
        let abs = (d - r).abs();
        let rel = if r == 0.0 {
            if abs == 0.0 { 0.0 } else { f64::INFINITY }
        } else {
            abs / r.abs()
        };
        let abs = if abs.is_nan() { f64::INFINITY } else { abs };
        diff.max_abs = diff.max_abs.max(abs);
        diff.max_rel = diff
            .max_rel
            .max(if rel.is_nan() { f64::INFINITY } else { rel });
        let excess = abs - (atol + rtol * r.abs());
        if excess > 0.0 || !excess.is_finite() {
            diff.outside += 1;
            if diff.worst_outside.is_none() || excess > worst_excess || !excess.is_finite() {
                worst_excess = if excess.is_finite() {
                    excess
                } else {
                    f64::INFINITY
                };
                diff.worst_outside = Some(i);
            }
        }
    }
    diff
}

impl Spec {
    /// `(rtol, atol)`: the suite's, else the mode's. Strict runs differ only
    /// by summation order; TF32 keeps 10 mantissa bits, so its matmuls are
    /// off by about 1e-3 relative, and Adam carries that into every weight.
    pub fn tolerances(&self) -> (f64, f64) {
        let (rtol, atol) = match self.mode {
            Numerics::Strict => (1e-3, 1e-5),
            Numerics::Default => (5e-2, 1e-3),
        };
        (self.rtol.unwrap_or(rtol), self.atol.unwrap_or(atol))
    }

    pub fn lane(&self) -> Lane {
        self.device.lane(self.mode)
    }

    /// The device the worker trained on decides how the pair differs: a
    /// CPU subject against one CPU thread, a GPU against the CPU.
    fn shapes(&self, device: &str) -> ((SessionShape, String), (SessionShape, &'static str)) {
        let on_cpu = device.to_ascii_uppercase().contains("CPU");
        // The reference never sees a GPU; on a CPU it differs by its thread pool.
        let (reference_label, reference_shape) = if on_cpu {
            (
                "CPU:0, 1 thread",
                SessionShape {
                    threads: Some(1),
                    hide_gpus: true,
                },
            )
        } else {
            (
                "CPU:0",
                SessionShape {
                    threads: None,
                    hide_gpus: true,
                },
            )
        };
        let subject_label = if on_cpu {
            format!("{}, all threads", self.device.short())
        } else {
            self.device.short()
        };
        // A CPU subject must not see GPUs either: the ops the gradient
        // builder leaves unpinned would otherwise run on one.
        let subject_shape = SessionShape {
            threads: None,
            hide_gpus: on_cpu,
        };
        (
            (subject_shape, subject_label),
            (reference_shape, reference_label),
        )
    }

    /// In the worker: both trainings.
    pub fn measure(&self, tf: &mut Runtime) -> FitPair {
        let problem = Problem::generate(self.seed, self.batch, self.steps, self.learning_rate);
        let device = tf.device().to_string();
        let ((subject_shape, _), (reference_shape, _)) = self.shapes(&device);
        let (subject, reference) = tf.fit_pair(
            (&device, subject_shape),
            ("/device:CPU:0", reference_shape),
            &problem,
        );
        // The pair crosses to the parent as data: each failure as its text.
        FitPair {
            device,
            subject: subject.map_err(|e| e.to_string()),
            reference: reference.map_err(|e| e.to_string()),
        }
    }

    /// In the parent: the comparison, and the plot.
    pub fn judge_pair(&self, pair: FitPair) -> Verdict {
        let ((_, subject_label), (_, reference_label)) = self.shapes(&pair.device);
        let subject = match pair.subject {
            Ok(run) => run,
            Err(e) => {
                return Verdict::fail(format!("training on {} did not run: {e}", self.device));
            }
        };
        let reference = match pair.reference {
            Ok(run) => run,
            Err(e) => {
                return Verdict::error(format!("the CPU reference training did not run: {e}"));
            }
        };
        self.judge(&subject, &subject_label, &reference, reference_label)
    }

    pub fn judge(
        &self,
        subject: &FitRun,
        subject_label: &str,
        reference: &FitRun,
        reference_label: &str,
    ) -> Verdict {
        let (rtol, atol) = self.tolerances();
        let losses = compare(&subject.losses, &reference.losses, rtol, atol);
        let subject_weights: Vec<f32> = subject.weights.flat().collect();
        let reference_weights: Vec<f32> = reference.weights.flat().collect();
        let weights = compare(&subject_weights, &reference_weights, rtol, atol);
        let first = reference.losses.first().copied().unwrap_or(f32::NAN);
        let last = reference.losses.last().copied().unwrap_or(f32::NAN);
        let steps = self.steps;
        let tolerance = format!(
            "rtol {rtol:.0e}, atol {atol:.0e}, {} numerics",
            word(self.mode)
        );

        let verdict = if let Some(step) = subject.losses.iter().position(|l| !l.is_finite()) {
            Verdict::fail(format!(
                "training on {subject_label} diverged: the loss at step {} is {}",
                step + 1,
                subject.losses[step]
            ))
        } else if last.partial_cmp(&first) != Some(std::cmp::Ordering::Less) {
            Verdict::fail(format!(
                "the {reference_label} reference did not learn: loss {first:.4} → {last:.4} over {steps} steps"
            ))
        } else if !subject.elsewhere.is_empty() {
            Verdict::fail(format!(
                "training asked for {subject_label} but {} of its ops ran elsewhere",
                subject.elsewhere.len()
            ))
            .with_detail(subject.elsewhere.join("\n"))
        } else if subject.on_device == 0 {
            Verdict::error(format!(
                "TensorFlow reported no placement for the traced training step on {subject_label}"
            ))
        } else if let Some(i) = losses.worst_outside {
            Verdict::fail(format!(
                "loss at step {} differs: {} on {subject_label} vs {} on {reference_label} ({} of {steps} steps outside {tolerance})",
                i + 1,
                subject.losses[i],
                reference.losses[i],
                losses.outside
            ))
        } else if let Some(i) = weights.worst_outside.filter(|_| {
            weights.outside as f64 > self.max_outside_fraction * reference_weights.len() as f64
        }) {
            Verdict::fail(format!(
                "final weights differ: {} of {} outside {tolerance} (at most {} allowed); worst {} vs {} ({})",
                weights.outside,
                reference_weights.len(),
                (self.max_outside_fraction * reference_weights.len() as f64).floor(),
                subject_weights[i],
                reference_weights[i],
                parameter_name(i)
            ))
        } else {
            Verdict::pass(format!(
                "{steps} steps on {subject_label} match {reference_label}: loss {first:.4} → {last:.4}, max |Δloss| {:.1e}, max |Δweight| {:.1e} ({tolerance})",
                losses.max_abs, weights.max_abs
            ))
        };
        let svg = plot::lines_with_difference(
            &format!("{subject_label} vs {reference_label}: training loss"),
            "step",
            "loss",
            &Series {
                label: reference_label,
                values: &reference.losses,
                colour: (0x1f, 0x77, 0xb4),
                dashed: true,
            },
            &Series {
                label: subject_label,
                values: &subject.losses,
                colour: (0xd6, 0x27, 0x28),
                dashed: false,
            },
        );
        verdict
            .with_property("compared", format!("{subject_label} vs {reference_label}"))
            .with_property("loss_max_abs_diff", format!("{:.3e}", losses.max_abs))
            .with_property("loss_max_rel_diff", format!("{:.3e}", losses.max_rel))
            .with_property("weights_max_abs_diff", format!("{:.3e}", weights.max_abs))
            .with_property("weights_max_rel_diff", format!("{:.3e}", weights.max_rel))
            .with_property("weights_outside_tolerance", weights.outside)
            .with_property("loss_first", format!("{first:.6}"))
            .with_property("loss_last", format!("{last:.6}"))
            .with_property("model_ops_on_device", subject.on_device)
            .with_attachment("loss.svg", svg)
    }
}

fn word(mode: Numerics) -> &'static str {
    match mode {
        Numerics::Strict => "strict",
        Numerics::Default => "default",
    }
}

/// Which parameter the i-th flattened weight belongs to, for failure texts.
fn parameter_name(i: usize) -> String {
    use crate::tf::mlp::{CLASSES, HIDDEN, INPUTS};
    let sizes = [
        ("w1", INPUTS * HIDDEN, HIDDEN),
        ("b1", HIDDEN, HIDDEN),
        ("w2", HIDDEN * CLASSES, CLASSES),
        ("b2", CLASSES, CLASSES),
    ];
    let mut offset = i;
    for (name, size, columns) in sizes {
        if offset < size {
            return if name.starts_with('w') {
                format!("{name}[{}][{}]", offset / columns, offset % columns)
            } else {
                format!("{name}[{offset}]")
            };
        }
        offset -= size;
    }
    format!("parameter {i}")
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "device = '/device:CPU:0'";

impl Kind for Spec {
    fn validate(&self) -> Result<(), Invalid> {
        if !(2..=10_000).contains(&self.steps) {
            return Err(Invalid::at(
                "steps",
                format!("`steps` must be between 2 and 10000, got {}", self.steps),
            ));
        }
        if !(1..=4096).contains(&self.batch) {
            return Err(Invalid::at(
                "batch",
                format!("`batch` must be between 1 and 4096, got {}", self.batch),
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate < 1.0) {
            return Err(Invalid::at(
                "learning_rate",
                format!(
                    "`learning_rate` must be between 0 and 1, got {}",
                    self.learning_rate
                ),
            ));
        }
        if !(0.0..0.5).contains(&self.max_outside_fraction) {
            return Err(Invalid::at(
                "max_outside_fraction",
                format!(
                    "`max_outside_fraction` must be at least 0 and below 0.5, got {}",
                    self.max_outside_fraction
                ),
            ));
        }
        for (key, value) in [("rtol", self.rtol), ("atol", self.atol)] {
            if let Some(v) = value.filter(|v| !(0.0..1.0).contains(v)) {
                return Err(Invalid::at(
                    key,
                    format!("`{key}` must be at least 0 and below 1, got {v}"),
                ));
            }
        }
        Ok(())
    }

    fn execution(&self) -> Execution<'_> {
        Execution::Worker(self.lane(), self)
    }

    fn explained_by(&self) -> &'static [Family] {
        TENSORFLOW_COMPUTE
    }

    crate::checks::kind::takes_each_gpu!();
}

impl WorkerCheck for Spec {
    type Measured = FitPair;

    fn measure(
        &self,
        tf: &mut crate::tf::runtime::Runtime,
        _context: &crate::checks::RunContext,
    ) -> FitPair {
        Spec::measure(self, tf)
    }

    fn judge(&self, pair: FitPair, _context: &crate::checks::RunContext) -> Verdict {
        self.judge_pair(pair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tf::mlp::Weights;

    fn spec(toml: &str) -> Spec {
        toml::from_str(toml).unwrap()
    }

    fn run(losses: &[f32], shift: f32) -> FitRun {
        let mut rng = crate::rng::SplitMix64::seeded(3);
        let mut weights = Weights::glorot(&mut rng);
        weights.w2[5] += shift;
        FitRun {
            losses: losses.to_vec(),
            weights,
            on_device: 9,
            elsewhere: Vec::new(),
        }
    }

    #[test]
    fn compare_follows_allclose() {
        let d = compare(&[1.0, 2.0, 0.0], &[1.0, 2.001, 0.0], 1e-3, 0.0);
        assert!(d.worst_outside.is_none(), "{d:?}");
        assert!((d.max_abs - 0.001).abs() < 1e-6);
        let d = compare(&[1.0, 2.1, 0.0], &[1.0, 2.0, 0.0], 1e-3, 1e-3);
        assert_eq!(d.worst_outside, Some(1));
        assert_eq!(d.outside, 1);
        let d = compare(&[f32::NAN], &[1.0], 1.0, 1.0);
        assert_eq!(d.worst_outside, Some(0));
        assert!(d.max_abs.is_infinite());
        let d = compare(&[1.0], &[1.0, 2.0], 1.0, 1.0);
        assert_eq!(d.outside, 2);
    }

    #[test]
    fn matching_runs_pass_with_their_differences_recorded() {
        let s = spec("device = '/device:GPU:0'");
        let v = s.judge(
            &run(&[2.3, 2.0, 1.7], 0.0),
            "GPU:0",
            &run(&[2.3, 2.0, f32::from_bits(1.7f32.to_bits() + 1)], 0.0),
            "CPU:0",
        );
        assert_eq!(v.status, crate::outcome::Status::Pass, "{v:?}");
        assert!(v.message.contains("2.3000 → 1.7000"), "{}", v.message);
        let prop = |k: &str| {
            v.properties
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(prop("weights_max_abs_diff").as_deref(), Some("0.000e0"));
        assert!(prop("loss_max_abs_diff").unwrap().starts_with("1.19"));
        assert_eq!(v.attachments.len(), 1);
        assert!(v.attachments[0].contents.contains("<polyline"));
    }

    #[test]
    fn each_way_of_differing_fails_with_its_own_reason() {
        let s = spec("device = '/device:GPU:0'\nmode = 'strict'");
        let good = run(&[2.3, 2.0, 1.7], 0.0);
        let judge = |r: &FitRun| s.judge(r, "GPU:0", &good, "CPU:0");
        let v = judge(&run(&[2.3, 2.1, 1.7], 0.0));
        assert!(
            v.message
                .starts_with("loss at step 2 differs: 2.1 on GPU:0 vs 2 on CPU:0"),
            "{}",
            v.message
        );
        // One weight off (a rounding-size gradient's sign under Adam) is
        // allowed by default; not when nothing may be outside.
        let one_off = run(&[2.3, 2.0, 1.7], 0.5);
        assert_eq!(judge(&one_off).status, crate::outcome::Status::Pass);
        let exact = spec("device = '/device:GPU:0'\nmax_outside_fraction = 0.0");
        let v = exact.judge(&one_off, "GPU:0", &good, "CPU:0");
        assert!(
            v.message.starts_with("final weights differ: 1 of 101770"),
            "{}",
            v.message
        );
        assert!(v.message.contains("w2[0][5]"), "{}", v.message);
        let mut many_off = run(&[2.3, 2.0, 1.7], 0.0);
        many_off
            .weights
            .w1
            .iter_mut()
            .take(50)
            .for_each(|w| *w += 0.5);
        let v = judge(&many_off);
        assert!(
            v.message
                .starts_with("final weights differ: 50 of 101770 outside"),
            "{}",
            v.message
        );
        assert!(v.message.contains("(at most 10 allowed)"), "{}", v.message);
        let v = judge(&run(&[2.3, f32::NAN, 1.7], 0.0));
        assert!(
            v.message.contains("diverged: the loss at step 2 is NaN"),
            "{}",
            v.message
        );
        let mut elsewhere = run(&[2.3, 2.0, 1.7], 0.0);
        elsewhere.elsewhere = vec!["gpugate_gradients/MatMul (MatMul) on CPU:0".into()];
        let v = judge(&elsewhere);
        assert!(
            v.message.contains("1 of its ops ran elsewhere"),
            "{}",
            v.message
        );
        assert!(v.detail.unwrap().contains("gpugate_gradients/MatMul"));
        let mut untraced = run(&[2.3, 2.0, 1.7], 0.0);
        untraced.on_device = 0;
        assert_eq!(judge(&untraced).status, crate::outcome::Status::Error);
        // A reference that does not learn says so, whatever the device did.
        let flat = run(&[2.3, 2.3, 2.3], 0.0);
        let v = s.judge(&flat, "GPU:0", &flat, "CPU:0");
        assert!(v.message.contains("did not learn"), "{}", v.message);
    }

    #[test]
    fn tolerances_follow_the_mode_unless_given() {
        assert_eq!(spec("device = '/device:CPU:0'").tolerances(), (1e-3, 1e-5));
        assert_eq!(
            spec("device = '/device:CPU:0'\nmode = 'default'").tolerances(),
            (5e-2, 1e-3)
        );
        assert_eq!(
            spec("device = '/device:CPU:0'\nrtol = 0.1").tolerances(),
            (0.1, 1e-5)
        );
    }

    #[test]
    fn bad_specs_are_refused() {
        for (toml, needle) in [
            ("device = '/device:CPU:0'\nsteps = 1", "`steps`"),
            ("device = '/device:CPU:0'\nbatch = 0", "`batch`"),
            ("device = '/device:CPU:0'\nrtol = -1.0", "`rtol`"),
            (
                "device = '/device:CPU:0'\nlearning_rate = 2.0",
                "`learning_rate`",
            ),
            (
                "device = '/device:CPU:0'\nmax_outside_fraction = 0.7",
                "`max_outside_fraction`",
            ),
        ] {
            let e = spec(toml).validate().unwrap_err();
            // The key the suite's error points at is the one the message names.
            assert_eq!(e.key.map(|k| format!("`{k}`")).as_deref(), Some(needle));
            assert!(e.message.contains(needle), "{toml}: {e}");
        }
        assert!(toml::from_str::<Spec>("device = '/device:CPU:0'\nmode = 'fast'").is_err());
        // The device is typed as it is read.
        let e = toml::from_str::<Spec>("device = 'GPU:0'").unwrap_err();
        assert!(e.message().starts_with("`device` must be"), "{e}");
    }

    #[test]
    fn a_gpu_device_gets_a_pinned_strict_lane() {
        let lane = spec("device = 'GPU-1234'").lane();
        assert_eq!(
            lane,
            Lane::Tensorflow {
                device: "/device:GPU:0".into(),
                pin: Some("GPU-1234".into()),
                numerics: Numerics::Strict,
                gpu_options: None,
            }
        );
        assert!(spec("device = 'each-gpu'").concerns_gpu());
        assert!(!spec("device = '/device:CPU:0'").concerns_gpu());
    }
}
