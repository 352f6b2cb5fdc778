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

/// Installs SIGINT/SIGTERM handling: the first signal cancels the run, a
/// second one kills every child at once.
pub fn install_signal_handlers() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("gpugate-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if is_cancelled() {
                    signal_all(libc::SIGKILL);
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
        let saved = unsafe { libc::dup(1) };
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
