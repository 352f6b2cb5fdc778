//! The command line: clap's definitions and the dispatch to one module per
//! command (run, facts/doctor, explain, merge, baseline, fetch). Every
//! command returns its [`Exit`] or a `Failure`, told and mapped in one
//! place (`Failure::exit`).

mod explain;
mod failure;
mod fetch;
mod machine;
mod merge;
mod run;

use failure::Failure;

use crate::exit::{Ending, Exit};
use crate::facts::ProbeOptions;
use crate::facts::build::TfBuild;

use crate::tf::DEFAULT_VERSION;
use crate::version::Version;
use crate::worker::protocol::WORKER_SUBCOMMAND;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
    /// else 2.20.0 provisioned.
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
    /// (doctor) Prometheus' text format, for node_exporter's textfile collector.
    Prometheus,
    /// (doctor) One line: the first error's id and cause, or "healthy", for a
    /// node condition (Node Problem Detector): at most 80 bytes of UTF-8.
    Condition,
    /// (facts) One hash of what a compute suite's verdict here depends on:
    /// the TensorFlow that loads, the libraries, the driver, the GPUs, the
    /// visible-device variables and the boot (the runner hook's memory).
    Fingerprint,
    /// (doctor) One ASCII line for Slurm: the drain reason `ID (gpugate):
    /// cause`, or "healthy: ...".
    Slurm,
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
    /// Write the output to this file (atomically: a reader sees the old file
    /// or the new one) instead of stdout, e.g. node_exporter's textfile
    /// directory: `--format prometheus --out /var/lib/node_exporter/gpugate.prom`.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// (doctor) When it is asked: before-job (GPUs held by processes are
    /// leftovers: errors), while-jobs (they are jobs: notes), or on-demand.
    #[arg(long, value_enum, default_value = "on-demand")]
    moment: crate::moment::Moment,
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
    // A panic is a bug in gpugate, never a verdict on the machine: it gets
    // an exit of its own, not the 101 that means "broken" (Rust's default).
    let exit = std::panic::catch_unwind(dispatch).unwrap_or_else(|_| {
        eprintln!(
            "gpugate crashed (a bug in gpugate, not a verdict on this machine): exit {}",
            Exit::Crashed.code()
        );
        Ending::Crashed.exit().into()
    });
    if let Some(shield) = shield {
        shield.finish();
    }
    // The report was what it printed: a write that failed lost it.
    match crate::procs::lost_report() {
        Some(e) => {
            eprintln!(
                "error: standard output: {e}: the report printed there was not written whole"
            );
            Ending::Unwritable.exit().into()
        }
        None => exit,
    }
}

/// The only way to make gpugate panic on purpose: the integrations' tests
/// need a real crash to show it is never read as a broken machine.
const CRASH_FOR_TESTS: &str = "GPUGATE_CRASH_FOR_TESTS";

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
    if std::env::var_os(CRASH_FOR_TESTS).is_some() {
        panic!("{CRASH_FOR_TESTS} is set");
    }
    let parsed = command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Ending::Usage.exit().into()
            } else {
                Ending::Done.exit().into()
            };
        }
    };
    if let Some((_, flag)) = LIBTEST_LEFTOVERS
        .iter()
        .find(|(id, _)| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
    {
        return ended(Err(Failure::usage(format!(
            "{flag} is libtest's and means nothing to gpugate (it has no ignored checks, benchmarks or output capture)"
        ))));
    }
    let result = match cli.command {
        Some(Command::Suites) => explain::list_suites(),
        Some(Command::FetchTensorflow { version, gpu, cpu }) => {
            fetch::fetch_tensorflow(&version, gpu, cpu)
        }
        Some(Command::Facts(args)) => machine::facts_or_doctor(args, false),
        Some(Command::Doctor(args)) => machine::facts_or_doctor(args, true),
        Some(Command::Explain { id }) => explain::explain(id.as_deref()),
        Some(Command::Report {
            action: ReportAction::Merge { files, format, out },
        }) => merge::merge_reports(&files, format, out.as_deref()),
        Some(Command::Baseline {
            action: BaselineAction::Record { out, run: args },
        }) => run::run(*args, Some(&out)),
        Some(Command::Worker) => return crate::worker::child::main(),
        None => run::run(cli.run, None),
    };
    ended(result)
}

/// How every command ends: its exit, or its failure told once.
fn ended(result: Result<Exit, Failure>) -> ExitCode {
    match result {
        Ok(exit) => exit.into(),
        Err(failure) => {
            eprintln!("{}", crate::text::escape_controls(failure.text()));
            failure.exit().into()
        }
    }
}

/// Signals end a run with a complete report; a run without the handlers
/// still works, so this only warns.
fn install_signal_handlers() {
    if let Err(e) = crate::procs::install_signal_handlers() {
        eprintln!("warning: failed to install signal handlers: {e}");
    }
}
