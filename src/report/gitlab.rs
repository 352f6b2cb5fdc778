//! GitLab CI: the run's real work (facts and checks, with libtest's console
//! and the root causes) in one timed section, then one collapsible section
//! per suite with a line per check, which points at the root causes rather
//! than repeating the console.

use super::attachments::Seen;
use super::results::{Counts, TestResult};
use crate::console::Console;
use crate::event::{Event, Reaction, Reporter};
use crate::outcome::Status;
use crate::text::escape_controls;
use std::fmt::Write;
use std::time::SystemTime;

/// On GitLab CI: the run's section, opened when it starts and closed with
/// the verdict, then a section per suite.
pub struct Sections {
    console: Console,
    attachments: Seen,
    /// When the run started, which with its length says when it ended.
    started: SystemTime,
}

impl Sections {
    pub fn new(console: Console) -> Sections {
        Sections {
            console,
            attachments: Seen::default(),
            started: SystemTime::UNIX_EPOCH,
        }
    }
}

impl Reporter for Sections {
    fn on(&mut self, event: &Event<'_>) -> Reaction {
        self.attachments.note(event);
        match event {
            Event::RunStarted { at } => {
                self.started = *at;
                self.console.say(&run_start(unix_seconds(*at)));
            }
            Event::RunFinished { run, .. } => {
                let now = unix_seconds(self.started + run.elapsed);
                self.console.say(&run_end(now));
                let results = self.attachments.results(run);
                self.console.say(&sections(&results, now));
            }
            // libtest-mimic's lines fill the run's section as checks end.
            Event::FactsGathered { .. }
            | Event::CheckFinished { .. }
            | Event::Attached { .. }
            | Event::ChecksDone { .. } => {}
        }
        Reaction::Nothing
    }
}

/// Section names allow letters, digits, `_`, `.` and `-`.
fn section_name(suite: &str) -> String {
    let keep = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    format!("gpugate_{}", crate::text::replace_unless(suite, keep, '_'))
}

/// Seconds since the epoch, as GitLab's section markers take them.
fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The marker that opens the section that wraps the run.
pub fn run_start(unix_time: u64) -> String {
    format!(
        "\x1b[0Ksection_start:{unix_time}:gpugate_run[collapsed=false]\r\x1b[0Kgpugate: facts and checks\n"
    )
}

/// The marker that closes it.
pub fn run_end(unix_time: u64) -> String {
    format!("\x1b[0Ksection_end:{unix_time}:gpugate_run\r\x1b[0K\n")
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
            "\x1b[0Ksection_start:{unix_time}:{name}[collapsed={collapsed}]\r\x1b[0Kgpugate suite {}: {}",
            escape_controls(suite),
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
                // Only gpugate's own markers may reach the log raw.
                escape_controls(&r.name),
                r.duration_s,
                escape_controls(&r.message)
            );
            if matches!(r.status, Status::Fail | Status::Error) {
                // The failure's text is in the run's section above; here the
                // cause it points at.
                for id in &r.diagnoses {
                    let _ = writeln!(out, "      caused by [{id}], see the root causes above");
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
    use crate::report::results::sample;
    use crate::snapshot::assert_snapshot;

    #[test]
    fn sections_golden() {
        let mut results = sample();
        let mut other = results[0].clone();
        other.suite = "cpu basic/extra".into();
        results.push(other);
        assert_snapshot(
            "",
            "gitlab-sections.txt",
            &sections(&results, 1_795_500_000),
        );
    }

    #[test]
    fn the_sections_of_a_run_with_every_outcome() {
        let (console, said) = Console::memory();
        let run = crate::report::testing::sample_run();
        crate::report::testing::drive(
            vec![Box::new(Sections::new(console))],
            &run,
            Console::memory().0,
        );
        let text = said.text();
        // The run's section ends as long after it started as the run took.
        let start = crate::report::testing::STARTED;
        assert!(text.starts_with(&run_start(start)), "{text}");
        assert!(text.contains(&run_end(start + 2)), "{text}");
        assert_snapshot("reporters", "gitlab.txt", &text);
    }
}
