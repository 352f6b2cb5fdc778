//! One run of every kind of outcome, on a fixed machine, for the reporters'
//! in-memory tests: a check that passes (with a measurement and a plot),
//! one that fails (with a root cause and output that tries to forge a
//! workflow command), one that cannot run, one the suite skips, and one the
//! filter left out.

use crate::checks::testing::{facts_with_driver, gpu};
use crate::console::Console;
use crate::event::{Bus, Event, Finished, Reporter};
use crate::exit::Exit;
use crate::facts::Facts;
use crate::finding::{Finding, Severity};
use crate::outcome::{Outcome, Verdict};
use crate::plan::Plan;
use std::path::Path;
use std::time::{Duration, SystemTime};

const SUITE: &str = r#"
description = "every kind of outcome"

[[check]]
name = "libtensorflow loads"
kind = "tensorflow.loads"

[[check]]
name = "matmul on /device:GPU:0"
kind = "tensorflow.matmul"
device = "/device:GPU:0"

[[check]]
name = "GPUs are healthy"
kind = "gpu.health"

[[check]]
name = "cuDNN matches the build"
kind = "cudnn.compatible"

[[check]]
name = "left out by the filter"
kind = "env.var"
var = "HOME"
"#;

pub struct SampleRun {
    pub plan: Plan,
    pub outcomes: Vec<Option<Outcome>>,
    pub facts: Facts,
}

fn outcome(verdict: Verdict, output: Option<&str>, failure_type: &'static str) -> Outcome {
    Outcome {
        verdict,
        duration: Duration::from_millis(250),
        output: output.map(String::from),
        failure_type,
        causes: Vec::new(),
    }
}

pub fn sample_run() -> SampleRun {
    let suite = crate::suite::parse_suite(
        "sample",
        "suites/sample.toml",
        Path::new("/suites"),
        SUITE,
        &Default::default(),
        &|_| None,
    )
    .expect("the sample suite validates");
    let facts = facts_with_driver("550.54.15", &[gpu(0, "NVIDIA H100 80GB HBM3", (9, 0))]);
    let plan = crate::plan::plan(vec![suite], None, &facts.host);
    let mut failed = outcome(
        Verdict::fail("100% wrong: max relative error 1.0 at [0][0]")
            .with_detail("expected 256.0 <got> 0.0 & more"),
        Some(
            "2026-12-03 cuda_dnn.cc:535] Loaded runtime CuDNN library: 8.9.7\n::error::forged annotation",
        ),
        "assertion",
    );
    failed.causes = vec![Finding {
        id: "cudnn-wrong-major",
        severity: Severity::Error,
        cause: "TensorFlow 2.18.1 needs libcudnn.so.9; the loader found 8.9.7".into(),
        fix: "install cuDNN 9 (`python3 -m pip install nvidia-cudnn-cu12==9.3.0.75`)".into(),
        evidence: vec!["libcudnn.so.8 (8.9.7)".into()],
    }];
    let outcomes = vec![
        Some(outcome(
            Verdict::pass("libtensorflow 2.18.1 loaded")
                .with_property("library", "/opt/tf/lib/libtensorflow.so.2")
                .with_measurement("load_s", 1.25)
                .with_attachment("loss.svg", "<svg/>".into()),
            None,
            "assertion",
        )),
        Some(failed),
        Some(outcome(
            Verdict::error("the probe worker crashed: killed by signal 11 (SIGSEGV)")
                .with_detail("the worker was replaced; the remaining checks ran in a fresh one"),
            Some("Segmentation fault"),
            "crash",
        )),
        Some(outcome(
            Verdict::skip("CPU-only build: no cuDNN to match"),
            None,
            "skipped",
        )),
        None,
    ];
    SampleRun {
        plan,
        outcomes,
        facts,
    }
}

/// When the sample run started: 2026-11-24 06:13:20 UTC.
pub const STARTED: u64 = 1_795_500_800;

/// Tells `reporters` the whole of `run`, as the runner would, and returns
/// the run's exit.
pub fn drive(reporters: Vec<Box<dyn Reporter>>, run: &SampleRun, log: Console) -> Exit {
    let mut bus = Bus::new(reporters, log);
    bus.emit(&Event::RunStarted {
        at: SystemTime::UNIX_EPOCH + Duration::from_secs(STARTED),
    });
    bus.emit(&Event::FactsGathered { plan: &run.plan });
    for (index, outcome) in run.outcomes.iter().enumerate() {
        if let Some(outcome) = outcome {
            bus.emit(&Event::CheckFinished { index, outcome });
        }
    }
    let finished = Finished {
        plan: &run.plan,
        outcomes: &run.outcomes,
        facts: &run.facts,
        elapsed: Duration::from_millis(2500),
        checks: Exit::ChecksFailed,
    };
    bus.emit(&Event::ChecksDone { run: &finished });
    let exit = bus.exit(finished.checks);
    bus.emit(&Event::RunFinished {
        run: &finished,
        exit,
    });
    exit
}
