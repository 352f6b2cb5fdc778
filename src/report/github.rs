//! GitHub Actions: a Markdown job summary (appended to
//! `$GITHUB_STEP_SUMMARY`) and `::error` workflow commands, which GitHub
//! shows as annotations on the run and the pull request.

use super::attachments::Seen;
use super::results::{Counts, RootCause, TestResult};
use crate::console::Console;
use crate::event::{Event, Reaction, Reporter};
use crate::outcome::Status;
use crate::text::{html_escape, markdown_cell};
use std::fmt::Write;

/// GitHub refuses a step summary over 1 MiB; stay well under it.
pub const SUMMARY_LIMIT: usize = 1000 * 1024;
/// GitHub shows at most 10 error annotations per step; more are dropped.
pub const MAX_ANNOTATIONS: usize = 10;

/// On GitHub Actions: the annotations on the console, and the job summary
/// appended to `summary` (`$GITHUB_STEP_SUMMARY`), once the verdict is final.
pub struct Actions {
    console: Console,
    summary: Option<std::path::PathBuf>,
    /// Where a summary that could not be appended is told (stderr).
    log: Console,
    attachments: Seen,
}

impl Actions {
    pub fn new(console: Console, summary: Option<std::path::PathBuf>, log: Console) -> Actions {
        Actions {
            console,
            summary,
            log,
            attachments: Seen::default(),
        }
    }

    fn append_summary(&self, text: &str) {
        let Some(path) = &self.summary else { return };
        if let Err(e) = crate::files::append_whole(path, text.as_bytes()) {
            self.log.say(&format!(
                "warning: failed to append the job summary to {}: {e}\n",
                path.display()
            ));
        }
    }
}

impl Reporter for Actions {
    fn on(&mut self, event: &Event<'_>) -> Reaction {
        self.attachments.note(event);
        match event {
            Event::RunFinished { run, exit } => {
                let results = self.attachments.results(run);
                let causes = super::results::root_causes(run.plan, run.outcomes);
                for line in annotations(&results, &causes) {
                    self.console.say(&format!("{line}\n"));
                }
                let properties = super::run_properties(run.facts);
                let text = summary(&results, &causes, &properties, exit.code());
                self.append_summary(&crate::redact::scrub(&text));
            }
            // Attachments are noted above; GitHub shows the run once, whole.
            Event::RunStarted { .. }
            | Event::FactsGathered { .. }
            | Event::CheckFinished { .. }
            | Event::Attached { .. }
            | Event::ChecksDone { .. } => {}
        }
        Reaction::Nothing
    }
}

/// Escapes a workflow command's message.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value (title, file).
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// One `::error` per root cause, naming the failures it explains, and one
/// per failure no root cause explains; at most [`MAX_ANNOTATIONS`], then a
/// `::notice` saying how many more there were.
pub fn annotations(results: &[TestResult], causes: &[RootCause]) -> Vec<String> {
    let mut all: Vec<String> = causes
        .iter()
        .map(|c| {
            let text = format!(
                "{}\nfix: {}\nexplains {} failure(s): {}",
                c.finding.cause,
                c.finding.fix,
                c.explains.len(),
                c.explains.join(", ")
            );
            format!(
                "::error title={}::{}",
                escape_property(&format!("gpugate root cause [{}]", c.finding.id)),
                escape_data(&crate::text::cap(&text, 4000, 0))
            )
        })
        .collect();
    all.extend(
        results
            .iter()
            .filter(|r| matches!(r.status, Status::Fail | Status::Error) && r.diagnoses.is_empty())
            .map(|r| {
                let mut text = r.message.clone();
                if let Some(detail) = &r.detail {
                    text.push('\n');
                    text.push_str(detail);
                }
                format!(
                    "::error title={}::{}",
                    escape_property(&format!("gpugate {}::{}", r.suite, r.name)),
                    escape_data(&crate::text::cap(&text, 4000, 0))
                )
            }),
    );
    let more = all.len().saturating_sub(MAX_ANNOTATIONS);
    all.truncate(MAX_ANNOTATIONS);
    if more > 0 {
        all.push(format!(
            "::notice title=gpugate::{more} more failures are in the job summary and the JUnit report"
        ));
    }
    all
}

fn icon(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅ pass",
        Status::Fail => "❌ fail",
        Status::Error => "💥 error",
        Status::Skip => "⏭️ skip",
    }
}

/// The job summary: verdict, facts, every result, each failure with its
/// diagnosis. Cut to [`SUMMARY_LIMIT`] with a note where it is cut.
pub fn summary(
    results: &[TestResult],
    causes: &[RootCause],
    facts: &[(String, String)],
    exit_code: u8,
) -> String {
    let counts = Counts::of(results);
    let mut md = String::new();
    let verdict = if exit_code == 0 { "passed" } else { "failed" };
    let _ = writeln!(md, "## gpugate {verdict}: {}\n", counts.describe());
    // What is wrong comes first, each cause once with its fix.
    if !causes.is_empty() {
        let _ = writeln!(
            md,
            "### Root causes\n\n```text\n{}```\n",
            super::results::root_causes_text(causes).replace("```", "'''")
        );
    }
    if !facts.is_empty() {
        md.push_str("| fact | value |\n|---|---|\n");
        for (k, v) in facts {
            let _ = writeln!(md, "| {} | {} |", markdown_cell(k), markdown_cell(v));
        }
        md.push('\n');
    }
    md.push_str("| suite | check | result | time | message |\n|---|---|---|---|---|\n");
    for r in results {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.2}s | {} |",
            markdown_cell(&r.suite),
            markdown_cell(&r.name),
            icon(r.status),
            r.duration_s,
            markdown_cell(&r.message)
        );
    }
    let failures: Vec<&TestResult> = results
        .iter()
        .filter(|r| matches!(r.status, Status::Fail | Status::Error))
        .collect();
    if !failures.is_empty() {
        md.push_str("\n### Failures\n");
    }
    for r in failures {
        let _ = write!(
            md,
            "\n<details><summary><b>{}::{}</b>: {}</summary>\n\n```text\n{}\n",
            html_escape(&r.suite),
            html_escape(&r.name),
            html_escape(&r.message),
            r.message.replace("```", "'''")
        );
        for id in &r.diagnoses {
            let _ = writeln!(md, "caused by [{id}], see the root causes above");
        }
        if let Some(detail) = &r.detail {
            let _ = writeln!(md, "{}", detail.replace("```", "'''"));
        }
        md.push_str("```\n</details>\n");
    }
    if md.len() > SUMMARY_LIMIT {
        let note = "\n\n_(summary cut to stay under GitHub's 1 MiB limit; the JUnit report has everything)_\n";
        let mut cut = SUMMARY_LIMIT - note.len();
        while !md.is_char_boundary(cut) {
            cut -= 1;
        }
        md.truncate(cut);
        md.push_str(note);
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::results::{sample, sample_causes};
    use crate::snapshot::assert_snapshot;

    #[test]
    fn workflow_command_escaping() {
        assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(escape_property("a::b, c\n"), "a%3A%3Ab%2C c%0A");
    }

    #[test]
    fn annotations_golden() {
        assert_snapshot(
            "",
            "github-annotations.txt",
            &(annotations(&sample(), &sample_causes()).join("\n") + "\n"),
        );
    }

    #[test]
    fn annotations_stop_at_ten_and_say_how_many_more() {
        // Failures no root cause explains get one annotation each.
        let failed = sample()[2].clone();
        let many = vec![failed; 13];
        let lines = annotations(&many, &[]);
        assert_eq!(lines.len(), MAX_ANNOTATIONS + 1);
        assert!(lines[..10].iter().all(|l| l.starts_with("::error ")));
        assert!(lines[10].starts_with("::notice title=gpugate::3 more failures"));
        assert!(lines.iter().all(|l| !l.contains('\n')));
    }

    /// One annotation per root cause, naming what it explains, and none
    /// for the failures it explains.
    #[test]
    fn a_root_cause_is_annotated_once() {
        let failed = sample()[1].clone();
        let many = vec![failed; 12];
        let lines = annotations(&many, &sample_causes());
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("root cause [cudnn-wrong-major]"));
    }

    #[test]
    fn summary_golden() {
        let facts = vec![("nvidia.driver".to_string(), "580.65.06 | test".to_string())];
        assert_snapshot(
            "",
            "github-summary.md",
            &summary(&sample(), &sample_causes(), &facts, 101),
        );
    }

    #[test]
    fn summary_stays_under_the_limit() {
        let mut big = sample();
        big[1].detail = Some("x".repeat(SUMMARY_LIMIT * 2));
        let md = summary(&big, &sample_causes(), &[], 101);
        assert!(md.len() <= SUMMARY_LIMIT, "{}", md.len());
        assert!(md.ends_with("the JUnit report has everything)_\n"));
    }

    #[test]
    fn the_annotations_and_summary_of_a_run_with_every_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let summary_path = dir.path().join("step_summary.md");
        std::fs::write(&summary_path, "earlier step\n").unwrap();
        let (console, said) = Console::memory();
        let (log, logged) = Console::memory();
        crate::report::testing::drive(
            vec![Box::new(Actions::new(
                console,
                Some(summary_path.clone()),
                log.clone(),
            ))],
            &crate::report::testing::sample_run(),
            log,
        );
        let summary = std::fs::read_to_string(&summary_path).unwrap();
        assert!(
            summary.starts_with("earlier step\n"),
            "appended, not replaced"
        );
        assert_eq!(logged.text(), "");
        let text = format!("--- the log\n{}--- the job summary\n{summary}", said.text());
        assert_snapshot("reporters", "github.txt", &text);
    }

    #[test]
    fn a_summary_that_cannot_be_appended_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let (log, logged) = Console::memory();
        crate::report::testing::drive(
            vec![Box::new(Actions::new(
                Console::memory().0,
                Some(dir.path().to_path_buf()),
                log.clone(),
            ))],
            &crate::report::testing::sample_run(),
            log,
        );
        let said = logged.text();
        assert!(
            said.starts_with("warning: failed to append the job summary to"),
            "{said}"
        );
    }
}
