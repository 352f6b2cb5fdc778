//! A lenient JUnit reader for `report merge`: reads gpugate's reports and
//! those of other producers (pytest, Jenkins, older gpugate), with or
//! without a `<testsuites>` root. What it does not know, it counts and
//! skips, so the merged report can say what it ignored.

use crate::outcome::Status;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// `classname` (gpugate writes the suite there), else the suite's name.
    pub group: String,
    pub name: String,
    pub status: Status,
    pub message: String,
    /// Root-cause ids from the failure's `caused by [id]` lines (gpugate's).
    pub causes: Vec<String>,
    /// Files the case attached (`[[ATTACHMENT|path]]` in its output), as
    /// written in the report.
    pub attachments: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JunitFile {
    /// `<testsuite>` properties (the first value of each name wins).
    pub properties: BTreeMap<String, String>,
    pub cases: Vec<Case>,
    /// Elements this reader skipped, by name, with counts.
    pub ignored: BTreeMap<String, usize>,
}

impl JunitFile {
    /// The reports may come from anywhere, gpugate or not: what they carry
    /// is scrubbed like everything gpugate prints, before any renderer sees it.
    /// Secrets redacted and control characters replaced in everything read
    /// from the report, for every format and stderr alike.
    pub fn scrub(&mut self) {
        let scrub_in_place = |text: &mut String| {
            crate::redact::scrub_in_place(text);
            if let std::borrow::Cow::Owned(clean) = crate::text::printable(text) {
                *text = clean;
            }
        };
        self.properties = std::mem::take(&mut self.properties)
            .into_iter()
            .map(|(mut k, mut v)| {
                scrub_in_place(&mut k);
                scrub_in_place(&mut v);
                (k, v)
            })
            .collect();
        for case in &mut self.cases {
            scrub_in_place(&mut case.group);
            scrub_in_place(&mut case.name);
            scrub_in_place(&mut case.message);
            case.attachments.iter_mut().for_each(scrub_in_place);
            case.causes.iter_mut().for_each(scrub_in_place);
        }
        self.ignored = std::mem::take(&mut self.ignored)
            .into_iter()
            .map(|(mut name, n)| {
                scrub_in_place(&mut name);
                (name, n)
            })
            .collect();
    }
}

const KNOWN: &[&str] = &[
    "testsuites",
    "testsuite",
    "properties",
    "property",
    "testcase",
    "failure",
    "error",
    "skipped",
    "system-out",
    "system-err",
    "flakyFailure",
    "flakyError",
    "rerunFailure",
    "rerunError",
];

fn attr(e: &BytesStart, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name.as_bytes())
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
        .map(|v| v.into_owned())
}

/// What a case's failure text and output say beyond its status: the root
/// causes gpugate names and the files it attached.
/// A diagnosis id as gpugate writes them (`cudnn-wrong-major`): anything
/// else in a `caused by [...]` line is another tool's text, not a cause.
fn is_diagnosis_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn read_case_text(case: &mut Case, text: &str) {
    for line in text.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("caused by [")
            && let Some((id, _)) = rest.split_once(']')
            && is_diagnosis_id(id)
            && !case.causes.iter().any(|c| c == id)
        {
            case.causes.push(id.to_string());
        }
        let mut rest = line;
        while let Some(at) = rest.find("[[ATTACHMENT|") {
            let tail = &rest[at + "[[ATTACHMENT|".len()..];
            let Some(end) = tail.find("]]") else { break };
            case.attachments.push(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
}

/// Why a document is not a JUnit report to merge.
#[derive(Debug, thiserror::Error)]
pub enum NotJunit {
    #[error("not well-formed XML at byte {at}: {source}")]
    Malformed { at: u64, source: quick_xml::Error },
    #[error("no <testsuites>, <testsuite> or <testcase> element: not a JUnit report")]
    Foreign,
}

/// Parses `xml`; a document that is not well-formed is an error naming the
/// byte position.
pub fn read(xml: &str) -> Result<JunitFile, NotJunit> {
    let mut reader = Reader::from_str(xml);
    let mut file = JunitFile::default();
    let mut suite = String::new();
    let mut in_case = false;
    let mut depth_in_case = 0usize;
    let mut saw_junit = false;
    // Inside a case's failure, error or system-out: their text is read too,
    // whole (entities arrive as events of their own).
    let mut in_text = false;
    let mut text = String::new();
    loop {
        let event = reader.read_event().map_err(|source| NotJunit::Malformed {
            at: reader.error_position(),
            source,
        })?;
        let (start, empty) = match &event {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            Event::End(e) => {
                if e.name().as_ref() == b"testcase" {
                    in_case = false;
                } else if in_case {
                    depth_in_case = depth_in_case.saturating_sub(1);
                }
                if in_text && let Some(case) = file.cases.last_mut() {
                    read_case_text(case, &text);
                }
                in_text = false;
                text.clear();
                continue;
            }
            Event::Text(t) if in_text => {
                text.push_str(&t.decode().unwrap_or_default());
                continue;
            }
            Event::CData(t) if in_text => {
                text.push_str(&String::from_utf8_lossy(t));
                continue;
            }
            Event::GeneralRef(r) if in_text => {
                let entity = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => match &**r {
                        b"amp" => Some('&'),
                        b"lt" => Some('<'),
                        b"gt" => Some('>'),
                        b"quot" => Some('"'),
                        b"apos" => Some('\''),
                        _ => None,
                    },
                };
                text.extend(entity);
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let Some(e) = start else { continue };
        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        if in_case && !empty {
            depth_in_case += 1;
        }
        match name.as_str() {
            "testsuites" => saw_junit = true,
            "testsuite" => {
                saw_junit = true;
                suite = attr(&e, "name").unwrap_or_default();
            }
            "property" if !in_case => {
                if let (Some(k), Some(v)) = (attr(&e, "name"), attr(&e, "value")) {
                    file.properties.entry(k).or_insert(v);
                }
            }
            "testcase" => {
                saw_junit = true;
                file.cases.push(Case {
                    group: attr(&e, "classname").unwrap_or_else(|| suite.clone()),
                    name: attr(&e, "name").unwrap_or_default(),
                    status: Status::Pass,
                    message: String::new(),
                    causes: Vec::new(),
                    attachments: Vec::new(),
                });
                in_case = !empty;
                depth_in_case = 0;
            }
            "failure" | "error" | "skipped" if in_case && depth_in_case <= 1 => {
                if let Some(case) = file.cases.last_mut() {
                    case.status = match name.as_str() {
                        "failure" => Status::Fail,
                        "error" => Status::Error,
                        _ => Status::Skip,
                    };
                    case.message = attr(&e, "message").unwrap_or_default();
                }
                in_text = !empty && name != "skipped";
            }
            "system-out" if in_case && depth_in_case <= 1 => in_text = !empty,
            other if !KNOWN.contains(&other) => {
                *file.ignored.entry(format!("<{other}>")).or_default() += 1;
            }
            _ => {}
        }
    }
    if !saw_junit {
        return Err(NotJunit::Foreign);
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_foreign_producers_and_counts_what_it_skips() {
        let pytest = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" timestamp="2025-01-01T00:00:00" hostname="gpu1"><properties><property name="x" value="y"/></properties><testcase classname="tests.test_gpu" name="test_a" time="0.5" file="t.py" line="3"><properties><property name="p" value="q"/></properties></testcase><testcase classname="tests.test_gpu" name="test_b"><failure message="assert 1 == 2">trace</failure><custom>unknown</custom></testcase></testsuite></testsuites>"#;
        let file = read(pytest).unwrap();
        assert_eq!(file.cases.len(), 2);
        assert_eq!(file.cases[0].status, Status::Pass);
        assert_eq!(file.cases[1].status, Status::Fail);
        assert_eq!(file.cases[1].message, "assert 1 == 2");
        assert_eq!(file.properties.get("x").map(String::as_str), Some("y"));
        assert!(
            !file.properties.contains_key("p"),
            "case properties are not run facts"
        );
        assert_eq!(file.ignored.get("<custom>"), Some(&1));

        let bare = r#"<testsuite name="bare"><testcase name="t1"><skipped/></testcase><testcase name="t2"><error message="boom"/></testcase></testsuite>"#;
        let file = read(bare).unwrap();
        assert_eq!(file.cases[0].group, "bare");
        assert_eq!(file.cases[0].status, Status::Skip);
        assert_eq!(file.cases[1].status, Status::Error);
    }

    #[test]
    fn broken_or_foreign_documents_are_errors() {
        assert!(read("<testsuites><testsuite>").is_ok_and(|f| f.cases.is_empty()));
        let malformed = read("<testsuites></oops>").unwrap_err();
        assert!(
            matches!(malformed, NotJunit::Malformed { .. }),
            "{malformed}"
        );
        assert!(
            malformed
                .to_string()
                .starts_with("not well-formed XML at byte")
        );
        let foreign = read("<html><body/></html>").unwrap_err();
        assert!(matches!(foreign, NotJunit::Foreign), "{foreign}");
    }

    #[test]
    fn root_causes_and_attachments_are_read_from_the_case_text() {
        let xml = r#"<testsuite name="s"><testcase classname="s" name="t"><failure message="m">caused by [nvml-missing], see the root causes below
caused by [cudnn-missing]: no cuDNN
the rest</failure><system-out>tflops: 1
[[ATTACHMENT|r/a&amp;b-attachments/s--t--loss.svg]]</system-out></testcase><testcase name="u"><system-out>caused by [not-a-failure]</system-out></testcase></testsuite>"#;
        let file = read(xml).unwrap();
        assert_eq!(file.cases[0].causes, ["nvml-missing", "cudnn-missing"]);
        assert_eq!(
            file.cases[0].attachments,
            ["r/a&b-attachments/s--t--loss.svg"]
        );
        assert_eq!(
            file.cases[1].causes,
            ["not-a-failure"],
            "read, but shown only for failures"
        );
    }
}
