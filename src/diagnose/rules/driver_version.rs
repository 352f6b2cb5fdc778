//! Rules of the `DriverTooOld` and `DriverCompatibility` families: the driver against the build's CUDA.

use super::*;

/// (driver version, NVML's CUDA, needed CUDA, how they relate), where all are known.
pub(super) fn driver_vs_build(
    f: &Facts,
) -> Option<(Version, Option<Version>, Version, DriverSupport)> {
    let driver = f.driver.found()?;
    let needed = f.tensorflow.build.cuda.clone()?;
    if f.tensorflow.build.cuda_build == Some(false) {
        return None;
    }
    let support = compat::driver_support(&driver.version, driver.cuda.value(), &needed);
    Some((
        driver.version.clone(),
        driver.cuda.value().cloned(),
        needed,
        support,
    ))
}

pub(super) fn driver_too_old(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((
        driver,
        _,
        needed,
        DriverSupport::TooOld {
            driver_cuda,
            minor_compat_driver,
            toolkit_driver,
        },
    )) = driver_vs_build(f)
    else {
        return vec![];
    };
    let build = f.tensorflow.build.describe();
    let mut fix = match (&minor_compat_driver, &toolkit_driver) {
        (Some(minor), Some(full)) => format!(
            "upgrade the NVIDIA driver to {full} or newer (full support for CUDA {}); {minor} or newer runs it under minor-version compatibility (no PTX JIT)",
            needed.truncate(2)
        ),
        (_, Some(full)) => format!("upgrade the NVIDIA driver to {full} or newer"),
        _ => format!("upgrade the NVIDIA driver to one that supports CUDA {needed}"),
    };
    if let Some(tf) = compat::newest_tf_where(|row| {
        let cuda = Version::parse(row.cuda).expect("table");
        !matches!(
            compat::driver_support(&driver, Some(&driver_cuda), &cuda),
            DriverSupport::TooOld { .. }
        )
    }) {
        let row = compat::tf_row(&Version::parse(tf).expect("table")).expect("table");
        fix.push_str(&format!(
            ", or use TensorFlow {tf} (CUDA {}), which driver {driver} runs",
            row.cuda
        ));
    }
    let mut evidence = driver_and_build(f, &driver, &driver_cuda);
    evidence.extend(log_lines(e, |ev| {
        matches!(ev, LogEvent::CuInitFailed { .. })
    }));
    finding(
        Severity::Error,
        format!(
            "driver {driver} supports CUDA up to {driver_cuda}, but {build} needs CUDA {needed}"
        ),
        fix,
        evidence,
    )
}

/// The evidence the driver-versus-build rules share.
pub(super) fn driver_and_build(f: &Facts, driver: &Version, driver_cuda: &Version) -> Vec<String> {
    vec![
        format!("NVML: driver {driver}, supports CUDA up to {driver_cuda}"),
        format!(
            "{}, from {}",
            f.tensorflow.build.describe(),
            f.tensorflow.build.source
        ),
    ]
}

pub(super) fn gpus_needing_jit(f: &Facts) -> Vec<String> {
    let Some(driver) = f.driver.found() else {
        return vec![];
    };
    driver
        .gpus
        .iter()
        .filter(|g| {
            g.compute_capability.value().is_some_and(|cc| {
                matches!(
                    compat::coverage(
                        *cc,
                        &f.tensorflow.build.archs,
                        f.tensorflow.build.ptx_isa().as_ref()
                    ),
                    Coverage::PtxJit { .. }
                )
            })
        })
        .map(|g| g.label())
        .collect()
}

pub(super) fn driver_minor_compat(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((
        driver,
        _,
        needed,
        DriverSupport::MinorVersion {
            driver_cuda,
            toolkit_driver,
        },
    )) = driver_vs_build(f)
    else {
        return vec![];
    };
    let build = f.tensorflow.build.describe();
    let jit = gpus_needing_jit(f);
    let evidence = driver_and_build(f, &driver, &driver_cuda);
    if jit.is_empty() {
        finding(
            Severity::Warning,
            format!(
                "driver {driver} (CUDA {driver_cuda}) runs {build} only under CUDA minor-version compatibility: PTX JIT compilation is unavailable"
            ),
            format!(
                "upgrade the NVIDIA driver to {toolkit_driver} or newer for full CUDA {} support",
                needed.truncate(2)
            ),
            evidence,
        )
    } else {
        finding(
            Severity::Error,
            format!(
                "driver {driver} (CUDA {driver_cuda}) runs {build} only under minor-version compatibility, which cannot JIT-compile PTX; {} need PTX JIT for this build, so TensorFlow's kernels will fail there",
                jit.join(", ")
            ),
            format!("upgrade the NVIDIA driver to {toolkit_driver} or newer"),
            evidence,
        )
    }
}
