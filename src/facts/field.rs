//! A value NVML may not offer: the three ways reading one can end, and
//! NVML's own words for why one did not.

use nvml_wrapper::error::NvmlError;
use serde::{Deserialize, Serialize};

/// A value NVML may not offer on every GPU: not supported is a fact, not an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field<T> {
    Value(T),
    Unsupported,
    Error(String),
}

impl<T> Field<T> {
    pub fn value(&self) -> Option<&T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }

    /// NVML's error, when reading the field failed.
    pub fn error(&self) -> Option<&str> {
        match self {
            Field::Error(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn from_nvml(result: Result<T, NvmlError>) -> Self {
        match result {
            Ok(v) => Field::Value(v),
            Err(NvmlError::NotSupported) | Err(NvmlError::FailedToLoadSymbol(_)) => {
                Field::Unsupported
            }
            Err(e) => Field::Error(e.to_string()),
        }
    }
}

/// NVML's library name; the unversioned `libnvidia-ml.so` exists only where
/// the development files are installed.
pub const NVML_SONAME: &str = "libnvidia-ml.so.1";

/// `nvmlErrorString` of the NVML this process loaded.
pub fn nvml_error_string(code: u32) -> Option<String> {
    let lib = crate::dl::Library::already_loaded(NVML_SONAME)?;
    // SAFETY: `const char *nvmlErrorString(nvmlReturn_t)`, as nvml.h
    // declares it; it returns a static string for any code.
    let words = unsafe {
        let f: unsafe extern "C" fn(u32) -> *const std::os::raw::c_char =
            std::mem::transmute(lib.symbol("nvmlErrorString")?);
        let text = f(code);
        (!text.is_null()).then(|| {
            std::ffi::CStr::from_ptr(text)
                .to_string_lossy()
                .into_owned()
        })
    };
    lib.keep();
    words
}
