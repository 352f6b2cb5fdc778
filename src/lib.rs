//! gpugate: declarative checks that tell a CI pipeline whether a GPU machine
//! can really run TensorFlow, and if not, why.
//!
//! Data flows one way: [`suite`] (TOML → typed checks) → [`plan`] (checks ×
//! where they run) → [`runner`] (parent-side checks, and [`worker`] children
//! for anything that loads native code) → [`outcome`] → [`event`]s →
//! [`report`]ers.

pub mod baseline;
pub mod checks;
pub mod ci;
pub mod cli;
pub mod compat;
pub mod console;
pub mod diagnose;
pub mod dl;
pub mod event;
pub mod exit;
pub mod facts;
pub mod files;
pub mod finding;
#[doc(hidden)]
pub mod fuzzing;
pub mod host;
pub mod input;
pub mod json_shape;
pub mod outcome;
pub mod plan;
pub mod plot;
pub mod procs;
pub mod redact;
pub mod report;
pub mod rng;
pub mod runner;
#[cfg(test)]
mod snapshot;
pub mod suite;
pub mod text;
pub mod tf;
pub mod version;
pub mod worker;
