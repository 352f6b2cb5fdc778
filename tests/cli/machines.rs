//! The GPU stack without a GPU (docs/architecture.md, "Stand-ins and real binaries"): stand-in NVML and
//! CUDA libraries, built here from fixtures/native/standin, answer from the
//! machine profiles in fixtures/machines. Each profile is laid out as a
//! machine in a temporary directory and gpugate runs against it.

use super::{BIN, assert_exit, c_compiler, fixtures, read_junit, root, tensorflow_ready, text};
use quick_junit::TestCaseStatus;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The three stand-in libraries: NVML, the driver API, the toolkit.
fn standins() -> &'static Path {
    static LIBS: OnceLock<tempfile::TempDir> = OnceLock::new();
    LIBS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let src = fixtures().join("native/standin");
        for name in ["nvml", "cuda", "toolkit"] {
            let status = c_compiler()
                .to_command()
                .args(["-shared", "-fPIC", "-Wall", "-Werror", "-o"])
                .arg(dir.path().join(format!("{name}.so")))
                .arg(src.join(format!("{name}.c")))
                .arg(src.join("profile.c"))
                .status()
                .unwrap();
            assert!(status.success(), "compiling the {name} stand-in");
        }
        dir
    })
    .path()
}

pub struct Machine {
    pub name: String,
    pub profile: toml::Table,
    profile_path: PathBuf,
    dir: tempfile::TempDir,
}

fn str_of<'a>(table: &'a toml::Table, key: &str) -> &'a str {
    table.get(key).and_then(|v| v.as_str()).unwrap_or("")
}

/// The profile's `[below]`: the PCI bus (`pci`: `ADDRESS=VENDOR:DEVICE:CLASS:DRIVER`
/// entries, DRIVER empty for none), `proc/modules` (`modules`: names; the key
/// absent, no such file), the running kernel (`kernel`), the kernels with
/// an NVIDIA module file (`module_files`), Secure Boot (`secure_boot`), the
/// kernel's lockdown mode (`lockdown`) and the PCI ID list's NVIDIA devices
/// (`pci_ids`: `DEVICE=NAME` entries separated by `;`).
fn lay_out_below(d: &Path, below: &toml::Table) {
    for function in str_of(below, "pci").split_whitespace() {
        let (address, what) = function.split_once('=').unwrap();
        let fields: Vec<&str> = what.split(':').collect();
        let dir = d.join("sys/bus/pci/devices").join(address);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("vendor"), format!("0x{}\n", fields[0])).unwrap();
        std::fs::write(dir.join("device"), format!("0x{}\n", fields[1])).unwrap();
        std::fs::write(dir.join("class"), format!("{}\n", fields[2])).unwrap();
        if !fields[3].is_empty() {
            let driver = d.join("sys/bus/pci/drivers").join(fields[3]);
            std::fs::create_dir_all(&driver).unwrap();
            std::os::unix::fs::symlink(&driver, dir.join("driver")).unwrap();
        }
    }
    if let Some(modules) = below.get("modules").and_then(|m| m.as_str()) {
        std::fs::create_dir_all(d.join("proc")).unwrap();
        let lines: String = modules
            .split_whitespace()
            .map(|m| format!("{m} 1048576 0 - Live 0x0000000000000000\n"))
            .collect();
        std::fs::write(d.join("proc/modules"), lines).unwrap();
    }
    let kernel = str_of(below, "kernel");
    if !kernel.is_empty() {
        std::fs::create_dir_all(d.join("proc/sys/kernel")).unwrap();
        std::fs::write(d.join("proc/sys/kernel/osrelease"), format!("{kernel}\n")).unwrap();
        std::fs::create_dir_all(d.join("lib/modules").join(kernel).join("kernel")).unwrap();
    }
    for other in str_of(below, "module_files").split_whitespace() {
        let dkms = d.join("lib/modules").join(other).join("updates/dkms");
        std::fs::create_dir_all(&dkms).unwrap();
        std::fs::write(dkms.join("nvidia.ko.zst"), "").unwrap();
    }
    if let Some(on) = below.get("secure_boot").and_then(|v| v.as_bool()) {
        let vars = d.join("sys/firmware/efi/efivars");
        std::fs::create_dir_all(&vars).unwrap();
        std::fs::write(
            vars.join("SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"),
            [6, 0, 0, 0, u8::from(on)],
        )
        .unwrap();
    }
    let lockdown = str_of(below, "lockdown");
    if !lockdown.is_empty() {
        let dir = d.join("sys/kernel/security");
        std::fs::create_dir_all(&dir).unwrap();
        let modes = ["none", "integrity", "confidentiality"].map(|m| {
            if m == lockdown {
                format!("[{m}]")
            } else {
                m.to_string()
            }
        });
        std::fs::write(dir.join("lockdown"), format!("{}\n", modes.join(" "))).unwrap();
    }
    let ids = str_of(below, "pci_ids");
    if !ids.is_empty() {
        let mut list = String::from("# pci.ids\n10de  NVIDIA Corporation\n");
        for entry in ids.split(';') {
            let (device, name) = entry.trim().split_once('=').unwrap();
            list.push_str(&format!("\t{device}  {name}\n\t\t10de 0000  A subsystem\n"));
        }
        list.push_str("10df  Emulex Corporation\n\t0720  OneConnect NIC\n");
        std::fs::create_dir_all(d.join("usr/share/misc")).unwrap();
        std::fs::write(d.join("usr/share/misc/pci.ids"), list).unwrap();
    }
}

impl Machine {
    /// Lays out `fixtures/machines/NAME.toml` as a machine: /proc, /dev and
    /// the library directories.
    pub fn new(name: &str) -> Machine {
        let profile_path = fixtures().join(format!("machines/{name}.toml"));
        let profile: toml::Table =
            toml::from_str(&std::fs::read_to_string(&profile_path).unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let driver = profile["driver"].as_table().unwrap();
        let gpus = profile
            .get("gpu")
            .and_then(|g| g.as_array())
            .cloned()
            .unwrap_or_default();
        if let Some(flags) = profile.get("cpu_flags").and_then(|v| v.as_str()) {
            std::fs::create_dir_all(d.join("proc")).unwrap();
            std::fs::write(
                d.join("proc/cpuinfo"),
                format!("processor\t: 0\nmodel name\t: Stand-in CPU\nflags\t\t: {flags}\n"),
            )
            .unwrap();
        }
        if profile["proc_driver"].as_bool().unwrap() {
            let proc_dir = d.join("proc/driver/nvidia");
            for (i, gpu) in gpus.iter().enumerate() {
                let bus = gpu
                    .get("pci_bus_id")
                    .and_then(|v| v.as_str())
                    .map_or(format!("0000:0{i}:00.0"), str::to_string);
                std::fs::create_dir_all(proc_dir.join("gpus").join(bus)).unwrap();
            }
            for bus in str_of(&profile, "proc_extra_gpus").split_whitespace() {
                std::fs::create_dir_all(proc_dir.join("gpus").join(bus)).unwrap();
            }
            std::fs::create_dir_all(&proc_dir).unwrap();
            std::fs::write(
                proc_dir.join("version"),
                format!(
                    "NVRM version: NVIDIA UNIX {} {}  Tue Jan 1 00:00:00 UTC 2026\n",
                    match str_of(&profile, "module_flavour") {
                        "open" => "Open Kernel Module for x86_64",
                        _ => "x86_64 Kernel Module",
                    },
                    str_of(driver, "version")
                ),
            )
            .unwrap();
        }
        if let Some(below) = profile.get("below").and_then(|b| b.as_table()) {
            lay_out_below(d, below);
        }
        std::fs::create_dir_all(d.join("dev")).unwrap();
        for node in str_of(&profile, "dev_nodes").split_whitespace() {
            std::fs::write(d.join("dev").join(node), "").unwrap();
        }
        let place = |relative: &str, standin: &str| {
            let path = d.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::copy(standins().join(standin), &path).unwrap();
        };
        let driver_libs = str_of(&profile, "driver_libs");
        if !driver_libs.is_empty() {
            if str_of(driver, "nvml") != "missing" {
                place(&format!("{driver_libs}/libnvidia-ml.so.1"), "nvml.so");
            }
            // A libcuda named for its driver (cuda-compat's
            // libcuda.so.570.86.10), with the soname linked to it.
            match str_of(driver, "libcuda_file") {
                "" => place(&format!("{driver_libs}/libcuda.so.1"), "cuda.so"),
                file => {
                    place(&format!("{driver_libs}/{file}"), "cuda.so");
                    std::os::unix::fs::symlink(file, d.join(driver_libs).join("libcuda.so.1"))
                        .unwrap();
                }
            }
        }
        // Other processes of the machine, `PID:ARGV0[:UID]` ...:
        // /proc/PID/cmdline, and its owner in /proc/PID/status (the
        // running user's when absent; `other` for another user).
        for process in str_of(&profile, "host_processes").split_whitespace() {
            let mut fields = process.split(':');
            let (pid, program) = (fields.next().unwrap(), fields.next().unwrap());
            // SAFETY: geteuid takes nothing and cannot fail.
            let me = unsafe { libc::geteuid() };
            let uid = match fields.next() {
                Some("other") => me + 1,
                _ => me,
            };
            let dir = d.join("proc").join(pid);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("cmdline"), format!("{program}\0")).unwrap();
            std::fs::write(
                dir.join("status"),
                format!("Uid:\t{uid}\t{uid}\t{uid}\t{uid}\n"),
            )
            .unwrap();
        }
        // Empty files the machine has (an MPS control socket, ...).
        for file in str_of(&profile, "files").split_whitespace() {
            let path = d.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        for (relative, _) in profile["libraries"].as_table().unwrap() {
            place(relative, "toolkit.so");
            // A cuDNN install is its shim and the sub-libraries it loads.
            if let Some((dir, soname)) = relative.rsplit_once('/')
                && soname.starts_with("libcudnn.so.")
            {
                for part in gpugate::facts::libraries::cudnn_parts(soname) {
                    place(&format!("{dir}/{part}"), "toolkit.so");
                }
            }
        }
        for dir in str_of(&profile, "ld_library_path").split(':') {
            std::fs::create_dir_all(d.join(dir)).unwrap();
        }
        Machine {
            name: name.to_string(),
            profile,
            profile_path,
            dir,
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// gpugate with this machine's environment, and nothing of the real one
    /// that decides GPU visibility.
    pub fn gpugate(&self, args: &[&str]) -> Output {
        self.command(Path::new(BIN)).args(args).output().unwrap()
    }

    /// `program` with this machine's environment, and nothing of the real
    /// one that decides GPU visibility.
    pub fn command(&self, program: &Path) -> Command {
        let ld_path: Vec<String> = str_of(&self.profile, "ld_library_path")
            .split(':')
            // An empty element stays empty: the working directory, as the
            // loader reads it.
            .map(|p| {
                if p.is_empty() {
                    String::new()
                } else {
                    self.root().join(p).display().to_string()
                }
            })
            .collect();
        let mut cmd = Command::new(program);
        cmd.current_dir(root())
            .env("GPUGATE_HOST_ROOT", self.root())
            .env("GPUGATE_MACHINE_PROFILE", &self.profile_path)
            .env("GPUGATE_MACHINE_ROOT", self.root())
            .env("LD_LIBRARY_PATH", ld_path.join(":"))
            .env_remove("CUDA_VISIBLE_DEVICES")
            .env_remove("NVIDIA_VISIBLE_DEVICES")
            .env_remove("GPUGATE_NVML_LIBRARY");
        if let Some(env) = self.profile.get("env").and_then(|e| e.as_table()) {
            for (k, v) in env {
                cmd.env(k, v.as_str().unwrap());
            }
        }
        cmd
    }

    pub fn doctor(&self, tensorflow: &str) -> (Output, serde_json::Value) {
        let out = self.gpugate(&[
            "doctor",
            "--format",
            "json",
            "--for-tensorflow",
            tensorflow,
            "--probe-timeout",
            "3",
        ]);
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: doctor printed no JSON ({e}): {}",
                self.name,
                text(&out.stderr)
            )
        });
        (out, json)
    }
}

fn ids(json: &serde_json::Value, severity: &str) -> BTreeSet<String> {
    json["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == severity)
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

fn strings(value: &toml::Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn profile_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures().join("machines"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".toml")
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// Every profile, against every TensorFlow release it lists: exactly the
/// expected diagnoses, fixes naming the expected versions, and the exit code.
#[test]
fn doctor_diagnoses_every_machine_profile() {
    let mut failures = Vec::new();
    for name in profile_names() {
        let machine = Machine::new(&name);
        for (tensorflow, expect) in machine.profile["expect"].as_table().unwrap() {
            let (out, json) = machine.doctor(tensorflow);
            let errors = ids(&json, "error");
            let warnings = ids(&json, "warning");
            let context = format!("{name} against TensorFlow {tensorflow}");
            if errors != strings(&expect["errors"]) {
                failures.push(format!(
                    "{context}: errors {errors:?}, expected {:?}",
                    strings(&expect["errors"])
                ));
            }
            if warnings != strings(&expect["warnings"]) {
                failures.push(format!(
                    "{context}: warnings {warnings:?}, expected {:?}",
                    strings(&expect["warnings"])
                ));
            }
            let said = json["diagnoses"].to_string().replace("\\\"", "\"");
            for mention in strings(&expect["mentions"]) {
                if !said.contains(&mention) {
                    failures.push(format!(
                        "{context}: no diagnosis mentions {mention:?}; they say {said}"
                    ));
                }
            }
            let code = if errors.is_empty() { 0 } else { 101 };
            if out.status.code() != Some(code) {
                failures.push(format!(
                    "{context}: exit {:?}, expected {code}",
                    out.status.code()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each rule is triggered by some scenario and absent from others (the
/// profiles above, the real CPU TensorFlow below, and the unit tests for
/// TensorFlow's fallback log lines).
#[test]
fn every_rule_has_a_scenario_that_triggers_it_and_one_that_does_not() {
    let mut triggered: BTreeSet<String> = [
        "tensorflow-cpu-only",
        "tensorflow-fell-back-to-cpu",
        "tensorflow-session-failed",
        "tensorflow-does-not-load",
        "host-runtime-too-old",
        "device-nodes-not-accessible",
        // TensorFlow's own loader answers only for a real framework library:
        // the real-binary tier and the rules' unit tests trigger these.
        "tensorflow-loader-cannot-load",
        "tensorflow-loader-crashed",
        // Real files only: an undefined versioned symbol, an aborting cuDNN.
        "library-needs-newer-dependency",
        "library-probe-crashed",
        "cudnn-incomplete",
        "cudnn-mixed",
        "cudnn-built-for-other-cuda",
        // XLA's tools are looked for beside a real CUDA build found on the
        // machine: the real-binary tier and the rules' unit tests.
        "xla-ptxas-missing",
        "xla-libdevice-missing",
        // Real dist-info directories beside a real TensorFlow: the tier.
        "tensorflow-distributions-overlap",
        "xla-ptxas-miscompiles",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let mut silent = BTreeSet::new();
    let rules: BTreeSet<String> = text(&Command::new(BIN).arg("explain").output().unwrap().stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    for name in profile_names() {
        let profile: toml::Table = toml::from_str(
            &std::fs::read_to_string(fixtures().join(format!("machines/{name}.toml"))).unwrap(),
        )
        .unwrap();
        for (_, expect) in profile["expect"].as_table().unwrap() {
            let listed: BTreeSet<String> = strings(&expect["errors"])
                .union(&strings(&expect["warnings"]))
                .cloned()
                .collect();
            triggered.extend(listed.iter().cloned());
            silent.extend(rules.difference(&listed).cloned());
        }
    }
    assert_eq!(triggered, rules, "rules without a triggering scenario");
    assert_eq!(silent, rules, "rules never checked for silence");
}

/// A TensorFlow that loads but cannot create a session (the fixture fails
/// TF_NewSession with a CUDA error): doctor must not call it healthy.
/// A TensorFlow that does not load is never healthy: doctor says so with
/// the library and the loader's words, judges that library (never the
/// release gpugate would provision instead), and the quick runner hook
/// fails the job. The cached CPU build that loads is silent.
#[test]
fn a_tensorflow_that_does_not_load_is_never_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("libtensorflow.so");
    std::fs::write(&truncated, b"\x7fELF\x02\x01\x01\0truncated").unwrap();
    let machine = Machine::new("h100-driver-580");
    let out = machine
        .command(Path::new(BIN))
        .args(["doctor", "--format", "json"])
        .env("TENSORFLOW_DIR", dir.path())
        .output()
        .unwrap();
    assert_exit(&out, 101);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        ids(&json, "error").contains("tensorflow-does-not-load"),
        "{json}"
    );
    let diagnoses = json["diagnoses"].to_string();
    assert!(
        diagnoses.contains(truncated.to_str().unwrap()),
        "{diagnoses}"
    );
    assert!(diagnoses.contains("TENSORFLOW_DIR"), "{diagnoses}");
    let source = json["facts"]["tensorflow"]["build"]["source"].to_string();
    assert!(source.contains(truncated.to_str().unwrap()), "{source}");
    assert!(!source.contains("gpugate provisions"), "{source}");
    let hook = machine
        .command(&super::root().join("ci/runner-hook.sh"))
        .env("GPUGATE_BIN", BIN)
        .env("TENSORFLOW_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(hook.status.code(), Some(1), "{}", text(&hook.stdout));
    assert!(
        text(&hook.stdout).contains(": tensorflow-does-not-load: libtensorflow did not load"),
        "{}",
        text(&hook.stdout)
    );

    tensorflow_ready();
    let out = machine.gpugate(&["doctor", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !ids(&json, "error").contains("tensorflow-does-not-load"),
        "{json}"
    );
}

#[test]
fn a_tensorflow_that_cannot_create_a_session_is_unhealthy() {
    let lib = super::crash_libraries().join("libsession_fails.so");
    let machine = Machine::new("h100-driver-580");
    let out = machine.gpugate(&[
        "doctor",
        "--format",
        "json",
        "--tensorflow-lib",
        lib.to_str().unwrap(),
    ]);
    assert_exit(&out, 101);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        ids(&json, "error").contains("tensorflow-session-failed"),
        "{json}"
    );
    assert!(
        json["diagnoses"]
            .to_string()
            .contains("CUDA_ERROR_SYSTEM_NOT_READY"),
        "{json}"
    );
    // And on the same machine with the real CPU build, nothing of the kind.
    tensorflow_ready();
    let out = machine.gpugate(&["doctor", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !ids(&json, "error").contains("tensorflow-session-failed"),
        "{json}"
    );
}

#[test]
fn facts_read_every_nvml_field_from_the_stand_in() {
    let machine = Machine::new("a100-driver-535-mig");
    let out = machine.gpugate(&["facts", "--format", "json", "--for-tensorflow", "2.18"]);
    assert_exit(&out, 0);
    let facts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let driver = &facts["driver"];
    assert_eq!(driver["status"], "found");
    assert_eq!(driver["version"], "535.104.05");
    assert_eq!(driver["cuda"]["value"], "12.2");
    let gpu = &driver["gpus"][0];
    assert_eq!(gpu["name"]["value"], "NVIDIA A100-SXM4-40GB");
    assert_eq!(gpu["pci_bus_id"]["value"], "00000000:07:00.0");
    assert_eq!(
        gpu["compute_capability"]["value"],
        serde_json::json!({"major": 8, "minor": 0})
    );
    assert_eq!(gpu["memory"]["value"]["total_mib"], 40960);
    assert_eq!(gpu["memory"]["value"]["free_mib"], 40960 - 2100);
    assert_eq!(gpu["mig_enabled"]["value"], true);
    assert_eq!(
        gpu["mig_devices"]["value"],
        serde_json::json!([
            "MIG-a1a1a1a1-0000-4000-8000-000000000001",
            "MIG-a1a1a1a1-0000-4000-8000-000000000002"
        ])
    );
    assert_eq!(gpu["processes"]["value"][0]["pid"], 4242);
    assert_eq!(gpu["processes"]["value"][0]["used_mib"], 2048);
    let cudnn = facts["libraries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["soname"] == "libcudnn.so.9")
        .unwrap();
    assert_eq!(cudnn["resolved"]["version"], "9.3.0");
    assert!(
        cudnn["resolved"]["path"]
            .as_str()
            .unwrap()
            .starts_with(machine.root().to_str().unwrap())
    );
    let cuda = facts["libraries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["soname"] == "libcuda.so.1")
        .unwrap();
    assert_eq!(cuda["resolved"]["version"], "12.2");
    assert_eq!(cuda["driver_api"]["device_count"], 1);

    // A field the GPU does not support is a fact, not an error.
    let k80 = Machine::new("k80-driver-470");
    let out = k80.gpugate(&["facts", "--format", "json", "--for-tensorflow", "2.14"]);
    let facts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(facts["driver"]["gpus"][1]["mig_enabled"], "unsupported");
}

#[test]
fn nvml_library_option_finds_nvml_off_the_loader_path() {
    let machine = Machine::new("h100-driver-580");
    let nvml = machine.root().join("lib/libnvidia-ml.so.1");
    let moved = machine.root().join("wsl/libnvidia-ml.so.1");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&nvml, &moved).unwrap();
    let (_, json) = machine.doctor("2.18");
    assert!(ids(&json, "error").contains("nvml-missing"));
    let out = machine.gpugate(&[
        "facts",
        "--format",
        "json",
        "--for-tensorflow",
        "2.18",
        "--nvml-library",
        moved.to_str().unwrap(),
    ]);
    let facts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(facts["driver"]["status"], "found");
    assert_eq!(facts["driver"]["library"], moved.to_str().unwrap());
}

/// gpu-basic's environment checks, over the driver matrix: a healthy H100
/// passes; a K80 fails with the diagnosis in the JUnit text; a hanging NVML
/// errors after the probe timeout and the run still finishes its report.
#[test]
fn gpu_basic_environment_checks_over_profiles() {
    let env_only = [
        "--skip",
        "TensorFlow",
        "--skip",
        "libtensorflow",
        "--skip",
        "matmul",
        "--skip",
        "training",
        "--skip",
        "XLA",
        "--probe-timeout",
        "3",
        // The run loads no TensorFlow; judge the CUDA build the profiles
        // describe, not whichever TensorFlow this machine has.
        "--for-tensorflow",
        "2.18",
    ];
    let run = |name: &str| {
        let machine = Machine::new(name);
        let junit = machine.root().join("junit.xml");
        let mut args = vec!["--suite", "gpu-basic", "--junit", junit.to_str().unwrap()];
        args.extend_from_slice(&env_only);
        let out = machine.gpugate(&args);
        let report = read_junit(&junit);
        (out, report)
    };
    let (out, report) = run("h100-driver-580");
    assert_exit(&out, 0);
    let props: Vec<(String, String)> = report.test_suites[0]
        .properties
        .iter()
        .map(|p| (p.name.to_string(), p.value.to_string()))
        .collect();
    assert!(
        props.contains(&("nvidia.driver".into(), "580.65.06".into())),
        "{props:?}"
    );
    assert!(
        props.contains(&("nvidia.gpu_models".into(), "NVIDIA H100 80GB HBM3".into())),
        "{props:?}"
    );

    let (out, report) = run("k80-driver-470");
    assert_exit(&out, 101);
    let cases = &report.test_suites[0].test_cases;
    let cc = cases
        .iter()
        .find(|c| c.name.as_str().contains("kernels"))
        .expect("the compute capability check");
    let TestCaseStatus::NonSuccess { description, .. } = &cc.status else {
        panic!("{cc:?}")
    };
    let description = description.as_ref().unwrap().as_str();
    assert!(
        description.contains("diagnosis [compute-capability-unsupported]"),
        "{description}"
    );
    assert!(description.contains("TensorFlow 2.14"), "{description}");

    let started = std::time::Instant::now();
    let (out, report) = run("nvml-hangs");
    assert_exit(&out, 101);
    assert!(started.elapsed().as_secs() < 60);
    let driver = report.test_suites[0]
        .test_cases
        .iter()
        .find(|c| c.name.as_str().contains("NVIDIA driver"))
        .unwrap();
    let TestCaseStatus::NonSuccess { kind, message, .. } = &driver.status else {
        panic!("{driver:?}")
    };
    assert_eq!(*kind, quick_junit::NonSuccessKind::Error);
    assert!(
        message
            .as_ref()
            .unwrap()
            .as_str()
            .contains("NVML did not answer within 3s")
    );
}

/// The real CPU-only TensorFlow on a machine with GPUs.
#[test]
fn cpu_only_tensorflow_on_a_gpu_machine_is_diagnosed() {
    tensorflow_ready();
    let machine = Machine::new("h100-driver-580");
    let out = machine.gpugate(&["doctor", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_exit(&out, 101);
    let errors = ids(&json, "error");
    assert_eq!(
        errors,
        BTreeSet::from(["tensorflow-cpu-only".to_string()]),
        "{json}"
    );
    let pin = format!("tensorflow[and-cuda]=={}", gpugate::tf::DEFAULT_VERSION);
    assert!(json.to_string().contains(&pin), "{json}");
}

/// `device = "each-gpu"` on a two-GPU machine: one test per GPU, named by
/// index and UUID, each in a worker pinned to its GPU. The stand-in machine
/// has no CUDA TensorFlow, so each fails with TensorFlow's own refusal; a
/// machine whose CUDA_VISIBLE_DEVICES hides its GPU follows the suite's
/// missing-GPU policy instead.
#[test]
fn each_gpu_expands_into_one_pinned_test_per_gpu() {
    tensorflow_ready();
    let suite = tempfile::tempdir().unwrap();
    let path = suite.path().join("each.toml");
    std::fs::write(
        &path,
        r#"
[[check]]
name = "fit"
kind = "tensorflow.fit_parity"
device = "each-gpu"
steps = 2

[[check]]
name = "speed"
kind = "tensorflow.throughput"
device = "each-gpu"
min_h2d_gbps = 1.0
on_missing = "skip"
"#,
    )
    .unwrap();
    let run = |machine: &Machine| {
        let junit = machine.root().join("junit.xml");
        let out = machine.gpugate(&[
            "--suite",
            path.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ]);
        (out, read_junit(&junit))
    };
    let k80 = Machine::new("k80-driver-470");
    let (out, report) = run(&k80);
    assert_exit(&out, 101);
    let cases = &report.test_suites[0].test_cases;
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fit [gpu0 80808080]",
            "fit [gpu1 80808080]",
            "speed [gpu0 80808080]",
            "speed [gpu1 80808080]"
        ]
    );
    let TestCaseStatus::NonSuccess { message, .. } = &cases[1].status else {
        panic!("fit on gpu1 cannot pass without a CUDA TensorFlow")
    };
    let message = message.as_ref().unwrap().as_str();
    assert!(
        message.starts_with("training on GPU-80808080-0000-4000-8000-000000000002 did not run: ")
            && message.contains("was explicitly assigned to /device:GPU:0"),
        "{message}"
    );

    let hidden = Machine::new("h100-cuda-visible-devices-hidden");
    let (out, report) = run(&hidden);
    assert_exit(&out, 101);
    let cases = &report.test_suites[0].test_cases;
    assert_eq!(cases.len(), 2);
    let TestCaseStatus::NonSuccess { message, .. } = &cases[0].status else {
        panic!("no GPU to run on is a failure in a suite that requires one")
    };
    assert!(
        message
            .as_ref()
            .unwrap()
            .contains("found no GPU to run on: CUDA_VISIBLE_DEVICES="),
        "{message:?}"
    );
    assert!(matches!(cases[1].status, TestCaseStatus::Skipped { .. }));
}

/// `doctor --releases`: a line per release, judged by the same rules on the
/// stand-in machine; `--for-driver` predicts what a driver change does.
#[test]
fn upgrades_are_planned_before_they_are_rolled_out() {
    let h100 = Machine::new("h100-driver-580");
    let out = h100.gpugate(&["doctor", "--releases", "--format", "json"]);
    assert_exit(&out, 0);
    let releases: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdict = |r: &str| {
        releases
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["release"] == r)
            .map(|v| {
                (
                    v["verdict"].as_str().unwrap().to_string(),
                    v["why"].to_string(),
                )
            })
            .unwrap()
    };
    assert_eq!(verdict("2.21").0, "works with warnings", "{releases}");
    let (v215, why215) = verdict("2.15");
    assert_eq!(v215, "fails");
    assert!(why215.contains("cudnn-wrong-major"), "{why215}");

    let k80 = Machine::new("k80-driver-470");
    let out = k80.gpugate(&["doctor", "--releases"]);
    let table = text(&out.stdout);
    assert_eq!(
        table.lines().filter(|l| l.contains(" fails ")).count(),
        7,
        "{table}"
    );

    // The same H100 on a pre-555 driver: 2.21's PTX needs JIT there.
    let out = h100.gpugate(&[
        "doctor",
        "--format",
        "json",
        "--for-tensorflow",
        "2.21",
        "--for-driver",
        "535.104.05",
    ]);
    assert_exit(&out, 101);
    let doctor: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = ids(&doctor, "error");
    assert!(!errors.is_empty(), "{doctor}");
    assert!(doctor.to_string().contains("535.104.05"), "{doctor}");
    // And on the driver it has, it is healthy.
    let out = h100.gpugate(&[
        "doctor",
        "--for-tensorflow",
        "2.21",
        "--for-driver",
        "580.65.06",
    ]);
    assert_exit(&out, 0);
}

/// Device files this process cannot open are a fact, read with access(2)
/// as the user gpugate runs as. Root opens anything, so as root the run is
/// repeated as nobody (setpriv), from a copy of the binary nobody can reach.
#[test]
fn device_files_the_user_cannot_open_are_a_fact() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(dir.path().join("dev")).unwrap();
    for (node, mode) in [("nvidia0", 0o000), ("nvidiactl", 0o666)] {
        let path = dir.path().join("dev").join(node);
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let bin = dir.path().join("gpugate");
    std::fs::copy(BIN, &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    // SAFETY: geteuid has no preconditions.
    let root_user = unsafe { libc::geteuid() } == 0;
    let mut command = if root_user {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    let out = command
        .args(["facts", "--format", "json", "--for-tensorflow", "2.21"])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.path())
        .env("GPUGATE_HOST_ROOT", dir.path())
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let facts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let denied = &facts["host"]["dev_nodes_denied"];
    assert_eq!(denied.as_array().map(Vec::len), Some(1), "{denied}");
    assert!(
        denied[0]
            .as_str()
            .unwrap()
            .starts_with("nvidia0 (mode 0000"),
        "{denied}"
    );
    if root_user {
        assert_eq!(facts["host"]["process"]["uid"], 65534);
    }
}

/// This machine's real `/sys`: it has a PCI bus and no NVIDIA GPU on it (CI
/// never has one), so doctor's root cause is that, not a missing driver.
#[test]
fn doctor_on_this_machine_says_it_has_no_nvidia_gpu() {
    let devices: Vec<std::path::PathBuf> = std::fs::read_dir("/sys/bus/pci/devices")
        .expect("this machine's /sys/bus/pci/devices is readable")
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!devices.is_empty(), "this machine shows no PCI function");
    for device in &devices {
        let vendor = std::fs::read_to_string(device.join("vendor")).unwrap_or_default();
        assert_ne!(
            vendor.trim(),
            "0x10de",
            "{} is NVIDIA's: this test needs a machine without a GPU",
            device.display()
        );
    }
    let out = Command::new(BIN)
        .args(["doctor", "--format", "json", "--for-tensorflow", "2.20"])
        .env_remove("GPUGATE_HOST_ROOT")
        .output()
        .unwrap();
    assert_exit(&out, 101);
    let doctor: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = ids(&doctor, "error");
    assert!(errors.contains("no-nvidia-gpu"), "{errors:?}");
    assert!(!errors.contains("nvml-missing"), "{errors:?}");
    let pci = &doctor["facts"]["host"]["below"]["pci"]["value"];
    assert_eq!(pci["functions"], devices.len(), "{pci}");
}

/// `gpugate facts` of a machine profile, judged for TensorFlow 2.18.
fn facts_of_profile(profile: &str) -> serde_json::Value {
    let out =
        Machine::new(profile).gpugate(&["facts", "--format", "json", "--for-tensorflow", "2.18"]);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The GPU's own state as NVIDIA's health tools read it: each NVML answer
/// reaches `facts` as the stand-in gives it, and confidential computing
/// system-wide.
#[test]
fn facts_read_the_health_tools_fields_from_the_stand_in() {
    let gpu_of = |profile: &str, index: usize| {
        let facts = facts_of_profile(profile);
        (
            facts["driver"]["gpus"][index]["state"].clone(),
            facts["driver"]["confidential_computing"].clone(),
        )
    };
    let (v100, cc) = gpu_of("v100-dbe-retirements-recent", 0);
    assert_eq!(
        v100["retired_pages"]["value"],
        serde_json::json!({"single_bit": 0, "double_bit": 17, "double_bit_last_week": 3})
    );
    assert_eq!(v100["inforom_valid"]["value"], true);
    assert_eq!(
        cc["value"],
        serde_json::json!({"enabled": false, "environment": "unavailable", "gpus_ready": false})
    );
    let (corrupt, _) = gpu_of("v100-inforom-corrupt", 0);
    assert_eq!(corrupt["inforom_valid"]["value"], false);
    let (x8, _) = gpu_of("h100-pcie-x8", 0);
    assert_eq!(
        x8["pcie_link"]["value"],
        serde_json::json!({"generation": 5, "max_generation": 5, "width": 8, "max_width": 16})
    );
    assert_eq!(x8["recovery_action"], "unsupported");
    let (reset, _) = gpu_of("h100-recovery-reset", 0);
    assert_eq!(reset["recovery_action"]["value"], "gpu_reset");
    let (down, _) = gpu_of("hgx-h100-nvlink-down", 1);
    let links = down["nvlinks"]["value"].as_array().unwrap();
    assert_eq!(links.len(), 18);
    assert_eq!(links[5], false);
    assert_eq!(
        down["fabric"]["value"],
        serde_json::json!({"state": "completed", "status_code": 0, "status": "Success"})
    );
    let (hot, _) = gpu_of("h100-overheating", 0);
    assert_eq!(
        hot["temperature_limits"]["value"],
        serde_json::json!({"max_operating_c": 87, "slowdown_c": 90})
    );
    let (vgpu, _) = gpu_of("a10-vgpu-unlicensed", 0);
    assert_eq!(vgpu["virtualization"]["value"], "vgpu");
    assert_eq!(vgpu["vgpu_licensed"]["value"], false);
    let (_, cc) = gpu_of("h100-cc-not-ready", 0);
    assert_eq!(
        cc["value"],
        serde_json::json!({"enabled": true, "environment": "production", "gpus_ready": false})
    );
}

/// An MPS server of another user serves the GPUs: gpugate's probe does not
/// call cuInit (the client would queue behind that user's), and says why.
#[test]
fn cuinit_is_not_called_where_another_user_s_mps_server_serves() {
    let facts_of = |profile: &str| {
        let facts = facts_of_profile(profile);
        facts["libraries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["soname"] == "libcuda.so.1")
            .unwrap()["driver_api"]
            .clone()
    };
    let other = facts_of("h100-mps-other-user");
    assert!(
        other["init_error"]
            .as_str()
            .unwrap()
            .starts_with("not initialised: an MPS server of another user"),
        "{other}"
    );
    let own = facts_of("h100-mps-serving");
    assert!(own["init_error"].is_null(), "{own}");
    assert_eq!(own["devices"][0]["pci_bus_id"], "0000:19:00.0");
}
