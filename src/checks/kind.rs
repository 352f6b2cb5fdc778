//! What every check kind says about itself, in one trait each kind's module
//! implements. Only `execution` has no default: a kind writes where it runs
//! and whatever else differs from the defaults (nothing to validate beyond
//! serde, not about the GPU stack, no path, no `device` key), and
//! `check_kinds!` in `checks/mod.rs` lists it once.

use super::{Lane, RunContext, Target};
use crate::checks::Invalid;
use crate::diagnose::Family;
use crate::facts::Facts;
use crate::outcome::Verdict;
use crate::tf::runtime::Runtime;
use std::path::Path;
use std::time::Duration;

pub trait Kind {
    /// Where and how it runs.
    fn execution(&self) -> Execution<'_>;

    /// Checks what serde cannot (contradictory keys, ranges).
    fn validate(&self) -> Result<(), Invalid> {
        Ok(())
    }

    /// Whether its failure is about the GPU stack, so that diagnoses may
    /// explain it (a CPU matmul failing is not a driver problem).
    fn concerns_gpu(&self) -> bool {
        false
    }

    /// The families of causes that can explain its failure.
    fn explained_by(&self) -> &'static [Family] {
        &[]
    }

    /// Makes relative paths relative to the suite's directory.
    fn resolve_paths(&mut self, _base_dir: &Path) {}

    /// The `device` key of a kind that accepts `device = "each-gpu"`.
    fn per_device(&self) -> Option<&Target> {
        None
    }

    /// The same key, for the `each-gpu` expansion to point it at one GPU.
    fn per_device_mut(&mut self) -> Option<&mut Target> {
        None
    }
}

/// Where a check runs, with the code that runs it there.
pub enum Execution<'a> {
    /// In the parent: no native code is loaded.
    Parent(&'a dyn InParent),
    /// A judgement over the facts gathered before the checks run.
    Facts(&'a dyn OverFacts),
    /// In a worker process on this lane (anything that loads native code).
    Worker(Lane, &'a dyn InWorker),
}

pub trait InParent {
    /// The verdict, and captured output worth showing beside it.
    fn run(&self, timeout: Duration) -> (Verdict, Option<String>);
}

pub trait OverFacts {
    fn judge(&self, facts: &Facts) -> Verdict;

    /// Whether the judgement reads the loaded TensorFlow build, so that a
    /// run selecting only this check still loads it.
    fn reads_loaded_tensorflow(&self) -> bool;
}

/// A check that runs in a worker: the worker measures, the parent judges
/// (reading baselines, drawing plots), so what crosses the process boundary
/// is data, never a decision. Implemented through [`WorkerCheck`].
pub trait InWorker {
    /// In the worker: what the check measured, as JSON for the parent.
    fn measure_json(&self, tf: &mut Runtime, context: &RunContext) -> serde_json::Value;

    /// In the parent: the verdict on what the worker sent.
    fn judge_json(&self, measured: serde_json::Value, context: &RunContext) -> Verdict;
}

/// [`InWorker`] with the measurement's own type.
pub trait WorkerCheck {
    /// What crosses from the worker to the parent. Checks with nothing to
    /// judge beyond what they saw send their [`Verdict`].
    type Measured: serde::Serialize + serde::de::DeserializeOwned;

    fn measure(&self, tf: &mut Runtime, context: &RunContext) -> Self::Measured;

    fn judge(&self, measured: Self::Measured, context: &RunContext) -> Verdict;
}

impl<T: WorkerCheck> InWorker for T {
    fn measure_json(&self, tf: &mut Runtime, context: &RunContext) -> serde_json::Value {
        serde_json::to_value(self.measure(tf, context)).unwrap_or_else(|e| {
            serde_json::to_value(Verdict::error(format!(
                "the measurement did not serialize: {e}"
            )))
            .expect("a verdict serializes")
        })
    }

    fn judge_json(&self, measured: serde_json::Value, context: &RunContext) -> Verdict {
        match serde_json::from_value(measured.clone()) {
            Ok(measured) => self.judge(measured, context),
            // A measurement that failed to serialize arrives as a verdict.
            Err(e) => serde_json::from_value(measured).unwrap_or_else(|_| {
                Verdict::error(format!("the worker's measurement could not be read: {e}"))
            }),
        }
    }
}

/// The [`Kind`] method of a kind with paths, inside its `impl Kind`: the
/// spec's own `resolve` makes them relative to the suite.
macro_rules! resolves_paths {
    () => {
        fn resolve_paths(&mut self, base_dir: &std::path::Path) {
            Spec::resolve(self, base_dir)
        }
    };
}
pub(crate) use resolves_paths;

/// The [`Kind`] methods of a kind whose `device` key accepts `each-gpu`
/// (a [`Target`]), inside its `impl Kind`: the key, and that a failure is
/// about the GPU stack when the device is a GPU.
macro_rules! takes_each_gpu {
    () => {
        fn concerns_gpu(&self) -> bool {
            self.device.is_gpu()
        }

        fn per_device(&self) -> Option<&$crate::checks::Target> {
            Some(&self.device)
        }

        fn per_device_mut(&mut self) -> Option<&mut $crate::checks::Target> {
            Some(&mut self.device)
        }
    };
}
pub(crate) use takes_each_gpu;

/// [`Kind`] and [`OverFacts`] for a kind judged over the facts: such a kind
/// concerns the GPU stack, reads no path and has no `device` key, so what
/// sets one facts kind apart from another is all it says. A facts kind that
/// differs in anything else implements the traits itself.
macro_rules! facts_kind {
    (
        explained_by: $families:expr,
        reads_loaded_tensorflow: $reads_tf:expr
        $(, validated_by: $validate:path)? $(,)?
    ) => {
        impl $crate::checks::kind::Kind for Spec {
            $(
                fn validate(&self) -> Result<(), $crate::checks::Invalid> {
                    $validate(self)
                }
            )?

            fn execution(&self) -> $crate::checks::kind::Execution<'_> {
                $crate::checks::kind::Execution::Facts(self)
            }

            fn concerns_gpu(&self) -> bool {
                true
            }

            fn explained_by(&self) -> &'static [$crate::diagnose::Family] {
                $families
            }
        }

        impl $crate::checks::kind::OverFacts for Spec {
            fn judge(&self, facts: &$crate::facts::Facts) -> $crate::outcome::Verdict {
                Spec::judge(self, facts)
            }

            fn reads_loaded_tensorflow(&self) -> bool {
                $reads_tf
            }
        }
    };
}
pub(crate) use facts_kind;

/// [`WorkerCheck`] for a worker kind judged where it runs (a load, a
/// placement): its measurement is its verdict, and the parent has nothing
/// more to judge. The closure says how the worker runs it.
macro_rules! verdict_in_worker {
    (|$spec:ident, $tf:pat_param| $run:expr) => {
        impl $crate::checks::kind::WorkerCheck for Spec {
            type Measured = $crate::outcome::Verdict;

            fn measure(
                &self,
                tf: &mut $crate::tf::runtime::Runtime,
                _context: &$crate::checks::RunContext,
            ) -> $crate::outcome::Verdict {
                let $spec = self;
                let $tf = tf;
                $run
            }

            fn judge(
                &self,
                measured: $crate::outcome::Verdict,
                _context: &$crate::checks::RunContext,
            ) -> $crate::outcome::Verdict {
                measured
            }
        }
    };
}
pub(crate) use verdict_in_worker;

/// Whether a family can explain a failed compute check: every family but
/// the informational ones, and XLA's only where the check compiles with XLA.
const fn explains_compute(family: Family, with_xla: bool) -> bool {
    !family.informational() && (with_xla || !matches!(family, Family::Xla))
}

/// The families [`explains_compute`] keeps, in `Family::ALL`'s order.
macro_rules! compute_families {
    ($with_xla:expr) => {{
        const fn count() -> usize {
            let (mut n, mut i) = (0, 0);
            while i < Family::ALL.len() {
                if explains_compute(Family::ALL[i], $with_xla) {
                    n += 1;
                }
                i += 1;
            }
            n
        }
        const LIST: [Family; count()] = {
            let mut list = [Family::Driver; count()];
            let (mut n, mut i) = (0, 0);
            while i < Family::ALL.len() {
                if explains_compute(Family::ALL[i], $with_xla) {
                    list[n] = Family::ALL[i];
                    n += 1;
                }
                i += 1;
            }
            list
        };
        &LIST
    }};
}

/// The families of causes that can explain a failure of a check that
/// computes with TensorFlow on a device without XLA.
pub const TENSORFLOW_COMPUTE: &[Family] = compute_families!(false);

/// [`TENSORFLOW_COMPUTE`], and XLA's own compiler and libdevice, for a check
/// that compiles with XLA.
pub const TENSORFLOW_XLA: &[Family] = compute_families!(true);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{CheckKind, EXAMPLES, KIND_NAMES};
    use crate::diagnose::RULES;

    fn examples() -> Vec<CheckKind> {
        EXAMPLES
            .iter()
            .map(|(name, keys)| {
                let kind: CheckKind = toml::from_str(&format!("kind = '{name}'\n{keys}"))
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                kind.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
                kind
            })
            .collect()
    }

    #[test]
    fn every_kind_example_parses_and_validates() {
        // examples() panics, naming the kind, on one that does not.
        assert_eq!(examples().len(), KIND_NAMES.len());
    }

    #[test]
    fn every_family_is_found_by_a_rule_and_explains_a_kind() {
        let kinds = examples();
        for family in Family::ALL {
            assert!(
                RULES.iter().any(|r| r.family == *family),
                "no rule finds {family:?}"
            );
            assert!(
                kinds
                    .iter()
                    .any(|k| k.spec().explained_by().contains(family)),
                "no check kind is explained by {family:?}"
            );
        }
    }

    #[test]
    fn compute_checks_are_explained_by_every_family_that_stops_compute() {
        for family in Family::ALL {
            assert_eq!(
                TENSORFLOW_XLA.contains(family),
                !family.informational(),
                "{family:?}"
            );
            assert_eq!(
                TENSORFLOW_COMPUTE.contains(family),
                !family.informational() && *family != Family::Xla,
                "{family:?}"
            );
        }
        assert!(TENSORFLOW_COMPUTE.contains(&Family::CpuFallback));
        assert!(!TENSORFLOW_COMPUTE.contains(&Family::PtxJit));
        assert!(!TENSORFLOW_COMPUTE.contains(&Family::GpuBusy));
        // A graph without XLA never runs ptxas: XLA's causes explain only
        // the checks that compile with it.
        assert!(!TENSORFLOW_COMPUTE.contains(&Family::Xla));
        assert_eq!(TENSORFLOW_COMPUTE.len(), Family::ALL.len() - 3);
        assert_eq!(TENSORFLOW_XLA.len(), Family::ALL.len() - 2);
    }

    #[test]
    fn only_gpu_stack_kinds_take_diagnoses() {
        // A command or a file fails for its own reasons (issue: a command
        // exiting 3 carried GPU diagnoses).
        for kind in examples() {
            if matches!(kind.name(), "command" | "file.exists") {
                assert!(kind.spec().explained_by().is_empty(), "{}", kind.name());
                assert!(!kind.spec().concerns_gpu(), "{}", kind.name());
            }
        }
    }

    #[test]
    fn docs_describe_every_kind_where_it_runs() {
        let docs = include_str!("../../docs/suites.md");
        for kind in examples() {
            let name = kind.name();
            let heading = docs
                .lines()
                .find(|l| l.starts_with(&format!("### `{name}`")));
            let row = docs
                .lines()
                .find(|l| l.starts_with(&format!("| `{name}` |")));
            let worker = matches!(kind.spec().execution(), Execution::Worker(..));
            match (heading, row) {
                (Some(heading), _) => assert_eq!(
                    heading.contains("(worker"),
                    worker,
                    "docs/suites.md: `{heading}` and where {name} runs disagree"
                ),
                (None, Some(_)) => assert!(
                    matches!(kind.spec().execution(), Execution::Facts(_)),
                    "docs/suites.md lists {name} with the facts-based kinds"
                ),
                (None, None) => panic!("docs/suites.md does not describe {name}"),
            }
        }
        // And nothing the docs describe is unknown.
        for line in docs.lines().filter(|l| l.starts_with("### `")) {
            let name = line.split('`').nth(1).unwrap();
            assert!(
                KIND_NAMES.contains(&name) || name.starts_with("device = "),
                "docs/suites.md describes unknown kind {name}"
            );
        }
    }
}
