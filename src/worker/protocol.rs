//! The parent↔worker protocol: one JSON object per line. The worker's first
//! input line is [`Init`]; each later one is a [`Request`] answered by one
//! [`Response`] with the same `seq`.

use crate::checks::{CheckKind, Lane, RunContext};
use crate::compat::Need;
use crate::facts::driver::DriverProbe;
use crate::facts::libraries::LibraryFact;
use crate::outcome::Verdict;
use crate::tf::runtime::DeviceInfo;
use crate::tf::{LoadReport, Setup};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The hidden subcommand that turns the binary into a worker.
pub const WORKER_SUBCOMMAND: &str = "__worker";

/// Written alone on a stderr line after each request, before the response:
/// when the parent sees it, all of that request's stderr has arrived.
pub const DONE_MARKER: &str = "\u{1e}gpugate-done ";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Init {
    pub lane: Lane,
    pub tensorflow: Setup,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub seq: u64,
    pub body: RequestBody,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RequestBody {
    LoadTensorflow,
    ListDevices,
    ProbeDriver {
        nvml_library: Option<PathBuf>,
        host_root: PathBuf,
        /// Err(why) when NVML must not be initialised.
        init: Result<(), String>,
    },
    ProbeLibraries {
        needs: Vec<Need>,
        extra_dirs: Vec<PathBuf>,
        /// Err(why) when cuInit must not be called.
        init: Result<(), String>,
    },
    /// The version of one file of a library, opened by path.
    LibraryVersion {
        path: PathBuf,
        role: crate::compat::Role,
    },
    Run {
        check: CheckKind,
        context: RunContext,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    pub seq: u64,
    pub body: ResponseBody,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ResponseBody {
    Loaded(LoadReport),
    Devices(Result<Vec<DeviceInfo>, String>),
    Driver(DriverProbe),
    Libraries(Vec<LibraryFact>),
    LibraryVersion(Option<crate::version::Version>),
    Measured(Measured),
}

/// A worker-side check's answer: its measurement for the parent to judge,
/// or the verdict that it could not measure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Measured {
    /// The kind's own measurement (`WorkerCheck::Measured`), as JSON.
    Value(serde_json::Value),
    /// It panicked, forked the worker, or was not a worker check at all.
    Failed(Verdict),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_one_line() {
        let spec: crate::checks::env_var::Spec =
            toml::from_str("var = 'X'\nmatches = '^a\\nb'").unwrap();
        let request = Request {
            seq: 7,
            body: RequestBody::Run {
                check: CheckKind::EnvVar(spec),
                context: RunContext::default(),
            },
        };
        let line = serde_json::to_string(&request).unwrap();
        assert!(!line.contains('\n'));
        let back: Request = serde_json::from_str(&line).unwrap();
        assert_eq!(back.seq, 7);
        let RequestBody::Run {
            check: CheckKind::EnvVar(spec),
            ..
        } = back.body
        else {
            panic!("wrong body")
        };
        assert_eq!(spec.matches.unwrap().as_str(), "^a\\nb");
    }
}
