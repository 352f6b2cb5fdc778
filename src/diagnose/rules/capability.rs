//! Rules of the `ComputeCapability` and `PtxJit` families: the GPU's architecture against the build's kernels.

use super::*;

pub(super) fn capability_findings(f: &Facts) -> Vec<(String, crate::compat::Capability, Coverage)> {
    let Some(driver) = f.driver.found() else {
        return vec![];
    };
    if f.tensorflow.build.archs.is_empty() {
        return vec![];
    }
    driver
        .gpus
        .iter()
        .filter_map(|g| {
            let cc = *g.compute_capability.value()?;
            Some((
                g.label(),
                cc,
                compat::coverage(
                    cc,
                    &f.tensorflow.build.archs,
                    f.tensorflow.build.ptx_isa().as_ref(),
                ),
            ))
        })
        .collect()
}

pub(super) fn capability_unsupported(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let bad: Vec<_> = capability_findings(f)
        .into_iter()
        .filter(|(_, _, c)| matches!(c, Coverage::None { .. } | Coverage::PtxTooOld { .. }))
        .collect();
    let Some((_, cc, coverage)) = bad.first().cloned() else {
        return vec![];
    };
    let build = &f.tensorflow.build;
    let archs = build.archs.join(", ");
    let gpus = bad
        .iter()
        .map(|(l, _, _)| l.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let newest = compat::newest_tf_where(|row| {
        let archs: Vec<String> = row.archs.iter().map(|s| s.to_string()).collect();
        let isa = Version::parse(row.cuda).and_then(|c| compat::ptx_isa_of_cuda(&c));
        !matches!(
            compat::coverage(cc, &archs, isa.as_ref()),
            Coverage::None { .. } | Coverage::PtxTooOld { .. }
        )
    });
    let (cause, mut fix) = match &coverage {
        Coverage::PtxTooOld { arch, isa, needed } => (
            format!(
                "{} cannot run on {gpus}: it has no machine code for compute capability {cc}, and its only PTX ({arch}, PTX ISA {isa}) is older than ISA {needed}, the first that can target {cc}; TensorFlow's kernels and XLA fail there (CUDA_ERROR_INVALID_PTX, \"PTX version {isa} does not support target\")",
                build.describe()
            ),
            String::from(
                "run on a GPU this build has kernels for (compute capability 9.0 or older)",
            ),
        ),
        _ => {
            let lowest = match &coverage {
                Coverage::None { lowest } => lowest.clone().unwrap_or_default(),
                _ => String::new(),
            };
            (
                format!(
                    "{} cannot run on {gpus}: compute capability {cc} is below the build's lowest kernel {lowest}",
                    build.describe()
                ),
                format!(
                    "run on a GPU of compute capability {} or newer",
                    crate::compat::Capability::parse_arch(&lowest)
                        .map_or("?".into(), |c| c.to_string())
                ),
            )
        }
    };
    match newest {
        Some(tf) => fix.push_str(&format!(
            ", or use TensorFlow {tf}, the newest build with kernels for {cc}"
        )),
        None if matches!(coverage, Coverage::PtxTooOld { .. }) => fix.push_str(&format!(
            "; no TensorFlow release in the table supports {cc}: use a build made with CUDA 12.8 or newer for it (NVIDIA's NGC TensorFlow container, or TensorFlow built from source)"
        )),
        None => fix.push_str(&format!("; no TensorFlow build in the table supports {cc}")),
    }
    let mut evidence: Vec<String> = bad
        .iter()
        .map(|(l, c, _)| format!("{l}: compute capability {c}"))
        .collect();
    evidence.push(format!(
        "the build's kernels: {archs} (from {})",
        build.source
    ));
    if let (Some(cuda), Some(isa)) = (&build.cuda, build.ptx_isa()) {
        evidence.push(format!(
            "the build's PTX ISA: {isa} (that of CUDA {cuda}, which compiled it)"
        ));
    }
    evidence.extend(log_lines(e, |ev| {
        matches!(ev, LogEvent::IgnoredDevice { .. })
    }));
    finding(Severity::Error, cause, fix, evidence)
}

pub(super) fn capability_ptx_jit(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let jit: Vec<_> = capability_findings(f)
        .into_iter()
        .filter_map(|(l, cc, c)| match c {
            Coverage::PtxJit { arch } => Some((l, cc, arch)),
            _ => None,
        })
        .collect();
    let Some((_, cc, arch)) = jit.first().cloned() else {
        return vec![];
    };
    let mut evidence: Vec<String> = jit
        .iter()
        .map(|(l, c, _)| format!("{l}: compute capability {c}"))
        .collect();
    evidence.push(format!(
        "the build's kernels: {} (from {})",
        f.tensorflow.build.archs.join(", "),
        f.tensorflow.build.source
    ));
    evidence.extend(log_lines(e, |ev| matches!(ev, LogEvent::PtxJit { .. })));
    finding(
        Severity::Warning,
        format!(
            "{} has no machine code for compute capability {cc}; the driver JIT-compiles its {arch} PTX at start-up (slow first run, up to 30 minutes)",
            f.tensorflow.build.describe()
        ),
        "keep the JIT cache between runs (CUDA_CACHE_PATH on a persistent volume, CUDA_CACHE_MAXSIZE=4294967296), or use a TensorFlow build with kernels for this architecture".into(),
        evidence,
    )
}
