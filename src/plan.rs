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
    pub description: Option<String>,
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
    pub line: usize,
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
            description: suite.description.clone(),
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
                line: def.line,
            });
        }
    }
    Plan {
        suites: infos,
        checks,
    }
}
