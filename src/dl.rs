//! The dynamic loader, over libloading, with what it lacks: the path the
//! loader actually opened (`dlinfo`). Only worker processes use this: a
//! library's constructor may crash, and that must not take the harness down
//! (docs/architecture.md, "Native code only in workers").

use std::ffi::{CStr, c_void};
use std::path::PathBuf;

/// Why a library did not load.
#[derive(Debug, thiserror::Error)]
pub enum DlError {
    #[error("library name {0:?} contains a NUL byte")]
    Nul(String),
    /// The loader's own words (`dlerror`).
    #[error(transparent)]
    Loader(#[from] libloading::Error),
}

pub struct Library {
    inner: libloading::os::unix::Library,
    /// The same handle, for `dlinfo`; valid while `inner` is alive.
    handle: *mut c_void,
}

/// The start of glibc's `struct link_map`, enough to read the loaded path.
#[repr(C)]
struct LinkMap {
    l_addr: usize,
    l_name: *const libc::c_char,
}

impl Library {
    /// `dlopen(name, RTLD_NOW | RTLD_GLOBAL)`: a soname is searched the way the
    /// loader does (LD_LIBRARY_PATH, ld.so.cache, system directories). The
    /// error is the loader's own text; with `RTLD_NOW` a symbol that does not
    /// resolve is a load error naming it, not a crash at its first call.
    pub fn open(name: &str) -> Result<Library, DlError> {
        Self::open_with(name, libc::RTLD_NOW)
    }

    /// [`Library::open`] with `RTLD_LAZY`: functions are bound at their first
    /// call, which saves resolving every one of them up front.
    pub fn open_lazily(name: &str) -> Result<Library, DlError> {
        Self::open_with(name, libc::RTLD_LAZY)
    }

    /// The library of that soname if this process has already loaded it
    /// (`RTLD_NOLOAD`): what a later `dlopen` of the name would return.
    pub fn already_loaded(name: &str) -> Option<Library> {
        Self::open_with(name, libc::RTLD_LAZY | libc::RTLD_NOLOAD).ok()
    }

    fn open_with(name: &str, binding: libc::c_int) -> Result<Library, DlError> {
        if name.contains('\0') {
            return Err(DlError::Nul(name.to_string()));
        }
        // SAFETY: loading runs the library's constructors, which is exactly
        // what this process exists to risk.
        let inner = unsafe {
            libloading::os::unix::Library::open(Some(name), binding | libc::RTLD_GLOBAL)
        }?;
        let handle = inner.into_raw();
        // SAFETY: the handle was just taken from a library opened above.
        let inner = unsafe { libloading::os::unix::Library::from_raw(handle) };
        Ok(Library { inner, handle })
    }

    /// The path the loader actually opened.
    pub fn path(&self) -> Option<PathBuf> {
        // SAFETY: the handle stays open while `inner` is alive.
        unsafe { handle_path(self.handle) }
    }

    pub fn has_symbol(&self, symbol: &str) -> bool {
        self.symbol(symbol).is_some()
    }

    /// The address of `symbol`; calling it is the caller's (unsafe) business.
    pub fn symbol(&self, symbol: &str) -> Option<*mut c_void> {
        // SAFETY: looking a symbol up does not call it; the address is
        // handed out as a plain pointer, not as a typed function.
        let found = unsafe { self.inner.get::<*mut c_void>(symbol.as_bytes()) }.ok()?;
        let address = found.into_raw();
        (!address.is_null()).then_some(address)
    }

    /// Keeps the library loaded for the rest of the process.
    pub fn keep(self) {
        std::mem::forget(self);
    }
}

/// The path behind a handle `dlopen` returned, here or in a library that
/// called it (TensorFlow's loader hands its handles out).
///
/// # Safety
/// `handle` must be a handle `dlopen` returned and that was not closed.
pub unsafe fn handle_path(handle: *mut c_void) -> Option<PathBuf> {
    let mut map: *const LinkMap = std::ptr::null();
    // SAFETY: RTLD_DI_LINKMAP writes a pointer to the handle's link_map; the
    // handle is one dlopen returned and that was not closed.
    let rc = unsafe {
        libc::dlinfo(
            handle,
            libc::RTLD_DI_LINKMAP,
            &mut map as *mut _ as *mut c_void,
        )
    };
    if rc != 0 || map.is_null() {
        return None;
    }
    // SAFETY: glibc keeps the link_map alive while the handle is open.
    let name = unsafe { (*map).l_name };
    if name.is_null() {
        return None;
    }
    let path = unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_libc_and_reports_its_path() {
        let lib = Library::open("libc.so.6").unwrap();
        assert!(lib.has_symbol("printf"));
        assert!(!lib.has_symbol("no_such_symbol_gpugate"));
        assert!(lib.path().unwrap().to_string_lossy().contains("libc.so.6"));
    }

    #[test]
    fn missing_library_gives_the_loader_error() {
        let err = Library::open("libgpugate-missing.so.7")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("libgpugate-missing.so.7: cannot open shared object file"),
            "{err}"
        );
    }
}
