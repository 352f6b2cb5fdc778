//! GitLab CI: one collapsible log section per suite after the run, holding
//! its results and each failure's text with the diagnosis.

use super::results::{Counts, RootCause, TestResult};
use crate::outcome::Status;
use std::fmt::Write;

/// Section names allow letters, digits, `_`, `.` and `-`.
fn section_name(suite: &str) -> String {
    let keep = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    format!("gpugate_{}", crate::text::replace_unless(suite, keep, '_'))
}

/// The sections for every suite in `results`, in order, stamped `unix_time`.
pub fn sections(results: &[TestResult], causes: &[RootCause], unix_time: u64) -> String {
    let mut suites: Vec<&str> = Vec::new();
    for r in results {
        if !suites.contains(&r.suite.as_str()) {
            suites.push(&r.suite);
        }
    }
    let mut out = String::new();
    for suite in suites {
        let rows: Vec<&TestResult> = results.iter().filter(|r| r.suite == suite).collect();
        let counts = Counts::of(rows.iter().copied());
        let name = section_name(suite);
        let collapsed = counts.fail + counts.error == 0;
        let _ = writeln!(
            out,
            "\x1b[0Ksection_start:{unix_time}:{name}[collapsed={collapsed}]\r\x1b[0Kgpugate suite {suite}: {}",
            counts.describe()
        );
        // The root causes of this suite's failures, each once, first.
        let prefix = format!("{suite}::");
        for cause in causes
            .iter()
            .filter(|c| c.explains.iter().any(|e| e.starts_with(&prefix)))
        {
            for line in crate::diagnose::render(&cause.finding).lines() {
                let _ = writeln!(out, "root cause: {line}");
            }
        }
        for r in &rows {
            let word = match r.status {
                Status::Pass => "pass ",
                Status::Fail => "FAIL ",
                Status::Error => "ERROR",
                Status::Skip => "skip ",
            };
            let _ = writeln!(
                out,
                "{word} {} ({:.2}s): {}",
                r.name, r.duration_s, r.message
            );
            if matches!(r.status, Status::Fail | Status::Error) {
                for id in &r.diagnoses {
                    let _ = writeln!(out, "      caused by [{id}], see the root cause above");
                }
                for line in r.detail.iter().flat_map(|d| d.lines()) {
                    let _ = writeln!(out, "      {line}");
                }
            }
        }
        let _ = writeln!(out, "\x1b[0Ksection_end:{unix_time}:{name}\r\x1b[0K");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::results::{assert_golden, sample, sample_causes};

    #[test]
    fn sections_golden() {
        let mut results = sample();
        let mut other = results[0].clone();
        other.suite = "cpu basic/extra".into();
        results.push(other);
        assert_golden(
            "gitlab-sections.txt",
            &sections(&results, &sample_causes(), 1_795_500_000),
        );
    }
}
