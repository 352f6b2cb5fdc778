//! The dynamic loader, with its own error text. Only worker processes use
//! this: a library's constructor may crash, and that must not take the
//! harness down (docs/architecture.md, "Native code only in workers").

use std::ffi::{CStr, CString, c_void};
use std::path::PathBuf;

pub struct Library {
    handle: *mut c_void,
}

/// The start of glibc's `struct link_map`, enough to read the loaded path.
#[repr(C)]
struct LinkMap {
    l_addr: usize,
    l_name: *const libc::c_char,
}

fn last_error() -> String {
    // SAFETY: dlerror returns null or a NUL-terminated string owned by libc.
    unsafe {
        let err = libc::dlerror();
        if err.is_null() {
            "unknown loader error".to_string()
        } else {
            CStr::from_ptr(err).to_string_lossy().into_owned()
        }
    }
}

impl Library {
    /// `dlopen(name, RTLD_NOW | RTLD_GLOBAL)`: a soname is searched the way the
    /// loader does (LD_LIBRARY_PATH, ld.so.cache, system directories).
    pub fn open(name: &str) -> Result<Library, String> {
        let c_name =
            CString::new(name).map_err(|_| format!("library name {name:?} contains a NUL byte"))?;
        // SAFETY: a valid C string; loading runs the library's constructors,
        // which is exactly what this process exists to risk.
        let handle = unsafe { libc::dlopen(c_name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        if handle.is_null() {
            return Err(last_error());
        }
        Ok(Library { handle })
    }

    /// The path the loader actually opened.
    pub fn path(&self) -> Option<PathBuf> {
        let mut map: *const LinkMap = std::ptr::null();
        // SAFETY: RTLD_DI_LINKMAP writes a pointer to the handle's link_map.
        let rc = unsafe {
            libc::dlinfo(
                self.handle,
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

    pub fn has_symbol(&self, symbol: &str) -> bool {
        self.symbol(symbol).is_some()
    }

    /// The address of `symbol`; calling it is the caller's (unsafe) business.
    pub fn symbol(&self, symbol: &str) -> Option<*mut c_void> {
        let c_symbol = CString::new(symbol).ok()?;
        // SAFETY: looking a symbol up does not call it.
        let address = unsafe { libc::dlsym(self.handle, c_symbol.as_ptr()) };
        (!address.is_null()).then_some(address)
    }

    /// Keeps the library loaded for the rest of the process.
    pub fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        // SAFETY: the handle came from dlopen and is closed once.
        unsafe {
            libc::dlclose(self.handle);
        }
    }
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
        let err = Library::open("libgpugate-missing.so.7").err().unwrap();
        assert!(
            err.contains("libgpugate-missing.so.7: cannot open shared object file"),
            "{err}"
        );
    }
}
