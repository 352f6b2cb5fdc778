//! What a run tells its reporters, in the order it happens, and the bus that
//! carries it to them.
//!
//! The runner emits; reporters (the console's root causes, JUnit, JSON,
//! GitHub, GitLab, attachments, baseline recording) consume. A reporter
//! never changes an outcome: what it produced for the others (the files a
//! check attached) or for the verdict (a report that could not be written)
//! comes back as a [`Reaction`], which the bus turns into an event or keeps
//! for [`Bus::verdict`]. Every reporter matches every event by name, so a
//! new event does not compile until each of them has said what it does
//! with it.

use crate::exit::Exit;
use crate::facts::Facts;
use crate::host::HostFacts;
use crate::outcome::Outcome;
use crate::plan::{Plan, PlannedCheck};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// One thing that happened in a run.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The suites are planned; nothing has been probed or run yet.
    RunStarted {
        plan: &'a Plan,
        host: &'a HostFacts,
        at: SystemTime,
    },
    /// The facts are gathered, and the plan is this machine's (`each-gpu`
    /// checks expanded): the indexes of the events below are into it.
    FactsGathered { plan: &'a Plan, facts: &'a Facts },
    /// A check ended, and this is what it produced.
    CheckFinished {
        index: usize,
        check: &'a PlannedCheck,
        outcome: &'a Outcome,
    },
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
    /// reporter with [`Event::Attached`].
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
    decided: Option<Exit>,
    failed: Option<Exit>,
}

/// A bus that the test threads share.
pub type SharedBus = Arc<Mutex<Bus>>;

impl Bus {
    pub fn new(reporters: Vec<Box<dyn Reporter>>) -> Bus {
        Bus {
            reporters,
            decided: None,
            failed: None,
        }
    }

    pub fn shared(self) -> SharedBus {
        Arc::new(Mutex::new(self))
    }

    /// The bus of a shared one; a reporter that panicked on another thread
    /// does not silence the rest.
    pub fn lock(shared: &SharedBus) -> MutexGuard<'_, Bus> {
        shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells every reporter, in order, and then what their reactions produced.
    pub fn emit(&mut self, event: &Event<'_>) {
        let mut attached = Vec::new();
        for reporter in &mut self.reporters {
            match reporter.on(event) {
                Reaction::Nothing => {}
                Reaction::Attached { index, files } => attached.push((index, files)),
                Reaction::Decides(exit) => self.decided = Some(exit),
                Reaction::Failed { exit, message } => {
                    eprintln!("error: {message}");
                    self.failed.get_or_insert(exit);
                }
            }
        }
        for (index, files) in attached {
            self.emit(&Event::Attached {
                index,
                files: &files,
            });
        }
    }

    /// The run's exit: a cancellation first, then the first reporter that
    /// failed, then one whose product the run is, then the checks'.
    pub fn verdict(&self, checks: Exit) -> Exit {
        let cancelled = matches!(checks, Exit::Interrupted | Exit::Terminated | Exit::HungUp);
        match (cancelled, self.failed, self.decided) {
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
        (Bus::new(reporters), heard)
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
    fn files_a_reporter_wrote_reach_every_reporter_after_the_event() {
        let (mut bus, heard) = scripted(&[|| Reaction::Nothing, || Reaction::Nothing]);
        let (plan, _) = cpu_basic();
        let outcome = Outcome {
            verdict: crate::outcome::Verdict::pass("ran"),
            duration: Duration::ZERO,
            output: None,
            failure_type: "assertion",
            causes: Vec::new(),
        };
        bus.emit(&Event::CheckFinished {
            index: 3,
            check: &plan.checks[3],
            outcome: &outcome,
        });
        assert_eq!(
            *heard.lock().unwrap(),
            [
                "finished",
                "finished",
                "attached 3 1",
                "attached 3 1",
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
        assert_eq!(bus.verdict(Exit::ChecksFailed), Exit::ReportUnwritable);
        assert_eq!(bus.verdict(Exit::Interrupted), Exit::Interrupted);

        let (mut bus, _) = scripted(&[|| Reaction::Decides(Exit::Success)]);
        done(&mut bus);
        assert_eq!(bus.verdict(Exit::ChecksFailed), Exit::Success);

        let (mut bus, _) = scripted(&[|| Reaction::Nothing]);
        done(&mut bus);
        assert_eq!(bus.verdict(Exit::NothingRan), Exit::NothingRan);
    }
}
