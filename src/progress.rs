//! How far long work has come (a download, judging every release, reading
//! reports to merge), for a person at a terminal (a progress bar with the
//! amount, rate and time left) and for a CI log (a line every tenth of the
//! way, or every 15 seconds, whichever comes first).

use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::time::{Duration, Instant};

/// Where a log line goes at most this long after the one before it.
const LOG_EVERY: Duration = Duration::from_secs(15);

/// How long work that is usually quick (reading reports, judging releases)
/// goes before a log says how far it has come: a short run logs nothing.
pub const QUIET: Duration = Duration::from_secs(2);

/// The progress of one piece of work.
pub struct Progress {
    name: String,
    total: u64,
    unit: Unit,
    started: Instant,
    /// No log line before this long has passed.
    quiet: Duration,
    shown: Shown,
}

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    /// Things done one at a time (releases judged, reports read).
    Items(&'static str),
}

enum Shown {
    Bar(ProgressBar),
    /// The last line logged: when, and at which tenth.
    Log {
        at: Instant,
        tenth: u64,
    },
}

impl Progress {
    /// `terminal`: whether a person watches (a bar), or a log (lines).
    pub fn start(name: &str, total: u64, unit: Unit, terminal: bool) -> Progress {
        let shown = if terminal {
            let bar = ProgressBar::new(total);
            let template = match unit {
                Unit::Bytes => {
                    "gpugate: {msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {eta} left"
                }
                Unit::Items(_) => "gpugate: {msg} {wide_bar} {pos}/{len} {eta} left",
            };
            bar.set_style(ProgressStyle::with_template(template).expect("the template is valid"));
            bar.set_message(name.to_string());
            Shown::Bar(bar)
        } else {
            Shown::Log {
                at: Instant::now(),
                tenth: 0,
            }
        };
        Progress {
            name: name.to_string(),
            total,
            unit,
            started: Instant::now(),
            quiet: Duration::ZERO,
            shown,
        }
    }

    /// Progress on stderr: a bar where a person watches it (a terminal),
    /// lines where a log records it.
    pub fn on_stderr(name: &str, total: u64, unit: Unit) -> Progress {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        Progress::start(name, total, unit, terminal)
    }

    /// A log says nothing until `quiet` has passed (a bar shows at once).
    pub fn quiet_for(mut self, quiet: Duration) -> Progress {
        self.quiet = quiet;
        self
    }

    /// `done` of the total is done; a log line through `say` when one is due.
    pub fn update(&mut self, done: u64, say: &mut dyn FnMut(&str)) {
        let done = done.min(self.total);
        match &mut self.shown {
            Shown::Bar(bar) => bar.set_position(done),
            Shown::Log { at, tenth } => {
                let now_tenth = (done * 10).checked_div(self.total).unwrap_or(0);
                let due = now_tenth > *tenth || at.elapsed() >= LOG_EVERY;
                if due && self.started.elapsed() >= self.quiet {
                    *tenth = now_tenth;
                    *at = Instant::now();
                    let elapsed = self.started.elapsed();
                    say(&line(&self.name, done, self.total, self.unit, elapsed));
                }
            }
        }
    }

    pub fn finish(self) {
        if let Shown::Bar(bar) = self.shown {
            bar.finish_and_clear();
        }
    }
}

/// `gpugate: NAME: 310 of 620 MB (50%), 41.0 MB/s, about 8s left`, or
/// `gpugate: NAME: 3 of 9 releases (33%), about 20s left`.
fn line(name: &str, done: u64, total: u64, unit: Unit, elapsed: Duration) -> String {
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
    let left = if rate > 0.0 {
        format!(", about {:.0}s left", (total - done) as f64 / rate)
    } else {
        String::new()
    };
    let percent = (done * 100).checked_div(total).unwrap_or(0);
    match unit {
        Unit::Bytes => format!(
            "gpugate: {name}: {:.0} of {:.0} MB ({percent}%), {:.1} MB/s{left}",
            done as f64 / 1e6,
            total as f64 / 1e6,
            rate / 1e6
        ),
        Unit::Items(what) => {
            format!("gpugate: {name}: {done} of {total} {what} ({percent}%){left}")
        }
    }
}

/// What pip's "Downloading NAME (SIZE)" line names, and the size in bytes.
pub fn announced(line: &str) -> Option<(String, u64)> {
    let rest = line.strip_prefix("Downloading ")?;
    let (name, size) = rest.rsplit_once(" (")?;
    let (number, unit) = size.strip_suffix(')')?.split_once(' ')?;
    let scale = match unit {
        "bytes" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        _ => return None,
    };
    let name = name.rsplit('/').next().unwrap_or(name);
    Some((
        name.to_string(),
        (number.parse::<f64>().ok()? * scale) as u64,
    ))
}

/// The bytes pip has written of `name` under `tmp`: a download lands in a
/// `pip-unpack-*` directory of its own, under its file name, before it is
/// moved to the destination. Those directories live as long as pip does,
/// so only the file being downloaded is counted, never the ones before it.
pub fn bytes_of(tmp: &Path, name: &str) -> u64 {
    let Ok(dirs) = std::fs::read_dir(tmp) else {
        return 0;
    };
    dirs.flatten()
        .filter(|d| d.file_name().to_string_lossy().starts_with("pip-unpack-"))
        .filter_map(|d| std::fs::metadata(d.path().join(name)).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_pip_announces() {
        assert_eq!(
            announced(
                "Downloading tensorflow-2.20.0-cp312-cp312-manylinux_2_17_x86_64.whl (620.7 MB)"
            ),
            Some((
                "tensorflow-2.20.0-cp312-cp312-manylinux_2_17_x86_64.whl".into(),
                620_700_000
            ))
        );
        assert_eq!(
            announced("Downloading https://host.invalid/p/six-1.16.0-py2.py3-none-any.whl (11 kB)"),
            Some(("six-1.16.0-py2.py3-none-any.whl".into(), 11_000))
        );
        assert_eq!(announced("Saved ./six.whl"), None);
        assert_eq!(announced("Downloading x.whl (1 PB)"), None);
    }

    #[test]
    fn a_log_gets_a_line_per_tenth_not_per_poll() {
        let mut said = Vec::new();
        let mut download = Progress::start("pip: t.whl", 1000, Unit::Bytes, false);
        for done in (0..=1000).step_by(25) {
            download.update(done, &mut |line| said.push(line.to_string()));
        }
        download.finish();
        assert_eq!(said.len(), 10, "{said:?}");
        assert!(
            said[4].starts_with("gpugate: pip: t.whl: 0 of 0 MB (50%)"),
            "{}",
            said[4]
        );
        assert!(said[9].contains("(100%)"), "{}", said[9]);
    }

    #[test]
    fn quick_work_logs_nothing() {
        let mut said = Vec::new();
        let mut reading =
            Progress::start("reading", 2, Unit::Items("reports"), false).quiet_for(QUIET);
        reading.update(1, &mut |line| said.push(line.to_string()));
        reading.update(2, &mut |line| said.push(line.to_string()));
        assert!(said.is_empty(), "{said:?}");
    }

    #[test]
    fn items_are_counted_as_such() {
        let mut said = Vec::new();
        let mut judging = Progress::start("judging", 4, Unit::Items("releases"), false);
        judging.update(2, &mut |line| said.push(line.to_string()));
        assert!(
            said[0].starts_with("gpugate: judging: 2 of 4 releases (50%)"),
            "{said:?}"
        );
    }

    #[test]
    fn counts_only_what_pip_is_downloading() {
        let tmp = tempfile::tempdir().unwrap();
        // A wheel downloaded before this one, still in pip's temporary
        // directory, and the one coming in.
        for (dir, name, size) in [
            ("pip-unpack-a", "done.whl", 900),
            ("pip-unpack-b", "t.whl", 300),
        ] {
            let unpack = tmp.path().join(dir);
            std::fs::create_dir(&unpack).unwrap();
            std::fs::write(unpack.join(name), vec![0u8; size]).unwrap();
        }
        std::fs::write(tmp.path().join("t.whl"), vec![0u8; 50]).unwrap();
        assert_eq!(bytes_of(tmp.path(), "t.whl"), 300);
        assert_eq!(bytes_of(tmp.path(), "next.whl"), 0);
        assert_eq!(bytes_of(&tmp.path().join("absent"), "t.whl"), 0);
    }
}
