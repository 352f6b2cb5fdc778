//! Rules of the `CudaLibrary`, `Cudnn`, `CudnnMinor` and `LibraryShadowed` families: the CUDA libraries the build loads.

use super::*;

pub(super) fn describe_copy(copy: &crate::facts::libraries::Copy) -> String {
    match &copy.version {
        Some(v) => format!("{} ({v})", copy.path.display()),
        None => format!("{} (version unknown)", copy.path.display()),
    }
}

pub(super) fn cuda_library_missing(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let missing: Vec<&LibraryFact> = f
        .libraries
        .iter()
        .filter(|l| l.resolved.is_none() && l.role != Role::Cudnn)
        // There but unloadable, or crashing: rules of their own say why.
        .filter(|l| !l.unloadable_or_crashed())
        // A libcuda off the loader's path in a known place (WSL 2's, a
        // managed platform's) is its own rule's.
        .filter(|l| !(l.role == Role::Driver && libcuda_off_path_told(f)))
        .collect();
    if missing.is_empty() {
        return vec![];
    }
    // Without a driver at all, the NVML rules say it better.
    if missing.iter().all(|l| l.role == Role::Driver)
        && matches!(f.driver, DriverProbe::LibraryMissing { .. })
    {
        return vec![];
    }
    let build = f.tensorflow.build.describe();
    let mut evidence = Vec::new();
    let mut packages: Vec<String> = Vec::new();
    let mut fixes = Vec::new();
    let major = f.tensorflow.build.cuda.as_ref().map_or(12, |c| c.major());
    for lib in &missing {
        let mut line = format!(
            "{}: {}",
            lib.soname,
            lib.error.as_deref().unwrap_or("not found")
        );
        if !lib.other_versions.is_empty() {
            line.push_str(&format!(
                "; found only {}",
                lib.other_versions
                    .iter()
                    .map(describe_copy)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        evidence.push(line);
        match lib.role.pip_name() {
            Some(pip) => {
                let package = pinned_package(pip, major, &lib.soname);
                if !packages.contains(&package) {
                    packages.push(package);
                }
            }
            None => fixes.push("libcuda.so.1 comes with the driver: in a container, make sure NVIDIA_DRIVER_CAPABILITIES includes `compute` (or `all`)".to_string()),
        }
    }
    if !packages.is_empty() {
        fixes.insert(
            0,
            format!("`python3 -m pip install {}`", packages.join(" ")),
        );
    }
    evidence.extend(log_lines(
        e,
        |ev| matches!(ev, LogEvent::CouldNotLoad { file, .. } if !file.contains("cudnn")),
    ));
    let names: Vec<&str> = missing.iter().map(|l| l.soname.as_str()).collect();
    let wrong_major = missing.iter().any(|l| !l.other_versions.is_empty());
    let version = f.tensorflow.build.pip_pin();
    finding(
        Severity::Error,
        format!(
            "{build} needs {}; the loader {}",
            names.join(", "),
            if wrong_major {
                "finds only other major versions of some of them"
            } else {
                "does not find them"
            }
        ),
        format!(
            "install them: {} (or all at once with `python3 -m pip install tensorflow[and-cuda]{version}`), or add the directory that holds them to LD_LIBRARY_PATH",
            fixes.join("; ")
        ),
        evidence,
    )
}

/// A pip requirement for NVIDIA's wheel of one library, pinned to the
/// soname's major (NVIDIA's `nvidia-*-cu12` wheel versions carry the
/// library's own major: cuDNN 8 and 9, cuFFT 11, cuBLAS 12), quoted for a
/// shell. Unpinned, pip installs the newest major, which the build does not
/// dlopen.
pub(super) fn pinned_package(pip: &str, cuda_major: u64, soname: &str) -> String {
    let major = soname
        .rsplit_once(".so.")
        .and_then(|(_, v)| v.split('.').next()?.parse::<u64>().ok());
    match major {
        Some(m) => format!("\"nvidia-{pip}-cu{cuda_major}>={m},<{}\"", m + 1),
        None => format!("nvidia-{pip}-cu{cuda_major}"),
    }
}

pub(super) fn cudnn(f: &Facts) -> Option<(&LibraryFact, Version)> {
    let lib = f.library(Role::Cudnn)?;
    Some((lib, f.tensorflow.build.cudnn.clone()?))
}

pub(super) fn cudnn_fix(f: &Facts, built: &Version) -> String {
    let cuda_major = f.tensorflow.build.cuda.as_ref().map_or(12, |c| c.major());
    // A copy the build accepts may already be on the machine, shadowed by
    // an older one: then the fix is the search path, not an install.
    let accepted = f.library(Role::Cudnn).and_then(|lib| {
        lib.copies.iter().find(|c| {
            Some(&c.path) != lib.resolved.as_ref().map(|r| &r.path)
                && c.version
                    .as_ref()
                    .is_some_and(|v| v.major() == built.major() && v >= built)
        })
    });
    if let Some(copy) = accepted {
        let resolved_dir = f
            .library(Role::Cudnn)
            .and_then(|l| l.resolved.as_ref())
            .and_then(|r| r.path.parent())
            .map_or("its directory".to_string(), |d| d.display().to_string());
        return format!(
            "an acceptable cuDNN is already installed at {}: drop {resolved_dir} from LD_LIBRARY_PATH (or uninstall that older copy) so that the loader finds it",
            describe_copy(copy)
        );
    }
    format!(
        "install cuDNN {built} or a newer {}.x for CUDA {cuda_major}: `python3 -m pip install \"nvidia-cudnn-cu{cuda_major}>={built},<{}\"` (or NVIDIA's cudnn{}-cuda-{cuda_major} package)",
        built.major(),
        built.major() + 1,
        built.major()
    )
}

pub(super) fn cudnn_missing(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((lib, built)) = cudnn(f) else {
        return vec![];
    };
    if lib.resolved.is_some() || !lib.other_versions.is_empty() || lib.unloadable_or_crashed() {
        return vec![];
    }
    let mut evidence = vec![format!(
        "{}: {}",
        lib.soname,
        lib.error.as_deref().unwrap_or("not found")
    )];
    evidence.extend(log_lines(
        e,
        |ev| matches!(ev, LogEvent::CouldNotLoad { file, .. } if file.contains("cudnn")),
    ));
    finding(
        Severity::Error,
        format!(
            "{} needs {}; no cuDNN is on the loader path",
            f.tensorflow.build.describe(),
            lib.soname
        ),
        cudnn_fix(f, &built),
        evidence,
    )
}

pub(super) fn other_tf_for_cudnn(found: &Version) -> Option<String> {
    compat::newest_tf_where(|row| {
        Version::parse(row.cudnn).is_some_and(|c| compat::cudnn_match(found, &c) == CudnnMatch::Ok)
    })
    .map(|tf| {
        format!(
            ", or run TensorFlow {tf}, whose build uses cuDNN {}",
            compat::tf_row(&Version::parse(tf).expect("table"))
                .expect("table")
                .cudnn
        )
    })
}

pub(super) fn cudnn_wrong_major(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((lib, built)) = cudnn(f) else {
        return vec![];
    };
    let mut evidence = Vec::new();
    let mut found = None;
    if lib.resolved.is_none()
        && let Some(other) = lib.other_versions.first()
    {
        evidence.push(format!(
            "{}: {}",
            lib.soname,
            lib.error.as_deref().unwrap_or("not found")
        ));
        evidence.extend(
            lib.other_versions
                .iter()
                .map(|c| format!("found {}", describe_copy(c))),
        );
        found = Some(other.clone());
    }

    let logged = log_lines(
        e,
        |ev| matches!(ev, LogEvent::CudnnMismatch { loaded, compiled } if Version::parse(loaded).map(|v| v.major()) != Version::parse(compiled).map(|v| v.major())),
    );
    if found.is_none() && logged.is_empty() {
        return vec![];
    }
    evidence.extend(logged);
    let (where_, version) = match &found {
        Some(c) => (
            format!(
                " in {}",
                c.path
                    .parent()
                    .map_or(String::new(), |p| p.display().to_string())
            ),
            c.version.clone(),
        ),
        None => (String::new(), None),
    };
    let found_text = match (&found, &version) {
        (Some(c), Some(v)) => format!(
            "{} ({v})",
            c.path.file_name().unwrap_or_default().to_string_lossy()
        ),
        (Some(c), None) => c
            .path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        _ => "another major version".into(),
    };
    let mut fix = cudnn_fix(f, &built);
    if let Some(alt) = version.as_ref().and_then(other_tf_for_cudnn) {
        fix.push_str(&alt);
    }
    finding(
        Severity::Error,
        format!(
            "{} needs {}; the loader found only {found_text}{where_}",
            f.tensorflow.build.describe(),
            lib.soname
        ),
        fix,
        evidence,
    )
}

pub(super) fn cudnn_older_minor(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some((lib, built)) = cudnn(f) else {
        return vec![];
    };
    let Some(resolved) = &lib.resolved else {
        return vec![];
    };
    let Some(version) = &resolved.version else {
        return vec![];
    };
    if compat::cudnn_match(version, &built) != CudnnMatch::OlderMinor {
        return vec![];
    }
    let mut evidence = vec![format!(
        "the loader resolves {} to {}",
        lib.soname,
        describe_copy(resolved)
    )];
    evidence.extend(log_lines(e, |ev| {
        matches!(ev, LogEvent::CudnnMismatch { .. })
    }));
    finding(
        Severity::Error,
        format!(
            "{} was built with cuDNN {built}; the loaded cuDNN {version} is older (TensorFlow needs the same major and an equal or newer minor)",
            f.tensorflow.build.describe()
        ),
        cudnn_fix(f, &built),
        evidence,
    )
}

pub(super) fn library_shadowed(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let mut out = Vec::new();
    for lib in &f.libraries {
        // A Linux driver's libcuda inside WSL: wsl-linux-driver-installed.
        if lib.copies.len() < 2 || (lib.role == Role::Driver && wsl_libcuda_shadowed(f)) {
            continue;
        }
        let versions: Vec<Option<&Version>> =
            lib.copies.iter().map(|c| c.version.as_ref()).collect();
        let differ = versions.windows(2).any(|w| w[0] != w[1]);
        let resolved = lib
            .resolved
            .as_ref()
            .map_or("nothing".into(), describe_copy);
        let others: Vec<String> = lib
            .copies
            .iter()
            .filter(|c| Some(&c.path) != lib.resolved.as_ref().map(|r| &r.path))
            .map(describe_copy)
            .collect();
        let resolved_dir = lib
            .resolved
            .as_ref()
            .and_then(|r| r.path.parent())
            .map(|d| d.display().to_string());
        let fix = match (differ, resolved_dir) {
            (true, Some(dir)) => format!(
                "keep one version of {}: drop {dir} from LD_LIBRARY_PATH (or uninstall the copy there) to use {}, or remove the others; which copy wins depends on LD_LIBRARY_PATH order and RUNPATH, so it can change between runners",
                lib.soname,
                others.join(", ")
            ),
            _ => format!(
                "keep one copy of {}: remove the other directories from LD_LIBRARY_PATH or uninstall the stray copies ({}); which copy wins depends on LD_LIBRARY_PATH order and RUNPATH, so it can change between runners",
                lib.soname,
                others.join(", ")
            ),
        };
        out.extend(finding(
            if differ {
                Severity::Error
            } else {
                Severity::Warning
            },
            format!(
                "{} copies of {} are on the search path{}; the loader uses {resolved}",
                lib.copies.len(),
                lib.soname,
                if differ {
                    let all: Vec<String> = lib.copies.iter().map(describe_copy).collect();
                    format!(" with different versions ({})", all.join(", "))
                } else {
                    String::new()
                }
            ),
            fix,
            lib.copies
                .iter()
                .map(|c| format!("copy: {}", describe_copy(c)))
                .collect(),
        ));
    }
    out
}

/// The shell line that puts `dirs` in front of the loader's search path.
fn ld_library_path_export(dirs: &[&std::path::Path]) -> String {
    let joined = dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    format!("`export LD_LIBRARY_PATH={joined}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}`")
}

/// The RUNPATH of TensorFlow's framework library, for a message: the pip
/// library directories it reaches, each once (2.21.0 repeats them dozens of
/// times, under two prefixes).
fn runpath_text(check: &LoaderCheck) -> String {
    if check.runpath.is_empty() {
        return "it has no RUNPATH".into();
    }
    let mut names: Vec<&str> = Vec::new();
    for entry in &check.runpath {
        if let Some(name) = entry
            .split_once("nvidia/")
            .and_then(|(_, rest)| rest.strip_suffix("/lib"))
            && !names.contains(&name)
        {
            names.push(name);
        }
    }
    if names.is_empty() {
        format!(
            "its RUNPATH ({}) names no nvidia/*/lib directory",
            crate::text::cap(&check.runpath.join(":"), 300, 0)
        )
    } else {
        format!(
            "its RUNPATH reaches only nvidia/{{{}}}/lib",
            names.join(", ")
        )
    }
}

/// TensorFlow's own loader cannot load a library that gpugate's search
/// finds: the loader searches the framework library's RUNPATH, not the
/// directories beside TensorFlow, so TensorFlow registers no GPU.
pub(super) fn tensorflow_loader_cannot_load(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(check) = &f.tensorflow.loader else {
        return vec![];
    };
    let failed: Vec<(&LoaderLibrary, &crate::facts::libraries::Copy)> = check
        .failed()
        .filter_map(|l| Some((l, f.library(l.role)?.resolved.as_ref()?)))
        .collect();
    if failed.is_empty() {
        return vec![];
    }
    let names: Vec<&str> = failed.iter().map(|(l, _)| l.soname.as_str()).collect();
    let mut evidence = vec![format!(
        "{} ({}): {}",
        check.framework.display(),
        match &check.outcome {
            LoaderOutcome::Answered { entry, .. } => entry.as_str(),
            _ => "",
        },
        runpath_text(check)
    )];
    let mut dirs: Vec<&std::path::Path> = Vec::new();
    let mut unopenable = false;
    for (lib, found) in &failed {
        let error = lib.error.as_deref().unwrap_or("not loaded");
        unopenable |= error.contains("cannot open shared object file");
        evidence.push(format!("TensorFlow's loader: {error}"));
        evidence.push(format!(
            "gpugate finds {} at {}",
            lib.soname,
            describe_copy(found)
        ));
        if let Some(dir) = found.path.parent()
            && !dirs.contains(&dir)
        {
            dirs.push(dir);
        }
    }
    let build = &f.tensorflow.build;
    let release = build
        .version
        .as_ref()
        .map_or("this TensorFlow".to_string(), |v| format!("TensorFlow {v}"));
    let fix = if unopenable {
        let mut fix = format!(
            "put the directory on the loader's search path in the job's environment: {}",
            ld_library_path_export(&dirs)
        );
        if build
            .version
            .as_ref()
            .is_some_and(|v| compat::runpath_gap(v).is_some())
        {
            fix.push_str(&format!(
                ", or use TensorFlow {} (`python3 -m pip install \"tensorflow[and-cuda]=={}\"`), whose framework library's RUNPATH lists every library",
                crate::tf::DEFAULT_VERSION,
                crate::tf::DEFAULT_VERSION
            ));
        }
        fix
    } else {
        format!(
            "the file the loader finds does not load (its error above names what it lacks): reinstall the CUDA libraries as one set, `python3 -m pip install --force-reinstall \"tensorflow[and-cuda]{}\"`",
            build.pip_pin()
        )
    };
    finding(
        Severity::Error,
        format!(
            "{release}'s own library loader cannot load {}, so TensorFlow registers no GPU: it dlopens from {}, and {} the directory that holds {}",
            names.join(", "),
            check
                .framework
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
            if unopenable {
                "that library's RUNPATH does not reach"
            } else {
                "the loader rejects what it finds in"
            },
            if names.len() == 1 { "it" } else { "them" }
        ),
        fix,
        evidence,
    )
}

/// Asking TensorFlow's loader crashed or hung: the libraries it was loading
/// would do the same inside TensorFlow.
pub(super) fn tensorflow_loader_crashed(e: &Evidence) -> Vec<Finding> {
    let Some(check) = &e.facts.tensorflow.loader else {
        return vec![];
    };
    let LoaderOutcome::Failed { library, why } = &check.outcome else {
        return vec![];
    };
    // Dying in a cuDNN that misses parts of itself: `cudnn-incomplete`
    // names them.
    if library
        .as_ref()
        .is_some_and(|name| incomplete_cudnn(e.facts).is_some_and(|cudnn| cudnn.soname == *name))
    {
        return vec![];
    }
    let first = why.lines().next().unwrap_or(why);
    finding(
        Severity::Error,
        format!(
            "TensorFlow's own library loader ({}) did not answer: {first}",
            check.framework.display()
        ),
        "run the same loading in isolation to see which library is at fault: `TF_CPP_MAX_VLOG_LEVEL=1 python3 -c \"import tensorflow as tf; print(tf.config.list_physical_devices())\"`, then reinstall that library's package (`python3 -m pip install --force-reinstall` it)".into(),
        why.lines().skip(1).map(str::to_string).collect(),
    )
}

/// Judged against a release without its files (`--for-tensorflow`,
/// `doctor --releases`): pip's layout of this release leaves libraries off
/// the loader's RUNPATH.
pub(super) fn tensorflow_runpath_gap(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let build = &f.tensorflow.build;
    if f.tensorflow.loader.is_some() || build.cuda_build != Some(true) {
        return vec![];
    }
    let Some(gap) = build.version.as_ref().and_then(compat::runpath_gap) else {
        return vec![];
    };
    let missing: Vec<String> = build
        .needs()
        .into_iter()
        .filter(|n| gap.missing.contains(&n.role))
        .map(|n| n.soname)
        .collect();
    let dirs: Vec<String> = gap
        .missing
        .iter()
        .filter_map(|r| r.pip_name())
        .map(|p| format!("<site-packages>/nvidia/{}/lib", p.replace('-', "_")))
        .fold(Vec::new(), |mut all, d| {
            if !all.contains(&d) {
                all.push(d);
            }
            all
        });
    finding(
        Severity::Warning,
        format!(
            "pip's TensorFlow {} cannot load {} through its own RUNPATH: with `tensorflow[and-cuda]` alone it registers no GPU",
            gap.release,
            missing.join(", ")
        ),
        format!(
            "where it runs, put {} on LD_LIBRARY_PATH, or use TensorFlow {}",
            dirs.join(":"),
            crate::tf::DEFAULT_VERSION
        ),
        vec![format!(
            "libtensorflow_framework.so.2 of the {} wheel has no RUNPATH entry for {}",
            gap.release,
            dirs.join(", ")
        )],
    )
}

/// What a library lacks of another, from the loader's "undefined symbol"
/// error: `(symbol, the library that should define it)`.
pub(super) fn undefined_symbol(error: &str) -> Option<(&str, &str)> {
    let rest = error.split_once("undefined symbol: ")?.1;
    let (symbol, rest) = rest.split_once(", version ")?;
    let library = rest.split_whitespace().next()?;
    Some((symbol, library))
}

/// NVIDIA versions its symbols by the release that added them
/// (`__nvJitLinkAddData_12_9`): the oldest release that has it.
pub(super) fn release_of_symbol(symbol: &str) -> Option<Version> {
    let mut parts = symbol.rsplit('_');
    let minor: u64 = parts.next()?.parse().ok()?;
    let major: u64 = parts.next()?.parse().ok()?;
    Some(Version::from_parts(&[major, minor]))
}

/// A library is there but does not load: it needs a symbol from a newer
/// release of another library than the one the loader found (pip resolved an
/// older `nvidia-nvjitlink-cu12` under a newer cuSPARSE). Installing the
/// library itself again would change nothing.
pub(super) fn library_needs_newer_dependency(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let mut findings = Vec::new();
    for lib in &f.libraries {
        let Some((symbol, dependency)) = lib.error.as_deref().and_then(undefined_symbol) else {
            continue;
        };
        let needed = release_of_symbol(symbol);
        let role = f
            .libraries
            .iter()
            .find(|l| l.soname == dependency)
            .map(|l| l.role);
        let found = role
            .and_then(|r| f.library(r))
            .and_then(|l| l.resolved.as_ref());
        let mut evidence = vec![format!(
            "{}: {}",
            lib.soname,
            lib.error.as_deref().unwrap_or_default()
        )];
        if let Some(copy) = found {
            evidence.push(format!(
                "the loader finds {dependency} at {}",
                describe_copy(copy)
            ));
        }
        let cuda_major = f.tensorflow.build.cuda.as_ref().map_or(12, |c| c.major());
        let package = role.and_then(Role::pip_name).map(|pip| match &needed {
            Some(v) => format!(
                "`python3 -m pip install \"nvidia-{pip}-cu{cuda_major}>={v},<{}\"`",
                v.major() + 1
            ),
            None => format!("`python3 -m pip install --upgrade nvidia-{pip}-cu{cuda_major}`"),
        });
        findings.extend(finding(
            Severity::Error,
            format!(
                "{} is installed but does not load: it needs {symbol} from {dependency}{}, and the {dependency} the loader finds{} lacks it",
                lib.soname,
                needed.as_ref().map_or(String::new(), |v| format!(" {v} or newer")),
                found
                    .and_then(|c| c.version.as_ref())
                    .map_or(String::new(), |v| format!(" ({v})"))
            ),
            format!(
                "install a {dependency} at least as new as the {} beside it: {}",
                lib.soname,
                package.unwrap_or_else(|| format!("upgrade the package that provides {dependency}"))
            ),
            evidence,
        ));
    }
    findings
}

/// Probing a library crashed or hung its worker: what TensorFlow would meet
/// when it loads it. Never silence, never "not found".
pub(super) fn library_probe_crashed(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let mut findings = Vec::new();
    // A cuDNN missing some of its parts is told by `cudnn-incomplete`,
    // which names them; any other library's crash is told here.
    for lib in f.libraries.iter().filter(|l| l.missing_parts.is_empty()) {
        let Some(why) = &lib.probe_crashed else {
            continue;
        };
        let cuda_major = f.tensorflow.build.cuda.as_ref().map_or(12, |c| c.major());
        let reinstall = lib.role.pip_name().map_or_else(
            || format!("reinstall the package that provides {}", lib.soname),
            |pip| {
                format!(
                    "reinstall it whole: `python3 -m pip install --force-reinstall {}`",
                    pinned_package(pip, cuda_major, &lib.soname)
                )
            },
        );
        findings.extend(finding(
            Severity::Error,
            format!(
                "loading {} crashes or hangs the process that loads it: {}",
                lib.soname,
                why.lines().next().unwrap_or_default()
            ),
            format!(
                "{reinstall} (a library that aborts while loading usually misses files of its own, as cuDNN 9 does without its sub-libraries)"
            ),
            why.lines().skip(1).map(str::to_string).collect(),
        ));
    }
    findings
}

/// cuDNN's `libcudnn.so.N` is a shim that loads its sub-libraries by
/// soname when first called; a partial install (some of them gone) loads,
/// then aborts TensorFlow at its first cuDNN call ("Unable to load any of
/// {libcudnn_graph.so.9 ...}").
/// The cuDNN the build needs, where it misses some of its sub-libraries.
fn incomplete_cudnn(f: &Facts) -> Option<&LibraryFact> {
    f.library(Role::Cudnn)
        .filter(|lib| !lib.missing_parts.is_empty())
}

pub(super) fn cudnn_incomplete(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(lib) = incomplete_cudnn(f) else {
        return vec![];
    };
    let names: Vec<String> = lib
        .missing_parts
        .iter()
        .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
        .collect();
    let dir = lib.missing_parts[0]
        .parent()
        .map_or(String::new(), |d| d.display().to_string());
    let version = lib
        .resolved
        .as_ref()
        .and_then(|c| c.version.as_ref())
        .map_or(String::new(), |v| format!(" {v}"));
    let cuda_major = f.tensorflow.build.cuda.as_ref().map_or(12, |c| c.major());
    let mut evidence = vec![format!("missing from {dir}: {}", names.join(", "))];
    if let Some(why) = &lib.probe_crashed {
        let mut lines = why.lines();
        evidence.push(format!(
            "loading {}: {}",
            lib.soname,
            lines.next().unwrap_or_default()
        ));
        evidence.extend(lines.map(str::to_string));
    }
    finding(
        Severity::Error,
        format!(
            "cuDNN{version} in {dir} is incomplete: {} of its sub-libraries ({}) are missing, so the first cuDNN call aborts the process",
            names.len(),
            names.join(", ")
        ),
        format!(
            "reinstall cuDNN whole: `python3 -m pip install --force-reinstall {}` (or remove {dir} from LD_LIBRARY_PATH if another, complete cuDNN is meant to load)",
            pinned_package("cudnn", cuda_major, &lib.soname)
        ),
        evidence,
    )
}

/// The cuDNN the loader resolves takes some of its sub-libraries from
/// another directory (an older cuDNN's on LD_LIBRARY_PATH): the shim of
/// one release driving the engines of another.
pub(super) fn cudnn_mixed(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(lib) = f.library(Role::Cudnn) else {
        return vec![];
    };
    let (Some(shim), false) = (lib.resolved.as_ref(), lib.foreign_parts.is_empty()) else {
        return vec![];
    };
    let shim_dir = shim
        .path
        .parent()
        .map_or(String::new(), |d| d.display().to_string());
    let foreign_dirs: Vec<String> = lib
        .foreign_parts
        .iter()
        .filter_map(|p| p.parent().map(|d| d.display().to_string()))
        .fold(Vec::new(), |mut all, d| {
            if !all.contains(&d) {
                all.push(d);
            }
            all
        });
    let mut evidence = vec![format!("{} is {}", lib.soname, describe_copy(shim))];
    evidence.extend(lib.foreign_parts.iter().map(|p| {
        format!(
            "its sub-library {} was loaded instead of the one in {shim_dir}",
            p.display()
        )
    }));
    finding(
        Severity::Error,
        format!(
            "a mixed cuDNN: {} in {shim_dir} loads its sub-libraries by name and gets {} of them from {}, another cuDNN's",
            lib.soname,
            lib.foreign_parts.len(),
            foreign_dirs.join(", ")
        ),
        format!(
            "let one cuDNN come first: drop {} from LD_LIBRARY_PATH (or put {shim_dir} before it)",
            foreign_dirs.join(" and ")
        ),
        evidence,
    )
}

/// LD_LIBRARY_PATH with an empty or relative element: every program that
/// loads libraries (TensorFlow included) searches its working directory,
/// which in CI holds the checked-out, perhaps untrusted, repository.
/// gpugate's own workers drop those elements.
pub(super) fn ld_library_path_searches_cwd(e: &Evidence) -> Vec<Finding> {
    let Some(value) = e.facts.host.var("LD_LIBRARY_PATH") else {
        return vec![];
    };
    let relative = crate::host::relative_search_elements(value);
    if relative.is_empty() {
        return vec![];
    }
    let shown: Vec<String> = relative
        .iter()
        .map(|e| {
            if e.is_empty() {
                "an empty element".to_string()
            } else {
                format!("`{e}`")
            }
        })
        .collect();
    finding(
        Severity::Warning,
        format!(
            "LD_LIBRARY_PATH has {}: TensorFlow and every other program load libraries from their working directory through it (a planted libcudnn.so.9 or libnvidia-ml.so.1 in a checked-out repository would run); gpugate's own workers leave it out",
            shown.join(" and ")
        ),
        "append without leaving an empty element: `export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/usr/local/cuda/lib64`, and use absolute directories only".into(),
        vec![format!("LD_LIBRARY_PATH={value}")],
    )
}

/// The cuDNN the loader resolves was built for another CUDA major than the
/// build's (`nvidia-cudnn-cu11` installed over the cu12 one: the same
/// soname and version, so nothing else tells them apart); its
/// sub-libraries need that CUDA's cuBLAS.
pub(super) fn cudnn_built_for_other_cuda(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let (Some(lib), Some(cuda)) = (f.library(Role::Cudnn), f.tensorflow.build.cuda.as_ref()) else {
        return vec![];
    };
    let (Some(copy), Some(built_for)) = (lib.resolved.as_ref(), lib.built_for_cuda.as_ref()) else {
        return vec![];
    };
    if built_for.major() == cuda.major() {
        return vec![];
    }
    let wrong = format!("nvidia-cudnn-cu{}", built_for.major());
    finding(
        Severity::Error,
        format!(
            "the cuDNN the loader finds was built for CUDA {built_for}, and {} uses CUDA {}: its sub-libraries need CUDA {}'s libraries",
            f.tensorflow.build.describe(),
            cuda.major(),
            built_for.major()
        ),
        format!(
            "replace it with the CUDA {} build: `python3 -m pip uninstall -y {wrong} && python3 -m pip install --force-reinstall {}` (both packages install the same files)",
            cuda.major(),
            pinned_package("cudnn", cuda.major(), &lib.soname)
        ),
        vec![format!(
            "{}: cudnnGetCudartVersion() says CUDA {built_for}",
            describe_copy(copy)
        )],
    )
}
