//! Suites: TOML files of checks, validated whole before anything runs.

mod builtin;
mod common;
mod error;
mod parse;
mod vars;

pub use builtin::{BUILTIN, builtin_source};
pub use common::{CommonSpec, OnMissing, Requirement, Timeout, seconds};
pub use error::SuiteError;
pub use parse::parse_suite;
pub use vars::Resolver;

use crate::checks::CheckKind;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A validated suite.
#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    pub description: Option<String>,
    /// Where it came from, as shown to users: a path or `builtin:NAME`.
    pub file: String,
    /// Relative paths in checks resolve against this directory.
    pub base_dir: PathBuf,
    pub checks: Vec<CheckDef>,
    /// The variables it uses (referred to, or in its `[vars]`).
    pub variables: std::collections::BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub struct CheckDef {
    pub common: CommonSpec,
    pub kind: CheckKind,
    /// Line of the check's table in the suite file.
    pub line: usize,
}

/// Loads a suite named on the command line: a built-in name, or a path.
/// The largest suite file read: suites are a few KiB, and a generated one
/// of 20,000 checks about 1.2 MB; anything near this bound is not a suite,
/// and reading it whole would cost its size in memory several times over.
pub const MAX_SUITE_BYTES: u64 = 16 << 20;

pub fn load(arg: &str, cli_vars: &BTreeMap<String, String>) -> Result<Suite, SuiteError> {
    let env = |name: &str| std::env::var(name).ok();
    let looks_like_path = arg.contains('/') || arg.ends_with(".toml");
    if !looks_like_path {
        if let Some(source) = builtin_source(arg) {
            let cwd = std::env::current_dir().unwrap_or_default();
            return parse_suite(arg, &format!("builtin:{arg}"), &cwd, source, cli_vars, &env);
        }
        if !Path::new(arg).exists() {
            let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            let mut err = SuiteError::new(
                arg,
                "",
                None,
                format!(
                    "unknown suite `{arg}`: no built-in suite has that name and no such file exists"
                ),
            );
            err.help = Some(
                match crate::text::did_you_mean(arg, names.iter().copied()) {
                    Some(near) => format!(
                        "did you mean `{near}`? (built-in suites: {})",
                        names.join(", ")
                    ),
                    None => format!(
                        "built-in suites: {}; or give a path to a .toml file",
                        names.join(", ")
                    ),
                },
            );
            return Err(err);
        }
    }
    let path = Path::new(arg);
    let bytes = crate::input::read(path, MAX_SUITE_BYTES)
        .map_err(|why| SuiteError::new(arg, "", None, format!("failed to read suite: {why}")))?;
    let source = String::from_utf8(bytes).map_err(|e| {
        // The valid prefix is the same in the lossy text, so `at` points at the
        // replacement character standing for the first bad byte.
        let at = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
        SuiteError::new(
            arg,
            &text,
            Some(at..at + char::REPLACEMENT_CHARACTER.len_utf8()),
            "suite is not valid UTF-8",
        )
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| arg.to_string());
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base_dir = if base_dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base_dir
    };
    parse_suite(&name, arg, &base_dir, &source, cli_vars, &env)
}
