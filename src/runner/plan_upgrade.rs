//! Planning an upgrade: the machine judged against a driver or TensorFlow
//! release it does not have yet, with the same rules, before a change is
//! rolled out (`doctor --for-driver`, `doctor --releases`).

use crate::compat::{self, TF_BUILDS};
use crate::diagnose::{self, Evidence, Finding, Severity};
use crate::facts::build::TfBuild;
use crate::facts::driver::{DriverProbe, Field};
use crate::facts::{self, Facts, ProbeOptions, TfFacts};
use crate::host::HostFacts;
use crate::progress::{Progress, QUIET, Unit};
use crate::version::Version;
use crate::worker::Pool;
use serde::Serialize;
use std::collections::HashMap;

/// `--for-driver` without GPUs to judge: why NVML listed none.
#[derive(Debug, thiserror::Error)]
#[error(
    "--for-driver judges this machine's GPUs under another driver, and NVML could not list them here ({0})"
)]
pub struct NoGpusToJudge(String);

/// The facts as they would be with `driver` installed: its version, and
/// the newest CUDA it supports by NVIDIA's table. The GPUs stay this
/// machine's, so the driver must have answered.
pub fn assuming_driver(mut facts: Facts, driver: &Version) -> Result<Facts, NoGpusToJudge> {
    let DriverProbe::Found(found) = &mut facts.driver else {
        return Err(NoGpusToJudge(facts.driver.why_missing()));
    };
    found.version = driver.clone();
    found.cuda = match compat::cuda_of_driver(driver) {
        Some(cuda) => Field::Value(cuda),
        None => Field::Error(format!("driver {driver} is older than NVIDIA's table")),
    };
    found.library = format!("--for-driver {driver} (planned, not installed)");
    if let Ok(presence) = &mut facts.host.nvidia {
        presence.driver = Some(driver.to_string());
    }
    Ok(facts)
}

/// What one release would do on this machine.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseVerdict {
    pub release: String,
    /// "works", "works with warnings" or "fails".
    pub verdict: &'static str,
    /// The first error's (else warning's) id and cause: why, in one line.
    pub why: Option<String>,
    pub diagnoses: Vec<Finding>,
}

/// The releases `--releases` judges: the CUDA builds of 2.15 to 2.21.
pub fn releases() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = TF_BUILDS
        .iter()
        .flat_map(|r| r.releases.iter().copied())
        .filter(|r| {
            Version::parse(r).is_some_and(|v| v >= Version::parse("2.15").expect("literal"))
        })
        .collect();
    all.sort_by_key(|r| Version::parse(r));
    all.reverse();
    all
}

/// Each release of `releases` judged against `facts` (probed once for
/// the libraries each distinct CUDA and cuDNN major needs).
pub fn judge_releases(
    pool: &Pool,
    opts: &ProbeOptions,
    host: &HostFacts,
    facts: &Facts,
    say: &mut dyn FnMut(&str),
) -> Vec<ReleaseVerdict> {
    let mut probed: HashMap<Vec<String>, (Vec<facts::libraries::LibraryFact>, Option<String>)> =
        HashMap::new();
    let releases = releases();
    let mut progress = Progress::on_stderr(
        "judging TensorFlow releases",
        releases.len() as u64,
        Unit::Items("releases"),
    )
    .quiet_for(QUIET);
    let verdicts = releases
        .into_iter()
        .enumerate()
        .map(|(done, release)| {
            let build = TfBuild::from_target(release).expect("a release of the table");
            let key: Vec<String> = build.needs().iter().map(|n| n.soname.clone()).collect();
            let (libraries, libraries_error) = probed
                .entry(key)
                .or_insert_with(|| super::probe::libraries(pool, opts, host, &build))
                .clone();
            let judged = Facts {
                tensorflow: TfFacts {
                    build,
                    load: None,
                    devices: None,
                    log: String::new(),
                    loader: None,
                    xla: None,
                    distributions: Vec::new(),
                },
                libraries,
                libraries_error,
                ..facts.clone()
            };
            let findings = diagnose::diagnose(&Evidence {
                facts: &judged,
                log: "",
            });
            progress.update(done as u64 + 1, say);
            verdict(release, findings)
        })
        .collect();
    progress.finish();
    verdicts
}

fn verdict(release: &str, findings: Vec<Finding>) -> ReleaseVerdict {
    let worst = findings
        .iter()
        .find(|f| f.severity == Severity::Error)
        .or_else(|| findings.first());
    let verdict = match worst.map(|f| f.severity) {
        Some(Severity::Error) => "fails",
        Some(Severity::Warning) => "works with warnings",
        Some(Severity::Note) | None => "works",
    };
    ReleaseVerdict {
        release: release.to_string(),
        verdict,
        why: worst.map(|f| format!("[{}] {}", f.id, f.cause)),
        diagnoses: findings,
    }
}

/// The table `doctor --releases` prints: a line per release.
pub fn releases_text(verdicts: &[ReleaseVerdict]) -> String {
    let mut text = String::from("TensorFlow releases on this machine:\n");
    for v in verdicts {
        let why = v
            .why
            .as_deref()
            .map(|w| crate::text::cap(w, 160, 0))
            .unwrap_or_default();
        text.push_str(&format!("  {:<6} {:<20} {why}\n", v.release, v.verdict));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_are_2_15_to_2_21_newest_first() {
        let all = releases();
        assert_eq!(all.first(), Some(&"2.21"));
        assert_eq!(all.last(), Some(&"2.15"));
        assert_eq!(all.len(), 7);
    }

    #[test]
    fn a_release_fails_on_its_first_error() {
        let warning = Finding {
            id: "compute-capability-ptx-jit",
            severity: Severity::Warning,
            cause: "JIT".into(),
            fix: String::new(),
            evidence: vec![],
        };
        let error = Finding {
            id: "driver-too-old",
            severity: Severity::Error,
            cause: "driver 470 is too old".into(),
            ..warning.clone()
        };
        assert_eq!(verdict("2.21", vec![]).verdict, "works");
        assert_eq!(
            verdict("2.21", vec![warning.clone()]).verdict,
            "works with warnings"
        );
        let v = verdict("2.21", vec![warning, error]);
        assert_eq!(v.verdict, "fails");
        assert!(v.why.unwrap().starts_with("[driver-too-old]"));
    }
}
