//! GitLab CI: one collapsible log section per suite after the run, holding
//! its results and each failure's text with the diagnosis.

use super::results::{Counts, TestResult};
use crate::outcome::Status;
use std::fmt::Write;

/// Section names allow letters, digits, `_`, `.` and `-`.
fn section_name(suite: &str) -> String {
    let keep = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    format!("gpugate_{}", crate::text::replace_unless(suite, keep, '_'))
}

/// The sections for every suite in `results`, in order, stamped `unix_time`.
pub fn sections(results: &[TestResult], unix_time: u64) -> String {
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
    use crate::report::results::{assert_golden, sample};

    #[test]
    fn sections_golden() {
        let mut results = sample();
        let mut other = results[0].clone();
        other.suite = "cpu basic/extra".into();
        results.push(other);
        assert_golden("gitlab-sections.txt", &sections(&results, 1_795_500_000));
    }
}
