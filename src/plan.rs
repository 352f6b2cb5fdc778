//! Suites → the list of checks to run, each with its timeout and whether the
//! machine meets its requirements. Machine details are resolved here, after
//! every suite validated.

use crate::checks::CheckKind;
use crate::host::HostFacts;
use crate::suite::{OnMissing, Requirement, Suite};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SuiteInfo {
    pub name: String,
    pub file: String,
}

/// What happens to a check before it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    Run,
    /// A requirement is unmet and the suite says skip.
    Skip(String),
    /// A requirement is unmet and the suite says fail.
    Fail(String),
}

#[derive(Debug, Clone)]
pub struct PlannedCheck {
    pub suite: usize,
    pub name: String,
    /// `suite::name`, the name filters and the console use.
    pub test_name: String,
    pub kind: CheckKind,
    pub timeout: Duration,
    pub gate: Gate,
    /// What an unmet requirement does to this check, also when `each-gpu`
    /// finds no GPU to expand into.
    pub on_missing: OnMissing,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub suites: Vec<SuiteInfo>,
    pub checks: Vec<PlannedCheck>,
}

/// Why `requirement` is not met on this host, if it is not.
fn unmet(requirement: Requirement, host: &HostFacts) -> Option<String> {
    match requirement {
        Requirement::Gpu => host.nvidia.as_ref().err().cloned(),
    }
}

pub fn plan(suites: Vec<Suite>, default_timeout: Option<Duration>, host: &HostFacts) -> Plan {
    let mut infos = Vec::new();
    let mut checks = Vec::new();
    for (index, suite) in suites.into_iter().enumerate() {
        infos.push(SuiteInfo {
            name: suite.name.clone(),
            file: suite.file.clone(),
        });
        for def in suite.checks {
            let mut kind = def.kind;
            kind.resolve_paths(&suite.base_dir);
            let timeout = def
                .common
                .timeout
                .map(|t| t.0)
                .or(default_timeout)
                .unwrap_or_else(|| kind.default_timeout());
            let missing: Vec<String> = def
                .common
                .requires
                .iter()
                .filter_map(|r| {
                    unmet(*r, host).map(|why| format!("requirement `{}` not met: {why}", r.word()))
                })
                .collect();
            let gate = match (missing.is_empty(), def.common.on_missing) {
                (true, _) => Gate::Run,
                (false, OnMissing::Skip) => Gate::Skip(missing.join("; ")),
                (false, OnMissing::Fail) => Gate::Fail(missing.join("; ")),
            };
            checks.push(PlannedCheck {
                suite: index,
                test_name: format!("{}::{}", suite.name, def.common.name),
                name: def.common.name,
                kind,
                timeout,
                gate,
                on_missing: def.common.on_missing,
            });
        }
    }
    Plan {
        suites: infos,
        checks,
    }
}

/// A GPU an `each-gpu` check expands into.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuSlot {
    /// The index among the GPUs this process sees.
    pub index: usize,
    pub uuid: String,
}

impl GpuSlot {
    /// `gpu0 8f6a1b2c`: the index and the UUID's first eight hex digits.
    pub fn label(&self) -> String {
        let short: String = self
            .uuid
            .trim_start_matches("GPU-")
            .trim_start_matches("MIG-")
            .chars()
            .filter(|c| c.is_ascii_hexdigit())
            .take(8)
            .collect();
        format!("gpu{} {short}", self.index)
    }
}

/// Replaces every `each-gpu` check with one check per GPU in `gpus`, named
/// `NAME [gpuK abcdef01]` and pinned to that GPU by UUID. With no GPU, the
/// check stays, gated by the suite's missing-GPU policy with `why`.
pub fn expand_each_gpu(plan: Plan, gpus: &[GpuSlot], why: &str) -> Plan {
    let mut checks = Vec::new();
    for check in plan.checks {
        if !check.kind.is_each_gpu() || check.gate != Gate::Run {
            checks.push(check);
            continue;
        }
        if gpus.is_empty() {
            let reason = format!("`device = \"each-gpu\"` found no GPU to run on: {why}");
            let gate = match check.on_missing {
                OnMissing::Skip => Gate::Skip(reason),
                OnMissing::Fail => Gate::Fail(reason),
            };
            checks.push(PlannedCheck { gate, ..check });
            continue;
        }
        for gpu in gpus {
            let suffix = format!(" [{}]", gpu.label());
            let mut kind = check.kind.clone();
            kind.set_device(crate::checks::Target::Uuid(gpu.uuid.clone()));
            checks.push(PlannedCheck {
                name: format!("{}{suffix}", check.name),
                test_name: format!("{}{suffix}", check.test_name),
                kind,
                ..check.clone()
            });
        }
    }
    Plan {
        suites: plan.suites,
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(toml: &str) -> Plan {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, toml).unwrap();
        let suite = crate::suite::load(path.to_str().unwrap(), &Default::default()).unwrap();
        let host = crate::host::HostFacts::gather(std::path::Path::new("/"));
        plan(vec![suite], None, &host)
    }

    const SUITE: &str = r#"
[[check]]
name = "fit"
kind = "tensorflow.fit_parity"
device = "each-gpu"

[[check]]
name = "cpu fit"
kind = "tensorflow.fit_parity"
device = "/device:CPU:0"

[[check]]
name = "speed"
kind = "tensorflow.throughput"
device = "each-gpu"
min_h2d_gbps = 1.0
on_missing = "skip"
"#;

    #[test]
    fn each_gpu_becomes_one_pinned_check_per_gpu() {
        let gpus = [
            GpuSlot {
                index: 0,
                uuid: "GPU-8f6a1b2c-1111-2222-3333-444455556666".into(),
            },
            GpuSlot {
                index: 1,
                uuid: "GPU-0badcafe-1111-2222-3333-444455556666".into(),
            },
        ];
        let plan = expand_each_gpu(plan_of(SUITE), &gpus, "");
        let names: Vec<&str> = plan.checks.iter().map(|c| c.test_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "s::fit [gpu0 8f6a1b2c]",
                "s::fit [gpu1 0badcafe]",
                "s::cpu fit",
                "s::speed [gpu0 8f6a1b2c]",
                "s::speed [gpu1 0badcafe]"
            ]
        );
        let crate::checks::CheckKind::TensorflowFitParity(spec) = &plan.checks[1].kind else {
            panic!("kind changed")
        };
        assert_eq!(spec.device.to_string(), gpus[1].uuid);
        let Some(crate::checks::Lane::Tensorflow { pin, .. }) = plan.checks[1].kind.worker_lane()
        else {
            panic!("not a TensorFlow worker")
        };
        assert_eq!(pin.as_deref(), Some(gpus[1].uuid.as_str()));
    }

    #[test]
    fn no_gpu_follows_the_missing_gpu_policy() {
        let plan = expand_each_gpu(plan_of(SUITE), &[], "no NVIDIA driver");
        assert_eq!(plan.checks.len(), 3);
        assert!(
            matches!(&plan.checks[0].gate, Gate::Fail(r) if r.contains("found no GPU to run on: no NVIDIA driver"))
        );
        assert_eq!(plan.checks[1].gate, Gate::Run);
        assert!(matches!(&plan.checks[2].gate, Gate::Skip(_)));
    }
}
