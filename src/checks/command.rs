//! `command`: runs a program (argv, never a shell) and judges its exit code
//! and output, e.g. `nvcc --version` or `nvidia-smi -L`.

use crate::checks::Invalid;
use crate::checks::kind::{Execution, InParent, Kind};

use super::Pattern;
use crate::outcome::Verdict;
use crate::procs;
use serde::{Deserialize, Serialize};

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub argv: Vec<String>,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default)]
    pub stdout_matches: Option<Pattern>,
    #[serde(default)]
    pub stderr_matches: Option<Pattern>,
}

pub struct Captured {
    pub stdout: String,
    pub stderr: String,
}

impl Spec {
    /// A relative program path (`./tool`, `bin/tool`) is relative to the suite's directory.
    pub fn resolve(&mut self, base_dir: &Path) {
        let program = &self.argv[0];
        if program.contains('/') && Path::new(program).is_relative() {
            self.argv[0] = base_dir.join(program).to_string_lossy().into_owned();
        }
    }

    pub fn run(&self, timeout: Duration) -> (Verdict, Option<String>) {
        let shown = self.argv.join(" ");
        let mut command = Command::new(&self.argv[0]);
        command.args(&self.argv[1..]);
        let run = match procs::run_bounded(command, timeout) {
            Ok(run) => run,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let verdict = if self.argv[0].contains('/') {
                    Verdict::fail(format!(
                        "`{shown}` cannot run: {} does not exist",
                        self.argv[0]
                    ))
                } else {
                    Verdict::fail(format!(
                        "`{shown}` cannot run: `{}` is not on PATH",
                        self.argv[0]
                    ))
                };
                return (verdict, None);
            }
            Err(e) => return (Verdict::fail(format!("`{shown}` cannot run: {e}")), None),
        };
        let status = run.status;
        let captured = Captured {
            stdout: run.stdout,
            stderr: run.stderr,
        };
        let cut = if run.complete {
            ""
        } else {
            "--- output cut: a process the command started outside its process group still holds its pipes ---\n"
        };
        let output = Some(format!(
            "$ {shown}\n--- stdout ---\n{}--- stderr ---\n{}{cut}",
            captured.stdout, captured.stderr
        ));
        let verdict = match status {
            // Cancelling signals the child too: whatever it did after that is no verdict.
            _ if procs::is_cancelled() => {
                Verdict::error(format!("`{shown}` was stopped: the run was cancelled"))
            }
            None => Verdict::error(format!(
                "`{shown}` timed out after {:.1}s and was killed",
                timeout.as_secs_f64()
            )),
            Some(status) => self.judge(&shown, status, &captured),
        };
        (verdict, output)
    }

    fn judge(&self, shown: &str, status: std::process::ExitStatus, out: &Captured) -> Verdict {
        if let Some(signal) = status.signal() {
            return Verdict::fail(format!(
                "`{shown}` was killed by signal {signal} ({})",
                procs::signal_name(signal)
            ));
        }
        let code = status.code().unwrap_or(-1);
        if code != self.exit_code {
            let last = out
                .stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Verdict::fail(format!(
                "`{shown}` exited with {code}, expected {}{}",
                self.exit_code,
                if last.is_empty() {
                    String::new()
                } else {
                    format!(": {}", last.trim())
                }
            ));
        }
        for (stream, pattern, text) in [
            ("stdout", &self.stdout_matches, &out.stdout),
            ("stderr", &self.stderr_matches, &out.stderr),
        ] {
            if let Some(pattern) = pattern {
                match pattern.0.captures(text) {
                    None => {
                        return Verdict::fail(format!(
                            "`{shown}` {stream} does not match /{}/",
                            pattern.as_str()
                        ));
                    }
                    Some(caps) => {
                        if let Some(first_group) = caps.get(1) {
                            return Verdict::pass(format!(
                                "`{shown}` {stream} matches: {}",
                                first_group.as_str()
                            ))
                            .with_property(format!("{stream}_match"), first_group.as_str());
                        }
                    }
                }
            }
        }
        Verdict::pass(format!("`{shown}` exited with {code}"))
    }
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "argv = ['true']";

impl Kind for Spec {
    fn validate(&self) -> Result<(), Invalid> {
        if self.argv.is_empty() || self.argv[0].is_empty() {
            return Err(Invalid::at(
                "argv",
                "`argv` must name a program: argv = [\"nvidia-smi\", \"-L\"]",
            ));
        }
        Ok(())
    }

    fn execution(&self) -> Execution<'_> {
        Execution::Parent(self)
    }

    crate::checks::kind::resolves_paths!();
}

impl InParent for Spec {
    fn run(&self, timeout: std::time::Duration) -> (Verdict, Option<String>) {
        Spec::run(self, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;
    use std::time::Instant;

    fn spec(text: &str) -> Spec {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn exit_code_and_output_are_judged() {
        let t = Duration::from_secs(10);
        assert_eq!(spec("argv = ['true']").run(t).0.status, Status::Pass);
        assert_eq!(spec("argv = ['false']").run(t).0.status, Status::Fail);
        assert_eq!(
            spec("argv = ['false']\nexit_code = 1").run(t).0.status,
            Status::Pass
        );
        let v =
            spec("argv = ['echo', 'release 12.5, V12.5.82']\nstdout_matches = 'release ([0-9.]+)'")
                .run(t)
                .0;
        assert_eq!(v.status, Status::Pass);
        assert_eq!(
            v.message,
            "`echo release 12.5, V12.5.82` stdout matches: 12.5"
        );
        assert_eq!(
            spec("argv = ['echo', 'x']\nstdout_matches = '^y'")
                .run(t)
                .0
                .status,
            Status::Fail
        );
    }

    #[test]
    fn never_uses_a_shell() {
        let v = spec("argv = ['echo', '$HOME; false']\nstdout_matches = '(?m)^\\$HOME; false$'")
            .run(Duration::from_secs(5))
            .0;
        assert_eq!(v.status, Status::Pass, "{}", v.message);
    }

    #[test]
    fn missing_program_and_timeout() {
        let v = spec("argv = ['gpugate-no-such-program']")
            .run(Duration::from_secs(5))
            .0;
        assert_eq!(v.status, Status::Fail);
        assert!(v.message.contains("is not on PATH"), "{}", v.message);
        let started = Instant::now();
        let v = spec("argv = ['sleep', '30']")
            .run(Duration::from_millis(200))
            .0;
        assert_eq!(v.status, Status::Error);
        assert!(v.message.contains("timed out after 0.2s"), "{}", v.message);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
