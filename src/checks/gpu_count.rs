//! `gpu.count`: how many GPUs NVML lists (min / max / equals).

use crate::checks::Invalid;
use crate::checks::kind::facts_kind;
use crate::diagnose::Family;

use super::bounds::{Bounds, Violation};
use super::with_driver;
use crate::facts::Facts;
use crate::facts::driver::Driver;
use crate::outcome::Verdict;

/// A kind of its own, not an alias of `Bounds`: `impl Kind` is for this
/// kind alone, and another kind may bound a `u32` too.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Spec(pub Bounds<u32>);

impl Spec {
    pub fn validate(&self) -> Result<(), Invalid> {
        self.0.check_keys("min = 1")
    }

    pub fn judge(&self, facts: &Facts) -> Verdict {
        with_driver(facts, |driver| self.judge_driver(driver))
    }

    fn judge_driver(&self, driver: &Driver) -> Verdict {
        let n = driver.gpus.len() as u32;
        let listing = driver
            .gpus
            .iter()
            .map(|g| format!("  {}", g.label()))
            .collect::<Vec<_>>()
            .join("\n");
        let wrong = self.0.broken_by(&n).map(|v| match v {
            Violation::NotEqual(want) => format!("need exactly {want}"),
            Violation::Below(min) => format!("need at least {min}"),
            Violation::Above(max) => format!("need at most {max}"),
        });
        let verdict = match wrong {
            Some(why) => Verdict::fail(format!("NVML lists {n} GPU(s) ({why})")),
            None => Verdict::pass(format!("NVML lists {n} GPU(s)")),
        };
        if listing.is_empty() {
            verdict
        } else {
            verdict.with_detail(listing)
        }
    }
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "min = 1";

facts_kind! {
    explained_by: &[Family::Driver],
    reads_loaded_tensorflow: false,
    validated_by: Spec::validate,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{facts_with_driver, gpu, spec};
    use crate::outcome::Status;

    #[test]
    fn counts_nvml_gpus() {
        let facts = facts_with_driver(
            "580.65.06",
            &[gpu(0, "H100", (9, 0)), gpu(1, "H100", (9, 0))],
        );
        let judge = |t: &str| spec::<Spec>(t).judge(&facts);
        assert_eq!(judge("min = 1").status, Status::Pass);
        assert_eq!(judge("equals = 2").status, Status::Pass);
        let v = judge("min = 4");
        assert_eq!(
            (v.status, v.message.as_str()),
            (Status::Fail, "NVML lists 2 GPU(s) (need at least 4)")
        );
        assert_eq!(judge("max = 1").status, Status::Fail);
        assert!(spec::<Spec>("").validate().is_err());
    }
}
