//! Child processes and cancellation. Every child gpugate starts lives in its
//! own process group and is registered here, so that SIGINT/SIGTERM can end
//! all of them (and their children) before the report is written.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

static GROUPS: OnceLock<Mutex<HashSet<i32>>> = OnceLock::new();
/// 0 while running; the signal number once the run was cancelled.
static CANCELLED_BY: AtomicI32 = AtomicI32::new(0);

/// The first error (errno) a write to the real stdout met through the
/// [`StdoutShield`]; 0 while none has.
static STDOUT_WRITE_ERROR: AtomicI32 = AtomicI32::new(0);

/// Whether this command's product is what it prints (facts, doctor, a
/// merged report without `--out`): then a failed write to stdout loses it.
static STDOUT_IS_THE_REPORT: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Says that what this command prints is its report.
pub fn stdout_is_the_report() {
    STDOUT_IS_THE_REPORT.store(true, Ordering::SeqCst);
}

/// Why the report printed to stdout did not reach it whole, if it did not.
pub fn lost_report() -> Option<std::io::Error> {
    let errno = STDOUT_WRITE_ERROR.load(Ordering::SeqCst);
    (STDOUT_IS_THE_REPORT.load(Ordering::SeqCst) && errno != 0)
        .then(|| std::io::Error::from_raw_os_error(errno))
}

fn groups() -> &'static Mutex<HashSet<i32>> {
    GROUPS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Registers a child started with `process_group(0)` (its pid is its group id).
pub fn register(pid: u32) {
    groups().lock().unwrap().insert(pid as i32);
}

pub fn unregister(pid: u32) {
    groups().lock().unwrap().remove(&(pid as i32));
}

type SpawnRequest = (
    std::process::Command,
    std::sync::mpsc::Sender<std::io::Result<std::process::Child>>,
);

/// The thread every child is started from. PR_SET_PDEATHSIG fires when the
/// *thread* that forked the child ends, not the process: children forked
/// from short-lived threads (libtest's) would be killed while still in use.
/// This thread lives as long as gpugate, so the signal means gpugate died.
static SPAWNER: OnceLock<Mutex<std::sync::mpsc::Sender<SpawnRequest>>> = OnceLock::new();

fn spawner() -> &'static Mutex<std::sync::mpsc::Sender<SpawnRequest>> {
    SPAWNER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("gpugate-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("the spawner thread starts");
        Mutex::new(tx)
    })
}

/// Starts `command` in a process group of its own, registered for
/// cancellation, and killed by the kernel if gpugate dies (even by SIGKILL,
/// which no handler sees).
pub fn spawn(mut command: std::process::Command) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    command.process_group(0);
    // SAFETY: prctl, getppid and _exit are async-signal-safe. If gpugate
    // died between fork and prctl, the child has been reparented already
    // and ends itself.
    unsafe {
        command.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let (reply, answer) = std::sync::mpsc::channel();
    spawner()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((command, reply))
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    let child = answer
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))??;
    register(child.id());
    Ok(child)
}

/// Output beyond this, per stream, is read and dropped, so a flooding
/// child can neither eat memory nor stall on a full pipe.
const OUTPUT_LIMIT: usize = 1 << 20;

/// How long a child's pipes may stay open once it has ended and its group
/// is gone: only a process that left the group (setsid) can hold them.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// How a bounded child ended, with what it wrote (each stream capped at
/// [`OUTPUT_LIMIT`]).
pub struct Bounded {
    /// None when it was killed at its deadline or by a cancellation.
    pub status: Option<std::process::ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    /// False when a process outside the group still held a pipe after
    /// [`OUTPUT_GRACE`]: what it wrote later is not here.
    pub complete: bool,
}

/// The one way gpugate runs a child to its end: in a process group of its
/// own (see [`spawn`]), stdin closed, stdout and stderr drained while it
/// runs (so a flood never fills a pipe), its whole group killed at
/// `limit` or on cancellation and, once it has ended, whatever it left in
/// its group killed too, so no grandchild holding a pipe keeps gpugate
/// past the limit.
pub fn run_bounded(
    mut command: std::process::Command,
    limit: Duration,
) -> std::io::Result<Bounded> {
    use std::process::Stdio;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn(command)?;
    let stdout = PipeReader::drain(child.stdout.take());
    let stderr = PipeReader::drain(child.stderr.take());
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= limit || is_cancelled() => {
                kill_group(child.id(), libc::SIGKILL);
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => {
                kill_group(child.id(), libc::SIGKILL);
                let _ = child.wait();
                break None;
            }
        }
    };
    kill_group(child.id(), libc::SIGKILL);
    unregister(child.id());
    let deadline = std::time::Instant::now() + OUTPUT_GRACE;
    let (stdout, out_complete) = stdout.take(deadline);
    let (stderr, err_complete) = stderr.take(deadline);
    Ok(Bounded {
        status,
        stdout,
        stderr,
        complete: out_complete && err_complete,
    })
}

/// A pipe drained by a thread into a capped buffer, so that what was read
/// can be taken at a deadline even if the pipe never closes.
struct PipeReader {
    kept: std::sync::Arc<Mutex<Vec<u8>>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl PipeReader {
    fn drain<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> PipeReader {
        let kept = std::sync::Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = std::sync::mpsc::channel();
        let shared = kept.clone();
        std::thread::spawn(move || {
            if let Some(mut pipe) = pipe {
                let mut buf = [0u8; 8192];
                loop {
                    match pipe.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let mut kept = shared.lock().unwrap_or_else(|e| e.into_inner());
                            let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                            kept.extend_from_slice(&buf[..n.min(room)]);
                        }
                    }
                }
            }
            let _ = tx.send(());
        });
        PipeReader { kept, done }
    }

    /// What was read, waiting for the end of the pipe until `deadline`.
    fn take(self, deadline: std::time::Instant) -> (String, bool) {
        let wait = deadline.saturating_duration_since(std::time::Instant::now());
        let complete = self.done.recv_timeout(wait).is_ok();
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        (String::from_utf8_lossy(&kept).into_owned(), complete)
    }
}

/// Runs `command` bounded ([`run_bounded`]) and returns its standard
/// output; an error when it cannot start, fails, outlives `limit` or the
/// run is cancelled meanwhile.
pub fn output_within(
    command: std::process::Command,
    limit: Duration,
) -> Result<String, CommandError> {
    let run = run_bounded(command, limit).map_err(CommandError::Start)?;
    match run.status {
        None if is_cancelled() => Err(CommandError::Cancelled),
        None => Err(CommandError::TimedOut(limit)),
        Some(status) if !status.success() => Err(CommandError::Failed(status)),
        Some(_) => Ok(run.stdout),
    }
}

/// Why [`output_within`] has no output to give.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("cannot run: {0}")]
    Start(#[source] std::io::Error),
    #[error("did not answer within {}s", .0.as_secs())]
    TimedOut(Duration),
    #[error("cancelled")]
    Cancelled,
    #[error("failed ({0})")]
    Failed(std::process::ExitStatus),
}

/// Sends `signal` to a child's whole process group.
pub fn kill_group(pid: u32, signal: i32) {
    // SAFETY: killpg has no memory-safety preconditions; a stale group id fails with ESRCH.
    unsafe {
        libc::killpg(pid as i32, signal);
    }
}

fn signal_all(signal: i32) {
    let all: Vec<i32> = groups().lock().unwrap().iter().copied().collect();
    for pgid in all {
        kill_group(pgid as u32, signal);
    }
}

/// The signal that cancelled the run, if any.
pub fn cancelled_by() -> Option<i32> {
    match CANCELLED_BY.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

pub fn is_cancelled() -> bool {
    cancelled_by().is_some()
}

pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGHUP => "SIGHUP",
        libc::SIGTRAP => "SIGTRAP",
        _ => "signal",
    }
}

/// Cancels the run: children get SIGTERM, then SIGKILL after a grace period.
/// Checks not yet started see `is_cancelled()` and do not start.
pub fn cancel(signal: i32) {
    CANCELLED_BY
        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
        .ok();
    signal_all(libc::SIGTERM);
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(2));
        signal_all(libc::SIGKILL);
    });
}

/// Installs SIGINT/SIGTERM/SIGHUP handling: the first signal cancels the run, a
/// second one kills every child and ends gpugate at once, with the shell's
/// exit status for that signal (128 + its number), wherever the main thread
/// is blocked.
pub fn install_signal_handlers() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    // SIGHUP (the terminal or CI session went away) is a request to stop
    // like SIGTERM: the report is still written.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("gpugate-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if is_cancelled() {
                    signal_all(libc::SIGKILL);
                    eprintln!(
                        "gpugate: {} received again: killed at once, the report may be missing",
                        signal_name(signal)
                    );
                    std::process::exit(128 + signal);
                } else {
                    eprintln!(
                        "gpugate: {} received: stopping checks and writing the report (again to kill at once)",
                        signal_name(signal)
                    );
                    cancel(signal);
                }
            }
        })?;
    Ok(())
}

/// While alive, the process's stdout (descriptor 1) writes to stderr, so
/// that libtest's console cannot mix into a document printed on stdout.
pub struct StdoutToStderr {
    saved: libc::c_int,
}

impl StdoutToStderr {
    pub fn start() -> StdoutToStderr {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // SAFETY: plain descriptor duplication; failures leave stdout as it was.
        let saved = unsafe { libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 0) };
        if saved >= 0 {
            unsafe { libc::dup2(2, 1) };
        }
        StdoutToStderr { saved }
    }
}

impl Drop for StdoutToStderr {
    fn drop(&mut self) {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        if self.saved >= 0 {
            // SAFETY: restores the descriptor saved in `start`, then closes the copy.
            unsafe {
                libc::dup2(self.saved, 1);
                libc::close(self.saved);
            }
        }
    }
}

/// Keeps a closed stdout (`gpugate ... | head -1`) from ending the run:
/// descriptor 1 becomes a pipe that a thread copies to the real stdout,
/// dropping what the reader no longer takes. Rust's `print!` panics when a
/// write fails; through the shield no write ever fails, so the report is
/// still written and the exit code is still the verdict's.
pub struct StdoutShield {
    original: libc::c_int,
    /// Says when the copier has passed everything on.
    done: std::sync::mpsc::Receiver<()>,
}

impl StdoutShield {
    /// None when descriptors cannot be set up; stdout is then left as it was.
    pub fn start() -> Option<StdoutShield> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: plain descriptor calls; each failure path undoes what it did.
        unsafe {
            // Close-on-exec: no child may keep the real stdout open.
            let original = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 0);
            if original < 0 {
                return None;
            }
            if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
                libc::close(original);
                return None;
            }
            if libc::dup2(fds[1], 1) < 0 {
                libc::close(original);
                libc::close(fds[0]);
                libc::close(fds[1]);
                return None;
            }
            libc::close(fds[1]);
            let read_end = fds[0];
            let (tx, done) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("gpugate-stdout".into())
                .spawn(move || {
                    copy_until_closed(read_end, original);
                    let _ = tx.send(());
                })
                .ok()?;
            Some(StdoutShield { original, done })
        }
    }

    /// Puts the real stdout back and waits until everything written
    /// through the shield has been passed on (or dropped).
    pub fn finish(self) {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // SAFETY: restoring descriptor 1 closes the pipe's last write end,
        // so the copier sees end-of-file.
        unsafe {
            libc::dup2(self.original, 1);
        }
        // A child that kept a copy of the write end would keep the copier
        // waiting forever; the exit does not wait for it that long.
        let _ = self.done.recv_timeout(Duration::from_secs(5));
    }
}

fn copy_until_closed(from: libc::c_int, to: libc::c_int) {
    let mut buf = [0u8; 8192];
    let mut reader_gone = false;
    loop {
        // SAFETY: reads into a buffer of the length given.
        let n = unsafe { libc::read(from, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            break;
        }
        let mut chunk = &buf[..n as usize];
        while !reader_gone && !chunk.is_empty() {
            // SAFETY: writes bytes of a live buffer.
            let w = unsafe { libc::write(to, chunk.as_ptr().cast(), chunk.len()) };
            if w < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                // EPIPE and the like: keep draining, drop the rest, and
                // remember why (a report printed there is lost).
                let errno = std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO);
                let _ = STDOUT_WRITE_ERROR.compare_exchange(
                    0,
                    errno,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
                reader_gone = true;
            } else {
                chunk = &chunk[w as usize..];
            }
        }
    }
    // SAFETY: the read end is this thread's.
    unsafe {
        libc::close(from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn sh(script: &str) -> std::process::Command {
        let mut command = std::process::Command::new("sh");
        command.args(["-c", script]);
        command
    }

    /// A child that exits at once but leaves a grandchild holding its
    /// stdout (a `python3` or `ptxas` wrapper doing so) does not keep the
    /// caller waiting for the grandchild: the group goes with the child.
    #[test]
    fn a_grandchild_holding_the_pipe_is_ended_with_its_parent() {
        let started = Instant::now();
        let out = output_within(
            sh("sleep 30 & echo $! ; echo answered"),
            Duration::from_secs(20),
        )
        .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let mut lines = out.lines();
        let grandchild = lines.next().unwrap();
        assert_eq!(lines.next(), Some("answered"));
        // SIGKILL is delivered asynchronously: gone (or a zombie) shortly.
        let gone = || {
            std::fs::read_to_string(format!("/proc/{grandchild}/stat")).map_or(true, |s| {
                s.rsplit(')').next().is_some_and(|r| r.starts_with(" Z"))
            })
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        while !gone() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            gone(),
            "the grandchild {grandchild} outlived its parent's run"
        );
    }

    /// A child that prints more than a pipe holds and exits is read while
    /// it runs: its answer, not a timeout; what it prints is capped.
    #[test]
    fn a_flood_is_read_while_the_child_runs_and_capped() {
        let out = output_within(
            sh("head -c 200000 /dev/zero | tr '\\0' x"),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(out.len(), 200_000);
        let run = run_bounded(sh("head -c 3000000 /dev/zero"), Duration::from_secs(10)).unwrap();
        assert!(run.status.is_some_and(|s| s.success()));
        assert_eq!(run.stdout.len(), OUTPUT_LIMIT);
    }

    /// A child that outlives its limit is killed with its group at the
    /// deadline, and says so.
    #[test]
    fn a_hung_child_is_killed_at_its_deadline() {
        let started = Instant::now();
        let error =
            output_within(sh("sleep 60 & sleep 60"), Duration::from_millis(300)).unwrap_err();
        assert!(matches!(error, CommandError::TimedOut(_)), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
}
