//! How a command fails: the one type every command's error becomes, printed
//! once by `dispatch`, and the one place an error chooses its exit code.

use crate::exit::Exit;

/// A command that could not do its job, with the message for the user.
#[derive(Debug)]
pub struct Failure {
    cause: Cause,
    /// The whole message, as printed.
    text: String,
}

#[derive(Debug, Clone, Copy)]
enum Cause {
    /// A bad command line, suite or input file: nothing ran.
    Usage,
    /// The work ran, but what it produced could not be written.
    Unwritable,
    /// TensorFlow could not be provisioned.
    Provision,
    /// The work was stopped by this signal.
    Cancelled(i32),
}

impl Failure {
    /// `error: {message}`, exit 2.
    pub fn usage(message: impl std::fmt::Display) -> Self {
        Failure::new(Cause::Usage, format!("error: {message}"))
    }

    /// A message that is already a complete error report (a suite's, with
    /// its file, line and caret), exit 2.
    pub fn usage_report(text: String) -> Self {
        Failure::new(Cause::Usage, text)
    }

    /// `error: {message}`, exit 3.
    pub fn unwritable(message: impl std::fmt::Display) -> Self {
        Failure::new(Cause::Unwritable, format!("error: {message}"))
    }

    /// `error: {message}`, exit 5, or the signal's exit when the run was
    /// cancelled meanwhile (the failure is then the cancellation's effect).
    pub fn provisioning(message: impl std::fmt::Display) -> Self {
        let cause = crate::procs::cancelled_by().map_or(Cause::Provision, Cause::Cancelled);
        Failure::new(cause, format!("error: {message}"))
    }

    fn new(cause: Cause, text: String) -> Self {
        Failure { cause, text }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The exit code of this failure: the one mapping from errors to [`Exit`].
    pub fn exit(&self) -> Exit {
        match self.cause {
            Cause::Usage => Exit::Usage,
            Cause::Unwritable => Exit::ReportUnwritable,
            Cause::Provision => Exit::ProvisionFailed,
            Cause::Cancelled(signal) => Exit::cancelled_by(signal),
        }
    }
}
