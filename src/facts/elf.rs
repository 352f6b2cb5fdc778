//! The dynamic section of a shared library, read from the file (never
//! loaded): what it NEEDS and where its RUNPATH sends the loader. A
//! TensorFlow CUDA build says so there (`$ORIGIN/../nvidia/cuda_runtime/lib`)
//! even when no build_info.py came with it.

use object::elf::{DT_NEEDED, DT_RPATH, DT_RUNPATH, FileHeader64};
use object::read::elf::{Dyn, FileHeader};
use object::{Endianness, ReadCache};
use std::path::Path;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Dynamic {
    pub needed: Vec<String>,
    /// RUNPATH (or the older RPATH) entries, in order.
    pub runpath: Vec<String>,
    /// The symbol versions it requires of other libraries (`GLIBC_2.27`,
    /// `GLIBCXX_3.4.29`, ...), from its version-needs section.
    pub versions: Vec<String>,
}

/// Why a library's dynamic section could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("{}: {source}", path.display())]
    Open {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a readable ELF file: {source}", path.display())]
    Unreadable {
        path: std::path::PathBuf,
        source: object::read::Error,
    },
    #[error("{}: a dynamic entry names no string", path.display())]
    NoString { path: std::path::PathBuf },
}

/// Reads only the headers and the dynamic section, not the whole file.
pub fn dynamic(path: &Path) -> Result<Dynamic, ElfError> {
    let file = std::fs::File::open(path).map_err(|source| ElfError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let cache = ReadCache::new(file);
    let bad = |source| ElfError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let header = FileHeader64::<Endianness>::parse(&cache).map_err(bad)?;
    let endian = header.endian().map_err(bad)?;
    let sections = header.sections(endian, &cache).map_err(bad)?;
    let mut out = Dynamic::default();
    if let Some((mut needs, link)) = sections.gnu_verneed(endian, &cache).map_err(bad)? {
        let strings = sections.strings(endian, &cache, link).map_err(bad)?;
        while let Some((_, mut auxes)) = needs.next().map_err(bad)? {
            while let Some(aux) = auxes.next().map_err(bad)? {
                let name = String::from_utf8_lossy(aux.name(endian, strings).map_err(bad)?);
                if !out.versions.iter().any(|v| *v == name) {
                    out.versions.push(name.into_owned());
                }
            }
        }
    }
    let Some((entries, link)) = sections.dynamic(endian, &cache).map_err(bad)? else {
        return Ok(out);
    };
    let strings = sections.strings(endian, &cache, link).map_err(bad)?;
    let table_offset: u64 = sections.section(link).map_err(bad)?.sh_offset.get(endian);
    for entry in entries {
        let tag = entry.tag32(endian);
        let Some(tag) = tag else { continue };
        if ![DT_NEEDED, DT_RUNPATH, DT_RPATH].contains(&tag) {
            continue;
        }
        let offset = entry.d_val(endian) as u32;
        // The cache reads short strings; TensorFlow 2.21's RUNPATH is 15 KB.
        let value = match strings.get(offset) {
            Ok(value) => String::from_utf8_lossy(value).into_owned(),
            Err(()) => long_string(&cache, table_offset + u64::from(offset)).ok_or_else(|| {
                ElfError::NoString {
                    path: path.to_path_buf(),
                }
            })?,
        };
        if tag == DT_NEEDED {
            out.needed.push(value);
        } else {
            out.runpath.extend(value.split(':').map(str::to_string));
        }
    }
    Ok(out)
}

/// A NUL-terminated string at `offset` of the file, up to 1 MiB.
fn long_string(cache: &ReadCache<std::fs::File>, offset: u64) -> Option<String> {
    use object::ReadRef;
    let mut bytes = Vec::new();
    while bytes.len() < 1 << 20 {
        let at = offset + bytes.len() as u64;
        // The last chunk of the file is shorter.
        let len = cache.len().ok()?.checked_sub(at)?.min(4096);
        let chunk = cache.read_bytes_at(at, len).ok()?;
        if chunk.is_empty() {
            return None;
        }
        match chunk.iter().position(|&b| b == 0) {
            Some(end) => {
                bytes.extend_from_slice(&chunk[..end]);
                return Some(String::from_utf8_lossy(&bytes).into_owned());
            }
            None => bytes.extend_from_slice(chunk),
        }
    }
    None
}

impl Dynamic {
    /// Whether the loader is sent to pip's CUDA runtime: TensorFlow's CUDA
    /// builds (2.14 on) carry `$ORIGIN/../nvidia/cuda_runtime/lib`; its
    /// CPU builds carry no `nvidia/` entry at all.
    pub fn points_at_cuda(&self) -> bool {
        self.runpath
            .iter()
            .any(|p| p.contains("nvidia/cuda_runtime"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_needed_libraries_of_a_real_library() {
        let exe = std::env::current_exe().unwrap();
        let dynamic = dynamic(&exe).unwrap();
        assert!(
            dynamic.needed.iter().any(|n| n.starts_with("libc.so")),
            "{dynamic:?}"
        );
        assert!(!dynamic.points_at_cuda());
        // Every Rust binary needs some glibc symbol version.
        assert!(
            dynamic.versions.iter().any(|v| v.starts_with("GLIBC_2.")),
            "{dynamic:?}"
        );
    }

    #[test]
    fn a_file_that_is_not_elf_is_an_error_naming_it() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), b"not elf").unwrap();
        let err = dynamic(tmp.path()).unwrap_err();
        assert!(matches!(err, ElfError::Unreadable { .. }), "{err}");
        assert!(err.to_string().contains(&tmp.path().display().to_string()));
    }

    #[test]
    fn cuda_builds_are_told_by_their_runpath() {
        let cuda = Dynamic {
            needed: vec![],
            runpath: vec!["$ORIGIN/../nvidia/cuda_runtime/lib".into()],
            versions: vec![],
        };
        assert!(cuda.points_at_cuda());
        let cpu = Dynamic {
            needed: vec![],
            runpath: vec!["$ORIGIN/".into()],
            versions: vec![],
        };
        assert!(!cpu.points_at_cuda());
    }
}
