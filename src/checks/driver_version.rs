//! `driver.version`: the NVIDIA driver NVML reports is at least / at most /
//! exactly a version, compared part by part (535.104.05 > 535.54.03).

use crate::checks::Invalid;
use crate::checks::kind::facts_kind;
use crate::diagnose::Family;

use super::bounds::{Bounds, Violation};
use super::with_driver;
use crate::facts::Facts;
use crate::facts::driver::Driver;
use crate::outcome::Verdict;
use crate::version::Version;

/// A kind of its own, not an alias of `Bounds`: `impl Kind` is for this
/// kind alone, and another kind may bound a `Version` too.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Spec(pub Bounds<Version>);

impl Spec {
    pub fn validate(&self) -> Result<(), Invalid> {
        self.0.check_keys("min = \"535.104.05\"")
    }

    pub fn judge(&self, facts: &Facts) -> Verdict {
        with_driver(facts, |driver| self.judge_driver(driver))
    }

    fn judge_driver(&self, driver: &Driver) -> Verdict {
        let found = &driver.version;
        let wrong = self.0.broken_by(found).map(|v| match v {
            Violation::NotEqual(want) => format!("is not the required {want}"),
            Violation::Below(min) => format!("is older than the required {min}"),
            Violation::Above(max) => format!("is newer than the allowed {max}"),
        });
        match wrong {
            Some(why) => Verdict::fail(format!("NVIDIA driver {found} {why}"))
                .with_detail(format!("NVML: {}", driver.library)),
            None => Verdict::pass(format!("NVIDIA driver {found}")),
        }
    }
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "min = '535.0'";

facts_kind! {
    explained_by: &[Family::Driver, Family::DriverTooOld, Family::DriverCompatibility],
    reads_loaded_tensorflow: false,
    validated_by: Spec::validate,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{facts_with_driver, spec};
    use crate::outcome::Status;

    #[test]
    fn compares_versions_as_numbers() {
        let facts = facts_with_driver("535.104.05", &[]);
        let judge = |toml: &str| spec::<Spec>(toml).judge(&facts);
        assert_eq!(judge("min = '535.54.03'").status, Status::Pass);
        assert_eq!(judge("min = '535.129.03'").status, Status::Fail);
        assert_eq!(judge("max = '535.104'").status, Status::Fail);
        assert_eq!(judge("equals = '535.104.05'").status, Status::Pass);
        let v = judge("min = '550'");
        assert_eq!(
            v.message,
            "NVIDIA driver 535.104.05 is older than the required 550"
        );
    }

    #[test]
    fn rejects_contradictions() {
        assert!(spec::<Spec>("").validate().is_err());
        assert!(
            spec::<Spec>("min = '550'\nequals = '550'")
                .validate()
                .is_err()
        );
        assert!(spec::<Spec>("min = '560'\nmax = '550'").validate().is_err());
        assert!(toml::from_str::<Spec>("min = 'latest'").is_err());
    }
}
