//! `gpu.health`: no uncorrected ECC errors, no page retirement or row remap
//! pending, retirements and remaps under DCGM's limits, no clock
//! throttling by faults or heat.

use crate::checks::kind::facts_kind;
use crate::diagnose::Family;

use super::with_gpus;
use crate::diagnose::health_problems;
use crate::facts::Facts;
use crate::facts::driver::Driver;
use crate::outcome::Verdict;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

impl Spec {
    pub fn judge(&self, facts: &Facts) -> Verdict {
        with_gpus(facts, |driver| self.judge_driver(driver))
    }

    fn judge_driver(&self, driver: &Driver) -> Verdict {
        // A health field NVML failed to read (as opposed to one the GPU does
        // not support) leaves the verdict open.
        for gpu in &driver.gpus {
            let unreadable = [
                (
                    "uncorrected ECC count",
                    gpu.ecc_uncorrected_volatile.error(),
                ),
                ("retired pages", gpu.retired_pages_pending.error()),
                ("retired page counts", gpu.state.retired_pages.error()),
                ("remapped rows", gpu.remapped_rows.error()),
                ("throttle reasons", gpu.throttle_reasons.error()),
            ];
            if let Some((what, e)) = unreadable.iter().find_map(|(w, e)| e.map(|e| (w, e))) {
                return Verdict::error(format!(
                    "{}: NVML could not read its {what}: {e}",
                    gpu.label()
                ));
            }
        }
        let sick: Vec<String> = driver
            .gpus
            .iter()
            .filter_map(|g| {
                let problems = health_problems(g);
                (!problems.is_empty()).then(|| format!("{}: {}", g.label(), problems.join("; ")))
            })
            .collect();
        if sick.is_empty() {
            Verdict::pass(format!(
                "{} GPU(s) healthy (ECC, retirements, remaps, throttling)",
                driver.gpus.len()
            ))
        } else {
            Verdict::fail(sick.join(" | "))
        }
    }
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "";

facts_kind! {
    explained_by: &[Family::Driver, Family::GpuHealth],
    reads_loaded_tensorflow: false,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{facts_with_driver, gpu, spec};
    use crate::facts::driver::Field;
    use crate::outcome::Status;

    #[test]
    fn ecc_and_throttling() {
        let healthy = facts_with_driver("550.54.14", &[gpu(0, "A100", (8, 0))]);
        assert_eq!(spec::<Spec>("").judge(&healthy).status, Status::Pass);
        let mut bad = gpu(0, "A100", (8, 0));
        bad.ecc_uncorrected_volatile = Field::Value(3);
        bad.throttle_reasons = Field::Value(vec!["hw_thermal_slowdown".into()]);
        let v = spec::<Spec>("").judge(&facts_with_driver("550.54.14", &[bad]));
        assert_eq!(v.status, Status::Fail);
        assert_eq!(
            v.message,
            "GPU 0 (A100): 3 uncorrected ECC error(s) since the driver loaded; clocks throttled by hw_thermal_slowdown"
        );
        let mut lost = gpu(0, "A100", (8, 0));
        lost.retired_pages_pending = Field::Error("GPU is lost".into());
        let v = spec::<Spec>("").judge(&facts_with_driver("550.54.14", &[lost]));
        assert_eq!(v.status, Status::Error);
        // DCGM's retirement limits cannot be judged without the counts.
        let mut uncounted = gpu(0, "V100", (7, 0));
        uncounted.state.retired_pages = Field::Error("Unknown Error".into());
        let v = spec::<Spec>("").judge(&facts_with_driver("550.54.14", &[uncounted]));
        assert_eq!(v.status, Status::Error, "{}", v.message);
    }
}
