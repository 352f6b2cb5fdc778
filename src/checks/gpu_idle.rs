//! `gpu.idle`: no other process holds a compute context on any GPU.

use crate::checks::kind::facts_kind;
use crate::diagnose::Family;

use super::with_gpus;
use crate::facts::Facts;
use crate::facts::driver::Driver;
use crate::facts::driver::Field;
use crate::outcome::Verdict;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Process names (as in /proc/PID/comm) that may run, e.g. a DCGM exporter.
    #[serde(default)]
    pub ignore: Vec<String>,
}

impl Spec {
    pub fn judge(&self, facts: &Facts) -> Verdict {
        with_gpus(facts, |driver| self.judge_driver(driver))
    }

    fn judge_driver(&self, driver: &Driver) -> Verdict {
        let me = std::process::id();
        let mut busy = Vec::new();
        for gpu in &driver.gpus {
            let processes = match &gpu.processes {
                Field::Value(p) => p,
                // Not knowing who runs on a GPU is not the same as it being idle.
                Field::Unsupported => {
                    return Verdict::error(format!(
                        "{}: NVML cannot list its processes",
                        gpu.label()
                    ));
                }
                Field::Error(e) => {
                    return Verdict::error(format!(
                        "{}: listing its processes failed: {e}",
                        gpu.label()
                    ));
                }
            };
            for p in processes.iter().filter(|p| p.pid != me) {
                if p.name.as_ref().is_some_and(|n| self.ignore.contains(n)) {
                    continue;
                }
                busy.push(format!(
                    "{}: pid {} ({}, {})",
                    gpu.label(),
                    p.pid,
                    p.name.as_deref().unwrap_or("name not visible"),
                    p.used_mib
                        .map_or("memory unknown".into(), |m| format!("{m} MiB"))
                ));
            }
        }
        if busy.is_empty() {
            Verdict::pass(format!(
                "no foreign process on {} GPU(s)",
                driver.gpus.len()
            ))
        } else {
            Verdict::fail(format!("{} foreign process(es) on the GPUs", busy.len()))
                .with_detail(busy.join("\n"))
        }
    }
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "";

facts_kind! {
    explained_by: &[Family::Driver, Family::GpuBusy],
    reads_loaded_tensorflow: false,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{facts_with_driver, gpu, spec};
    use crate::facts::driver::GpuProcess;
    use crate::outcome::Status;

    #[test]
    fn no_gpu_is_not_an_idle_gpu() {
        let facts = facts_with_driver("580.65.06", &[]);
        let v = spec::<Spec>("").judge(&facts);
        assert_eq!(v.status, Status::Fail);
        assert_eq!(v.message, "NVML lists no GPU");
    }

    #[test]
    fn foreign_processes_fail_unless_ignored() {
        let mut g = gpu(0, "L4", (8, 9));
        g.processes = Field::Value(vec![GpuProcess {
            pid: 4242,
            name: Some("python3".into()),
            used_mib: Some(2048),
        }]);
        let facts = facts_with_driver("550.54.14", &[g]);
        let v = spec::<Spec>("").judge(&facts);
        assert_eq!(v.status, Status::Fail);
        assert!(v.detail.unwrap().contains("pid 4242 (python3, 2048 MiB)"));
        assert_eq!(
            spec::<Spec>("ignore = ['python3']").judge(&facts).status,
            Status::Pass
        );
    }
}
