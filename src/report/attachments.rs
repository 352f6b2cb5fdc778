//! Files checks attach (a loss plot), written beside the JUnit report in
//! `<report stem>-attachments/`, so one artifact upload of the report's
//! directory carries them. The report names each with GitLab's
//! `[[ATTACHMENT|path]]`, using the path as given on the command line.

use super::results::TestResult;
use crate::console::Console;
use crate::event::{Event, Finished, Reaction, Reporter};
use crate::outcome::Outcome;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Keeps letters, digits, `-`, `_` and `.`; everything else becomes `-`.
fn file_part(text: &str) -> String {
    let keep = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    crate::text::replace_unless(text, keep, '-')
        .trim_matches(['-', '.'])
        .to_string()
}

/// The directory attachments of the report at `junit` go to.
pub fn dir_for(junit: &Path) -> PathBuf {
    let stem = junit
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "junit".into());
    junit.with_file_name(format!("{stem}-attachments"))
}

/// Writes each check's attachments as soon as it finishes, so a plot
/// survives a run that is killed later. File names come from the plan, in
/// its order, so which check gets `-2` never depends on which finished first.
pub struct Writer {
    dir: PathBuf,
    /// Per check of this machine's plan, the unique stem of its files.
    stems: Vec<String>,
    /// Where a file that could not be written is told (stderr).
    log: Console,
}

impl Writer {
    /// Attachments of the report at `junit`.
    pub fn new(junit: &Path, log: Console) -> Writer {
        Writer {
            dir: dir_for(junit),
            stems: Vec::new(),
            log,
        }
    }

    /// Writes `outcome`'s attachments; a file that cannot be written is a
    /// warning on stderr, never a reason to lose the report.
    fn write(&self, index: usize, outcome: &Outcome) -> Vec<PathBuf> {
        let Some(stem) = self.stems.get(index) else {
            return Vec::new();
        };
        let mut taken = HashSet::new();
        let mut written = Vec::new();
        for attachment in &outcome.verdict.attachments {
            let name = file_part(&attachment.name);
            let (name, ext) = name.rsplit_once('.').unwrap_or((&name, ""));
            let name = unique(&format!("{stem}--{name}"), ext, &mut taken);
            let path = self.dir.join(name);
            let saved = std::fs::create_dir_all(&self.dir)
                .and_then(|()| crate::files::write_atomic(&path, attachment.contents.as_bytes()));
            match saved {
                Ok(()) => written.push(path),
                Err(e) => self.log.say(&format!(
                    "warning: failed to write the attachment {}: {e}\n",
                    path.display()
                )),
            }
        }
        written
    }
}

impl Reporter for Writer {
    fn on(&mut self, event: &Event<'_>) -> Reaction {
        match event {
            Event::FactsGathered { plan, .. } => {
                // Names that differ only in what file names cannot hold
                // ("fit parity", "fit-parity") must not share files.
                let mut taken = HashSet::new();
                self.stems = plan
                    .checks
                    .iter()
                    .map(|check| {
                        let suite = plan.suites.get(check.suite).map_or("", |s| s.name.as_str());
                        let stem = format!("{}--{}", file_part(suite), file_part(&check.name));
                        unique(&stem, "", &mut taken)
                    })
                    .collect();
                Reaction::Nothing
            }
            Event::CheckFinished { index, outcome, .. } => {
                let files = self.write(*index, outcome);
                if files.is_empty() {
                    Reaction::Nothing
                } else {
                    Reaction::Attached {
                        index: *index,
                        files,
                    }
                }
            }
            Event::RunStarted { .. }
            | Event::Attached { .. }
            | Event::ChecksDone { .. }
            | Event::RunFinished { .. } => Reaction::Nothing,
        }
    }
}

/// What a reporter heard of the files written for each check, by index
/// into this machine's plan.
#[derive(Debug, Default)]
pub struct Seen(Vec<Vec<PathBuf>>);

impl Seen {
    /// Takes note of `event` where it is about attachments.
    pub fn note(&mut self, event: &Event<'_>) {
        match event {
            Event::FactsGathered { plan, .. } => self.0 = vec![Vec::new(); plan.checks.len()],
            Event::Attached { index, files } => {
                if let Some(slot) = self.0.get_mut(*index) {
                    slot.extend_from_slice(files);
                }
            }
            Event::RunStarted { .. }
            | Event::CheckFinished { .. }
            | Event::ChecksDone { .. }
            | Event::RunFinished { .. } => {}
        }
    }

    /// Per check, the files written for it.
    pub fn per_check(&self) -> &[Vec<PathBuf>] {
        &self.0
    }

    /// The rows of `run`, each with the files written for it.
    pub fn results(&self, run: &Finished<'_>) -> Vec<TestResult> {
        super::results::collect(run.plan, run.outcomes, &self.0)
    }
}

/// `STEM.EXT`, or `STEM-2.EXT`, `-3`... when `taken` already holds it
/// (`ext` empty: no dot).
fn unique(stem: &str, ext: &str, taken: &mut HashSet<String>) -> String {
    let dot = if ext.is_empty() { "" } else { "." };
    let mut candidate = format!("{stem}{dot}{ext}");
    let mut n = 1;
    while !taken.insert(candidate.clone()) {
        n += 1;
        candidate = format!("{stem}-{n}{dot}{ext}");
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_names_get_distinct_files() {
        let mut taken = HashSet::new();
        let loss = |taken: &mut HashSet<String>| unique("s--fit-parity--loss", "svg", taken);
        assert_eq!(loss(&mut taken), "s--fit-parity--loss.svg");
        assert_eq!(loss(&mut taken), "s--fit-parity--loss-2.svg");
        // A check's stem has no extension, whatever dots its name holds.
        assert_eq!(
            unique("s--libcuda.so-loads", "", &mut taken),
            "s--libcuda.so-loads"
        );
        assert_eq!(
            unique("s--libcuda.so-loads", "", &mut taken),
            "s--libcuda.so-loads-2"
        );
    }

    #[test]
    fn names_follow_the_plan_not_the_order_checks_finish_in() {
        let suite = crate::suite::load("cpu-basic", &Default::default()).unwrap();
        let host = crate::host::HostFacts::gather(Path::new("/"));
        let mut plan = crate::plan::plan(vec![suite], None, &host);
        plan.checks[0].name = "fit parity".into();
        plan.checks[1].name = "fit-parity".into();
        let dir = std::env::temp_dir().join(format!("gpugate-attach-{}", std::process::id()));
        let mut writer = Writer::new(&dir.join("report.xml"), Console::memory().0);
        let _ = writer.on(&Event::FactsGathered { plan: &plan });
        let outcome = |plot: &str| Outcome {
            verdict: crate::outcome::Verdict::pass("ok")
                .with_attachment("loss.svg", plot.to_string()),
            duration: std::time::Duration::ZERO,
            output: None,
            failure_type: "assertion",
            causes: Vec::new(),
        };
        // The second check finishes first.
        let mut finish = |index: usize, plot: &str| {
            writer.on(&Event::CheckFinished {
                index,
                outcome: &outcome(plot),
            })
        };
        let second = finish(1, "<svg>second</svg>");
        let first = finish(0, "<svg>first</svg>");
        let files = dir.join("report-attachments");
        assert_eq!(
            first,
            Reaction::Attached {
                index: 0,
                files: vec![files.join("cpu-basic--fit-parity--loss.svg")]
            }
        );
        assert_eq!(
            second,
            Reaction::Attached {
                index: 1,
                files: vec![files.join("cpu-basic--fit-parity-2--loss.svg")]
            }
        );
        let read = |name: &str| std::fs::read_to_string(files.join(name)).unwrap();
        assert_eq!(read("cpu-basic--fit-parity--loss.svg"), "<svg>first</svg>");
        assert_eq!(
            read("cpu-basic--fit-parity-2--loss.svg"),
            "<svg>second</svg>"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_are_safe_file_names() {
        assert_eq!(
            file_part("fit parity [gpu0 8f6a1b2c]"),
            "fit-parity--gpu0-8f6a1b2c"
        );
        assert_eq!(file_part("../../etc/passwd"), "etc-passwd");
        assert_eq!(file_part("loss.svg"), "loss.svg");
        assert_eq!(
            dir_for(Path::new("reports/gpu-basic.xml")),
            Path::new("reports/gpu-basic-attachments")
        );
    }
}
