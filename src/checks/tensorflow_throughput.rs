//! `tensorflow.throughput`: matmul TFLOP/s per precision on one device, and
//! on a GPU host-to-device copy bandwidth, each the median of timed runs
//! after warm-up. Passes against absolute minima, or against a fraction of a
//! baseline recorded earlier on the same GPU model (`gpugate baseline
//! record`), so a nightly run catches a slow GPU or a throttled link.

use crate::checks::Invalid;
use crate::checks::kind::TENSORFLOW_COMPUTE;
use crate::checks::kind::{Execution, Kind, WorkerCheck};
use crate::diagnose::Family;

use super::Lane;
use super::target::{Numerics, Target};
use crate::baseline::{BaselineError, Baselines};
use crate::outcome::Verdict;
use crate::tf::runtime::Runtime;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tensorflow::DataType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Float32,
    Float16,
    Bfloat16,
}

impl Precision {
    pub fn word(self) -> &'static str {
        match self {
            Precision::Float32 => "float32",
            Precision::Float16 => "float16",
            Precision::Bfloat16 => "bfloat16",
        }
    }
    fn dtype(self) -> DataType {
        match self {
            Precision::Float32 => DataType::Float,
            Precision::Float16 => DataType::Half,
            Precision::Bfloat16 => DataType::BFloat16,
        }
    }
    pub fn measure(self) -> String {
        format!("{}_tflops", self.word())
    }
}

pub const H2D_MEASURE: &str = "h2d_gbps";

fn default_dtypes() -> Vec<Precision> {
    vec![Precision::Float32, Precision::Float16]
}
fn default_warmup() -> usize {
    3
}
fn default_iterations() -> usize {
    10
}
fn default_h2d_mib() -> usize {
    256
}
fn default_min_fraction() -> f64 {
    0.8
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// /device:CPU:N, /device:GPU:N, a GPU UUID, or `each-gpu`.
    pub device: Target,
    #[serde(default = "default_dtypes")]
    pub dtypes: Vec<Precision>,
    /// The matmul size; default 8192 on a GPU (enough to fill one), 1024 on a CPU.
    pub size: Option<usize>,
    #[serde(default = "default_warmup")]
    pub warmup: usize,
    #[serde(default = "default_iterations")]
    pub iterations: usize,
    /// Absolute floors, e.g. `{ float32 = 20.0, float16 = 100.0 }`.
    #[serde(default)]
    pub min_tflops: BTreeMap<Precision, f64>,
    pub min_h2d_gbps: Option<f64>,
    #[serde(default = "default_h2d_mib")]
    pub h2d_mib: usize,
    /// A baseline file (relative to the suite); each measure must reach
    /// `min_fraction` of this device model's entry.
    pub baseline: Option<PathBuf>,
    #[serde(default = "default_min_fraction")]
    pub min_fraction: f64,
}

/// What one run measured, by measure name (see [`Precision::measure`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub size: usize,
    pub values: Vec<(String, f64)>,
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    match samples.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => samples[n / 2],
        n => (samples[n / 2 - 1] + samples[n / 2]) / 2.0,
    }
}

impl Spec {
    pub fn size(&self) -> usize {
        self.size
            .unwrap_or(if self.device.is_gpu() { 8192 } else { 1024 })
    }

    pub fn resolve(&mut self, base_dir: &Path) {
        if let Some(path) = self.baseline.as_mut().filter(|p| p.is_relative()) {
            *path = base_dir.join(&*path);
        }
    }

    pub fn lane(&self) -> Lane {
        self.device.lane(Numerics::Default)
    }

    /// In the worker: the throughput of each precision (and the
    /// host-to-device copy on a GPU), or why it could not be measured.
    pub fn measure(&self, tf: &mut Runtime) -> Result<Throughput, String> {
        let device = tf.device().to_string();
        let n = self.size();
        let mut measured = Throughput {
            size: n,
            values: Vec::new(),
        };
        for precision in &self.dtypes {
            let seconds = tf
                .matmul_seconds(&device, precision.dtype(), n, self.warmup, self.iterations)
                .map_err(|e| {
                    format!(
                        "{} matmul on {} did not run: {e}",
                        precision.word(),
                        self.device
                    )
                })?;
            let tflops = 2.0 * (n as f64).powi(3) / median(seconds) / 1e12;
            measured.values.push((precision.measure(), tflops));
        }
        if self.concerns_gpu() {
            let bytes = self.h2d_mib << 20;
            let seconds = tf
                .host_to_device_seconds(&device, bytes, self.warmup, self.iterations)
                .map_err(|e| format!("host-to-device copy to {} did not run: {e}", self.device))?;
            measured
                .values
                .push((H2D_MEASURE.into(), bytes as f64 / median(seconds) / 1e9));
        }
        Ok(measured)
    }

    /// In the parent: the baseline file, when the suite names one.
    fn baselines(&self) -> Option<Result<Baselines, BaselineError>> {
        self.baseline.as_deref().map(|path| {
            if path.exists() {
                Baselines::load(path)
            } else {
                Err(BaselineError::Missing {
                    path: path.to_path_buf(),
                })
            }
        })
    }

    pub fn judge(
        &self,
        measured: &Throughput,
        model: Option<&str>,
        baselines: Option<Result<Baselines, BaselineError>>,
    ) -> Verdict {
        let summary = measured
            .values
            .iter()
            .map(|(m, v)| describe(m, *v))
            .collect::<Vec<_>>()
            .join(", ");
        let value_of = |measure: &str| {
            measured
                .values
                .iter()
                .find(|(m, _)| m == measure)
                .map(|(_, v)| *v)
        };
        let mut floors: Vec<(String, f64, &str)> = self
            .min_tflops
            .iter()
            .map(|(p, min)| (p.measure(), *min, "TFLOP/s"))
            .collect();
        if let Some(min) = self.min_h2d_gbps {
            floors.push((H2D_MEASURE.to_string(), min, "GB/s"));
        }
        let mut below: Vec<String> = floors
            .iter()
            .filter_map(|(measure, min, unit)| {
                let v = value_of(measure).filter(|v| v < min)?;
                Some(format!(
                    "{} is below the minimum {min} {unit}",
                    describe(measure, v)
                ))
            })
            .collect();
        let mut missing = Vec::new();
        if let Some(loaded) = baselines {
            let file = self
                .baseline
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let baselines = match loaded {
                Ok(b) => b,
                Err(e) => {
                    return with_measurements(Verdict::error(e.to_string()), measured, model);
                }
            };
            let Some(model) = model else {
                return with_measurements(
                    Verdict::error(format!(
                        "the model of {} is unknown, so no baseline in {file} applies",
                        self.device
                    )),
                    measured,
                    None,
                );
            };
            for (measure, value) in &measured.values {
                let size = if measure == H2D_MEASURE {
                    0
                } else {
                    measured.size
                };
                match baselines.find(model, size, measure) {
                    Some(entry) if *value < self.min_fraction * entry.value => below.push(format!(
                        "{} is {:.0}% of the baseline {} (recorded {}), below min_fraction {}",
                        describe(measure, *value),
                        100.0 * value / entry.value,
                        describe(measure, entry.value),
                        if entry.recorded.is_empty() {
                            "earlier"
                        } else {
                            &entry.recorded
                        },
                        self.min_fraction
                    )),
                    Some(_) => {}
                    None => missing.push(format!("{measure} at size {size}")),
                }
            }
            if !missing.is_empty() && below.is_empty() {
                return with_measurements(
                    Verdict::error(format!(
                        "{file} has no baseline for {model} ({}): record one on this machine with `gpugate baseline record --suite SUITE --out {file}`",
                        missing.join(", ")
                    ))
                    .with_detail(format!("measured: {summary}")),
                    measured,
                    Some(model),
                );
            }
        }
        let verdict = if below.is_empty() {
            Verdict::pass(format!(
                "{} at {n}×{n}: {summary} (median of {})",
                self.device,
                self.iterations,
                n = measured.size
            ))
        } else {
            Verdict::fail(format!("{} is slow: {}", self.device, below[0]))
                .with_detail(below[1..].join("\n"))
                .with_detail(format!(
                    "measured: {summary} (median of {})",
                    self.iterations
                ))
        };
        with_measurements(verdict, measured, model)
    }
}

fn with_measurements(mut verdict: Verdict, measured: &Throughput, model: Option<&str>) -> Verdict {
    if let Some(model) = model {
        verdict = verdict.with_property("device_model", model);
    }
    verdict = verdict.with_property("matmul_size", measured.size);
    for (measure, value) in &measured.values {
        verdict = verdict.with_measurement(measure, *value);
    }
    verdict
}

/// "float32 312.4 TFLOP/s", "host→device 21.3 GB/s".
fn describe(measure: &str, value: f64) -> String {
    match measure.strip_suffix("_tflops") {
        Some(precision) => format!("{precision} {value:.3} TFLOP/s"),
        None => format!("host→device {value:.2} GB/s"),
    }
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "device = '/device:CPU:0'\nmin_tflops = { float32 = 0.01 }";

impl Kind for Spec {
    fn validate(&self) -> Result<(), Invalid> {
        if self.dtypes.is_empty() {
            return Err(Invalid::at(
                "dtypes",
                "`dtypes` must name at least one of float32, float16, bfloat16",
            ));
        }
        if let Some(p) = self.min_tflops.keys().find(|p| !self.dtypes.contains(p)) {
            return Err(Invalid::at(
                "min_tflops",
                format!(
                    "`min_tflops` sets {} but `dtypes` does not measure it",
                    p.word()
                ),
            ));
        }
        // A floor of 0, below 0, NaN or infinite can never fail (or never
        // pass, and NaN cannot even be written into the worker's JSON).
        let floors = self
            .min_tflops
            .iter()
            .map(|(p, v)| ("min_tflops", format!("min_tflops.{}", p.word()), *v))
            .chain(
                self.min_h2d_gbps
                    .map(|v| ("min_h2d_gbps", "min_h2d_gbps".to_string(), v)),
            );
        for (table, key, value) in floors {
            if !(value.is_finite() && value > 0.0) {
                return Err(Invalid::at(
                    table,
                    format!(
                        "`{key}` must be a positive, finite number, got {value} (a floor of 0 or less can never fail)"
                    ),
                ));
            }
        }
        if self.min_h2d_gbps.is_some() && !self.device.is_gpu() {
            return Err(Invalid::at(
                "min_h2d_gbps",
                "`min_h2d_gbps` needs a GPU `device`: host-to-device copies are not measured on a CPU",
            ));
        }
        if self.min_tflops.is_empty() && self.min_h2d_gbps.is_none() && self.baseline.is_none() {
            return Err(Invalid::check(
                "set a threshold: `min_tflops`, `min_h2d_gbps` or `baseline` (a throughput check must be able to fail)",
            ));
        }
        if !(1..=32768).contains(&self.size()) {
            return Err(Invalid::at(
                "size",
                format!("`size` must be between 1 and 32768, got {}", self.size()),
            ));
        }
        if !(1..=1000).contains(&self.iterations) || self.warmup > 100 {
            return Err(Invalid::at(
                "iterations",
                "`iterations` must be between 1 and 1000 and `warmup` at most 100",
            ));
        }
        if !(1..=16384).contains(&self.h2d_mib) {
            return Err(Invalid::at(
                "h2d_mib",
                format!(
                    "`h2d_mib` must be between 1 and 16384, got {}",
                    self.h2d_mib
                ),
            ));
        }
        if !(self.min_fraction > 0.0 && self.min_fraction <= 1.0) {
            return Err(Invalid::at(
                "min_fraction",
                format!(
                    "`min_fraction` must be above 0 and at most 1, got {}",
                    self.min_fraction
                ),
            ));
        }
        Ok(())
    }

    fn execution(&self) -> Execution<'_> {
        Execution::Worker(self.lane(), self)
    }

    fn explained_by(&self) -> &'static [Family] {
        TENSORFLOW_COMPUTE
    }

    crate::checks::kind::resolves_paths!();
    crate::checks::kind::takes_each_gpu!();
}

impl WorkerCheck for Spec {
    type Measured = Result<Throughput, String>;

    fn measure(
        &self,
        tf: &mut crate::tf::runtime::Runtime,
        _context: &crate::checks::RunContext,
    ) -> Result<Throughput, String> {
        Spec::measure(self, tf)
    }

    fn judge(
        &self,
        measured: Result<Throughput, String>,
        context: &crate::checks::RunContext,
    ) -> Verdict {
        match measured {
            Ok(measured) => Spec::judge(
                self,
                &measured,
                context.device_model.as_deref(),
                self.baselines(),
            ),
            Err(why) => Verdict::fail(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::Entry;
    use crate::outcome::Status;

    fn spec(toml: &str) -> Spec {
        let spec: Spec = toml::from_str(toml).unwrap();
        spec.validate().unwrap();
        spec
    }

    fn measured(f32_tflops: f64, h2d: Option<f64>) -> Throughput {
        let mut values = vec![("float32_tflops".to_string(), f32_tflops)];
        if let Some(h) = h2d {
            values.push((H2D_MEASURE.into(), h));
        }
        Throughput { size: 8192, values }
    }

    fn baselines(f32_tflops: f64, h2d: f64) -> Baselines {
        let entry = |measure: &str, size, value| Entry {
            model: "NVIDIA H100 80GB HBM3".into(),
            size,
            measure: measure.into(),
            value,
            recorded: "2026-11-01".into(),
        };
        Baselines {
            entries: vec![
                entry("float32_tflops", 8192, f32_tflops),
                entry(H2D_MEASURE, 0, h2d),
            ],
        }
    }

    const H100: Option<&str> = Some("NVIDIA H100 80GB HBM3");

    #[test]
    fn absolute_minima_pass_and_fail() {
        let s = spec(
            "device = '/device:GPU:0'\ndtypes = ['float32']\nmin_tflops = { float32 = 100.0 }\nmin_h2d_gbps = 10.0",
        );
        let v = s.judge(&measured(300.0, Some(20.0)), H100, None);
        assert_eq!(v.status, Status::Pass, "{v:?}");
        assert!(
            v.message
                .contains("float32 300.000 TFLOP/s, host→device 20.00 GB/s"),
            "{}",
            v.message
        );
        assert_eq!(v.measurements[0], ("float32_tflops".to_string(), 300.0));
        let v = s.judge(&measured(50.0, Some(5.0)), H100, None);
        assert_eq!(v.status, Status::Fail);
        assert_eq!(
            v.message,
            "/device:GPU:0 is slow: float32 50.000 TFLOP/s is below the minimum 100 TFLOP/s"
        );
        assert!(
            v.detail
                .unwrap()
                .contains("host→device 5.00 GB/s is below the minimum 10 GB/s")
        );
    }

    #[test]
    fn a_baseline_fraction_catches_a_slow_gpu() {
        let s = spec(
            "device = '/device:GPU:0'\ndtypes = ['float32']\nbaseline = 'b.toml'\nmin_fraction = 0.8",
        );
        let v = s.judge(
            &measured(290.0, Some(20.0)),
            H100,
            Some(Ok(baselines(300.0, 22.0))),
        );
        assert_eq!(v.status, Status::Pass, "{v:?}");
        let v = s.judge(
            &measured(150.0, Some(20.0)),
            H100,
            Some(Ok(baselines(300.0, 22.0))),
        );
        assert_eq!(v.status, Status::Fail);
        assert!(
            v.message
                .contains("is 50% of the baseline float32 300.000 TFLOP/s (recorded 2026-11-01)"),
            "{}",
            v.message
        );
    }

    #[test]
    fn a_baseline_that_does_not_apply_is_an_error_not_a_pass() {
        let s = spec("device = '/device:GPU:0'\ndtypes = ['float32']\nbaseline = 'b.toml'");
        let v = s.judge(
            &measured(300.0, Some(20.0)),
            Some("Tesla T4"),
            Some(Ok(baselines(300.0, 22.0))),
        );
        assert_eq!(v.status, Status::Error);
        assert!(
            v.message.contains("no baseline for Tesla T4")
                && v.message.contains("gpugate baseline record"),
            "{}",
            v.message
        );
        let v = s.judge(
            &measured(300.0, None),
            None,
            Some(Ok(baselines(300.0, 22.0))),
        );
        assert_eq!(v.status, Status::Error);
        let v = s.judge(
            &measured(300.0, None),
            H100,
            Some(Err(BaselineError::Missing {
                path: "b.toml".into(),
            })),
        );
        assert_eq!(v.status, Status::Error);
        assert!(
            v.message
                .starts_with("the baseline file b.toml does not exist")
        );
        // Measurements travel with the error, so `baseline record` can use them.
        assert_eq!(v.measurements.len(), 1);
    }

    #[test]
    fn specs_must_be_able_to_fail_and_make_sense() {
        for (toml, needle) in [
            ("device = '/device:GPU:0'", "set a threshold"),
            (
                "device = '/device:CPU:0'\nmin_h2d_gbps = 1.0",
                "needs a GPU",
            ),
            (
                "device = '/device:GPU:0'\ndtypes = ['float32']\nmin_tflops = { float16 = 1.0 }",
                "does not measure it",
            ),
            (
                "device = '/device:GPU:0'\ndtypes = []\nmin_h2d_gbps = 1.0",
                "at least one",
            ),
            (
                "device = '/device:CPU:0'\nmin_tflops = { float32 = -1.0 }",
                "positive, finite",
            ),
            (
                "device = '/device:CPU:0'\nmin_tflops = { float32 = 0.0 }",
                "positive, finite",
            ),
            (
                "device = '/device:CPU:0'\nmin_tflops = { float32 = nan }",
                "positive, finite",
            ),
            (
                "device = '/device:GPU:0'\nmin_h2d_gbps = inf",
                "positive, finite",
            ),
            (
                "device = '/device:GPU:0'\nmin_h2d_gbps = 1.0\nmin_fraction = 0.0",
                "min_fraction",
            ),
        ] {
            let e = toml::from_str::<Spec>(toml)
                .unwrap()
                .validate()
                .unwrap_err();
            assert!(e.message.contains(needle), "{toml}: {e}");
        }
        assert_eq!(
            spec("device = '/device:GPU:0'\nmin_h2d_gbps = 1.0").size(),
            8192
        );
        assert_eq!(
            spec("device = '/device:CPU:0'\nmin_tflops = { float32 = 0.001 }").size(),
            1024
        );
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
