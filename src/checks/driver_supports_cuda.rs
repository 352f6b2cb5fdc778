//! `driver.supports_cuda`: the driver covers the CUDA version the TensorFlow
//! build needs (or `cuda = "12.5"`), fully or under minor-version
//! compatibility, and says which.

use crate::checks::kind::facts_kind;
use crate::diagnose::Family;

use super::with_driver;
use crate::compat::{self, DriverSupport};
use crate::facts::Facts;
use crate::facts::driver::Driver;
use crate::outcome::Verdict;
use crate::version::Version;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Default: the CUDA version of the TensorFlow build in use.
    #[serde(default)]
    pub cuda: Option<Version>,
    /// Accept minor-version compatibility (runs; no PTX JIT).
    #[serde(default = "yes")]
    pub allow_minor_version_compat: bool,
}

fn yes() -> bool {
    true
}

impl Spec {
    pub fn judge(&self, facts: &Facts) -> Verdict {
        with_driver(facts, |driver| self.judge_driver(facts, driver))
    }

    fn judge_driver(&self, facts: &Facts, driver: &Driver) -> Verdict {
        let build = &facts.tensorflow.build;
        let (needed, whose) = match (&self.cuda, &build.cuda) {
            (Some(c), _) => (c.clone(), format!("CUDA {c}")),
            (None, Some(c)) => (
                c.clone(),
                format!("{} (from {})", build.describe(), build.source),
            ),
            (None, None) if build.cuda_build == Some(false) => {
                return Verdict::skip(format!(
                    "{} needs no CUDA; set `cuda` to check a version",
                    build.describe()
                ));
            }
            (None, None) => {
                return Verdict::error(format!(
                    "the CUDA version of {} is unknown; set `cuda`",
                    build.describe()
                ));
            }
        };
        let version = &driver.version;
        match compat::driver_support(version, driver.cuda.value(), &needed) {
            DriverSupport::Full { driver_cuda } => Verdict::pass(format!(
                "driver {version} (CUDA {driver_cuda}) fully supports CUDA {needed}"
            )),
            DriverSupport::MinorVersion {
                driver_cuda,
                toolkit_driver,
            } => {
                let text = format!(
                    "driver {version} (CUDA {driver_cuda}) runs CUDA {needed} only under minor-version compatibility (no PTX JIT; full support from {toolkit_driver})"
                );
                if self.allow_minor_version_compat {
                    Verdict::pass(text.clone()).with_detail(format!("warning: {text}"))
                } else {
                    Verdict::fail(text).with_detail(format!("needed by {whose}"))
                }
            }
            DriverSupport::TooOld { driver_cuda, .. } => Verdict::fail(format!(
                "driver {version} supports CUDA up to {driver_cuda}; {whose} needs CUDA {needed}"
            )),
        }
    }
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "";

facts_kind! {
    explained_by: &[Family::Driver, Family::DriverTooOld, Family::DriverCompatibility],
    reads_loaded_tensorflow: false,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{facts_with_driver, spec};
    use crate::outcome::Status;

    #[test]
    fn full_minor_and_too_old() {
        let judge =
            |driver: &str, toml: &str| spec::<Spec>(toml).judge(&facts_with_driver(driver, &[]));
        assert_eq!(judge("580.65.06", "").status, Status::Pass);
        let minor = judge("535.104.05", "");
        assert_eq!(minor.status, Status::Pass);
        assert!(
            minor.message.contains("minor-version compatibility"),
            "{}",
            minor.message
        );
        assert_eq!(
            judge("535.104.05", "allow_minor_version_compat = false").status,
            Status::Fail
        );
        let old = judge("470.182.03", "");
        assert_eq!(old.status, Status::Fail);
        assert!(
            old.message.contains("supports CUDA up to 11.4"),
            "{}",
            old.message
        );
        assert_eq!(judge("470.182.03", "cuda = '11.8'").status, Status::Pass);
    }
}
