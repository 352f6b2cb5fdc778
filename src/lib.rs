//! gpugate: declarative checks that tell a CI pipeline whether a GPU machine
//! can really run TensorFlow, and if not, why.
//!
//! Data flows one way: [`suite`] (TOML → typed checks) → `plan` (checks ×
//! where they run) → `runner` (parent-side checks, and [`worker`] children
//! for anything that loads native code) → `outcome` → `event`s →
//! `report`ers.

pub mod baseline;
mod checks;
mod ci;
pub mod cli;
pub mod compat;
mod console;
mod diagnose;
mod dl;
mod event;
pub mod exit;
pub mod facts;
mod files;
mod finding;
#[doc(hidden)]
pub mod fuzzing;
mod host;
mod input;
mod json_shape;
pub mod moment;
mod outcome;
mod plan;
mod plot;
mod procs;
mod progress;
mod redact;
mod report;
mod rng;
mod runner;
#[cfg(test)]
mod snapshot;
pub mod suite;
pub mod text;
pub mod tf;
pub mod version;
pub mod worker;
