//! JUnit XML that GitLab, GitHub reporters and the Jenkins xunit schema all
//! accept: one flat `<testsuite>` per suite, the message on the failure
//! text's first line, captured output only for failures, facts as
//! properties. Written to a temporary file and renamed, so a reader never
//! sees half a report.

use super::attachments::Seen;
use crate::console::Console;
use crate::event::{Event, Reaction, Reporter};
use crate::exit::Ending;
use crate::outcome::{Outcome, Status};
use crate::plan::Plan;
use crate::text::xml_safe;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("failed to write the JUnit report {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to serialize the JUnit report: {0}")]
    Serialize(#[from] quick_junit::SerializeError),
}

/// Writes the report once every check has ended.
pub struct Writer {
    path: PathBuf,
    attachments: Seen,
    /// Where the report's path is told (stderr).
    log: Console,
}

impl Writer {
    pub fn new(path: &Path, log: Console) -> Writer {
        Writer {
            path: path.to_path_buf(),
            attachments: Seen::default(),
            log,
        }
    }
}

impl Reporter for Writer {
    fn on(&mut self, event: &Event<'_>) -> Reaction {
        self.attachments.note(event);
        match event {
            Event::ChecksDone { run } => {
                let report = build(
                    run.plan,
                    run.outcomes,
                    self.attachments.per_check(),
                    &super::run_properties(run.facts),
                    run.elapsed,
                );
                match write(&report, &self.path) {
                    Ok(()) => {
                        self.log.say(&format!(
                            "gpugate: JUnit report written to {}\n",
                            self.path.display()
                        ));
                        Reaction::Nothing
                    }
                    Err(e) => Reaction::Failed {
                        exit: Ending::Unwritable.exit(),
                        message: e.to_string(),
                    },
                }
            }
            // Attachments are noted above; the report is one file, written once.
            Event::RunStarted { .. }
            | Event::FactsGathered { .. }
            | Event::CheckFinished { .. }
            | Event::Attached { .. }
            | Event::RunFinished { .. } => Reaction::Nothing,
        }
    }
}

/// `attachments`: per check, where its attachments were written.
pub fn build(
    plan: &Plan,
    outcomes: &[Option<Outcome>],
    attachments: &[Vec<PathBuf>],
    properties: &[(String, String)],
    total: Duration,
) -> Report {
    let mut report = Report::new("gpugate");
    report.set_time(total);
    for (index, info) in plan.suites.iter().enumerate() {
        let mut suite = TestSuite::new(xml_safe(&info.name));
        suite
            .extra
            .insert("file".into(), xml_safe(&info.file).into());
        for (name, value) in properties {
            suite.add_property((xml_safe(name), xml_safe(value)));
        }
        let mut time = Duration::ZERO;
        for (i, (check, outcome)) in plan.checks.iter().zip(outcomes).enumerate() {
            if check.suite != index {
                continue;
            }
            let Some(outcome) = outcome else { continue };
            time += outcome.duration;
            let files = attachments.get(i).map_or(&[][..], Vec::as_slice);
            suite.add_test_case(test_case(&info.name, &check.name, outcome, files));
        }
        suite.set_time(time);
        report.add_test_suite(suite);
    }
    report
}

fn test_case(classname: &str, name: &str, outcome: &Outcome, attachments: &[PathBuf]) -> TestCase {
    let verdict = &outcome.verdict;
    let status = match verdict.status {
        Status::Pass => TestCaseStatus::success(),
        Status::Skip => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(xml_safe(&verdict.message));
            // GitLab shows the element's text, not its `message`.
            status.set_description(xml_safe(&verdict.message));
            status
        }
        Status::Fail | Status::Error => {
            let kind = if verdict.status == Status::Fail {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut status = TestCaseStatus::non_success(kind);
            status.set_message(xml_safe(&verdict.message));
            status.set_type(outcome.failure_type);
            // GitLab shows only the text, one test at a time: it starts
            // with the message, then the root causes in a line each, and
            // ends with each cause in full.
            let mut text = verdict.message.clone();
            for line in outcome.caused_by_lines() {
                text.push('\n');
                text.push_str(&line);
            }
            if let Some(detail) = &verdict.detail {
                text.push('\n');
                text.push_str(detail);
            }
            for cause in &outcome.causes {
                text.push('\n');
                text.push_str(&crate::diagnose::render(cause));
            }
            status.set_description(xml_safe(&text));
            status
        }
    };
    let mut case = TestCase::new(xml_safe(name), status);
    case.set_classname(xml_safe(classname));
    case.set_time(outcome.duration);
    // system-out: what the check measured (properties), a pass's warnings
    // (minor-version compatibility, PTX JIT: the one place a reader of a
    // green report sees them) and attachments, which GitLab links.
    let mut out: Vec<String> = Vec::new();
    if verdict.status == Status::Pass {
        out.extend(
            verdict
                .detail
                .iter()
                .flat_map(|d| d.lines())
                .filter(|l| l.starts_with("warning: "))
                .map(str::to_string),
        );
    }
    out.extend(verdict.properties.iter().map(|(k, v)| format!("{k}: {v}")));
    out.extend(
        verdict
            .measurements
            .iter()
            .map(|(k, v)| format!("{k}: {v:.3}")),
    );
    out.extend(
        attachments
            .iter()
            .map(|p| format!("[[ATTACHMENT|{}]]", p.display())),
    );
    if !out.is_empty() {
        case.set_system_out(xml_safe(&out.join("\n")));
    }
    if let (Status::Fail | Status::Error, Some(output)) = (verdict.status, &outcome.output) {
        case.set_system_err(xml_safe(output));
    }
    case
}

/// Serializes, dropping what the Jenkins xunit schema does not allow on the
/// root element (`skipped` on `<testsuites>`; the per-suite counts keep it).
pub fn to_xml(report: &Report) -> Result<String, ReportError> {
    let xml = report.to_string()?;
    let Some(start) = xml.find("<testsuites") else {
        return Ok(xml);
    };
    let end = start + xml[start..].find('>').unwrap_or(0);
    let tag = &xml[start..end];
    let cleaned = match tag.find(" skipped=\"") {
        Some(at) => {
            let close = tag[at + 10..]
                .find('"')
                .map_or(tag.len(), |i| at + 10 + i + 1);
            format!("{}{}", &tag[..at], &tag[close..])
        }
        None => tag.to_string(),
    };
    Ok(format!("{}{}{}", &xml[..start], cleaned, &xml[end..]))
}

/// Writes the report (and its directory) atomically, as
/// [`crate::files::write_atomic`] writes every file.
pub fn write(report: &Report, path: &Path) -> Result<(), ReportError> {
    let xml = to_xml(report)?;
    crate::files::write_atomic(path, xml.as_bytes()).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;
    use crate::report::testing::{drive, sample_run};
    use crate::snapshot::assert_snapshot;

    #[test]
    fn the_report_of_a_run_with_every_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reports/junit.xml");
        let (log, logged) = Console::memory();
        let reporters: Vec<Box<dyn Reporter>> = vec![
            Box::new(crate::report::attachments::Writer::new(&path, log.clone())),
            Box::new(Writer::new(&path, log.clone())),
        ];
        let exit = drive(reporters, &sample_run(), log);
        assert_eq!(exit, Exit::ChecksFailed);
        let shown = |text: &str| text.replace(&dir.path().display().to_string(), "[dir]");
        assert_eq!(
            shown(&logged.text()),
            "gpugate: JUnit report written to [dir]/reports/junit.xml\n"
        );
        let xml = std::fs::read_to_string(&path).unwrap();
        assert_snapshot("reporters", "junit.xml", &shown(&xml));
    }

    #[test]
    fn a_report_that_cannot_be_written_decides_the_exit() {
        let dir = tempfile::tempdir().unwrap();
        // Its directory would be a regular file.
        std::fs::write(dir.path().join("reports"), "").unwrap();
        let path = dir.path().join("reports/junit.xml");
        let (log, logged) = Console::memory();
        let exit = drive(
            vec![Box::new(Writer::new(&path, log.clone()))],
            &sample_run(),
            log,
        );
        assert_eq!(exit, Exit::ReportUnwritable);
        let said = logged.text();
        assert!(
            said.starts_with("error: failed to write the JUnit report")
                && said.contains("reports/junit.xml"),
            "{said}"
        );
    }
}
