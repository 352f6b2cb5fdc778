//! Worker processes: `gpugate __worker` children that load native code on the
//! parent's behalf and answer JSON requests over pipes.

pub mod child;
mod log;
pub mod pool;
pub mod protocol;

pub use pool::{Answer, CallError, CallFailure, Pool};
