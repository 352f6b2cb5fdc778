//! `driver.version`: the NVIDIA driver NVML reports is at least / at most /
//! exactly a version, compared part by part (535.104.05 > 535.54.03).

use super::bounds::{self, Violation};
use super::driver_or_verdict;
use crate::facts::Facts;
use crate::outcome::Verdict;
use crate::version::Version;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub min: Option<Version>,
    #[serde(default)]
    pub max: Option<Version>,
    #[serde(default)]
    pub equals: Option<Version>,
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        bounds::validate(
            self.min.as_ref(),
            self.max.as_ref(),
            self.equals.as_ref(),
            "min = \"535.104.05\"",
        )
    }

    pub fn judge(&self, facts: &Facts) -> Verdict {
        let driver = match driver_or_verdict(facts) {
            Ok(d) => d,
            Err(v) => return *v,
        };
        let found = &driver.version;
        let wrong = bounds::violation(
            found,
            self.min.as_ref(),
            self.max.as_ref(),
            self.equals.as_ref(),
        )
        .map(|v| match v {
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
