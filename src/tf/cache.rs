//! gpugate's cache of provisioned TensorFlow builds:
//! `$GPUGATE_CACHE_DIR`, else `$XDG_CACHE_HOME/gpugate`, else `~/.cache/gpugate`.
//! Each entry (`tensorflow/<version>-<flavor>/`) is laid out as pip lays out
//! site-packages; see `provision` for the layout.

use std::path::{Path, PathBuf};

/// The file marking a complete, verified entry; written last. Entries of
/// older gpugates (another marker, another layout) are not complete.
pub const ENTRY_MARKER: &str = "gpugate-entry.json";
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

/// The C API library of an entry.
pub fn library(entry: &Path) -> PathBuf {
    entry.join("tensorflow").join(C_API_LIBRARY)
}

pub fn is_complete(entry: &Path) -> bool {
    entry.join(ENTRY_MARKER).is_file()
}

/// The version an entry holds, from its record (files only).
pub fn entry_version(entry: &Path) -> Option<String> {
    let text = std::fs::read_to_string(entry.join(ENTRY_MARKER)).ok()?;
    let record: super::provision::EntryRecord = serde_json::from_str(&text).ok()?;
    Some(record.version)
}

/// Complete entries, the preferred one (version and flavor) first.
pub fn complete_entries(root: &Path, preferred: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(root.join("tensorflow"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| is_complete(p))
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    entries.sort_by_key(|p| p != preferred);
    entries
}
