//! The root causes on the console: libtest-mimic prints each check as it ends (with the text
//! [`Outcome::failure_text`](crate::outcome::Outcome::failure_text) gives a
//! failure), and [`RootCauses`] tells each root cause once after its
//! failure list.

use super::results::{root_causes, root_causes_text};
use crate::console::Console;
use crate::event::{Event, Reaction, Reporter};
use crate::redact::scrub;

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
                    self.console.say(&format!(
                        "\n{}",
                        crate::text::escape_controls(&scrub(&root_causes_text(&causes)))
                    ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::Ci;
    use crate::outcome::Status;
    use crate::report::testing::{drive, sample_run};
    use crate::snapshot::assert_snapshot;

    #[test]
    fn the_console_of_a_run_with_every_outcome() {
        let run = sample_run();
        let (console, said) = Console::memory();
        let (log, logged) = Console::memory();
        drive(vec![Box::new(RootCauses::new(console))], &run, log);
        let github = Ci {
            github_actions: true,
            ..Ci::default()
        };
        // What libtest-mimic prints for each failure as it ends, in a plain
        // log and on GitHub Actions, then what the reporter says after.
        let mut text = String::new();
        for outcome in run.outcomes.iter().flatten() {
            if matches!(outcome.verdict.status, Status::Fail | Status::Error) {
                text += &format!("--- as it ends\n{}\n", outcome.failure_text());
                let guarded = github.log_safe(outcome.failure_text());
                text += &format!("--- as it ends, on GitHub Actions\n{guarded}\n");
            }
        }
        text += &format!("--- after the run\n{}", said.text());
        assert_snapshot("reporters", "console.txt", &text);
        assert_eq!(logged.text(), "");
    }

    #[test]
    fn a_run_without_root_causes_says_nothing_after_it() {
        let mut run = sample_run();
        for outcome in run.outcomes.iter_mut().flatten() {
            outcome.causes.clear();
        }
        let (console, said) = Console::memory();
        drive(
            vec![Box::new(RootCauses::new(console))],
            &run,
            Console::memory().0,
        );
        assert_eq!(said.text(), "");
    }
}
