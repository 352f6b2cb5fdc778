//! Rules of the `HostCpu` and `HostRuntime` families: the host's CPU, C
//! library and C++ runtime against the build.

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

/// `version `GLIBCXX_3.4.30' not found (required by /x/libtensorflow_cc.so.2)`
/// in a loader error: (the version, the library that requires it).
static VERSION_NOT_FOUND: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"version `((?:GLIBC|GLIBCXX|CXXABI)_[0-9.]+)' not found \(required by ([^)]+)\)",
    )
    .expect("valid regex")
});

pub(super) fn host_runtime_too_old(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let build = &f.tensorflow.build;
    // What the loader said when TensorFlow did not load.
    let refused = f
        .tensorflow
        .load
        .iter()
        .flat_map(|r| &r.attempts)
        .filter_map(|a| a.error.as_deref())
        .find_map(|err| {
            VERSION_NOT_FOUND
                .captures(err)
                .map(|c| (c[1].to_string(), c[2].to_string(), err.to_string()))
        });
    if let Some((version, library, error)) = refused {
        let (what, fix) = if version.starts_with("GLIBC_") {
            (
                format!("the C library (glibc {}) is older than {library} needs ({version})", f.host.glibc.as_deref().unwrap_or("of unknown version")),
                "run on an OS with a newer glibc (TensorFlow's wheels name the oldest in their manylinux tag), or use an older TensorFlow release built for this one".to_string(),
            )
        } else {
            (
                format!("the C++ runtime the loader found (libstdc++.so.6) is older than {library} needs: it lacks {version}"),
                "use a newer libstdc++: the OS's libstdc++6 package, or in a conda environment `conda install -c conda-forge libstdcxx-ng`; when LD_LIBRARY_PATH puts an older libstdc++.so.6 first (a conda env, an old toolchain), drop that directory".to_string(),
            )
        };
        let mut evidence = vec![format!("loader: {error}")];
        if let Some(path) = f.host.var("LD_LIBRARY_PATH") {
            evidence.push(format!("LD_LIBRARY_PATH={path}"));
        }
        return finding(
            Severity::Error,
            format!("TensorFlow cannot load: {what}"),
            fix,
            evidence,
        );
    }
    // Before loading: the glibc the build's libraries require against this one's.
    let needed = build.requires.iter().find(|v| v.starts_with("GLIBC_2."));
    let (Some(needed), Some(host)) = (needed, f.host.glibc.as_deref()) else {
        return vec![];
    };
    let need_key = crate::facts::build::runtime_version_key(needed).1;
    let host_key = crate::facts::build::runtime_version_key(&format!("GLIBC_{host}")).1;
    if host_key.is_empty() || host_key >= need_key {
        return vec![];
    }
    finding(
        Severity::Error,
        format!(
            "{} requires {needed}, and this machine's glibc is {host}: its libraries will not load",
            build.describe()
        ),
        "run on an OS with a newer glibc, or use an older TensorFlow release built for this one"
            .into(),
        vec![
            format!("glibc {host} (gnu_get_libc_version)"),
            format!(
                "the build's libraries require {} ({})",
                build.requires.join(", "),
                build.source
            ),
        ],
    )
}
