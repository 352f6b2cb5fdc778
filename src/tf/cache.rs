//! gpugate's cache of provisioned libtensorflow builds:
//! `$GPUGATE_CACHE_DIR`, else `$XDG_CACHE_HOME/gpugate`, else `~/.cache/gpugate`.

use std::path::{Path, PathBuf};

/// The file marking a complete, verified entry; written last.
pub const COMPLETE_MARKER: &str = "gpugate-verified.json";
/// The library inside an entry that exports the C API.
pub const C_API_LIBRARY: &str = "libtensorflow_cc.so.2";

pub fn root() -> PathBuf {
    if let Some(dir) = std::env::var_os("GPUGATE_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("gpugate");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("gpugate")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Cpu,
    Gpu,
}

impl Flavor {
    pub fn word(self) -> &'static str {
        match self {
            Flavor::Cpu => "cpu",
            Flavor::Gpu => "gpu",
        }
    }
    /// The pip package of this flavor.
    pub fn package(self) -> &'static str {
        match self {
            Flavor::Cpu => "tensorflow-cpu",
            Flavor::Gpu => "tensorflow",
        }
    }
}

pub fn entry_dir(root: &Path, version: &str, flavor: Flavor) -> PathBuf {
    root.join("tensorflow")
        .join(format!("{version}-{}", flavor.word()))
}

/// Complete entries, the preferred one (version and flavor) first.
pub fn complete_entries(root: &Path, preferred: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(root.join("tensorflow"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join(COMPLETE_MARKER).is_file())
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    entries.sort_by_key(|p| p != preferred);
    entries
}
