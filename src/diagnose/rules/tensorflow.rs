//! Rules of the `TensorflowLoad`, `CpuOnlyBuild`, `CpuFallback` and `TensorflowSession` families: what TensorFlow itself did.

use super::*;

/// A TensorFlow that was looked for and did not load: nothing is healthy
/// without one, and no other build is judged in its place.
pub(super) fn tensorflow_does_not_load(e: &Evidence) -> Vec<Finding> {
    let Some(report) = e.facts.tensorflow.load.as_ref() else {
        return vec![];
    };
    if report.loaded.is_some() {
        return vec![];
    }
    let failed: Vec<&crate::tf::Attempt> = report
        .attempts
        .iter()
        .filter(|a| a.error.is_some())
        .collect();
    let cause = match failed.first() {
        Some(a) => format!(
            "libtensorflow did not load: {} ({}): {}",
            a.target,
            a.source,
            a.error.as_deref().unwrap_or_default()
        ),
        None => "no libtensorflow was found to load".to_string(),
    };
    finding(
        Severity::Error,
        cause,
        "reinstall the TensorFlow named (a truncated, foreign or mismatched file does not load), or point `TENSORFLOW_DIR` or `--tensorflow-lib` at one that loads; to judge a release without one, `gpugate doctor --for-tensorflow 2.20`; gpugate never judges another build in place of the one found or named".into(),
        report
            .attempts
            .iter()
            .map(|a| match &a.error {
                Some(error) => format!("{}: {}: {error}", a.source, a.target),
                None => format!("{}: {}: loaded", a.source, a.target),
            })
            .collect(),
    )
}

pub(super) fn tensorflow_cpu_only(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let count = gpu_count(f);
    if f.tensorflow.build.cuda_build != Some(false) || count == 0 {
        return vec![];
    }
    let version = f.tensorflow.build.pip_pin();
    finding(
        Severity::Error,
        format!(
            "{} is a CPU-only build on a machine with {count} NVIDIA GPU(s): it will never use them",
            f.tensorflow.build.describe()
        ),
        format!(
            "install the CUDA build: `python3 -m pip install tensorflow[and-cuda]{version}` (the `tensorflow-cpu` package has no GPU kernels), or `gpugate fetch-tensorflow --gpu`"
        ),
        vec![
            format!("build facts from {}", f.tensorflow.build.source),
            kernel_driver_evidence(f),
        ],
    )
}

pub(super) fn fell_back_to_cpu(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    if f.tensorflow.build.cuda_build == Some(false) || gpu_count(f) == 0 {
        return vec![];
    }
    let listed_no_gpu = matches!(&f.tensorflow.devices, Some(Ok(devices)) if !devices.iter().any(|d| d.device_type == "GPU"));
    let logged = log_lines(e, |ev| {
        matches!(
            ev,
            LogEvent::SkippedGpuRegistration
                | LogEvent::NoCudaDrivers
                | LogEvent::CuInitFailed { .. }
        )
    });
    if !listed_no_gpu && logged.is_empty() {
        return vec![];
    }
    let mut evidence = vec![kernel_driver_evidence(f)];
    if listed_no_gpu {
        evidence.push("TensorFlow's device list has no GPU".into());
    }
    evidence.extend(logged);
    finding(
        Severity::Error,
        format!("{} loaded but registered no GPU although this machine has {} GPU(s): it silently runs on the CPU", f.tensorflow.build.describe(), gpu_count(f)),
        "fix the causes listed beside this diagnosis (a missing CUDA library, cuDNN, driver or device nodes); to see every library TensorFlow failed to open, run with TF_CPP_MAX_VLOG_LEVEL=1".into(),
        evidence,
    )
}

/// TensorFlow loaded but could not list its devices (a session it could not
/// create, a worker that died): a fact gathered as a failure is never health.
pub(super) fn session_failed(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let loaded = f.tensorflow.load.as_ref().and_then(|l| l.loaded.as_ref());
    let (Some(loaded), Some(Err(error))) = (loaded, &f.tensorflow.devices) else {
        return vec![];
    };
    let mut evidence = vec![format!(
        "loaded {} from {}",
        loaded.version,
        loaded.path.display()
    )];
    evidence.extend(log_lines(e, |ev| {
        matches!(ev, LogEvent::CuInitFailed { .. })
    }));
    finding(
        Severity::Error,
        format!(
            "{} loads but cannot run: listing its devices failed: {}",
            f.tensorflow.build.describe(),
            crate::text::cap(error, 600, 200)
        ),
        "read TensorFlow's error above: a CUDA error at session creation usually names the driver or device (see the driver diagnoses beside this one); rerun with TF_CPP_MIN_LOG_LEVEL=0 for TensorFlow's full log".into(),
        evidence,
    )
}

/// More than one TensorFlow distribution owns the judged `tensorflow/`
/// directory (`tensorflow-cpu` installed over `tensorflow[and-cuda]`, or a
/// nightly over a release): its files are the last one's, which may be a CPU
/// build, and uninstalling either removes files the other needs.
pub(super) fn tensorflow_distributions_overlap(e: &Evidence) -> Vec<Finding> {
    let dists = &e.facts.tensorflow.distributions;
    if dists.len() < 2 {
        return vec![];
    }
    let names: Vec<String> = dists.iter().map(|d| d.requirement()).collect();
    let owner = dists.iter().find(|d| d.owns_library == Some(true));
    let whose = match owner {
        Some(d) => format!("its files are {}'s", d.requirement()),
        None => "no RECORD lists the library's size, so whose files these are is unknown".into(),
    };
    let dir = dists[0]
        .dist_info
        .parent()
        .map(|site| site.join("tensorflow").display().to_string())
        .unwrap_or_default();
    let wanted = dists
        .iter()
        .find(|d| d.name == "tensorflow")
        .map_or("tensorflow[and-cuda]".to_string(), |d| {
            format!("tensorflow[and-cuda]=={}", d.version)
        });
    let uninstall: Vec<&str> = dists.iter().map(|d| d.name.as_str()).collect();
    finding(
        Severity::Error,
        format!(
            "{} are installed over one TensorFlow directory ({dir}): {whose}",
            names.join(" and ")
        ),
        format!(
            "uninstall all of them, then install one: `python3 -m pip uninstall -y {}` and `python3 -m pip install \"{wanted}\"` (or the one this job means to test)",
            uninstall.join(" ")
        ),
        dists
            .iter()
            .map(|d| {
                format!(
                    "{}: {}",
                    d.dist_info.display(),
                    match d.owns_library {
                        Some(true) => "its RECORD lists the library as it is on disk",
                        Some(false) => "its RECORD lists the library with another size",
                        None => "its RECORD does not list the library",
                    }
                )
            })
            .collect(),
    )
}
