//! What a run tells its reporters, in the order it happens, and the bus that
//! carries it to them.
//!
//! The runner emits, from one thread (a check's own thread only hands its
//! outcome over, so no file is written while a check waits); reporters
//! (the console's root causes, JUnit, JSON, GitHub, GitLab, attachments,
//! baseline recording) consume. A reporter
//! never changes an outcome: what it produced for the others (the files a
//! check attached) or for the verdict (a report that could not be written)
//! comes back as a [`Reaction`], which the bus turns into an event or keeps
//! for [`Bus::exit`]. Every reporter matches every event by name, so a
//! new event does not compile until each of them has said what it does
//! with it.

use crate::console::Console;
use crate::exit::{Ending, Exit};
use crate::facts::Facts;
use crate::outcome::Outcome;
use crate::plan::Plan;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// One thing that happened in a run.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The suites are planned; nothing has been probed or run yet.
    RunStarted { at: SystemTime },
    /// The facts are gathered, and the plan is this machine's (`each-gpu`
    /// checks expanded): the indexes of the events below are into it.
    FactsGathered { plan: &'a Plan },
    /// The check at `index` ended, and this is what it produced.
    CheckFinished { index: usize, outcome: &'a Outcome },
    /// A reporter wrote these files for the check at `index`.
    Attached { index: usize, files: &'a [PathBuf] },
    /// Every check has ended: reports that are files are written now, and
    /// what cannot be written reacts with [`Reaction::Failed`].
    ChecksDone { run: &'a Finished<'a> },
    /// The verdict is final: what prints it (with the exit code) prints now.
    RunFinished { run: &'a Finished<'a>, exit: Exit },
}

/// A run whose checks have all ended.
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    pub plan: &'a Plan,
    /// One per planned check: None for those the filter left out.
    pub outcomes: &'a [Option<Outcome>],
    pub facts: &'a Facts,
    pub elapsed: Duration,
    /// The exit the checks alone give, before any reporter's say.
    pub checks: Exit,
}

/// What a reporter's handling of an event means for the rest of the run.
#[derive(Debug, PartialEq)]
#[must_use]
pub enum Reaction {
    Nothing,
    /// It wrote these files for the check at `index`: the bus tells every
    /// reporter with [`Event::Attached`], before the reporters after this
    /// one hear the event (so a report that links files comes after the
    /// reporter that writes them).
    Attached {
        index: usize,
        files: Vec<PathBuf>,
    },
    /// Its output is the run's product (a recorded baseline), so the run
    /// ends with this exit unless something failed.
    Decides(Exit),
    /// It could not do its job: the run ends with `exit`, and `message`
    /// says why (printed as `error: {message}`).
    Failed {
        exit: Exit,
        message: String,
    },
}

/// A consumer of a run's events.
pub trait Reporter: Send {
    fn on(&mut self, event: &Event<'_>) -> Reaction;
}

/// The reporters of one run, in the order they hear each event, and what
/// they said about the verdict.
pub struct Bus {
    reporters: Vec<Box<dyn Reporter>>,
    /// Where the run's own errors go (stderr).
    log: Console,
    decided: Option<Exit>,
    failed: Option<Exit>,
}

impl Bus {
    pub fn new(reporters: Vec<Box<dyn Reporter>>, log: Console) -> Bus {
        Bus {
            reporters,
            log,
            decided: None,
            failed: None,
        }
    }

    /// Says `error: {message}` where the run's errors go.
    pub fn error(&self, message: &str) {
        self.log.say(&format!("error: {message}\n"));
    }

    /// Tells every reporter, in order, and what a reaction produced before
    /// the next one hears the event. A reporter that panics fails the run as
    /// a report that could not be written, and the others still hear it.
    pub fn emit(&mut self, event: &Event<'_>) {
        for at in 0..self.reporters.len() {
            let heard = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.reporters[at].on(event)
            }));
            let reaction = heard.unwrap_or_else(|panic| Reaction::Failed {
                exit: Ending::Unwritable.exit(),
                message: format!(
                    "a reporter panicked, so a report may be incomplete: {}",
                    crate::text::panic_message(&*panic)
                ),
            });
            match reaction {
                Reaction::Nothing => {}
                Reaction::Attached { index, files } => self.emit(&Event::Attached {
                    index,
                    files: &files,
                }),
                Reaction::Decides(exit) => self.decided = Some(exit),
                Reaction::Failed { exit, message } => {
                    self.error(&message);
                    self.failed.get_or_insert(exit);
                }
            }
        }
    }

    /// The run's exit: a cancellation first, then the first reporter that
    /// failed, then one whose product the run is, then the checks'.
    pub fn exit(&self, checks: Exit) -> Exit {
        match (checks.is_cancellation(), self.failed, self.decided) {
            (true, _, _) => checks,
            (false, Some(failed), _) => failed,
            (false, None, Some(decided)) => decided,
            (false, None, None) => checks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostFacts;
    use std::sync::{Arc, Mutex};

    /// Reacts to ChecksDone as told, and counts what it heard.
    struct Scripted {
        on_done: fn() -> Reaction,
        heard: Arc<Mutex<Vec<String>>>,
    }

    impl Reporter for Scripted {
        fn on(&mut self, event: &Event<'_>) -> Reaction {
            let word = match event {
                Event::RunStarted { .. } => "started",
                Event::FactsGathered { .. } => "facts",
                Event::CheckFinished { index, .. } => {
                    self.heard.lock().unwrap().push("finished".into());
                    return Reaction::Attached {
                        index: *index,
                        files: vec![PathBuf::from("plot.svg")],
                    };
                }
                Event::Attached { index, files } => {
                    self.heard
                        .lock()
                        .unwrap()
                        .push(format!("attached {index} {}", files.len()));
                    return Reaction::Nothing;
                }
                Event::ChecksDone { .. } => return (self.on_done)(),
                Event::RunFinished { .. } => "verdict",
            };
            self.heard.lock().unwrap().push(word.into());
            Reaction::Nothing
        }
    }

    fn scripted(reactions: &[fn() -> Reaction]) -> (Bus, Arc<Mutex<Vec<String>>>) {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let reporters = reactions
            .iter()
            .map(|&on_done| {
                Box::new(Scripted {
                    on_done,
                    heard: heard.clone(),
                }) as Box<dyn Reporter>
            })
            .collect();
        (Bus::new(reporters, Console::memory().0), heard)
    }

    fn cpu_basic() -> (Plan, HostFacts) {
        let suite = crate::suite::load("cpu-basic", &Default::default()).unwrap();
        let host = HostFacts::gather(std::path::Path::new("/"));
        (crate::plan::plan(vec![suite], None, &host), host)
    }

    fn done(bus: &mut Bus) {
        let (plan, host) = cpu_basic();
        let facts = crate::facts::skipped(host);
        let run = Finished {
            plan: &plan,
            outcomes: &[],
            facts: &facts,
            elapsed: Duration::ZERO,
            checks: Exit::ChecksFailed,
        };
        bus.emit(&Event::ChecksDone { run: &run });
    }

    #[test]
    fn files_a_reporter_wrote_reach_every_reporter_before_the_next_one_hears_the_event() {
        let (mut bus, heard) = scripted(&[|| Reaction::Nothing, || Reaction::Nothing]);
        let outcome = Outcome {
            verdict: crate::outcome::Verdict::pass("ran"),
            duration: Duration::ZERO,
            output: None,
            failure_type: "assertion",
            causes: Vec::new(),
        };
        bus.emit(&Event::CheckFinished {
            index: 3,
            outcome: &outcome,
        });
        assert_eq!(
            *heard.lock().unwrap(),
            [
                "finished",
                "attached 3 1",
                "attached 3 1",
                "finished",
                "attached 3 1",
                "attached 3 1"
            ]
        );
    }

    #[test]
    fn a_failed_reporter_outranks_the_checks_and_a_decider_but_not_a_signal() {
        let (mut bus, _) = scripted(&[
            || Reaction::Decides(Exit::Success),
            || Reaction::Failed {
                exit: Exit::ReportUnwritable,
                message: "disk full".into(),
            },
        ]);
        done(&mut bus);
        assert_eq!(bus.exit(Exit::ChecksFailed), Exit::ReportUnwritable);
        assert_eq!(bus.exit(Exit::Interrupted), Exit::Interrupted);

        let (mut bus, _) = scripted(&[|| Reaction::Decides(Exit::Success)]);
        done(&mut bus);
        assert_eq!(bus.exit(Exit::ChecksFailed), Exit::Success);

        let (mut bus, _) = scripted(&[|| Reaction::Nothing]);
        done(&mut bus);
        assert_eq!(bus.exit(Exit::NothingRan), Exit::NothingRan);
    }

    #[test]
    fn a_reporter_that_panics_fails_the_run_and_the_others_still_hear() {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let reporter = |on_done: fn() -> Reaction| {
            Box::new(Scripted {
                on_done,
                heard: heard.clone(),
            }) as Box<dyn Reporter>
        };
        let (log, logged) = Console::memory();
        let mut bus = Bus::new(
            vec![
                reporter(|| panic!("boom")),
                reporter(|| Reaction::Decides(Exit::Success)),
            ],
            log,
        );
        bus.emit(&Event::RunStarted {
            at: SystemTime::UNIX_EPOCH,
        });
        done(&mut bus);
        // The second reporter heard both events, and decided.
        assert_eq!(*heard.lock().unwrap(), ["started", "started"]);
        assert_eq!(
            bus.decided,
            Some(Exit::Success),
            "the second heard ChecksDone"
        );
        assert_eq!(bus.exit(Exit::ChecksFailed), Exit::ReportUnwritable);
        assert_eq!(
            logged.text(),
            "error: a reporter panicked, so a report may be incomplete: boom\n"
        );
    }
}
