//! `gpugate doctor --format prometheus`: the verdict on the machine as
//! Prometheus' text exposition format (version 0.0.4), which node_exporter's
//! textfile collector reads (`--out DIR/gpugate.prom`, written atomically).
//! Names follow Prometheus' conventions: the `gpugate_` prefix, base units
//! (`_bytes`, `_celsius`, `_seconds`), `_info` gauges of value 1 carrying
//! versions as labels, and one series per diagnosis rather than a label per
//! fact, so that an alert reads `gpugate_diagnosis{level="error"} == 1`
//! (`level`, not `severity`: that label is Alertmanager routing's, and
//! the shipped alert rules set it).

use crate::diagnose::{Finding, Severity};
use crate::facts::Facts;
use crate::facts::driver::Gpu;
use crate::moment::Moment;
use std::collections::BTreeSet;
use std::fmt::Write;

/// A label value as the exposition format writes it: backslash, double
/// quote and line feed escaped.
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if crate::text::invisible(c) => {}
            c => out.push(c),
        }
    }
    out
}

fn labels(pairs: &[(&str, String)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// A per-GPU gauge: its name, its help, and each GPU's value.
type Reading<'a> = (&'static str, &'static str, Vec<(usize, f64)>);

/// What the file says about itself rather than the machine.
pub struct Stamp<'a> {
    /// When it was written (Unix time).
    pub now: f64,
    pub moment: Moment,
    /// The file's name in the textfile directory: every series carries it,
    /// so a second gpugate file there (a renamed `--out` left behind) is
    /// seen beside this one rather than silently shadowing it.
    pub file: Option<&'a str>,
}

/// One metric family: its HELP and TYPE lines, then its samples, each with
/// the file's label and never the same label set twice (node_exporter drops
/// a repeated series and logs an error on every scrape).
struct Family<'a> {
    out: &'a mut String,
    file: Option<&'a str>,
    seen: BTreeSet<String>,
}

impl<'a> Family<'a> {
    fn gauge(out: &'a mut String, file: Option<&'a str>, name: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        Family {
            out,
            file,
            seen: BTreeSet::new(),
        }
    }

    fn sample(&mut self, name: &str, pairs: &[(&str, String)], value: f64) {
        let mut pairs = pairs.to_vec();
        if let Some(file) = self.file {
            pairs.push(("file", file.to_string()));
        }
        let labels = if pairs.is_empty() {
            String::new()
        } else {
            labels(&pairs)
        };
        if self.seen.insert(labels.clone()) {
            let _ = writeln!(self.out, "{name}{labels} {value}");
        }
    }
}

/// The exposition text for `doctor`'s verdict.
pub fn render(facts: &Facts, findings: &[Finding], stamp: &Stamp) -> String {
    let mut out = String::new();
    let file = stamp.file;
    let count = |level: Severity| findings.iter().filter(|f| f.severity == level).count();
    Family::gauge(
        &mut out,
        file,
        "gpugate_healthy",
        "1 when gpugate doctor found no error diagnosis on this machine, 0 otherwise.",
    )
    .sample(
        "gpugate_healthy",
        &[],
        if count(Severity::Error) == 0 {
            1.0
        } else {
            0.0
        },
    );
    Family::gauge(
        &mut out,
        file,
        "gpugate_doctor_success",
        // Word for word as ci/prometheus/gpugate-textfile.sh writes it when
        // gpugate cannot: node_exporter drops a family whose HELP differs
        // between two files.
        "1 when gpugate doctor judged this machine; 0 when gpugate crashed, hung or was misconfigured, so there is no verdict.",
    )
    .sample("gpugate_doctor_success", &[], 1.0);

    let mut diagnoses = Family::gauge(
        &mut out,
        file,
        "gpugate_diagnoses",
        "How many diagnoses gpugate doctor made, by level (error, warning, note).",
    );
    for level in [Severity::Error, Severity::Warning, Severity::Note] {
        diagnoses.sample(
            "gpugate_diagnoses",
            &[("level", level.word().into())],
            count(level) as f64,
        );
    }

    if !findings.is_empty() {
        let mut each = Family::gauge(
            &mut out,
            file,
            "gpugate_diagnosis",
            "A diagnosis gpugate doctor made, by id and level (1 while it holds; `gpugate explain ID` says more).",
        );
        for f in findings {
            each.sample(
                "gpugate_diagnosis",
                &[
                    ("id", f.id.to_string()),
                    ("level", f.severity.word().into()),
                ],
                1.0,
            );
        }
    }

    let build = &facts.tensorflow.build;
    let driver = facts.driver.found();
    let library = |role| {
        facts
            .library(role)
            .and_then(|l| l.resolved.as_ref())
            .and_then(|c| c.version.as_ref())
            .map_or(String::new(), |v| v.to_string())
    };
    let version = |v: Option<&crate::version::Version>| v.map_or(String::new(), |v| v.to_string());
    Family::gauge(
        &mut out,
        file,
        "gpugate_stack_info",
        "The stack gpugate judged: driver, the CUDA it supports, the CUDA runtime and cuDNN found, and the TensorFlow build with the CUDA and cuDNN it needs (value 1; empty where unknown).",
    )
    .sample(
        "gpugate_stack_info",
        &[
            ("driver", driver.map_or(String::new(), |d| d.version.to_string())),
            (
                "driver_cuda",
                driver
                    .and_then(|d| d.cuda.value())
                    .map_or(String::new(), |c| c.to_string()),
            ),
            ("cuda_runtime", library(crate::compat::Role::Cudart)),
            ("cudnn", library(crate::compat::Role::Cudnn)),
            ("tensorflow", version(build.version.as_ref())),
            (
                "tensorflow_cuda_build",
                build.cuda_build.map_or(String::new(), |b| b.to_string()),
            ),
            ("tensorflow_cuda", version(build.cuda.as_ref())),
            ("tensorflow_cudnn", version(build.cudnn.as_ref())),
        ],
        1.0,
    );

    if let Some(driver) = driver.filter(|d| !d.gpus.is_empty()) {
        let buses = facts.bus_addresses(driver);
        // A lost GPU has no UUID to read: its bus address names it.
        let ids = |i: usize| {
            let g = &driver.gpus[i];
            vec![
                ("index", g.index.to_string()),
                ("uuid", g.uuid.value().cloned().unwrap_or_default()),
                ("pci_bus_id", buses[i].clone().unwrap_or_default()),
            ]
        };
        let mut info = Family::gauge(
            &mut out,
            file,
            "gpugate_gpu_info",
            "Each GPU NVML lists, with its name and bus address (value 1).",
        );
        for (i, g) in driver.gpus.iter().enumerate() {
            let mut pairs = ids(i);
            pairs.push(("name", g.name.value().cloned().unwrap_or_default()));
            info.sample("gpugate_gpu_info", &pairs, 1.0);
        }
        let mut up = Family::gauge(
            &mut out,
            file,
            "gpugate_gpu_up",
            "1 when NVML reaches the GPU, 0 when it is lost or out of reach.",
        );
        for (i, g) in driver.gpus.iter().enumerate() {
            up.sample(
                "gpugate_gpu_up",
                &ids(i),
                if g.unreachable.is_some() { 0.0 } else { 1.0 },
            );
        }
        let mib = |mib: u64| (mib * 1024 * 1024) as f64;
        let each = |read: &dyn Fn(&Gpu) -> Option<f64>| -> Vec<(usize, f64)> {
            driver
                .gpus
                .iter()
                .enumerate()
                .filter_map(|(i, g)| read(g).map(|v| (i, v)))
                .collect()
        };
        let readings: [Reading; 3] = [
            (
                "gpugate_gpu_memory_free_bytes",
                "GPU memory free, as NVML reports it.",
                each(&|g| g.memory.value().map(|m| mib(m.free_mib))),
            ),
            (
                "gpugate_gpu_memory_total_bytes",
                "GPU memory in all, as NVML reports it.",
                each(&|g| g.memory.value().map(|m| mib(m.total_mib))),
            ),
            (
                "gpugate_gpu_temperature_celsius",
                "GPU temperature, as NVML reports it.",
                each(&|g| g.temperature_c.value().map(|t| *t as f64)),
            ),
        ];
        // A reading no GPU answered is left out, not exported as zero.
        for (name, help, values) in readings.iter().filter(|(_, _, v)| !v.is_empty()) {
            let mut family = Family::gauge(&mut out, file, name, help);
            for (i, value) in values {
                family.sample(name, &ids(*i), *value);
            }
        }
    }

    Family::gauge(
        &mut out,
        file,
        "gpugate_build_info",
        "The gpugate that wrote this file, and the moment it judged for (value 1).",
    )
    .sample(
        "gpugate_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION").to_string()),
            ("moment", stamp.moment.word().to_string()),
        ],
        1.0,
    );
    Family::gauge(
        &mut out,
        file,
        "gpugate_doctor_timestamp_seconds",
        "When gpugate doctor wrote this verdict (Unix time), so that a stale file can be alerted on.",
    )
    .sample("gpugate_doctor_timestamp_seconds", &[], stamp.now.floor());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{facts_with_driver, gpu};

    fn finding(id: &'static str, severity: Severity) -> Finding {
        Finding::sample(id, severity)
    }

    fn stamp(now: f64) -> Stamp<'static> {
        Stamp {
            now,
            moment: Moment::WhileJobs,
            file: None,
        }
    }

    #[test]
    fn a_healthy_machine_and_a_broken_one() {
        let facts = facts_with_driver("580.65.06", &[gpu(0, "NVIDIA H100 80GB HBM3", (9, 0))]);
        let text = render(&facts, &[], &stamp(1796320000.5));
        assert!(text.contains("\ngpugate_healthy 1\n"), "{text}");
        assert!(text.contains("\ngpugate_doctor_success 1\n"), "{text}");
        assert!(
            text.contains("gpugate_diagnoses{level=\"error\"} 0\n"),
            "{text}"
        );
        assert!(!text.contains("gpugate_diagnosis{"), "{text}");
        assert!(!text.contains("severity="), "{text}");
        assert!(text.contains("driver=\"580.65.06\""), "{text}");
        assert!(text.contains("tensorflow=\"2.18.1\""), "{text}");
        assert!(text.contains("gpugate_gpu_up{index=\"0\""), "{text}");
        assert!(text.contains("name=\"NVIDIA H100 80GB HBM3\""), "{text}");
        assert!(
            text.contains(&format!(
                "gpugate_build_info{{version=\"{}\",moment=\"while-jobs\"}} 1\n",
                env!("CARGO_PKG_VERSION")
            )),
            "{text}"
        );
        assert!(
            text.ends_with("gpugate_doctor_timestamp_seconds 1796320000\n"),
            "{text}"
        );
        // Every family is announced once, before its samples.
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split_whitespace().nth(2).unwrap();
            assert_eq!(
                text.matches(&format!("# TYPE {name} ")).count(),
                1,
                "{name}"
            );
        }

        let text = render(
            &facts,
            &[
                finding("gpu-unreachable", Severity::Error),
                finding("gpu-busy", Severity::Warning),
                finding("gpu-memory-held", Severity::Note),
            ],
            &stamp(0.0),
        );
        assert!(text.contains("\ngpugate_healthy 0\n"), "{text}");
        assert!(
            text.contains("gpugate_diagnosis{id=\"gpu-unreachable\",level=\"error\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("gpugate_diagnosis{id=\"gpu-memory-held\",level=\"note\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("gpugate_diagnoses{level=\"warning\"} 1\n"),
            "{text}"
        );
    }

    /// Two GPUs with the same diagnosis make two findings but one series:
    /// node_exporter refuses a repeated series on every scrape.
    #[test]
    fn each_series_is_written_once_and_names_its_file() {
        let facts = facts_with_driver("580.65.06", &[gpu(0, "H100", (9, 0))]);
        let text = render(
            &facts,
            &[
                finding("gpu-unreachable", Severity::Error),
                finding("gpu-unreachable", Severity::Error),
            ],
            &Stamp {
                file: Some("gpugate.prom"),
                ..stamp(0.0)
            },
        );
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let series: BTreeSet<&str> = samples
            .iter()
            .map(|l| l.rsplit_once(' ').unwrap().0)
            .collect();
        assert_eq!(series.len(), samples.len(), "{text}");
        assert!(
            samples.iter().all(|l| l.contains("file=\"gpugate.prom\"")),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd\te"), "a\\\"b\\\\c\\nde");
    }
}
