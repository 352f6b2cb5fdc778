//! `gpu.compute_capability`: every GPU is at least `min`, and the TensorFlow
//! build has kernels for it. Coverage by PTX alone passes with a warning: it
//! runs, after the driver JIT-compiles the kernels.

use crate::checks::Invalid;
use crate::checks::kind::facts_kind;
use crate::diagnose::Family;

use super::with_gpus;
use crate::compat::{self, Capability, Coverage};
use crate::facts::Facts;
use crate::facts::driver::Driver;
use crate::outcome::Verdict;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// e.g. "7.0"
    #[serde(default)]
    pub min: Option<MinCapability>,
    /// The build in use must have kernels (machine code or PTX) for each GPU.
    #[serde(default = "yes")]
    pub covered_by_build: bool,
}

fn yes() -> bool {
    true
}

/// `min` as a suite writes it ("7.0"), a capability from the moment it is
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MinCapability(pub Capability);

impl TryFrom<String> for MinCapability {
    type Error = String;

    fn try_from(text: String) -> Result<MinCapability, String> {
        match Capability::parse_arch(&text) {
            Some(cc) if text.contains('.') => Ok(MinCapability(cc)),
            _ => Err(format!(
                "`min` must be a compute capability like \"7.0\", got \"{text}\""
            )),
        }
    }
}

impl From<MinCapability> for String {
    fn from(min: MinCapability) -> String {
        min.0.to_string()
    }
}

impl Spec {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.min.is_none() && !self.covered_by_build {
            return Err(Invalid::check("give `min`, or leave `covered_by_build` on"));
        }
        Ok(())
    }

    pub fn judge(&self, facts: &Facts) -> Verdict {
        with_gpus(facts, |driver| self.judge_driver(facts, driver))
    }

    fn judge_driver(&self, facts: &Facts, driver: &Driver) -> Verdict {
        let build = &facts.tensorflow.build;
        let min = self.min.map(|m| m.0);
        let (mut failures, mut warnings, mut lines) = (Vec::new(), Vec::new(), Vec::new());
        for gpu in &driver.gpus {
            let Some(cc) = gpu.compute_capability.value().copied() else {
                return Verdict::error(format!(
                    "{}: compute capability not readable ({:?})",
                    gpu.label(),
                    gpu.compute_capability
                ));
            };
            let mut line = format!("  {}: {cc}", gpu.label());
            if let Some(min) = min.filter(|m| cc < *m) {
                failures.push(format!("{} is {cc}, below the required {min}", gpu.label()));
            }
            if self.covered_by_build && !build.archs.is_empty() {
                match compat::coverage(cc, &build.archs, build.ptx_isa().as_ref()) {
                    Coverage::Native { arch } => line.push_str(&format!(", machine code {arch}")),
                    Coverage::PtxJit { arch } => {
                        line.push_str(&format!(", PTX {arch} only"));
                        warnings.push(format!(
                            "warning: {} ({cc}) has no machine code in {}; its {arch} PTX is JIT-compiled at start-up",
                            gpu.label(),
                            build.describe()
                        ));
                    }
                    Coverage::PtxTooOld { arch, isa, needed } => failures.push(format!(
                        "{} ({cc}) has no machine code in {}, and its {arch} PTX (ISA {isa}) cannot target it (needs ISA {needed} or newer)",
                        gpu.label(),
                        build.describe()
                    )),
                    Coverage::None { lowest } => failures.push(format!(
                        "{} ({cc}) is older than every kernel in {} (lowest {})",
                        gpu.label(),
                        build.describe(),
                        lowest.unwrap_or_default()
                    )),
                }
            }
            lines.push(line);
        }
        if self.covered_by_build && build.archs.is_empty() && build.cuda_build != Some(false) {
            warnings.push(format!(
                "warning: the kernel architectures of {} are unknown; coverage not checked",
                build.describe()
            ));
        }
        let mut detail = lines;
        detail.push(format!(
            "build kernels: {} (from {})",
            build.archs.join(", "),
            build.source
        ));
        detail.extend(warnings.iter().cloned());
        let verdict = if !failures.is_empty() {
            Verdict::fail(failures.join("; "))
        } else if !warnings.is_empty() {
            Verdict::pass(format!(
                "{} GPU(s) supported, with warnings",
                driver.gpus.len()
            ))
        } else {
            Verdict::pass(format!(
                "{} GPU(s) supported with machine code",
                driver.gpus.len()
            ))
        };
        verdict.with_detail(detail.join("\n"))
    }
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "";

facts_kind! {
    explained_by: &[
        Family::Driver,
        Family::DriverCompatibility,
        Family::ComputeCapability,
        Family::PtxJit,
    ],
    reads_loaded_tensorflow: false,
    validated_by: Spec::validate,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{facts_with_driver, gpu, spec};
    use crate::outcome::Status;

    #[test]
    fn native_ptx_and_unsupported() {
        let judge = |cc, t: &str| {
            spec::<Spec>(t).judge(&facts_with_driver("580.65.06", &[gpu(0, "X", cc)]))
        };
        assert_eq!(
            judge((8, 6), "").message,
            "1 GPU(s) supported with machine code"
        );
        let h100 = judge((9, 0), "");
        assert_eq!(h100.status, Status::Pass);
        assert!(
            h100.detail
                .unwrap()
                .contains("warning: GPU 0 (X) (9.0) has no machine code")
        );
        let k80 = judge((3, 7), "");
        assert_eq!(k80.status, Status::Fail);
        assert!(k80.message.contains("older than every kernel in TensorFlow 2.18.1 (CUDA 12.5.1, cuDNN 9.3) (lowest sm_60)"), "{}", k80.message);
        assert_eq!(judge((7, 5), "min = '8.0'").status, Status::Fail);
        let e = toml::from_str::<Spec>("min = 'eight'").unwrap_err();
        assert!(
            e.message()
                .starts_with("`min` must be a compute capability"),
            "{e}"
        );
        assert!(
            toml::from_str::<Spec>("min = '80'").is_err(),
            "a dot is required"
        );
    }
}
