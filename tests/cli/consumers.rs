//! The integrations as their real consumers take them, on stand-in
//! machines: a one-node Slurm cluster from Debian's packages (slurmctld,
//! slurmd, munge) running `ci/slurm/healthcheck` as its
//! HealthCheckProgram; Debian's node_exporter scraping what the textfile
//! timer's script wrote; promtool checking and testing the alert rules;
//! systemd-analyze verifying the timer and its service. Root and those
//! packages are needed, so `.ci/run` installs them and runs these with
//! `cargo test --test cli consumers -- --ignored`; without them each test
//! fails, naming what is missing, and never passes by skipping.

use super::fleet::{make_executable, textfile_script};
use super::machines::Machine;
use super::{BIN, root, text};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[track_caller]
fn need(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} is not installed: .ci/run installs it with apt-get (Debian's packages)"
    );
}

/// doctor's metrics as the textfile timer asks for them.
const WHILE_JOBS_METRICS: &[&str] = &[
    "doctor",
    "--moment",
    "while-jobs",
    "--format",
    "prometheus",
    "--for-tensorflow",
    "2.18",
];

/// Runs `command`, which must succeed; otherwise the failure shows `what`
/// and all it printed.
#[track_caller]
fn succeeds(command: &mut Command, what: &str) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{what}:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `export NAME='VALUE'` for each variable the machine's gpugate runs with,
/// so a program started by a daemon (with an empty environment) can take
/// the machine's place.
pub fn exports(machine: &Machine) -> String {
    machine
        .command(Path::new("true"))
        .get_envs()
        .filter_map(|(k, v)| {
            let v = v?.to_str()?.replace('\'', "'\\''");
            Some(format!("export {}='{v}'\n", k.to_str()?))
        })
        .collect()
}

/// A gpugate that runs on whichever stand-in machine `machine.env` names:
/// the test switches machines by rewriting that file.
struct SwitchableGpugate {
    dir: PathBuf,
}

impl SwitchableGpugate {
    fn new(dir: &Path) -> Self {
        let bin = dir.join("gpugate");
        std::fs::write(
            &bin,
            format!(
                "#!/bin/sh\n. {}/machine.env\nexec {BIN} \"$@\"\n",
                dir.display()
            ),
        )
        .unwrap();
        make_executable(&bin);
        SwitchableGpugate {
            dir: dir.to_path_buf(),
        }
    }

    fn bin(&self) -> PathBuf {
        self.dir.join("gpugate")
    }

    fn switch(&self, machine: &Machine, extra: &str) {
        let tmp = self.dir.join("machine.env.tmp");
        std::fs::write(&tmp, format!("{}{extra}", exports(machine))).unwrap();
        std::fs::rename(&tmp, self.dir.join("machine.env")).unwrap();
    }
}

/// The one-node cluster of `tests/consumers/slurm-cluster.sh`, stopped (with
/// every process it started) when dropped.
struct Cluster {
    dir: PathBuf,
    node: String,
}

impl Cluster {
    fn start(dir: &Path, program: &Path, extra_conf: &str) -> Cluster {
        succeeds(
            Command::new(root().join("tests/consumers/slurm-cluster.sh"))
                .args(["start"])
                .arg(dir)
                .arg(program)
                .env("LAB_HC_INTERVAL", "1")
                .env("LAB_ETC_CONF", "0")
                .env("LAB_EXTRA_CONF", extra_conf),
            "the cluster did not start",
        );
        let node = std::fs::read_to_string(dir.join("run/nodename"))
            .unwrap()
            .trim()
            .to_string();
        Cluster {
            dir: dir.to_path_buf(),
            node,
        }
    }

    fn slurm(&self, program: &str, args: &[&str]) -> String {
        succeeds(
            Command::new(program)
                .args(args)
                .env("SLURM_CONF", self.dir.join("slurm.conf")),
            &format!("{program} {args:?}"),
        )
    }

    /// `scontrol update NodeName=NODE FIELDS...`, as an admin types it.
    fn update(&self, fields: &[&str]) {
        let node = format!("NodeName={}", self.node);
        let mut args = vec!["update", node.as_str()];
        args.extend_from_slice(fields);
        self.slurm("scontrol", &args);
    }

    /// The node's state and drain reason, as `scontrol show node` says.
    fn node(&self) -> (String, String) {
        let info = self.slurm("scontrol", &["show", "node", "-o", &self.node]);
        let state = info
            .split_whitespace()
            .find_map(|f| f.strip_prefix("State="))
            .unwrap_or_default()
            .to_string();
        let reason = info
            .split_once(" Reason=")
            .map_or("", |(_, r)| r.trim_end())
            .to_string();
        (state, reason)
    }

    /// Waits until the node's state and reason satisfy `want`, at most
    /// `secs` seconds (health checks run every second).
    #[track_caller]
    fn wait(&self, secs: u64, what: &str, want: impl Fn(&str, &str) -> bool) -> (String, String) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (state, reason) = self.node();
            if want(&state, &reason) {
                return (state, reason);
            }
            assert!(
                Instant::now() < deadline,
                "{what}: after {secs}s the node is {state} ({reason})\nslurmd's log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The node holds its state and reason for `secs` seconds: several
    /// health checks ran and changed nothing.
    #[track_caller]
    fn holds(&self, secs: u64, what: &str, want: impl Fn(&str, &str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            let (state, reason) = self.node();
            assert!(
                want(&state, &reason),
                "{what}: the node became {state} ({reason})\nslurmd's log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("log/slurmd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains("health")).collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn sinfo_r(&self) -> String {
        self.slurm("sinfo", &["-R"])
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(root().join("tests/consumers/slurm-cluster.sh"))
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

fn drained(state: &str) -> bool {
    state.contains("DRAIN")
}

/// Slurm's health check as slurmd runs it (no arguments, an empty
/// environment, every second): a broken node is drained with the diagnosis
/// id first in its reason; healthy again, it is resumed; a drain an admin
/// set is left alone whatever gpugate says; GPUs held on a node running a
/// job are the job's and drain nothing, while on an idle node they are
/// leftovers and drain it; a crashed gpugate changes nothing and is logged.
#[test]
#[ignore = "needs root, slurmctld, slurmd and munge: run by .ci/run"]
fn consumers_slurm_drains_broken_nodes_and_resumes_its_own() {
    for tool in [
        "slurmctld",
        "slurmd",
        "munged",
        "scontrol",
        "sinfo",
        "sbatch",
    ] {
        need(tool);
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let gpugate = SwitchableGpugate::new(dir);
    let healthy = Machine::new("h100-driver-580");
    let lost = Machine::new("h100-gpu-lost");
    let busy = Machine::new("h100-memory-held");
    gpugate.switch(&healthy, "");
    let config = dir.join("healthcheck.conf");
    std::fs::write(
        &config,
        format!(
            "# as an admin writes it\nGPUGATE_BIN={}\nTENSORFLOW=2.18\nTIMEOUT=20\nDOCTOR_ARGS=--probe-timeout 5\nLOCK={}/healthcheck.lock\n",
            gpugate.bin().display(),
            dir.display()
        ),
    )
    .unwrap();
    // slurmd gives the program nothing: the wrapper only says where the
    // test's cluster and settings are, as /etc would on a real node.
    let cluster_dir = dir.join("cluster");
    let program = dir.join("healthcheck-program");
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\nexport SLURM_CONF={}/slurm.conf GPUGATE_SLURM_CONFIG={}\nexec {}\n",
            cluster_dir.display(),
            config.display(),
            root().join("ci/slurm/healthcheck").display()
        ),
    )
    .unwrap();
    make_executable(&program);
    // A job's teardown takes a while, as real epilogs do: the node is
    // COMPLETING meanwhile, and its GPUs may still be held.
    let epilog = dir.join("epilog");
    std::fs::write(&epilog, "#!/bin/sh\nsleep 6\n").unwrap();
    make_executable(&epilog);
    let cluster = Cluster::start(
        &cluster_dir,
        &program,
        &format!("Epilog={}", epilog.display()),
    );
    cluster.wait(20, "healthy at start", |s, _| s == "IDLE");

    gpugate.switch(&lost, "");
    let (state, reason) = cluster.wait(20, "a lost GPU drains", |s, _| drained(s));
    assert!(
        reason.starts_with(
            "gpu-unreachable (gpugate): GPU 1 (bus 0000:3b:00.0) has fallen off the bus"
        ),
        "{state}: {reason}"
    );
    let sinfo = cluster.sinfo_r();
    eprintln!("broken: sinfo -R\n{sinfo}");
    assert!(sinfo.contains("gpu-unreachable (gpu"), "{sinfo}");

    // Fields Slurm prints after the reason (Comment, Extra) do not hide it.
    cluster.update(&["Comment=asset 42", "Extra=rack=7"]);
    gpugate.switch(&healthy, "");
    cluster.wait(20, "healthy again, resumed", |s, _| s == "IDLE");
    eprintln!("healthy: sinfo -R\n{}", cluster.sinfo_r());

    // An admin's drain is theirs, broken node or not: made before a check,
    // or while a slow one runs (the check acts on the node as it is when
    // gpugate answers).
    for (reason, during_a_check) in [
        ("disk swap, ticket 42", false),
        ("PSU swap, do not resume", true),
    ] {
        let kept = |s: &str, r: &str| drained(s) && r.starts_with(reason);
        let drain = format!("Reason={reason}");
        if during_a_check {
            gpugate.switch(&lost, "sleep 4\n");
            std::thread::sleep(Duration::from_millis(1500));
            cluster.update(&["State=DRAIN", &drain]);
        } else {
            cluster.update(&["State=DRAIN", &drain]);
            gpugate.switch(&lost, "");
        }
        cluster.holds(7, &format!("{reason}, broken"), kept);
        gpugate.switch(&healthy, "");
        cluster.holds(3, &format!("{reason}, healthy"), kept);
        cluster.update(&["State=RESUME"]);
        cluster.wait(10, "the admin resumed", |s, _| s == "IDLE");
    }

    // A job holds the GPUs: busy is not broken.
    let job = cluster.slurm(
        "sbatch",
        &[
            "--parsable",
            "--chdir",
            dir.to_str().unwrap(),
            "-o",
            "/dev/null",
            "--wrap",
            "sleep 120",
        ],
    );
    cluster.wait(20, "the job runs", |s, _| s == "MIXED" || s == "ALLOCATED");
    gpugate.switch(&busy, "");
    cluster.holds(5, "a node running a job with busy GPUs", |s, _| !drained(s));
    eprintln!("busy, with a job: sinfo -R\n{}", cluster.sinfo_r());
    // While the job completes, its processes may still hold the GPUs;
    // once the node is idle, what holds them is a leftover.
    cluster.slurm("scancel", &[job.trim()]);
    cluster.wait(10, "the job completes", |s, _| s.contains("COMPLETING"));
    cluster.holds(3, "a completing job's GPUs", |s, _| !drained(s));
    let (_, reason) = cluster.wait(20, "leftovers on an idle node drain", |s, _| drained(s));
    assert!(
        reason.starts_with("gpu-memory-held (gpugate): "),
        "{reason}"
    );
    gpugate.switch(&healthy, "");
    cluster.wait(20, "resumed after the leftovers", |s, _| s == "IDLE");

    // LBNL NHC's check, sourced as NHC sources it, with NHC's own `die`
    // and `log` recording what NHC would do (NHC itself is not packaged
    // in Debian): broken dies with the id first; a crash only logs.
    let nhc = |machine: &Machine, extra: &str| {
        gpugate.switch(machine, extra);
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "die() {{ echo \"die $1: $2\"; }}; log() {{ echo \"log: $*\"; }}; . {}; check_gpugate; echo \"returned $?\"",
                root().join("ci/slurm/gpugate.nhc").display()
            ))
            .env("GPUGATE_HEALTHCHECK", root().join("ci/slurm/healthcheck"))
            .env("GPUGATE_SLURM_CONFIG", &config)
            .env("SLURM_CONF", cluster_dir.join("slurm.conf"))
            .env("SLURMD_NODENAME", &cluster.node)
            .output()
            .unwrap();
        text(&out.stdout)
    };
    let said = nhc(&lost, "");
    assert!(
        said.starts_with("die 1: gpu-unreachable (gpugate): GPU 1 (bus 0000:3b:00.0)")
            && said.ends_with("returned 1\n"),
        "{said}"
    );
    assert_eq!(nhc(&healthy, ""), "returned 0\n");
    // A gpugate that says nothing is no verdict either way.
    let said = nhc(&healthy, "exit 0\n");
    assert!(
        said.contains("said healthy without its line") && said.ends_with("returned 0\n"),
        "{said}"
    );
    let said = nhc(&healthy, "export GPUGATE_CRASH_FOR_TESTS=1\n");
    assert!(
        said.starts_with("log: check_gpugate: gpugate healthcheck: could not judge this node")
            && said.ends_with("returned 0\n"),
        "{said}"
    );

    // gpugate crashing is no verdict: nothing drains, slurmd logs why.
    gpugate.switch(&healthy, "export GPUGATE_CRASH_FOR_TESTS=1\n");
    cluster.holds(4, "gpugate crashed", |s, _| s == "IDLE");
    let log = cluster.log();
    assert!(
        log.contains("could not judge this node, left as it is: gpugate crashed (exit 70)"),
        "{log}"
    );
}

/// What the textfile timer's script writes, as Debian's node_exporter
/// serves it: a healthy, a busy, a broken and a crashed machine, each
/// scraped with the values its verdict implies and nothing in
/// node_exporter's log but its start; a second gpugate file beside the
/// first (a renamed `--out`) is served beside it, not dropped.
#[test]
#[ignore = "needs Debian's prometheus-node-exporter: run by .ci/run"]
fn consumers_node_exporter_serves_every_verdict() {
    need("prometheus-node-exporter");
    let scrape = |textfile: &Path| {
        let out = Command::new(root().join("tests/consumers/scrape.sh"))
            .arg(textfile)
            .arg("19100")
            .output()
            .unwrap();
        let log = text(&out.stderr);
        assert!(out.status.success(), "{log}");
        let errors: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains("level=error")
                    || l.contains("level=warn") && !l.contains("running as root")
            })
            .collect();
        assert!(errors.is_empty(), "node_exporter complained: {errors:#?}");
        text(&out.stdout)
    };
    let export = |name: &str, env: &[(&str, &str)]| {
        let machine = Machine::new(name);
        let textfile = machine.root().join("textfile");
        std::fs::create_dir(&textfile).unwrap();
        let status = textfile_script(&machine, &textfile)
            .envs(env.iter().copied())
            .status()
            .unwrap();
        let served = scrape(&textfile);
        assert!(
            served.contains("node_textfile_scrape_error 0\n"),
            "{served}"
        );
        (status.code(), served, machine)
    };
    let series = |served: &str, name: &str| -> Vec<String> {
        served
            .lines()
            .filter(|l| l.starts_with(name))
            .map(str::to_string)
            .collect()
    };
    // Each verdict: gpugate_healthy, and the diagnosis series it must hold.
    let mut lost_machine = None;
    for (name, healthy, holds) in [
        (
            "h100-driver-580",
            1,
            "gpugate_doctor_success{file=\"gpugate.prom\"} 1",
        ),
        (
            "h100-memory-held",
            1,
            "gpugate_diagnosis{file=\"gpugate.prom\",id=\"gpu-memory-held\",level=\"note\"} 1",
        ),
        (
            "h100-gpu-lost",
            0,
            "gpugate_diagnosis{file=\"gpugate.prom\",id=\"gpu-unreachable\",level=\"error\"} 1",
        ),
    ] {
        let (code, served, machine) = export(name, &[]);
        eprintln!("{name}:\n{}", series(&served, "gpugate_").join("\n"));
        assert_eq!(code, Some(0), "{name}");
        assert_eq!(
            series(&served, "gpugate_healthy"),
            [format!(
                "gpugate_healthy{{file=\"gpugate.prom\"}} {healthy}"
            )],
            "{name}"
        );
        assert!(served.contains(holds), "{name}: {served}");
        if name == "h100-gpu-lost" {
            assert!(
                served.contains("gpugate_gpu_up{file=\"gpugate.prom\",index=\"1\",pci_bus_id=\"0000:3b:00.0\",uuid=\"\"} 0"),
                "{served}"
            );
            lost_machine = Some(machine);
        }
    }
    let machine = lost_machine.unwrap();
    // `--out` renamed: the old file keeps the broken verdict, the new one
    // says healthy; both are served, each under its file's name.
    let textfile = machine.root().join("textfile");
    let renamed = textfile.join("gpugate-node.prom");
    let out = Machine::new("h100-driver-580")
        .gpugate(&[WHILE_JOBS_METRICS, &["--out", renamed.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let both = scrape(&textfile);
    assert_eq!(
        series(&both, "gpugate_healthy"),
        [
            "gpugate_healthy{file=\"gpugate-node.prom\"} 1",
            "gpugate_healthy{file=\"gpugate.prom\"} 0"
        ],
        "{both}"
    );
    let (code, crashed, _) = export("h100-driver-580", &[("GPUGATE_CRASH_FOR_TESTS", "1")]);
    eprintln!("crashed:\n{}", series(&crashed, "gpugate_").join("\n"));
    assert_eq!(code, Some(1));
    assert_eq!(
        series(&crashed, "gpugate_doctor_success"),
        ["gpugate_doctor_success{file=\"gpugate.prom\"} 0"]
    );
    assert!(series(&crashed, "gpugate_healthy").is_empty(), "{crashed}");
}

/// promtool checks and unit-tests the shipped alert rules, and lints what
/// gpugate writes; systemd-analyze verifies the timer and its service.
#[test]
#[ignore = "needs promtool and systemd-analyze: run by .ci/run"]
fn consumers_promtool_and_systemd_take_the_shipped_files() {
    need("promtool");
    need("systemd-analyze");
    let dir = root().join("ci/prometheus");
    for args in [
        &["check", "rules", "gpugate.rules.yml"][..],
        &["test", "rules", "gpugate.rules.test.yml"],
    ] {
        succeeds(
            Command::new("promtool").args(args).current_dir(&dir),
            &format!("promtool {args:?}"),
        );
    }
    for name in ["h100-driver-580", "h100-gpu-lost", "h100-memory-held"] {
        let machine = Machine::new(name);
        let out = machine.gpugate(WHILE_JOBS_METRICS);
        let mut lint = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        lint.stdin.take().unwrap().write_all(&out.stdout).unwrap();
        let lint = lint.wait_with_output().unwrap();
        assert!(
            lint.status.success(),
            "{name}: promtool check metrics: {}{}",
            text(&lint.stdout),
            text(&lint.stderr)
        );
    }
    // The units as installed: ExecStart pointing at this checkout.
    let units = tempfile::tempdir().unwrap();
    for unit in ["gpugate-textfile.service", "gpugate-textfile.timer"] {
        let body = std::fs::read_to_string(dir.join(unit))
            .unwrap()
            .replace("/opt/gpugate/ci", root().join("ci").to_str().unwrap());
        std::fs::write(units.path().join(unit), body).unwrap();
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(units.path().join("gpugate-textfile.service"))
        .arg(units.path().join("gpugate-textfile.timer"))
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
