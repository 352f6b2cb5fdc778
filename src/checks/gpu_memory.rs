//! `gpu.memory`: every GPU has at least this much memory in total and free.

use crate::checks::Invalid;
use crate::checks::kind::facts_kind;
use crate::diagnose::Family;

use super::with_gpus;
use crate::facts::Facts;
use crate::facts::driver::Driver;
use crate::outcome::Verdict;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub min_total_mib: Option<u64>,
    #[serde(default)]
    pub min_free_mib: Option<u64>,
}

impl Spec {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.min_total_mib.is_none() && self.min_free_mib.is_none() {
            return Err(Invalid::check("give `min_total_mib` or `min_free_mib`"));
        }
        // A floor of 0 MiB can never be missed.
        for (key, value) in [
            ("min_total_mib", self.min_total_mib),
            ("min_free_mib", self.min_free_mib),
        ] {
            if value == Some(0) {
                return Err(Invalid::at(
                    key,
                    format!("`{key}` is 0, which no GPU can fall short of; give at least 1"),
                ));
            }
        }
        Ok(())
    }

    pub fn judge(&self, facts: &Facts) -> Verdict {
        with_gpus(facts, |driver| self.judge_driver(driver))
    }

    fn judge_driver(&self, driver: &Driver) -> Verdict {
        let mut short = Vec::new();
        let mut lines = Vec::new();
        for gpu in &driver.gpus {
            let Some(m) = gpu.memory.value() else {
                return Verdict::error(format!(
                    "{}: memory not readable ({:?})",
                    gpu.label(),
                    gpu.memory
                ));
            };
            lines.push(format!(
                "  {}: {} MiB total, {} MiB free",
                gpu.label(),
                m.total_mib,
                m.free_mib
            ));
            if let Some(min) = self.min_total_mib.filter(|min| m.total_mib < *min) {
                short.push(format!(
                    "{} has {} MiB in total (need {min})",
                    gpu.label(),
                    m.total_mib
                ));
            }
            if let Some(min) = self.min_free_mib.filter(|min| m.free_mib < *min) {
                short.push(format!(
                    "{} has {} MiB free (need {min})",
                    gpu.label(),
                    m.free_mib
                ));
            }
        }
        let verdict = if short.is_empty() {
            Verdict::pass(format!("{} GPU(s) with enough memory", driver.gpus.len()))
        } else {
            Verdict::fail(short.join("; "))
        };
        verdict.with_detail(lines.join("\n"))
    }
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "min_total_mib = 1";

facts_kind! {
    explained_by: &[Family::Driver, Family::GpuBusy],
    reads_loaded_tensorflow: false,
    validated_by: Spec::validate,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{facts_with_driver, gpu, spec};
    use crate::facts::driver::{Field, Memory};
    use crate::outcome::Status;

    #[test]
    fn total_and_free() {
        let mut busy = gpu(1, "A100", (8, 0));
        busy.memory = Field::Value(Memory {
            total_mib: 40960,
            free_mib: 1024,
            used_mib: 39936,
        });
        let facts = facts_with_driver("550.54.14", &[gpu(0, "A100", (8, 0)), busy]);
        let judge = |t: &str| spec::<Spec>(t).judge(&facts);
        assert_eq!(judge("min_total_mib = 40000").status, Status::Pass);
        let v = judge("min_free_mib = 8192");
        assert_eq!(v.status, Status::Fail);
        assert_eq!(v.message, "GPU 1 (A100) has 1024 MiB free (need 8192)");
        assert!(spec::<Spec>("").validate().is_err());
    }
}
