//! `python3 -m pip download` as a child gpugate can watch and cancel: its
//! own process group, registered for SIGINT/SIGTERM, killed if gpugate dies,
//! and its "Downloading NAME (SIZE)" lines passed on as they come.

use crate::progress::{self, Progress, Unit};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PipError {
    #[error("failed to run `python3 -m pip download`: {0}")]
    Spawn(std::io::Error),
    #[error("`python3 -m pip download {what}` failed ({status}):\n{tail}")]
    Failed {
        what: String,
        status: String,
        tail: String,
    },
    #[error("`python3 -m pip download {0}` was cancelled")]
    Cancelled(String),
    #[error(
        "`python3 -m pip download {what}` did not finish within {seconds}s and was killed (set {TIMEOUT_VAR} to allow longer)"
    )]
    TimedOut { what: String, seconds: u64 },
}

/// Seconds one `pip download` may take in all (default one hour: the CUDA
/// stack is about 2.3 GB).
pub const TIMEOUT_VAR: &str = "GPUGATE_PROVISION_TIMEOUT";

pub fn timeout() -> Duration {
    let seconds = std::env::var(TIMEOUT_VAR)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(3600);
    Duration::from_secs(seconds)
}

/// Where the wheels must run: this CPython-independent set of tags.
pub struct Target<'a> {
    /// e.g. "3.11": the libraries do not depend on it, but pip must pick one.
    pub python: &'a str,
    /// The manylinux tags this machine's glibc can load, so that a wheel it
    /// cannot load is never chosen.
    pub platforms: Vec<String>,
}

/// The manylinux tags of this machine's glibc: pip does not widen an
/// explicit `--platform`, so every older glibc is listed too.
pub fn host_platforms() -> Vec<String> {
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) }
        .to_string_lossy()
        .into_owned();
    let minor = version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(17);
    let mut tags: Vec<String> = (17..=minor.max(17))
        .rev()
        .map(|m| format!("manylinux_2_{m}_x86_64"))
        .collect();
    tags.extend(["manylinux2014_x86_64", "manylinux2010_x86_64"].map(String::from));
    tags
}

/// Downloads `requirements` (no dependencies, wheels only) into `dest` and
/// returns the wheels pip chose, as it named them. Wheels already in `dest`
/// are reused, so an interrupted download resumes where it stopped.
pub fn download(
    requirements: &[String],
    target: &Target,
    dest: &Path,
    say: &mut dyn FnMut(&str),
) -> Result<Vec<PathBuf>, PipError> {
    let what = requirements.join(" ");
    // Removed when the download ends, however it ends.
    let tmp = tempfile::Builder::new()
        .prefix(".pip-tmp")
        .tempdir_in(dest)
        .map_err(PipError::Spawn)?;
    let abi = format!("cp{}", target.python.replace('.', ""));
    let mut command = Command::new("python3");
    command
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--progress-bar", "off"])
        .args(["--python-version", target.python, "--implementation", "cp"])
        .args(["--abi", &abi, "--abi", "none", "--abi", "abi3"])
        .args(
            target
                .platforms
                .iter()
                .flat_map(|p| ["--platform", p.as_str()]),
        )
        .arg("--dest")
        .arg(dest)
        .args(requirements)
        // Where pip writes a download before moving it to `dest`, so that
        // its bytes can be counted (super::progress).
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, cancelled with the run, and killed if gpugate
    // dies: no pip outlives an interrupted run.
    let mut child = crate::procs::spawn(command).map_err(PipError::Spawn)?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut output = String::new();
    let mut wheels = Vec::new();
    let mut downloading: Option<(String, Progress)> = None;
    let started = std::time::Instant::now();
    let limit = timeout();
    let status = loop {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let line = line.trim().to_string();
                if line.starts_with("Downloading")
                    || line.starts_with("File was already downloaded")
                {
                    if let Some((_, done)) = downloading.take() {
                        done.finish();
                    }
                    say(&format!("gpugate: pip: {line}"));
                    downloading = progress::announced(&line).map(|(name, total)| {
                        let shown =
                            Progress::on_stderr(&format!("pip: {name}"), total, Unit::Bytes);
                        (name, shown)
                    });
                }
                // pip prints paths relative to its working directory.
                if let Some(name) = chosen_wheel(&line).as_deref().and_then(Path::file_name) {
                    wheels.push(dest.join(name));
                }
                output.push_str(&line);
                output.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break child.wait(),
        }
        if let Some((name, download)) = &mut downloading {
            download.update(progress::bytes_of(tmp.path(), name), say);
        }
        let timed_out = started.elapsed() > limit;
        if crate::procs::is_cancelled() || timed_out {
            crate::procs::kill_group(child.id(), libc::SIGKILL);
            let _ = child.wait();
            crate::procs::unregister(child.id());
            return Err(if timed_out {
                PipError::TimedOut {
                    what,
                    seconds: limit.as_secs(),
                }
            } else {
                PipError::Cancelled(what)
            });
        }
    };
    // Nothing pip started outlives it (procs::run_bounded does the same).
    crate::procs::kill_group(child.id(), libc::SIGKILL);
    crate::procs::unregister(child.id());
    if let Some((_, download)) = downloading {
        download.finish();
    }
    let status = status.map_err(PipError::Spawn)?;
    let errors = err_reader.join().unwrap_or_default();
    if !status.success() {
        let text = format!("{errors}{output}");
        return Err(PipError::Failed {
            what,
            status: status.to_string(),
            tail: crate::text::last_lines(text.trim(), 15),
        });
    }
    Ok(wheels)
}

/// pip's `Saved PATH` and `File was already downloaded PATH` lines.
fn chosen_wheel(line: &str) -> Option<PathBuf> {
    let path = line
        .strip_prefix("Saved ")
        .or_else(|| line.strip_prefix("File was already downloaded "))?;
    path.ends_with(".whl").then(|| PathBuf::from(path.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_wheels_pip_chose() {
        assert_eq!(
            chosen_wheel("Saved ./d/nvidia_cudnn_cu12-9.3.0.75-py3-none-manylinux2014_x86_64.whl"),
            Some(PathBuf::from(
                "./d/nvidia_cudnn_cu12-9.3.0.75-py3-none-manylinux2014_x86_64.whl"
            ))
        );
        assert!(chosen_wheel("File was already downloaded /c/tensorflow-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl").is_some());
        assert_eq!(chosen_wheel("Successfully downloaded tensorflow"), None);
    }

    #[test]
    fn lists_every_glibc_up_to_the_hosts() {
        let tags = host_platforms();
        assert!(tags.contains(&"manylinux_2_17_x86_64".to_string()));
        assert!(tags.contains(&"manylinux2014_x86_64".to_string()));
    }
}
