//! `driver.version`: the NVIDIA driver NVML reports is at least / at most /
//! exactly a version, compared part by part (535.104.05 > 535.54.03).

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
        match (&self.min, &self.max, &self.equals) {
            (None, None, None) => {
                Err("give `min`, `max` or `equals` (e.g. min = \"535.104.05\")".into())
            }
            (_, _, Some(_)) if self.min.is_some() || self.max.is_some() => {
                Err("`equals` cannot be combined with `min` or `max`".into())
            }
            (Some(min), Some(max), _) if min > max => {
                Err(format!("`min` {min} is above `max` {max}"))
            }
            _ => Ok(()),
        }
    }

    pub fn judge(&self, facts: &Facts) -> Verdict {
        let driver = match driver_or_verdict(facts) {
            Ok(d) => d,
            Err(v) => return v,
        };
        let found = &driver.version;
        let wrong = match (&self.min, &self.max, &self.equals) {
            (_, _, Some(want)) if found != want => Some(format!("is not the required {want}")),
            (Some(min), _, _) if found < min => Some(format!("is older than the required {min}")),
            (_, Some(max), _) if found > max => Some(format!("is newer than the allowed {max}")),
            _ => None,
        };
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
