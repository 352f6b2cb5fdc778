//! The merged matrix as Markdown (for job summaries and PR comments), as one
//! self-contained HTML file (a CI artifact), or as JSON.

use super::{Matrix, Row};
use crate::outcome::Status;
use crate::text::{html_escape, markdown_cell};
use serde_json::json;
use std::fmt::Write;

fn word(cell: Option<Status>) -> &'static str {
    cell.map_or("—", Status::word)
}

fn file_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned())
}

/// A relative link to a file: its path with the characters a URL cannot
/// carry as they are percent-encoded.
fn link(path: &str) -> String {
    let mut out = String::new();
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            other => {
                let _ = write!(out, "%{other:02X}");
            }
        }
    }
    out
}

fn test_name(row: &Row) -> String {
    format!("{}::{}", row.group, row.name)
}

pub fn markdown(m: &Matrix) -> String {
    let mut md = String::from("## gpugate: merged reports\n\n");
    let changes = m.changes();
    if changes.is_empty() {
        if m.comparable() {
            md.push_str("No test changed status between runs.\n\n");
        }
    } else {
        md.push_str("### What changed\n\n");
        for c in &changes {
            let _ = writeln!(
                md,
                "- **{}**: {} on {} → **{}** on {}",
                markdown_cell(&c.test),
                c.from.word(),
                markdown_cell(&m.runs[c.from_run].label),
                c.to.word(),
                markdown_cell(&m.runs[c.to_run].label)
            );
        }
        md.push('\n');
    }
    md.push_str("| test |");
    for run in &m.runs {
        let _ = write!(md, " {} |", markdown_cell(&run.label));
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(m.runs.len()));
    md.push_str("\n| _totals_ |");
    for i in 0..m.runs.len() {
        let _ = write!(md, " _{}_ |", m.totals(i));
    }
    md.push('\n');
    for row in &m.rows {
        let mark = if row.changed() { " ⚠️" } else { "" };
        let _ = write!(md, "| {}{mark} |", markdown_cell(&test_name(row)));
        for (i, (cell, message)) in row.cells.iter().zip(&row.messages).enumerate() {
            let mut text = match (cell, message) {
                (Some(Status::Fail) | Some(Status::Error), Some(message)) => format!(
                    "**{}**: {}",
                    word(*cell),
                    markdown_cell(&crate::text::cap(message, 120, 0))
                ),
                (Some(Status::Fail) | Some(Status::Error), None) => format!("**{}**", word(*cell)),
                _ => word(*cell).to_string(),
            };
            if !row.causes[i].is_empty() {
                let ids: Vec<String> = row.causes[i]
                    .iter()
                    .map(|c| format!("`{}`", markdown_cell(c)))
                    .collect();
                let _ = write!(text, " (caused by {})", ids.join(", "));
            }
            for path in &row.attachments[i] {
                let _ = write!(
                    text,
                    " [{}]({})",
                    markdown_cell(&file_name(path)),
                    link(path)
                );
            }
            let _ = write!(md, " {text} |");
        }
        md.push('\n');
    }
    md.push_str("\nColumns, from: ");
    let files: Vec<String> = m
        .runs
        .iter()
        .map(|r| format!("`{}`", r.file.replace('`', "'")))
        .collect();
    md.push_str(&files.join(", "));
    md.push('\n');
    for line in m.ignored() {
        let _ = writeln!(md, "\n_{}_", markdown_cell(&line));
    }
    md
}

pub fn html(m: &Matrix) -> String {
    let mut h = String::from(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>gpugate: merged reports</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f4f4f4;font-weight:600;vertical-align:bottom}
td.pass{background:#e6f4ea}td.fail{background:#fce8e6;font-weight:600}td.error{background:#fbd3cf;font-weight:600}
td.skip{background:#f1f3f4;color:#666}td.none{color:#aaa}tr.changed td:first-child{border-left:4px solid #e37400}
.note{color:#666;font-size:90%}
</style></head><body>
<h1>gpugate: merged reports</h1>
"#,
    );
    let changes = m.changes();
    if changes.is_empty() {
        if m.comparable() {
            h.push_str("<p>No test changed status between runs.</p>\n");
        }
    } else {
        h.push_str("<h2>What changed</h2>\n<ul>\n");
        for c in &changes {
            let _ = writeln!(
                h,
                "<li><b>{}</b>: {} on {} → <b>{}</b> on {}</li>",
                html_escape(&c.test),
                c.from.word(),
                html_escape(&m.runs[c.from_run].label),
                c.to.word(),
                html_escape(&m.runs[c.to_run].label)
            );
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<table>\n<tr><th>test</th>");
    for run in &m.runs {
        let _ = write!(
            h,
            "<th title=\"{}\">{}</th>",
            html_escape(&run.file),
            html_escape(&run.label)
        );
    }
    h.push_str("</tr>\n<tr><td><i>totals</i></td>");
    for i in 0..m.runs.len() {
        let _ = write!(h, "<td><i>{}</i></td>", html_escape(&m.totals(i)));
    }
    h.push_str("</tr>\n");
    for row in &m.rows {
        let class = if row.changed() {
            " class=\"changed\""
        } else {
            ""
        };
        let _ = write!(h, "<tr{class}><td>{}</td>", html_escape(&test_name(row)));
        for (i, (cell, message)) in row.cells.iter().zip(&row.messages).enumerate() {
            // A failing cell's message shows on hover; its root causes and
            // attachments in the cell.
            let title = message
                .as_deref()
                .map_or(String::new(), |m| format!(" title=\"{}\"", html_escape(m)));
            let mut extra = String::new();
            if !row.causes[i].is_empty() {
                let _ = write!(
                    extra,
                    "<br><span class=\"note\">caused by {}</span>",
                    html_escape(&row.causes[i].join(", "))
                );
            }
            for path in &row.attachments[i] {
                let _ = write!(
                    extra,
                    "<br><a href=\"{}\">{}</a>",
                    html_escape(&link(path)),
                    html_escape(&file_name(path))
                );
            }
            let _ = write!(
                h,
                "<td class=\"{}\"{title}>{}{extra}</td>",
                cell.map_or("none", Status::word),
                word(*cell)
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    for line in m.ignored() {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", html_escape(&line));
    }
    h.push_str("</body></html>\n");
    h
}

pub fn json(m: &Matrix) -> String {
    let doc = json!({
        "schema_version": crate::report::json::SCHEMA_VERSION,
        "runs": m.runs.iter().enumerate().map(|(i, r)| json!({
            "totals": m.totals(i),
            "label": r.label,
            "file": r.file,
            "properties": r.junit.properties,
            "ignored": r.junit.ignored,
        })).collect::<Vec<_>>(),
        "tests": m.rows.iter().map(|row| json!({
            "test": test_name(row),
            "changed": row.changed(),
            "statuses": row.cells.iter().map(|c| c.map(Status::word)).collect::<Vec<_>>(),
            "messages": row.messages,
            "causes": row.causes,
            "attachments": row.attachments,
        })).collect::<Vec<_>>(),
        "changes": m.changes().iter().map(|c| json!({
            "test": c.test,
            "from": {"run": c.from_run, "status": c.from.word()},
            "to": {"run": c.to_run, "status": c.to.word()},
        })).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&doc).expect("json") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::assert_snapshot;

    #[test]
    fn renderings_golden() {
        let m = super::super::tests::sample();
        assert_snapshot("", "merge.md", &markdown(&m));
        assert_snapshot("", "merge.html", &html(&m));
        assert_snapshot("", "merge.json", &json(&m));
    }
}
