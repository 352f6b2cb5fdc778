//! libtensorflow inside a worker: loaded once, from the first candidate that
//! loads and exports the C API, then used for device listing and compute.
//! Never called in the parent process.

use super::error::{LoadError, TfError};
use super::proto::{ConfigProto, FULL_TRACE, RunMetadata, RunOptions};
use super::{Attempt, Candidate, LoadReport, Loaded, Setup};
use crate::dl::Library;
use prost::Message;
use std::time::Instant;
use tensorflow::{
    DataType, Graph, Operation, Scope, Session, SessionOptions, SessionRunArgs, Tensor, ops,
};

pub struct Runtime {
    setup: Setup,
    /// Whether the load resolves every symbol up front (see [`Runtime::new`]).
    bind_now: bool,
    report: Option<LoadReport>,
    /// The device of this worker's lane, as TensorFlow names it here.
    device: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeviceInfo {
    pub name: String,
    pub device_type: String,
    pub memory_bytes: i64,
}

pub struct MatmulRun {
    pub product: Vec<f32>,
    /// Devices the run metadata says executed the MatMul node.
    pub ran_on: Vec<String>,
}

impl Runtime {
    /// `bind_now`: the default lane's load, which the `tensorflow.loads`
    /// verdict and the facts report, resolves every symbol, so that a build
    /// whose symbols do not all resolve fails there with the loader's
    /// message. Other lanes load the same file lazily (about a third of the
    /// load time, BENCHMARKS.md); such a build fails the default lane first.
    pub fn new(setup: Setup, device: String, bind_now: bool) -> Self {
        Runtime {
            setup,
            bind_now,
            report: None,
            device,
        }
    }

    /// The device this worker computes on (a pinned GPU is `/device:GPU:0`).
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Loads libtensorflow on first use; later calls return the same report.
    pub fn load(&mut self) -> &LoadReport {
        if self.report.is_none() {
            let mut report = LoadReport {
                attempts: self.setup.notes.clone(),
                loaded: None,
            };
            for candidate in &self.setup.candidates {
                match try_candidate(candidate, self.bind_now) {
                    Ok(loaded) => {
                        report.attempts.push(Attempt {
                            source: candidate.source.clone(),
                            target: candidate.target.clone(),
                            error: None,
                        });
                        report.loaded = Some(loaded);
                        break;
                    }
                    Err(error) => report.attempts.push(Attempt {
                        source: candidate.source.clone(),
                        target: candidate.target.clone(),
                        error: Some(error.to_string()),
                    }),
                }
            }
            self.report = Some(report);
        }
        self.report.as_ref().expect("set above")
    }

    pub(super) fn require_loaded(&mut self) -> Result<(), TfError> {
        let report = self.load();
        if report.loaded.is_some() {
            Ok(())
        } else {
            Err(TfError::NotLoaded(report.not_loaded_reason()))
        }
    }

    pub fn devices(&mut self) -> Result<Vec<DeviceInfo>, TfError> {
        self.require_loaded()?;
        let graph = Graph::new();
        let session = Session::new(&SessionOptions::new(), &graph)?;
        let devices = session.device_list()?;
        Ok(devices
            .into_iter()
            .map(|d| DeviceInfo {
                name: d.name,
                device_type: d.device_type,
                memory_bytes: d.memory_bytes,
            })
            .collect())
    }

    /// `a (n×n) · b (n×n)` pinned to `device`, with soft placement off so that
    /// TensorFlow refuses rather than silently moving the op elsewhere.
    pub fn matmul(
        &mut self,
        device: &str,
        n: usize,
        a: &[f32],
        b: &[f32],
    ) -> Result<MatmulRun, TfError> {
        self.require_loaded()?;
        let scope = Scope::new_root_scope().with_device(device);
        let shape = [n as i64, n as i64];
        let pa = ops::Placeholder::new()
            .dtype(DataType::Float)
            .shape(&shape[..])
            .build(&mut scope.with_op_name("gpugate_a"))?;
        let pb = ops::Placeholder::new()
            .dtype(DataType::Float)
            .shape(&shape[..])
            .build(&mut scope.with_op_name("gpugate_b"))?;
        let mm = ops::MatMul::new().build(
            pa.clone(),
            pb.clone(),
            &mut scope.with_op_name("gpugate_matmul"),
        )?;

        let mut options = SessionOptions::new();
        let config = ConfigProto {
            allow_soft_placement: false,
            ..Default::default()
        };
        options.set_config(&config.encode_to_vec())?;
        let session = Session::new(&options, &scope.graph())?;

        let ta = Tensor::new(&[n as u64, n as u64]).with_values(a)?;
        let tb = Tensor::new(&[n as u64, n as u64]).with_values(b)?;
        let (product, meta) = run_twice(&session, &[(&pa, &ta), (&pb, &tb)], &mm)?;
        let ran_on = meta.devices_of("gpugate_matmul");
        Ok(MatmulRun { product, ran_on })
    }
}

/// Runs `fetch` once plain and once traced: its value and the run metadata.
/// The crate reads run metadata even when a run fails, from a null buffer,
/// so metadata is only asked for once the plain run has succeeded.
pub(super) fn run_twice(
    session: &Session,
    feeds: &[(&Operation, &Tensor<f32>)],
    fetch: &Operation,
) -> Result<(Vec<f32>, RunMetadata), TfError> {
    let mut plain = SessionRunArgs::new();
    for (op, tensor) in feeds {
        plain.add_feed(op, 0, tensor);
    }
    let token = plain.request_fetch(fetch, 0);
    session.run(&mut plain)?;
    let value: Tensor<f32> = plain.fetch(token)?;

    let mut traced = SessionRunArgs::new();
    for (op, tensor) in feeds {
        traced.add_feed(op, 0, tensor);
    }
    traced.request_fetch(fetch, 0);
    let run_options = RunOptions {
        trace_level: FULL_TRACE,
        output_partition_graphs: false,
    }
    .encode_to_vec();
    traced.set_run_options(&run_options);
    traced.set_request_metadata(true);
    session.run(&mut traced)?;
    let meta = traced
        .get_metadata()
        .and_then(|bytes| RunMetadata::decode(bytes).ok())
        .unwrap_or_default();
    Ok((value.to_vec(), meta))
}

fn try_candidate(candidate: &Candidate, bind_now: bool) -> Result<Loaded, LoadError> {
    let started = Instant::now();
    let lib = if bind_now {
        Library::open(&candidate.target)?
    } else {
        Library::open_lazily(&candidate.target)?
    };
    if !lib.has_symbol("TF_Version") {
        return Err(LoadError::NotTheCApi);
    }
    let path = lib
        .path()
        .unwrap_or_else(|| candidate.target.clone().into());
    // Stay loaded: the tensorflow crate's own dlopen below then resolves to
    // this very object, whose $ORIGIN-relative RUNPATH (framework library,
    // pip's CUDA libraries) stays intact.
    lib.keep();
    // The crate loads `libtensorflow.so` from TENSORFLOW_DIR first; give it a
    // private directory whose only entry points at the loaded file.
    let link_dir = tempfile::tempdir().map_err(LoadError::TempDir)?;
    std::os::unix::fs::symlink(&path, link_dir.path().join("libtensorflow.so"))
        .map_err(LoadError::Link)?;
    let previous = std::env::var_os("TENSORFLOW_DIR");
    // SAFETY: the worker loads TensorFlow before it starts any thread of its own.
    unsafe { std::env::set_var("TENSORFLOW_DIR", link_dir.path()) };
    let bound = tensorflow::library::load();
    match previous {
        Some(v) => unsafe { std::env::set_var("TENSORFLOW_DIR", v) },
        None => unsafe { std::env::remove_var("TENSORFLOW_DIR") },
    }
    bound.map_err(LoadError::Bind)?;
    let version = tensorflow::version().map_err(LoadError::Version)?;
    Ok(Loaded {
        source: candidate.source.clone(),
        path,
        version,
        load_seconds: started.elapsed().as_secs_f64(),
    })
}
