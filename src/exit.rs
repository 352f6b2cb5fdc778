//! The process exit codes, in one table that the CLI, the docs and the
//! tests share, and the one place an ending chooses its code
//! ([`Ending::exit`]).

use std::process::ExitCode;

/// Every way a gpugate process can end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every check that ran passed (skips allowed by the suite do not fail a run).
    Success,
    /// At least one check failed or could not run (libtest's convention).
    ChecksFailed,
    /// Bad command line or a suite that does not validate; nothing ran.
    Usage,
    /// The checks ran but a report could not be written.
    ReportUnwritable,
    /// No check ran (all filtered out or skipped): a gate that checked
    /// nothing must not pass. `--allow-empty` makes it a success.
    NothingRan,
    /// `fetch-tensorflow` could not provision TensorFlow; no check ran.
    ProvisionFailed,
    /// Interrupted by SIGINT (the report holds what finished).
    Interrupted,
    /// Terminated by SIGTERM (the report holds what finished).
    Terminated,
    /// Hung up by SIGHUP, a closed terminal or session, handled as SIGTERM.
    HungUp,
    /// gpugate itself failed (a panic): it could not judge, and says so.
    Crashed,
}

impl Exit {
    /// Every exit, in the order the table shows them.
    pub const ALL: &[Exit] = &[
        Exit::Success,
        Exit::ChecksFailed,
        Exit::Usage,
        Exit::ReportUnwritable,
        Exit::NothingRan,
        Exit::ProvisionFailed,
        Exit::Interrupted,
        Exit::Terminated,
        Exit::HungUp,
        Exit::Crashed,
    ];

    /// One line for `--help` and README's table.
    pub const fn meaning(self) -> &'static str {
        match self {
            Exit::Success => {
                "every check that ran passed (skips the suite allows do not fail a run)"
            }
            Exit::ChecksFailed => "a check failed or could not run (error)",
            Exit::Usage => "usage error or a suite that does not validate; nothing ran",
            Exit::ReportUnwritable => "the checks ran but the report could not be written",
            Exit::NothingRan => {
                "no check ran (the filter selected none, or every check was skipped); --allow-empty makes this 0"
            }
            Exit::ProvisionFailed => {
                "fetch-tensorflow could not provision TensorFlow (download, verification or the cache); no check ran"
            }
            Exit::Interrupted => "interrupted by SIGINT; the report holds what finished",
            Exit::Terminated => "terminated by SIGTERM; the report holds what finished",
            Exit::HungUp => "hung up by SIGHUP; the report holds what finished",
            Exit::Crashed => {
                "gpugate crashed (a bug in gpugate): it could not judge, which is no verdict on the machine"
            }
        }
    }

    /// One word for machines: the composite action's `verdict` output and
    /// the README's table. Never changes once released.
    pub const fn word(self) -> &'static str {
        match self {
            Exit::Success => "passed",
            Exit::ChecksFailed => "failed",
            Exit::Usage => "usage",
            Exit::ReportUnwritable => "report-unwritable",
            Exit::NothingRan => "nothing-ran",
            Exit::ProvisionFailed => "provision-failed",
            Exit::Interrupted => "interrupted",
            Exit::Terminated => "terminated",
            Exit::HungUp => "hung-up",
            Exit::Crashed => "crashed",
        }
    }

    /// The table as `--help` prints it.
    pub fn help_table() -> String {
        let mut text = String::from("Exit codes:\n");
        for exit in Exit::ALL {
            text.push_str(&format!("  {:>3}  {}\n", exit.code(), exit.meaning()));
        }
        text
    }

    /// Whether the run was stopped by a signal.
    pub const fn is_cancellation(self) -> bool {
        matches!(self, Exit::Interrupted | Exit::Terminated | Exit::HungUp)
    }

    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::ChecksFailed => 101,
            Exit::Usage => 2,
            Exit::ReportUnwritable => 3,
            Exit::NothingRan => 4,
            Exit::ProvisionFailed => 5,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
            Exit::HungUp => 129,
            // EX_SOFTWARE (sysexits.h): an internal software error.
            Exit::Crashed => 70,
        }
    }
}

/// How a command ended, as the code that knows it says it. Which exit code
/// each ending gets is decided here, in [`Ending::exit`], and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The command did its job: facts or help printed, a report merged, a
    /// baseline recorded, TensorFlow provisioned.
    Done,
    /// The checks ran: whether one failed or could not run, whether any
    /// ran at all, and whether a run where none did may pass.
    Checks {
        failed: bool,
        ran: bool,
        allow_empty: bool,
    },
    /// Checks ran whose outcome gpugate could not record.
    OutcomesLost,
    /// `doctor`'s verdict on the machine.
    Machine { healthy: bool },
    /// `baseline record` measured nothing to record.
    NothingMeasured,
    /// A report or the baseline file could not be written.
    Unwritable,
    /// A bad command line, suite or input file: nothing ran.
    Usage,
    /// TensorFlow could not be provisioned.
    ProvisionFailed,
    /// This signal stopped the work.
    Cancelled(i32),
    /// gpugate panicked.
    Crashed,
}

impl Ending {
    pub fn exit(self) -> Exit {
        match self {
            Ending::Done
            | Ending::Machine { healthy: true }
            | Ending::Checks {
                failed: false,
                ran: true,
                ..
            }
            | Ending::Checks {
                failed: false,
                allow_empty: true,
                ..
            } => Exit::Success,
            Ending::Checks { failed: false, .. } => Exit::NothingRan,
            Ending::Checks { failed: true, .. }
            | Ending::OutcomesLost
            | Ending::Machine { healthy: false }
            | Ending::NothingMeasured => Exit::ChecksFailed,
            Ending::Unwritable => Exit::ReportUnwritable,
            Ending::Usage => Exit::Usage,
            Ending::ProvisionFailed => Exit::ProvisionFailed,
            Ending::Cancelled(libc::SIGTERM) => Exit::Terminated,
            Ending::Cancelled(libc::SIGHUP) => Exit::HungUp,
            Ending::Cancelled(_) => Exit::Interrupted,
            Ending::Crashed => Exit::Crashed,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ending_gets_its_exit() {
        let checks = |failed, ran, allow_empty| {
            Ending::Checks {
                failed,
                ran,
                allow_empty,
            }
            .exit()
        };
        assert_eq!(checks(false, true, false), Exit::Success);
        assert_eq!(checks(false, false, false), Exit::NothingRan);
        assert_eq!(checks(false, false, true), Exit::Success);
        // A failure outranks --allow-empty.
        assert_eq!(checks(true, true, true), Exit::ChecksFailed);
        assert_eq!(
            Ending::Machine { healthy: false }.exit(),
            Exit::ChecksFailed
        );
        assert_eq!(Ending::OutcomesLost.exit(), Exit::ChecksFailed);
        assert_eq!(Ending::ProvisionFailed.exit().code(), 5);
        assert_eq!(Ending::Cancelled(libc::SIGTERM).exit(), Exit::Terminated);
        assert_eq!(Ending::Cancelled(libc::SIGHUP).exit(), Exit::HungUp);
        assert_eq!(Ending::Cancelled(libc::SIGINT).exit(), Exit::Interrupted);
        assert_eq!(Ending::Crashed.exit().code(), 70);
        // No ending that is not the machine's verdict reads as "broken".
        assert_ne!(Exit::Crashed.code(), Exit::ChecksFailed.code());
    }
}
