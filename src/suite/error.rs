//! Suite errors that point at the file, line, column and key, the way a
//! compiler would.

use crate::text::line_col;
use std::fmt;
use std::ops::Range;

#[derive(Debug, Clone, PartialEq)]
pub struct SuiteError {
    /// The suite's file as the user named it (or `builtin:NAME`).
    pub file: String,
    pub source_text: String,
    pub span: Option<Range<usize>>,
    pub message: String,
    pub help: Option<String>,
}

impl SuiteError {
    pub fn new(
        file: &str,
        source_text: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        SuiteError {
            file: file.to_string(),
            source_text: source_text.to_string(),
            span,
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// 1-based line and column of the error, when it has a place.
    pub fn position(&self) -> Option<(usize, usize)> {
        self.span
            .as_ref()
            .map(|s| line_col(&self.source_text, s.start))
    }
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        match (&self.span, self.position()) {
            (Some(span), Some((line, col))) => {
                writeln!(f, "  --> {}:{}:{}", self.file, line, col)?;
                let text = self.source_text.lines().nth(line - 1).unwrap_or("");
                let gutter = line.to_string().len();
                // Underline the span within its first line.
                let text_span = self.source_text.get(span.clone()).unwrap_or("");
                let width = text_span
                    .lines()
                    .next()
                    .map_or(1, |l| l.chars().count().max(1));
                writeln!(f, "{:gutter$} |", "")?;
                writeln!(f, "{line} | {text}")?;
                write!(
                    f,
                    "{:gutter$} | {:pad$}{}",
                    "",
                    "",
                    "^".repeat(width),
                    pad = col - 1
                )?;
            }
            _ => write!(f, "  --> {}", self.file)?,
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SuiteError {}
