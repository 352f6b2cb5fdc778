//! How a command fails: the one type every command's error becomes, printed
//! once by `dispatch`, with the ending whose exit code it gets.

use crate::exit::{Ending, Exit};

/// A command that could not do its job, with the message for the user.
#[derive(Debug)]
pub struct Failure {
    ending: Ending,
    /// The whole message, as printed.
    text: String,
}

impl Failure {
    /// `error: {message}`, exit 2.
    pub fn usage(message: impl std::fmt::Display) -> Self {
        Failure::new(Ending::Usage, format!("error: {message}"))
    }

    /// A message that is already a complete error report (a suite's, with
    /// its file, line and caret), exit 2.
    pub fn usage_report(text: String) -> Self {
        Failure::new(Ending::Usage, text)
    }

    /// `error: {message}`, exit 3.
    pub fn unwritable(message: impl std::fmt::Display) -> Self {
        Failure::new(Ending::Unwritable, format!("error: {message}"))
    }

    /// `error: {message}`, exit 5, or the signal's exit when the run was
    /// cancelled meanwhile (the failure is then the cancellation's effect).
    pub fn provisioning(message: impl std::fmt::Display) -> Self {
        let ending =
            crate::procs::cancelled_by().map_or(Ending::ProvisionFailed, Ending::Cancelled);
        Failure::new(ending, format!("error: {message}"))
    }

    fn new(ending: Ending, text: String) -> Self {
        Failure { ending, text }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The exit code of this failure.
    pub fn exit(&self) -> Exit {
        self.ending.exit()
    }
}
