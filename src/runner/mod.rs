//! Runs a plan: each check becomes a libtest-mimic trial, which runs it in the
//! parent or sends it to its lane's worker, and records the outcome for the
//! reporters.

mod plan_upgrade;
mod prepare;
pub mod probe;

pub use plan_upgrade::{assuming_driver, judge_releases, releases_text};
pub use prepare::{TfOptions, flavor_for};

use crate::checks::{Execution, Lane, RunContext, Target};
use crate::ci::Ci;
use crate::diagnose::{self, Evidence};
use crate::event::{Bus, Event, Finished};
use crate::exit::{Ending, Exit};
use crate::facts::driver::DriverProbe;
use crate::facts::visible::{Visible, visible};
use crate::facts::{self, Facts, ProbeOptions};
use crate::host::HostFacts;
use crate::outcome::{Outcome, Status, Verdict};
use crate::plan::{self, GpuSlot};
use crate::plan::{Gate, Plan, PlannedCheck};
use crate::procs;
use crate::worker::protocol::{RunCheck, WorkerReply};
use crate::worker::{Answer, CallFailure, Pool};
use libtest_mimic::{Arguments, Completion, Failed, Trial};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

/// Captured output kept per failing check: the head and the tail.
const OUTPUT_HEAD: usize = 16 << 10;
const OUTPUT_TAIL: usize = 48 << 10;

struct Shared {
    pool: Pool,
    outcomes: Mutex<Vec<Option<Outcome>>>,
    facts: Facts,
    /// One lock per GPU: checks on one GPU run one at a time (a throughput
    /// figure means nothing beside another check's kernels), checks on
    /// different GPUs side by side.
    gpu_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl Shared {
    fn gpu_lock(&self, key: &str) -> Arc<Mutex<()>> {
        self.gpu_locks
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_default()
            .clone()
    }
}

/// The GPUs `each-gpu` expands into (those CUDA would show this process),
/// or why there are none.
fn gpu_slots(facts: &Facts) -> (Vec<GpuSlot>, String) {
    let DriverProbe::Found(driver) = &facts.driver else {
        return (Vec::new(), facts.driver.why_missing());
    };
    let var = facts.host.var("CUDA_VISIBLE_DEVICES");
    let slots: Vec<GpuSlot> = visible(&driver.gpus, var)
        .into_iter()
        .filter_map(|v| match v {
            Visible::Gpu(g) => g.uuid.value().cloned(),
            Visible::Mig(m) => Some(m),
        })
        .enumerate()
        .map(|(index, uuid)| GpuSlot { index, uuid })
        .collect();
    let why = match var {
        _ if driver.gpus.is_empty() => "NVML lists no GPU".to_string(),
        Some(v) => format!(
            "CUDA_VISIBLE_DEVICES=\"{v}\" shows none of the {} GPU(s) NVML lists",
            driver.gpus.len()
        ),
        None => "NVML gave no GPU UUIDs".to_string(),
    };
    (slots, why)
}

/// Which GPU a TensorFlow lane computes on, by UUID where NVML knows it.
fn gpu_of(lane: &Lane, facts: &Facts) -> Option<String> {
    let Lane::Tensorflow { device, pin, .. } = lane else {
        return None;
    };
    let pin = match pin {
        Some(pin) => pin.clone(),
        None => match Target::parse(device).ok()? {
            target @ Target::Gpu(_) => target.worker(facts.host.var("CUDA_VISIBLE_DEVICES")).1?,
            _ => return None,
        },
    };
    let DriverProbe::Found(driver) = &facts.driver else {
        return Some(pin);
    };
    let by_index = pin
        .parse::<u32>()
        .ok()
        .and_then(|i| driver.gpus.iter().find(|g| g.index == i));
    let by_uuid = || {
        driver
            .gpus
            .iter()
            .find(|g| g.uuid.value().is_some_and(|u| u.starts_with(&pin)))
    };
    Some(
        by_index
            .or_else(by_uuid)
            .and_then(|g| g.uuid.value().cloned())
            .unwrap_or(pin),
    )
}

/// Gathers the facts: NVML in the probe lane while TensorFlow loads in its
/// own, then the libraries the build needs.
/// `warm`: other TensorFlow lanes to load at the same time.
pub fn gather_facts(
    pool: &Pool,
    tf: &TfOptions,
    load_tf: bool,
    warm: &[Lane],
    probe: &ProbeOptions,
    host: &HostFacts,
) -> Facts {
    let (driver, runtime) = std::thread::scope(|s| {
        let driver = s.spawn(|| probe::driver(pool, probe, host));
        let runtime = if load_tf {
            prepare::prepare(pool, tf, host, warm)
        } else {
            prepare::find(tf, host)
        };
        (driver.join().unwrap_or(DriverProbe::NotProbed), runtime)
    });
    probe::assemble(pool, probe, host.clone(), driver, runtime)
}

/// The TensorFlow lanes besides the default one that the selected checks
/// use, in plan order, as many as may be alive beside the default lane.
/// `each-gpu` checks are left out: their lanes exist once the GPUs are known.
fn lanes_to_warm(selected: &[&PlannedCheck], max_workers: usize) -> Vec<Lane> {
    let default = Lane::tensorflow_default();
    let mut lanes: Vec<Lane> = Vec::new();
    for check in selected.iter().filter(|c| !c.kind.is_each_gpu()) {
        if let Some(lane @ Lane::Tensorflow { .. }) = check.kind.worker_lane()
            && lane != default
            && !lanes.contains(&lane)
        {
            lanes.push(lane);
        }
    }
    lanes.truncate(max_workers.saturating_sub(1));
    lanes
}

/// A stand-in for a check's trial, to ask the filter about it: libtest
/// matches filters against `[kind] name`, so the kind must be there too.
fn filter_stand_in(name: &str, kind: &str) -> Trial {
    Trial::test(name.to_string(), || Ok(())).with_kind(kind)
}

/// What the checks run with: the facts, and the worker pool that gathered
/// them (TensorFlow already loaded in the lanes the checks will use).
struct Prepared {
    pool: Pool,
    facts: Facts,
}

/// Before the checks: the facts, gathered by the workers the selected
/// checks of `plan` will use.
fn prepare_run(
    plan: &Plan,
    args: &Arguments,
    tf: &TfOptions,
    probe: &ProbeOptions,
    host: &HostFacts,
) -> Prepared {
    let parallel = args
        .test_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = new_pool(parallel);
    // An `each-gpu` check's names are known only once the GPUs are: it
    // counts as selected until then.
    let selected: Vec<&PlannedCheck> = plan
        .checks
        .iter()
        .filter(|c| {
            (c.kind.is_each_gpu()
                || !args.is_filtered_out(&filter_stand_in(&c.test_name, c.kind.name())))
                && c.gate == Gate::Run
        })
        .collect();
    let needs_tf = selected.iter().any(|c| c.kind.needs_tensorflow());
    let warm = lanes_to_warm(&selected, pool.max_tensorflow_workers());
    let facts = if args.list {
        facts::skipped(host.clone())
    } else {
        gather_facts(&pool, tf, needs_tf, &warm, probe, host)
    };
    Prepared { pool, facts }
}

/// The plan for this machine: each `each-gpu` check once per GPU the facts
/// list (or gated with why there is none).
fn plan_for(plan: Plan, facts: &Facts) -> Plan {
    let (slots, why) = gpu_slots(facts);
    plan::expand_each_gpu(plan, &slots, &why)
}

/// What the checks of a run produced.
pub struct Ran {
    /// The plan for this machine (`plan_for`).
    pub plan: Plan,
    /// One per planned check: None for those the filter left out.
    pub outcomes: Vec<Option<Outcome>>,
    pub facts: Facts,
    pub started: Instant,
    /// Checks libtest-mimic ran whose outcome was never recorded: a fault
    /// of gpugate's, which fails the run rather than pass it unchecked.
    pub lost: u64,
}

/// Gathers the facts and runs the checks of `plan` that `args` selects,
/// telling `bus` as it goes. Console output is libtest-mimic's; `ci`
/// says what a failure's text must not contain in this job's log.
pub fn run(
    plan: Plan,
    host: &HostFacts,
    args: &Arguments,
    tf: &TfOptions,
    probe: &ProbeOptions,
    ci: &Ci,
    bus: &mut Bus,
) -> Ran {
    let started = Instant::now();
    bus.emit(&Event::RunStarted {
        at: SystemTime::now(),
    });
    let prepared = prepare_run(&plan, args, tf, probe, host);
    let plan = plan_for(plan, &prepared.facts);
    bus.emit(&Event::FactsGathered { plan: &plan });
    let (outcomes, facts, lost) = run_checks(&plan, args, prepared, ci, bus);
    Ran {
        plan,
        outcomes,
        facts,
        started,
        lost,
    }
}

/// Ends a run: tells `bus` the checks are done, decides the exit from the
/// outcomes and what the reporters said, and tells `bus` the verdict.
/// `allow_empty`: a run where no check ran may pass.
pub fn finish(ran: &Ran, bus: &mut Bus, allow_empty: bool) -> Exit {
    let mut checks = checks_exit(&ran.outcomes, allow_empty);
    if ran.lost > 0 && !checks.is_cancellation() {
        bus.error(&format!(
            "{} check(s) ran without an outcome gpugate could record; the run fails rather than pass them unchecked",
            ran.lost
        ));
        checks = Ending::OutcomesLost.exit();
    }
    let run = Finished {
        plan: &ran.plan,
        outcomes: &ran.outcomes,
        facts: &ran.facts,
        elapsed: ran.started.elapsed(),
        checks,
    };
    bus.emit(&Event::ChecksDone { run: &run });
    let exit = bus.exit(run.checks);
    if exit == Exit::NothingRan {
        bus.error(
            "no check ran (every check was filtered out or skipped); pass --allow-empty if that is intended",
        );
    }
    bus.emit(&Event::RunFinished { run: &run, exit });
    exit
}

/// The exit the outcomes alone give.
fn checks_exit(outcomes: &[Option<Outcome>], allow_empty: bool) -> Exit {
    let statuses = || outcomes.iter().flatten().map(|o| o.verdict.status);
    let failed = statuses().any(|s| matches!(s, Status::Fail | Status::Error));
    let ran = statuses().any(|s| s != Status::Skip);
    match procs::cancelled_by() {
        Some(signal) => Ending::Cancelled(signal),
        None => Ending::Checks {
            failed,
            ran,
            allow_empty,
        },
    }
    .exit()
}

/// Runs the checks of `plan` (already [`plan_for`] this machine) that
/// `args` selects, telling `bus` as each ends, and returns their outcomes,
/// one per planned check (None for those the filter left out), with the
/// facts back and how many checks ran without a recorded outcome.
///
/// The checks' threads hand each outcome to this thread, which alone tells
/// the reporters: a check never waits on another's report files.
fn run_checks(
    plan: &Plan,
    args: &Arguments,
    prepared: Prepared,
    ci: &Ci,
    bus: &mut Bus,
) -> (Vec<Option<Outcome>>, Facts, u64) {
    let Prepared { pool, facts } = prepared;
    let shared = Arc::new(Shared {
        pool,
        outcomes: Mutex::new(vec![None; plan.checks.len()]),
        facts,
        gpu_locks: Mutex::default(),
    });
    let (finished, told) = std::sync::mpsc::channel::<(usize, Outcome)>();

    let trials = plan
        .checks
        .iter()
        .enumerate()
        .map(|(index, check)| {
            let shared = shared.clone();
            let finished = finished.clone();
            let ci = ci.clone();
            let kind = check.kind.name();
            let check = check.clone();
            Trial::ignorable_test(check.test_name.clone(), move || {
                let gpu = check
                    .kind
                    .worker_lane()
                    .and_then(|lane| gpu_of(&lane, &shared.facts));
                let lock = gpu.map(|key| shared.gpu_lock(&key));
                let _exclusive = lock
                    .as_ref()
                    .map(|l| l.lock().unwrap_or_else(|e| e.into_inner()));
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    execute(&shared.pool, &check, &shared.facts)
                }))
                .unwrap_or_else(|panic| panicked(&*panic));
                // Kept before any reporter hears of it: a reporter that
                // panics must not lose the outcome.
                shared.outcomes.lock().unwrap_or_else(|e| e.into_inner())[index] =
                    Some(outcome.clone());
                let text = outcome.failure_text();
                let completion = match outcome.verdict.status {
                    Status::Pass => Ok(Completion::Completed),
                    Status::Skip => Ok(Completion::ignored_with(outcome.verdict.message.clone())),
                    Status::Fail | Status::Error => Err(Failed::from(ci.log_safe(text))),
                };
                // Gone only if the reporters' thread died; the outcome is kept above.
                let _ = finished.send((index, outcome));
                completion
            })
            .with_kind(kind)
        })
        .collect();
    drop(finished);
    let conclusion = std::thread::scope(|s| {
        s.spawn(|| {
            for (index, outcome) in told {
                bus.emit(&Event::CheckFinished {
                    index,
                    outcome: &outcome,
                });
            }
        });
        libtest_mimic::run(args, trials)
    });
    shared.pool.shutdown();
    let outcomes = std::mem::take(&mut *shared.outcomes.lock().unwrap_or_else(|e| e.into_inner()));
    // Our own outcomes decide the exit code (libtest cannot tell an error
    // from a failure); libtest's count says whether one went missing.
    let ran = conclusion.num_passed + conclusion.num_failed + conclusion.num_ignored;
    let recorded = outcomes.iter().flatten().count() as u64;
    (outcomes, shared.facts.clone(), ran.saturating_sub(recorded))
}

/// A pool of workers running this same binary.
/// `parallel`: how many checks may run at once.
pub fn new_pool(parallel: usize) -> Pool {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("gpugate"));
    Pool::new(exe, Default::default(), parallel)
}

/// Runs one check wherever it belongs and times it; a failure about the GPU
/// stack carries the diagnoses that explain it.
fn execute(pool: &Pool, check: &PlannedCheck, facts: &Facts) -> Outcome {
    let started = Instant::now();
    let (verdict, output, failure_type) = if let Some(signal) = procs::cancelled_by() {
        (
            Verdict::error(format!(
                "not run: the run was interrupted by {}",
                procs::signal_name(signal)
            )),
            None,
            "interrupted",
        )
    } else {
        match &check.gate {
            Gate::Skip(reason) => (Verdict::skip(reason.clone()), None, "skipped"),
            Gate::Fail(reason) => (Verdict::fail(reason.clone()), None, "requirement"),
            Gate::Run => match check.kind.spec().execution() {
                Execution::Parent(run) => {
                    let (verdict, output) = run.run(check.timeout);
                    (verdict, output, "assertion")
                }
                Execution::Facts(judge) => (judge.judge(facts), None, "assertion"),
                Execution::Worker(lane, worker) => {
                    let context = RunContext::for_check(&check.kind, facts);
                    let request = RunCheck {
                        check: check.kind.clone(),
                        context: context.clone(),
                    };
                    match pool.ask(&lane, request, check.timeout) {
                        // The worker measured; the judgement is made here.
                        Ok(Answer {
                            reply: WorkerReply::Value(measured),
                            output,
                        }) => (
                            worker.judge_json(measured, &context),
                            Some(output),
                            "assertion",
                        ),
                        Ok(Answer {
                            reply: WorkerReply::Failed(verdict),
                            output,
                        }) => (verdict, Some(output), "assertion"),
                        Err(failure) => worker_failure(&lane.label(), &failure),
                    }
                }
            },
        }
    };
    // An interrupted check failed for the signal, not for anything the
    // GPU stack did.
    let causes = if matches!(verdict.status, Status::Fail | Status::Error)
        && check.kind.concerns_gpu()
        && procs::cancelled_by().is_none()
    {
        causes_of(
            check.kind.spec().explained_by(),
            facts,
            output.as_deref().unwrap_or(""),
        )
    } else {
        Vec::new()
    };
    let failure_type = if verdict.status == Status::Error && failure_type == "assertion" {
        "error"
    } else {
        failure_type
    };
    let output = match verdict.status {
        Status::Fail | Status::Error => output
            .filter(|o| !o.trim().is_empty())
            // Scrubbed before it is cut, so no token is left half-shown.
            .map(|o| crate::text::cap(&crate::redact::scrub(&o), OUTPUT_HEAD, OUTPUT_TAIL)),
        Status::Pass | Status::Skip => None,
    };
    let mut outcome = Outcome {
        verdict,
        duration: started.elapsed(),
        output,
        failure_type,
        causes,
    };
    outcome.scrub();
    outcome
}

/// The outcome of a check whose run panicked: an error of gpugate's, shown
/// on the check, never a pass.
fn panicked(panic: &(dyn std::any::Any + Send)) -> Outcome {
    Outcome {
        verdict: Verdict::error(format!(
            "gpugate panicked while running this check: {}",
            crate::text::panic_message(panic)
        )),
        duration: std::time::Duration::ZERO,
        output: None,
        failure_type: "crash",
        causes: Vec::new(),
    }
}

/// The diagnoses of the families that explain a failure of this kind: its
/// root causes. The check's own output joins TensorFlow's load log as evidence.
fn causes_of(families: &[diagnose::Family], facts: &Facts, output: &str) -> Vec<diagnose::Finding> {
    let log = format!("{}\n{output}", facts.tensorflow.log);
    let findings = diagnose::diagnose(&Evidence { facts, log: &log });
    diagnose::explaining(families, &findings)
        .into_iter()
        .cloned()
        .collect()
}

fn worker_failure(lane: &str, failure: &CallFailure) -> (Verdict, Option<String>, &'static str) {
    use crate::worker::CallError;
    let message = match &failure.error {
        CallError::Crashed(how) => format!("the {lane} worker crashed: {how}"),
        CallError::TimedOut(limit) => format!(
            "timed out after {:.1}s; the {lane} worker was killed",
            limit.as_secs_f64()
        ),
        CallError::Cancelled => match procs::cancelled_by() {
            Some(signal) => format!(
                "interrupted by {} before it finished",
                procs::signal_name(signal)
            ),
            None => "interrupted before it finished".to_string(),
        },
        CallError::Spawn(e) => format!("the {lane} worker could not start: {e}"),
        CallError::Protocol(e) => format!("the {lane} worker broke the protocol: {e}"),
    };
    let mut verdict = Verdict::error(message);
    if !failure.stderr_tail.trim().is_empty() {
        verdict = verdict.with_detail(format!(
            "last lines of the worker's stderr:\n{}",
            failure.stderr_tail
        ));
    }
    verdict =
        verdict.with_detail("the worker was replaced; the remaining checks ran in a fresh one");
    (verdict, None, failure.error.type_word())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// cpu-basic's plan, as the runner gets it.
    fn cpu_basic() -> Plan {
        let suite = crate::suite::load("cpu-basic", &Default::default()).unwrap();
        let host = HostFacts::gather(std::path::Path::new("/"));
        plan::plan(vec![suite], None, &host)
    }

    #[test]
    fn cpu_basic_warms_only_its_strict_lane_beside_the_default_one() {
        let plan = cpu_basic();
        let selected: Vec<&PlannedCheck> = plan.checks.iter().collect();
        let warm = lanes_to_warm(&selected, 4);
        // The refused placement of /device:GPU:64 shares the default lane:
        // a refusal runs nothing and needs no TensorFlow of its own.
        assert_eq!(warm.len(), 1, "{warm:?}");
        assert!(matches!(
            &warm[0],
            Lane::Tensorflow {
                numerics: crate::checks::Numerics::Strict,
                ..
            }
        ));
        // No room beside the default lane: nothing is warmed.
        assert!(lanes_to_warm(&selected, 1).is_empty());
    }

    #[test]
    fn a_panicking_check_is_an_error_of_gpugate_s() {
        let outcome = panicked(&"index out of bounds");
        assert_eq!(outcome.verdict.status, Status::Error);
        assert_eq!(
            outcome.verdict.message,
            "gpugate panicked while running this check: index out of bounds"
        );
        assert_eq!(outcome.failure_type, "crash");
        let owned = panicked(&String::from("owned"));
        assert!(owned.verdict.message.ends_with(": owned"));
    }

    #[test]
    fn checks_that_ran_without_a_recorded_outcome_fail_the_run() {
        let sample = crate::report::testing::sample_run();
        let passed = |lost| Ran {
            plan: sample.plan.clone(),
            outcomes: sample
                .outcomes
                .iter()
                .map(|o| {
                    o.clone().map(|mut o| {
                        o.verdict = Verdict::pass("ran");
                        o
                    })
                })
                .collect(),
            facts: sample.facts.clone(),
            started: Instant::now(),
            lost,
        };
        let (log, logged) = crate::console::Console::memory();
        let mut bus = Bus::new(Vec::new(), log);
        assert_eq!(finish(&passed(0), &mut bus, false), Exit::Success);
        assert_eq!(logged.text(), "");
        assert_eq!(finish(&passed(2), &mut bus, false), Exit::ChecksFailed);
        assert!(
            logged
                .text()
                .starts_with("error: 2 check(s) ran without an outcome gpugate could record"),
            "{}",
            logged.text()
        );
    }
}
