//! The real TensorFlow: cpu-basic passing, gpu-basic failing for the right reasons without a GPU, discovery offline, and two runs provisioning one cache.

use super::*;

#[test]
fn cpu_basic_passes_with_real_tensorflow() {
    tensorflow_ready();
    let (out, junit, _dir) = run_suite("cpu-basic", &[]);
    assert_exit(&out, 0);
    let report = read_junit(&junit);
    let props = &report.test_suites[0].properties;
    let version = props
        .iter()
        .find(|p| p.name.as_str() == "tensorflow.version")
        .expect("tensorflow.version");
    assert!(
        version.value.starts_with("2."),
        "{}",
        version.value.as_str()
    );
    // Training parity records its differences and attaches its loss plot.
    let cases = cases(&report);
    let fit = case(&cases, "training matches across CPU thread pools");
    assert_eq!(fit.status, "pass");
    for key in [
        "loss_max_abs_diff: ",
        "weights_max_rel_diff: ",
        "compared: CPU:0, all threads vs CPU:0, 1 thread",
    ] {
        assert!(fit.system_out.contains(key), "{key}: {}", fit.system_out);
    }
    let last = |key: &str| -> f64 {
        let line = fit.system_out.lines().find(|l| l.starts_with(key)).unwrap();
        line[key.len()..].parse().unwrap()
    };
    assert!(
        last("loss_last: ") < last("loss_first: "),
        "the model learned"
    );
    let attachment = fit
        .system_out
        .split("[[ATTACHMENT|")
        .nth(1)
        .and_then(|rest| rest.split("]]").next())
        .expect("an attachment");
    let svg = std::fs::read_to_string(attachment).unwrap();
    // The two loss curves, and their difference in a panel of its own.
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for colour in ["#1F77B4", "#D62728", "#555555"] {
        assert!(svg.to_uppercase().contains(colour), "{colour}: {svg}");
    }
    assert!(attachment.contains("junit-attachments/cpu-basic--training-matches"));
    // Placement: TensorFlow's own refusal of a device it does not have is the pass.
    let refused = case(
        &cases,
        "a device that does not exist is refused, not replaced",
    );
    assert!(
        refused
            .system_out
            .contains("was explicitly assigned to /device:GPU:64"),
        "{}",
        refused.system_out
    );
    let pinned = case(&cases, "ops pinned to /device:CPU:0 run there");
    assert!(
        pinned
            .system_out
            .contains("matmul_ran_on: /job:localhost/replica:0/task:0/device:CPU:0"),
        "{}",
        pinned.system_out
    );
}

#[test]
fn gpu_basic_fails_with_reasons_without_a_gpu() {
    tensorflow_ready();
    let (out, junit, _dir) = run_suite("gpu-basic", &[]);
    assert_exit(&out, 101);
    let report = read_junit(&junit);
    let cases = cases(&report);
    assert_eq!(case(&cases, "libtensorflow loads").status, "pass");
    assert_eq!(case(&cases, "matmul on /device:CPU:0").status, "pass");
    let listed = case(&cases, "TensorFlow lists a GPU");
    assert_eq!(listed.status, "fail");
    assert_eq!(
        listed.message,
        "TensorFlow lists 0 GPU devices (need at least 1)"
    );
    let matmul = case(&cases, "matmul on /device:GPU:0");
    assert_eq!(matmul.status, "fail");
    assert!(
        matmul
            .message
            .contains("was explicitly assigned to /device:GPU:0"),
        "{}",
        matmul.message
    );
    assert!(
        !matmul.system_err.is_empty(),
        "TensorFlow's log is attached to the failure"
    );
    let pinned = case(
        &cases,
        "TensorFlow runs ops pinned to /device:GPU:0 there (explicit device selection)",
    );
    assert_eq!(pinned.status, "fail");
    assert!(
        pinned.message.contains("but available devices are"),
        "{}",
        pinned.message
    );
    let visibility = case(&cases, "TensorFlow registers every GPU the driver exposes");
    assert_eq!(visibility.status, "fail");
    assert!(
        visibility.text.contains("diagnosis [nvml-missing]"),
        "{}",
        visibility.text
    );
    let fit = case(&cases, "GPU training matches the CPU");
    assert_eq!(fit.status, "fail");
    assert!(
        fit.message
            .starts_with("training on /device:GPU:0 did not run: ")
            && fit
                .message
                .contains("was explicitly assigned to /device:GPU:0"),
        "{}",
        fit.message
    );
    assert!(
        fit.text.contains("diagnosis [nvml-missing]"),
        "{}",
        fit.text
    );
    let driver = case(&cases, "NVIDIA driver answers through NVML");
    assert_eq!(driver.status, "fail");
    assert!(
        driver
            .message
            .starts_with("no NVIDIA driver: libnvidia-ml.so.1 not found (loader error: "),
        "{}",
        driver.message
    );
    assert!(
        driver.text.contains("diagnosis [nvml-missing]"),
        "{}",
        driver.text
    );
    let build = case(&cases, "TensorFlow is a CUDA build");
    assert_eq!(build.status, "fail");
    assert!(
        build.message.contains("CPU-only build"),
        "{}",
        build.message
    );
    for name in [
        "driver supports the build's CUDA version",
        "at least one GPU",
        "GPUs are covered by the build's kernels",
        "GPUs are healthy",
        "CUDA libraries the build needs load",
        "cuDNN matches the build",
    ] {
        assert_ne!(
            case(&cases, name).status,
            "pass",
            "{name} cannot pass without a GPU"
        );
    }
}

#[test]
fn tensorflow_not_found_offline_lists_every_place_searched() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("offline.xml");
    let out = Command::new(BIN)
        .args([
            "--suite",
            "cpu-basic",
            "--offline",
            "--junit",
            junit.to_str().unwrap(),
        ])
        .current_dir(root())
        .env("GPUGATE_CACHE_DIR", dir.path().join("empty-cache"))
        .env("GPUGATE_HOST_ROOT", gpu_less_root())
        .env_remove("TENSORFLOW_DIR")
        // A python3 that has no TensorFlow, whatever this machine has installed.
        .env("PYTHONPATH", "")
        .env("PYTHONNOUSERSITE", "1")
        .output()
        .unwrap();
    assert_exit(&out, 101);
    let report = read_junit(&junit);
    let cases = cases(&report);
    let loads = case(&cases, "libtensorflow loads");
    assert_eq!(loads.status, "fail");
    assert_eq!(loads.message, "libtensorflow did not load");
    for expected in [
        "--tensorflow-lib: -: not given",
        "TENSORFLOW_DIR: -: not set",
        "loader path: libtensorflow.so.2: libtensorflow.so.2: cannot open shared object file",
        "gpugate cache:",
    ] {
        assert!(
            loads.text.contains(expected),
            "missing {expected:?} in:\n{}",
            loads.text
        );
    }
    let matmul = case(&cases, "matmul on /device:CPU:0");
    assert_eq!(matmul.status, "fail");
    assert!(
        matmul.message.contains("libtensorflow did not load"),
        "{}",
        matmul.message
    );
}

/// Two runs provisioning into the same empty cache at once: both succeed,
/// both name the same library, and what is in the cache loads (downloads go
/// to temporary names and are published with one rename).
#[test]
fn two_runs_provisioning_one_cache_at_once_do_not_corrupt_it() {
    let cache = tempfile::tempdir().unwrap();
    let spawn = || {
        Command::new(BIN)
            .args(["fetch-tensorflow", "--cpu"])
            .env("GPUGATE_CACHE_DIR", cache.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_exit(&a, 0);
    assert_exit(&b, 0);
    assert_eq!(
        text(&a.stdout),
        text(&b.stdout),
        "both name the same library"
    );
    let lib = text(&a.stdout).trim().to_string();
    let out = Command::new(BIN)
        .args([
            "--suite",
            "cpu-basic",
            "--offline",
            "--exact",
            "cpu-basic::libtensorflow loads",
        ])
        .args(["--tensorflow-lib", &lib, "--junit"])
        .arg(cache.path().join("r.xml"))
        .env("GPUGATE_CACHE_DIR", cache.path())
        .env("GPUGATE_HOST_ROOT", gpu_less_root())
        .current_dir(root())
        .output()
        .unwrap();
    assert_exit(&out, 0);
    // Nothing half-done is left beside the published entry.
    let entries: Vec<String> = std::fs::read_dir(cache.path().join("tensorflow"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
}
