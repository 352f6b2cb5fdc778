//! `tensorflow.loads`: libtensorflow loads and reports its version; on
//! failure, every place searched and the loader's error for each.

use crate::checks::Lane;
use crate::checks::kind::{Execution, Kind, verdict_in_worker};
use crate::diagnose::Family;

use crate::outcome::Verdict;
use crate::tf::runtime::Runtime;
use crate::version::Version;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Lowest acceptable TF_Version, e.g. "2.15".
    #[serde(default)]
    pub min_version: Option<Version>,
}

impl Spec {
    pub fn run(&self, tf: &mut Runtime) -> Verdict {
        let report = tf.load();
        let Some(loaded) = &report.loaded else {
            // The fix follows from what was tried: an explicit choice, a
            // provisioning that failed, or a run told not to download.
            let tried = |source: &str| report.attempts.iter().any(|a| a.source == source);
            let fix = if tried("provisioning") {
                "fix: gpugate's provisioning failed (its error is above): make `python3 -m pip download` work here, or pass --tensorflow-lib PATH"
            } else if report.attempts.iter().any(|a| {
                (a.source == "--tensorflow-lib" || a.source == "TENSORFLOW_DIR") && a.target != "-"
            }) {
                "fix: point --tensorflow-lib (or TENSORFLOW_DIR) at a libtensorflow that loads, or leave it out so gpugate looks elsewhere and provisions one"
            } else {
                "fix: pass --tensorflow-lib PATH, set TENSORFLOW_DIR, `pip install tensorflow`, or run without --offline so gpugate provisions one"
            };
            return Verdict::fail("libtensorflow did not load")
                .with_detail(format!("tried, in order:\n{}", report.describe_attempts()))
                .with_detail(fix);
        };
        let found = Version::parse(&loaded.version);
        let verdict = match (&self.min_version, &found) {
            (Some(min), None) => Verdict::error(format!(
                "libtensorflow reports version `{}`, which cannot be compared with the required {min}",
                loaded.version,
            )),
            (Some(min), Some(found)) if found < min => Verdict::fail(format!(
                "libtensorflow {} loaded from {} is older than the required {min}",
                loaded.version,
                loaded.path.display()
            )),
            _ => Verdict::pass(format!(
                "libtensorflow {} loaded from {} ({}) in {:.2}s",
                loaded.version,
                loaded.path.display(),
                loaded.source,
                loaded.load_seconds
            )),
        };
        verdict
            .with_property("tensorflow.version", &loaded.version)
            .with_property("tensorflow.library", loaded.path.display())
            .with_property(
                "tensorflow.load_seconds",
                format!("{:.3}", loaded.load_seconds),
            )
    }
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "";

impl Kind for Spec {
    fn execution(&self) -> Execution<'_> {
        Execution::Worker(Lane::tensorflow_default(), self)
    }

    fn explained_by(&self) -> &'static [Family] {
        &[Family::TensorflowLoad, Family::HostCpu, Family::HostRuntime]
    }
}

verdict_in_worker!(|spec, tf| spec.run(tf));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_min_version_is_rejected_as_it_is_read() {
        let e = toml::from_str::<Spec>("min_version = 'two'").unwrap_err();
        assert!(e.message().contains("`two` is not a version"), "{e}");
        let spec: Spec = toml::from_str("min_version = '2.18'").unwrap();
        assert_eq!(spec.min_version, Some(crate::version::v("2.18")));
    }
}
