//! A diagnosis's result: an id, a severity, a cause and a fix with the
//! evidence behind them. A leaf of its own, so that outcomes can carry
//! their root causes without depending on the rules that find them.

use serde::{Deserialize, Serialize};

/// Ordered from the worst: errors sort first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// TensorFlow cannot use the GPU (or gets wrong results) until fixed.
    Error,
    /// Works, at a cost worth knowing (slow first start, a fragile setup).
    Warning,
    /// A fact worth showing that is no fault at this moment (GPUs held by
    /// jobs while jobs may run).
    Note,
}

impl Severity {
    pub const fn word(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub cause: String,
    pub fix: String,
    /// The facts and log lines the rule used, one per entry.
    pub evidence: Vec<String>,
}

#[cfg(test)]
impl Finding {
    /// A finding with placeholder words, for tests of what reads findings.
    pub fn sample(id: &'static str, severity: Severity) -> Finding {
        Finding {
            id,
            severity,
            cause: "c".into(),
            fix: "f".into(),
            evidence: vec![],
        }
    }
}
