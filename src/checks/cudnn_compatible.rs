//! `cudnn.compatible`: the cuDNN the loader resolves has the build's major
//! and an equal or newer minor (or at least `min`).

use crate::checks::kind::facts_kind;
use crate::diagnose::Family;

use crate::compat::{self, CudnnMatch, Role};
use crate::facts::Facts;
use crate::outcome::Verdict;
use crate::version::Version;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Default: the cuDNN the TensorFlow build was compiled with.
    #[serde(default)]
    pub min: Option<Version>,
}

impl Spec {
    pub fn judge(&self, facts: &Facts) -> Verdict {
        let build = &facts.tensorflow.build;
        let Some(built) = self.min.clone().or_else(|| build.cudnn.clone()) else {
            return match build.cuda_build {
                Some(false) => Verdict::skip(format!(
                    "{} uses no cuDNN; set `min` to check one",
                    build.describe()
                )),
                _ => Verdict::error(format!(
                    "the cuDNN version of {} is unknown; set `min`",
                    build.describe()
                )),
            };
        };
        if let Some(error) = &facts.libraries_error {
            return Verdict::error(format!("the library probe did not finish: {error}"));
        }
        let Some(lib) = facts.library(Role::Cudnn) else {
            return Verdict::error("cuDNN was not probed (the build's libraries are unknown)");
        };
        let Some(copy) = &lib.resolved else {
            let others: Vec<String> = lib
                .other_versions
                .iter()
                .map(|c| {
                    format!(
                        "{} ({})",
                        c.path.display(),
                        c.version.as_ref().map_or("?".into(), |v| v.to_string())
                    )
                })
                .collect();
            let found = if others.is_empty() {
                String::new()
            } else {
                format!("; found only {}", others.join(", "))
            };
            return Verdict::fail(format!(
                "{} not found (cuDNN {built} needed){found}",
                lib.soname
            ))
            .with_detail(lib.error.clone().unwrap_or_default());
        };
        let Some(version) = &copy.version else {
            return Verdict::error(format!(
                "{} loaded from {} but reports no version",
                lib.soname,
                copy.path.display()
            ));
        };
        match compat::cudnn_match(version, &built) {
            CudnnMatch::Ok => Verdict::pass(format!(
                "cuDNN {version} from {} (need {built})",
                copy.path.display()
            )),
            CudnnMatch::WrongMajor => Verdict::fail(format!(
                "cuDNN {version} from {} is a different major than the needed {built}",
                copy.path.display()
            )),
            CudnnMatch::OlderMinor => Verdict::fail(format!(
                "cuDNN {version} from {} is older than the needed {built}",
                copy.path.display()
            )),
        }
    }
}
/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "";

facts_kind! {
    explained_by: &[Family::Driver, Family::Cudnn, Family::CudnnMinor, Family::LibraryShadowed],
    reads_loaded_tensorflow: false,
}
