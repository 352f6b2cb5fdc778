//! `library.loads`: the dynamic loader can load a library (a soname such as
//! `libcuda.so.1`, or a path), optionally exporting given symbols. Runs in a
//! worker: a library whose load crashes or hangs becomes an error outcome.

use crate::checks::Invalid;
use crate::checks::Lane;
use crate::checks::kind::{Execution, Kind, verdict_in_worker};
use crate::diagnose::Family;

use crate::dl::Library;
use crate::outcome::Verdict;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub library: String,
    #[serde(default)]
    pub symbols: Vec<String>,
}

impl Spec {
    /// A relative path (not a bare soname) is relative to the suite's directory.
    pub fn resolve(&mut self, base_dir: &Path) {
        if self.library.contains('/') && Path::new(&self.library).is_relative() {
            self.library = base_dir.join(&self.library).to_string_lossy().into_owned();
        }
    }

    pub fn run(&self) -> Verdict {
        let lib = match Library::open(&self.library) {
            Ok(lib) => lib,
            Err(loader_error) => {
                return Verdict::fail(format!("{} does not load: {loader_error}", self.library)).with_detail(
                    "The dynamic loader searched LD_LIBRARY_PATH, the ld.so cache and the system library directories.",
                );
            }
        };
        let path = lib
            .path()
            .map_or_else(|| "(path unknown)".to_string(), |p| p.display().to_string());
        let missing: Vec<&str> = self
            .symbols
            .iter()
            .map(String::as_str)
            .filter(|s| !lib.has_symbol(s))
            .collect();
        let verdict = if missing.is_empty() {
            Verdict::pass(format!("{} loads from {path}", self.library))
        } else {
            Verdict::fail(format!(
                "{} loads from {path} but does not export {}",
                self.library,
                missing.join(", ")
            ))
        };
        lib.keep();
        verdict.with_property("resolved_path", path)
    }
}
/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "library = 'libc.so.6'";

impl Kind for Spec {
    fn validate(&self) -> Result<(), Invalid> {
        if self.library.is_empty() {
            return Err(Invalid::at("library", "`library` must not be empty"));
        }
        Ok(())
    }

    fn execution(&self) -> Execution<'_> {
        Execution::Worker(Lane::Native, self)
    }

    fn concerns_gpu(&self) -> bool {
        true
    }

    fn explained_by(&self) -> &'static [Family] {
        &[Family::CudaLibrary, Family::Cudnn, Family::LibraryShadowed]
    }

    crate::checks::kind::resolves_paths!();
}

verdict_in_worker!(|spec, _tf| spec.run());
