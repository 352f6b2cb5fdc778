//! Why a check's keys, each well-formed, do not make a check: a value out of
//! range, keys that contradict each other, a threshold that could never fail.

/// A check that does not validate, and the key to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// The key at fault, where one is: the suite's error points at it.
    /// None when the check as a whole is at fault (a threshold is missing).
    pub key: Option<&'static str>,
    pub message: String,
}

impl Invalid {
    /// `key`'s value is at fault.
    pub fn at(key: &'static str, message: impl Into<String>) -> Invalid {
        Invalid {
            key: Some(key),
            message: message.into(),
        }
    }

    /// The check as a whole is at fault: something it must have is missing.
    pub fn check(message: impl Into<String>) -> Invalid {
        Invalid {
            key: None,
            message: message.into(),
        }
    }
}
