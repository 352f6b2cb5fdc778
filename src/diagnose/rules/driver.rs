//! Rules of the `Driver` family: NVML, `cuInit` and the device nodes cannot be reached.

use super::*;

pub(super) fn nvml_missing(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let DriverProbe::LibraryMissing { tried } = &f.driver else {
        return vec![];
    };
    let mut evidence: Vec<String> = tried
        .iter()
        .map(|(name, err)| format!("dlopen({name}): {err}"))
        .collect();
    evidence.push(kernel_driver_evidence(f));
    // libcuda without NVML is not "no driver": a container given the
    // `compute` capability without `utility`, or a partial driver install.
    let cuda = f
        .library(Role::Driver)
        .and_then(|l| l.resolved.as_ref().map(|r| (r, l.driver_api.as_ref())));
    if let Some((copy, api)) = cuda {
        let init = api.map_or("not asked".to_string(), |a| match &a.init_error {
            None => format!("succeeded, {} device(s)", a.device_count.unwrap_or(0)),
            Some(e) => e.clone(),
        });
        evidence.push(format!(
            "libcuda.so.1: {} (cuInit: {init})",
            describe_copy(copy)
        ));
        return finding(
            Severity::Error,
            format!(
                "the NVIDIA driver is only partly here: libcuda.so.1 ({}) loads but NVML (libnvidia-ml.so.1) does not (cuInit: {init})",
                describe_copy(copy)
            ),
            "in a container, add `utility` to NVIDIA_DRIVER_CAPABILITIES (e.g. `compute,utility`, or `all`): `compute` alone mounts libcuda without NVML; on a host, install the driver's NVML package of the same version (e.g. libnvidia-ml1 / libnvidia-compute-XXX) or pass --nvml-library PATH".into(),
            evidence,
        );
    }
    let fix = if f.host.nvidia.is_ok() {
        format!(
            "the kernel driver is loaded but its user-space libraries are not visible here; in a container, {CONTAINER_FIX}; on the host, reinstall the driver's user-space package (e.g. libnvidia-compute-{0}) or pass --nvml-library PATH",
            f.host
                .nvidia
                .as_ref()
                .ok()
                .and_then(|p| p.driver.as_deref())
                .and_then(|d| d.split('.').next())
                .unwrap_or("XXX")
        )
    } else {
        "install the NVIDIA driver on this machine (it provides libnvidia-ml.so.1 and libcuda.so.1), or run this job on a GPU runner; where the library sits elsewhere (WSL: /usr/lib/wsl/lib) pass --nvml-library PATH".to_string()
    };
    finding(Severity::Error, f.driver.why_missing(), fix, evidence)
}

pub(super) fn driver_not_loaded(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let DriverProbe::InitFailed { library, error } = &f.driver else {
        return vec![];
    };
    // No device nodes explains an init failure better, when that is the case.
    if f.host.nvidia.is_ok() && missing_nodes(f).is_some() {
        return vec![];
    }
    // Codes with rules of their own.
    if ["RM_VERSION_MISMATCH", "NO_PERMISSION", "NVML_ERROR_UNKNOWN"]
        .iter()
        .any(|code| error.contains(code))
    {
        return vec![];
    }
    let fix = "load the NVIDIA kernel module (`sudo modprobe nvidia`; check `dmesg | grep -i nvrm` for why it did not load, e.g. Secure Boot or a kernel upgrade without a rebuilt module), or reboot after installing the driver".to_string();
    finding(
        Severity::Error,
        format!("NVML loaded from {library} but could not reach the driver: {error}"),
        fix,
        vec![kernel_driver_evidence(f)],
    )
}

/// NVML's library and error when `nvmlInit` failed with `code`, unless
/// missing device nodes explain the failure better.
pub(super) fn nvml_init_failure<'f>(f: &'f Facts, code: &str) -> Option<(&'f str, &'f str)> {
    let DriverProbe::InitFailed { library, error } = &f.driver else {
        return None;
    };
    if !error.contains(code) || (f.host.nvidia.is_ok() && missing_nodes(f).is_some()) {
        return None;
    }
    Some((library, error))
}

/// `libnvidia-ml.so.535.309.01` → `535.309.01`.
pub(super) fn library_driver_version(library: &str) -> Option<&str> {
    let name = library.rsplit('/').next()?;
    name.strip_prefix("libnvidia-ml.so.")
        .filter(|v| v.contains('.'))
}

/// NVML_ERROR_LIB_RM_VERSION_MISMATCH, naming both versions.
pub(super) fn driver_library_mismatch(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((library, error)) = nvml_init_failure(f, "RM_VERSION_MISMATCH") else {
        return vec![];
    };
    let kernel = f.host.nvidia.as_ref().ok().and_then(|p| p.driver.clone());
    let user = library_driver_version(library);
    let versions = match (&kernel, user) {
        (Some(k), Some(u)) => format!(" (kernel module {k}, libnvidia-ml {u})"),
        (Some(k), None) => format!(" (kernel module {k})"),
        (None, Some(u)) => format!(" (libnvidia-ml {u})"),
        (None, None) => String::new(),
    };
    finding(
        Severity::Error,
        format!("the NVIDIA kernel module and its user-space libraries are different driver versions{versions}: the libraries were upgraded and the old module is still loaded"),
        "reboot, or reload the module (`sudo rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia && sudo modprobe nvidia`); in a container, the host's driver was upgraded under it: restart the container".into(),
        vec![format!("NVML from {library}: {error}"), kernel_driver_evidence(f)],
    )
}

/// NVML_ERROR_NO_PERMISSION: rootless containers, device nodes not ours.
pub(super) fn nvml_no_permission(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((library, error)) = nvml_init_failure(f, "NO_PERMISSION") else {
        return vec![];
    };
    let mut evidence = vec![format!("NVML from {library}: {error}")];
    evidence.push(format!("/dev nodes: {}", f.host.dev_nodes.join(" ")));
    if let Some(container) = &f.host.container {
        evidence.push(format!("running in a container: {container}"));
    }
    finding(
        Severity::Error,
        "NVML may not talk to the driver: this user cannot open /dev/nvidiactl or /dev/nvidia* (a rootless container, or device nodes whose group this user is not in)".into(),
        "rootless Podman/Docker: generate a CDI spec (`nvidia-ctk cdi generate`) and run with `--device nvidia.com/gpu=all`, or set `no-cgroups = true` in the NVIDIA container runtime's config; on a host, add the user to the group that owns /dev/nvidia* (often `video`)".into(),
        evidence,
    )
}

/// NVML_ERROR_UNKNOWN, typically inside a container that lost its devices.
pub(super) fn nvml_unknown_error(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((library, error)) = nvml_init_failure(f, "NVML_ERROR_UNKNOWN") else {
        return vec![];
    };
    let in_container = f.host.container.is_some();
    finding(
        Severity::Error,
        if in_container {
            "NVML fails with an unknown error inside this container: it lost access to its GPUs, typically after `systemctl daemon-reload` on the host reset the container's device cgroup".to_string()
        } else {
            "NVML fails with an unknown driver error".to_string()
        },
        if in_container {
            "restart the container; for good, let the NVIDIA container toolkit manage devices through CDI, or create the /dev/char symlinks (`nvidia-ctk system create-dev-char-symlinks`) so systemd keeps the device rules".into()
        } else {
            "check `dmesg | grep -i -e nvrm -e xid` for the driver's error; reload the driver or reboot".into()
        },
        vec![
            format!("NVML from {library}: {error}"),
            kernel_driver_evidence(f),
        ],
    )
}

pub(super) fn nvml_unresponsive(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let (cause, evidence) = match &f.driver {
        DriverProbe::TimedOut { seconds } => (
            format!(
                "NVML did not answer within {seconds:.0}s: the driver is hung, usually on a GPU that fell off the bus"
            ),
            vec![kernel_driver_evidence(f)],
        ),
        DriverProbe::Crashed { how, stderr_tail } => (
            format!("the NVML probe died: {how}"),
            stderr_tail
                .lines()
                .rev()
                .take(3)
                .map(|l| format!("probe stderr: {l}"))
                .collect(),
        ),
        _ => return vec![],
    };
    finding(
        Severity::Error,
        cause,
        "drain this runner; look for Xid errors with `dmesg | grep -i xid` (79: fallen off the bus, 48: double-bit ECC), then reset the GPU (`nvidia-smi -r -i N`) or reboot the node".into(),
        evidence,
    )
}

/// The device nodes a CUDA process needs that are absent, if any are.
pub(super) fn missing_nodes(f: &Facts) -> Option<Vec<&'static str>> {
    let nodes = &f.host.dev_nodes;
    let mut missing = Vec::new();
    if !nodes.iter().any(|n| n == "nvidiactl") {
        missing.push("nvidiactl");
    }
    if !nodes.iter().any(|n| {
        n.strip_prefix("nvidia")
            .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit()))
    }) {
        missing.push("nvidia0..N");
    }
    (!missing.is_empty()).then_some(missing)
}

pub(super) fn no_device_nodes(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    // WSL 2 reaches the GPU through /dev/dxg; it has no /dev/nvidia* nodes.
    if f.host.wsl {
        return vec![];
    }
    // Only meaningful where the driver is running (kernel module or NVML).
    if f.host.nvidia.is_err() && f.driver.found().is_none() {
        return vec![];
    }
    let Some(missing) = missing_nodes(f) else {
        return vec![];
    };
    let dev = format!("{}/dev", root_prefix(f));
    let mut evidence = vec![
        format!(
            "{dev} has {} and lacks {}",
            if f.host.dev_nodes.is_empty() {
                "no nvidia* nodes".to_string()
            } else {
                f.host.dev_nodes.join(", ")
            },
            missing.join(", ")
        ),
        kernel_driver_evidence(f),
    ];
    if let Some(value) = f.host.var("NVIDIA_VISIBLE_DEVICES") {
        evidence.push(format!("NVIDIA_VISIBLE_DEVICES={value}"));
    }
    if let Some(container) = &f.host.container {
        evidence.push(format!("running in a container: {container}"));
    }
    if let DriverProbe::InitFailed { error, .. } = &f.driver {
        evidence.push(format!("NVML: {error}"));
    }
    finding(
        Severity::Error,
        format!(
            "the NVIDIA driver is present but {dev} has no GPU device nodes: this container (or sandbox) was started without GPUs"
        ),
        format!("{CONTAINER_FIX}; NVIDIA_VISIBLE_DEVICES=void or none also hides every GPU"),
        evidence,
    )
}

/// `NVIDIA_VISIBLE_DEVICES` as the NVIDIA container runtime reads it, when
/// it exposes no GPU: `void` (neither GPUs nor the driver's libraries) or
/// `none` (the libraries, no GPU).
pub(super) fn gpus_not_exposed(f: &Facts) -> Option<&str> {
    let value = f.host.var("NVIDIA_VISIBLE_DEVICES")?;
    let lists_gpus = f.driver.found().is_some_and(|d| !d.gpus.is_empty());
    (matches!(value.trim().to_ascii_lowercase().as_str(), "void" | "none") && !lists_gpus)
        .then_some(value)
}

/// The capabilities `NVIDIA_DRIVER_CAPABILITIES` leaves out that this
/// machine's missing driver pieces need: `utility` mounts NVML, `compute`
/// mounts libcuda.
pub(super) fn capabilities_missing(f: &Facts) -> Option<(&str, Vec<&'static str>)> {
    let value = f.host.var("NVIDIA_DRIVER_CAPABILITIES")?;
    let granted: Vec<String> = value
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    if granted.iter().any(|c| c == "all") {
        return None;
    }
    let has = |c: &str| granted.iter().any(|g| g == c);
    let nvml_missing = matches!(f.driver, DriverProbe::LibraryMissing { .. });
    let libcuda_missing = f
        .library(Role::Driver)
        .is_some_and(|l| l.resolved.is_none());
    let mut lacking = Vec::new();
    if nvml_missing && !has("utility") {
        lacking.push("utility");
    }
    if libcuda_missing && !has("compute") {
        lacking.push("compute");
    }
    (!lacking.is_empty()).then_some((value, lacking))
}

pub(super) fn container_gpus_not_exposed(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(value) = gpus_not_exposed(f) else {
        return vec![];
    };
    let what = if value.trim().eq_ignore_ascii_case("void") {
        "neither the GPUs nor the driver's libraries"
    } else {
        "the driver's libraries but no GPU"
    };
    let mut evidence = vec![
        format!("NVIDIA_VISIBLE_DEVICES={value}"),
        kernel_driver_evidence(f),
    ];
    evidence.push(match f.driver.found() {
        Some(d) => format!("NVML lists {} GPU(s)", d.gpus.len()),
        None => format!("NVML: {}", f.driver.why_missing()),
    });
    finding(
        Severity::Error,
        format!(
            "NVIDIA_VISIBLE_DEVICES={value} tells the NVIDIA container runtime to expose {what} to this container"
        ),
        "set NVIDIA_VISIBLE_DEVICES=all (or the GPUs' indexes or UUIDs), or start the container with `--gpus all`; on Kubernetes request `nvidia.com/gpu` in resources.limits and do not set NVIDIA_VISIBLE_DEVICES yourself (the device plugin does)".into(),
        evidence,
    )
}

pub(super) fn container_capabilities_missing(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((value, lacking)) = capabilities_missing(f) else {
        return vec![];
    };
    let pieces: Vec<&str> = lacking
        .iter()
        .map(|c| match *c {
            "utility" => "NVML (libnvidia-ml.so.1)",
            _ => "the CUDA driver (libcuda.so.1)",
        })
        .collect();
    let mut evidence = vec![format!("NVIDIA_DRIVER_CAPABILITIES={value}")];
    evidence.push(format!("NVML: {}", f.driver.why_missing()));
    if let Some(lib) = f.library(Role::Driver) {
        evidence.push(match &lib.resolved {
            Some(copy) => format!("libcuda.so.1: {}", describe_copy(copy)),
            None => "libcuda.so.1: not found".to_string(),
        });
    }
    let mut wanted: Vec<String> = value
        .split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    wanted.extend(lacking.iter().map(|c| c.to_string()));
    finding(
        Severity::Error,
        format!(
            "NVIDIA_DRIVER_CAPABILITIES={value} lacks `{}`, so the NVIDIA container runtime does not mount {}",
            lacking.join("` and `"),
            pieces.join(" or ")
        ),
        format!(
            "set NVIDIA_DRIVER_CAPABILITIES={} (or `all`): TensorFlow needs `compute`, gpugate's NVML facts need `utility`",
            wanted.join(",")
        ),
        evidence,
    )
}

/// WSL 2's own directory of the driver's Linux libraries, under the root.
fn wsl_lib_dir(f: &Facts) -> std::path::PathBuf {
    f.host.root.join(crate::host::WSL_LIB_DIR)
}

/// A managed platform's directory that holds libcuda.so.1 where the loader
/// finds none: the layout and its words.
pub(super) fn driver_layout_off_path(
    f: &Facts,
) -> Option<(std::path::PathBuf, &'static str, &'static str)> {
    if !f
        .library(Role::Driver)
        .is_some_and(|l| l.resolved.is_none() && !l.unloadable_or_crashed())
    {
        return None;
    }
    crate::host::DRIVER_LAYOUTS
        .iter()
        .find_map(|(layout, words)| {
            let dir = std::path::Path::new(&f.host.root).join(layout);
            dir.join("libcuda.so.1")
                .exists()
                .then_some((dir, *layout, *words))
        })
}

pub(super) fn driver_libraries_off_path(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((found, layout, words)) = driver_layout_off_path(f) else {
        return vec![];
    };
    let present: Vec<&str> = [
        "libcuda.so.1",
        "libnvidia-ml.so.1",
        "libnvidia-ptxjitcompiler.so.1",
    ]
    .into_iter()
    .filter(|name| found.join(name).exists())
    .collect();
    let mut evidence = vec![format!("in {}: {}", found.display(), present.join(", "))];
    if let Some(error) = f.library(Role::Driver).and_then(|l| l.error.as_ref()) {
        evidence.push(format!("dlopen(libcuda.so.1): {error}"));
    }
    // The machine's own path, not the host root's mount of it: the line
    // goes into that machine's image or job.
    let dir = format!("/{layout}");
    finding(
        Severity::Error,
        format!(
            "the NVIDIA driver's libraries are in {dir} ({words}), but the loader does not search there, so TensorFlow finds no libcuda.so.1 and registers no GPU"
        ),
        format!(
            "put {dir} on the loader's path: in the image or the job, `ENV LD_LIBRARY_PATH={dir}` (shell: `export LD_LIBRARY_PATH={dir}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}`), or `echo {dir} > /etc/ld.so.conf.d/nvidia.conf && ldconfig`; with the NVIDIA Container Toolkit (CDI, or the nvidia runtime), request the GPU so the libraries are mounted where the loader looks"
        ),
        evidence,
    )
}

/// A libcuda the loader misses in a known place: `wsl-libraries-not-found`
/// or `driver-libraries-off-path` says where and how to add it.
pub(super) fn libcuda_off_path_told(f: &Facts) -> bool {
    wsl_libcuda_off_path(f) || driver_layout_off_path(f).is_some()
}

/// Whether this is WSL 2 with the Windows driver's libcuda where the loader
/// does not look: `wsl-libraries-not-found` then tells why libcuda is missing.
pub(super) fn wsl_libcuda_off_path(f: &Facts) -> bool {
    f.host.wsl
        && f.library(Role::Driver)
            .is_some_and(|l| l.resolved.is_none())
        && wsl_lib_dir(f).join("libcuda.so.1").exists()
}

pub(super) fn wsl_libraries_not_found(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(cuda) = f.library(Role::Driver).filter(|_| wsl_libcuda_off_path(f)) else {
        return vec![];
    };
    let dir = wsl_lib_dir(f);
    let there = dir.join("libcuda.so.1");
    let mut evidence = vec![
        format!("{}/dev/dxg exists: WSL 2", root_prefix(f)),
        format!("{} exists", there.display()),
    ];
    if let Some(error) = &cuda.error {
        evidence.push(format!("dlopen(libcuda.so.1): {error}"));
    }
    finding(
        Severity::Error,
        format!(
            "this is WSL 2 and the Windows driver's libcuda.so.1 is in {}, but the loader does not search there",
            dir.display()
        ),
        format!(
            "put {0} on the loader's path: `echo {0} | sudo tee /etc/ld.so.conf.d/ld.wsl.conf && sudo ldconfig` (or add it to LD_LIBRARY_PATH); do not install a Linux NVIDIA driver inside WSL",
            dir.display()
        ),
        evidence,
    )
}

/// Whether this is WSL 2 and the libcuda the loader finds is not the
/// Windows driver's: a Linux driver installed inside WSL shadows it.
pub(super) fn wsl_libcuda_shadowed(f: &Facts) -> bool {
    let dir = wsl_lib_dir(f);
    f.host.wsl
        && dir.join("libcuda.so.1").exists()
        && f.library(Role::Driver)
            .and_then(|l| l.resolved.as_ref())
            .is_some_and(|copy| !copy.path.starts_with(&dir))
}

pub(super) fn wsl_linux_driver_installed(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    if !wsl_libcuda_shadowed(f) {
        return vec![];
    }
    let Some(copy) = f.library(Role::Driver).and_then(|l| l.resolved.as_ref()) else {
        return vec![];
    };
    let dir = wsl_lib_dir(f);
    finding(
        Severity::Error,
        format!(
            "this is WSL 2, but the libcuda.so.1 the loader finds is {} ({}), not the Windows driver's in {}: a Linux NVIDIA driver installed inside WSL shadows it",
            copy.path.display(),
            copy.version
                .as_ref()
                .map_or("version unknown".to_string(), |v| v.to_string()),
            dir.display()
        ),
        format!(
            "remove the Linux driver packages inside WSL (e.g. `sudo apt-get remove --purge 'libnvidia-compute-*' 'nvidia-driver-*'`, then `sudo ldconfig`) so {} is found; the GPU driver is the Windows one",
            dir.display()
        ),
        vec![
            format!("{}/dev/dxg exists: WSL 2", root_prefix(f)),
            format!("libcuda.so.1 resolves to {}", describe_copy(copy)),
            format!("{} exists", dir.join("libcuda.so.1").display()),
        ],
    )
}

pub(super) fn device_nodes_not_accessible(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    if f.host.dev_nodes_denied.is_empty() {
        return vec![];
    }
    let dev = format!("{}/dev", root_prefix(f));
    let crate::host::ProcessIds { uid, gid } = f.host.process;
    let mut evidence: Vec<String> = f
        .host
        .dev_nodes_denied
        .iter()
        .map(|n| format!("{dev}/{n}: not readable and writable by this process"))
        .collect();
    evidence.push(format!("this process: uid {uid}, gid {gid}"));
    if let DriverProbe::InitFailed { error, .. } = &f.driver {
        evidence.push(format!("NVML: {error}"));
    }
    finding(
        Severity::Error,
        format!(
            "the GPU device files in {dev} exist but this process may not open them ({}): CUDA and NVML cannot reach the GPUs",
            f.host.dev_nodes_denied.join(", ")
        ),
        "add the runner's user to the group that owns the device files (e.g. `sudo usermod -aG video USER`, then log in again), or have the driver create them accessible (module options NVreg_DeviceFileUID/GID/Mode, e.g. `NVreg_DeviceFileMode=0666`, the default); in a container, run with the device files' group (`--group-add`)".into(),
        evidence,
    )
}
