//! A worker's stderr, drained continuously (so a flooding worker never blocks)
//! into a bounded buffer, with the per-request done markers picked out.

use super::protocol::DONE_MARKER;
use std::io::Read;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// How much recent stderr a worker keeps.
const KEEP: usize = 1 << 20;
/// A line longer than this is stored without waiting for its end.
const MAX_PENDING: usize = 64 << 10;

#[derive(Default)]
struct State {
    /// The most recent stderr bytes; `dropped` bytes before them are gone.
    buf: Vec<u8>,
    dropped: u64,
    done_seq: Option<u64>,
    eof: bool,
}

#[derive(Default)]
pub struct StderrLog {
    state: Mutex<State>,
    changed: Condvar,
}

impl StderrLog {
    /// Bytes seen so far; a position to read from later.
    pub fn position(&self) -> u64 {
        let state = self.state.lock().unwrap();
        state.dropped + state.buf.len() as u64
    }

    /// Reads `pipe` to its end. Runs on its own thread.
    pub fn drain(&self, mut pipe: impl Read) {
        let mut pending: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&chunk[..n]);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                self.take_line(&line);
            }
            if pending.len() > MAX_PENDING {
                let line = std::mem::take(&mut pending);
                self.take_line(&line);
            }
        }
        if !pending.is_empty() {
            self.take_line(&pending);
        }
        self.state.lock().unwrap().eof = true;
        self.changed.notify_all();
    }

    fn take_line(&self, line: &[u8]) {
        let mut state = self.state.lock().unwrap();
        let marker = DONE_MARKER.as_bytes();
        if let Some(rest) = line.strip_prefix(marker)
            && let Ok(seq) = String::from_utf8_lossy(rest).trim().parse()
        {
            state.done_seq = Some(seq);
            drop(state);
            self.changed.notify_all();
            return;
        }
        state.buf.extend_from_slice(line);
        if state.buf.len() > KEEP {
            let excess = state.buf.len() - KEEP / 2;
            state.buf.drain(..excess);
            state.dropped += excess as u64;
        }
    }

    /// Waits until the worker marked request `seq` done (or its stderr ended).
    pub fn wait_done(&self, seq: u64, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut state = self.state.lock().unwrap();
        while state.done_seq.is_none_or(|d| d < seq) && !state.eof {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = self.changed.wait_timeout(state, left).unwrap().0;
        }
    }

    /// Waits for the end of the stream (the worker exited).
    pub fn wait_eof(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut state = self.state.lock().unwrap();
        while !state.eof {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = self.changed.wait_timeout(state, left).unwrap().0;
        }
    }

    /// Everything since `position`, noting what was dropped in between.
    pub fn since(&self, position: u64) -> String {
        let state = self.state.lock().unwrap();
        let (skipped, start) = if position < state.dropped {
            (state.dropped - position, 0)
        } else {
            (0, (position - state.dropped) as usize)
        };
        let text = String::from_utf8_lossy(&state.buf[start.min(state.buf.len())..]).into_owned();
        if skipped > 0 {
            format!("[... {skipped} earlier bytes dropped ...]\n{text}")
        } else {
            text
        }
    }

    /// The last `lines` lines seen.
    pub fn tail(&self, lines: usize) -> String {
        let state = self.state.lock().unwrap();
        crate::text::last_lines(&String::from_utf8_lossy(&state.buf), lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_removed_and_tracked() {
        let log = StderrLog::default();
        let input = format!("hello\n{DONE_MARKER}1\nworld\n{DONE_MARKER}2\n");
        log.drain(input.as_bytes());
        assert_eq!(log.since(0), "hello\nworld\n");
        assert_eq!(log.since(6), "world\n");
        log.wait_done(2, Duration::from_millis(1));
        assert_eq!(log.state.lock().unwrap().done_seq, Some(2));
    }

    #[test]
    fn memory_stays_bounded_under_a_flood() {
        let log = StderrLog::default();
        let flood = vec![b'x'; 8 * KEEP];
        log.drain(flood.as_slice());
        assert!(log.state.lock().unwrap().buf.len() <= KEEP);
        assert_eq!(log.position(), 8 * KEEP as u64);
        assert!(log.since(0).starts_with("[... "));
    }
}
