//! What a check produced: the verdict (judged wherever the check ran) plus what
//! the runner observed around it (time, captured output).

use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// The check could not run (crash, timeout, missing library...).
    Error,
    /// Not run, for a reason the suite allowed.
    Skip,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::Skip => "skip",
        }
    }
}

/// A judgement. `message` is one line; `detail` holds the evidence and, for
/// failures, what to change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub status: Status,
    pub message: String,
    #[serde(default)]
    pub detail: Option<String>,
    /// Facts the check measured (the device a kernel ran on, a load time...).
    #[serde(default)]
    pub properties: Vec<(String, String)>,
    /// Numbers the check measured, by name with its unit (`float32_tflops`),
    /// for baselines and machine-readable reports.
    #[serde(default)]
    pub measurements: Vec<(String, f64)>,
    /// Files for the reports to keep beside the JUnit file (a loss plot).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// A file name suffix, such as `loss.svg`.
    pub name: String,
    pub contents: String,
}

impl Verdict {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        let message: String = message.into();
        // The first line is the message everywhere (console, JUnit): keep it one line.
        let (first, rest) = match message.split_once('\n') {
            Some((first, rest)) => (first.to_string(), Some(rest.to_string())),
            None => (message, None),
        };
        Verdict {
            status,
            message: first,
            detail: rest,
            properties: Vec::new(),
            measurements: Vec::new(),
            attachments: Vec::new(),
        }
    }
    pub fn pass(message: impl Into<String>) -> Self {
        Self::new(Status::Pass, message)
    }
    pub fn fail(message: impl Into<String>) -> Self {
        Self::new(Status::Fail, message)
    }
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Status::Error, message)
    }
    pub fn skip(message: impl Into<String>) -> Self {
        Self::new(Status::Skip, message)
    }
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        self.detail = Some(match self.detail.take() {
            Some(existing) => format!("{existing}\n{detail}"),
            None => detail,
        });
        self
    }
    pub fn with_attachment(mut self, name: impl Into<String>, contents: String) -> Self {
        self.attachments.push(Attachment {
            name: name.into(),
            contents,
        });
        self
    }
    /// Records a measured number (the reports print it beside the properties).
    pub fn with_measurement(mut self, name: &str, value: f64) -> Self {
        self.measurements.push((name.to_string(), value));
        self
    }
    pub fn with_property(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.properties.push((name.into(), value.to_string()));
        self
    }
}

/// A verdict plus what the runner saw while the check ran.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    pub duration: Duration,
    /// Output captured around the check (worker stderr, a command's output), capped.
    pub output: Option<String>,
    /// For failures and errors, the JUnit `type`: assertion, crash, timeout...
    pub failure_type: &'static str,
    /// For failures: the diagnoses (root causes) that explain this one.
    pub causes: Vec<crate::finding::Finding>,
}

impl Outcome {
    /// A failure as libtest-mimic prints it when its check ends: its own
    /// text, with one line per root cause, which the console tells once,
    /// after the run.
    pub fn failure_text(&self) -> String {
        let prefix = if self.verdict.status == Status::Error {
            "error: could not run: "
        } else {
            ""
        };
        let mut text = format!("{prefix}{}", self.verdict.message);
        for cause in &self.causes {
            text.push_str(&format!(
                "\ncaused by [{}], see the root causes below",
                cause.id
            ));
        }
        if let Some(detail) = &self.verdict.detail {
            text.push('\n');
            text.push_str(detail);
        }
        if let Some(output) = &self.output {
            text.push_str("\n--- captured output ---\n");
            text.push_str(output);
        }
        text
    }

    /// Removes secrets from everything a reporter may show (see `redact`).
    pub fn scrub(&mut self) {
        use crate::redact::scrub_in_place;
        let v = &mut self.verdict;
        scrub_in_place(&mut v.message);
        v.detail.iter_mut().for_each(scrub_in_place);
        self.output.iter_mut().for_each(scrub_in_place);
        for (_, value) in &mut v.properties {
            scrub_in_place(value);
        }
        for attachment in &mut v.attachments {
            scrub_in_place(&mut attachment.contents);
        }
        for cause in &mut self.causes {
            scrub_in_place(&mut cause.cause);
            scrub_in_place(&mut cause.fix);
            cause.evidence.iter_mut().for_each(scrub_in_place);
        }
    }

    /// One line per root cause: `caused by [nvml-missing]: no NVIDIA driver ...`.
    pub fn caused_by_lines(&self) -> Vec<String> {
        self.causes
            .iter()
            .map(|c| format!("caused by [{}]: {}", c.id, c.cause))
            .collect()
    }
}
