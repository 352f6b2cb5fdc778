//! When gpugate is asked decides what GPUs held by processes mean. Before a
//! job the GPUs should be free, so what holds them is a leftover that would
//! break the job; while jobs may run (a node condition, a metrics timer,
//! Slurm's periodic check) a busy GPU is the fleet doing its work, and
//! draining it would be as wrong as passing a broken one.

use crate::finding::{Finding, Severity};
use serde::Serialize;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Moment {
    /// A person asks (`gpugate doctor`): every diagnosis at its own severity.
    #[default]
    OnDemand,
    /// Right before a job (runner hooks, a Slurm prolog, an idle Slurm
    /// node): GPUs held by processes are leftovers, and errors.
    BeforeJob,
    /// Whenever jobs may hold the GPUs (NPD, the metrics timer, Slurm's
    /// periodic check on a node with jobs): GPUs held by processes are a
    /// fact worth showing, never a verdict.
    WhileJobs,
}

/// The diagnoses that only say processes hold the GPUs: their memory, their
/// contexts, or a compute mode that admits one context and has it.
pub const HELD_BY_PROCESSES: &[&str] = &["gpu-memory-held", "gpu-compute-mode-blocks", "gpu-busy"];

impl Moment {
    /// The findings as this moment reads them: while jobs may run, what
    /// processes hold is a note; every other diagnosis keeps its severity.
    pub fn judge(self, mut findings: Vec<Finding>) -> Vec<Finding> {
        if self == Moment::WhileJobs {
            for finding in findings
                .iter_mut()
                .filter(|f| HELD_BY_PROCESSES.contains(&f.id))
            {
                finding.severity = Severity::Note;
                finding.cause = format!(
                    "{} (expected while jobs may run: not a fault of the machine)",
                    finding.cause
                );
            }
            findings.sort_by_key(|f| f.severity);
        }
        findings
    }

    pub fn word(self) -> &'static str {
        match self {
            Moment::OnDemand => "on-demand",
            Moment::BeforeJob => "before-job",
            Moment::WhileJobs => "while-jobs",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &'static str, severity: Severity) -> Finding {
        Finding::sample(id, severity)
    }

    #[test]
    fn only_while_jobs_run_is_held_memory_a_note() {
        let findings = vec![
            finding("gpu-memory-held", Severity::Error),
            finding("gpu-unreachable", Severity::Error),
            finding("gpu-compute-mode-blocks", Severity::Error),
            finding("gpu-busy", Severity::Warning),
            finding("persistence-mode-off", Severity::Warning),
        ];
        for moment in [Moment::OnDemand, Moment::BeforeJob] {
            assert_eq!(moment.judge(findings.clone()), findings, "{moment:?}");
        }
        let judged = Moment::WhileJobs.judge(findings);
        let severities: Vec<(&str, Severity)> = judged.iter().map(|f| (f.id, f.severity)).collect();
        assert_eq!(
            severities,
            [
                ("gpu-unreachable", Severity::Error),
                ("persistence-mode-off", Severity::Warning),
                ("gpu-memory-held", Severity::Note),
                ("gpu-compute-mode-blocks", Severity::Note),
                ("gpu-busy", Severity::Note),
            ]
        );
        assert!(judged[2].cause.contains("expected while jobs may run"));
    }
}
