//! `cuda.libraries`: every library the TensorFlow build dlopens at start-up
//! loads under the exact soname it asks for, at a compatible version.

use crate::checks::kind::facts_kind;
use crate::diagnose::Family;

use crate::compat::{self, CudnnMatch, Role};
use crate::facts::Facts;
use crate::facts::loader::LoaderOutcome;
use crate::outcome::Verdict;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

impl Spec {
    pub fn judge(&self, facts: &Facts) -> Verdict {
        let build = &facts.tensorflow.build;
        if let Some(error) = &facts.libraries_error {
            return Verdict::error(format!("the library probe did not finish: {error}"));
        }
        if build.needs().is_empty() {
            return match build.cuda_build {
                Some(false) => Verdict::skip(format!("{} loads no CUDA library", build.describe())),
                _ => Verdict::error(format!(
                    "which libraries {} needs is unknown (from {})",
                    build.describe(),
                    build.source
                )),
            };
        }
        let mut problems = Vec::new();
        let mut lines = Vec::new();
        for lib in &facts.libraries {
            match &lib.resolved {
                None => {
                    problems.push(format!("{} not found", lib.soname));
                    lines.push(format!(
                        "  {}: {}",
                        lib.soname,
                        lib.error.as_deref().unwrap_or("not found")
                    ));
                }
                Some(copy) => {
                    let version = copy.version.as_ref();
                    lines.push(format!(
                        "  {}: {} ({})",
                        lib.soname,
                        version.map_or("version unknown".into(), |v| v.to_string()),
                        copy.path.display()
                    ));
                    if let (Role::Cudnn, Some(found), Some(built)) =
                        (lib.role, version, &build.cudnn)
                        && compat::cudnn_match(found, built) != CudnnMatch::Ok
                    {
                        problems.push(format!(
                            "{} is cuDNN {found}, the build needs {built}",
                            lib.soname
                        ));
                    }
                    if let (Role::Cudart, Some(found), Some(cuda)) =
                        (lib.role, version, &build.cuda)
                        && found.major() != cuda.major()
                    {
                        problems.push(format!(
                            "{} is CUDA {found}, the build needs CUDA {}",
                            lib.soname,
                            cuda.major()
                        ));
                    }
                    if let Some(api) = &lib.driver_api
                        && let Some(err) = &api.init_error
                    {
                        problems.push(format!("cuInit failed: {err}"));
                    }
                }
            }
        }
        let mut detail = format!(
            "{} needs (from {}):\n{}",
            build.describe(),
            build.source,
            lines.join("\n")
        );
        // TensorFlow's own loader has the last word: it decides whether a
        // GPU is registered, whatever gpugate's search found.
        let unasked = match facts.tensorflow.loader.as_ref().map(|c| (c, &c.outcome)) {
            None => None,
            Some((check, LoaderOutcome::Answered { entry, ok, .. })) => {
                detail.push_str(&format!(
                    "\nTensorFlow's own loader, {entry} in {}: {}",
                    check.framework.display(),
                    if *ok { "loads them" } else { "fails" }
                ));
                for lib in check.libraries() {
                    detail.push_str(&format!(
                        "\n  {}: {}",
                        lib.soname,
                        match (&lib.path, &lib.error) {
                            (Some(path), _) => path.display().to_string(),
                            (None, error) => error.clone().unwrap_or_default(),
                        }
                    ));
                }
                let failed: Vec<&str> = check.failed().map(|l| l.soname.as_str()).collect();
                if !failed.is_empty() {
                    problems.push(format!(
                        "TensorFlow's own loader cannot load {}",
                        failed.join(", ")
                    ));
                } else if !ok {
                    problems.push(format!("TensorFlow's own loader ({entry}) fails"));
                }
                None
            }
            Some((check, LoaderOutcome::Failed { why, .. })) => {
                return Verdict::error(format!(
                    "TensorFlow's own library loader in {} did not answer: {why}",
                    check.framework.display()
                ))
                .with_detail(detail);
            }
            Some((_, LoaderOutcome::Unsupported { why })) => Some(why.clone()),
        };
        match (problems.is_empty(), unasked) {
            (false, _) => Verdict::fail(problems.join("; ")).with_detail(detail),
            // gpugate's search alone is not TensorFlow's verdict.
            (true, Some(why)) => Verdict::skip(format!(
                "gpugate finds all {} libraries, but TensorFlow's own loader, which decides, could not be asked: {why}",
                facts.libraries.len()
            ))
            .with_detail(detail),
            (true, None) => Verdict::pass(format!(
                "all {} libraries {} needs load",
                facts.libraries.len(),
                build.describe()
            ))
            .with_detail(detail),
        }
    }
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "";

facts_kind! {
    explained_by: &[
        Family::Driver,
        Family::DriverTooOld,
        Family::CudaLibrary,
        Family::Cudnn,
        Family::CudnnMinor,
        Family::LibraryShadowed,
    ],
    reads_loaded_tensorflow: false,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{facts_with_driver, spec};
    use crate::facts::libraries::LibraryFact;
    use crate::outcome::Status;

    fn lib(soname: &str, role: Role, version: Option<&str>) -> LibraryFact {
        crate::checks::testing::library_fact("/opt/lib", soname, role, version)
    }

    #[test]
    fn missing_and_mismatched_libraries_fail() {
        let mut facts = facts_with_driver("580.65.06", &[]);
        facts.libraries = vec![
            lib("libcudart.so.12", Role::Cudart, Some("12.5")),
            lib("libcudnn.so.9", Role::Cudnn, Some("9.3.0")),
        ];
        assert_eq!(spec::<Spec>("").judge(&facts).status, Status::Pass);
        facts.libraries[1] = lib("libcudnn.so.9", Role::Cudnn, Some("9.1.0"));
        let v = spec::<Spec>("").judge(&facts);
        assert_eq!(
            v.message,
            "libcudnn.so.9 is cuDNN 9.1.0, the build needs 9.3"
        );
        facts.libraries[0] = lib("libcudart.so.12", Role::Cudart, None);
        assert!(
            spec::<Spec>("")
                .judge(&facts)
                .message
                .starts_with("libcudart.so.12 not found")
        );
    }

    fn loader(outcome: LoaderOutcome) -> Option<crate::facts::loader::LoaderCheck> {
        Some(crate::facts::loader::LoaderCheck {
            framework: "/site/tensorflow/libtensorflow_framework.so.2".into(),
            runpath: vec!["$ORIGIN/../nvidia/cuda_runtime/lib".into()],
            outcome,
            seconds: 0.1,
        })
    }

    fn loaded(
        soname: &str,
        role: Role,
        error: Option<&str>,
    ) -> crate::facts::loader::LoaderLibrary {
        crate::facts::loader::LoaderLibrary {
            role,
            soname: soname.into(),
            path: error
                .is_none()
                .then(|| format!("/site/nvidia/x/lib/{soname}").into()),
            version: None,
            error: error.map(str::to_string),
        }
    }

    /// gpugate's own search finding every library is not enough: the check
    /// follows TensorFlow's loader, fails when it fails, and does not pass
    /// when it could not be asked.
    #[test]
    fn tensorflow_s_loader_has_the_last_word() {
        let mut facts = facts_with_driver("580.65.06", &[]);
        facts.libraries = vec![
            lib("libcudart.so.12", Role::Cudart, Some("12.5")),
            lib("libcusolver.so.11", Role::Cusolver, Some("11.7.5")),
        ];
        facts.tensorflow.loader = loader(LoaderOutcome::Answered {
            entry: "TryDlopenCUDALibraries()".into(),
            ok: false,
            libraries: vec![
                loaded("libcudart.so.12", Role::Cudart, None),
                loaded(
                    "libcusolver.so.11",
                    Role::Cusolver,
                    Some("Could not load dynamic library 'libcusolver.so.11'"),
                ),
            ],
        });
        let verdict = spec::<Spec>("").judge(&facts);
        assert_eq!(verdict.status, Status::Fail);
        assert_eq!(
            verdict.message,
            "TensorFlow's own loader cannot load libcusolver.so.11"
        );

        facts.tensorflow.loader = loader(LoaderOutcome::Answered {
            entry: "TryDlopenCUDALibraries()".into(),
            ok: true,
            libraries: vec![loaded("libcudart.so.12", Role::Cudart, None)],
        });
        assert_eq!(spec::<Spec>("").judge(&facts).status, Status::Pass);

        facts.tensorflow.loader = loader(LoaderOutcome::Unsupported {
            why: "no loader function".into(),
        });
        let verdict = spec::<Spec>("").judge(&facts);
        assert_eq!(verdict.status, Status::Skip, "{}", verdict.message);
        assert!(verdict.message.contains("no loader function"));

        facts.tensorflow.loader = loader(LoaderOutcome::Failed {
            library: Some("libcudnn.so.9".into()),
            why: "crashed: SIGSEGV while loading libcudnn.so.9".into(),
        });
        let verdict = spec::<Spec>("").judge(&facts);
        assert_eq!(verdict.status, Status::Error);
        assert!(verdict.message.contains("libcudnn.so.9"));
    }
}
