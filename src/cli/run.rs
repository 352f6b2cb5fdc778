//! A run: every suite validated, then the reporters chosen, then the
//! runner, whose events they consume, and the exit code the gate reads.

use super::RunArgs;
use super::failure::Failure;
use crate::checks::CheckKind;
use crate::event::{Bus, Reporter};
use crate::exit::Exit;
use crate::host::HostFacts;
use crate::redact::scrub;
use crate::report::{self, Console};
use crate::runner::{self, TfOptions};
use crate::suite::{self, BUILTIN};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The most test threads a run may ask for.
const MAX_TEST_THREADS: usize = 256;

/// The report replaces whatever regular file is at its path, so a path that
/// is something else (`/dev/null`, a FIFO, a device) or one of the run's own
/// suites is refused before anything runs.
fn report_path_usable(path: &Path, suites: &[suite::Suite]) -> Result<(), String> {
    crate::text::writable_target(path)?;
    let attachments = report::attachments::dir_for(path);
    if let Ok(meta) = std::fs::metadata(&attachments)
        && !meta.is_dir()
    {
        return Err(format!(
            "its attachments directory {} is {}",
            attachments.display(),
            crate::text::file_kind(&meta)
        ));
    }
    match suite_at(path, suites) {
        Some(name) => Err(format!("is the suite `{name}` of this run")),
        None => Ok(()),
    }
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
    // The job summary is appended to; never to one of the run's suites.
    let summary_is_suite = std::env::var_os("GITHUB_STEP_SUMMARY")
        .and_then(|path| suite_at(Path::new(&path), &suites).map(str::to_string));
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
    let console = if json {
        Console::Stderr
    } else {
        Console::Stdout
    };
    let bus = if harness.list {
        Bus::new(Vec::new())
    } else {
        reporters(&args, record, console, summary_is_suite.as_deref())?
    }
    .shared();
    let to_stderr = json.then(crate::procs::StdoutToStderr::start);
    let ran = runner::run(plan, &host, &harness, &tf, &args.probe.options(), &bus);
    drop(to_stderr);
    if harness.list {
        return Ok(Exit::Success);
    }
    Ok(runner::finish(&ran, &bus, args.allow_empty))
}

/// The reporters of a run, in the order they hear each event: the files
/// first (attachments before the JUnit report that links them), then what
/// prints the verdict.
fn reporters(
    args: &RunArgs,
    record: Option<&Path>,
    console: Console,
    summary_is_suite: Option<&str>,
) -> Result<Bus, Failure> {
    let ci = |name: &str| std::env::var(name).as_deref() == Ok("true");
    let mut reporters: Vec<Box<dyn Reporter>> = vec![
        Box::new(report::attachments::Writer::new(&args.junit)),
        Box::new(report::junit::Writer::new(&args.junit)),
    ];
    if let Some(path) = record {
        let recorder = report::baseline::Recorder::new(path).map_err(Failure::usage)?;
        reporters.push(Box::new(recorder));
    }
    reporters.push(Box::new(report::console::RootCauses::new(console)));
    if ci("GITLAB_CI") {
        reporters.push(Box::new(report::gitlab::Sections::new(console)));
    }
    if console == Console::Stderr {
        reporters.push(Box::<report::json::Document>::default());
    }
    if ci("GITHUB_ACTIONS") {
        let summary = std::env::var_os("GITHUB_STEP_SUMMARY")
            .map(PathBuf::from)
            .filter(|path| {
                if let Some(name) = summary_is_suite {
                    eprintln!(
                        "warning: GITHUB_STEP_SUMMARY {} is the suite `{name}` of this run: no job summary is appended to it",
                        path.display()
                    );
                }
                summary_is_suite.is_none()
            });
        reporters.push(Box::new(report::github::Actions::new(console, summary)));
    }
    Ok(Bus::new(reporters))
}
