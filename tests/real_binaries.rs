//! The real-binary tier: gpugate against NVIDIA's and TensorFlow's real
//! libraries on a machine without a GPU (the stand-ins model what we believe;
//! these are what is). `tests/real/prepare.sh` brings the binaries into
//! `$GPUGATE_REAL_DIR` (default `~/.cache/gpugate-real`); `.ci/run` runs it,
//! then these tests with `--ignored`. Without the binaries every test fails
//! with the command to run: none passes by skipping.

use gpugate::version::Version;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn real_dir() -> PathBuf {
    let dir = std::env::var_os("GPUGATE_REAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/gpugate-real")
        });
    assert!(
        dir.join("venv/.complete").is_file() && dir.join("driver/.complete").is_file(),
        "the real binaries are not in {}: run tests/real/prepare.sh first",
        dir.display()
    );
    dir
}

/// gpugate in a clean environment: no LD_LIBRARY_PATH, an empty cache
/// unless one is given, and this machine's python3 (without TensorFlow).
fn gpugate(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let empty = tempfile::tempdir().unwrap();
    // GPUGATE_UNDER_TEST runs the tier against another build (a release
    // binary, or an older gpugate to show what it got wrong).
    let bin = std::env::var_os("GPUGATE_UNDER_TEST")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_gpugate").into());
    let mut command = Command::new(bin);
    command
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("TENSORFLOW_DIR")
        .env_remove("CUDA_VISIBLE_DEVICES")
        .env("GPUGATE_CACHE_DIR", empty.path().join("cache"));
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("gpugate runs")
}

/// PATH with the venv (pip's layout of the stack) first: its python3 is
/// the one gpugate asks for a pip-installed TensorFlow.
fn venv_path(real: &Path) -> String {
    format!(
        "{}:{}",
        real.join("venv/bin").display(),
        std::env::var("PATH").unwrap()
    )
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn diagnoses(doctor: &Value, severity: &str) -> Vec<String> {
    doctor["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == severity)
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

fn libraries(facts: &Value) -> &Vec<Value> {
    facts["libraries"].as_array().expect("libraries")
}

fn library<'a>(facts: &'a Value, soname: &str) -> &'a Value {
    libraries(facts)
        .iter()
        .find(|l| l["soname"] == soname)
        .unwrap_or_else(|| panic!("no {soname} in {facts}"))
}

fn version(copy: &Value) -> String {
    copy["version"]
        .as_str()
        .unwrap_or_else(|| panic!("no version: {copy}"))
        .to_string()
}

/// Section 1's acceptance: after `fetch-tensorflow --gpu`, doctor finds
/// every library the build needs but the driver's libcuda in gpugate's
/// cache, at versions the build accepts; its only error is the driver.
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn the_provisioned_stack_has_every_library_but_the_driver() {
    let real = real_dir();
    let cache = real.join("cache");
    let out = gpugate(
        &["doctor", "--format", "json"],
        &[("GPUGATE_CACHE_DIR", &cache)],
    );
    let doctor = json(&out);
    // The one error is the machine's: no GPU on its bus (a CI machine), or
    // no driver where the bus has one.
    let errors = diagnoses(&doctor, "error");
    assert!(
        errors == ["no-nvidia-gpu"] || errors == ["nvml-missing"],
        "{doctor}"
    );
    let facts = &doctor["facts"];
    assert_eq!(
        facts["tensorflow"]["build"]["cuda_build"], true,
        "{}",
        facts["tensorflow"]["build"]
    );
    let entry = cache
        .join(format!("tensorflow/{}-gpu", gpugate::tf::DEFAULT_VERSION))
        .canonicalize()
        .unwrap();
    // TensorFlow's own loader, asked in the stack as it lies on disk (no
    // LD_LIBRARY_PATH), loads every library from the entry: the GPU of a
    // healthy machine gets registered.
    let loader = &facts["tensorflow"]["loader"];
    assert_eq!(loader["outcome"]["state"], "answered", "{loader}");
    assert_eq!(loader["outcome"]["ok"], true, "{loader}");
    let loaded = loader["outcome"]["libraries"].as_array().unwrap();
    assert_eq!(loaded.len(), 7, "{loader}");
    for lib in loaded {
        let path = lib["path"].as_str().unwrap_or_else(|| panic!("{lib}"));
        assert!(path.starts_with(entry.to_str().unwrap()), "{lib}");
        assert!(!lib["version"].is_null(), "{lib}");
    }
    // The PTX ISA gpugate derives from the build's CUDA (Blackwell's rule
    // turns on it) is the highest the real library embeds, and none of its
    // PTX can target Blackwell (sm_100 needs ISA 8.6). The real 2.21 wheel
    // carries PTX text in its fat binaries (ISA 8.3) and its generated
    // kernels in .rodata (ISA 8.5), all `.target sm_90`.
    let cuda = facts["tensorflow"]["build"]["cuda"].as_str().unwrap();
    let derived = gpugate::compat::ptx_isa_of_cuda(&Version::parse(cuda).unwrap()).unwrap();
    let tf_library = std::fs::read(entry.join("tensorflow/libtensorflow_cc.so.2")).unwrap();
    let ptx_version = regex::bytes::Regex::new(r"\n\.version (\d+\.\d+)\n").unwrap();
    let mut embedded: Vec<Version> = Vec::new();
    {
        use object::{Object, ObjectSection};
        let file = object::File::parse(&*tf_library).unwrap();
        for name in [".nv_fatbin", ".rodata"] {
            let section = file.section_by_name(name).unwrap();
            embedded.extend(
                ptx_version
                    .captures_iter(section.data().unwrap())
                    .filter_map(|c| Version::parse(std::str::from_utf8(&c[1]).ok()?)),
            );
        }
    }
    assert_eq!(embedded.iter().max(), Some(&derived), "CUDA {cuda}");
    let blackwell = gpugate::compat::min_ptx_isa(gpugate::compat::Capability {
        major: 10,
        minor: 0,
    })
    .unwrap();
    assert!(embedded.iter().all(|isa| *isa < blackwell));
    // The real wheel's ELF version needs reach the glibc floor its manylinux
    // tag promises (2.20.0: manylinux_2_17; 2.21.0: manylinux_2_27).
    let record: Value =
        serde_json::from_slice(&std::fs::read(entry.join("gpugate-entry.json")).unwrap()).unwrap();
    let wheel = record["wheels"][0]["file"].as_str().unwrap();
    let floor = regex::Regex::new(r"manylinux_2_(\d+)_x86_64")
        .unwrap()
        .captures(wheel)
        .map(|c| format!("GLIBC_2.{}", &c[1]))
        .unwrap_or_else(|| panic!("no manylinux tag in {wheel}"));
    let requires = &facts["tensorflow"]["build"]["requires"];
    assert!(
        requires.as_array().unwrap().iter().any(|v| *v == floor),
        "{requires}: {wheel}"
    );
    let libs = libraries(facts);
    assert_eq!(libs.len(), 9, "{libs:?}");
    for lib in libs {
        let soname = lib["soname"].as_str().unwrap();
        if soname == "libcuda.so.1" {
            assert!(lib["resolved"].is_null(), "{lib}");
            continue;
        }
        let path = lib["resolved"]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("{lib}"));
        assert!(
            path.starts_with(entry.to_str().unwrap()),
            "{soname}: {path}"
        );
        assert!(!lib["resolved"]["version"].is_null(), "{lib}");
    }
    let cudnn = &library(facts, "libcudnn.so.9")["resolved"];
    let v = version(cudnn);
    assert!(v.starts_with("9."), "{v}");
    assert!(
        v.split('.').nth(1).unwrap().parse::<u32>().unwrap() >= 3,
        "cuDNN {v} is older than the 9.3 the build needs"
    );
}

/// The loader's answer for a TensorFlow library directory, in a run that
/// loads it.
fn loader_of(tensorflow_dir: &Path, env: &[(&str, &Path)]) -> Value {
    let out = gpugate(
        &[
            "doctor",
            "--format",
            "json",
            "--tensorflow-lib",
            tensorflow_dir.to_str().unwrap(),
        ],
        env,
    );
    json(&out)
}

fn loader_failures(doctor: &Value) -> Vec<String> {
    let loader = &doctor["facts"]["tensorflow"]["loader"];
    assert_eq!(loader["outcome"]["state"], "answered", "{loader}");
    loader["outcome"]["libraries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["path"].is_null())
        .map(|l| l["soname"].as_str().unwrap().to_string())
        .collect()
}

/// pip's `tensorflow[and-cuda]==2.21.0` (the venv): TensorFlow's own loader
/// cannot load cuSOLVER, which gpugate's search finds; the diagnosis names
/// the RUNPATH and a directory, and with that directory on LD_LIBRARY_PATH
/// the loader succeeds and the diagnosis is gone.
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn pip_s_tensorflow_2_21_needs_the_cusolver_directory() {
    let real = real_dir();
    let path = venv_path(&real);
    let out = gpugate(
        &["doctor", "--format", "json"],
        &[("PATH", Path::new(&path))],
    );
    let doctor = json(&out);
    assert_eq!(doctor["facts"]["tensorflow"]["build"]["version"], "2.21.0");
    assert_eq!(loader_failures(&doctor), ["libcusolver.so.11"], "{doctor}");
    assert_eq!(
        doctor["facts"]["tensorflow"]["loader"]["outcome"]["ok"],
        false
    );
    let finding = doctor["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "tensorflow-loader-cannot-load")
        .unwrap_or_else(|| panic!("{doctor}"))
        .clone();
    assert_eq!(finding["severity"], "error");
    assert!(
        finding["evidence"][0]
            .as_str()
            .unwrap()
            .contains("reaches only nvidia/{"),
        "{finding}"
    );
    assert!(
        !finding["evidence"][0]
            .as_str()
            .unwrap()
            .contains("cusolver")
    );
    let fix = finding["fix"].as_str().unwrap();
    let dir = fix
        .split("export LD_LIBRARY_PATH=")
        .nth(1)
        .and_then(|rest| rest.split("${").next())
        .unwrap_or_else(|| panic!("no export in {fix}"));
    assert!(dir.ends_with("nvidia/cusolver/lib"), "{dir}");
    // The fix, applied as the user would paste it.
    let out = gpugate(
        &["doctor", "--format", "json"],
        &[
            ("PATH", Path::new(&path)),
            ("LD_LIBRARY_PATH", Path::new(dir)),
        ],
    );
    let fixed = json(&out);
    assert!(loader_failures(&fixed).is_empty(), "{fixed}");
    assert_eq!(
        fixed["facts"]["tensorflow"]["loader"]["outcome"]["ok"],
        true
    );
    assert!(
        !fixed["diagnoses"].to_string().contains("tensorflow-loader"),
        "{fixed}"
    );
    // The table agrees: judged without its files, 2.21 is warned about.
    let out = gpugate(
        &["doctor", "--format", "json", "--for-tensorflow", "2.21"],
        &[],
    );
    let table = json(&out);
    assert!(
        diagnoses(&table, "warning").contains(&"tensorflow-runpath-gap".to_string()),
        "{table}"
    );
}

/// 2.18.1 and the default 2.20.0, each with pip's layout of the NVIDIA
/// libraries: TensorFlow's loader loads all seven; no loader diagnosis.
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn tensorflow_2_18_and_2_20_pass_tensorflow_s_loader() {
    let real = real_dir();
    let stacks = [
        real.join("tf-2.18.1/tensorflow"),
        real.join(format!(
            "cache/tensorflow/{}-gpu/tensorflow",
            gpugate::tf::DEFAULT_VERSION
        )),
    ];
    for (dir, version) in stacks.iter().zip(["2.18.1", gpugate::tf::DEFAULT_VERSION]) {
        let doctor = loader_of(dir, &[]);
        assert_eq!(
            doctor["facts"]["tensorflow"]["build"]["version"], version,
            "{doctor}"
        );
        assert!(loader_failures(&doctor).is_empty(), "{version}: {doctor}");
        assert_eq!(
            doctor["facts"]["tensorflow"]["loader"]["outcome"]["ok"], true,
            "{version}"
        );
        assert!(
            !doctor["diagnoses"]
                .to_string()
                .contains("tensorflow-loader"),
            "{version}: {doctor}"
        );
    }
    // And 2.21.0 as gpugate provisions it fails the same way pip's does.
    let doctor = loader_of(&real.join("cache/tensorflow/2.21.0-gpu/tensorflow"), &[]);
    assert_eq!(loader_failures(&doctor), ["libcusolver.so.11"]);
}

/// TensorFlow 2.16.1 (tensorflow/tensorflow#63362): its framework library,
/// which holds the loader, reaches only nvidia/cuda_runtime/lib; the other
/// libraries sit beside it, where gpugate's search finds them and
/// TensorFlow's loader does not. Judged from the loader, cuBLAS and the rest
/// cannot be loaded, and the fix names their directories.
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn tensorflow_2_16_loads_only_the_cuda_runtime_through_its_runpath() {
    let real = real_dir();
    let doctor = loader_of(&real.join("tf-2.16.1/tensorflow"), &[]);
    assert_eq!(doctor["facts"]["tensorflow"]["build"]["version"], "2.16.1");
    let failures = loader_failures(&doctor);
    for soname in [
        "libcublas.so.12",
        "libcublasLt.so.12",
        "libcufft.so.11",
        "libcusolver.so.11",
        "libcusparse.so.12",
    ] {
        assert!(
            failures.contains(&soname.to_string()),
            "{soname}: {failures:?}"
        );
        // gpugate's own search finds it beside TensorFlow all the same.
        assert!(!library(&doctor["facts"], soname)["resolved"].is_null());
    }
    assert!(
        !failures.contains(&"libcudart.so.12".to_string()),
        "{failures:?}"
    );
    let finding = diagnosis(&doctor, "tensorflow-loader-cannot-load");
    let text = finding.to_string();
    assert!(
        text.contains("reaches only nvidia/{cuda_runtime}/lib"),
        "{text}"
    );
    assert!(
        text.contains("nvidia/cublas/lib") && text.contains("nvidia/cusolver/lib"),
        "{text}"
    );
}

/// The default stack as pip lays it out, hard-linked into a directory of
/// the test's own (beside the real binaries, on their file system), for a
/// test to change one package in.
fn stack_copy(real: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir_in(real).unwrap();
    let stack = real.join(format!(
        "cache/tensorflow/{}-gpu",
        gpugate::tf::DEFAULT_VERSION
    ));
    let copied = Command::new("cp")
        .arg("-al")
        .arg(stack.join("tensorflow"))
        .arg(stack.join("nvidia"))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(copied.success());
    dir
}

fn diagnosis<'a>(doctor: &'a Value, id: &str) -> &'a Value {
    doctor["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {doctor}"))
}

/// pip resolved an older nvJitLink than cuSPARSE and cuSOLVER need: the
/// loader's own "undefined symbol" error is kept and the fix is the
/// nvJitLink release the symbol names, not "install cuSPARSE".
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn an_older_nvjitlink_is_named_not_reported_missing() {
    let real = real_dir();
    let env = stack_copy(&real);
    let lib = env.path().join("nvidia/nvjitlink/lib/libnvJitLink.so.12");
    std::fs::remove_file(&lib).unwrap();
    std::fs::copy(
        real.join("nvjitlink-12.5/nvidia/nvjitlink/lib/libnvJitLink.so.12"),
        &lib,
    )
    .unwrap();
    let doctor = loader_of(&env.path().join("tensorflow"), &[]);
    let cusparse = library(&doctor["facts"], "libcusparse.so.12");
    assert!(
        cusparse["error"]
            .as_str()
            .unwrap()
            .contains("undefined symbol: __nvJitLink"),
        "{cusparse}"
    );
    let finding = diagnosis(&doctor, "library-needs-newer-dependency");
    assert_eq!(finding["severity"], "error");
    let text = finding.to_string();
    assert!(text.contains("nvidia-nvjitlink-cu12>=12.9,<13"), "{text}");
    assert!(text.contains("(12.5)"), "{text}");
    assert!(
        !doctor["diagnoses"]
            .to_string()
            .contains("cuda-library-missing"),
        "{doctor}"
    );
    // TensorFlow's loader meets the same error.
    assert!(loader_failures(&doctor).contains(&"libcusparse.so.12".to_string()));
}

/// An nvJitLink older than its version call (12.1.105, before CUDA 12.3)
/// under cuSPARSE that needs a newer one: its version comes from the wheel
/// that installed it (its dist-info beside `nvidia/`), and the diagnosis
/// names it, not "version unknown".
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn an_nvjitlink_without_a_version_call_is_named_by_its_wheel() {
    let real = real_dir();
    let env = stack_copy(&real);
    let lib = env.path().join("nvidia/nvjitlink/lib/libnvJitLink.so.12");
    std::fs::remove_file(&lib).unwrap();
    let old = real.join("nvjitlink-12.1");
    std::fs::copy(old.join("nvidia/nvjitlink/lib/libnvJitLink.so.12"), &lib).unwrap();
    let dist_info = "nvidia_nvjitlink_cu12-12.1.105.dist-info";
    std::fs::create_dir(env.path().join(dist_info)).unwrap();
    std::fs::copy(
        old.join(dist_info).join("METADATA"),
        env.path().join(dist_info).join("METADATA"),
    )
    .unwrap();
    let doctor = loader_of(&env.path().join("tensorflow"), &[]);
    let nvjitlink = library(&doctor["facts"], "libnvJitLink.so.12");
    assert_eq!(nvjitlink["resolved"]["version"], "12.1.105", "{nvjitlink}");
    let finding = diagnosis(&doctor, "library-needs-newer-dependency");
    assert!(finding.to_string().contains("(12.1.105)"), "{finding}");
}

/// XLA's tools: the provisioned stack has ptxas and libdevice where XLA
/// looks (`nvidia/cuda_nvcc` beside `tensorflow/`, from
/// nvidia-cuda-nvcc-cu12); the same stack without that package, as gpugate
/// provisioned it before, is told both; `--xla_gpu_cuda_data_dir` in
/// XLA_FLAGS is searched first.
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn xla_finds_ptxas_and_libdevice_beside_tensorflow() {
    let real = real_dir();
    let env = stack_copy(&real);
    let tensorflow = env.path().join("tensorflow");
    let xla_ids = |doctor: &Value| -> Vec<String> {
        diagnoses(doctor, "error")
            .into_iter()
            .filter(|id| id.starts_with("xla-"))
            .collect()
    };
    let doctor = loader_of(&tensorflow, &[]);
    let xla = &doctor["facts"]["tensorflow"]["xla"];
    let nvcc = env.path().join("nvidia/cuda_nvcc");
    assert!(
        xla["libdevice"]
            .as_str()
            .is_some_and(|p| p.ends_with("nvidia/cuda_nvcc/nvvm/libdevice/libdevice.10.bc")),
        "{xla}"
    );
    let ptxas = &xla["ptxas"][0];
    assert!(
        ptxas["version"]["value"]
            .as_str()
            .unwrap()
            .starts_with("12."),
        "{xla}"
    );
    assert!(ptxas["refused"].is_null(), "{xla}");
    assert!(xla_ids(&doctor).is_empty(), "{doctor}");

    let elsewhere = tempfile::tempdir_in(&real).unwrap();
    let moved = elsewhere.path().join("cuda_nvcc");
    std::fs::rename(&nvcc, &moved).unwrap();
    let doctor = loader_of(&tensorflow, &[]);
    assert_eq!(
        xla_ids(&doctor),
        ["xla-ptxas-missing", "xla-libdevice-missing"],
        "{doctor}"
    );
    let text = diagnosis(&doctor, "xla-ptxas-missing").to_string();
    assert!(
        text.contains("python3 -m pip install \\\"nvidia-cuda-nvcc-cu12"),
        "{text}"
    );

    let flags = format!("--xla_gpu_cuda_data_dir={}", moved.display());
    let doctor = loader_of(&tensorflow, &[("XLA_FLAGS", Path::new(&flags))]);
    assert!(xla_ids(&doctor).is_empty(), "{doctor}");
    assert_eq!(
        doctor["facts"]["tensorflow"]["xla"]["roots"][0],
        moved.display().to_string()
    );
}

/// tensorflow-cpu 2.18.1 installed over tensorflow 2.18.1: both dist-info
/// directories own `tensorflow/`, whose files are the CPU build's. The
/// overlap is the diagnosis (naming whose files they are), not only "CPU
/// build"; tensorflow 2.18.1 alone is silent.
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn two_tensorflow_distributions_over_one_directory_are_named() {
    let real = real_dir();
    let site = tempfile::tempdir_in(&real).unwrap();
    let copy = |from: &Path, to: &Path| {
        let copied = Command::new("cp")
            .arg("-al")
            .arg(from)
            .arg(to)
            .status()
            .unwrap();
        assert!(copied.success());
    };
    copy(
        &real.join("tf-2.18.1/tensorflow-2.18.1.dist-info"),
        site.path(),
    );
    copy(&real.join("tf-2.18.1/tensorflow"), site.path());
    let doctor = loader_of(&site.path().join("tensorflow"), &[]);
    assert!(
        !doctor["diagnoses"]
            .to_string()
            .contains("tensorflow-distributions-overlap"),
        "{doctor}"
    );
    let dists = doctor["facts"]["tensorflow"]["distributions"]
        .as_array()
        .unwrap();
    assert_eq!(dists.len(), 1, "{dists:?}");
    assert_eq!(dists[0]["owns_library"], true, "{dists:?}");

    // pip install tensorflow-cpu==2.18.1: its files replace the CUDA build's.
    std::fs::remove_dir_all(site.path().join("tensorflow")).unwrap();
    copy(&real.join("tf-cpu-2.18.1/tensorflow"), site.path());
    copy(
        &real.join("tf-cpu-2.18.1/tensorflow_cpu-2.18.1.dist-info"),
        site.path(),
    );
    let doctor = loader_of(&site.path().join("tensorflow"), &[]);
    let finding = diagnosis(&doctor, "tensorflow-distributions-overlap");
    assert_eq!(finding["severity"], "error");
    let text = finding.to_string();
    assert!(
        text.contains("its files are tensorflow-cpu==2.18.1's"),
        "{text}"
    );
    assert!(
        text.contains("python3 -m pip uninstall -y tensorflow tensorflow-cpu"),
        "{text}"
    );
    assert_eq!(doctor["facts"]["tensorflow"]["build"]["cuda_build"], false);
}

/// A dated tf-nightly's build_info.py states only `is_cuda_build`: the CUDA
/// and cuDNN it needs come from its METADATA's `and-cuda` requirements, and
/// the build says so, instead of "build unknown".
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn a_nightly_s_needs_come_from_its_metadata() {
    let real = real_dir();
    let nightly = real.join("tf-nightly");
    let info =
        std::fs::read_to_string(nightly.join("tensorflow/python/platform/build_info.py")).unwrap();
    assert!(!info.contains("cuda_version"), "{info}");
    let doctor = loader_of(&nightly.join("tensorflow"), &[]);
    let build = &doctor["facts"]["tensorflow"]["build"];
    assert_eq!(build["cuda_build"], true, "{build}");
    assert!(
        build["cuda"].as_str().unwrap().starts_with("12."),
        "{build}"
    );
    assert_eq!(build["cudnn"], "9.10", "{build}");
    assert!(
        build["source"].as_str().unwrap().contains("METADATA"),
        "{build}"
    );
}

/// A partial cuDNN (two sub-libraries gone): the probe crashes, and that is
/// an error naming what is missing, not an empty list and silence.
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn cudnn_without_its_sub_libraries_is_an_error_not_silence() {
    let real = real_dir();
    let env = stack_copy(&real);
    let dir = env.path().join("nvidia/cudnn/lib");
    for part in ["libcudnn_graph.so.9", "libcudnn_engines_precompiled.so.9"] {
        std::fs::remove_file(dir.join(part)).unwrap();
    }
    let doctor = loader_of(&env.path().join("tensorflow"), &[]);
    // Every other library is still probed.
    assert_eq!(libraries(&doctor["facts"]).len(), 9, "{doctor}");
    assert!(library(&doctor["facts"], "libcudnn.so.9")["probe_crashed"].is_string());
    let finding = diagnosis(&doctor, "cudnn-incomplete");
    assert_eq!(finding["severity"], "error");
    let text = finding.to_string();
    assert!(
        text.contains("libcudnn_graph.so.9") && text.contains("libcudnn_engines_precompiled.so.9"),
        "{text}"
    );
    assert!(text.contains("--force-reinstall"), "{text}");
    let errors = diagnoses(&doctor, "error");
    assert!(!errors.contains(&"cudnn-missing".to_string()), "{errors:?}");
    // Told once, by the rule that names the missing parts.
    for symptom in ["library-probe-crashed", "tensorflow-loader-crashed"] {
        assert!(!errors.contains(&symptom.to_string()), "{errors:?}");
    }
}

/// The default stack with its cuDNN swapped for another real one.
fn stack_with_cudnn(real: &Path, cudnn: &str) -> tempfile::TempDir {
    stack_with(real, cudnn, "cudnn")
}

/// The default stack with `nvidia/PACKAGE/lib` taken from `real/source`.
fn stack_with(real: &Path, source: &str, package: &str) -> tempfile::TempDir {
    let env = stack_copy(real);
    let lib = env.path().join("nvidia").join(package).join("lib");
    std::fs::remove_dir_all(&lib).unwrap();
    let copied = Command::new("cp")
        .arg("-al")
        .arg(real.join(source).join("nvidia").join(package).join("lib"))
        .arg(&lib)
        .status()
        .unwrap();
    assert!(copied.success());
    env
}

/// pip's cuBLAS 12.5 finds its cublasLt through a RUNPATH, which another
/// cuBLAS on LD_LIBRARY_PATH beats: opened alone, the copy answered
/// cublasGetProperty with the other one's version. Each copy is read with
/// its own directory's cublasLt.
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn a_cublas_copy_is_read_with_its_own_cublaslt() {
    let real = real_dir();
    let env = stack_with(&real, "cublas-12.5", "cublas");
    let stack = stack_copy(&real);
    let shadow = stack.path().join("nvidia/cublas/lib");
    let doctor = loader_of(
        &env.path().join("tensorflow"),
        &[("LD_LIBRARY_PATH", &shadow)],
    );
    let shadowing = copy_version(&doctor, "libcublas.so.12", &shadow);
    assert!(shadowing.starts_with("12.9."), "{shadowing}");
    assert_eq!(
        copy_version(
            &doctor,
            "libcublas.so.12",
            &env.path().join("nvidia/cublas/lib")
        ),
        "12.5.3"
    );
    let finding = diagnosis(&doctor, "library-shadowed");
    assert!(finding.to_string().contains("(12.5.3)"), "{finding}");
}

/// The version of the copy of `soname` in `dir`, as facts report it.
fn copy_version(doctor: &Value, soname: &str, dir: &Path) -> String {
    let lib = library(&doctor["facts"], soname);
    let dir = dir.canonicalize().unwrap();
    let copy = lib["copies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| Path::new(c["path"].as_str().unwrap()).parent() == Some(dir.as_path()))
        .unwrap_or_else(|| panic!("no copy in {}: {lib}", dir.display()));
    version(copy)
}

/// cuDNN 9.3's shim loads its sub-libraries by soname, so a copy read with
/// another cuDNN on LD_LIBRARY_PATH answered with that one's version. Each
/// copy is read with its own sub-libraries, in both orders.
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn each_cudnn_copy_is_read_with_its_own_sub_libraries() {
    let real = real_dir();
    for (own, first, own_version, first_version) in [
        ("cudnn-9.3", "cudnn-9.1", "9.3.0", "9.1.0"),
        ("cudnn-9.1", "cudnn-9.3", "9.1.0", "9.3.0"),
    ] {
        let env = stack_with_cudnn(&real, own);
        let first_dir = real.join(first).join("nvidia/cudnn/lib");
        let doctor = loader_of(
            &env.path().join("tensorflow"),
            &[("LD_LIBRARY_PATH", &first_dir)],
        );
        let resolved = &library(&doctor["facts"], "libcudnn.so.9")["resolved"];
        assert_eq!(
            version(resolved),
            first_version,
            "{own} under {first}: {resolved}"
        );
        assert_eq!(
            copy_version(
                &doctor,
                "libcudnn.so.9",
                &env.path().join("nvidia/cudnn/lib")
            ),
            own_version,
            "{own} under {first}"
        );
        assert!(
            diagnoses(&doctor, "error").contains(&"library-shadowed".to_string()),
            "{doctor}"
        );
    }
}

/// `nvidia-cudnn-cu11` over the cu12 one: the same soname and version 9.3.0,
/// built for CUDA 11.8; only cudnnGetCudartVersion tells, and it is named.
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn cudnn_built_for_cuda_11_is_named() {
    let real = real_dir();
    let env = stack_with_cudnn(&real, "cudnn-cu11-9.3");
    let doctor = loader_of(&env.path().join("tensorflow"), &[]);
    let cudnn = library(&doctor["facts"], "libcudnn.so.9");
    assert_eq!(version(&cudnn["resolved"]), "9.3.0", "{cudnn}");
    assert_eq!(cudnn["built_for_cuda"], "11.8", "{cudnn}");
    let finding = diagnosis(&doctor, "cudnn-built-for-other-cuda");
    assert_eq!(finding["severity"], "error");
    assert!(
        finding["fix"]
            .as_str()
            .unwrap()
            .contains("uninstall -y nvidia-cudnn-cu11"),
        "{finding}"
    );
    // The cu12 build of the same release is not named.
    let env = stack_with_cudnn(&real, "cudnn-9.3");
    let doctor = loader_of(&env.path().join("tensorflow"), &[]);
    let built_for = library(&doctor["facts"], "libcudnn.so.9")["built_for_cuda"].clone();
    assert!(
        built_for.as_str().unwrap().starts_with("12."),
        "{built_for}"
    );
    assert!(
        !doctor["diagnoses"]
            .to_string()
            .contains("cudnn-built-for-other-cuda")
    );
}

/// Only another cuDNN's sub-libraries on LD_LIBRARY_PATH: the 9.3 shim the
/// loader resolves runs 9.1's engines. A mixed cuDNN is an error.
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn a_cudnn_shim_with_another_cudnn_s_parts_is_mixed() {
    let real = real_dir();
    let env = stack_with_cudnn(&real, "cudnn-9.3");
    let parts = tempfile::tempdir_in(&real).unwrap();
    for entry in std::fs::read_dir(real.join("cudnn-9.1/nvidia/cudnn/lib")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.starts_with("libcudnn_") {
            std::fs::hard_link(&path, parts.path().join(name)).unwrap();
        }
    }
    let doctor = loader_of(
        &env.path().join("tensorflow"),
        &[("LD_LIBRARY_PATH", parts.path())],
    );
    let finding = diagnosis(&doctor, "cudnn-mixed");
    assert_eq!(finding["severity"], "error");
    let text = finding.to_string();
    assert!(
        text.contains(parts.path().canonicalize().unwrap().to_str().unwrap()),
        "{text}"
    );
    // Without the other parts, the same stack is whole.
    let doctor = loader_of(&env.path().join("tensorflow"), &[]);
    assert!(
        !doctor["diagnoses"].to_string().contains("cudnn-mixed"),
        "{doctor}"
    );
}

/// Item 1: a filtered run that loads no TensorFlow still judges the pip
/// TensorFlow it finds, with its nvidia/*/lib directories.
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn a_filtered_run_judges_the_tensorflow_it_finds() {
    let real = real_dir();
    let path = venv_path(&real);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("r.xml");
    let out = gpugate(
        &[
            "--suite",
            "gpu-basic",
            "--junit",
            junit.to_str().unwrap(),
            "--offline",
            "cuDNN",
        ],
        &[("PATH", Path::new(&path))],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "{text}");
    assert!(!text.contains("not found"), "{text}");
    assert!(!text.contains("cudnn-missing"), "{text}");
}

/// Item 2: two copies of libcudnn.so.9 of different versions are each read
/// in their own process, and told as an error naming both, pointing at the
/// directory to drop rather than an install.
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn copies_of_cudnn_are_read_apart_and_the_shadow_is_named() {
    let real = real_dir();
    let old = real.join("cudnn-9.1/nvidia/cudnn/lib");
    let path = venv_path(&real);
    let out = gpugate(
        &["doctor", "--format", "json"],
        &[("PATH", Path::new(&path)), ("LD_LIBRARY_PATH", &old)],
    );
    let doctor = json(&out);
    let cudnn = library(&doctor["facts"], "libcudnn.so.9");
    let mut versions: Vec<String> = cudnn["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(version)
        .collect();
    versions.sort();
    assert_eq!(versions.len(), 2, "{cudnn}");
    assert!(versions[0].starts_with("9.1."), "{versions:?}");
    assert!(!versions[1].starts_with("9.1."), "{versions:?}");
    assert!(
        diagnoses(&doctor, "error").contains(&"library-shadowed".to_string()),
        "{doctor}"
    );
    let text = doctor["diagnoses"].to_string();
    let old_dir = old.canonicalize().unwrap();
    assert!(
        text.contains(&format!("drop {}", old_dir.display())),
        "{text}"
    );
    assert!(!text.contains("nvidia-cudnn-cu12>=9.3"), "{text}");
}

/// Item 3: the CPU build's libraries without build_info.py are not taken
/// for the CUDA build: nothing CUDA is demanded.
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn a_cpu_library_without_build_info_demands_no_cuda() {
    let real = real_dir();
    let lib = real.join("cpu-no-build-info/libtensorflow_cc.so.2");
    let out = gpugate(
        &[
            "facts",
            "--format",
            "json",
            "--tensorflow-lib",
            lib.to_str().unwrap(),
        ],
        &[],
    );
    let facts = json(&out);
    assert_eq!(
        facts["tensorflow"]["load"]["loaded"]["version"], "2.21.0",
        "{facts}"
    );
    let build = &facts["tensorflow"]["build"];
    assert_ne!(build["cuda_build"], true, "{build}");
    assert!(libraries(&facts).is_empty(), "{facts}");
    let source = build["source"].as_str().unwrap();
    assert!(source.contains("RUNPATH"), "{source}");
}

/// Item 4: every pip command a fix prints installs the major the build
/// dlopens: the version pip would choose for each requirement, from pip's
/// own index lookup (tests/real/pip_choice.py says why not `--dry-run`).
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn pip_fixes_install_the_major_the_build_needs() {
    let real = real_dir();
    // TensorFlow 2.17 needs cuDNN 8: on this machine every library is missing.
    let out = gpugate(
        &["doctor", "--format", "json", "--for-tensorflow", "2.17"],
        &[("GPUGATE_CACHE_DIR", &real.join("cache"))],
    );
    let text = json(&out)["diagnoses"].to_string();
    let requirements: Vec<String> = text
        .split('`')
        .filter(|s| s.starts_with("python3 -m pip install") && s.contains("nvidia-"))
        .flat_map(|command| {
            command
                .replace("\\\"", "\"")
                .split_whitespace()
                .skip(4)
                .map(|w| w.trim_matches('"').to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!requirements.is_empty(), "{text}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/real/pip_choice.py");
    let out = Command::new("python3")
        .arg(script)
        .args(&requirements)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pip could not choose versions for {requirements:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let chosen: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut checked_cudnn = false;
    for requirement in &requirements {
        let version = chosen[requirement.as_str()].as_str();
        let version = version.unwrap_or_else(|| panic!("no version fits `{requirement}`"));
        if requirement.starts_with("nvidia-cudnn-cu12") {
            assert!(
                version.starts_with("8."),
                "`{requirement}` installs cuDNN {version}"
            );
            checked_cudnn = true;
        }
    }
    assert!(checked_cudnn, "{text}");
}

/// Item 5: each library is judged as a fresh process finds it: with only
/// the provisioned stack, none is found "via loader" (which only an earlier
/// probe's RUNPATH could cause), and no file is listed twice.
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn libraries_are_probed_as_a_fresh_process_finds_them() {
    let real = real_dir();
    let path = venv_path(&real);
    let out = gpugate(
        &["facts", "--format", "json"],
        &[("PATH", Path::new(&path))],
    );
    let facts = json(&out);
    for lib in libraries(&facts) {
        if lib["soname"] == "libcuda.so.1" {
            continue;
        }
        assert_ne!(lib["via"], "loader", "{lib}");
        let copies: Vec<&str> = lib["copies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["path"].as_str().unwrap())
            .collect();
        let mut unique = copies.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(copies.len(), unique.len(), "{lib}");
    }
}

fn driver_lib_dir(real: &Path) -> PathBuf {
    let root = real.join("driver/usr/lib/x86_64-linux-gnu");
    [root.join("nvidia/current"), root.clone()]
        .into_iter()
        .find(|d| d.join("libcuda.so.1").exists())
        .unwrap_or_else(|| panic!("no libcuda.so.1 under {}", root.display()))
}

/// A host root with nothing under it: no kernel driver, and a PCI bus that
/// cannot be read. On this GPU-less machine the real bus would make "no
/// NVIDIA GPU" the root cause; the driver's own rules are what these tests
/// hold to the real libraries, as on a GPU machine whose module is not loaded.
fn bus_unread() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Item 6: libcuda without NVML is a partial driver, with libcuda's version
/// and what cuInit answered, not "no NVIDIA driver".
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn libcuda_without_nvml_is_a_partial_driver() {
    let real = real_dir();
    let only_cuda = tempfile::tempdir().unwrap();
    let cuda = driver_lib_dir(&real)
        .join("libcuda.so.1")
        .canonicalize()
        .unwrap();
    std::os::unix::fs::symlink(&cuda, only_cuda.path().join("libcuda.so.1")).unwrap();
    let root = bus_unread();
    let out = gpugate(
        &["doctor", "--format", "json", "--for-tensorflow", "2.21"],
        &[
            ("LD_LIBRARY_PATH", only_cuda.path()),
            ("GPUGATE_HOST_ROOT", root.path()),
        ],
    );
    let doctor = json(&out);
    let nvml = doctor["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "nvml-missing")
        .unwrap_or_else(|| panic!("{doctor}"));
    let cause = nvml["cause"].as_str().unwrap();
    assert!(cause.contains("only partly here"), "{cause}");
    assert!(cause.contains("libcuda.so.1"), "{cause}");
    assert!(cause.contains("cuInit"), "{cause}");
    assert!(nvml["fix"].as_str().unwrap().contains("utility"), "{nvml}");
}

/// Item 7 and the real NVML's driver-not-loaded path: with Debian's real
/// libnvidia-ml and libcuda and no kernel module, gpugate says why it did
/// not initialise them and leaves /dev as it was (as root, nvmlInit and
/// cuInit would create /dev/nvidiactl).
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn the_real_driver_libraries_leave_dev_untouched() {
    let real = real_dir();
    let dir = driver_lib_dir(&real);
    let before = Path::new("/dev/nvidiactl").exists();
    let root = bus_unread();
    let out = gpugate(
        &["doctor", "--format", "json", "--for-tensorflow", "2.21"],
        &[
            ("LD_LIBRARY_PATH", &dir),
            ("GPUGATE_HOST_ROOT", root.path()),
        ],
    );
    let doctor = json(&out);
    assert_eq!(
        Path::new("/dev/nvidiactl").exists(),
        before,
        "gpugate changed /dev"
    );
    assert!(
        diagnoses(&doctor, "error").contains(&"driver-not-loaded".to_string()),
        "{doctor}"
    );
    let driver = doctor["facts"]["driver"].to_string();
    assert!(
        driver.contains("no NVIDIA kernel module is loaded"),
        "{driver}"
    );
    assert!(driver.contains("libnvidia-ml.so.1"), "{driver}");
    let cuda = library(&doctor["facts"], "libcuda.so.1");
    assert!(
        cuda["resolved"]["version"].to_string().contains("12"),
        "libcuda's own version: {cuda}"
    );
}

/// Compiles `fixtures/native/NAME.c` (with `extra` sources) into `out`.
fn compile(out: &Path, sources: &[&str], shared: bool) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/native");
    let compiler = cc::Build::new()
        .target("x86_64-unknown-linux-gnu")
        .host("x86_64-unknown-linux-gnu")
        .opt_level(0)
        .cargo_metadata(false)
        .get_compiler();
    let mut command = compiler.to_command();
    if shared {
        command.args(["-shared", "-fPIC"]);
    }
    command.arg("-o").arg(out);
    for source in sources {
        command.arg(fixtures.join(source));
    }
    command.arg("-ldl");
    assert!(command.status().unwrap().success(), "compiling {sources:?}");
}

/// Another user can reach `dir` only if every directory above it lets
/// everyone through; say so plainly rather than fail on a denied open.
fn reachable_by_everyone(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for ancestor in dir.ancestors().skip(1) {
        let mode = std::fs::metadata(ancestor).unwrap().permissions().mode();
        assert!(
            mode & 0o001 != 0,
            "{} (mode {:o}) keeps other users out of {}: point TMPDIR at a directory everyone can enter",
            ancestor.display(),
            mode & 0o7777,
            dir.display()
        );
    }
}

/// What `init_probe` prints for an NVML and a libcuda. As root, the real
/// libraries would create /dev/nvidiactl, so it runs as nobody then.
fn init_answers(probe: &Path, nvml: &Path, cuda: &Path, env: &[(&str, &Path)]) -> String {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut command = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(probe);
        c
    } else {
        Command::new(probe)
    };
    command.arg(nvml).arg(cuda);
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().expect("init_probe runs");
    assert!(
        out.status.success(),
        "init_probe: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The stand-ins answer NVML's and CUDA's initialisation as the real driver
/// libraries do on a machine whose kernel module is not loaded (Debian 12's
/// 535.309.01 user space, run unprivileged so that nothing is created in
/// /dev): the same codes, the same strings.
#[test]
#[ignore = "real binaries: run by .ci/run after tests/real/prepare.sh"]
fn the_stand_ins_answer_initialisation_as_the_real_libraries_do() {
    let real = real_dir();
    let work = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let w = work.path();
    reachable_by_everyone(w);
    compile(&w.join("init_probe"), &["init_probe.c"], false);
    let driver = driver_lib_dir(&real);
    for lib in ["libnvidia-ml.so.1", "libcuda.so.1"] {
        std::fs::copy(driver.join(lib), w.join(lib)).unwrap();
    }
    let before = Path::new("/dev/nvidiactl").exists();
    let real_answers = init_answers(
        &w.join("init_probe"),
        &w.join("libnvidia-ml.so.1"),
        &w.join("libcuda.so.1"),
        &[],
    );
    assert_eq!(
        Path::new("/dev/nvidiactl").exists(),
        before,
        "the probe changed /dev"
    );
    assert!(
        real_answers.starts_with("nvmlInit_v2 9 Driver Not Loaded\n")
            && real_answers.contains("\ncuInit 100 CUDA_ERROR_NO_DEVICE\n"),
        "the real libraries' answers: {real_answers}"
    );
    // NVML_ERROR_NOT_FOUND is 6: the MIG device lookup's "no device here".
    assert!(
        real_answers.contains("\nnvmlErrorString 6 Not Found\n"),
        "{real_answers}"
    );
    // The CUresults the rules name, as the real libcuda names and words them.
    assert!(
        real_answers.contains(
            "cuGetErrorName 802 CUDA_ERROR_SYSTEM_NOT_READY: system not yet initialized\n"
        ),
        "{real_answers}"
    );

    compile(
        &w.join("nvml.so"),
        &["standin/nvml.c", "standin/profile.c"],
        true,
    );
    compile(
        &w.join("cuda.so"),
        &["standin/cuda.c", "standin/profile.c"],
        true,
    );
    // nobody reads the profile from the work directory: the checkout may be
    // in a directory only its owner can enter.
    let profile = w.join("driver-not-loaded.toml");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/machines/driver-not-loaded.toml"),
        &profile,
    )
    .unwrap();
    let standin_answers = init_answers(
        &w.join("init_probe"),
        &w.join("nvml.so"),
        &w.join("cuda.so"),
        &[("GPUGATE_MACHINE_PROFILE", &profile)],
    );
    assert_eq!(standin_answers, real_answers);

    // Every function a stand-in answers is one the real library has (the
    // MIG device calls included): the stand-ins never invent an API.
    assert!(
        exported(&w.join("nvml.so")).contains(&"nvmlDeviceGetMigDeviceHandleByIndex".to_string())
    );
    for (standin, real_lib, prefix) in [
        ("nvml.so", "libnvidia-ml.so.1", "nvml"),
        ("cuda.so", "libcuda.so.1", "cu"),
    ] {
        let real_symbols = exported(&w.join(real_lib));
        let answered = exported(&w.join(standin));
        assert!(
            answered.iter().filter(|s| s.starts_with(prefix)).count() >= 4,
            "{standin} exports {answered:?}"
        );
        let invented: Vec<String> = answered
            .into_iter()
            .filter(|s| s.starts_with(prefix) && !real_symbols.contains(s))
            .collect();
        assert!(
            invented.is_empty(),
            "{standin} answers {invented:?}, which the real {real_lib} does not export"
        );
    }
}

/// The functions a shared library exports.
fn exported(path: &Path) -> Vec<String> {
    use object::{Object, ObjectSymbol};
    let data = std::fs::read(path).unwrap();
    let file = object::File::parse(&*data).unwrap();
    file.dynamic_symbols()
        .filter(|s| s.is_definition())
        .filter_map(|s| s.name().ok().map(str::to_string))
        .collect()
}
