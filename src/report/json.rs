//! `--format json`: the whole run as one JSON document on stdout (results
//! with timings, measurements and diagnoses, the facts, and every diagnosis
//! for the machine), for programs rather than people.

use super::results::{Counts, TestResult};
use crate::diagnose::Finding;
use crate::facts::Facts;
use serde::Serialize;

#[derive(Serialize)]
pub struct RunJson<'a> {
    pub gpugate: &'static str,
    pub exit_code: u8,
    pub duration_s: f64,
    pub counts: Counts,
    pub results: &'a [TestResult],
    /// The report properties (host, driver, GPUs, TensorFlow), as in JUnit.
    pub properties: &'a [(String, String)],
    pub facts: &'a Facts,
    pub diagnoses: &'a [Finding],
}

impl<'a> RunJson<'a> {
    pub fn new(
        exit_code: u8,
        duration_s: f64,
        results: &'a [TestResult],
        properties: &'a [(String, String)],
        facts: &'a Facts,
        diagnoses: &'a [Finding],
    ) -> Self {
        RunJson {
            gpugate: env!("CARGO_PKG_VERSION"),
            exit_code,
            duration_s,
            counts: Counts::of(results),
            results,
            properties,
            facts,
            diagnoses,
        }
    }
}
