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
    pub properties: Vec<(String, String)>,
    pub measurements: Vec<(String, f64)>,
    /// Diagnosis ids attached to a failure.
    pub diagnoses: Vec<String>,
    pub attachments: Vec<String>,
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

/// The checks that ran (or were gated), in plan order.
pub fn collect(plan: &Plan, outcomes: &[Option<Outcome>]) -> Vec<TestResult> {
    plan.checks
        .iter()
        .zip(outcomes)
        .filter_map(|(check, outcome)| {
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
                properties: v
                    .properties
                    .iter()
                    .filter(|(k, _)| k != "diagnosis")
                    .cloned()
                    .collect(),
                measurements: v.measurements.clone(),
                diagnoses: v
                    .properties
                    .iter()
                    .filter(|(k, _)| k == "diagnosis")
                    .map(|(_, id)| id.clone())
                    .collect(),
                attachments: outcome
                    .attachments
                    .iter()
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
            Some(
                "diagnosis [cudnn-wrong-major] (error): needs libcudnn.so.9\n  fix: install cuDNN 9\n```",
            ),
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
}

/// Compares `actual` with `fixtures/golden/NAME`; with GPUGATE_UPDATE_GOLDENS
/// set, rewrites the golden file instead.
#[cfg(test)]
pub(crate) fn assert_golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/golden")
        .join(name);
    if std::env::var_os("GPUGATE_UPDATE_GOLDENS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (GPUGATE_UPDATE_GOLDENS=1 writes it)",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "{} differs (GPUGATE_UPDATE_GOLDENS=1 rewrites it)",
        path.display()
    );
}
