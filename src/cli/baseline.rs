//! `gpugate baseline record`: the throughput a run measured, kept per GPU
//! model and size for later runs to compare against.

use super::failure::Failure;
use crate::baseline::{Baselines, Entry};
use crate::checks::tensorflow_throughput::H2D_MEASURE;
use crate::checks::{CheckKind, RunContext};
use crate::exit::Exit;
use crate::facts::Facts;
use crate::outcome::Outcome;
use crate::plan::Plan;
use std::path::Path;

/// Upserts every measurement of the run's throughput checks into `path`,
/// keyed by the model of the device each ran on, from the facts.
pub fn record(
    plan: &Plan,
    outcomes: &[Option<Outcome>],
    facts: &Facts,
    path: &Path,
) -> Result<Exit, Failure> {
    let mut baselines = Baselines::load_or_empty(path).map_err(Failure::usage)?;
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
            eprintln!(
                "gpugate: nothing recorded for {}: {}",
                check.test_name, verdict.message
            );
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
            eprintln!("gpugate: recorded {model} {measure} at size {size}: {value:.3}");
            count += 1;
        }
    }
    if count == 0 {
        return Err(Failure::failed(format!(
            "no throughput was measured; {} left unchanged",
            path.display()
        )));
    }
    baselines.save(path).map_err(Failure::unwritable)?;
    eprintln!(
        "gpugate: {count} baseline entries written to {}",
        path.display()
    );
    Ok(Exit::Success)
}
