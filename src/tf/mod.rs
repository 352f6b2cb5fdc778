//! libtensorflow: where it is found (parent), how it is provisioned (parent,
//! no native code), and how it is loaded and used (worker only).

pub mod cache;
pub mod discover;
pub mod error;
pub mod fit;
pub mod mlp;
pub mod pip;
pub mod placement;
pub mod proto;
pub mod provision;
pub mod runtime;
pub mod throughput;
pub mod wheel;
pub mod xla;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The TensorFlow release gpugate provisions when none is installed and no
/// `--tensorflow-version` is given: the newest release whose pip layout lets
/// TensorFlow's own loader find every CUDA library, so the gate tests what a
/// user of that release gets. 2.21.0 is newer, but its framework library's
/// RUNPATH misses `nvidia/cusolver/lib` (`compat::RUNPATH_GAPS`): with pip's
/// layout alone it registers no GPU.
pub const DEFAULT_VERSION: &str = "2.20.0";

/// A place libtensorflow may be loaded from, and which rule found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The rule, e.g. "--tensorflow-lib", "TENSORFLOW_DIR", "loader path".
    pub source: String,
    /// A path, or a bare soname the loader searches for.
    pub target: String,
}

/// One step of the search and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub source: String,
    pub target: String,
    /// None when this attempt loaded libtensorflow.
    pub error: Option<String>,
}

/// Everything the worker needs to load libtensorflow.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Setup {
    pub candidates: Vec<Candidate>,
    /// Search steps that found nothing to load (unset variables, empty
    /// directories, a failed provisioning), reported with the attempts.
    pub notes: Vec<Attempt>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Loaded {
    pub source: String,
    pub path: PathBuf,
    pub version: String,
    pub load_seconds: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub attempts: Vec<Attempt>,
    pub loaded: Option<Loaded>,
}

impl LoadReport {
    /// Every step, one per line, for failure texts.
    pub fn describe_attempts(&self) -> String {
        self.attempts
            .iter()
            .enumerate()
            .map(|(i, a)| match &a.error {
                None => format!("  {}. {}: {}: loaded", i + 1, a.source, a.target),
                Some(e) => format!("  {}. {}: {}: {}", i + 1, a.source, a.target, e),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The one-line reason no libtensorflow is usable, for checks that need it.
    pub fn not_loaded_reason(&self) -> String {
        format!(
            "libtensorflow did not load; tried:\n{}",
            self.describe_attempts()
        )
    }
}
