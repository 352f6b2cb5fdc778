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

/// The cache directory. Without `HOME`, the home directory comes from the
/// password database; there is no fallback to a shared directory such as
/// /tmp, where another user could plant a library for gpugate to load.
pub fn root() -> Result<PathBuf, NoCacheDir> {
    if let Some(dir) = std::env::var_os("GPUGATE_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("gpugate"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(password_home)
        .ok_or(NoCacheDir)?;
    Ok(home.join(".cache").join("gpugate"))
}

/// Where the cache would be is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "no cache directory: HOME is not set and this user has no home directory (set GPUGATE_CACHE_DIR)"
)]
pub struct NoCacheDir;

/// Why the cache, or an entry in it, is not used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: crate::input::ReadError,
    },
    #[error("{}: {source}", path.display())]
    Record {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "{} belongs to another user (uid {uid}); gpugate loads only from its own or root's files",
        path.display()
    )]
    OtherOwner { path: PathBuf, uid: u32 },
    #[error(
        "{} can be written by other users (mode {mode:o}); gpugate will not load from it",
        path.display()
    )]
    WritableByOthers { path: PathBuf, mode: u32 },
    /// Entries provisioned before gpugate kept what XLA runs lack ptxas.
    #[error("{} was provisioned without {wheel}'s ptxas, which XLA needs on a GPU", entry.display())]
    WithoutPtxas { entry: PathBuf, wheel: String },
    #[error("{} is not a regular file", path.display())]
    NotRegular { path: PathBuf },
    #[error(
        "{} is {found} bytes, but {recorded} bytes were verified when it was provisioned",
        path.display()
    )]
    Resized {
        path: PathBuf,
        found: u64,
        recorded: u64,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// This user's home directory from the password database.
fn password_home() -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut buf = vec![0 as libc::c_char; 16 << 10];
    // SAFETY: getpwuid_r writes into `pwd` and `buf`, both alive and sized
    // as passed; `result` is null or points at `pwd`.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            libc::geteuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
            return None;
        }
        let dir = std::ffi::CStr::from_ptr(pwd.pw_dir);
        (!dir.to_bytes().is_empty())
            .then(|| PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes())))
    }
}

/// Whether gpugate may load from (or write into) `path`: it must belong to
/// this user or root, and no one else may write to it. A cache another user
/// can write is a way to make gpugate load their code.
pub fn trusted(path: &Path) -> Result<(), CacheError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(io_error(path))?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me && meta.uid() != 0 {
        return Err(CacheError::OtherOwner {
            path: path.to_path_buf(),
            uid: meta.uid(),
        });
    }
    if meta.mode() & 0o022 != 0 {
        return Err(CacheError::WritableByOthers {
            path: path.to_path_buf(),
            mode: meta.mode() & 0o7777,
        });
    }
    Ok(())
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

/// What a published entry holds; written last, as `gpugate-entry.json`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct EntryRecord {
    pub package: String,
    pub version: String,
    /// Every wheel used, with the version pip chose for it.
    pub wheels: Vec<WheelRecord>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct WheelRecord {
    pub name: String,
    pub version: String,
    /// What the TensorFlow METADATA asked for (`nvidia-cudnn-cu12<10.0,>=9.3.0.75`).
    pub requirement: String,
    pub file: String,
    /// Every extracted file, by path in the entry.
    pub files: std::collections::BTreeMap<String, FileRecord>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct FileRecord {
    /// RECORD's encoding: urlsafe base64 without padding.
    pub sha256: String,
    pub size: u64,
}

fn record(entry: &Path) -> Result<EntryRecord, CacheError> {
    let path = entry.join(ENTRY_MARKER);
    let text = crate::input::read_text(&path, crate::input::HOST_FILE_LIMIT).map_err(|source| {
        CacheError::Read {
            path: path.clone(),
            source,
        }
    })?;
    serde_json::from_str(&text).map_err(|source| CacheError::Record { path, source })
}

/// The version an entry holds, from its record (files only).
pub fn entry_version(entry: &Path) -> Option<String> {
    record(entry).ok().map(|r| r.version)
}

/// Checks an entry before anything in it is loaded: every file its record
/// lists is there, a regular file of the recorded size, and trusted (see
/// [`trusted`]), as are the entry and its directories. Hashes are checked
/// when the entry is provisioned; sizes on every use, so a truncated or
/// replaced library is caught instead of crashing a worker with SIGBUS.
pub fn verify(entry: &Path) -> Result<(), CacheError> {
    // Whoever can write the directory that holds the entry can swap it.
    if let Some(holder) = entry.parent() {
        trusted(holder)?;
    }
    trusted(entry)?;
    let record = record(entry)?;
    // Entries provisioned before gpugate kept what XLA runs lack ptxas:
    // provisioned anew, so that the GPU stack can run XLA.
    if let Some(nvcc) = record.wheels.iter().find(|w| {
        w.name
            .replace('_', "-")
            .eq_ignore_ascii_case("nvidia-cuda-nvcc-cu12")
    }) && !nvcc.files.contains_key("nvidia/cuda_nvcc/bin/ptxas")
    {
        return Err(CacheError::WithoutPtxas {
            entry: entry.to_path_buf(),
            wheel: nvcc.name.clone(),
        });
    }
    for wheel in &record.wheels {
        for (member, file) in &wheel.files {
            let path = entry.join(member);
            let meta = std::fs::symlink_metadata(&path).map_err(io_error(&path))?;
            if !meta.is_file() {
                return Err(CacheError::NotRegular { path });
            }
            if meta.len() != file.size {
                return Err(CacheError::Resized {
                    path,
                    found: meta.len(),
                    recorded: file.size,
                });
            }
            trusted(&path)?;
            if let Some(dir) = path.parent() {
                trusted(dir)?;
            }
        }
    }
    Ok(())
}

/// Entries that pass [`verify`], the preferred one (version and flavor)
/// first, and the others with why they were passed over.
pub fn usable_entries(root: &Path, preferred: &Path) -> (Vec<PathBuf>, Vec<(PathBuf, CacheError)>) {
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
    let mut rejected = Vec::new();
    entries.retain(|entry| match verify(entry) {
        Ok(()) => true,
        Err(why) => {
            rejected.push((entry.clone(), why));
            false
        }
    });
    (entries, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_in_a_directory_others_can_write_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let entry = root.path().join("tensorflow/2.20.0-cpu");
        std::fs::create_dir_all(&entry).unwrap();
        std::fs::write(
            entry.join("gpugate-entry.json"),
            r#"{"package": "tensorflow-cpu", "version": "2.20.0", "wheels": []}"#,
        )
        .unwrap();
        assert!(verify(&entry).is_ok());
        let holder = root.path().join("tensorflow");
        std::fs::set_permissions(&holder, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = verify(&entry).unwrap_err();
        assert!(
            matches!(&err, CacheError::WritableByOthers { path, mode: 0o777 } if *path == holder),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("tensorflow can be written by other users")
        );
    }
}
