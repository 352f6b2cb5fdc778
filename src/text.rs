//! Small text helpers shared by reporters and error messages.

/// Keeps the first `head` and last `tail` bytes of `text` (on char boundaries),
/// saying how much was left out between them.
pub fn cap(text: &str, head: usize, tail: usize) -> String {
    if text.len() <= head + tail {
        return text.to_string();
    }
    let mut head_end = head;
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = text.len() - tail;
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    format!(
        "{}\n[... {} bytes left out ...]\n{}",
        &text[..head_end],
        tail_start - head_end,
        &text[tail_start..]
    )
}

/// The last `lines` lines of `text`.
pub fn last_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}

/// Removes what XML 1.0 cannot carry (control characters other than tab, LF
/// and CR, and U+FFFE/U+FFFF). GitLab rejects a whole report over one of them.
pub fn xml_safe(text: &str) -> String {
    text.chars().filter(|&c| is_xml_char(c)).collect::<String>()
}

pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The closest of `candidates` to `word`, if it is close enough to be a typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = source[line_start..offset].chars().count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_keeps_head_and_tail() {
        let text = "a".repeat(10) + &"b".repeat(100) + &"c".repeat(10);
        let capped = cap(&text, 10, 10);
        assert!(capped.starts_with("aaaaaaaaaa\n"));
        assert!(capped.ends_with("\ncccccccccc"));
        assert!(capped.contains("[... 100 bytes left out ...]"));
        assert_eq!(cap("short", 10, 10), "short");
    }

    #[test]
    fn cap_respects_char_boundaries() {
        let text = "é".repeat(100);
        let capped = cap(&text, 3, 3);
        assert!(capped.starts_with('é'));
        assert!(capped.ends_with('é'));
    }

    #[test]
    fn xml_safe_drops_only_invalid_characters() {
        assert_eq!(
            xml_safe("a\u{0}b\u{1b}c\td\ne\u{FFFE}f\u{1F600}"),
            "abc\td\nef\u{1F600}"
        );
    }

    #[test]
    fn line_col_counts_from_one() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 9), (2, 4));
    }

    #[test]
    fn did_you_mean_finds_typos_only() {
        let kinds = ["env.var", "tensorflow.loads", "tensorflow.devices"];
        assert_eq!(
            did_you_mean("tensorflow.load", kinds),
            Some("tensorflow.loads")
        );
        assert_eq!(did_you_mean("zzz", kinds), None);
    }
}

/// Today's date in UTC as `YYYY-MM-DD`, from the system clock.
pub fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    date_of(secs)
}

/// The UTC date of a Unix time, by chrono (already in the tree through
/// quick-junit, with the same features).
fn date_of(unix_seconds: i64) -> String {
    chrono::DateTime::from_timestamp(unix_seconds, 0).map_or_else(
        || "unknown date".into(),
        |d| d.format("%Y-%m-%d").to_string(),
    )
}

#[cfg(test)]
mod date_tests {
    use super::date_of;

    #[test]
    fn unix_times_become_calendar_dates() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(11_016 * 86_400), "2000-02-29");
        assert_eq!(date_of(20_416 * 86_400 + 86_399), "2025-11-24");
        assert_eq!(date_of(-1), "1969-12-31");
    }
}

/// `text` with every character `keep` refuses replaced by `with`: file
/// names, CI section names.
pub fn replace_unless(text: &str, keep: impl Fn(char) -> bool, with: char) -> String {
    text.chars()
        .map(|c| if keep(c) { c } else { with })
        .collect()
}

/// What a caught panic said, for the error that reports it.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// `text` safe inside HTML, SVG or XML text and attribute values.
pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `text` as one Markdown table cell, on one line and inert: HTML escaped
/// (GitHub renders tags in cells), control characters dropped (a lone CR
/// ends a line for CommonMark; ESC sequences reach terminals), and the
/// characters that would end the cell or start a link, an image or a code
/// span escaped (a backslash too, or `\|` would escape it instead).
pub fn markdown_cell(text: &str) -> String {
    let mut cell = String::with_capacity(text.len());
    for c in html_escape(text).chars() {
        match c {
            '\n' | '\r' | '\t' => cell.push(' '),
            c if c.is_control() => {}
            '\\' | '|' | '[' | ']' | '`' => {
                cell.push('\\');
                cell.push(c);
            }
            c => cell.push(c),
        }
    }
    cell
}

/// Control characters, Unicode's line and paragraph separators, and its
/// format characters (zero-width, bidi controls, the soft hyphen, the
/// byte-order mark): what makes text end a line or look like other text.
pub fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}' | '\u{FEFF}')
}

/// `text` with every control character but newline and tab (and the CR of
/// a CRLF) written as a visible escape (`\x1b`, `\r`, `\u{9b}`): what the
/// machine controls (host files, environment values, a check's output, a
/// library's error) can then neither move a terminal's cursor, set its
/// clipboard (OSC 52) nor forge a CI log's markers. gpugate's own colours
/// and GitLab section markers are written around such text, never through
/// this.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let raw = |c: char, next: Option<char>| {
        c.is_control() && c != '\n' && c != '\t' && !(c == '\r' && next == Some('\n'))
    };
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if raw(c, chars.peek().copied()) {
            any = true;
            break;
        }
    }
    if !any {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if !raw(c, chars.peek().copied()) {
            out.push(c);
        } else if c == '\r' {
            out.push_str("\\r");
        } else if (c as u32) < 0x80 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Bytes that should be UTF-8 (an environment value, a file name) as text:
/// valid text as it is, each byte that is not as `\xNN`, so a value that is
/// not UTF-8 is shown, and counts as set, rather than lost.
pub fn lossless(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// `text` without control characters but newlines and tabs: what another
/// tool's report may carry into a terminal, a log or a page.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\r' => '\n',
                c if c.is_control() && c != '\n' && c != '\t' => '\u{fffd}',
                c => c,
            })
            .collect(),
    )
}

#[cfg(test)]
mod escape_tests {
    use super::*;

    #[test]
    fn controls_are_shown_escaped_and_line_ends_kept() {
        assert_eq!(
            escape_controls("plain\ttext\r\nnext\n"),
            "plain\ttext\r\nnext\n"
        );
        assert_eq!(
            escape_controls("a\u{1b}]52;c;aGk=\u{7}b\u{1b}[2Jc\rd\u{9b}e"),
            "a\\x1b]52;c;aGk=\\x07b\\x1b[2Jc\\rd\\u{9b}e"
        );
        assert!(matches!(
            escape_controls("clean"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_kept_as_escapes() {
        assert_eq!(lossless(b"0,\xff1\xc3"), "0,\\xff1\\xc3");
        assert_eq!(lossless("é".as_bytes()), "é");
    }
}
