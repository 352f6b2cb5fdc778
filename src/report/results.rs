//! A finished run as plain rows, the one shape the machine and CI reporters
//! (JSON, GitHub summary and annotations, GitLab sections) read.

use crate::outcome::{Outcome, Status};
use crate::plan::Plan;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    pub suite: String,
    pub name: String,
    pub kind: &'static str,
    pub status: Status,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For failures and errors: assertion, crash, timeout...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_type: Option<&'static str>,
    pub duration_s: f64,
    #[serde(with = "crate::json_shape::pairs")]
    pub properties: Vec<(String, String)>,
    #[serde(with = "crate::json_shape::pairs")]
    pub measurements: Vec<(String, f64)>,
    /// Diagnosis ids attached to a failure.
    pub diagnoses: Vec<String>,
    pub attachments: Vec<String>,
}

/// A diagnosis and the failures it explains: told once, first, by every
/// reporter, and each failure it explains points at it.
#[derive(Debug, Clone, Serialize)]
pub struct RootCause {
    pub finding: crate::diagnose::Finding,
    /// `SUITE::CHECK` of each failure it explains, in plan order.
    pub explains: Vec<String>,
}

/// The distinct root causes of a run's failures, in the order their first
/// failure appears.
pub fn root_causes(plan: &Plan, outcomes: &[Option<Outcome>]) -> Vec<RootCause> {
    let mut causes: Vec<RootCause> = Vec::new();
    for (check, outcome) in plan.checks.iter().zip(outcomes) {
        let Some(outcome) = outcome else { continue };
        for finding in &outcome.causes {
            match causes.iter_mut().find(|c| c.finding.id == finding.id) {
                Some(cause) => cause.explains.push(check.test_name.clone()),
                None => causes.push(RootCause {
                    finding: finding.clone(),
                    explains: vec![check.test_name.clone()],
                }),
            }
        }
    }
    causes
}

/// "1 root cause explains 12 failures" and each cause in full.
pub fn root_causes_text(causes: &[RootCause]) -> String {
    let failures: std::collections::BTreeSet<&str> = causes
        .iter()
        .flat_map(|c| c.explains.iter().map(String::as_str))
        .collect();
    let mut text = format!(
        "root causes: {} root cause{} explain{} {} failure{}\n",
        causes.len(),
        if causes.len() == 1 { "" } else { "s" },
        if causes.len() == 1 { "s" } else { "" },
        failures.len(),
        if failures.len() == 1 { "" } else { "s" }
    );
    for cause in causes {
        text.push('\n');
        text.push_str(&crate::diagnose::render(&cause.finding));
        text.push_str(&format!(
            "\n  explains {}: {}\n",
            cause.explains.len(),
            cause.explains.join(", ")
        ));
    }
    text
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
    pub skip: usize,
}

impl Counts {
    pub fn of<'a>(results: impl IntoIterator<Item = &'a TestResult>) -> Counts {
        let mut c = Counts::default();
        for r in results {
            match r.status {
                Status::Pass => c.pass += 1,
                Status::Fail => c.fail += 1,
                Status::Error => c.error += 1,
                Status::Skip => c.skip += 1,
            }
        }
        c
    }

    /// "3 passed, 12 failed, 1 error, 2 skipped" (zero counts left out).
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            (self.pass, "passed"),
            (self.fail, "failed"),
            (self.error, if self.error == 1 { "error" } else { "errors" }),
            (self.skip, "skipped"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, w)| format!("{n} {w}"))
        .collect();
        if parts.is_empty() {
            "no tests ran".into()
        } else {
            parts.join(", ")
        }
    }
}

/// The checks that ran (or were gated), in plan order; `attachments`: per
/// check, where its attachments were written.
pub fn collect(
    plan: &Plan,
    outcomes: &[Option<Outcome>],
    attachments: &[Vec<std::path::PathBuf>],
) -> Vec<TestResult> {
    plan.checks
        .iter()
        .zip(outcomes)
        .enumerate()
        .filter_map(|(index, (check, outcome))| {
            let outcome = outcome.as_ref()?;
            let v = &outcome.verdict;
            let failed = matches!(v.status, Status::Fail | Status::Error);
            Some(TestResult {
                suite: plan
                    .suites
                    .get(check.suite)
                    .map_or_else(String::new, |s| s.name.clone()),
                name: check.name.clone(),
                kind: check.kind.name(),
                status: v.status,
                message: v.message.clone(),
                detail: v.detail.clone(),
                failure_type: failed.then_some(outcome.failure_type),
                duration_s: outcome.duration.as_secs_f64(),
                properties: v.properties.clone(),
                measurements: v.measurements.clone(),
                diagnoses: outcome.causes.iter().map(|c| c.id.to_string()).collect(),
                attachments: attachments
                    .get(index)
                    .into_iter()
                    .flatten()
                    .map(|p| p.display().to_string())
                    .collect(),
            })
        })
        .collect()
}

/// Results of every status, with the characters reporters must escape, for
/// the reporters' golden tests.
#[cfg(test)]
pub(crate) fn sample() -> Vec<TestResult> {
    let result = |name: &str, status, message: &str, detail: Option<&str>| TestResult {
        suite: "gpu-basic".into(),
        name: name.into(),
        kind: "tensorflow.matmul",
        status,
        message: message.into(),
        detail: detail.map(String::from),
        failure_type: matches!(status, Status::Fail | Status::Error).then_some("assertion"),
        duration_s: 0.25,
        properties: vec![],
        measurements: vec![],
        diagnoses: vec![],
        attachments: vec![],
    };
    vec![
        result(
            "libtensorflow loads",
            Status::Pass,
            "libtensorflow 2.18.1 loaded",
            None,
        ),
        result(
            "matmul on /device:GPU:0",
            Status::Fail,
            "100% wrong: a, b | c",
            Some("max relative error 1.0 at [0][0]\n```"),
        ),
        result(
            "GPUs are healthy",
            Status::Error,
            "the probe worker crashed: killed by signal 11 (SIGSEGV)",
            None,
        ),
        result(
            "cuDNN matches the build",
            Status::Skip,
            "CPU-only build <uses> no cuDNN",
            None,
        ),
    ]
    .into_iter()
    .map(|mut r| {
        if r.name == "matmul on /device:GPU:0" {
            r.diagnoses = vec!["cudnn-wrong-major".into()];
        }
        r
    })
    .collect()
}

/// The root cause [`sample`]'s matmul failure points at.
#[cfg(test)]
pub(crate) fn sample_causes() -> Vec<RootCause> {
    vec![RootCause {
        finding: crate::diagnose::Finding {
            id: "cudnn-wrong-major",
            severity: crate::diagnose::Severity::Error,
            cause: "needs libcudnn.so.9 | found 8".into(),
            fix: "install cuDNN 9 ```".into(),
            evidence: vec!["libcudnn.so.8 (8.9.7)".into()],
        },
        explains: vec!["gpu-basic::matmul on /device:GPU:0".into()],
    }]
}
