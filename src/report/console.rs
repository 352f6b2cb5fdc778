//! The console: libtest-mimic prints each check as it ends (with the text
//! [`failure_text`] gives a failure), and [`RootCauses`] tells each root
//! cause once after its failure list.

use super::Console;
use super::results::{root_causes, root_causes_text};
use crate::event::{Event, Reaction, Reporter};
use crate::outcome::{Outcome, Status};
use crate::redact::scrub;

/// A failure as libtest-mimic prints it when its check ends: its own text,
/// with one line per root cause, which [`RootCauses`] tells once, after
/// the run.
pub fn failure_text(outcome: &Outcome) -> String {
    let prefix = if outcome.verdict.status == Status::Error {
        "error: could not run: "
    } else {
        ""
    };
    let mut text = format!("{prefix}{}", outcome.verdict.message);
    for cause in &outcome.causes {
        text.push_str(&format!(
            "\ncaused by [{}], see the root causes below",
            cause.id
        ));
    }
    if let Some(detail) = &outcome.verdict.detail {
        text.push('\n');
        text.push_str(detail);
    }
    if let Some(output) = &outcome.output {
        text.push_str("\n--- captured output ---\n");
        text.push_str(output);
    }
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        neutralize_workflow_commands(&text)
    } else {
        text
    }
}

/// On GitHub Actions a line of the log that starts with `::` is a workflow
/// command: a check's output could forge annotations, or `::stop-commands::`
/// would silence gpugate's own. Such lines are printed behind `| `.
fn neutralize_workflow_commands(text: &str) -> String {
    // The runner reads lines as .NET's ReadLine does: a lone CR ends one too.
    text.split_inclusive(['\n', '\r'])
        .map(|line| {
            if line.trim_start().starts_with("::") {
                format!("| {line}")
            } else {
                line.to_string()
            }
        })
        .collect()
}

pub struct RootCauses {
    console: Console,
}

impl RootCauses {
    pub fn new(console: Console) -> RootCauses {
        RootCauses { console }
    }
}

impl Reporter for RootCauses {
    fn on(&mut self, event: &Event<'_>) -> Reaction {
        match event {
            Event::RunFinished { run, .. } => {
                let causes = root_causes(run.plan, run.outcomes);
                if !causes.is_empty() {
                    self.console
                        .say(&format!("\n{}", scrub(&root_causes_text(&causes))));
                }
            }
            // libtest-mimic prints each check as it ends.
            Event::RunStarted { .. }
            | Event::FactsGathered { .. }
            | Event::CheckFinished { .. }
            | Event::Attached { .. }
            | Event::ChecksDone { .. } => {}
        }
        Reaction::Nothing
    }
}
