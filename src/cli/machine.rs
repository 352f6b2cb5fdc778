//! `gpugate facts` and `gpugate doctor`: the machine, and what is wrong with
//! it. TensorFlow is looked for (never downloaded) and loaded in a worker,
//! unless `--for-tensorflow` names the build to judge.

use super::failure::Failure;
use super::{Format, MachineArgs};
use crate::diagnose;
use crate::exit::Exit;
use crate::host::HostFacts;
use crate::redact::scrub;
use crate::report;
use crate::runner::{self, TfOptions};

pub fn facts_or_doctor(args: MachineArgs, doctor: bool) -> Result<Exit, Failure> {
    let MachineArgs {
        format,
        probe,
        tensorflow_lib,
        for_driver,
        releases,
    } = args;
    if releases && !doctor {
        return Err(Failure::usage(
            "--releases is doctor's (`gpugate doctor --releases`)",
        ));
    }
    super::install_signal_handlers();
    let host = HostFacts::gather(&probe.host_root);
    let tf = TfOptions {
        explicit: tensorflow_lib,
        version: None,
        offline: true,
    };
    // facts and doctor run one request at a time.
    let pool = runner::new_pool(1);
    let load_tf = probe.for_tensorflow.is_none() && !releases;
    let facts = runner::gather_facts(&pool, &tf, load_tf, &[], &probe.options(), &host);
    let facts = match for_driver {
        Some(driver) => runner::with_driver(facts, &driver).map_err(|e| {
            pool.shutdown();
            Failure::usage(e)
        })?,
        None => facts,
    };
    if releases {
        let verdicts = runner::judge_releases(&pool, &probe.options(), &host, &facts);
        pool.shutdown();
        match format {
            Format::Text => print!("{}", scrub(&runner::releases_text(&verdicts))),
            Format::Json => println!(
                "{}",
                scrub(&serde_json::to_string_pretty(&verdicts).expect("verdicts serialize"))
            ),
        }
        return Ok(Exit::Success);
    }
    pool.shutdown();
    if !doctor {
        match format {
            Format::Text => print!("{}", scrub(&report::doctor::facts_text(&facts))),
            Format::Json => println!(
                "{}",
                scrub(
                    &serde_json::to_string_pretty(&report::json::FactsJson {
                        schema_version: report::json::SCHEMA_VERSION,
                        facts: &facts,
                    })
                    .expect("facts serialize")
                )
            ),
        }
        return Ok(Exit::Success);
    }
    let findings = diagnose::diagnose(&diagnose::Evidence {
        facts: &facts,
        log: &facts.tensorflow.log,
    });
    let healthy = report::doctor::healthy(&findings);
    match format {
        Format::Text => print!("{}", scrub(&report::doctor::doctor_text(&facts, &findings))),
        Format::Json => {
            let json = report::doctor::DoctorJson {
                schema_version: report::json::SCHEMA_VERSION,
                healthy,
                diagnoses: &findings,
                facts: &facts,
            };
            println!(
                "{}",
                scrub(&serde_json::to_string_pretty(&json).expect("doctor serializes"))
            );
        }
    }
    // Not a failure of the command: its verdict on the machine.
    Ok(if healthy {
        Exit::Success
    } else {
        Exit::ChecksFailed
    })
}
