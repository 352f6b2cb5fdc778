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

/// Why a file was not read. The path is not in it: the caller names the
/// file as its user knows it ("the baseline file ...", a `/proc` entry).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("is {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("has more than the {0} bytes gpugate reads of it")]
    TooLarge(u64),
}

/// The file's bytes; an error when it cannot be opened, is not a regular
/// file or has more than `limit` bytes.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    // O_NONBLOCK makes opening a FIFO return at once, so that it can be
    // refused; on a regular file it changes nothing.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(crate::files::file_kind(&meta)));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text (invalid sequences replaced).
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
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
        let err = read(&path, 9).unwrap_err().to_string();
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
        let err = read(&fifo, 10).unwrap_err().to_string();
        assert!(err.contains("a FIFO"), "{err}");
        let err = read(Path::new("/dev/zero"), 10).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        let err = read(dir.path(), 10).unwrap_err();
        assert!(matches!(err, ReadError::NotRegular("a directory")), "{err}");
    }
}
