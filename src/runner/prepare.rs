//! Before the checks: find libtensorflow, load it once in the default
//! TensorFlow worker, and provision it into the cache when nothing loads.

use crate::checks::Lane;
use crate::facts::TfRuntime;
use crate::host::HostFacts;
use crate::tf::cache::{self, Flavor};
use crate::tf::discover::{self, Options};
use crate::tf::runtime::DeviceInfo;
use crate::tf::{Attempt, DEFAULT_VERSION, LoadReport, provision};
use crate::worker::Pool;
use crate::worker::protocol::{ListDevices, LoadTensorflow};
use std::path::PathBuf;
use std::time::Duration;

/// Loading a 600 MB library from a cold disk can take a while.
const LOAD_TIMEOUT: Duration = Duration::from_secs(300);

pub struct TfOptions {
    pub explicit: Option<PathBuf>,
    /// `--tensorflow-version`: only this release, from the cache.
    pub version: Option<String>,
    pub offline: bool,
}

/// The flavor to provision: the CUDA build where the NVIDIA driver lists GPUs.
pub fn flavor_for(host: &HostFacts) -> Flavor {
    if host.nvidia.is_ok() {
        Flavor::Gpu
    } else {
        Flavor::Cpu
    }
}

fn options(opts: &TfOptions, host: &HostFacts) -> Options {
    Options {
        explicit: opts.explicit.clone(),
        cache_root: cache::root(),
        version: opts
            .version
            .clone()
            .unwrap_or_else(|| DEFAULT_VERSION.to_string()),
        only_cache: opts.version.is_some(),
        flavor: flavor_for(host),
    }
}

/// Loads TensorFlow in the default lane; the worker's stderr meanwhile is
/// TensorFlow's own log, kept as evidence.
fn load(pool: &Pool, log: &mut String) -> Option<LoadReport> {
    let answer = pool
        .ask(&Lane::tensorflow_default(), LoadTensorflow, LOAD_TIMEOUT)
        .map_err(|failure| log.push_str(&failure.stderr_tail))
        .ok()?;
    log.push_str(&answer.output);
    Some(answer.reply)
}

/// Lists TensorFlow's devices once: where a CUDA build registers (or fails
/// to register) its GPUs, and logs why.
fn list_devices(pool: &Pool, log: &mut String) -> Option<Result<Vec<DeviceInfo>, String>> {
    match pool.ask(&Lane::tensorflow_default(), ListDevices, LOAD_TIMEOUT) {
        Ok(answer) => {
            log.push_str(&answer.output);
            Some(answer.reply)
        }
        Err(failure) => {
            log.push_str(&failure.stderr_tail);
            Some(Err(format!("listing devices failed: {:?}", failure.error)))
        }
    }
}

/// Finds TensorFlow without loading it (files only), for runs that need
/// no TensorFlow but still judge its build.
pub fn find(opts: &TfOptions, host: &HostFacts) -> TfRuntime {
    TfRuntime {
        found: discover::first_file(&discover::discover(&options(opts, host))),
        ..TfRuntime::default()
    }
}

/// Finds and loads TensorFlow (provisioning it when allowed and nothing
/// loads) and lists its devices. A load report of None means the worker
/// could not even answer: the checks that need TensorFlow meet the same
/// failure and say so.
///
/// The `warm` lanes (the other TensorFlow lanes the checks will use) load
/// TensorFlow at the same time as the default one, so no check waits for a
/// load that could have overlapped (BENCHMARKS.md). A warm load's failure
/// is not reported here: that lane's worker is replaced and the check that
/// uses it meets the failure itself.
pub fn prepare(pool: &Pool, opts: &TfOptions, host: &HostFacts, warm: &[Lane]) -> TfRuntime {
    let options = options(opts, host);
    let setup = discover::discover(&options);
    let found = !setup.candidates.is_empty();
    pool.set_tensorflow(setup);
    std::thread::scope(|s| {
        for lane in warm.iter().filter(|_| found) {
            s.spawn(move || pool.ask(lane, LoadTensorflow, LOAD_TIMEOUT));
        }
        let mut runtime = TfRuntime::default();
        runtime.load = load_or_provision(pool, opts, &options, &mut runtime.log);
        if runtime.load.as_ref().is_some_and(|r| r.loaded.is_some()) {
            runtime.devices = list_devices(pool, &mut runtime.log);
        } else {
            // The build judged is the one found that did not load, never
            // the release gpugate would provision in its place.
            runtime.found = discover::first_file(&discover::discover(&options));
        }
        runtime
    })
}

fn load_or_provision(
    pool: &Pool,
    opts: &TfOptions,
    options: &Options,
    log: &mut String,
) -> Option<LoadReport> {
    let report = load(pool, log)?;
    // An explicit choice that does not load is the answer, not a reason to
    // download another TensorFlow.
    if report.loaded.is_some() || opts.offline || discover::explicit_choice(options).is_some() {
        return Some(report);
    }
    let mut say = |line: &str| eprintln!("{line}");
    match provision::provision(
        &options.cache_root,
        &options.version,
        options.flavor,
        &mut say,
    ) {
        Ok(_) => pool.set_tensorflow(discover::discover(options)),
        Err(e) => {
            eprintln!("gpugate: provisioning failed: {e}");
            let mut setup = discover::discover(options);
            setup.notes.push(Attempt {
                source: "provisioning".into(),
                target: format!("{}=={}", options.flavor.package(), options.version),
                error: Some(e.to_string()),
            });
            pool.set_tensorflow(setup);
        }
    }
    load(pool, log)
}
