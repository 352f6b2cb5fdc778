//! `gpugate facts` and `gpugate doctor`: the machine, and what is wrong with
//! it. TensorFlow is looked for (never downloaded) and loaded in a worker,
//! unless `--for-tensorflow` names the build to judge.

use super::failure::Failure;
use super::{Format, MachineArgs};
use crate::diagnose;
use crate::exit::{Ending, Exit};
use crate::host::HostFacts;
use crate::moment::Moment;
use crate::redact::scrub;
use crate::report::{self, verdict};
use crate::runner::{self, TfOptions};

/// Prints `text`, or writes it to `out` atomically.
fn emit(text: &str, out: Option<&std::path::Path>) -> Result<(), Failure> {
    // Host files and environment values reach this text: escaped, they
    // cannot drive the terminal that shows it.
    let text = scrub(text);
    let text = crate::text::escape_controls(&text);
    match out {
        None => {
            crate::procs::stdout_is_the_report();
            print!("{text}");
            Ok(())
        }
        Some(path) => crate::files::write_atomic(path, text.as_bytes())
            .map_err(|e| Failure::unwritable(format!("--out {}: {e}", path.display()))),
    }
}

fn json(value: &impl serde::Serialize) -> String {
    format!(
        "{}\n",
        serde_json::to_string_pretty(value).expect("documents serialize")
    )
}

pub fn facts_or_doctor(args: MachineArgs, doctor: bool) -> Result<Exit, Failure> {
    let MachineArgs {
        format,
        probe,
        tensorflow_lib,
        for_driver,
        releases,
        out,
        moment,
    } = args;
    if releases && !doctor {
        return Err(Failure::usage(
            "--releases is doctor's (`gpugate doctor --releases`)",
        ));
    }
    if matches!(
        format,
        Format::Prometheus | Format::Condition | Format::Slurm
    ) && (!doctor || releases)
    {
        return Err(Failure::usage(
            "--format prometheus, condition and slurm are doctor's verdict on the machine (`gpugate doctor --format prometheus`)",
        ));
    }
    if format == Format::Fingerprint && (doctor || probe.for_tensorflow.is_some()) {
        return Err(Failure::usage(
            "--format fingerprint is of the machine as it is (`gpugate facts --format fingerprint`), not of a release named with --for-tensorflow",
        ));
    }
    if moment != Moment::OnDemand && (!doctor || releases) {
        return Err(Failure::usage(
            "--moment is doctor's verdict on the machine (`gpugate doctor --moment while-jobs`)",
        ));
    }
    // Refused before the probes run, not after.
    if let Some(path) = &out {
        crate::files::writable_target(path)
            .map_err(|why| Failure::usage(format!("--out {}: {why}", path.display())))?;
        // A directory that is not there is a path no reader watches (a
        // textfile directory misspelt or of another distribution): made
        // silently, the metrics would never be scraped.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(Failure::usage(format!(
                "--out {}: the directory {} does not exist; gpugate does not create it (node_exporter's textfile directory is /var/lib/prometheus/node-exporter on Debian and Ubuntu, and whatever --collector.textfile.directory names elsewhere)",
                path.display(),
                dir.display()
            )));
        }
    }
    let out = out.as_deref();
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
        Some(driver) => runner::assuming_driver(facts, &driver).map_err(|e| {
            pool.shutdown();
            Failure::usage(e)
        })?,
        None => facts,
    };
    if releases {
        let mut say = |line: &str| eprintln!("{line}");
        let verdicts = runner::judge_releases(&pool, &probe.options(), &host, &facts, &mut say);
        pool.shutdown();
        match format {
            Format::Json => emit(&json(&verdicts), out)?,
            _ => emit(&runner::releases_text(&verdicts), out)?,
        }
        return Ok(Ending::Done.exit());
    }
    pool.shutdown();
    if !doctor {
        match format {
            Format::Fingerprint => {
                let boot = crate::input::host_value(
                    &probe.host_root.join("proc/sys/kernel/random/boot_id"),
                );
                emit(
                    &format!(
                        "{}\n",
                        report::fingerprint::fingerprint(&facts, boot.as_deref())
                    ),
                    out,
                )?
            }
            Format::Json => emit(
                &json(&report::json::FactsJson {
                    schema_version: report::json::SCHEMA_VERSION,
                    facts: &facts,
                }),
                out,
            )?,
            _ => emit(&report::doctor::facts_text(&facts), out)?,
        }
        return Ok(Ending::Done.exit());
    }
    let findings = moment.judge(diagnose::diagnose(&diagnose::Evidence {
        facts: &facts,
        log: &facts.tensorflow.log,
    }));
    let healthy = report::doctor::healthy(&findings);
    match format {
        Format::Fingerprint => unreachable!("doctor refuses --format fingerprint before probing"),
        Format::Text => emit(&report::doctor::doctor_text(&facts, &findings), out)?,
        Format::Json => emit(
            &json(&report::doctor::DoctorJson {
                schema_version: report::json::SCHEMA_VERSION,
                healthy,
                moment,
                diagnoses: &findings,
                facts: &facts,
            }),
            out,
        )?,
        Format::Prometheus => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let stamp = report::metrics::Stamp {
                now,
                moment,
                file: out.and_then(|p| p.file_name()).and_then(|n| n.to_str()),
            };
            emit(&report::metrics::render(&facts, &findings, &stamp), out)?
        }
        Format::Condition => emit(
            &format!("{}\n", verdict::condition_message(&facts, &findings)),
            out,
        )?,
        Format::Slurm => emit(
            &format!("{}\n", verdict::drain_reason(&facts, &findings)),
            out,
        )?,
    }
    // Not a failure of the command: its verdict on the machine.
    Ok(Ending::Machine { healthy }.exit())
}
