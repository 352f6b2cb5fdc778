//! The parent↔worker protocol: one JSON object per line. The worker's first
//! input line is [`Init`]; each later one is a [`Request`] answered by one
//! [`Response`] with the same `seq`.

use crate::checks::{CheckKind, Lane, RunContext};
use crate::compat::Need;
use crate::facts::driver::DriverProbe;
use crate::facts::libraries::LibraryFact;
use crate::facts::loader::LoaderOutcome;
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
    /// Ask TensorFlow's own library loader in `framework`.
    AskLoader {
        framework: PathBuf,
        needs: Vec<Need>,
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
    Loader(LoaderOutcome),
    Measured(WorkerReply),
}

/// A worker-side check's answer: its measurement for the parent to judge,
/// or the verdict that it could not measure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WorkerReply {
    /// The kind's own measurement (`WorkerCheck::Measured`), as JSON.
    Value(serde_json::Value),
    /// It panicked, forked the worker, or was not a worker check at all.
    Failed(Verdict),
}

/// A request with the one reply it gets. [`crate::worker::Pool::ask`]
/// returns that reply typed; a worker that answers anything else has broken
/// the protocol, which the pool reports as such.
pub trait Ask {
    type Reply;
    fn into_body(self) -> RequestBody;
    /// The reply, or what the answer was when it is another request's.
    fn reply(body: ResponseBody) -> Result<Self::Reply, String>;
}

macro_rules! ask {
    ($request:ident => $variant:ident($reply:ty), |$me:ident| $body:expr) => {
        impl Ask for $request {
            type Reply = $reply;
            fn into_body(self) -> RequestBody {
                let $me = self;
                $body
            }
            fn reply(body: ResponseBody) -> Result<$reply, String> {
                match body {
                    ResponseBody::$variant(reply) => Ok(reply),
                    other => Err(crate::text::cap(&format!("{other:?}"), 200, 0)),
                }
            }
        }
    };
}

/// Load libtensorflow in this worker.
pub struct LoadTensorflow;
ask!(LoadTensorflow => Loaded(LoadReport), |_r| RequestBody::LoadTensorflow);

/// List TensorFlow's devices.
pub struct ListDevices;
ask!(ListDevices => Devices(Result<Vec<DeviceInfo>, String>), |_r| RequestBody::ListDevices);

/// Read the driver and GPUs through NVML.
pub struct ProbeDriver {
    pub nvml_library: Option<PathBuf>,
    pub host_root: PathBuf,
    pub init: Result<(), String>,
}
ask!(ProbeDriver => Driver(DriverProbe), |r| RequestBody::ProbeDriver {
    nvml_library: r.nvml_library,
    host_root: r.host_root,
    init: r.init,
});

/// Find the libraries the build needs, as this fresh process would.
pub struct ProbeLibraries {
    pub needs: Vec<Need>,
    pub extra_dirs: Vec<PathBuf>,
    pub init: Result<(), String>,
}
ask!(ProbeLibraries => Libraries(Vec<LibraryFact>), |r| RequestBody::ProbeLibraries {
    needs: r.needs,
    extra_dirs: r.extra_dirs,
    init: r.init,
});

/// The version of one library file.
pub struct LibraryVersion {
    pub path: PathBuf,
    pub role: crate::compat::Role,
}
ask!(LibraryVersion => LibraryVersion(Option<crate::version::Version>), |r| {
    RequestBody::LibraryVersion {
        path: r.path,
        role: r.role,
    }
});

/// Ask TensorFlow's library loader which CUDA libraries it loads.
pub struct AskLoader {
    pub framework: PathBuf,
    pub needs: Vec<Need>,
}
ask!(AskLoader => Loader(LoaderOutcome), |r| RequestBody::AskLoader {
    framework: r.framework,
    needs: r.needs,
});

/// Measure one worker-side check.
pub struct RunCheck {
    pub check: CheckKind,
    pub context: RunContext,
}
ask!(RunCheck => Measured(WorkerReply), |r| RequestBody::Run {
    check: r.check,
    context: r.context,
});

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

    #[test]
    fn each_request_takes_only_its_own_reply() {
        let devices = ResponseBody::Devices(Ok(vec![]));
        assert!(ListDevices::reply(devices.clone()).is_ok());
        let wrong = LoadTensorflow::reply(devices).unwrap_err();
        assert!(wrong.starts_with("Devices("), "{wrong}");
        let RequestBody::LibraryVersion { role, .. } = LibraryVersion {
            path: "/x/libcudnn.so.9".into(),
            role: crate::compat::Role::Cudnn,
        }
        .into_body() else {
            panic!("wrong request")
        };
        assert_eq!(role, crate::compat::Role::Cudnn);
    }
}
