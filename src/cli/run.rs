//! A run: every suite validated, then the reporters chosen, then the
//! runner, whose events they consume, and the exit code the gate reads.

use super::RunArgs;
use super::failure::Failure;
use crate::checks::CheckKind;
use crate::ci::Ci;
use crate::console::Console;
use crate::event::{Bus, Reporter};
use crate::exit::{Ending, Exit};
use crate::host::HostFacts;
use crate::redact::scrub;
use crate::report;
use crate::runner::{self, TfOptions};
use crate::suite::{self, BUILTIN};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The most test threads a run may ask for.
const MAX_TEST_THREADS: usize = 256;

/// The report replaces whatever regular file is at its path, so a path that
/// is something else (`/dev/null`, a FIFO, a device) or one of the run's own
/// suites is refused before anything runs.
fn report_path_usable(path: &Path, suites: &[suite::Suite]) -> Result<(), ReportPathError> {
    crate::files::writable_target(path)?;
    let attachments = report::attachments::dir_for(path);
    if let Ok(meta) = std::fs::metadata(&attachments)
        && !meta.is_dir()
    {
        return Err(ReportPathError::AttachmentsDir {
            dir: attachments,
            kind: crate::files::file_kind(&meta),
        });
    }
    match suite_at(path, suites) {
        Some(name) => Err(ReportPathError::IsSuite(name.to_string())),
        None => Ok(()),
    }
}

/// Why the JUnit report cannot go where `--junit` says.
#[derive(Debug, thiserror::Error)]
enum ReportPathError {
    #[error(transparent)]
    NotReplaceable(#[from] crate::files::NotReplaceable),
    #[error("its attachments directory {} is {kind}", dir.display())]
    AttachmentsDir { dir: PathBuf, kind: &'static str },
    #[error("is the suite `{0}` of this run")]
    IsSuite(String),
}

/// The name of the run's suite whose file is at `path`, if one is.
fn suite_at<'a>(path: &Path, suites: &'a [suite::Suite]) -> Option<&'a str> {
    let target = path.canonicalize().ok()?;
    suites
        .iter()
        .find(|s| Path::new(&s.file).canonicalize().ok().as_ref() == Some(&target))
        .map(|s| s.name.as_str())
}

/// Runs the suites; with `record`, only their throughput checks, whose
/// measurements then go into that baseline file.
pub fn run(args: RunArgs, record: Option<&Path>) -> Result<Exit, Failure> {
    if args.suites.is_empty() {
        let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
        return Err(Failure::usage(format!(
            "no suite given\n  = help: pass --suite NAME (built-in: {}) or --suite PATH",
            names.join(", ")
        )));
    }
    let vars: BTreeMap<String, String> = args.vars.iter().cloned().collect();
    for (name, value) in &vars {
        crate::redact::register(name, value);
    }
    // Every suite validates before anything runs.
    let mut suites = Vec::new();
    for arg in &args.suites {
        // The message quotes the suite, variables expanded.
        let s = suite::load(arg, &vars)
            .map_err(|e| Failure::usage_report(scrub(&e.to_string()).into_owned()))?;
        suites.push(s);
    }
    // A --var no suite uses is a typo of one it does: refused, not ignored.
    let used: std::collections::BTreeSet<&str> = suites
        .iter()
        .flat_map(|s| s.variables.iter().map(String::as_str))
        .collect();
    if let Some(unused) = vars.keys().find(|name| !used.contains(name.as_str())) {
        let listed = if used.is_empty() {
            "the suites use no variable".to_string()
        } else {
            format!(
                "the suites use {}",
                used.iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(Failure::usage(format!(
            "--var {unused}: no suite uses `{unused}`; {listed}"
        )));
    }
    if args.harness.test_threads == Some(0) {
        return Err(Failure::usage("--test-threads must be at least 1"));
    }
    // Each test thread is started before any signal is looked at, and each
    // may hold a TensorFlow worker: a million of them is not a run.
    if let Some(n) = args.harness.test_threads
        && n > MAX_TEST_THREADS
    {
        return Err(Failure::usage(format!(
            "--test-threads {n} is more than {MAX_TEST_THREADS}"
        )));
    }
    report_path_usable(&args.junit, &suites)
        .map_err(|why| Failure::usage(format!("--junit {}: {why}", args.junit.display())))?;
    let mut seen = std::collections::HashSet::new();
    for s in &suites {
        if !seen.insert(s.name.clone()) {
            return Err(Failure::usage(format!(
                "suite `{}` given twice ({}); suite names must be unique in a run",
                s.name, s.file
            )));
        }
    }
    // `SUITE::CHECK` names every test: `a.toml`'s check `b::c` and
    // `a::b.toml`'s check `c` would be one name for two tests.
    let mut joined: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    for s in &suites {
        for check in &s.checks {
            let name = format!("{}::{}", s.name, check.common.name);
            if let Some((suite, other)) = joined.insert(name.clone(), (&s.name, &check.common.name))
            {
                return Err(Failure::usage(format!(
                    "two tests would be named `{name}`: check `{other}` of suite `{suite}` and check `{}` of suite `{}`\n  = help: rename one of them (`::` in a suite or check name is what makes them meet)",
                    check.common.name, s.name
                )));
            }
        }
    }
    super::install_signal_handlers();

    let host = HostFacts::gather(&args.probe.host_root);
    let ci = Ci::from_env();
    // The job summary is appended to; never to one of the run's suites.
    let summary_is_suite = ci
        .step_summary
        .as_deref()
        .and_then(|path| suite_at(path, &suites).map(str::to_string));
    let mut plan = crate::plan::plan(suites, args.timeout, &host);
    if record.is_some() {
        plan.checks
            .retain(|c| matches!(c.kind, CheckKind::TensorflowThroughput(_)));
        if plan.checks.is_empty() {
            return Err(Failure::usage(
                "the suites have no tensorflow.throughput check to record",
            ));
        }
    }
    let tf = TfOptions {
        explicit: args.tensorflow_lib.clone(),
        version: args.tensorflow_version.clone(),
        offline: args.offline,
    };
    // `--format json` is the whole run as one document on stdout; the
    // console then goes to stderr, in libtest's pretty format.
    let json = args.harness.format == Some(libtest_mimic::FormatSetting::Json);
    let mut harness = args.harness.clone();
    if json {
        harness.format = None;
    }
    let out = Output {
        console: if json {
            Console::stderr()
        } else {
            Console::stdout()
        },
        document: json.then(Console::stdout),
        log: Console::stderr(),
    };
    let mut bus = if harness.list {
        Bus::new(Vec::new(), out.log.clone())
    } else {
        reporters(&args, record, &out, &ci, summary_is_suite.as_deref())?
    };
    // libtest prints to descriptor 1; while the checks run it goes to
    // stderr, and the document is printed after, on the real stdout.
    let to_stderr = json.then(crate::procs::StdoutToStderr::start);
    let probe = args.probe.options();
    let ran = runner::run(plan, &host, &harness, &tf, &probe, &ci, &mut bus);
    drop(to_stderr);
    if harness.list {
        return Ok(Ending::Done.exit());
    }
    Ok(runner::finish(&ran, &mut bus, args.allow_empty))
}

/// Where a run's reporters write.
struct Output {
    /// Text for people: the root causes, GitHub's and GitLab's lines.
    console: Console,
    /// `--format json`'s document, when asked for.
    document: Option<Console>,
    /// What gpugate says about itself: reports written, warnings, errors.
    log: Console,
}

/// The reporters of a run, in the order they hear each event: the files
/// first (attachments before the JUnit report that links them), then what
/// prints the verdict.
fn reporters(
    args: &RunArgs,
    record: Option<&Path>,
    out: &Output,
    ci: &Ci,
    summary_is_suite: Option<&str>,
) -> Result<Bus, Failure> {
    let log = &out.log;
    let mut reporters: Vec<Box<dyn Reporter>> = vec![
        Box::new(report::attachments::Writer::new(&args.junit, log.clone())),
        Box::new(report::junit::Writer::new(&args.junit, log.clone())),
    ];
    if let Some(path) = record {
        let recorder =
            report::baseline::Recorder::new(path, log.clone()).map_err(Failure::usage)?;
        reporters.push(Box::new(recorder));
    }
    reporters.push(Box::new(report::root_causes::RootCauses::new(
        out.console.clone(),
    )));
    if ci.gitlab {
        reporters.push(Box::new(report::gitlab::Sections::new(out.console.clone())));
    }
    if let Some(document) = &out.document {
        reporters.push(Box::new(report::json::Document::new(document.clone())));
    }
    if ci.github_actions {
        let summary = ci.step_summary.clone().filter(|path| {
            if let Some(name) = summary_is_suite {
                log.say(&format!(
                    "warning: GITHUB_STEP_SUMMARY {} is the suite `{name}` of this run: no job summary is appended to it\n",
                    path.display()
                ));
            }
            summary_is_suite.is_none()
        });
        reporters.push(Box::new(report::github::Actions::new(
            out.console.clone(),
            summary,
            log.clone(),
        )));
    }
    Ok(Bus::new(reporters, log.clone()))
}
