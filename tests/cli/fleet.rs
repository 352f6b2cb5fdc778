//! The verdict as fleet tools take it, on stand-in machines: the moments
//! (a busy node is not a broken one), the runner hooks, Node Problem
//! Detector's plugin and the Prometheus textfile timer's script, each run
//! as its host runs it, with gpugate healthy, broken, busy, crashed, hung
//! and missing. The real consumers (slurmd, node_exporter, promtool) are in
//! `consumers.rs`.

use super::consumers::exports;
use super::machines::Machine;
use super::{BIN, assert_exit, root, text};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A gpugate that hangs, with a grandchild holding its pipes; the PIDs of
/// both land in `pids`.
pub fn hanging_gpugate(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("hanging-gpugate");
    let pids = dir.join("hanging.pids");
    std::fs::write(
        &bin,
        format!(
            "#!/bin/sh\nsleep 300 &\necho $$ $! > {}\nwait\n",
            pids.display()
        ),
    )
    .unwrap();
    make_executable(&bin);
    (bin, pids)
}

pub fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The textfile timer's script as its service runs it on `machine`,
/// writing into `textfile`, judging TensorFlow 2.18.
pub fn textfile_script(machine: &Machine, textfile: &Path) -> std::process::Command {
    let mut command = machine.command(&root().join("ci/prometheus/gpugate-textfile.sh"));
    command
        .env("GPUGATE_BIN", BIN)
        .env("GPUGATE_TEXTFILE_DIR", textfile)
        .env("GPUGATE_TENSORFLOW", "2.18");
    command
}

/// Every PID the hanging gpugate wrote is gone (or a zombie) soon after the
/// integration returned: nothing was left behind.
#[track_caller]
pub fn assert_ended(pids: &Path) {
    let pids = std::fs::read_to_string(pids).expect("the hanging gpugate ran");
    let deadline = Instant::now() + Duration::from_secs(3);
    for pid in pids.split_whitespace() {
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit(')')
                    .next()
                    .is_some_and(|s| !s.starts_with(" Z"))
            })
        };
        while alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!alive(), "pid {pid} of the hung gpugate was left running");
    }
}

/// Lays out `GPUGATE_BENCH_MACHINE=PROFILE:DIR` for `bench/hook.sh`: the
/// profile's machine in DIR/machine, and DIR/machine.env exporting what
/// gpugate runs with there. A tool of the benchmark, kept with the layout
/// it reuses; it fails when not asked for one.
#[test]
#[ignore = "bench/hook.sh lays out its machine with it"]
fn bench_machine_layout() {
    let spec = std::env::var("GPUGATE_BENCH_MACHINE").expect("GPUGATE_BENCH_MACHINE=PROFILE:DIR");
    let (profile, dir) = spec.split_once(':').expect("PROFILE:DIR");
    let machine = Machine::new(profile);
    let kept = Path::new(dir).join("machine");
    std::fs::rename(machine.root(), &kept).unwrap_or_else(|e| panic!("{}: {e}", kept.display()));
    let env = exports(&machine).replace(machine.root().to_str().unwrap(), kept.to_str().unwrap());
    std::fs::write(Path::new(dir).join("machine.env"), env).unwrap();
}

fn doctor(machine: &Machine, moment: &str) -> (Option<i32>, serde_json::Value) {
    let out = machine.gpugate(&[
        "doctor",
        "--format",
        "json",
        "--for-tensorflow",
        "2.18",
        "--moment",
        moment,
    ]);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    (out.status.code(), json)
}

fn levels(json: &serde_json::Value, id: &str) -> Vec<String> {
    json["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["id"] == id)
        .map(|d| d["severity"].as_str().unwrap().to_string())
        .collect()
}

/// GPUs held by processes: leftovers before a job (an error), the jobs'
/// own while jobs may run (a note, and healthy), as they are on demand.
/// Every other diagnosis keeps its severity at every moment.
#[test]
fn a_busy_node_is_broken_only_before_a_job() {
    for (profile, id) in [
        ("h100-memory-held", "gpu-memory-held"),
        ("h100-exclusive-held", "gpu-compute-mode-blocks"),
    ] {
        let machine = Machine::new(profile);
        for (moment, code, level) in [
            ("before-job", 101, "error"),
            ("on-demand", 101, "error"),
            ("while-jobs", 0, "note"),
        ] {
            let (got, json) = doctor(&machine, moment);
            assert_eq!(got, Some(code), "{profile} {moment}: {json}");
            assert_eq!(levels(&json, id), [level], "{profile} {moment}");
            assert_eq!(json["moment"], moment);
        }
    }
    let lost = Machine::new("h100-gpu-lost");
    let (code, json) = doctor(&lost, "while-jobs");
    assert_eq!(code, Some(101), "a lost GPU is broken at every moment");
    assert_eq!(levels(&json, "gpu-unreachable"), ["error"]);
}

/// A panic is gpugate's failure, never the machine's: exit 70, said so.
#[test]
fn a_crash_is_not_a_verdict() {
    let machine = Machine::new("h100-driver-580");
    let out = machine
        .command(Path::new(BIN))
        .args(["doctor", "--for-tensorflow", "2.18"])
        .env("GPUGATE_CRASH_FOR_TESTS", "1")
        .output()
        .unwrap();
    assert_exit(&out, 70);
    assert!(
        text(&out.stderr)
            .contains("gpugate crashed (a bug in gpugate, not a verdict on this machine)"),
        "{}",
        text(&out.stderr)
    );
}
/// The textfile timer's script over profiles, as its service runs it: a
/// healthy H100 exports health 1; a busy one health 1 with the held memory
/// as a note; a lost GPU health 0, the diagnosis as its own series and the
/// GPU down under its bus address; gpugate crashed or hung leaves a file
/// that says it could not judge (and no health at all); a textfile
/// directory that does not exist is an error, not a directory made.
#[test]
fn the_textfile_timer_writes_a_verdict_or_says_it_has_none() {
    let script = root().join("ci/prometheus/gpugate-textfile.sh");
    let dir = tempfile::tempdir().unwrap();
    let (hanging, pids) = hanging_gpugate(dir.path());
    let export = |name: &str, env: &[(&str, &str)]| {
        let machine = Machine::new(name);
        let textfile = machine.root().join("textfile");
        std::fs::create_dir(&textfile).unwrap();
        let out = textfile_script(&machine, &textfile)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let files: Vec<String> = std::fs::read_dir(&textfile)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(files, ["gpugate.prom"], "one file, no temporary left");
        let metrics = std::fs::read_to_string(textfile.join("gpugate.prom")).unwrap();
        (out.status.code(), metrics, text(&out.stderr))
    };
    let (code, healthy, _) = export("h100-driver-580", &[]);
    assert_eq!(code, Some(0));
    for line in [
        "gpugate_healthy{file=\"gpugate.prom\"} 1\n",
        "gpugate_doctor_success{file=\"gpugate.prom\"} 1\n",
        "moment=\"while-jobs\"",
        "driver=\"580.65.06\"",
        "gpugate_gpu_up{index=\"0\",uuid=\"GPU-",
        "gpugate_gpu_memory_total_bytes{",
    ] {
        assert!(healthy.contains(line), "{line}: {healthy}");
    }

    let (code, busy, _) = export("h100-memory-held", &[]);
    assert_eq!(code, Some(0));
    assert!(
        busy.contains("gpugate_healthy{file=\"gpugate.prom\"} 1\n"),
        "{busy}"
    );
    assert!(
        busy.contains(
            "gpugate_diagnosis{id=\"gpu-memory-held\",level=\"note\",file=\"gpugate.prom\"} 1\n"
        ),
        "{busy}"
    );

    let (code, lost, _) = export("h100-gpu-lost", &[]);
    assert_eq!(code, Some(0), "the file holds the verdict");
    assert!(
        lost.contains("gpugate_healthy{file=\"gpugate.prom\"} 0\n"),
        "{lost}"
    );
    assert!(
        lost.contains(
            "gpugate_diagnosis{id=\"gpu-unreachable\",level=\"error\",file=\"gpugate.prom\"} 1\n"
        ),
        "{lost}"
    );
    assert!(
        lost.contains("gpugate_gpu_up{index=\"1\",uuid=\"\",pci_bus_id=\"0000:3b:00.0\",file=\"gpugate.prom\"} 0\n"),
        "{lost}"
    );

    for (env, exit) in [
        (&[("GPUGATE_CRASH_FOR_TESTS", "1")][..], "70"),
        (
            &[
                ("GPUGATE_BIN", hanging.to_str().unwrap()),
                ("GPUGATE_TIMEOUT", "1"),
            ][..],
            "124",
        ),
    ] {
        let (code, metrics, stderr) = export("h100-driver-580", env);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("could not judge"), "{stderr}");
        assert!(
            metrics.contains("gpugate_doctor_success{file=\"gpugate.prom\"} 0\n"),
            "{metrics}"
        );
        assert!(
            metrics.contains(&format!(
                "gpugate_doctor_exit_code{{file=\"gpugate.prom\"}} {exit}\n"
            )),
            "{metrics}"
        );
        assert!(!metrics.contains("gpugate_healthy"), "{metrics}");
        // The same HELP as gpugate's own, or node_exporter drops one of two files.
        for line in metrics.lines().filter(|l| l.starts_with("# HELP ")) {
            let name = line.split_whitespace().nth(2).unwrap();
            if healthy.contains(&format!("# HELP {name} ")) {
                assert!(healthy.contains(line), "{line}");
            }
        }
    }
    assert_ended(&pids);

    let machine = Machine::new("h100-driver-580");
    let out = machine
        .command(&script)
        .env("GPUGATE_BIN", BIN)
        .env("GPUGATE_TEXTFILE_DIR", machine.root().join("no/such/dir"))
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(!machine.root().join("no").exists());
    for args in [
        &["doctor", "--format", "prometheus", "--out", "/dev/null"][..],
        &[
            "doctor",
            "--format",
            "prometheus",
            "--out",
            "/nonexistent/gpugate.prom",
        ],
        &["facts", "--format", "prometheus"],
    ] {
        assert_exit(&machine.gpugate(args), 2);
    }
}

/// Node Problem Detector's plugin as NPD runs it: exit 0 and "healthy: ..."
/// on a healthy H100 and on a busy one (jobs hold its GPUs), 1 and the root
/// cause's id first on a broken machine, 2 ("unknown: ...") when gpugate is
/// missing, crashes or hangs (ended within GPUGATE_TIMEOUT, nothing left
/// behind). What NPD keeps of the output, its first 80 bytes, is the whole
/// message and valid UTF-8.
#[test]
fn the_node_problem_detector_plugin_speaks_npd_s_protocol() {
    let plugin = root().join("ci/k8s/npd/gpugate-check.sh");
    let dir = tempfile::tempdir().unwrap();
    let (hanging, pids) = hanging_gpugate(dir.path());
    let check = |name: &str, bin: &Path, env: &[(&str, &str)]| {
        let machine = Machine::new(name);
        let started = Instant::now();
        let out = machine
            .command(&plugin)
            .env("GPUGATE_BIN", bin)
            .envs(env.iter().copied())
            .args(["--for-tensorflow", "2.18"])
            .output()
            .unwrap();
        // NPD's custom plugin cut: the first max_output_length bytes.
        let kept = &out.stdout[..out.stdout.len().min(80)];
        let message = std::str::from_utf8(kept)
            .unwrap_or_else(|e| panic!("{name}: NPD would keep broken UTF-8: {e}"))
            .trim()
            .to_string();
        assert_eq!(message, text(&out.stdout).trim(), "NPD cut the message");
        assert_eq!(text(&out.stdout).lines().count(), 1, "{message:?}");
        (out.status.code(), message, started.elapsed())
    };
    let bin = Path::new(BIN);
    let (code, message, _) = check("h100-driver-580", bin, &[]);
    assert_eq!(code, Some(0), "{message}");
    assert!(message.starts_with("healthy: TensorFlow 2.18"), "{message}");
    let (code, message, _) = check("h100-memory-held", bin, &[]);
    assert_eq!(code, Some(0), "a busy node is healthy: {message}");
    let (code, message, _) = check("h100-gpu-lost", bin, &[]);
    assert_eq!(code, Some(1), "{message}");
    assert!(message.starts_with("gpu-unreachable: "), "{message}");
    let (code, message, _) = check("h100-driver-580", Path::new("/nonexistent/gpugate"), &[]);
    assert_eq!(code, Some(2), "{message}");
    assert!(message.starts_with("unknown: "), "{message}");
    let (code, message, _) = check("h100-driver-580", bin, &[("GPUGATE_CRASH_FOR_TESTS", "1")]);
    assert_eq!(
        (code, message.as_str()),
        (Some(2), "unknown: gpugate crashed (exit 70)")
    );
    let (code, message, took) = check("h100-driver-580", &hanging, &[("GPUGATE_TIMEOUT", "1")]);
    assert_eq!(
        (code, message.as_str()),
        (Some(2), "unknown: gpugate did not answer within 1s")
    );
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert_ended(&pids);
}

/// The runner hooks as the runners call them: from the job's working
/// directory, with GitHub's job summary file, gpugate named by GPUGATE_BIN.
/// Quick mode: one line and exit 0 on a healthy H100; exit 1 with the root
/// cause and fix first, in the log and the job summary, on a lost GPU; exit
/// 2 when gpugate is missing. Full mode runs its suite once per state of the
/// stack, again when it changed, and not after a pass.
#[test]
fn runner_hooks_check_the_machine_before_each_job() {
    let work = tempfile::tempdir().unwrap();
    let summary = work.path().join("step-summary.md");
    let state = work.path().join("hook-state");
    let hook_on = |machine: &Machine, script: &str, env: &[(&str, &str)]| {
        let mut command = machine.command(&root().join(script));
        command
            .current_dir(work.path())
            .env("GPUGATE_BIN", BIN)
            .env(
                "GPUGATE_DOCTOR_ARGS",
                "--for-tensorflow 2.18 --probe-timeout 3",
            )
            .env("GPUGATE_HOOK_STATE", &state)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .envs(env.iter().copied());
        let out = command.output().unwrap();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let hook =
        |script: &str, name: &str, env: &[(&str, &str)]| hook_on(&Machine::new(name), script, env);
    for script in ["ci/github/job-started.sh", "ci/gitlab/pre-build.sh"] {
        let (code, stdout, stderr) = hook(script, "h100-driver-580", &[]);
        assert_eq!(code, Some(0), "{script}: {stdout}{stderr}");
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert!(
            stdout.starts_with("gpugate runner check: healthy: TensorFlow 2.18"),
            "{stdout}"
        );
        assert!(!summary.exists(), "a healthy machine writes no summary");

        let (code, stdout, _) = hook(script, "h100-gpu-lost", &[]);
        assert_eq!(code, Some(1), "{stdout}");
        let mut lines = stdout.lines();
        assert!(
            lines.next().unwrap().starts_with(
                "gpugate runner check: this machine cannot run TensorFlow on its GPUs: gpu-unreachable: "
            ),
            "{stdout}"
        );
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("diagnosis [gpu-unreachable] (error)"),
            "{stdout}"
        );
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("  fix: drain this machine"),
            "{stdout}"
        );
        let written = std::fs::read_to_string(&summary).unwrap();
        assert!(written.contains("**gpu-unreachable: "), "{written}");
        std::fs::remove_file(&summary).unwrap();

        let (code, _, stderr) = hook(
            script,
            "h100-driver-580",
            &[("GPUGATE_BIN", "/nonexistent/gpugate")],
        );
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("gpugate is not installed here"), "{stderr}");
    }

    // Before a job, GPUs that processes hold are leftovers that would
    // break it.
    let (code, stdout, _) = hook("ci/github/job-started.sh", "h100-memory-held", &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains(": gpu-memory-held: "), "{stdout}");
    std::fs::remove_file(&summary).unwrap();
    // gpugate failing is never the machine failing: 2, with the reason.
    let dir = tempfile::tempdir().unwrap();
    let (hanging, pids) = hanging_gpugate(dir.path());
    let hanging = hanging.to_str().unwrap();
    for (env, said) in [
        (
            &[("GPUGATE_CRASH_FOR_TESTS", "1")][..],
            "gpugate crashed (exit 70)",
        ),
        (
            &[(
                "GPUGATE_DOCTOR_ARGS",
                "--for-tensorflow 2.18 --no-such-flag",
            )][..],
            "gpugate refused its arguments (exit 2)",
        ),
        (
            &[("GPUGATE_BIN", hanging), ("GPUGATE_HOOK_TIMEOUT", "1")][..],
            "gpugate did not finish within 1s (GPUGATE_HOOK_TIMEOUT)",
        ),
        (
            &[
                ("GPUGATE_HOOK_MODE", "full"),
                ("GPUGATE_HOOK_SUITE", "gpu-basci"),
            ][..],
            "gpugate refused its arguments (exit 2) running gpu-basci",
        ),
    ] {
        let started = Instant::now();
        let (code, stdout, stderr) = hook("ci/github/job-started.sh", "h100-driver-580", env);
        assert_eq!(code, Some(2), "{env:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!("gpugate could not judge this machine: {said}")),
            "{env:?}: {stderr}"
        );
        assert!(started.elapsed() < Duration::from_secs(60), "{env:?}");
        assert!(!summary.exists(), "no verdict, no summary: {env:?}");
    }
    assert_ended(&pids);

    let passing = work.path().join("passing.toml");
    std::fs::write(
        &passing,
        "[[check]]\nname = \"PATH is set\"\nkind = \"env.var\"\nvar = \"PATH\"\n",
    )
    .unwrap();
    let failing = work.path().join("failing.toml");
    std::fs::write(
        &failing,
        "[[check]]\nname = \"a variable no one sets\"\nkind = \"env.var\"\nvar = \"GPUGATE_SURELY_UNSET_VARIABLE\"\n",
    )
    .unwrap();
    // One machine: a fingerprint names the libraries' paths, which a new
    // stand-in machine moves.
    let machine = Machine::new("h100-driver-580");
    let full = |suite: &Path| {
        hook_on(
            &machine,
            "ci/github/job-started.sh",
            &[
                ("GPUGATE_HOOK_MODE", "full"),
                ("GPUGATE_HOOK_SUITE", suite.to_str().unwrap()),
            ],
        )
    };
    let (code, stdout, stderr) = full(&passing);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("changed: running"), "{stdout}");
    let (code, stdout, _) = full(&passing);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        !stdout.contains("running"),
        "a pass is remembered: {stdout}"
    );
    // Another stack (here: another suite is another key) runs it again.
    let (code, stdout, _) = full(&failing);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(!state.join("passed").exists());
    let (code, stdout, _) = full(&passing);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("changed: running"), "{stdout}");

    // A record others may write is no record: anyone could plant a pass.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (code, _, stderr) = full(&passing);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("others may write it"), "{stderr}");
}

/// The attack pass on the Slurm check's settings, lock and verdict mode,
/// without a cluster (each is refused before the node is read): whatever
/// it cannot trust is "could not judge" (exit 2), never "broken" (10) nor
/// "healthy", and a FIFO hangs nothing.
#[test]
fn the_slurm_check_trusts_only_what_is_root_s() {
    use std::os::unix::fs::PermissionsExt;
    let script = root().join("ci/slurm/healthcheck");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = |name: &str, extra: &str| {
        let path = d.join(name);
        std::fs::write(
            &path,
            format!(
                "GPUGATE_BIN={BIN}\nLOCK={}/{name}.lock\n{extra}",
                d.display()
            ),
        )
        .unwrap();
        path
    };
    let verdict = |config: &Path| {
        let started = Instant::now();
        let out = std::process::Command::new(&script)
            .arg("--verdict")
            .env("GPUGATE_SLURM_CONFIG", config)
            .env("SLURM_CONF", d.join("no-cluster.conf"))
            .output()
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(15), "{config:?}");
        (out.status.code(), text(&out.stdout))
    };
    let fifo = d.join("fifo.conf");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let open = good("open.conf", "");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).unwrap();
    let lock_open = good("lock-open.conf", "");
    std::fs::write(d.join("lock-open.conf.lock"), "").unwrap();
    std::fs::set_permissions(
        d.join("lock-open.conf.lock"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    for (config, said) in [
        (d.to_path_buf(), "must be a regular file"),
        (fifo, "must be a regular file"),
        (open, "writable by no one else"),
        (good("typo.conf", "TIMOUT=5\n"), "unknown key TIMOUT"),
        (
            good("version.conf", "TENSORFLOW=2.20 --out /x\n"),
            "TENSORFLOW must be a release",
        ),
        (lock_open, "mode 0600"),
    ] {
        let (code, stdout) = verdict(&config);
        assert_eq!(code, Some(2), "{config:?}: {stdout}");
        assert!(stdout.contains(said), "{config:?}: {stdout}");
    }
    // A good setting gets as far as the node (no cluster here: could not
    // judge), and the lock it made is root's alone.
    let (code, stdout) = verdict(&good("fine.conf", ""));
    assert_eq!(code, Some(2), "{stdout}");
    assert!(stdout.contains("scontrol show node"), "{stdout}");
    let mode = std::fs::metadata(d.join("fine.conf.lock"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// The other scripts' settings, attacked: a textfile directory others may
/// write is refused before anything is written there; a timeout that would
/// lift the bound is refused (the textfile says it has no verdict); a hook
/// state path with a trailing slash is still checked for a link.
#[test]
fn the_scripts_refuse_settings_that_lift_their_bounds() {
    use std::os::unix::fs::PermissionsExt;
    let machine = Machine::new("h100-driver-580");
    let textfile = machine.root().join("textfile");
    std::fs::create_dir(&textfile).unwrap();
    let run = |env: &[(&str, &str)]| {
        textfile_script(&machine, &textfile)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    let out = run(&[("GPUGATE_TIMEOUT", "0")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let metrics = std::fs::read_to_string(textfile.join("gpugate.prom")).unwrap();
    assert!(
        metrics.contains("gpugate_doctor_exit_code{file=\"gpugate.prom\"} 2\n"),
        "{metrics}"
    );
    std::fs::remove_file(textfile.join("gpugate.prom")).unwrap();
    std::fs::set_permissions(&textfile, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("writable by no one else"));
    assert_eq!(std::fs::read_dir(&textfile).unwrap().count(), 0);

    for limit in ["0", "inf", "1e3", "99"] {
        let out = machine
            .command(&root().join("ci/k8s/npd/gpugate-check.sh"))
            .env("GPUGATE_BIN", BIN)
            .env("GPUGATE_TIMEOUT", limit)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{limit}");
        assert!(
            text(&out.stdout).starts_with("unknown: GPUGATE_TIMEOUT"),
            "{limit}"
        );
    }

    let work = tempfile::tempdir().unwrap();
    let elsewhere = work.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let link = work.path().join("link");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    let out = machine
        .command(&root().join("ci/runner-hook.sh"))
        .env("GPUGATE_BIN", BIN)
        .env("GPUGATE_DOCTOR_ARGS", "--for-tensorflow 2.18")
        .env("GPUGATE_HOOK_MODE", "full")
        .env("GPUGATE_HOOK_STATE", format!("{}/", link.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("gpugate trusts no record there"));
}
