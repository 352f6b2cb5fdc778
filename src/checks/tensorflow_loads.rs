//! `tensorflow.loads`: libtensorflow loads and reports its version; on
//! failure, every place searched and the loader's error for each.

use crate::outcome::Verdict;
use crate::tf::runtime::Runtime;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Lowest acceptable TF_Version, e.g. "2.15".
    #[serde(default)]
    pub min_version: Option<String>,
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(v) = &self.min_version {
            parse_version(v)
                .ok_or_else(|| format!("`min_version` must look like 2.15 or 2.18.1, got `{v}`"))?;
        }
        Ok(())
    }

    pub fn run(&self, tf: &mut Runtime) -> Verdict {
        let report = tf.load();
        let Some(loaded) = &report.loaded else {
            return Verdict::fail("libtensorflow did not load")
                .with_detail(format!("tried, in order:\n{}", report.describe_attempts()))
                .with_detail("fix: pass --tensorflow-lib PATH, set TENSORFLOW_DIR, `pip install tensorflow`, or run without --offline so gpugate provisions one");
        };
        let verdict = match &self.min_version {
            Some(min) if version_less(&loaded.version, min) => Verdict::fail(format!(
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

/// Numeric parts of a version; pre-release suffixes (`2.19.0-rc1`) are cut.
pub fn parse_version(text: &str) -> Option<Vec<u64>> {
    let core = text.split(['-', '+']).next()?;
    core.split('.').map(|p| p.parse().ok()).collect()
}

/// Whether `a` is an older version than `b` (missing parts count as 0).
pub fn version_less(a: &str, b: &str) -> bool {
    let (Some(mut a), Some(mut b)) = (parse_version(a), parse_version(b)) else {
        return false;
    };
    let len = a.len().max(b.len());
    a.resize(len, 0);
    b.resize(len, 0);
    a < b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_less("2.9.1", "2.15"));
        assert!(!version_less("2.18.1", "2.18"));
        assert!(version_less("2.18", "2.18.1"));
        assert!(!version_less("2.19.0-rc1", "2.19"));
    }

    #[test]
    fn bad_min_version_is_rejected() {
        assert!(
            Spec {
                min_version: Some("two".into())
            }
            .validate()
            .is_err()
        );
    }
}
