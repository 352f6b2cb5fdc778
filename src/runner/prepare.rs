//! Before the checks: find libtensorflow, load it once in the default
//! TensorFlow worker, and provision it into the cache when nothing loads.

use crate::checks::{DEFAULT_TF_DEVICE, Lane};
use crate::host::HostFacts;
use crate::tf::cache::{self, Flavor};
use crate::tf::discover::{self, Options};
use crate::tf::{Attempt, LoadReport, PINNED_VERSION, provision};
use crate::worker::Pool;
use crate::worker::protocol::{RequestBody, ResponseBody};
use std::path::PathBuf;
use std::time::Duration;

/// Loading a 600 MB library from a cold disk can take a while.
const LOAD_TIMEOUT: Duration = Duration::from_secs(300);

pub struct TfOptions {
    pub explicit: Option<PathBuf>,
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
        version: PINNED_VERSION.to_string(),
        flavor: flavor_for(host),
    }
}

pub fn default_lane() -> Lane {
    Lane::Tensorflow {
        device: DEFAULT_TF_DEVICE.to_string(),
    }
}

fn load(pool: &Pool) -> Result<LoadReport, String> {
    match pool.call(&default_lane(), RequestBody::LoadTensorflow, LOAD_TIMEOUT) {
        Ok(reply) => match reply.body {
            ResponseBody::Loaded(report) => Ok(report),
            ResponseBody::Verdict(v) => Err(format!(
                "unexpected answer to a load request: {}",
                v.message
            )),
        },
        Err(failure) => Err(format!("{:?}\n{}", failure.error, failure.stderr_tail)),
    }
}

/// Returns the load report (None when the worker could not even answer:
/// the checks that need TensorFlow will then meet the same failure and say so).
pub fn prepare(pool: &Pool, opts: &TfOptions, host: &HostFacts) -> Option<LoadReport> {
    let options = options(opts, host);
    pool.set_tensorflow(discover::discover(&options));
    let report = load(pool).ok()?;
    if report.loaded.is_some() || opts.offline {
        return Some(report);
    }
    let mut say = |line: &str| eprintln!("{line}");
    match provision::provision(
        &options.cache_root,
        &options.version,
        options.flavor,
        &mut say,
    ) {
        Ok(_) => pool.set_tensorflow(discover::discover(&options)),
        Err(e) => {
            eprintln!("gpugate: provisioning failed: {e}");
            let mut setup = discover::discover(&options);
            setup.notes.push(Attempt {
                source: "provisioning".into(),
                target: format!("{}=={}", options.flavor.package(), options.version),
                error: Some(e.to_string()),
            });
            pool.set_tensorflow(setup);
        }
    }
    load(pool).ok()
}
