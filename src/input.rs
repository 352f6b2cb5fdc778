//! Every file gpugate reads as input (suites, baselines, reports to merge,
//! the host's `/proc` and `/sys` under `--host-root`) is read here: only a
//! regular file, opened without blocking, and at most a stated size. A FIFO
//! would block the run beyond any signal's reach, `/dev/zero` never ends, and
//! a sparse gigabyte would be read whole.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The most gpugate reads of one file of the host's (`/proc`, `/sys`,
/// `/etc`): the largest, `/proc/cpuinfo` of a 512-thread machine, is about
/// 1 MiB.
pub const HOST_FILE_LIMIT: u64 = 4 << 20;

/// The file's bytes; an error (without the path, which the caller names)
/// when it cannot be opened, is not a regular file or has more than `limit`
/// bytes.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    // O_NONBLOCK makes opening a FIFO return at once, so that it can be
    // refused; on a regular file it changes nothing.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(format!(
            "is {}, not a regular file",
            crate::text::file_kind(&meta)
        ));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "has more than the {limit} bytes gpugate reads of it"
        ));
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text (invalid sequences replaced).
pub fn read_text(path: &Path, limit: u64) -> Result<String, String> {
    read(path, limit).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// A host file's text, trimmed, where it can be read.
pub fn host_value(path: &Path) -> Option<String> {
    read_text(path, HOST_FILE_LIMIT)
        .ok()
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "0123456789").unwrap();
        assert_eq!(read_text(&path, 10).unwrap(), "0123456789");
        let err = read(&path, 9).unwrap_err();
        assert!(err.contains("more than the 9 bytes"), "{err}");
        assert!(read(&dir.path().join("absent"), 10).is_err());
    }

    #[test]
    fn a_fifo_or_a_device_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // No writer: a blocking open would wait here forever.
        let err = read(&fifo, 10).unwrap_err();
        assert!(err.contains("a FIFO"), "{err}");
        let err = read(Path::new("/dev/zero"), 10).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        assert!(read(dir.path(), 10).unwrap_err().contains("directory"));
    }
}
