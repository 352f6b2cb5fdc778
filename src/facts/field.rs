//! A value NVML may not offer: the three ways reading one can end.

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
