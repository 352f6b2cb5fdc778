//! `gpugate facts` and `gpugate doctor` as text; `--format json` serializes
//! the same values.

use crate::diagnose::{self, Finding, Severity};
use crate::facts::Facts;
use crate::facts::driver::{DriverProbe, Field};
use crate::facts::loader::{LoaderCheck, LoaderOutcome};
use crate::moment::Moment;
use serde::Serialize;
use std::fmt::Write;

fn field<T: std::fmt::Display>(f: &Field<T>) -> String {
    match f {
        Field::Value(v) => v.to_string(),
        Field::Unsupported => "not supported".into(),
        Field::Error(e) => format!("error: {e}"),
    }
}

/// A field that has no value, in words.
fn state<T>(f: &Field<T>) -> String {
    match f {
        Field::Value(_) => "present".into(),
        Field::Unsupported => "not supported".into(),
        Field::Error(e) => format!("error: {e}"),
    }
}

/// The snapshot, grouped as a person reads it.
pub fn facts_text(facts: &Facts) -> String {
    let mut out = String::new();
    let h = &facts.host;
    let _ = writeln!(out, "host");
    let _ = writeln!(
        out,
        "  name {}, {}, kernel {}, glibc {}",
        h.hostname,
        h.os,
        h.kernel,
        h.glibc.as_deref().unwrap_or("unknown")
    );
    if let Some(c) = &h.container {
        let _ = writeln!(out, "  container: {c}");
    }
    if h.root != std::path::Path::new("/") {
        let _ = writeln!(out, "  host root: {}", h.root.display());
    }
    match &h.nvidia {
        Ok(p) => {
            let _ = writeln!(
                out,
                "  kernel driver {} with {} GPU(s)",
                p.driver.as_deref().unwrap_or("(version unknown)"),
                p.gpus
            );
        }
        Err(why) => {
            let _ = writeln!(out, "  {why}");
        }
    }
    let nodes = if h.dev_nodes.is_empty() {
        "none".to_string()
    } else {
        h.dev_nodes.join(" ")
    };
    let _ = writeln!(out, "  /dev nodes: {nodes}");
    let _ = writeln!(out, "  {}", below_text(&h.below));
    if h.mps.present() {
        let _ = writeln!(
            out,
            "  MPS: {}/control {}, control daemon pid(s) {:?}, server pid(s) {:?}",
            h.mps.pipe_directory,
            if h.mps.control { "exists" } else { "missing" },
            h.mps.daemons,
            h.mps.servers
        );
    }
    // The visibility variables always (unset is a fact); the others where set.
    for (k, v) in h
        .env
        .iter()
        .filter(|(k, v)| v.is_some() || crate::host::VISIBILITY_VARS.contains(&k.as_str()))
    {
        let _ = writeln!(
            out,
            "  {k}={}",
            v.as_deref()
                .map_or("(unset)".to_string(), |v| format!("\"{v}\""))
        );
    }
    let _ = writeln!(out, "driver");
    match &facts.driver {
        DriverProbe::Found(d) => {
            let _ = writeln!(
                out,
                "  NVIDIA driver {} (CUDA {}), NVML {} from {}",
                d.version,
                field(&d.cuda),
                field(&d.nvml_version),
                d.library
            );
            let cc =
                d.confidential_computing
                    .value()
                    .map_or(state(&d.confidential_computing), |cc| {
                        match (cc.enabled, cc.gpus_ready) {
                            (false, _) => "off".to_string(),
                            (true, ready) => format!(
                                "on ({}), GPUs {}",
                                cc.environment,
                                if ready { "ready" } else { "NOT ready" }
                            ),
                        }
                    });
            let _ = writeln!(out, "  confidential computing: {cc}");
            for g in &d.gpus {
                // Nothing else can be read of it: one line, not a field each.
                if let Some(u) = &g.unreachable {
                    let _ = writeln!(
                        out,
                        "  GPU {}: {}: {}",
                        g.index,
                        if u.lost { "LOST" } else { "UNREACHABLE" },
                        u.error
                    );
                    continue;
                }
                let mem = g.memory.value().map_or(state(&g.memory), |m| {
                    format!("{} MiB total, {} MiB free", m.total_mib, m.free_mib)
                });
                let _ = writeln!(
                    out,
                    "  {}: capability {}, {mem}, {}",
                    g.label(),
                    field(&g.compute_capability),
                    field(&g.pci_bus_id)
                );
                let _ = writeln!(
                    out,
                    "    uuid {}, ECC {}, uncorrected (volatile/aggregate) {}/{}, retired pending {}, MIG {}, persistence {}",
                    field(&g.uuid),
                    field(&g.ecc_enabled),
                    field(&g.ecc_uncorrected_volatile),
                    field(&g.ecc_uncorrected_aggregate),
                    field(&g.retired_pages_pending),
                    field(&g.mig_enabled),
                    field(&g.persistence_mode)
                );
                let _ = writeln!(out, "    compute mode {}", field(&g.compute_mode));
                if g.mig_enabled.value() == Some(&true) {
                    let devices = match &g.mig_devices {
                        Field::Value(d) if d.is_empty() => {
                            "none (CUDA can use nothing here)".into()
                        }
                        Field::Value(d) => d.join(", "),
                        other => state(other),
                    };
                    let _ = writeln!(out, "    MIG devices: {devices}");
                }
                let throttle = g
                    .throttle_reasons
                    .value()
                    .map_or(state(&g.throttle_reasons), |r| {
                        if r.is_empty() {
                            "none".into()
                        } else {
                            r.join(",")
                        }
                    });
                let procs = g
                    .processes
                    .value()
                    .map_or("?".to_string(), |p| p.len().to_string());
                let _ = writeln!(
                    out,
                    "    {} °C, {} W, throttle: {throttle}, processes: {procs}",
                    field(&g.temperature_c),
                    field(&g.power_watts)
                );
                let _ = writeln!(out, "    {}", gpu_state_line(&g.state));
            }
        }
        other => {
            let _ = writeln!(out, "  {}", other.why_missing());
        }
    }
    let b = &facts.tensorflow.build;
    let _ = writeln!(out, "tensorflow");
    let _ = writeln!(out, "  {} (from {})", b.describe(), b.source);
    if !b.archs.is_empty() {
        let _ = writeln!(out, "  kernels: {}", b.archs.join(", "));
    }
    if let Some(report) = &facts.tensorflow.load {
        match &report.loaded {
            Some(l) => {
                let _ = writeln!(
                    out,
                    "  loaded {} from {} ({}) in {:.2}s",
                    l.version,
                    l.path.display(),
                    l.source,
                    l.load_seconds
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  {}",
                    report.not_loaded_reason().replace('\n', "\n  ")
                );
            }
        }
    }
    if let Some(Ok(devices)) = &facts.tensorflow.devices {
        let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
        let _ = writeln!(out, "  devices: {}", names.join(", "));
    }
    if let Some(check) = &facts.tensorflow.loader {
        let _ = writeln!(out, "  {}", loader_line(check).replace('\n', "\n  "));
    }
    if !facts.libraries.is_empty() || facts.libraries_error.is_some() {
        let _ = writeln!(out, "libraries the build needs");
    }
    if let Some(e) = &facts.libraries_error {
        let _ = writeln!(out, "  probe failed: {e}");
    }
    for lib in &facts.libraries {
        let line = match &lib.resolved {
            Some(c) => format!(
                "{} {} ({})",
                lib.soname,
                c.version
                    .as_ref()
                    .map_or("version unknown".into(), |v| v.to_string()),
                c.path.display()
            ),
            None => format!(
                "{} NOT FOUND: {}",
                lib.soname,
                lib.error.as_deref().unwrap_or("")
            ),
        };
        let _ = writeln!(out, "  {line}");
        for c in lib
            .copies
            .iter()
            .filter(|c| Some(&c.path) != lib.resolved.as_ref().map(|r| &r.path))
        {
            let _ = writeln!(
                out,
                "    also: {} ({})",
                c.path.display(),
                c.version.as_ref().map_or("?".into(), |v| v.to_string())
            );
        }
        for c in &lib.other_versions {
            let _ = writeln!(
                out,
                "    other version: {} ({})",
                c.path.display(),
                c.version.as_ref().map_or("?".into(), |v| v.to_string())
            );
        }
        if let Some(api) = &lib.driver_api {
            match &api.init_error {
                Some(e) => {
                    let _ = writeln!(out, "    cuInit: {e}");
                }
                None => {
                    let _ = writeln!(
                        out,
                        "    cuInit: ok, {} device(s)",
                        api.device_count.map_or("?".into(), |n| n.to_string())
                    );
                    let unknown = |n: Option<String>| n.unwrap_or_else(|| "?".into());
                    for d in &api.devices {
                        let _ = writeln!(
                            out,
                            "    CUDA device {} ({}): {} multiprocessors, memory pools {}",
                            d.ordinal,
                            unknown(d.pci_bus_id.clone()),
                            unknown(d.multiprocessors.map(|n| n.to_string())),
                            unknown(d.memory_pools.map(|p| if p { "yes" } else { "no" }.into()))
                        );
                    }
                }
            }
        }
    }
    out
}

/// The PCI bus and the kernel modules, in two lines.
fn below_text(below: &crate::host::below::Below) -> String {
    let pci = match &below.pci {
        Ok(bus) if bus.nvidia.is_empty() => {
            format!("PCI bus: {} functions, no NVIDIA GPU", bus.functions)
        }
        Ok(bus) => format!(
            "PCI bus: {} functions; NVIDIA: {}",
            bus.functions,
            bus.nvidia
                .iter()
                .map(|g| format!(
                    "{} {} (driver: {})",
                    g.address,
                    g.device,
                    g.driver.as_deref().unwrap_or("none")
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(why) => format!("PCI bus not read: {why}"),
    };
    let modules = match &below.modules {
        Ok(m) => format!(
            "kernel modules: {} loaded; nvidia.ko for kernel {} (running {})",
            if m.loaded.is_empty() {
                "no NVIDIA or nouveau module".to_string()
            } else {
                m.loaded.join(", ")
            },
            if m.nvidia_module_for.is_empty() {
                "none found".to_string()
            } else {
                m.nvidia_module_for.join(", ")
            },
            m.running_kernel
        ),
        Err(why) => format!("kernel modules not read: {why}"),
    };
    format!("{pci}\n  {modules}")
}

/// What TensorFlow's own loader said, a line per library.
fn loader_line(check: &LoaderCheck) -> String {
    let head = format!("TensorFlow's loader in {}", check.framework.display());
    match &check.outcome {
        LoaderOutcome::Answered {
            entry,
            ok,
            libraries,
        } => {
            let mut text = format!("{head}: {entry} {}", if *ok { "succeeds" } else { "FAILS" });
            for lib in libraries {
                let _ = write!(
                    text,
                    "\n  {} {}",
                    lib.soname,
                    match (&lib.path, &lib.error) {
                        (Some(path), _) => format!(
                            "{} ({})",
                            lib.version
                                .as_ref()
                                .map_or("version unknown".into(), |v| v.to_string()),
                            path.display()
                        ),
                        (None, error) => format!("NOT LOADED: {}", error.as_deref().unwrap_or("")),
                    }
                );
            }
            text
        }
        LoaderOutcome::Unsupported { why } => format!("{head}: could not be asked: {why}"),
        LoaderOutcome::Failed { why, .. } => format!("{head}: did not answer: {why}"),
    }
}

pub fn healthy(findings: &[Finding]) -> bool {
    !findings.iter().any(|f| f.severity == Severity::Error)
}

pub fn doctor_text(facts: &Facts, findings: &[Finding]) -> String {
    let mut out = facts_text(facts);
    let _ = writeln!(out);
    if findings.is_empty() {
        let _ = writeln!(
            out,
            "diagnoses: none; this machine can run {} on its GPUs",
            facts.tensorflow.build.describe()
        );
    }
    for f in findings {
        let _ = writeln!(out, "{}\n", diagnose::render(f));
    }
    let count = |level| findings.iter().filter(|f| f.severity == level).count();
    let _ = write!(
        out,
        "doctor: {} error(s), {} warning(s)",
        count(Severity::Error),
        count(Severity::Warning)
    );
    let notes = count(Severity::Note);
    if notes > 0 {
        let _ = write!(out, ", {notes} note(s)");
    }
    let _ = writeln!(out);
    out
}

#[derive(Serialize)]
pub struct DoctorJson<'a> {
    pub schema_version: u32,
    pub healthy: bool,
    /// When doctor was asked: what GPUs held by processes meant.
    pub moment: Moment,
    pub diagnoses: &'a [Finding],
    pub facts: &'a Facts,
}

/// What NVIDIA's health tools read of a GPU, in one line.
fn gpu_state_line(s: &crate::facts::gpu_state::GpuState) -> String {
    let inforom = match s.inforom_valid.value() {
        Some(true) => "valid".to_string(),
        Some(false) => "CORRUPT".to_string(),
        None => state(&s.inforom_valid),
    };
    let retired = s
        .retired_pages
        .value()
        .map_or(state(&s.retired_pages), |p| {
            format!(
                "{} single-bit, {} double-bit ({} this week)",
                p.single_bit, p.double_bit, p.double_bit_last_week
            )
        });
    let link = s.pcie_link.value().map_or(state(&s.pcie_link), |l| {
        format!(
            "gen {} x{} (max gen {} x{})",
            l.generation, l.width, l.max_generation, l.max_width
        )
    });
    let nvlink = s.nvlinks.value().map_or(state(&s.nvlinks), |links| {
        format!(
            "{} of {} up",
            links.iter().filter(|up| **up).count(),
            links.len()
        )
    });
    let fabric = s
        .fabric
        .value()
        .map_or(state(&s.fabric), |f| format!("{} ({})", f.state, f.status));
    let limits = s
        .temperature_limits
        .value()
        .map_or(state(&s.temperature_limits), |t| {
            format!("{} °C", t.max_operating_c)
        });
    let licence = match s.vgpu_licensed.value() {
        Some(true) => ", licensed".to_string(),
        Some(false) => ", UNLICENSED".to_string(),
        None => String::new(),
    };
    format!(
        "InfoROM {inforom}, retired pages {retired}, recovery action {}, PCIe {link}, NVLink {nvlink}, fabric {fabric}, max operating {limits}, virtualization {}{licence}",
        field(&s.recovery_action),
        field(&s.virtualization)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_and_doctor_of_a_machine_with_findings() {
        let facts = crate::report::testing::sample_run().facts;
        let findings = crate::diagnose::diagnose(&crate::diagnose::Evidence {
            facts: &facts,
            log: &facts.tensorflow.log,
        });
        assert!(!healthy(&findings), "{findings:?}");
        crate::snapshot::assert_snapshot("reporters", "facts.txt", &facts_text(&facts));
        let text = format!(
            "{}--- the node condition\n{}\n",
            doctor_text(&facts, &findings),
            crate::report::verdict::condition_message(&facts, &findings)
        );
        crate::snapshot::assert_snapshot("reporters", "doctor.txt", &text);
    }
}
