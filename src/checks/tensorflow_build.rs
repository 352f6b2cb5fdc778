//! `tensorflow.build`: the TensorFlow in use is a CUDA build where the
//! machine has GPUs (or as `cuda` demands), at least `min_version`.

use crate::checks::kind::facts_kind;
use crate::diagnose::Family;

use crate::facts::Facts;
use crate::outcome::Verdict;
use crate::version::Version;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Require a CUDA build (true) or a CPU build (false). Default: a CUDA
    /// build exactly when the machine has NVIDIA GPUs.
    #[serde(default)]
    pub cuda: Option<bool>,
    #[serde(default)]
    pub min_version: Option<Version>,
}

impl Spec {
    pub fn judge(&self, facts: &Facts) -> Verdict {
        let tf = &facts.tensorflow;
        let Some(loaded) = tf.load.as_ref().and_then(|r| r.loaded.as_ref()) else {
            let why = tf
                .load
                .as_ref()
                .map_or("TensorFlow was not loaded".into(), |r| {
                    r.not_loaded_reason()
                });
            return Verdict::error(why);
        };
        let build = &tf.build;
        let gpus = facts.driver.found().map_or(0, |d| d.gpus.len());
        let want_cuda = self.cuda.unwrap_or(gpus > 0);
        let detail = format!(
            "library {}; build facts from {}",
            loaded.path.display(),
            build.source
        );
        if let (Some(min), Some(found)) = (&self.min_version, &build.version)
            && found < min
        {
            return Verdict::fail(format!(
                "TensorFlow {found} is older than the required {min}"
            ))
            .with_detail(detail);
        }
        match (want_cuda, build.cuda_build) {
            (true, Some(false)) => Verdict::fail(format!(
                "{} cannot use GPUs{}",
                build.describe(),
                if gpus > 0 {
                    format!(" on a machine with {gpus} NVIDIA GPU(s)")
                } else {
                    String::new()
                }
            ))
            .with_detail(detail),
            (false, Some(true)) => Verdict::fail(format!(
                "{} is a CUDA build; a CPU build was required",
                build.describe()
            ))
            .with_detail(detail),
            (_, None) => Verdict::error(format!(
                "whether {} is a CUDA build is unknown",
                build.describe()
            ))
            .with_detail(detail),
            _ => Verdict::pass(build.describe()).with_detail(detail),
        }
    }
}
/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "";

facts_kind! {
    explained_by: &[Family::CpuOnlyBuild, Family::HostCpu, Family::HostRuntime],
    reads_loaded_tensorflow: true,
}
