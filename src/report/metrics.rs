//! `gpugate doctor --format prometheus`: the verdict on the machine as
//! Prometheus' text exposition format (version 0.0.4), which node_exporter's
//! textfile collector reads (`--out DIR/gpugate.prom`, written atomically).
//! Names follow Prometheus' conventions: the `gpugate_` prefix, base units
//! (`_bytes`, `_celsius`, `_seconds`), `_info` gauges of value 1 carrying
//! versions as labels, and one series per diagnosis rather than a label per
//! fact, so that an alert reads `gpugate_diagnosis{severity="error"} == 1`.

use crate::diagnose::{Finding, Severity};
use crate::facts::Facts;
use crate::facts::driver::Gpu;
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
            c if c.is_control() => {}
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
type Reading<'a> = (&'static str, &'static str, Vec<(&'a Gpu, f64)>);

/// One metric family: its HELP and TYPE lines, then its samples.
struct Family<'a> {
    out: &'a mut String,
}

impl<'a> Family<'a> {
    fn gauge(out: &'a mut String, name: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        Family { out }
    }

    fn sample(&mut self, name: &str, pairs: &[(&str, String)], value: f64) {
        let labels = if pairs.is_empty() {
            String::new()
        } else {
            labels(pairs)
        };
        let _ = writeln!(self.out, "{name}{labels} {value}");
    }
}

/// The exposition text for `doctor`'s verdict; `now` is the Unix time it
/// is written at.
pub fn render(facts: &Facts, findings: &[Finding], now: f64) -> String {
    let mut out = String::new();
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    Family::gauge(
        &mut out,
        "gpugate_healthy",
        "1 when gpugate doctor found no error diagnosis on this machine, 0 otherwise.",
    )
    .sample("gpugate_healthy", &[], if errors == 0 { 1.0 } else { 0.0 });

    let mut diagnoses = Family::gauge(
        &mut out,
        "gpugate_diagnoses",
        "How many diagnoses gpugate doctor made, by severity.",
    );
    diagnoses.sample(
        "gpugate_diagnoses",
        &[("severity", "error".into())],
        errors as f64,
    );
    diagnoses.sample(
        "gpugate_diagnoses",
        &[("severity", "warning".into())],
        warnings as f64,
    );

    if !findings.is_empty() {
        let mut each = Family::gauge(
            &mut out,
            "gpugate_diagnosis",
            "A diagnosis gpugate doctor made, by id and severity (1 while it holds; `gpugate explain ID` says more).",
        );
        for f in findings {
            let severity = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            each.sample(
                "gpugate_diagnosis",
                &[("id", f.id.to_string()), ("severity", severity.into())],
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
        let ids = |g: &Gpu| {
            vec![
                ("index", g.index.to_string()),
                ("uuid", g.uuid.value().cloned().unwrap_or_default()),
            ]
        };
        let mut info = Family::gauge(
            &mut out,
            "gpugate_gpu_info",
            "Each GPU NVML lists, with its name and bus address (value 1).",
        );
        for g in &driver.gpus {
            let mut pairs = ids(g);
            pairs.push(("name", g.name.value().cloned().unwrap_or_default()));
            pairs.push((
                "pci_bus_id",
                g.pci_bus_id.value().cloned().unwrap_or_default(),
            ));
            info.sample("gpugate_gpu_info", &pairs, 1.0);
        }
        let mut up = Family::gauge(
            &mut out,
            "gpugate_gpu_up",
            "1 when NVML reaches the GPU, 0 when it is lost or out of reach.",
        );
        for g in &driver.gpus {
            up.sample(
                "gpugate_gpu_up",
                &ids(g),
                if g.unreachable.is_some() { 0.0 } else { 1.0 },
            );
        }
        let mib = |mib: u64| (mib * 1024 * 1024) as f64;
        let readings: [Reading; 3] = [
            (
                "gpugate_gpu_memory_free_bytes",
                "GPU memory free, as NVML reports it.",
                driver
                    .gpus
                    .iter()
                    .filter_map(|g| g.memory.value().map(|m| (g, mib(m.free_mib))))
                    .collect(),
            ),
            (
                "gpugate_gpu_memory_total_bytes",
                "GPU memory in all, as NVML reports it.",
                driver
                    .gpus
                    .iter()
                    .filter_map(|g| g.memory.value().map(|m| (g, mib(m.total_mib))))
                    .collect(),
            ),
            (
                "gpugate_gpu_temperature_celsius",
                "GPU temperature, as NVML reports it.",
                driver
                    .gpus
                    .iter()
                    .filter_map(|g| g.temperature_c.value().map(|t| (g, *t as f64)))
                    .collect(),
            ),
        ];
        // A reading no GPU answered is left out, not exported as zero.
        for (name, help, values) in readings.iter().filter(|(_, _, v)| !v.is_empty()) {
            let mut family = Family::gauge(&mut out, name, help);
            for (g, value) in values {
                family.sample(name, &ids(g), *value);
            }
        }
    }

    Family::gauge(
        &mut out,
        "gpugate_doctor_timestamp_seconds",
        "When gpugate doctor wrote this verdict (Unix time), so that a stale file can be alerted on.",
    )
    .sample("gpugate_doctor_timestamp_seconds", &[], now.floor());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{facts_with_driver, gpu};

    fn finding(id: &'static str, severity: Severity) -> Finding {
        Finding {
            id,
            severity,
            cause: "c".into(),
            fix: "f".into(),
            evidence: vec![],
        }
    }

    #[test]
    fn a_healthy_machine_and_a_broken_one() {
        let facts = facts_with_driver("580.65.06", &[gpu(0, "NVIDIA H100 80GB HBM3", (9, 0))]);
        let text = render(&facts, &[], 1796320000.5);
        assert!(text.contains("\ngpugate_healthy 1\n"), "{text}");
        assert!(
            text.contains("gpugate_diagnoses{severity=\"error\"} 0\n"),
            "{text}"
        );
        assert!(!text.contains("gpugate_diagnosis{"), "{text}");
        assert!(text.contains("driver=\"580.65.06\""), "{text}");
        assert!(text.contains("tensorflow=\"2.18.1\""), "{text}");
        assert!(text.contains("gpugate_gpu_up{index=\"0\""), "{text}");
        assert!(text.contains("name=\"NVIDIA H100 80GB HBM3\""), "{text}");
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
            ],
            0.0,
        );
        assert!(text.contains("\ngpugate_healthy 0\n"), "{text}");
        assert!(
            text.contains("gpugate_diagnosis{id=\"gpu-unreachable\",severity=\"error\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("gpugate_diagnoses{severity=\"warning\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd\te"), "a\\\"b\\\\c\\nde");
    }
}
