//! `--format json`: the whole run as one JSON document on stdout (results
//! with timings, measurements and diagnoses, the facts, and every diagnosis
//! for the machine), for programs rather than people.

use super::attachments::Seen;
use super::results::{Counts, TestResult};
use crate::diagnose::Finding;
use crate::event::{Event, Reaction, Reporter};
use crate::facts::Facts;
use serde::Serialize;

/// The version of the JSON documents' shape (`--format json`, `facts`,
/// `doctor`, `report merge`): raised when a field changes meaning or goes.
pub const SCHEMA_VERSION: u32 = 1;

/// `facts --format json`: the snapshot, with the schema version.
#[derive(Serialize)]
pub struct FactsJson<'a> {
    pub schema_version: u32,
    #[serde(flatten)]
    pub facts: &'a Facts,
}

#[derive(Serialize)]
pub struct RunJson<'a> {
    pub schema_version: u32,
    pub gpugate: &'static str,
    pub exit_code: u8,
    pub duration_s: f64,
    pub counts: Counts,
    pub results: &'a [TestResult],
    /// The report properties (host, driver, GPUs, TensorFlow), as in JUnit.
    #[serde(serialize_with = "crate::json_shape::pairs::serialize")]
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
            schema_version: SCHEMA_VERSION,
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

/// Prints the run as one document on stdout once its verdict is final.
#[derive(Default)]
pub struct Document {
    attachments: Seen,
}

impl Reporter for Document {
    fn on(&mut self, event: &Event<'_>) -> Reaction {
        self.attachments.note(event);
        match event {
            Event::RunFinished { run, exit } => {
                let results = self.attachments.results(run);
                let findings = crate::diagnose::diagnose(&crate::diagnose::Evidence {
                    facts: run.facts,
                    log: &run.facts.tensorflow.log,
                });
                let properties = super::run_properties(run.facts);
                let document = RunJson::new(
                    exit.code(),
                    run.elapsed.as_secs_f64(),
                    &results,
                    &properties,
                    run.facts,
                    &findings,
                );
                let text = serde_json::to_string_pretty(&document).expect("the run serializes");
                println!("{}", crate::redact::scrub(&text));
            }
            // Attachments are noted above; the document is printed once.
            Event::RunStarted { .. }
            | Event::FactsGathered { .. }
            | Event::CheckFinished { .. }
            | Event::Attached { .. }
            | Event::ChecksDone { .. } => {}
        }
        Reaction::Nothing
    }
}
