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
                let (text, pad, width) = excerpt(text, col - 1, width);
                writeln!(f, "{:gutter$} |", "")?;
                writeln!(f, "{line} | {text}")?;
                write!(
                    f,
                    "{:gutter$} | {}{}",
                    "",
                    " ".repeat(pad),
                    "^".repeat(width)
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

/// Characters of a long line shown around the error's column.
const EXCERPT_CHARS: usize = 120;

/// The part of `line` shown under the error: the whole line when short,
/// else a window around column `col` (0-based, in characters) with `…` on
/// the sides cut. Returns it with the underline's offset and width.
fn excerpt(line: &str, col: usize, width: usize) -> (String, usize, usize) {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= EXCERPT_CHARS {
        return (line.to_string(), col, width);
    }
    let start = col.saturating_sub(EXCERPT_CHARS / 2).min(chars.len());
    let end = (start + EXCERPT_CHARS).min(chars.len());
    let mut shown = String::new();
    if start > 0 {
        shown.push('…');
    }
    shown.extend(&chars[start..end]);
    if end < chars.len() {
        shown.push('…');
    }
    let pad = col - start + usize::from(start > 0);
    let width = width.min(end.saturating_sub(col)).max(1);
    (shown, pad, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_shown_around_the_column() {
        let line = format!("{}X{}", "a".repeat(70_010), "b".repeat(500));
        let (shown, pad, width) = excerpt(&line, 70_010, 1);
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert_eq!(shown.chars().nth(pad), Some('X'));
        assert_eq!(width, 1);
        assert!(shown.chars().count() <= EXCERPT_CHARS + 2);
        assert_eq!(excerpt("short", 2, 3), ("short".to_string(), 2, 3));
    }
}
