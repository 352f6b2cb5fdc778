//! The command line: parses arguments, validates every suite, then hands over
//! to the runner and the reporters. Maps every ending to an [`Exit`] code.

use crate::baseline::{Baselines, Entry as BaselineEntry};
use crate::checks::CheckKind;
use crate::checks::tensorflow_throughput::H2D_MEASURE;
use crate::diagnose;
use crate::exit::Exit;
use crate::facts::ProbeOptions;
use crate::facts::build::TfBuild;
use crate::host::HostFacts;
use crate::outcome::{Outcome, Status};
use crate::redact::scrub;
use crate::report;
use crate::report::junit;
use crate::runner::{self, TfOptions};
use crate::suite::{self, BUILTIN};
use crate::tf::cache::{self, Flavor};
use crate::tf::{DEFAULT_VERSION, provision};
use crate::version::Version;
use crate::worker::protocol::WORKER_SUBCOMMAND;
use clap::{Parser, Subcommand};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const DEFAULT_JUNIT: &str = "target/gpugate/junit.xml";

#[derive(Parser, Debug)]
#[command(name = "gpugate", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// A built-in suite name (see `gpugate suites`) or a path to a suite file; repeatable.
    #[arg(long = "suite", value_name = "NAME|PATH")]
    suites: Vec<String>,
    /// Where to write the JUnit report.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_JUNIT)]
    junit: PathBuf,
    /// Sets a suite variable, used as ${KEY}; repeatable.
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// A libtensorflow to try first: the library file, or a directory holding it.
    #[arg(long, value_name = "PATH")]
    tensorflow_lib: Option<PathBuf>,
    /// Test this TensorFlow release from gpugate's cache (provisioned when
    /// missing) instead of the first TensorFlow found; default: the first found,
    /// else 2.21.0 provisioned.
    #[arg(long, value_name = "VERSION", value_parser = parse_tf_version, conflicts_with = "tensorflow_lib")]
    tensorflow_version: Option<String>,
    /// Never download libtensorflow.
    #[arg(long)]
    offline: bool,
    /// Exit 0 when the filter or the suites' requirements leave no check to
    /// run (default: exit 4, so a filter typo cannot turn a gate green).
    #[arg(long)]
    allow_empty: bool,
    /// Default per-check timeout in seconds (a check's own `timeout` wins).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    timeout: Option<Duration>,
    #[command(flatten)]
    probe: ProbeArgs,
    #[command(flatten)]
    harness: libtest_mimic::Arguments,
}

/// How the machine is probed; shared by runs, `facts` and `doctor`.
#[derive(clap::Args, Debug, Clone)]
struct ProbeArgs {
    /// A libnvidia-ml in an unusual place (WSL, custom installs).
    #[arg(long, value_name = "PATH", env = "GPUGATE_NVML_LIBRARY")]
    nvml_library: Option<PathBuf>,
    /// Where the host's /proc and /dev are mounted, when gpugate runs in a container (e.g. /host).
    #[arg(
        long,
        value_name = "DIR",
        env = "GPUGATE_HOST_ROOT",
        default_value = "/"
    )]
    host_root: PathBuf,
    /// Seconds NVML and the CUDA libraries get to answer before the probe is killed.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "30")]
    probe_timeout: Duration,
    /// Judge the machine against this TensorFlow release (2.18, 2.15, 2.18-cpu) instead of the one found.
    #[arg(long, value_name = "VERSION", value_parser = parse_tf_target)]
    for_tensorflow: Option<TfBuild>,
}

impl ProbeArgs {
    fn options(&self) -> ProbeOptions {
        ProbeOptions {
            nvml_library: self.nvml_library.clone(),
            host_root: self.host_root.clone(),
            timeout: self.probe_timeout,
            for_tensorflow: self.for_tensorflow.clone(),
        }
    }
}

/// A full release number (`2.21.0`), as pip pins it.
fn parse_tf_version(text: &str) -> Result<String, String> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() == 3
        && parts[0] == "2"
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    {
        Ok(text.to_string())
    } else {
        Err(format!(
            "`{text}` is not a TensorFlow release like {DEFAULT_VERSION}"
        ))
    }
}

fn parse_tf_target(text: &str) -> Result<TfBuild, String> {
    TfBuild::from_target(text)
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

/// What `facts` and `doctor` take: they look at the machine, never download.
#[derive(clap::Args, Debug)]
struct MachineArgs {
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    probe: ProbeArgs,
    /// A libtensorflow to try first: the library file, or a directory holding it.
    #[arg(long, value_name = "PATH")]
    tensorflow_lib: Option<PathBuf>,
    /// Judge this machine's GPUs under a driver it does not have yet
    /// (e.g. 570.86.15): what an upgrade would do, before it is rolled out.
    #[arg(long, value_name = "VERSION", value_parser = parse_driver_version)]
    for_driver: Option<Version>,
    /// (doctor) A line per TensorFlow release 2.15 to 2.21: works, works with
    /// warnings or fails on this machine, and why.
    #[arg(long, conflicts_with = "for_tensorflow")]
    releases: bool,
}

fn parse_driver_version(text: &str) -> Result<Version, String> {
    Version::parse(text)
        .filter(|v| v.major() >= 300)
        .ok_or_else(|| format!("`{text}` is not an NVIDIA driver version like 570.86.15"))
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Lists the built-in suites.
    Suites,
    /// Downloads a TensorFlow build into gpugate's cache (with pip) and verifies it.
    FetchTensorflow {
        /// The release to provision; several live side by side in the cache.
        #[arg(long = "tensorflow-version", visible_alias = "version", value_name = "VERSION", default_value = DEFAULT_VERSION, value_parser = parse_tf_version)]
        version: String,
        /// The CUDA build (default where an NVIDIA GPU is present).
        #[arg(long, conflicts_with = "cpu")]
        gpu: bool,
        /// The CPU-only build (default elsewhere).
        #[arg(long)]
        cpu: bool,
    },
    /// Prints what gpugate knows about this machine: host, driver and GPUs, the TensorFlow build and its libraries.
    Facts(MachineArgs),
    /// All facts and every diagnosis for this machine; exit 0 when healthy, 101 otherwise.
    Doctor(MachineArgs),
    /// Prints the documentation of one diagnosis (see docs/diagnoses.md), or lists them all.
    Explain {
        /// A diagnosis id such as `cudnn-wrong-major`.
        id: Option<String>,
    },
    /// Reports made by earlier runs.
    Report {
        #[command(subcommand)]
        action: ReportAction,
    },
    /// Throughput baselines for `tensorflow.throughput`'s `baseline` key.
    Baseline {
        #[command(subcommand)]
        action: BaselineAction,
    },
    #[command(name = WORKER_SUBCOMMAND, hide = true)]
    Worker,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum MergeFormat {
    Markdown,
    Html,
    Json,
}

#[derive(Subcommand, Debug)]
enum ReportAction {
    /// Merges JUnit reports (one per runner, driver or night) into one matrix
    /// of tests × runs, columns labelled by runner, driver and GPU, with what
    /// changed between runs first.
    Merge {
        /// JUnit files, in the order their columns should appear (oldest first).
        #[arg(required = true, value_name = "JUNIT")]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "markdown")]
        format: MergeFormat,
        /// Where to write it (default: stdout).
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum BaselineAction {
    /// Runs the suites' tensorflow.throughput checks only and records what
    /// they measured, per device model and size, into a baseline file
    /// (entries for the same model, size and measure are replaced).
    Record {
        /// The baseline file to create or update.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        #[command(flatten)]
        run: Box<RunArgs>,
    },
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))?;
    if key.is_empty() {
        return Err(format!("`{text}` has an empty KEY"));
    }
    Ok((key.to_string(), value.to_string()))
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    crate::suite::seconds(secs).map(|t| t.0)
}

pub fn main() -> ExitCode {
    // The worker must not pay for, or be confused by, the parent's parsing.
    if std::env::args().nth(1).as_deref() == Some(WORKER_SUBCOMMAND) {
        return crate::worker::child::main();
    }
    let shield = crate::procs::StdoutShield::start();
    let exit = dispatch();
    if let Some(shield) = shield {
        shield.finish();
    }
    exit
}

const ABOUT: &str = "Tells a CI pipeline whether this machine can really run TensorFlow on its GPUs, and if not, why.";

/// libtest's options that mean nothing to gpugate: hidden from `--help`,
/// refused when given (a flag that silently does nothing in a gate is a
/// trap).
const LIBTEST_LEFTOVERS: &[(&str, &str)] = &[
    ("include_ignored", "--include-ignored"),
    ("ignored", "--ignored"),
    ("test", "--test"),
    ("bench", "--bench"),
    ("nocapture", "--nocapture"),
    ("show_output", "--show-output"),
    ("unstable_flags", "-Z"),
    ("logfile", "--logfile"),
];

/// The command line: clap's derive, with libtest-mimic's own template,
/// disabled version flag and leftovers undone.
fn command() -> clap::Command {
    use clap::CommandFactory;
    let mut command = Cli::command()
        .help_template("{about-with-newline}\n{usage-heading} {usage}\n\n{all-args}{after-help}")
        .about(ABOUT)
        .long_about(ABOUT)
        .disable_version_flag(false)
        .version(env!("CARGO_PKG_VERSION"))
        .after_help(Exit::help_table());
    for (id, _) in LIBTEST_LEFTOVERS {
        command = command.mut_arg(*id, |a| a.hide(true));
    }
    command = command.mut_arg("list", |a| a.help("Lists the checks without running them"));
    command.mut_arg("format", |a| {
        a.help("pretty: libtest's console; terse: a character per check; json: the whole run as one JSON document on stdout (the console then goes to stderr)")
    })
}

fn dispatch() -> ExitCode {
    use clap::FromArgMatches;
    let parsed = command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Success.into()
            };
        }
    };
    if let Some((_, flag)) = LIBTEST_LEFTOVERS
        .iter()
        .find(|(id, _)| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
    {
        eprintln!(
            "error: {flag} is libtest's and means nothing to gpugate (it has no ignored checks, benchmarks or output capture)"
        );
        return Exit::Usage.into();
    }
    match cli.command {
        Some(Command::Suites) => list_suites(),
        Some(Command::FetchTensorflow { version, gpu, cpu }) => {
            fetch_tensorflow(&version, gpu, cpu)
        }
        Some(Command::Facts(args)) => facts_command(args, false),
        Some(Command::Doctor(args)) => facts_command(args, true),
        Some(Command::Explain { id }) => explain(id.as_deref()),
        Some(Command::Report {
            action: ReportAction::Merge { files, format, out },
        }) => merge_reports(&files, format, out.as_deref()),
        Some(Command::Baseline {
            action: BaselineAction::Record { out, run: args },
        }) => run(*args, Some(&out)),
        Some(Command::Worker) => crate::worker::child::main(),
        None => run(cli.run, None),
    }
}

fn explain(id: Option<&str>) -> ExitCode {
    let ids: Vec<&str> = diagnose::RULES.iter().map(|r| r.id).collect();
    let Some(id) = id else {
        let width = ids.iter().map(|i| i.len()).max().unwrap_or(0);
        for id in &ids {
            let summary = diagnose::summary(id).unwrap_or_default();
            println!("{id:<width$}  {summary}");
        }
        return Exit::Success.into();
    };
    match diagnose::explain(id) {
        Some(text) => {
            println!("{}", diagnose::terminal_text(text));
            Exit::Success.into()
        }
        None => {
            let hint = crate::text::did_you_mean(id, ids.iter().copied())
                .map_or(String::new(), |s| {
                    format!("\n  = help: did you mean `{s}`?")
                });
            eprintln!("error: no diagnosis `{id}` (`gpugate explain` lists them){hint}");
            Exit::Usage.into()
        }
    }
}

/// `facts` and `doctor`: TensorFlow is looked for (never downloaded) and
/// loaded in a worker, unless `--for-tensorflow` names the build to judge.
fn facts_command(args: MachineArgs, doctor: bool) -> ExitCode {
    let MachineArgs {
        format,
        probe,
        tensorflow_lib,
        for_driver,
        releases,
    } = args;
    if releases && !doctor {
        eprintln!("error: --releases is doctor's (`gpugate doctor --releases`)");
        return Exit::Usage.into();
    }
    if let Err(e) = crate::procs::install_signal_handlers() {
        eprintln!("warning: failed to install signal handlers: {e}");
    }
    let host = HostFacts::gather(&probe.host_root);
    let tf = TfOptions {
        explicit: tensorflow_lib,
        version: None,
        offline: true,
    };
    // facts and doctor run one request at a time.
    let pool = runner::new_pool(1);
    let load_tf = probe.for_tensorflow.is_none() && !releases;
    let facts = runner::gather_facts(&pool, &tf, load_tf, &[], &probe.options(), &host);
    let facts = match for_driver {
        Some(driver) => match runner::with_driver(facts, &driver) {
            Ok(facts) => facts,
            Err(e) => {
                pool.shutdown();
                eprintln!("error: {e}");
                return Exit::Usage.into();
            }
        },
        None => facts,
    };
    if releases {
        let verdicts = runner::judge_releases(&pool, &probe.options(), &host, &facts);
        pool.shutdown();
        match format {
            Format::Text => print!("{}", scrub(&runner::releases_text(&verdicts))),
            Format::Json => println!(
                "{}",
                scrub(&serde_json::to_string_pretty(&verdicts).expect("verdicts serialize"))
            ),
        }
        return Exit::Success.into();
    }
    pool.shutdown();
    if !doctor {
        match format {
            Format::Text => print!("{}", scrub(&report::doctor::facts_text(&facts))),
            Format::Json => println!(
                "{}",
                scrub(
                    &serde_json::to_string_pretty(&report::json::FactsJson {
                        schema_version: report::json::SCHEMA_VERSION,
                        facts: &facts,
                    })
                    .expect("facts serialize")
                )
            ),
        }
        return Exit::Success.into();
    }
    let findings = diagnose::diagnose(&diagnose::Evidence {
        facts: &facts,
        log: &facts.tensorflow.log,
    });
    let healthy = report::doctor::healthy(&findings);
    match format {
        Format::Text => print!("{}", scrub(&report::doctor::doctor_text(&facts, &findings))),
        Format::Json => {
            let json = report::doctor::DoctorJson {
                schema_version: report::json::SCHEMA_VERSION,
                healthy,
                diagnoses: &findings,
                facts: &facts,
            };
            println!(
                "{}",
                scrub(&serde_json::to_string_pretty(&json).expect("doctor serializes"))
            );
        }
    }
    if healthy {
        Exit::Success.into()
    } else {
        Exit::ChecksFailed.into()
    }
}

/// Upserts every measurement of the run's throughput checks into `path`.
fn record_baseline(
    plan: &crate::plan::Plan,
    outcomes: &[Option<Outcome>],
    path: &Path,
) -> ExitCode {
    let mut baselines = match Baselines::load_or_empty(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage.into();
        }
    };
    let recorded = format!(
        "{} by gpugate {}",
        crate::text::today_utc(),
        env!("CARGO_PKG_VERSION")
    );
    let mut count = 0;
    for (check, outcome) in plan.checks.iter().zip(outcomes) {
        let Some(outcome) = outcome else { continue };
        let verdict = &outcome.verdict;
        let model = verdict
            .properties
            .iter()
            .find(|(k, _)| k == "device_model")
            .map(|(_, v)| v.clone());
        let (Some(model), false) = (model, verdict.measurements.is_empty()) else {
            eprintln!(
                "gpugate: nothing recorded for {}: {}",
                check.test_name, verdict.message
            );
            continue;
        };
        let size = match &check.kind {
            CheckKind::TensorflowThroughput(spec) => spec.size(),
            _ => continue,
        };
        for (measure, value) in &verdict.measurements {
            let size = if measure == H2D_MEASURE { 0 } else { size };
            baselines.upsert(BaselineEntry {
                model: model.clone(),
                size,
                measure: measure.clone(),
                value: *value,
                recorded: recorded.clone(),
            });
            eprintln!("gpugate: recorded {model} {measure} at size {size}: {value:.3}");
            count += 1;
        }
    }
    if count == 0 {
        eprintln!(
            "error: no throughput was measured; {} left unchanged",
            path.display()
        );
        return Exit::ChecksFailed.into();
    }
    match baselines.save(path) {
        Ok(()) => {
            eprintln!(
                "gpugate: {count} baseline entries written to {}",
                path.display()
            );
            Exit::Success.into()
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::ReportUnwritable.into()
        }
    }
}

fn merge_reports(files: &[PathBuf], format: MergeFormat, out: Option<&Path>) -> ExitCode {
    use crate::report::merge;
    let mut read = Vec::new();
    for path in files {
        let parsed = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|xml| merge::read(&xml));
        match parsed {
            Ok(mut junit) => {
                junit.scrub();
                read.push((path.display().to_string(), junit))
            }
            Err(e) => {
                eprintln!(
                    "error: failed to read the JUnit report {}: {e}",
                    path.display()
                );
                return Exit::Usage.into();
            }
        }
    }
    let matrix = merge::Matrix::new(read);
    for line in matrix.ignored() {
        eprintln!("gpugate: {line}");
    }
    let text = match format {
        MergeFormat::Markdown => merge::markdown(&matrix),
        MergeFormat::Html => merge::html(&matrix),
        MergeFormat::Json => merge::json(&matrix),
    };
    match out {
        None => {
            print!("{text}");
            Exit::Success.into()
        }
        Some(path) => match crate::text::write_atomic(path, text.as_bytes()) {
            Ok(()) => {
                eprintln!("gpugate: merged report written to {}", path.display());
                Exit::Success.into()
            }
            Err(e) => {
                eprintln!("error: failed to write {}: {e}", path.display());
                Exit::ReportUnwritable.into()
            }
        },
    }
}

fn list_suites() -> ExitCode {
    let no_vars = BTreeMap::new();
    for (name, _) in BUILTIN {
        let description = suite::load(name, &no_vars)
            .ok()
            .and_then(|s| s.description)
            .unwrap_or_default();
        println!("{name:<12} {description}");
    }
    Exit::Success.into()
}

fn fetch_tensorflow(version: &str, gpu: bool, cpu: bool) -> ExitCode {
    let flavor = if gpu {
        Flavor::Gpu
    } else if cpu {
        Flavor::Cpu
    } else {
        runner::flavor_for(&HostFacts::gather(std::path::Path::new("/")))
    };
    if let Err(e) = crate::procs::install_signal_handlers() {
        eprintln!("warning: failed to install signal handlers: {e}");
    }
    let mut say = |line: &str| eprintln!("{line}");
    match provision::provision(&cache::root(), version, flavor, &mut say) {
        Ok(dir) => {
            println!("{}", cache::library(&dir).display());
            Exit::Success.into()
        }
        Err(e) => {
            eprintln!(
                "error: failed to provision TensorFlow {version} ({}): {e}",
                flavor.word()
            );
            crate::procs::cancelled_by()
                .map_or(Exit::ChecksFailed, Exit::cancelled_by)
                .into()
        }
    }
}

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
fn run(args: RunArgs, record: Option<&Path>) -> ExitCode {
    if args.suites.is_empty() {
        let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
        eprintln!(
            "error: no suite given\n  = help: pass --suite NAME (built-in: {}) or --suite PATH",
            names.join(", ")
        );
        return Exit::Usage.into();
    }
    let vars: BTreeMap<String, String> = args.vars.iter().cloned().collect();
    for (name, value) in &vars {
        crate::redact::register(name, value);
    }
    // Every suite validates before anything runs.
    let mut suites = Vec::new();
    for arg in &args.suites {
        match suite::load(arg, &vars) {
            Ok(s) => suites.push(s),
            Err(e) => {
                // The message quotes the suite, variables expanded.
                eprintln!("{}", scrub(&e.to_string()));
                return Exit::Usage.into();
            }
        }
    }
    if args.harness.test_threads == Some(0) {
        eprintln!("error: --test-threads must be at least 1");
        return Exit::Usage.into();
    }
    if let Err(why) = report_path_usable(&args.junit, &suites) {
        eprintln!("error: --junit {}: {why}", args.junit.display());
        return Exit::Usage.into();
    }
    let mut seen = std::collections::HashSet::new();
    for s in &suites {
        if !seen.insert(s.name.clone()) {
            eprintln!(
                "error: suite `{}` given twice ({}); suite names must be unique in a run",
                s.name, s.file
            );
            return Exit::Usage.into();
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
                eprintln!(
                    "error: two tests would be named `{name}`: check `{other}` of suite `{suite}` and check `{}` of suite `{}`\n  = help: rename one of them (`::` in a suite or check name is what makes them meet)",
                    check.common.name, s.name
                );
                return Exit::Usage.into();
            }
        }
    }
    if let Err(e) = crate::procs::install_signal_handlers() {
        eprintln!("warning: failed to install signal handlers: {e}");
    }

    let started = Instant::now();
    let host = HostFacts::gather(&args.probe.host_root);
    let mut plan = crate::plan::plan(suites, args.timeout, &host);
    if record.is_some() {
        plan.checks
            .retain(|c| matches!(c.kind, CheckKind::TensorflowThroughput(_)));
        if plan.checks.is_empty() {
            eprintln!("error: the suites have no tensorflow.throughput check to record");
            return Exit::Usage.into();
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
    let result = runner::run(plan, &harness, &tf, &args.probe.options(), &host);
    drop(console);
    let plan = result.plan;
    if args.harness.list {
        return Exit::Success.into();
    }

    let mut outcomes = result.outcomes;
    crate::report::attachments::write(&plan, &mut outcomes, &args.junit);
    let properties = crate::report::run_properties(&result.facts);
    let report = junit::build(&plan, &outcomes, &properties, started.elapsed());
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
        return record_baseline(&plan, &outcomes, path);
    }
    let results = report::results::collect(&plan, &outcomes);
    if json {
        let findings = diagnose::diagnose(&diagnose::Evidence {
            facts: &result.facts,
            log: &result.facts.tensorflow.log,
        });
        let document = report::json::RunJson::new(
            exit.code(),
            started.elapsed().as_secs_f64(),
            &results,
            &properties,
            &result.facts,
            &findings,
        );
        let text = serde_json::to_string_pretty(&document).expect("the run serializes");
        println!("{}", crate::redact::scrub(&text));
    }
    ci_reports(&results, &causes, &properties, exit, json);
    exit.into()
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
