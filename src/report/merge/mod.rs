//! `gpugate report merge`: many JUnit reports (one per runner, driver,
//! night) as one matrix of tests × runs, columns labelled from each
//! report's properties, with what changed between runs picked out.

mod read;
mod render;

pub use read::{JunitFile, read};
pub use render::{html, json, markdown};

use crate::outcome::Status;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// One report, one column.
#[derive(Debug, Clone)]
pub struct Run {
    /// What the column is called: runner, driver and GPU where the report
    /// says them, else its file name.
    pub label: String,
    pub file: String,
    pub junit: JunitFile,
}

/// One test, one row: its status in each run (None: not in that run).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub group: String,
    pub name: String,
    pub cells: Vec<Option<Status>>,
    /// The failure or error message of each cell that has one.
    pub messages: Vec<Option<String>>,
    /// Each failing cell's root-cause ids.
    pub causes: Vec<Vec<String>>,
    /// Each cell's attachments, as paths beside its report file.
    pub attachments: Vec<Vec<String>>,
}

impl Row {
    /// Whether the runs that have this test disagree on it.
    pub fn changed(&self) -> bool {
        let mut seen = self.cells.iter().flatten();
        seen.next().is_some_and(|first| seen.any(|s| s != first))
    }
}

/// One test's move between two runs, e.g. pass on one driver, fail on the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub test: String,
    pub from_run: usize,
    pub from: Status,
    pub to_run: usize,
    pub to: Status,
}

#[derive(Debug, Clone)]
pub struct Matrix {
    pub runs: Vec<Run>,
    pub rows: Vec<Row>,
    /// Per run, the tests it reported more than once, and how many times.
    pub duplicates: Vec<BTreeMap<String, usize>>,
}

/// How bad an outcome is, for keeping the worst of a test reported twice.
fn severity(status: Status) -> u8 {
    match status {
        Status::Pass => 0,
        Status::Skip => 1,
        Status::Fail => 2,
        Status::Error => 3,
    }
}

fn case_name(group: &str, name: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{group}::{name}")
    }
}

/// Labels a report from its properties.
fn label(junit: &JunitFile, file: &str) -> String {
    let get = |k: &str| junit.properties.get(k).filter(|v| !v.is_empty());
    let mut parts = Vec::new();
    if let Some(runner) = get("ci.runner").or_else(|| get("host.name")) {
        parts.push(runner.clone());
    }
    if let Some(driver) = get("nvidia.driver") {
        // "none (no NVIDIA driver: ...)" is too long for a column head.
        let short = driver.split(" (").next().unwrap_or(driver);
        parts.push(format!("driver {short}"));
    }
    if let Some(models) = get("nvidia.gpu_models") {
        parts.push(models.clone());
    }
    if parts.is_empty() {
        Path::new(file)
            .file_stem()
            .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned())
    } else {
        parts.join(" · ")
    }
}

impl Matrix {
    pub fn new(files: Vec<(String, JunitFile)>) -> Matrix {
        let mut runs: Vec<Run> = files
            .into_iter()
            .map(|(file, junit)| Run {
                label: label(&junit, &file),
                file,
                junit,
            })
            .collect();
        // Two runs on the same runner and driver (two nights) need their
        // file names to be told apart.
        let labels: Vec<String> = runs.iter().map(|r| r.label.clone()).collect();
        for run in &mut runs {
            if labels.iter().filter(|l| **l == run.label).count() > 1 {
                let stem = Path::new(&run.file)
                    .file_stem()
                    .map_or_else(|| run.file.clone(), |s| s.to_string_lossy().into_owned());
                run.label = format!("{} ({stem})", run.label);
            }
        }
        let mut rows: Vec<Row> = Vec::new();
        // Rows in first-seen order, found by name in constant time: a
        // nightly matrix merges hundreds of thousands of cases.
        let mut index: HashMap<(String, String), usize> = HashMap::new();
        let mut duplicates: Vec<BTreeMap<String, usize>> = vec![BTreeMap::new(); runs.len()];
        for (i, run) in runs.iter().enumerate() {
            for case in &run.junit.cases {
                let key = (case.group.clone(), case.name.clone());
                let at = *index.entry(key).or_insert_with(|| {
                    rows.push(Row {
                        group: case.group.clone(),
                        name: case.name.clone(),
                        cells: vec![None; runs.len()],
                        messages: vec![None; runs.len()],
                        causes: vec![Vec::new(); runs.len()],
                        attachments: vec![Vec::new(); runs.len()],
                    });
                    rows.len() - 1
                });
                let row = &mut rows[at];
                // A test reported twice (retries, parametrised tests) keeps
                // its worst outcome: a later pass must not hide a failure.
                if let Some(earlier) = row.cells[i] {
                    *duplicates[i]
                        .entry(case_name(&case.group, &case.name))
                        .or_insert(1) += 1;
                    if severity(earlier) >= severity(case.status) {
                        continue;
                    }
                }
                row.cells[i] = Some(case.status);
                if matches!(case.status, Status::Fail | Status::Error) {
                    if !case.message.is_empty() {
                        row.messages[i] = Some(case.message.clone());
                    }
                    row.causes[i] = case.causes.clone();
                }
                row.attachments[i] = case
                    .attachments
                    .iter()
                    .filter_map(|a| Self::beside_report(&run.file, a))
                    .collect();
            }
        }
        Matrix {
            runs,
            rows,
            duplicates,
        }
    }

    /// Where an attachment is now: gpugate writes them to `REPORT-attachments/`
    /// beside the report, named in the report as its run's path; the report may
    /// have moved since (a CI artifact), so the directory is taken beside the
    /// report file as merge was given it.
    /// None for anything but a file in a `*-attachments` directory: a report
    /// from elsewhere must not make the matrix link to another site or to
    /// an arbitrary path (`//host/x`, `/etc/...`).
    fn beside_report(report: &str, attachment: &str) -> Option<String> {
        let path = Path::new(attachment);
        let dir = path.parent().and_then(Path::file_name);
        match (dir, path.file_name()) {
            (Some(dir), Some(name)) if dir.to_string_lossy().ends_with("-attachments") => Some(
                Path::new(report)
                    .parent()
                    .unwrap_or(Path::new(""))
                    .join(dir)
                    .join(name)
                    .display()
                    .to_string(),
            ),
            _ => None,
        }
    }

    /// Whether any test appears in two runs: otherwise the reports are
    /// unrelated, and "nothing changed" would say nothing.
    pub fn comparable(&self) -> bool {
        self.rows
            .iter()
            .any(|r| r.cells.iter().flatten().count() >= 2)
    }

    /// "12 pass, 1 fail" for run `i`.
    pub fn totals(&self, i: usize) -> String {
        let mut counts: Vec<(Status, usize)> = Vec::new();
        for cell in self.rows.iter().filter_map(|r| r.cells[i]) {
            match counts.iter_mut().find(|(s, _)| *s == cell) {
                Some((_, n)) => *n += 1,
                None => counts.push((cell, 1)),
            }
        }
        counts.sort_by_key(|(s, _)| {
            [Status::Pass, Status::Fail, Status::Error, Status::Skip]
                .iter()
                .position(|x| x == s)
        });
        let parts: Vec<String> = counts
            .iter()
            .map(|(s, n)| format!("{n} {}", s.word()))
            .collect();
        if parts.is_empty() {
            "no tests".into()
        } else {
            parts.join(", ")
        }
    }

    /// Every change between consecutive runs that have the test, in row order.
    pub fn changes(&self) -> Vec<Change> {
        let mut changes = Vec::new();
        for row in &self.rows {
            let present: Vec<(usize, Status)> = row
                .cells
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.map(|s| (i, s)))
                .collect();
            for pair in present.windows(2) {
                if pair[0].1 != pair[1].1 {
                    changes.push(Change {
                        test: format!("{}::{}", row.group, row.name),
                        from_run: pair[0].0,
                        from: pair[0].1,
                        to_run: pair[1].0,
                        to: pair[1].1,
                    });
                }
            }
        }
        changes
    }

    /// "file: ignored `<custom>` ×2" lines, for the reader to know.
    pub fn ignored(&self) -> Vec<String> {
        self.runs
            .iter()
            .filter(|r| !r.junit.ignored.is_empty())
            .map(|r| {
                let parts: Vec<String> = r
                    .junit
                    .ignored
                    .iter()
                    .map(|(k, n)| format!("{k} ×{n}"))
                    .collect();
                format!("{}: ignored {}", r.file, parts.join(", "))
            })
            .chain(
                self.runs
                    .iter()
                    .zip(&self.duplicates)
                    .filter(|(_, d)| !d.is_empty())
                    .map(|(r, d)| {
                        let parts: Vec<String> =
                            d.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
                        format!(
                            "{}: reported more than once, the worst outcome kept: {}",
                            r.file,
                            parts.join(", ")
                        )
                    }),
            )
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Matrix {
        let report = |runner: &str, driver: &str, statuses: &[(&str, &str)]| {
            let cases: String = statuses
                .iter()
                .map(|(name, status)| match *status {
                    "pass" => format!(r#"<testcase classname="gpu-basic" name="{name}"/>"#),
                    "fail" => format!(r#"<testcase classname="gpu-basic" name="{name}"><failure message="broke &lt;here&gt;">caused by [nvml-missing], see the root causes below
broke &lt;here&gt;</failure><system-out>[[ATTACHMENT|out/{runner}-attachments/gpu-basic--{name}--loss.svg]]</system-out></testcase>"#),
                    "skip" => format!(r#"<testcase classname="gpu-basic" name="{name}"><skipped/></testcase>"#),
                    _ => format!(r#"<testcase classname="gpu-basic" name="{name}"><error message="crash"/></testcase>"#),
                })
                .collect();
            let xml = format!(
                r#"<testsuites><testsuite name="gpu-basic"><properties><property name="ci.runner" value="{runner}"/><property name="nvidia.driver" value="{driver}"/><property name="nvidia.gpu_models" value="NVIDIA A100-SXM4-40GB"/></properties>{cases}</testsuite></testsuites>"#
            );
            read(&xml).unwrap()
        };
        Matrix::new(vec![
            (
                "driver-535.xml".into(),
                report(
                    "gpu-a",
                    "535.104.05",
                    &[
                        ("matmul", "pass"),
                        ("fit parity", "pass"),
                        ("cudnn", "skip"),
                    ],
                ),
            ),
            (
                "driver-550.xml".into(),
                report(
                    "gpu-b",
                    "550.54.15",
                    &[
                        ("matmul", "pass"),
                        ("fit parity", "fail"),
                        ("throughput", "pass"),
                    ],
                ),
            ),
            (
                "driver-570.xml".into(),
                report(
                    "gpu-c",
                    "570.86.10",
                    &[("matmul", "error"), ("fit parity", "fail")],
                ),
            ),
        ])
    }

    /// Retries and parametrised tests report a test twice: the worst
    /// outcome stays, in either order, and the reader is told.
    #[test]
    fn a_test_reported_twice_keeps_its_worst_outcome() {
        for cases in [
            r#"<testcase classname="s" name="t"><failure message="m"/></testcase><testcase classname="s" name="t"/>"#,
            r#"<testcase classname="s" name="t"/><testcase classname="s" name="t"><failure message="m"/></testcase>"#,
        ] {
            let junit = read(&format!("<testsuite name=\"s\">{cases}</testsuite>")).unwrap();
            let m = Matrix::new(vec![("r.xml".into(), junit)]);
            assert_eq!(m.rows.len(), 1);
            assert_eq!(m.rows[0].cells[0], Some(Status::Fail));
            assert_eq!(
                m.ignored(),
                ["r.xml: reported more than once, the worst outcome kept: s::t ×2"]
            );
        }
    }

    #[test]
    fn unrelated_reports_say_nothing_about_changes() {
        let a =
            read(r#"<testsuite name="a"><testcase classname="a" name="x"/></testsuite>"#).unwrap();
        let b =
            read(r#"<testsuite name="b"><testcase classname="b" name="y"/></testsuite>"#).unwrap();
        let m = Matrix::new(vec![("a.xml".into(), a), ("b.xml".into(), b)]);
        assert!(!m.comparable());
        assert!(!super::markdown(&m).contains("No test changed"));
        assert!(sample().comparable());
        assert_eq!(sample().totals(2), "1 fail, 1 error");
    }

    #[test]
    fn rows_are_the_union_and_columns_are_labelled_from_properties() {
        let m = sample();
        assert_eq!(
            m.runs[0].label,
            "gpu-a · driver 535.104.05 · NVIDIA A100-SXM4-40GB"
        );
        let names: Vec<&str> = m.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["matmul", "fit parity", "cudnn", "throughput"]);
        assert_eq!(m.rows[2].cells, [Some(Status::Skip), None, None]);
        assert!(m.rows[0].changed() && m.rows[1].changed());
        assert!(!m.rows[2].changed() && !m.rows[3].changed());
    }

    #[test]
    fn changes_name_the_runs_between_which_a_test_moved() {
        let changes = sample().changes();
        assert_eq!(
            changes,
            [
                Change {
                    test: "gpu-basic::matmul".into(),
                    from_run: 1,
                    from: Status::Pass,
                    to_run: 2,
                    to: Status::Error
                },
                Change {
                    test: "gpu-basic::fit parity".into(),
                    from_run: 0,
                    from: Status::Pass,
                    to_run: 1,
                    to: Status::Fail
                },
            ]
        );
    }
}
