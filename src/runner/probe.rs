//! Probing the machine through workers: NVML in the probe lane, then each
//! library the TensorFlow build needs in a fresh probe worker of its own.
//! The snapshot types and their judgement are `facts`'; this is the part
//! that drives processes.

use crate::checks::Lane;
use crate::facts::build::TfBuild;
use crate::facts::driver::DriverProbe;
use crate::facts::libraries::{self, LibraryFact};
use crate::facts::loader::{self, LoaderCheck, LoaderOutcome};
use crate::facts::xla::XlaFacts;
use crate::facts::{Facts, ProbeOptions, TfFacts, TfRuntime, choose_build};
use crate::host::HostFacts;
use crate::version::Version;
use crate::worker::protocol::{AskLoader, LibraryVersion, ProbeDriver, ProbeLibraries};
use crate::worker::{CallError, Pool};
use std::path::Path;

/// A probe that never answered, in words, with the worker's last output.
fn probe_failure(what: &str, error: &CallError, tail: &str) -> (String, String) {
    let how = match error {
        CallError::TimedOut(limit) => format!(
            "{what} did not answer within {:.0}s and was killed",
            limit.as_secs_f64()
        ),
        CallError::Crashed(how) => format!("{what} crashed: {how}"),
        CallError::Cancelled => format!("{what} was interrupted"),
        CallError::Spawn(e) | CallError::Protocol(e) => format!("{what} failed: {e}"),
    };
    (how, tail.to_string())
}

/// Reads the driver and GPUs through NVML in the probe worker.
pub fn driver(pool: &Pool, opts: &ProbeOptions, host: &HostFacts) -> DriverProbe {
    let request = ProbeDriver {
        nvml_library: opts.nvml_library.clone(),
        host_root: opts.host_root.clone(),
        init: host.driver_init(),
    };
    match pool.ask(&Lane::Probe, request, opts.timeout) {
        Ok(answer) => answer.reply,
        Err(failure) => match failure.error {
            CallError::TimedOut(limit) => DriverProbe::TimedOut {
                seconds: limit.as_secs_f64(),
            },
            error => {
                let (how, stderr_tail) =
                    probe_failure("the NVML probe", &error, &failure.stderr_tail);
                DriverProbe::Crashed { how, stderr_tail }
            }
        },
    }
}

/// Probes the libraries `build` needs, each in a fresh probe worker, as a
/// fresh process would find it (one library's RUNPATH must not make
/// another look found), then reads every other copy's version in a worker
/// of its own (two copies of a soname in one process share the first one's
/// state, so the second would answer with the first one's version).
pub fn libraries(
    pool: &Pool,
    opts: &ProbeOptions,
    host: &HostFacts,
    build: &TfBuild,
) -> (Vec<LibraryFact>, Option<String>) {
    let mut facts = Vec::new();
    let mut crashed = Vec::new();
    for need in build.needs() {
        let request = ProbeLibraries {
            needs: vec![need.clone()],
            extra_dirs: build.library_dirs.clone(),
            init: host.cuda_init(),
        };
        let answer = pool.ask(&Lane::Probe, request, opts.timeout);
        pool.retire(&Lane::Probe);
        match answer {
            Ok(answer) => facts.extend(answer.reply),
            // One library's crash is that library's fact; the others are
            // probed all the same, each in its own worker.
            Err(failure) => {
                let (how, tail) = probe_failure(
                    &format!("the probe of {}", need.soname),
                    &failure.error,
                    &failure.stderr_tail,
                );
                let tail = crate::text::last_lines(&tail, 10);
                let why = if tail.trim().is_empty() {
                    how
                } else {
                    format!("{how}\n{tail}")
                };
                crashed.push(why.lines().next().unwrap_or_default().to_string());
                facts.push(LibraryFact::crashed(&need, why));
            }
        }
    }
    for fact in &mut facts {
        let role = fact.role;
        for copy in fact.copies.iter_mut().chain(fact.other_versions.iter_mut()) {
            if copy.version.is_none() {
                copy.version = isolated_version(pool, opts, copy, role);
            }
        }
    }
    // cuDNN's shim loads its sub-libraries only when called: their absence
    // is read from the files, beside the copy the loader resolves (or would,
    // where probing it crashed).
    let search = libraries::search_dirs(&build.library_dirs);
    for fact in facts
        .iter_mut()
        .filter(|f| f.role == crate::compat::Role::Cudnn)
    {
        let dir = match &fact.resolved {
            Some(copy) => copy.path.parent().map(Path::to_path_buf),
            None => libraries::first_dir_holding(&search, &fact.soname),
        };
        if let Some(dir) = dir {
            fact.missing_parts = libraries::missing_cudnn_parts(&dir, &fact.soname);
        }
    }
    let error = (!crashed.is_empty()).then(|| crashed.join("; "));
    (facts, error)
}

fn isolated_version(
    pool: &Pool,
    opts: &ProbeOptions,
    copy: &libraries::Copy,
    role: crate::compat::Role,
) -> Option<Version> {
    let request = LibraryVersion {
        path: copy.path.clone(),
        role,
    };
    let answer = pool.ask(&Lane::Probe, request, opts.timeout);
    pool.retire(&Lane::Probe);
    answer.ok()?.reply
}

/// The TensorFlow library whose build is judged, when there is one on disk:
/// the loaded one, else the one discovery found.
fn judged_library<'a>(opts: &ProbeOptions, tf: &'a TfRuntime) -> Option<&'a Path> {
    if opts.for_tensorflow.is_some() {
        return None;
    }
    match tf.load.as_ref().and_then(|r| r.loaded.as_ref()) {
        Some(loaded) => Some(&loaded.path),
        None => tf.found.as_ref().map(|(path, _)| path.as_path()),
    }
}

/// Asks TensorFlow's own library loader, in a fresh probe worker (a loader
/// that crashes ends only that worker), whether it can load the CUDA
/// libraries `build` needs. None where there is nothing to ask: a CPU
/// build, a build judged from the table alone, no framework library.
pub fn loader(
    pool: &Pool,
    opts: &ProbeOptions,
    tf: &TfRuntime,
    build: &TfBuild,
) -> Option<LoaderCheck> {
    // A build of unknown kind may be a CPU build: nothing to ask. A CUDA
    // build whose versions nothing states (a nightly's build_info.py) is
    // asked for CUDA 12's libraries; the loader's own answers name the files.
    let needs = match (build.cuda_build, build.needs()) {
        (Some(true), needs) if needs.is_empty() => crate::compat::needed_libraries(12, 9),
        (_, needs) if needs.is_empty() => return None,
        (_, needs) => needs,
    };
    let framework = loader::framework_beside(judged_library(opts, tf)?)?;
    // 2.21.0's RUNPATH names each directory dozens of times; once is enough.
    let mut runpath: Vec<String> = Vec::new();
    for entry in crate::facts::elf::dynamic(&framework)
        .map(|d| d.runpath)
        .unwrap_or_default()
    {
        if !runpath.contains(&entry) {
            runpath.push(entry);
        }
    }
    let request = AskLoader {
        framework: framework.clone(),
        needs,
    };
    let started = std::time::Instant::now();
    let answer = pool.ask(&Lane::Probe, request, opts.timeout);
    pool.retire(&Lane::Probe);
    let seconds = started.elapsed().as_secs_f64();
    let outcome = match answer {
        Ok(answer) => answer.reply,
        Err(failure) => {
            let (how, tail) = probe_failure(
                "asking TensorFlow's library loader",
                &failure.error,
                &failure.stderr_tail,
            );
            // The worker says what it does before each step: the last step
            // named is where it died, and whether TensorFlow's own check had
            // answered by then.
            let steps: Vec<loader::Step> = tail.lines().filter_map(loader::Step::parse).collect();
            let step = steps.iter().rev().find_map(|step| match step {
                loader::Step::Asking(lib) => {
                    Some(format!("while TensorFlow's loader loaded {lib}"))
                }
                loader::Step::Reading(lib) => Some(format!(
                    "at the first call into {lib}, which TensorFlow's loader had loaded"
                )),
                loader::Step::Calling(check) => Some(format!("in {check}")),
                loader::Step::Answered { .. } => None,
            });
            let answered = steps
                .iter()
                .find_map(|step| match step {
                    loader::Step::Answered { check, ok } => Some(format!(
                        " ({check} had answered {})",
                        if *ok { "OK" } else { "with an error" }
                    )),
                    _ => None,
                })
                .unwrap_or_default();
            // Its own step lines are not evidence.
            let evidence: String = tail
                .lines()
                .filter(|l| loader::Step::parse(l).is_none())
                .collect::<Vec<_>>()
                .join("\n");
            let evidence = crate::text::last_lines(&evidence, 6);
            LoaderOutcome::Failed {
                library: steps.iter().rev().find_map(|step| match step {
                    loader::Step::Asking(lib) | loader::Step::Reading(lib) => Some(lib.clone()),
                    _ => None,
                }),
                why: match step {
                    Some(step) => format!("{how} {step}{answered}\n{evidence}"),
                    None => format!("{how}\n{evidence}"),
                }
                .trim_end()
                .to_string(),
            }
        }
    };
    Some(LoaderCheck {
        framework,
        runpath,
        outcome,
        seconds,
    })
}

/// Where XLA would find ptxas and libdevice for a CUDA build found here;
/// None for a CPU build, or a build judged from the table alone.
fn xla(opts: &ProbeOptions, tf: &TfRuntime, build: &TfBuild) -> Option<XlaFacts> {
    if build.cuda_build != Some(true) {
        return None;
    }
    let tf_dir = judged_library(opts, tf)?.parent()?;
    let env = |name: &str| std::env::var(name).ok();
    Some(XlaFacts::gather(
        tf_dir,
        env("XLA_FLAGS").as_deref(),
        env("PATH").as_deref(),
    ))
}

/// Puts the snapshot together once the driver probe and TensorFlow are done.
pub fn assemble(
    pool: &Pool,
    opts: &ProbeOptions,
    host: HostFacts,
    driver: DriverProbe,
    tf: TfRuntime,
) -> Facts {
    let build = choose_build(opts, &tf);
    let (libraries, libraries_error) = libraries(pool, opts, &host, &build);
    let loader = loader(pool, opts, &tf, &build);
    let xla = xla(opts, &tf, &build);
    let distributions = judged_library(opts, &tf)
        .map(crate::facts::distributions::beside)
        .unwrap_or_default();
    Facts {
        host,
        driver,
        tensorflow: TfFacts {
            build,
            load: tf.load,
            devices: tf.devices,
            log: tf.log,
            loader,
            xla,
            distributions,
        },
        libraries,
        libraries_error,
    }
}
