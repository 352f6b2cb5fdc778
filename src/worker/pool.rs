//! The parent side of workers: one per lane, spawned on demand, replaced
//! after a crash or timeout, killed on cancel.

use super::log::StderrLog;
use super::protocol::{Ask, Init, Request, RequestBody, Response, ResponseBody, WORKER_SUBCOMMAND};
use crate::checks::Lane;
use crate::procs;
use crate::tf::Setup;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How many stderr lines a crash or timeout report carries.
const TAIL_LINES: usize = 30;

struct Worker {
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<String>,
    log: Arc<StderrLog>,
    next_seq: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// The worker could not be started.
    Spawn(String),
    /// The worker died mid-request: how it ended.
    Crashed(String),
    TimedOut(Duration),
    Cancelled,
    /// The worker answered something unreadable.
    Protocol(String),
}

impl CallError {
    /// The JUnit type word for this error.
    pub fn type_word(&self) -> &'static str {
        match self {
            CallError::Crashed(_) => "crash",
            CallError::TimedOut(_) => "timeout",
            CallError::Cancelled => "interrupted",
            CallError::Spawn(_) | CallError::Protocol(_) => "error",
        }
    }
}

#[derive(Debug)]
pub struct CallFailure {
    pub error: CallError,
    pub stderr_tail: String,
}

/// A typed reply, with the worker's stderr while it handled the request.
pub struct Answer<T> {
    pub reply: T,
    pub output: String,
}

struct Reply {
    pub body: ResponseBody,
    /// The worker's stderr while it handled this request.
    pub output: String,
}

type Slot = Arc<Mutex<Option<Worker>>>;

pub struct Pool {
    exe: PathBuf,
    tensorflow: RwLock<Setup>,
    lanes: Mutex<HashMap<Lane, Slot>>,
    /// TensorFlow workers alive at once, at most (each holds hundreds of
    /// MiB): as many as can be busy at once, plus the default lane's, plus
    /// one spare, so that a suite of a few lanes (cpu-basic's four) does not
    /// reload TensorFlow on two threads.
    max_tensorflow_workers: usize,
}

pub fn describe_status(status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        let core = if status.core_dumped() {
            ", core dumped"
        } else {
            ""
        };
        format!(
            "killed by signal {signal} ({}{core})",
            procs::signal_name(signal)
        )
    } else {
        format!("exited with status {}", status.code().unwrap_or(-1))
    }
}

impl Pool {
    /// `parallel`: how many requests may be in flight at once.
    pub fn new(exe: PathBuf, tensorflow: Setup, parallel: usize) -> Self {
        Pool {
            exe,
            tensorflow: RwLock::new(tensorflow),
            lanes: Mutex::new(HashMap::new()),
            max_tensorflow_workers: parallel.max(1).saturating_add(2),
        }
    }

    /// How many TensorFlow workers may be alive at once.
    pub fn max_tensorflow_workers(&self) -> usize {
        self.max_tensorflow_workers
    }

    /// Before a TensorFlow worker starts for `lane`: retires idle ones of
    /// other lanes until fewer than the bound are alive, the default lane
    /// (which most checks share) last.
    fn make_room(&self, lane: &Lane) {
        if !matches!(lane, Lane::Tensorflow { .. }) {
            return;
        }
        let default = Lane::tensorflow_default();
        let mut others: Vec<(Lane, Slot)> = self
            .lanes
            .lock()
            .unwrap()
            .iter()
            .filter(|(l, _)| matches!(l, Lane::Tensorflow { .. }) && *l != lane)
            .map(|(l, slot)| (l.clone(), slot.clone()))
            .collect();
        others.sort_by_key(|(l, _)| *l == default);
        let mut idle = Vec::new();
        let mut live = 0;
        for (_, slot) in &others {
            match slot.try_lock() {
                // Busy with a request: alive, and not ours to end.
                Err(_) => live += 1,
                Ok(guard) if guard.is_some() => {
                    live += 1;
                    idle.push(slot.clone());
                }
                Ok(_) => {}
            }
        }
        for slot in idle {
            if live < self.max_tensorflow_workers - 1 {
                break;
            }
            if let Ok(mut guard) = slot.try_lock()
                && let Some(worker) = guard.take()
            {
                retire(worker);
                live -= 1;
            }
        }
    }

    /// Replaces how TensorFlow is found; running TensorFlow workers are
    /// retired so the next request starts one with the new setup.
    pub fn set_tensorflow(&self, setup: Setup) {
        *self.tensorflow.write().unwrap() = setup;
        let slots: Vec<Slot> = self
            .lanes
            .lock()
            .unwrap()
            .iter()
            .filter(|(lane, _)| matches!(lane, Lane::Tensorflow { .. }))
            .map(|(_, slot)| slot.clone())
            .collect();
        for slot in slots {
            if let Some(worker) = slot.lock().unwrap().take() {
                retire(worker);
            }
        }
    }

    fn slot(&self, lane: &Lane) -> Slot {
        self.lanes
            .lock()
            .unwrap()
            .entry(lane.clone())
            .or_default()
            .clone()
    }

    fn spawn(&self, lane: &Lane) -> Result<Worker, String> {
        let mut command = Command::new(&self.exe);
        command
            .arg(WORKER_SUBCOMMAND)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A panic's message is worth more in a crash report's tail than its backtrace.
            .env("RUST_BACKTRACE", "0")
            .envs(lane.env());
        // Libraries load here: never from the working directory, which an
        // empty or relative LD_LIBRARY_PATH element would search.
        if let Some(path) = std::env::var_os("LD_LIBRARY_PATH")
            .as_deref()
            .and_then(crate::host::absolute_search_path)
        {
            if path.is_empty() {
                command.env_remove("LD_LIBRARY_PATH");
            } else {
                command.env("LD_LIBRARY_PATH", path);
            }
        }
        let mut child = procs::spawn(command)
            .map_err(|e| format!("failed to start worker {}: {e}", self.exe.display()))?;
        let log = Arc::new(StderrLog::default());
        let stderr = child.stderr.take().expect("piped");
        let drain_log = log.clone();
        std::thread::spawn(move || drain_log.drain(stderr));
        let stdout = child.stdout.take().expect("piped");
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdin = child.stdin.take().expect("piped");
        let init = Init {
            lane: lane.clone(),
            tensorflow: self.tensorflow.read().unwrap().clone(),
        };
        let line = serde_json::to_string(&init).expect("init serializes");
        // A failed write shows up as a crash on the first request.
        let _ = writeln!(stdin, "{line}");
        Ok(Worker {
            child,
            stdin,
            replies,
            log,
            next_seq: 1,
        })
    }

    /// Sends `request` to the lane's worker and returns its reply, typed.
    /// An answer of the wrong kind is a protocol failure.
    pub fn ask<R: Ask>(
        &self,
        lane: &Lane,
        request: R,
        timeout: Duration,
    ) -> Result<Answer<R::Reply>, CallFailure> {
        let reply = self.call(lane, request.into_body(), timeout)?;
        match R::reply(reply.body) {
            Ok(answer) => Ok(Answer {
                reply: answer,
                output: reply.output,
            }),
            Err(other) => Err(CallFailure {
                error: CallError::Protocol(format!(
                    "the worker answered with another request's reply: {other}"
                )),
                stderr_tail: reply.output,
            }),
        }
    }

    /// Sends one request to the lane's worker and waits for its answer.
    fn call(
        &self,
        lane: &Lane,
        body: RequestBody,
        timeout: Duration,
    ) -> Result<Reply, CallFailure> {
        let slot = self.slot(lane);
        let mut guard = slot.lock().unwrap();
        if procs::is_cancelled() {
            return Err(CallFailure {
                error: CallError::Cancelled,
                stderr_tail: String::new(),
            });
        }
        if guard.is_none() {
            self.make_room(lane);
            let worker = self.spawn(lane).map_err(|e| CallFailure {
                error: CallError::Spawn(e),
                stderr_tail: String::new(),
            })?;
            *guard = Some(worker);
        }
        let worker = guard.as_mut().expect("just set");
        match exchange(worker, body, timeout) {
            Ok(reply) => Ok(reply),
            Err(error) => Err(fail(guard.take().expect("present"), error)),
        }
    }

    /// Ends the lane's worker, if any; the next request starts a fresh one.
    pub fn retire(&self, lane: &Lane) {
        let slot = self.lanes.lock().unwrap().get(lane).cloned();
        if let Some(worker) = slot.and_then(|s| s.lock().unwrap().take()) {
            retire(worker);
        }
    }

    /// Ends every worker: closes their input, then kills what is left.
    pub fn shutdown(&self) {
        let slots: Vec<Slot> = self.lanes.lock().unwrap().values().cloned().collect();
        let workers: Vec<Worker> = slots
            .iter()
            .filter_map(|slot| slot.lock().unwrap().take())
            .collect();
        // All inputs closed first, so the workers end side by side.
        let closing: Vec<(Child, u32)> = workers
            .into_iter()
            .map(|worker| {
                let id = worker.child.id();
                drop(worker.stdin);
                (worker.child, id)
            })
            .collect();
        for (child, id) in closing {
            reap(child, id);
        }
    }
}

fn exchange(worker: &mut Worker, body: RequestBody, timeout: Duration) -> Result<Reply, CallError> {
    let seq = worker.next_seq;
    worker.next_seq += 1;
    let start = worker.log.position();
    let line = serde_json::to_string(&Request { seq, body }).expect("request serializes");
    if writeln!(worker.stdin, "{line}")
        .and_then(|()| worker.stdin.flush())
        .is_err()
    {
        return Err(CallError::Crashed(String::new()));
    }
    let started = Instant::now();
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(CallError::TimedOut(timeout));
        }
        match worker
            .replies
            .recv_timeout(left.min(Duration::from_millis(100)))
        {
            Ok(line) => {
                let response: Response = serde_json::from_str(&line).map_err(|e| {
                    CallError::Protocol(format!(
                        "unreadable response ({e}): {}",
                        crate::text::cap(&line, 200, 0)
                    ))
                })?;
                if response.seq != seq {
                    return Err(CallError::Protocol(format!(
                        "response {} to request {seq}",
                        response.seq
                    )));
                }
                worker.log.wait_done(seq, Duration::from_secs(2));
                return Ok(Reply {
                    body: response.body,
                    output: worker.log.since(start),
                });
            }
            Err(RecvTimeoutError::Timeout) if procs::is_cancelled() => {
                return Err(CallError::Cancelled);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Err(CallError::Crashed(String::new())),
        }
    }
}

/// Ends a worker after a failed request and says how it ended.
fn fail(mut worker: Worker, error: CallError) -> CallFailure {
    let error = match error {
        CallError::Crashed(_) => {
            // Its stdout closed: it is exiting or gone. Give it a moment, then insist.
            let status = wait_for(&mut worker.child, Duration::from_secs(5)).or_else(|| {
                procs::kill_group(worker.child.id(), libc::SIGKILL);
                worker.child.wait().ok()
            });
            let how = status.map_or_else(|| "ended in an unknown way".to_string(), describe_status);
            if procs::is_cancelled() {
                CallError::Cancelled
            } else {
                CallError::Crashed(how)
            }
        }
        other => {
            procs::kill_group(worker.child.id(), libc::SIGKILL);
            let _ = worker.child.wait();
            other
        }
    };
    procs::unregister(worker.child.id());
    worker.log.wait_eof(Duration::from_secs(1));
    CallFailure {
        error,
        stderr_tail: worker.log.tail(TAIL_LINES),
    }
}

fn wait_for(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

fn retire(worker: Worker) {
    let id = worker.child.id();
    drop(worker.stdin);
    reap(worker.child, id);
}

/// Waits briefly for a worker whose input is closed, then kills it.
fn reap(mut child: Child, id: u32) {
    if wait_for(&mut child, Duration::from_secs(2)).is_none() {
        procs::kill_group(id, libc::SIGKILL);
        let _ = child.wait();
    }
    procs::unregister(id);
}
