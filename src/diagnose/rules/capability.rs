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
                compat::coverage(cc, &f.tensorflow.build.archs),
            ))
        })
        .collect()
}

pub(super) fn capability_unsupported(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let bad: Vec<_> = capability_findings(f)
        .into_iter()
        .filter(|(_, _, c)| matches!(c, Coverage::None { .. }))
        .collect();
    let Some((_, cc, Coverage::None { lowest })) = bad.first().cloned() else {
        return vec![];
    };
    let archs = f.tensorflow.build.archs.join(", ");
    let mut fix = format!(
        "run on a GPU of compute capability {} or newer",
        lowest
            .as_deref()
            .and_then(crate::compat::Capability::parse_arch)
            .map_or("?".into(), |c| c.to_string())
    );
    if let Some(tf) = compat::newest_tf_where(|row| {
        let archs: Vec<String> = row.archs.iter().map(|s| s.to_string()).collect();
        !matches!(compat::coverage(cc, &archs), Coverage::None { .. })
    }) {
        fix.push_str(&format!(
            ", or use TensorFlow {tf}, the newest build with kernels for {cc}"
        ));
    } else {
        fix.push_str(&format!("; no TensorFlow build in the table supports {cc}"));
    }
    let mut evidence: Vec<String> = bad
        .iter()
        .map(|(l, c, _)| format!("{l}: compute capability {c}"))
        .collect();
    evidence.push(format!(
        "the build's kernels: {archs} (from {})",
        f.tensorflow.build.source
    ));
    evidence.extend(log_lines(e, |ev| {
        matches!(ev, LogEvent::IgnoredDevice { .. })
    }));
    finding(
        Severity::Error,
        format!(
            "{} cannot run on {}: compute capability {cc} is below the build's lowest kernel {}",
            f.tensorflow.build.describe(),
            bad.iter()
                .map(|(l, _, _)| l.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            lowest.unwrap_or_default()
        ),
        fix,
        evidence,
    )
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
