//! A run: every suite validated, then the checks, then the reports (JUnit,
//! the root causes on the console, JSON, job summaries and annotations,
//! GitLab sections) and the exit code the gate reads.

use super::RunArgs;
use super::failure::Failure;
use crate::checks::CheckKind;
use crate::diagnose;
use crate::exit::Exit;
use crate::host::HostFacts;
use crate::outcome::Status;
use crate::redact::scrub;
use crate::report;
use crate::report::junit;
use crate::runner::{self, TfOptions};
use crate::suite::{self, BUILTIN};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// The report replaces whatever regular file is at its path, so a path that
/// is something else (`/dev/null`, a FIFO, a device) or one of the run's own
/// suites is refused before anything runs.
fn report_path_usable(path: &Path, suites: &[suite::Suite]) -> Result<(), String> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    if !meta.is_file() {
        return Err(format!(
            "is {}; gpugate writes its report to a new or regular file only, and never replaces anything else",
            crate::text::file_kind(&meta)
        ));
    }
    let target = path.canonicalize().ok();
    for s in suites {
        if target.is_some() && Path::new(&s.file).canonicalize().ok() == target {
            return Err(format!("is the suite `{}` of this run", s.name));
        }
    }
    Ok(())
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

    let started = Instant::now();
    let host = HostFacts::gather(&args.probe.host_root);
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
    let gitlab = std::env::var("GITLAB_CI").as_deref() == Ok("true");
    let say = |text: &str| {
        if json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    };
    // On GitLab the real work is one timed section: facts, checks, causes.
    if gitlab && !args.harness.list {
        say(&report::gitlab::run_start(report::gitlab::now()));
    }
    let console = json.then(crate::procs::StdoutToStderr::start);
    let prepared = runner::prepare_run(&plan, &harness, &tf, &args.probe.options(), &host);
    let plan = runner::plan_for(plan, &prepared.facts);
    let (outcomes, facts) = runner::run_checks(&plan, &harness, prepared);
    drop(console);
    if args.harness.list {
        return Ok(Exit::Success);
    }

    let attachments = crate::report::attachments::write(&plan, &outcomes, &args.junit);
    let properties = crate::report::run_properties(&facts);
    let report = junit::build(
        &plan,
        &outcomes,
        &attachments,
        &properties,
        started.elapsed(),
    );
    let written = junit::write_atomic(&report, &args.junit);
    match &written {
        Ok(()) => eprintln!("gpugate: JUnit report written to {}", args.junit.display()),
        Err(e) => eprintln!("error: {e}"),
    }

    let failed = outcomes
        .iter()
        .flatten()
        .any(|o| matches!(o.verdict.status, Status::Fail | Status::Error));
    let ran = outcomes
        .iter()
        .flatten()
        .any(|o| o.verdict.status != Status::Skip);
    let exit = match crate::procs::cancelled_by() {
        Some(signal) => Exit::cancelled_by(signal),
        None if written.is_err() => Exit::ReportUnwritable,
        None if failed => Exit::ChecksFailed,
        None if !ran && !args.allow_empty => {
            eprintln!(
                "error: no check ran (every check was filtered out or skipped); pass --allow-empty if that is intended"
            );
            Exit::NothingRan
        }
        None => Exit::Success,
    };
    // Each root cause once, after libtest's failures (which point at it).
    let causes = report::results::root_causes(&plan, &outcomes);
    if !causes.is_empty() {
        say(&format!(
            "\n{}",
            scrub(&report::results::root_causes_text(&causes))
        ));
    }
    if gitlab {
        say(&report::gitlab::run_end(report::gitlab::now()));
    }
    if let (Some(path), Exit::Success | Exit::ChecksFailed) = (record, exit) {
        return super::baseline::record(&plan, &outcomes, &facts, path);
    }
    let results = report::results::collect(&plan, &outcomes, &attachments);
    if json {
        let findings = diagnose::diagnose(&diagnose::Evidence {
            facts: &facts,
            log: &facts.tensorflow.log,
        });
        let document = report::json::RunJson::new(
            exit.code(),
            started.elapsed().as_secs_f64(),
            &results,
            &properties,
            &facts,
            &findings,
        );
        let text = serde_json::to_string_pretty(&document).expect("the run serializes");
        println!("{}", crate::redact::scrub(&text));
    }
    ci_reports(&results, &causes, &properties, exit, json);
    Ok(exit)
}

/// What a CI system shows besides the JUnit report: on GitHub Actions the
/// job summary and error annotations, on GitLab a log section per suite.
/// With `--format json` they go to stderr, keeping stdout one document.
fn ci_reports(
    results: &[report::results::TestResult],
    causes: &[report::results::RootCause],
    properties: &[(String, String)],
    exit: Exit,
    json: bool,
) {
    let say = |text: &str| {
        if json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    };
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        for line in report::github::annotations(results, causes) {
            say(&format!("{line}\n"));
        }
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
            let summary = report::github::summary(results, causes, properties, exit.code());
            let summary = crate::redact::scrub(&summary);
            let appended = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, summary.as_bytes()));
            if let Err(e) = appended {
                eprintln!(
                    "warning: failed to append the job summary to {}: {e}",
                    Path::new(&path).display()
                );
            }
        }
    }
    if std::env::var("GITLAB_CI").as_deref() == Ok("true") {
        say(&report::gitlab::sections(results, report::gitlab::now()));
    }
}
