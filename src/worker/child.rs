//! The worker side: reads requests, runs them, answers. Its stdout is moved to
//! a private descriptor first, so that whatever native code prints cannot
//! corrupt the protocol; it goes to stderr, where the parent captures it.

use super::protocol::{
    DONE_MARKER, Init, Request, RequestBody, Response, ResponseBody, WorkerReply,
};
use crate::checks::{Execution, Lane};
use crate::outcome::Verdict;
use crate::tf::runtime::Runtime;
use std::fs::File;
use std::io::{BufRead, Write};
use std::os::fd::FromRawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;

pub fn main() -> ExitCode {
    // SAFETY: plain descriptor juggling before any other thread exists.
    let protocol_fd = unsafe {
        let fd = libc::dup(1);
        if fd < 0 || libc::dup2(2, 1) < 0 {
            eprintln!("gpugate worker: failed to set up its descriptors");
            return ExitCode::from(70);
        }
        fd
    };
    // SAFETY: the descriptor was just duplicated and is owned here alone.
    let mut out = std::io::BufWriter::new(unsafe { File::from_raw_fd(protocol_fd) });
    let mut lines = std::io::stdin().lock().lines();

    let init: Init = match lines.next().map(|l| l.map(|l| serde_json::from_str(&l))) {
        Some(Ok(Ok(init))) => init,
        other => {
            eprintln!("gpugate worker: bad or missing init line: {other:?}");
            return ExitCode::from(70);
        }
    };
    let device = match &init.lane {
        Lane::Tensorflow { device, .. } => device.clone(),
        Lane::Native | Lane::Probe => crate::checks::DEFAULT_TF_DEVICE.to_string(),
    };
    let bind_now = init.lane == Lane::tensorflow_default();
    let mut tf = Runtime::new(init.tensorflow, device, bind_now);
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };

    for line in lines {
        let Ok(line) = line else { break };
        let request: Request = match serde_json::from_str(&line) {
            Ok(request) => request,
            Err(e) => {
                eprintln!("gpugate worker ({}): bad request: {e}", init.lane.label());
                return ExitCode::from(70);
            }
        };
        let before = child_pids();
        let body = match request.body {
            RequestBody::LoadTensorflow => ResponseBody::Loaded(tf.load().clone()),
            RequestBody::ListDevices => {
                ResponseBody::Devices(tf.devices().map_err(|e| e.to_string()))
            }
            RequestBody::ProbeDriver {
                nvml_library,
                host_root,
                init,
            } => ResponseBody::Driver(crate::facts::driver::probe(
                nvml_library.as_deref(),
                &host_root,
                init,
            )),
            RequestBody::ProbeLibraries {
                needs,
                extra_dirs,
                init,
            } => {
                ResponseBody::Libraries(crate::facts::libraries::probe(&needs, &extra_dirs, &init))
            }
            RequestBody::LibraryVersion { path, role } => {
                ResponseBody::LibraryVersion(crate::facts::libraries::version_of_file(&path, role))
            }
            RequestBody::AskLoader { framework, needs } => {
                ResponseBody::Loader(crate::facts::loader::ask(&framework, &needs))
            }
            RequestBody::Run { check, context } => ResponseBody::Measured(
                catch_unwind(AssertUnwindSafe(|| match check.spec().execution() {
                    Execution::Worker(_, worker) => {
                        WorkerReply::Value(worker.measure_json(&mut tf, &context))
                    }
                    // The parent sends only worker checks; say so if not.
                    Execution::Parent(_) | Execution::Facts(_) => {
                        WorkerReply::Failed(Verdict::error(format!(
                            "internal error: `{}` was sent to a worker",
                            check.name()
                        )))
                    }
                }))
                .unwrap_or_else(|panic| {
                    WorkerReply::Failed(Verdict::error(format!(
                        "the worker panicked: {}",
                        panic_text(&panic)
                    )))
                }),
            ),
        };
        // SAFETY: getpid has no preconditions.
        if unsafe { libc::getpid() } != me {
            // A library forked this process: this copy must neither answer
            // nor read the next request, which are the worker's.
            // SAFETY: ends this copy at once, without running anything of
            // the worker's (its buffers and handlers belong to the original).
            unsafe { libc::_exit(0) };
        }
        let body = match body {
            ResponseBody::Measured(measured) => {
                ResponseBody::Measured(blame_forks(measured, &before))
            }
            other => other,
        };
        eprintln!("{DONE_MARKER}{}", request.seq);
        let response = Response {
            seq: request.seq,
            body,
        };
        let written = serde_json::to_writer(&mut out, &response)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        if written.is_err() {
            // The parent is gone; nobody is left to answer.
            break;
        }
    }
    // Every answer is flushed. Loaded libraries' exit handlers are skipped:
    // TensorFlow's static destructors join thread pools, which costs time at
    // the end of every run and can crash or hang, after all work is done.
    // SAFETY: ends the process without running anything further.
    unsafe { libc::_exit(0) }
}

/// This process's children (all threads'), from /proc.
fn child_pids() -> std::collections::BTreeSet<u32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Default::default();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// A check during which native code forked this worker fails, naming the
/// processes: the fork is the check's doing, never the next check's.
fn blame_forks(measured: WorkerReply, before: &std::collections::BTreeSet<u32>) -> WorkerReply {
    let forked: Vec<String> = child_pids()
        .difference(before)
        .map(|p| p.to_string())
        .collect();
    if forked.is_empty() {
        return measured;
    }
    WorkerReply::Failed(Verdict::fail(format!(
        "native code this check loaded forked the worker (new process {}): a library that forks while it loads would do the same inside TensorFlow",
        forked.join(", ")
    )))
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
