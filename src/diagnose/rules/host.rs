//! Rules of the `HostCpu` family: the host CPU against the build.

use super::*;

/// TensorFlow's x86-64 wheels are built with AVX: without it, loading them
/// dies with SIGILL before TensorFlow can say anything.
pub(super) fn cpu_without_avx(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    if f.host.cpu_avx != Some(false) {
        return vec![];
    }
    let cpu = f.host.cpu_model.as_deref().unwrap_or("this CPU");
    finding(
        Severity::Error,
        format!("{cpu} has no AVX, and TensorFlow's x86-64 wheels are built with AVX: loading them dies with SIGILL (\"Illegal instruction\")"),
        "run on a CPU with AVX (every x86-64 server CPU since 2011); in a virtual machine, expose the host CPU's features (e.g. QEMU/KVM `-cpu host`, or a CPU model with AVX); otherwise build TensorFlow from source without AVX".into(),
        vec!["/proc/cpuinfo flags: no avx".into()],
    )
}
