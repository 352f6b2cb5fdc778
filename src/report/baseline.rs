//! `gpugate baseline record`: the throughput a run measured, kept per GPU
//! model and size for later runs to compare against. The file is the run's
//! product, so recording decides the run's exit.

use crate::baseline::{BaselineError, Baselines, Entry};
use crate::checks::tensorflow_throughput::H2D_MEASURE;
use crate::checks::{CheckKind, RunContext};
use crate::console::Console;
use crate::event::{Event, Finished, Reaction, Reporter};
use crate::exit::{Ending, Exit};
use std::path::{Path, PathBuf};

/// Records into a baseline file once every check has ended.
pub struct Recorder {
    path: PathBuf,
    baselines: Baselines,
    /// Where what was recorded is told (stderr).
    log: Console,
}

impl Recorder {
    /// Reads the baseline file first, so a malformed one is refused before
    /// anything runs.
    pub fn new(path: &Path, log: Console) -> Result<Recorder, BaselineError> {
        crate::files::writable_target(path).map_err(|source| BaselineError::NotReplaceable {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Recorder {
            path: path.to_path_buf(),
            baselines: Baselines::load_or_empty(path)?,
            log,
        })
    }

    /// Upserts every measurement of the run's throughput checks, keyed by
    /// the model of the device each ran on, from the facts, and saves.
    fn record(&mut self, run: &Finished<'_>) -> Result<Exit, (Exit, String)> {
        let path = &self.path;
        let baselines = &mut self.baselines;
        let (plan, outcomes, facts) = (run.plan, run.outcomes, run.facts);
        let recorded = format!(
            "{} by gpugate {}",
            crate::text::today_utc(),
            env!("CARGO_PKG_VERSION")
        );
        let mut count = 0;
        for (check, outcome) in plan.checks.iter().zip(outcomes) {
            let Some(outcome) = outcome else { continue };
            // The run kept only throughput checks.
            let CheckKind::TensorflowThroughput(spec) = &check.kind else {
                continue;
            };
            let verdict = &outcome.verdict;
            let model = RunContext::for_check(&check.kind, facts).device_model;
            let (Some(model), false) = (model, verdict.measurements.is_empty()) else {
                self.log.say(&format!(
                    "gpugate: nothing recorded for {}: {}\n",
                    check.test_name, verdict.message
                ));
                continue;
            };
            for (measure, value) in &verdict.measurements {
                let size = if measure == H2D_MEASURE {
                    0
                } else {
                    spec.size()
                };
                baselines.upsert(Entry {
                    model: model.clone(),
                    size,
                    measure: measure.clone(),
                    value: *value,
                    recorded: recorded.clone(),
                });
                self.log.say(&format!(
                    "gpugate: recorded {model} {measure} at size {size}: {value:.3}\n"
                ));
                count += 1;
            }
        }
        if count == 0 {
            return Err((
                Ending::NothingMeasured.exit(),
                format!(
                    "no throughput was measured; {} left unchanged",
                    path.display()
                ),
            ));
        }
        baselines
            .save(path)
            .map_err(|e| (Ending::Unwritable.exit(), e.to_string()))?;
        self.log.say(&format!(
            "gpugate: {count} baseline entries written to {}\n",
            path.display()
        ));
        Ok(Ending::Done.exit())
    }
}

impl Reporter for Recorder {
    fn on(&mut self, event: &Event<'_>) -> Reaction {
        match event {
            // A run that was cancelled, or where nothing ran, records nothing.
            Event::ChecksDone { run }
                if matches!(run.checks, Exit::Success | Exit::ChecksFailed) =>
            {
                match self.record(run) {
                    Ok(exit) => Reaction::Decides(exit),
                    Err((exit, message)) => Reaction::Failed { exit, message },
                }
            }
            Event::RunStarted { .. }
            | Event::FactsGathered { .. }
            | Event::CheckFinished { .. }
            | Event::Attached { .. }
            | Event::ChecksDone { .. }
            | Event::RunFinished { .. } => Reaction::Nothing,
        }
    }
}
