//! `--format json`: the whole run as one JSON document on stdout (results
//! with timings, measurements and diagnoses, the facts, and every diagnosis
//! for the machine), for programs rather than people.

use super::attachments::Seen;
use super::results::{Counts, TestResult};
use crate::console::Console;
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

/// Prints the run as one document (on stdout) once its verdict is final.
pub struct Document {
    out: Console,
    attachments: Seen,
}

impl Document {
    pub fn new(out: Console) -> Document {
        Document {
            out,
            attachments: Seen::default(),
        }
    }
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
                self.out.say(&format!("{}\n", crate::redact::scrub(&text)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::{drive, sample_run};
    use crate::snapshot::assert_snapshot;

    #[test]
    fn the_document_of_a_run_with_every_outcome() {
        let (out, said) = Console::memory();
        drive(
            vec![Box::new(Document::new(out))],
            &sample_run(),
            Console::memory().0,
        );
        let text = said.text();
        let document: serde_json::Value = serde_json::from_str(&text).expect("one JSON document");
        assert_eq!(document["exit_code"], 101);
        assert_snapshot("reporters", "run.json", &text);
    }
}
