//! Host facts read from files alone: nothing here loads a native library, so
//! the parent process may use it.

pub mod below;
pub mod mps;

use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

/// The variables that decide which GPUs and libraries a process sees.
pub const VISIBILITY_VARS: &[&str] = &[
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "NVIDIA_DRIVER_CAPABILITIES",
    "LD_LIBRARY_PATH",
];

/// The variables that change how TensorFlow's GPU device and MPS run
/// (`gpu_device.cc`, `gpu_process_state.cc`, the MPS documentation).
pub const TUNING_VARS: &[&str] = &[
    "TF_GPU_ALLOCATOR",
    "TF_MIN_GPU_MULTIPROCESSOR_COUNT",
    "TF_GPU_THREAD_MODE",
    "TF_FORCE_GPU_ALLOW_GROWTH",
    "TF_ENABLE_GPU_GARBAGE_COLLECTION",
    "CUDA_MPS_PIPE_DIRECTORY",
];

/// The variables DCGM's software plugin warns of when set
/// (`DCGM_FR_BAD_CUDA_ENV`, "Found CUDA performance-limiting environment
/// variable"): profilers, injection and debugging.
pub const PROFILING_VARS: &[&str] = &[
    "NSIGHT_CUDA_DEBUGGER",
    "CUDA_INJECTION32_PATH",
    "CUDA_INJECTION64_PATH",
    "CUDA_AUTO_BOOST",
    "CUDA_ENABLE_COREDUMP_ON_EXCEPTION",
    "CUDA_COREDUMP_FILE",
    "CUDA_DEVICE_WAITS_ON_EXCEPTION",
    "CUDA_PROFILE",
    "COMPUTE_PROFILE",
    "OPENCL_PROFILE",
];

/// Where managed platforms put the NVIDIA driver's user-space libraries
/// (relative to the root), off the loader's default path, and who puts them
/// there. EKS's AL2023 images install the driver from NVIDIA's packages,
/// which put it on the default path, and need no entry.
pub const DRIVER_LAYOUTS: &[(&str, &str)] = &[
    (
        "usr/local/nvidia/lib64",
        "GKE mounts the node's driver here in GPU containers (COS and Ubuntu nodes) and sets no loader path for them; AKS node images before May 2025 installed the driver here",
    ),
    (
        "home/kubernetes/bin/nvidia/lib64",
        "GKE's driver installer keeps the driver here on Container-Optimized OS nodes",
    ),
    (
        "run/nvidia/driver/usr/lib/x86_64-linux-gnu",
        "the NVIDIA GPU Operator's driver container (Ubuntu) exposes its root at /run/nvidia/driver",
    ),
    (
        "run/nvidia/driver/usr/lib64",
        "the NVIDIA GPU Operator's driver container (RHEL, and OpenShift's RHCOS) exposes its root at /run/nvidia/driver",
    ),
    (
        "usr/lib/nvidia/tesla",
        "Bottlerocket's NVIDIA variants keep the driver here, on the host's loader path (ld.so.conf.d/nvidia-tesla.conf) only",
    ),
];

/// Where WSL 2 mounts the Windows driver's Linux libraries (libcuda,
/// libnvidia-ml), relative to the root.
pub const WSL_LIB_DIR: &str = "usr/lib/wsl/lib";

/// The elements of a library search path (`LD_LIBRARY_PATH`) that are not
/// absolute: an empty one (`/opt/lib:`, what `$LD_LIBRARY_PATH:/x` gives
/// when it was unset) or a relative one makes the loader search the working
/// directory, which in CI is the checked-out, perhaps untrusted, repository.
pub fn relative_search_elements(value: &str) -> Vec<String> {
    value
        .split(':')
        .filter(|e| !e.starts_with('/'))
        .map(str::to_string)
        .collect()
}

/// `LD_LIBRARY_PATH` with only its absolute elements, for the processes in
/// which gpugate loads libraries; None where it needs no change.
pub fn absolute_search_path(value: &std::ffi::OsStr) -> Option<std::ffi::OsString> {
    let text = value.to_string_lossy();
    if relative_search_elements(&text).is_empty() {
        return None;
    }
    let kept: Vec<&str> = text.split(':').filter(|e| e.starts_with('/')).collect();
    Some(kept.join(":").into())
}

/// Whether `root` is WSL 2's: its GPU is reached through `/dev/dxg`.
pub fn is_wsl(root: &Path) -> bool {
    root.join("dev/dxg").exists()
}

/// Facts about the machine that every report carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostFacts {
    pub hostname: String,
    pub kernel: String,
    pub os: String,
    pub glibc: Option<String>,
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: Option<String>,
    /// Whether the CPU has AVX (TensorFlow's x86-64 wheels need it); None
    /// when /proc/cpuinfo lists no flags.
    #[serde(default)]
    pub cpu_avx: Option<bool>,
    /// The CI runner's name, where the CI system says it.
    pub runner: Option<String>,
    /// Where `/proc` and `/dev` were read (`/`, or the host mounted in a container).
    pub root: PathBuf,
    /// Why this looks like a container, if it does.
    pub container: Option<String>,
    #[serde(with = "crate::json_shape::result")]
    pub nvidia: Result<NvidiaPresence, String>,
    /// `/dev/nvidia*` nodes (nvidiactl, nvidia0, nvidia-uvm...).
    pub dev_nodes: Vec<String>,
    /// Those this process may not open read-write (access(2): permissions
    /// and group membership; root passes, cgroups are seen only by NVML).
    #[serde(default)]
    pub dev_nodes_denied: Vec<String>,
    /// This process's effective user and group, whom `dev_nodes_denied` is about.
    #[serde(default)]
    pub process: ProcessIds,
    /// WSL 2's GPU: `/dev/dxg` exists, the driver lives on the Windows side
    /// and its Linux libraries in [`WSL_LIB_DIR`].
    #[serde(default)]
    pub wsl: bool,
    /// [`VISIBILITY_VARS`], [`TUNING_VARS`] and [`PROFILING_VARS`] as set
    /// (None: unset).
    #[serde(with = "crate::json_shape::pairs")]
    pub env: Vec<(String, Option<String>)>,
    /// The PCI bus and the kernel modules, under the root.
    pub below: below::Below,
    /// CUDA's Multi-Process Service, as a client here finds it.
    #[serde(default)]
    pub mps: mps::Mps,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct ProcessIds {
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NvidiaPresence {
    /// GPUs the kernel driver lists under /proc/driver/nvidia/gpus.
    pub gpus: usize,
    pub driver: Option<String>,
}

fn read_trimmed(path: &str) -> Option<String> {
    crate::input::host_value(Path::new(path))
}

fn read_host(path: &Path) -> Result<String, crate::input::ReadError> {
    crate::input::read_text(path, crate::input::HOST_FILE_LIMIT)
}

impl HostFacts {
    /// Whether NVML and CUDA may be initialised: only with an NVIDIA kernel
    /// module (or WSL's /dev/dxg). Without one, `nvmlInit` and `cuInit` run
    /// as root create /dev/nvidiactl, and gpugate leaves the machine as it
    /// found it.
    pub fn driver_init(&self) -> Result<(), String> {
        if self.root.join("proc/driver/nvidia/version").exists() || self.wsl {
            return Ok(());
        }
        Err(format!(
            "not initialised: no NVIDIA kernel module is loaded ({}), and gpugate does not call nvmlInit or cuInit then (run as root, they would create /dev/nvidiactl)",
            self.nvidia.as_ref().err().map_or("", |e| e.as_str())
        ))
    }

    /// Whether gpugate may call cuInit: where the driver may be initialised,
    /// and no MPS server of another user would make this client queue
    /// (and ask that server to end) for the sake of a probe.
    pub fn cuda_init(&self) -> Result<(), String> {
        self.driver_init()?;
        match self.mps.serves_another_user(self.process.uid) {
            Some(uid) => Err(format!(
                "not initialised: an MPS server of another user (uid {uid}) serves these GPUs through {}/control, and a CUDA client here would wait behind that user's clients",
                self.mps.pipe_directory
            )),
            None => Ok(()),
        }
    }

    /// Reads the host, with `/proc` and `/dev` under `root`.
    pub fn gather(root: &Path) -> Self {
        let os = read_host(Path::new("/etc/os-release"))
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_string())
            })
            .unwrap_or_else(|| std::env::consts::OS.to_string());
        let runner = ["RUNNER_NAME", "CI_RUNNER_DESCRIPTION"]
            .iter()
            .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()));
        HostFacts {
            hostname: read_trimmed("/proc/sys/kernel/hostname").unwrap_or_default(),
            kernel: read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_default(),
            os,
            cpu_model: read_host(Path::new("/proc/cpuinfo")).ok().and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .and_then(|rest| rest.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            }),
            cpu_avx: cpu_avx(root),
            runner,
            root: root.to_path_buf(),
            container: container_hint(),
            nvidia: nvidia_presence(root),
            dev_nodes: dev_nodes(root),
            dev_nodes_denied: dev_nodes_denied(root),
            // SAFETY: geteuid and getegid have no preconditions.
            process: unsafe {
                ProcessIds {
                    uid: libc::geteuid(),
                    gid: libc::getegid(),
                }
            },
            wsl: is_wsl(root),
            env: VISIBILITY_VARS
                .iter()
                .chain(TUNING_VARS)
                .chain(PROFILING_VARS)
                // Not UTF-8 is still set (CUDA reads the bytes): shown escaped.
                .map(|v| {
                    use std::os::unix::ffi::OsStrExt;
                    let value = std::env::var_os(v).map(|o| crate::text::lossless(o.as_bytes()));
                    (v.to_string(), value)
                })
                .collect(),
            glibc: glibc_version(),
            below: below::Below::gather(root),
            mps: mps::Mps::gather(
                root,
                std::env::var("CUDA_MPS_PIPE_DIRECTORY").ok().as_deref(),
            ),
        }
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Facts as report properties, in a stable order.
    pub fn properties(&self) -> Vec<(String, String)> {
        let mut props = vec![
            (
                "gpugate.version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
            ("host.name".to_string(), self.hostname.clone()),
            ("host.os".to_string(), self.os.clone()),
            ("host.kernel".to_string(), self.kernel.clone()),
            ("host.arch".to_string(), std::env::consts::ARCH.to_string()),
        ];
        if let Some(cpu) = &self.cpu_model {
            props.push(("host.cpu".to_string(), cpu.clone()));
        }
        if let Some(runner) = &self.runner {
            props.push(("ci.runner".to_string(), runner.clone()));
        }
        match &self.nvidia {
            Ok(presence) => {
                props.push(("nvidia.gpus".to_string(), presence.gpus.to_string()));
                if let Some(driver) = &presence.driver {
                    props.push(("nvidia.kernel_driver".to_string(), driver.clone()));
                }
            }
            Err(why) => props.push(("nvidia.gpus".to_string(), format!("0 ({why})"))),
        }
        props
    }
}

fn glibc_version() -> Option<String> {
    // SAFETY: returns a static NUL-terminated string; glibc is already loaded.
    let text = unsafe { libc::gnu_get_libc_version() };
    (!text.is_null()).then(|| {
        unsafe { std::ffi::CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    })
}

/// Why this process looks containerised, from the usual markers.
fn container_hint() -> Option<String> {
    if Path::new("/.dockerenv").exists() {
        return Some("docker (/.dockerenv)".into());
    }
    if Path::new("/run/.containerenv").exists() {
        return Some("podman (/run/.containerenv)".into());
    }
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        return Some("kubernetes pod (KUBERNETES_SERVICE_HOST)".into());
    }
    let cgroup = read_host(Path::new("/proc/1/cgroup")).unwrap_or_default();
    ["docker", "kubepods", "containerd", "libpod"]
        .iter()
        .find(|m| cgroup.contains(*m))
        .map(|m| format!("{m} (/proc/1/cgroup)"))
}

/// The `/dev/nvidia*` nodes under `root`, sorted.
pub fn dev_nodes(root: &Path) -> Vec<String> {
    let mut nodes: Vec<String> = fs::read_dir(root.join("dev"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("nvidia"))
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    nodes
}

/// The `/dev/nvidia*` nodes access(2) says this process cannot open for
/// reading and writing, as CUDA does. Asking opens nothing.
/// Each is told with its mode, owner and group: `nvidia0 (mode 0660, uid 0,
/// gid 44)`.
pub fn dev_nodes_denied(root: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    dev_nodes(root)
        .into_iter()
        .filter_map(|name| {
            let path = root.join("dev").join(&name);
            let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
            // SAFETY: a valid C string; access only reads the inode.
            let denied = unsafe { libc::access(c_path.as_ptr(), libc::R_OK | libc::W_OK) != 0 };
            let meta = fs::metadata(&path).ok()?;
            denied.then(|| {
                format!(
                    "{name} (mode {:04o}, uid {}, gid {})",
                    meta.mode() & 0o7777,
                    meta.uid(),
                    meta.gid()
                )
            })
        })
        .collect()
}

/// Whether the NVIDIA kernel driver is loaded and lists GPUs, judged from
/// `/proc/driver/nvidia` under `root`. The error says what is missing.
/// AVX from the `flags` of /proc/cpuinfo under `root` (the host's, when it
/// is mounted: the same CPU), else this process's.
fn cpu_avx(root: &Path) -> Option<bool> {
    let text = read_host(&root.join("proc/cpuinfo"))
        .or_else(|_| read_host(Path::new("/proc/cpuinfo")))
        .ok()?;
    let flags = text
        .lines()
        .find_map(|l| l.strip_prefix("flags"))?
        .split_once(':')?
        .1;
    Some(flags.split_whitespace().any(|f| f == "avx"))
}

pub fn nvidia_presence(root: &Path) -> Result<NvidiaPresence, String> {
    let proc_dir = root.join("proc/driver/nvidia");
    let path = proc_dir.join("version");
    let version = read_host(&path).map_err(|why| {
        if path.symlink_metadata().is_err() {
            format!(
                "no NVIDIA kernel driver: {} does not exist (no driver loaded, or a container started without GPUs)",
                path.display()
            )
        } else {
            format!("{}: {why}", path.display())
        }
    })?;
    let driver = version
        .lines()
        .next()
        .and_then(|l| {
            l.split_whitespace().find(|w| {
                w.chars().filter(|c| *c == '.').count() >= 1
                    && w.chars().next().is_some_and(|c| c.is_ascii_digit())
            })
        })
        .map(str::to_string);
    let gpus = fs::read_dir(proc_dir.join("gpus"))
        .map(|d| d.count())
        .unwrap_or(0);
    if gpus == 0 {
        return Err(format!(
            "the NVIDIA kernel driver {} lists no GPU under {}",
            driver.as_deref().unwrap_or("(version unknown)"),
            proc_dir.join("gpus").display()
        ));
    }
    Ok(NvidiaPresence { gpus, driver })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_reads_the_proc_tree() {
        let root = tempfile::tempdir().unwrap();
        let err = nvidia_presence(root.path()).unwrap_err();
        assert!(err.starts_with("no NVIDIA kernel driver"), "{err}");

        let dir = root.path().join("proc/driver/nvidia");
        fs::create_dir_all(dir.join("gpus")).unwrap();
        fs::write(
            dir.join("version"),
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n",
        )
        .unwrap();
        let err = nvidia_presence(root.path()).unwrap_err();
        assert!(err.contains("535.104.05 lists no GPU"), "{err}");

        fs::create_dir_all(dir.join("gpus/0000:3b:00.0")).unwrap();
        let presence = nvidia_presence(root.path()).unwrap();
        assert_eq!(presence.gpus, 1);
        assert_eq!(presence.driver.as_deref(), Some("535.104.05"));
    }

    #[test]
    fn device_nodes_under_the_root() {
        let root = tempfile::tempdir().unwrap();
        assert!(dev_nodes(root.path()).is_empty());
        fs::create_dir(root.path().join("dev")).unwrap();
        for n in ["nvidia0", "nvidiactl", "null"] {
            fs::write(root.path().join("dev").join(n), "").unwrap();
        }
        assert_eq!(dev_nodes(root.path()), ["nvidia0", "nvidiactl"]);
    }

    #[test]
    fn relative_and_empty_search_elements_are_found_and_dropped() {
        assert_eq!(relative_search_elements("/a:/b"), Vec::<String>::new());
        assert_eq!(relative_search_elements("/nonexistent:"), [""]);
        assert_eq!(relative_search_elements("lib:/a::."), ["lib", "", "."]);
        assert_eq!(absolute_search_path("/a:/b".as_ref()), None);
        assert_eq!(
            absolute_search_path("/nonexistent::lib:/b".as_ref()),
            Some("/nonexistent:/b".into())
        );
        assert_eq!(absolute_search_path(":".as_ref()), Some("".into()));
    }
}
