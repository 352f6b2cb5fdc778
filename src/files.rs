//! The files gpugate writes (reports, attachments, baselines, metrics, the
//! job summary): only where nothing is yet or a regular file is, and
//! atomically, so a reader never sees half of one.

use std::path::Path;

/// Whether gpugate may write a file at `path`: only where nothing is yet,
/// or a regular file is (symlinks followed). Everything it writes passes
/// here before anything is opened, so a FIFO never blocks a run (opening
/// one waits for a reader) and a device, a directory or a socket is never
/// replaced.
pub fn writable_target(path: &Path) -> Result<(), NotReplaceable> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(NotReplaceable(file_kind(&meta))),
        _ => Ok(()),
    }
}

/// A path gpugate will not write to: what is there (`a FIFO`, `a directory`).
#[derive(Debug, thiserror::Error)]
#[error("is {0}; gpugate writes only to a new or regular file, and never replaces anything else")]
pub struct NotReplaceable(pub &'static str);

/// Appends `bytes` to `path` (created when missing) whole or not at all:
/// a write that fails partway (a full disk, a file size limit) is cut back
/// to where the file ended, so a reader never sees half an append.
pub fn append_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    writable_target(path).map_err(std::io::Error::other)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let before = file.metadata()?.len();
    let written = file.write_all(bytes).and_then(|()| file.sync_data());
    if written.is_err() {
        let _ = file.set_len(before);
    }
    written
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over
/// `path`: a reader sees the old file or the new one, never half of one,
/// even after a crash (the data is synced before the rename).
/// Creates the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    writable_target(path).map_err(std::io::Error::other)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".gpugate-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    // A temporary file is created 0600; a report is for others to read, as
    // any file this user creates (0666 less the umask).
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o666 & !umask()))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The process's umask, read without changing it (`umask(2)` can only
/// set it, which would race with other threads creating files).
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

/// "a directory", "a FIFO", "a character device", ...: what a path is,
/// for messages that refuse it.
pub fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}
