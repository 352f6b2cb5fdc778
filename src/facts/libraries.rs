//! The CUDA libraries a TensorFlow build dlopens, as this machine provides
//! them: whether the loader resolves each, from where, at which version, and
//! every other copy that could shadow it. [`probe`] runs in a worker only.

use crate::compat::{Need, Role};
use crate::dl::Library;
use crate::version::Version;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LibraryFact {
    pub role: Role,
    pub soname: String,
    /// What a plain `dlopen(soname)` (or TensorFlow's own RUNPATH) found.
    pub resolved: Option<Copy>,
    /// How it was found ("loader" or the directory next to TensorFlow).
    pub via: Option<String>,
    /// The loader's error when nothing resolved.
    pub error: Option<String>,
    /// Every file with this exact name on the search path (distinct files).
    pub copies: Vec<Copy>,
    /// Files of the same library with another soname version (libcudnn.so.8 beside a needed .so.9).
    pub other_versions: Vec<Copy>,
    /// For libcuda: what `cuInit` said and how many devices CUDA sees.
    pub driver_api: Option<DriverApi>,
    /// Why nothing is known: probing this library crashed or hung its
    /// worker (the signal or timeout and the worker's last lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_crashed: Option<String>,
    /// cuDNN only: the sub-libraries its `libcudnn.so.N` loads at its first
    /// call that are missing from its directory (read from files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_parts: Vec<PathBuf>,
    /// cuDNN only: sub-libraries the resolved shim loaded from another
    /// directory than its own (LD_LIBRARY_PATH's copy): a mixed cuDNN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_parts: Vec<PathBuf>,
    /// cuDNN only: the CUDA release the resolved cuDNN was built for
    /// (`cudnnGetCudartVersion`): `nvidia-cudnn-cu11` and `-cu12` ship the
    /// same soname and version, for different CUDA majors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_for_cuda: Option<Version>,
}

impl LibraryFact {
    /// Not missing: its file is there but fails to load (the loader's own
    /// error names an undefined symbol), or probing it crashed.
    pub fn unloadable_or_crashed(&self) -> bool {
        self.probe_crashed.is_some()
            || self
                .error
                .as_deref()
                .is_some_and(|e| e.contains("undefined symbol: "))
    }

    /// A library whose probe never answered.
    pub fn crashed(need: &Need, why: String) -> LibraryFact {
        LibraryFact {
            role: need.role,
            soname: need.soname.clone(),
            resolved: None,
            via: None,
            error: Some(why.lines().next().unwrap_or_default().to_string()),
            copies: Vec::new(),
            other_versions: Vec::new(),
            driver_api: None,
            probe_crashed: Some(why),
            missing_parts: Vec::new(),
            foreign_parts: Vec::new(),
            built_for_cuda: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Copy {
    pub path: PathBuf,
    pub version: Option<Version>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriverApi {
    /// None when cuInit succeeded; else the driver's name, code and words
    /// for the error: `CUDA_ERROR_NO_DEVICE (100): no CUDA-capable device is detected`.
    pub init_error: Option<String>,
    pub device_count: Option<i32>,
    /// The devices CUDA enumerates (after `CUDA_VISIBLE_DEVICES`), as
    /// TensorFlow's GPU device reads them.
    #[serde(default)]
    pub devices: Vec<CudaDevice>,
}

impl DriverApi {
    pub fn failed(error: String) -> DriverApi {
        DriverApi {
            init_error: Some(error),
            device_count: None,
            devices: Vec::new(),
        }
    }
}

/// One CUDA device's attributes (`cuDeviceGetAttribute`); None where the
/// driver did not answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CudaDevice {
    pub ordinal: i32,
    pub pci_bus_id: Option<String>,
    pub multiprocessors: Option<i32>,
    /// CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED: what `cudaMallocAsync`
    /// (TF_GPU_ALLOCATOR=cuda_malloc_async) needs.
    pub memory_pools: Option<bool>,
}

/// The directories the loader and TensorFlow search, in order, without duplicates.
pub fn search_dirs(extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(paths) = std::env::var_os("LD_LIBRARY_PATH") {
        // An empty or relative element is the working directory, which
        // gpugate's workers never search (host::absolute_search_path).
        dirs.extend(std::env::split_paths(&paths).filter(|p| p.is_absolute()));
    }
    dirs.extend(extra.iter().cloned());
    dirs.extend(ld_so_conf_dirs(Path::new("/etc/ld.so.conf")));
    for dir in [
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib64",
        "/usr/lib64",
        "/usr/local/cuda/lib64",
        "/usr/local/cuda/targets/x86_64-linux/lib",
    ] {
        dirs.push(dir.into());
    }
    let mut seen = BTreeSet::new();
    dirs.retain(|d| seen.insert(d.canonicalize().unwrap_or_else(|_| d.clone())));
    dirs
}

/// Directories named in ld.so.conf and the files it includes.
fn ld_so_conf_dirs(conf: &Path) -> Vec<PathBuf> {
    let Ok(text) = crate::input::read_text(conf, crate::input::HOST_FILE_LIMIT) else {
        return Vec::new();
    };
    let mut dirs = Vec::new();
    for line in text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
    {
        if let Some(pattern) = line.strip_prefix("include ") {
            let pattern = Path::new(pattern.trim());
            let (Some(dir), Some(name)) = (pattern.parent(), pattern.file_name()) else {
                continue;
            };
            let suffix = name.to_string_lossy().trim_start_matches('*').to_string();
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(&suffix))
                .collect();
            files.sort();
            for file in files {
                dirs.extend(ld_so_conf_dirs(&file));
            }
        } else if line.starts_with('/') {
            dirs.push(PathBuf::from(line));
        }
    }
    dirs
}

/// Probes every needed library. `extra_dirs` are where TensorFlow's RUNPATH
/// points (pip's `nvidia/*/lib` next to it).
/// `init`: whether cuInit may be called (Err: why not).
pub fn probe(
    needs: &[Need],
    extra_dirs: &[PathBuf],
    init: &Result<(), String>,
) -> Vec<LibraryFact> {
    let dirs = search_dirs(extra_dirs);
    needs
        .iter()
        .map(|need| probe_one(need, &dirs, extra_dirs, init))
        .collect()
}

fn probe_one(
    need: &Need,
    dirs: &[PathBuf],
    extra_dirs: &[PathBuf],
    init: &Result<(), String>,
) -> LibraryFact {
    let mut fact = LibraryFact {
        role: need.role,
        soname: need.soname.clone(),
        resolved: None,
        via: None,
        error: None,
        copies: Vec::new(),
        other_versions: Vec::new(),
        driver_api: None,
        probe_crashed: None,
        missing_parts: Vec::new(),
        foreign_parts: Vec::new(),
        built_for_cuda: None,
    };
    let opened = match Library::open(&need.soname) {
        Ok(lib) => Some((lib, "loader".to_string())),
        Err(error) => {
            fact.error = Some(error.to_string());
            let mut kept_own_error = false;
            let mut found = None;
            for dir in extra_dirs {
                let path = dir.join(&need.soname);
                match Library::open(&path.to_string_lossy()) {
                    Ok(lib) => {
                        let via = format!("TensorFlow's library directory {}", dir.display());
                        found = Some((lib, via));
                        break;
                    }
                    // A file that is there but does not load says why (an
                    // undefined symbol); that beats "cannot open" from a
                    // search that never reached it.
                    Err(e) if path.exists() && !kept_own_error => {
                        fact.error = Some(e.to_string());
                        kept_own_error = true;
                    }
                    Err(_) => {}
                }
            }
            found
        }
    };
    let mut resolved_real = None;
    if let Some((lib, via)) = opened {
        let path = lib
            .path()
            .map_or_else(|| PathBuf::from(&need.soname), |p| tidy(&p));
        resolved_real = path.canonicalize().ok();
        let version =
            library_version(&lib, need.role).or_else(|| version_from_files(&path, need.role));
        if need.role == Role::Cudnn {
            fact.foreign_parts = foreign_cudnn_parts(&path, &need.soname);
            fact.built_for_cuda = cudnn_cuda(&lib);
        }
        fact.resolved = Some(Copy { path, version });
        if need.role == Role::Driver {
            fact.driver_api = Some(match init {
                Ok(()) => driver_api(&lib),
                Err(why) => DriverApi::failed(why.clone()),
            });
        }
        fact.via = Some(via);
        fact.error = None;
        lib.keep();
    }
    let prefix = format!("lib{}.so.", need.role.base());
    let mut seen = BTreeSet::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&prefix))
            .collect();
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let Ok(real) = path.canonicalize() else {
                continue;
            };
            if !seen.insert(real.clone()) {
                continue;
            }
            let path = tidy(&path);
            // Another copy's version is read by the parent in a process of
            // its own: a second copy of a soname opened here would answer
            // with the first copy's version.
            if name == need.soname {
                let version = if Some(&real) == resolved_real.as_ref() {
                    fact.resolved.as_ref().and_then(|r| r.version.clone())
                } else {
                    None
                };
                fact.copies.push(Copy { path, version });
            } else if is_soname_version(&name[prefix.len()..])
                && major_soname(&name, &prefix) == name
            {
                // Only soname-level files of another version (libcudnn.so.8, not .so.8.9.7).
                fact.other_versions.push(Copy {
                    version: None,
                    path,
                });
            }
        }
    }
    fact
}

/// The sub-libraries cuDNN's `libcudnn.so.N` loads by soname at run time
/// (cuDNN 9: a shim over seven; cuDNN 8: six), per NVIDIA's packaging.
pub fn cudnn_parts(soname: &str) -> Vec<String> {
    let major = soname.rsplit('.').next().unwrap_or_default();
    let parts: &[&str] = match major {
        "9" => &[
            "graph",
            "ops",
            "cnn",
            "adv",
            "heuristic",
            "engines_precompiled",
            "engines_runtime_compiled",
        ],
        "8" => &[
            "ops_infer",
            "ops_train",
            "cnn_infer",
            "cnn_train",
            "adv_infer",
            "adv_train",
        ],
        _ => &[],
    };
    parts
        .iter()
        .map(|part| format!("libcudnn_{part}.so.{major}"))
        .collect()
}

/// cuDNN sub-libraries this process loaded from another directory than
/// the shim at `shim` (after its version call): a mixed cuDNN.
fn foreign_cudnn_parts(shim: &Path, soname: &str) -> Vec<PathBuf> {
    let Some(dir) = shim.parent() else {
        return Vec::new();
    };
    cudnn_parts(soname)
        .iter()
        .filter_map(|part| {
            let lib = Library::already_loaded(part)?;
            let path = lib.path().map(|p| tidy(&p));
            lib.keep();
            path
        })
        .filter(|p| p.parent() != Some(dir))
        .collect()
}

/// Which of cuDNN's sub-libraries are missing beside `soname` in `dir`.
pub fn missing_cudnn_parts(dir: &Path, soname: &str) -> Vec<PathBuf> {
    cudnn_parts(soname)
        .into_iter()
        .map(|name| dir.join(name))
        .filter(|path| !path.exists())
        .collect()
}

/// The directory the loader would take `soname` from: the first of `dirs`
/// that holds it (files only, for a library whose probe crashed).
pub fn first_dir_holding(dirs: &[PathBuf], soname: &str) -> Option<PathBuf> {
    dirs.iter().find(|d| d.join(soname).exists()).cloned()
}

fn is_soname_version(suffix: &str) -> bool {
    !suffix.is_empty()
        && suffix
            .split('.')
            .all(|p| p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty())
}

/// `libcudnn.so.8.9.7` → `libcudnn.so.8`; `libcudart.so.11.0` stays (CUDA 11's
/// runtime soname carries the minor).
fn major_soname(name: &str, prefix: &str) -> String {
    let suffix = &name[prefix.len()..];
    if suffix == "11.0" {
        return name.to_string();
    }
    format!("{prefix}{}", suffix.split('.').next().unwrap_or(suffix))
}

/// One spelling per file: the directory canonicalized (`/lib` and
/// `/usr/lib`, `a/../b`), the file name kept (the soname, not its target).
pub fn tidy(path: &Path) -> PathBuf {
    match (
        path.parent().and_then(|d| d.canonicalize().ok()),
        path.file_name(),
    ) {
        (Some(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// Opens a file by path for its version; the worker that does this must
/// have no other copy of the library loaded.
pub fn version_of_file(path: &Path, role: Role) -> Option<Version> {
    if let Some(dir) = path.parent() {
        for sibling in own_dependencies(path, role) {
            if let Ok(lib) = Library::open_lazily(&dir.join(sibling).to_string_lossy()) {
                lib.keep();
            }
        }
    }
    let lib = Library::open(&path.to_string_lossy()).ok()?;
    let version = library_version(&lib, role);
    lib.keep();
    version.or_else(|| version_from_files(path, role))
}

/// The NVIDIA libraries a copy at `path` takes by soname that its own
/// directory holds, dependencies before what needs them: its NEEDED
/// entries, theirs, and cuDNN's sub-libraries, which its shim loads by
/// soname when called. A RUNPATH of `$ORIGIN` (pip's cuBLAS 12.5) loses to
/// LD_LIBRARY_PATH, so a copy opened alone would take them from another
/// copy's directory and answer its version call with theirs (cuBLAS asks
/// its cublasLt); loaded first from its own directory, they are the ones
/// its soname lookups find, as where this copy is the one in use. The
/// system's own libraries (libc, libstdc++) are never loaded this way.
fn own_dependencies(path: &Path, role: Role) -> Vec<String> {
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    let mut roots = needed_nvidia(path);
    if role == Role::Cudnn
        && let Some(name) = path.file_name()
    {
        roots.extend(cudnn_parts(&name.to_string_lossy()));
    }
    let (mut seen, mut order) = (Vec::new(), Vec::new());
    for name in roots {
        leaves_first(dir, name, &mut seen, &mut order);
    }
    order
}

fn needed_nvidia(path: &Path) -> Vec<String> {
    crate::facts::elf::dynamic(path)
        .map_or_else(|_| Vec::new(), |d| d.needed)
        .into_iter()
        .filter(|name| {
            ["libcu", "libnv", "libcudnn"]
                .iter()
                .any(|p| name.starts_with(p))
        })
        .collect()
}

/// `name` after the siblings it needs (post-order), each once, if `dir`
/// holds it.
fn leaves_first(dir: &Path, name: String, seen: &mut Vec<String>, order: &mut Vec<String>) {
    let file = dir.join(&name);
    if seen.contains(&name) || !file.exists() {
        return;
    }
    seen.push(name.clone());
    for need in needed_nvidia(&file) {
        leaves_first(dir, need, seen, order);
    }
    order.push(name);
}

/// The version of a library that has no call to ask it (nvJitLink before
/// CUDA 12.3), from files: the full version in the name of the file the
/// soname points at (`libnvJitLink.so.12.1.105`), else the pip wheel that
/// installed it (`SITE/nvidia/PKG/lib/FILE` beside
/// `SITE/nvidia_PKG_cuNN-VERSION.dist-info`).
pub fn version_from_files(path: &Path, role: Role) -> Option<Version> {
    // libcuda's file is named for the driver, not for the CUDA it supports.
    if role == Role::Driver {
        return None;
    }
    let prefix = format!("lib{}.so.", role.base());
    let real = path.canonicalize().ok()?;
    if let Some(full) = real
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(&prefix))
        .filter(|v| v.split('.').count() >= 3)
        .and_then(Version::parse)
    {
        return Some(full);
    }
    let lib_dir = real.parent()?;
    let package = lib_dir.parent()?;
    let nvidia = package.parent()?;
    if nvidia.file_name()? != "nvidia" || lib_dir.file_name()? != "lib" {
        return None;
    }
    let wheel = format!("nvidia_{}_cu", package.file_name()?.to_str()?);
    let mut found: Vec<Version> = std::fs::read_dir(nvidia.parent()?)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let rest = name.strip_prefix(&wheel)?.strip_suffix(".dist-info")?;
            let (_, version) = rest.split_once('-')?;
            Version::parse(version)
        })
        .collect();
    // Two dist-infos for one directory: which files are whose is unknown.
    (found.len() == 1).then(|| found.remove(0))
}

type IntOut = unsafe extern "C" fn(*mut c_int) -> c_int;
type Property = unsafe extern "C" fn(c_int, *mut c_int) -> c_int;

/// Asks the library for its version with the call each one offers.
pub fn library_version(lib: &Library, role: Role) -> Option<Version> {
    // SAFETY (all calls below): each symbol has the C signature NVIDIA
    // documents for it, and receives valid out-pointers.
    unsafe {
        let int_out = |symbol: &str| -> Option<i64> {
            let f: IntOut = std::mem::transmute(lib.symbol(symbol)?);
            let mut value: c_int = 0;
            (f(&mut value) == 0).then_some(value as i64)
        };
        match role {
            Role::Driver => Version::from_cuda_int(int_out("cuDriverGetVersion")?),
            Role::Cudart => Version::from_cuda_int(int_out("cudaRuntimeGetVersion")?),
            Role::Cudnn => {
                let f: unsafe extern "C" fn() -> usize =
                    std::mem::transmute(lib.symbol("cudnnGetVersion")?);
                Some(decode_cudnn(f() as u64))
            }
            Role::NvJitLink => {
                let f: unsafe extern "C" fn(*mut c_uint, *mut c_uint) -> c_int =
                    std::mem::transmute(lib.symbol("nvJitLinkVersion")?);
                let (mut major, mut minor) = (0, 0);
                (f(&mut major, &mut minor) == 0)
                    .then(|| Version::from_parts(&[major as u64, minor as u64]))
            }
            Role::Cublas | Role::CublasLt | Role::Cufft | Role::Cusolver | Role::Cusparse => {
                let symbol = format!("{}GetProperty", role.base());
                let f: Property = std::mem::transmute(lib.symbol(&symbol)?);
                let mut parts = [0u64; 3];
                for (kind, part) in parts.iter_mut().enumerate() {
                    let mut value: c_int = 0;
                    if f(kind as c_int, &mut value) != 0 {
                        return None;
                    }
                    *part = value as u64;
                }
                Some(Version::from_parts(&parts))
            }
        }
    }
}

/// The CUDA release a cuDNN was built for: `cudnnGetCudartVersion()`, in
/// CUDA's encoding (11080 = 11.8).
fn cudnn_cuda(lib: &Library) -> Option<Version> {
    // SAFETY: `size_t cudnnGetCudartVersion(void)`, as cuDNN documents it.
    let value = unsafe {
        let f: unsafe extern "C" fn() -> usize =
            std::mem::transmute(lib.symbol("cudnnGetCudartVersion")?);
        f()
    };
    Version::from_cuda_int(value as i64)
}

/// cuDNN 8: major×1000 + minor×100 + patch; cuDNN 9: major×10000 + minor×100 + patch.
pub fn decode_cudnn(value: u64) -> Version {
    if value >= 10_000 {
        Version::from_parts(&[value / 10_000, (value % 10_000) / 100, value % 100])
    } else {
        Version::from_parts(&[value / 1000, (value % 1000) / 100, value % 100])
    }
}

fn driver_api(lib: &Library) -> DriverApi {
    // SAFETY: cuInit(unsigned), cuDeviceGetCount(int*), and cuGetErrorName and
    // cuGetErrorString(int, const char**), as the driver API documents them.
    unsafe {
        let Some(init) = lib.symbol("cuInit") else {
            return DriverApi::failed("libcuda has no cuInit".into());
        };
        let init: unsafe extern "C" fn(c_uint) -> c_int = std::mem::transmute(init);
        let rc = init(0);
        if rc != 0 {
            // The driver's own name and words for the code: where a code has
            // more than one cause, they are what the diagnosis can vouch for.
            let ask = |symbol: &str| {
                lib.symbol(symbol).and_then(|f| {
                    let f: unsafe extern "C" fn(c_int, *mut *const c_char) -> c_int =
                        std::mem::transmute(f);
                    let mut text: *const c_char = std::ptr::null();
                    (f(rc, &mut text) == 0 && !text.is_null())
                        .then(|| CStr::from_ptr(text).to_string_lossy().into_owned())
                })
            };
            let name = ask("cuGetErrorName").unwrap_or_else(|| "CUDA_ERROR".into());
            let error = match ask("cuGetErrorString") {
                Some(words) => format!("{name} ({rc}): {words}"),
                None => format!("{name} ({rc})"),
            };
            return DriverApi::failed(error);
        }
        let device_count = lib.symbol("cuDeviceGetCount").and_then(|f| {
            let f: unsafe extern "C" fn(*mut c_int) -> c_int =
                std::mem::transmute::<*mut c_void, _>(f);
            let mut n = 0;
            (f(&mut n) == 0).then_some(n)
        });
        DriverApi {
            init_error: None,
            devices: (0..device_count.unwrap_or(0))
                .map(|ordinal| cuda_device(lib, ordinal))
                .collect(),
            device_count,
        }
    }
}

/// CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT and _MEMORY_POOLS_SUPPORTED.
const ATTRIBUTE_MULTIPROCESSORS: c_int = 16;
const ATTRIBUTE_MEMORY_POOLS: c_int = 115;

/// A device's attributes, after a successful cuInit.
fn cuda_device(lib: &Library, ordinal: i32) -> CudaDevice {
    // SAFETY: cuDeviceGet(CUdevice*, int), cuDeviceGetAttribute(int*,
    // CUdevice_attribute, CUdevice) and cuDeviceGetPCIBusId(char*, int,
    // CUdevice), as the driver API documents them; CUdevice is an int.
    unsafe {
        let device = lib.symbol("cuDeviceGet").and_then(|f| {
            let f: unsafe extern "C" fn(*mut c_int, c_int) -> c_int = std::mem::transmute(f);
            let mut device = 0;
            (f(&mut device, ordinal) == 0).then_some(device)
        });
        let attribute = |attribute: c_int| {
            let device = device?;
            let f: unsafe extern "C" fn(*mut c_int, c_int, c_int) -> c_int =
                std::mem::transmute(lib.symbol("cuDeviceGetAttribute")?);
            let mut value = 0;
            (f(&mut value, attribute, device) == 0).then_some(value)
        };
        let pci_bus_id = device.and_then(|device| {
            let f: unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int =
                std::mem::transmute(lib.symbol("cuDeviceGetPCIBusId")?);
            let mut text = [0u8; 32];
            // A driver that fills the buffer without a NUL gives no bus id.
            (f(text.as_mut_ptr().cast(), text.len() as c_int, device) == 0)
                .then(|| CStr::from_bytes_until_nul(&text).ok())
                .flatten()
                .map(|id| id.to_string_lossy().into_owned())
        });
        CudaDevice {
            ordinal,
            pci_bus_id,
            multiprocessors: attribute(ATTRIBUTE_MULTIPROCESSORS),
            memory_pools: attribute(ATTRIBUTE_MEMORY_POOLS).map(|v| v != 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cudnn_encodings() {
        assert_eq!(decode_cudnn(8907).to_string(), "8.9.7");
        assert_eq!(decode_cudnn(90300).to_string(), "9.3.0");
        assert_eq!(decode_cudnn(90100).to_string(), "9.1.0");
    }

    #[test]
    fn soname_versions() {
        assert_eq!(
            major_soname("libcudnn.so.8.9.7", "libcudnn.so."),
            "libcudnn.so.8"
        );
        assert_eq!(
            major_soname("libcudart.so.11.0", "libcudart.so."),
            "libcudart.so.11.0"
        );
        assert!(is_soname_version("12"));
        assert!(!is_soname_version("12.bak"));
    }

    #[test]
    fn ld_so_conf_includes_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("conf.d")).unwrap();
        std::fs::write(d.join("conf.d/cuda.conf"), "/usr/local/cuda-12.5/lib64\n").unwrap();
        std::fs::write(
            d.join("ld.so.conf"),
            format!(
                "# comment\ninclude {}/conf.d/*.conf\n/opt/lib\n",
                d.display()
            ),
        )
        .unwrap();
        assert_eq!(
            ld_so_conf_dirs(&d.join("ld.so.conf")),
            [
                PathBuf::from("/usr/local/cuda-12.5/lib64"),
                PathBuf::from("/opt/lib")
            ]
        );
    }

    #[test]
    fn a_missing_library_keeps_the_loader_error() {
        let need = Need {
            role: Role::Cudnn,
            soname: "libcudnn.so.97".into(),
        };
        let facts = probe(&[need], &[], &Ok(()));
        assert!(facts[0].resolved.is_none());
        assert!(
            facts[0]
                .error
                .as_deref()
                .unwrap()
                .contains("libcudnn.so.97")
        );
    }

    #[test]
    fn a_version_no_call_gives_comes_from_the_files() {
        let site = tempfile::tempdir().unwrap();
        let lib = site.path().join("nvidia/nvjitlink/lib");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(lib.join("libnvJitLink.so.12"), "").unwrap();
        assert_eq!(
            version_from_files(&lib.join("libnvJitLink.so.12"), Role::NvJitLink),
            None
        );
        std::fs::create_dir(site.path().join("nvidia_nvjitlink_cu12-12.1.105.dist-info")).unwrap();
        assert_eq!(
            version_from_files(&lib.join("libnvJitLink.so.12"), Role::NvJitLink),
            Version::parse("12.1.105")
        );
        // A file named with its full version says it without a wheel.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libnvJitLink.so.12.2.140"), "").unwrap();
        std::os::unix::fs::symlink(
            "libnvJitLink.so.12.2.140",
            dir.path().join("libnvJitLink.so.12"),
        )
        .unwrap();
        assert_eq!(
            version_from_files(&dir.path().join("libnvJitLink.so.12"), Role::NvJitLink),
            Version::parse("12.2.140")
        );
    }
}
