//! TensorFlow's own answer to "can the CUDA libraries be loaded": its
//! library loader (`tsl::internal::DsoLoader`, in
//! `libtensorflow_framework.so.2`) decides whether TensorFlow registers a
//! GPU, and it dlopens by soname from the framework library, so that
//! library's RUNPATH is the one searched. gpugate's own search explains a
//! failure; this is the verdict. [`ask`] runs in a worker only: it calls
//! TensorFlow's C++ functions through their exported names.

use crate::compat::{Need, Role};
use crate::dl::Library;
use crate::version::Version;
use serde::{Deserialize, Serialize};
use std::ffi::c_void;
use std::path::{Path, PathBuf};

/// What TensorFlow's loader said, for one framework library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoaderCheck {
    /// The library that holds the loader and whose RUNPATH it searches.
    pub framework: PathBuf,
    /// Its RUNPATH entries as written (`$ORIGIN/../nvidia/cublas/lib`).
    pub runpath: Vec<String>,
    pub outcome: LoaderOutcome,
    /// How long asking took, a fresh worker's start included.
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LoaderOutcome {
    /// The loader ran. `ok` is its own verdict: GPUs are registered only
    /// when it is true.
    Answered {
        /// The function whose result `ok` is.
        entry: String,
        ok: bool,
        libraries: Vec<LoaderLibrary>,
    },
    /// This TensorFlow exports no loader function gpugate knows how to call.
    Unsupported { why: String },
    /// Asking crashed or hung the worker; `library` is the one it was
    /// loading or calling into then, where it had got that far.
    Failed {
        library: Option<String>,
        why: String,
    },
}

/// One library as TensorFlow's loader found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoaderLibrary {
    pub role: Role,
    /// The file name the loader opened or asked for (from its own message),
    /// else the build's soname for the role.
    pub soname: String,
    /// Where it loaded the library from; None when it could not.
    pub path: Option<PathBuf>,
    /// The library's own answer to its version call.
    pub version: Option<Version>,
    /// The loader's own error when it could not.
    pub error: Option<String>,
}

impl LoaderCheck {
    /// Every library the loader was asked for (none when it did not answer).
    pub fn libraries(&self) -> &[LoaderLibrary] {
        match &self.outcome {
            LoaderOutcome::Answered { libraries, .. } => libraries,
            _ => &[],
        }
    }

    /// The libraries TensorFlow's loader could not load.
    pub fn failed(&self) -> impl Iterator<Item = &LoaderLibrary> {
        self.libraries().iter().filter(|l| l.path.is_none())
    }

    /// The RUNPATH with `$ORIGIN` replaced by the framework's directory.
    pub fn runpath_dirs(&self) -> Vec<PathBuf> {
        let origin = self.framework.parent().unwrap_or(Path::new("/"));
        self.runpath
            .iter()
            .map(|entry| {
                let expanded = entry
                    .replace("${ORIGIN}", &origin.to_string_lossy())
                    .replace("$ORIGIN", &origin.to_string_lossy());
                let path = PathBuf::from(expanded);
                path.canonicalize().unwrap_or(path)
            })
            .collect()
    }
}

/// What the asking worker is about to do, written alone on a stderr line
/// before each step: where it dies is the last step it wrote.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Calling TensorFlow's whole check (its demangled name).
    Calling(String),
    /// The whole check returned; whether with OK.
    Answered { check: String, ok: bool },
    /// Asking the loader for one library.
    Asking(String),
    /// The first call into a library the loader loaded.
    Reading(String),
}

const STEP_PREFIX: &str = "gpugate loader step: ";

impl Step {
    fn say(&self) {
        eprintln!("{}", self.line());
    }

    fn line(&self) -> String {
        let what = match self {
            Step::Calling(check) => format!("calling {check}"),
            Step::Answered { check, ok } => {
                format!("answered {} {check}", if *ok { "OK" } else { "error" })
            }
            Step::Asking(soname) => format!("asking {soname}"),
            Step::Reading(soname) => format!("reading {soname}"),
        };
        format!("{STEP_PREFIX}{what}")
    }

    /// The step a stderr line announces, if it is one.
    pub fn parse(line: &str) -> Option<Step> {
        let rest = line.strip_prefix(STEP_PREFIX)?;
        let (verb, arg) = rest.split_once(' ')?;
        Some(match verb {
            "calling" => Step::Calling(arg.into()),
            "answered" => {
                let (ok, check) = arg.split_once(' ')?;
                Step::Answered {
                    check: check.into(),
                    ok: ok == "OK",
                }
            }
            "asking" => Step::Asking(arg.into()),
            "reading" => Step::Reading(arg.into()),
            _ => return None,
        })
    }
}

/// The framework library beside a TensorFlow library (`libtensorflow_cc.so.2`,
/// `libtensorflow.so.2`, or a symlink to one): where the loader lives.
pub fn framework_beside(library: &Path) -> Option<PathBuf> {
    let real = library.canonicalize().ok()?;
    [library.to_path_buf(), real]
        .iter()
        .filter_map(|p| Some(p.parent()?.join("libtensorflow_framework.so.2")))
        .find(|p| p.is_file())
}

/// The whole check, newest name first. Both return `absl::Status`.
const WHOLE_CHECKS: &[(&str, &str)] = &[
    (
        "_ZN3tsl8internal9DsoLoader22TryDlopenCUDALibrariesEv",
        "tsl::internal::DsoLoader::TryDlopenCUDALibraries()",
    ),
    (
        "_ZN3tsl8internal9DsoLoader26MaybeTryDlopenGPULibrariesEv",
        "tsl::internal::DsoLoader::MaybeTryDlopenGPULibraries()",
    ),
];

/// The per-library function of the loader for a role, returning
/// `absl::StatusOr<void*>`; None for what its check does not load.
fn per_library(role: Role) -> Option<&'static str> {
    Some(match role {
        Role::Cudart => "_ZN3tsl8internal9DsoLoader23GetCudaRuntimeDsoHandleEv",
        Role::Cublas => "_ZN3tsl8internal9DsoLoader18GetCublasDsoHandleEv",
        Role::CublasLt => "_ZN3tsl8internal9DsoLoader20GetCublasLtDsoHandleEv",
        Role::Cufft => "_ZN3tsl8internal9DsoLoader17GetCufftDsoHandleEv",
        Role::Cusolver => "_ZN3tsl8internal9DsoLoader20GetCusolverDsoHandleEv",
        Role::Cusparse => "_ZN3tsl8internal9DsoLoader20GetCusparseDsoHandleEv",
        Role::Cudnn => "_ZN3tsl8internal9DsoLoader17GetCudnnDsoHandleEv",
        Role::Driver | Role::NvJitLink => return None,
    })
}

/// `absl::StatusOr<void*>` as it lies in memory: the status word, then
/// the value.
#[repr(C)]
struct StatusOrHandle {
    status: usize,
    handle: *mut c_void,
}

/// Both return a class with a destructor, which the x86-64 C++ ABI returns
/// through a hidden pointer passed as the first argument.
type StatusCall = unsafe extern "C" fn(*mut usize);
type StatusOrCall = unsafe extern "C" fn(*mut StatusOrHandle);

/// An `absl::Status` word read without absl: OK is 0 in absl releases that
/// tag heap pointers with the low bit and 1 in those that tag inline codes
/// with it; neither can be a pointer, so both mean OK everywhere.
fn status_ok(word: usize) -> bool {
    word <= 1
}

/// The message of a failed status. Small words are inline codes without a
/// message; others point at absl's `StatusRep` (a reference count and a code,
/// 4 bytes each, then the message as a libstdc++ `std::string`: data pointer,
/// length), directly or tagged with the low bit, depending on the release.
///
/// # Safety
/// `word` must be a status word TensorFlow returned and has not freed.
unsafe fn status_message(word: usize) -> Option<String> {
    if word < 4096 {
        return None;
    }
    let rep = (word & !1) as *const u8;
    // SAFETY: per the layout above; a wrong guess crashes this worker only,
    // which the parent reports as "could not ask".
    unsafe {
        let data = *(rep.add(8) as *const *const u8);
        let len = *(rep.add(16) as *const usize);
        if data.is_null() || len > 64 * 1024 {
            return None;
        }
        let bytes = std::slice::from_raw_parts(data, len);
        Some(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// The soname in TensorFlow's "Could not load dynamic library 'X'; ..." message.
fn asked_for(message: &str) -> Option<String> {
    let rest = message.split_once("dynamic library '")?.1;
    Some(rest.split_once('\'')?.0.to_string())
}

/// Asks TensorFlow's loader in `framework` for each library of `needs` its
/// check covers. Runs in a worker: it loads the framework library and the
/// CUDA libraries, and calls C++ functions through their ABI.
pub fn ask(framework: &Path, needs: &[Need]) -> LoaderOutcome {
    let lib = match Library::open(&framework.to_string_lossy()) {
        Ok(lib) => lib,
        Err(e) => {
            return LoaderOutcome::Failed {
                library: None,
                why: format!("{} does not load: {e}", framework.display()),
            };
        }
    };
    let whole = WHOLE_CHECKS
        .iter()
        .find_map(|(symbol, name)| lib.symbol(symbol).map(|f| (f, *name)));
    let covered: Vec<&Need> = needs
        .iter()
        .filter(|n| per_library(n.role).is_some_and(|s| lib.has_symbol(s)))
        .collect();
    if whole.is_none() && covered.is_empty() {
        return LoaderOutcome::Unsupported {
            why: format!(
                "{} exports neither {} nor its per-library functions",
                framework.display(),
                WHOLE_CHECKS
                    .iter()
                    .map(|(_, name)| *name)
                    .collect::<Vec<_>>()
                    .join(" nor ")
            ),
        };
    }
    let verdict = whole.map(|(address, name)| {
        Step::Calling(name.into()).say();
        let mut word: usize = 0;
        // SAFETY: the exported function takes no argument and returns an
        // absl::Status through the hidden pointer.
        unsafe {
            let call: StatusCall = std::mem::transmute::<*mut c_void, StatusCall>(address);
            call(&mut word);
        }
        let ok = status_ok(word);
        Step::Answered {
            check: name.into(),
            ok,
        }
        .say();
        (name, ok)
    });
    let libraries: Vec<LoaderLibrary> = covered
        .into_iter()
        .map(|need| ask_one(&lib, need))
        .collect();
    lib.keep();
    let (entry, ok) = verdict.unwrap_or((
        "tsl::internal::DsoLoader::Get*DsoHandle() (this release has no whole check)",
        libraries.iter().all(|l| l.path.is_some()),
    ));
    LoaderOutcome::Answered {
        entry: entry.to_string(),
        ok,
        libraries,
    }
}

fn ask_one(lib: &Library, need: &Need) -> LoaderLibrary {
    let symbol = per_library(need.role).expect("filtered on a per-library function");
    Step::Asking(need.soname.clone()).say();
    let mut answer = StatusOrHandle {
        status: 0,
        handle: std::ptr::null_mut(),
    };
    // SAFETY: checked present by the caller; it takes no argument and
    // returns an absl::StatusOr<void*> through the hidden pointer.
    unsafe {
        let call: StatusOrCall =
            std::mem::transmute::<*mut c_void, StatusOrCall>(lib.symbol(symbol).expect("present"));
        call(&mut answer);
    }
    let mut found = LoaderLibrary {
        role: need.role,
        soname: need.soname.clone(),
        path: None,
        version: None,
        error: None,
    };
    if status_ok(answer.status) && !answer.handle.is_null() {
        // SAFETY: TensorFlow's loader returned this handle from dlopen and
        // keeps it open.
        found.path = unsafe { crate::dl::handle_path(answer.handle) }
            .map(|p| crate::facts::libraries::tidy(&p));
        if let Some(name) = found.path.as_deref().and_then(Path::file_name) {
            found.soname = name.to_string_lossy().into_owned();
        }
        // Opening the file the loader chose returns the same handle; it
        // answers its version call as the loaded library.
        if let Some(path) = &found.path
            && let Ok(same) = Library::open(&path.to_string_lossy())
        {
            Step::Reading(need.soname.clone()).say();
            found.version = crate::facts::libraries::library_version(&same, need.role);
            same.keep();
        }
        if found.path.is_none() {
            found.error = Some("loaded, but the loader did not say from where".into());
        }
    } else {
        // SAFETY: the word came back from TensorFlow just now.
        let message = unsafe { status_message(answer.status) };
        if let Some(asked) = message.as_deref().and_then(asked_for) {
            found.soname = asked;
        }
        found.error = Some(message.unwrap_or_else(|| {
            format!(
                "TensorFlow's loader could not load {} (status word {:#x}, no message)",
                need.soname, answer.status
            )
        }));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words_of_both_absl_encodings() {
        assert!(status_ok(0));
        assert!(status_ok(1));
        // kFailedPrecondition (9) inline, in either encoding.
        assert!(!status_ok(9 << 2));
        assert!(!status_ok((9 << 2) | 1));
        assert_eq!(unsafe { status_message((9 << 2) | 1) }, None);
    }

    #[test]
    fn the_soname_comes_from_the_loaders_own_message() {
        assert_eq!(
            asked_for(
                "Could not load dynamic library 'libcusolver.so.11'; dlerror: libcusolver.so.11: cannot open shared object file: No such file or directory"
            )
            .as_deref(),
            Some("libcusolver.so.11")
        );
        assert_eq!(asked_for("Cannot dlopen all CUDA libraries."), None);
    }

    #[test]
    fn runpath_origin_is_the_framework_directory() {
        let dir = tempfile::tempdir().unwrap();
        let tf = dir.path().join("tensorflow");
        std::fs::create_dir_all(dir.path().join("nvidia/cublas/lib")).unwrap();
        std::fs::create_dir_all(&tf).unwrap();
        let check = LoaderCheck {
            framework: tf.join("libtensorflow_framework.so.2"),
            runpath: vec!["$ORIGIN/../nvidia/cublas/lib".into(), "$ORIGIN/".into()],
            outcome: LoaderOutcome::Unsupported { why: "x".into() },
            seconds: 0.0,
        };
        assert_eq!(
            check.runpath_dirs(),
            [
                dir.path().join("nvidia/cublas/lib").canonicalize().unwrap(),
                tf.canonicalize().unwrap()
            ]
        );
    }

    #[test]
    fn a_library_without_the_loader_is_unsupported() {
        let need = Need {
            role: Role::Cudart,
            soname: "libcudart.so.12".into(),
        };
        let outcome = ask(Path::new("libc.so.6"), &[need]);
        assert!(
            matches!(&outcome, LoaderOutcome::Unsupported { why } if why.contains("TryDlopenCUDALibraries")),
            "{outcome:?}"
        );
    }

    #[test]
    fn step_lines_read_back_as_they_were_written() {
        for step in [
            Step::Calling("tsl::internal::DsoLoader::TryDlopenCUDALibraries()".into()),
            Step::Answered {
                check: "tsl::internal::DsoLoader::TryDlopenCUDALibraries()".into(),
                ok: true,
            },
            Step::Answered {
                check: "x()".into(),
                ok: false,
            },
            Step::Asking("libcudnn.so.9".into()),
            Step::Reading("libcudnn.so.9".into()),
        ] {
            assert_eq!(Step::parse(&step.line()), Some(step));
        }
        assert_eq!(
            Step::parse("Invalid handle. Cannot load symbol cudnnGetVersion"),
            None
        );
    }
}
