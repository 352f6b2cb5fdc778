//! Trains the smoke-test model (`mlp.rs`) with libtensorflow: a graph with
//! gradients from TensorFlow's own gradient registry and Adam's update kernel,
//! pinned to one device with soft placement off. Worker only.

use super::error::TfError;
use super::mlp::{CLASSES, HIDDEN, INPUTS, Problem, Weights};
use super::proto::{ConfigProto, FULL_TRACE, RunMetadata, RunOptions, short_device};
use super::runtime::Runtime;
use prost::Message;
use std::collections::HashMap;
use tensorflow::{
    DataType, Operation, Output, Scope, Session, SessionOptions, SessionRunArgs, Tensor, ops,
};

/// How the session is set up, beside the device its ops are pinned to.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionShape {
    /// Intra- and inter-op threads; None lets TensorFlow use every core.
    pub threads: Option<i32>,
    /// Give the session no GPU at all, so that ops TensorFlow's gradient
    /// builder left unpinned cannot land on one.
    pub hide_gpus: bool,
}

/// The op types that do the model's work: all must run where they were sent.
const MODEL_OPS: &[&str] = &[
    "MatMul",
    "BiasAdd",
    "BiasAddGrad",
    "Relu",
    "ReluGrad",
    "SoftmaxCrossEntropyWithLogits",
    "ApplyAdam",
];

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FitRun {
    /// The loss before each step's update.
    pub losses: Vec<f32>,
    pub weights: Weights,
    /// Model ops of the traced step, by op type: how many ran on the device
    /// asked for, and where the others ran.
    pub on_device: usize,
    pub elsewhere: Vec<String>,
}

struct Param {
    var: Operation,
    init: Vec<Operation>,
    m: Operation,
    v: Operation,
}

/// A copy of `scope` (same device, same dependencies): the crate's Scope is
/// not Clone.
fn here(scope: &Scope) -> Scope {
    scope.with_control_dependencies(&[])
}

fn constant<T: tensorflow::TensorType>(
    scope: &Scope,
    dims: &[u64],
    values: &[T],
) -> Result<Operation, TfError> {
    let tensor = Tensor::new(dims).with_values(values)?;
    ops::Const::new()
        .dtype(T::data_type())
        .value(tensor)
        .build(&mut here(scope))
        .map_err(TfError::from)
}

fn variable(
    scope: &Scope,
    name: &str,
    dims: &[u64],
    values: &[f32],
) -> Result<(Operation, Operation), TfError> {
    let shape = tensorflow::Shape::from(Some(
        dims.iter().map(|d| Some(*d as i64)).collect::<Vec<_>>(),
    ));
    let var = ops::VariableV2::new()
        .dtype(DataType::Float)
        .shape(shape)
        .build(&mut scope.with_op_name(name))?;
    let value = constant(scope, dims, values)?;
    let assign = ops::Assign::new().build(var.clone(), value, &mut here(scope))?;
    Ok((var, assign))
}

fn param(scope: &Scope, name: &str, dims: &[u64], initial: &[f32]) -> Result<Param, TfError> {
    let zeros = vec![0.0f32; initial.len()];
    let (var, a) = variable(scope, name, dims, initial)?;
    let (m, am) = variable(scope, &format!("{name}_adam_m"), dims, &zeros)?;
    let (v, av) = variable(scope, &format!("{name}_adam_v"), dims, &zeros)?;
    Ok(Param {
        var,
        init: vec![a, am, av],
        m,
        v,
    })
}

fn placeholder(
    scope: &Scope,
    name: &str,
    dtype: DataType,
    dims: &[i64],
) -> Result<Operation, TfError> {
    ops::Placeholder::new()
        .dtype(dtype)
        .shape(dims)
        .build(&mut scope.with_op_name(name))
        .map_err(TfError::from)
}

impl Runtime {
    /// Trains `problem` twice, once per (device, session shape), side by
    /// side: each in its own graph and session, so neither run's numbers
    /// depend on the other's, and the second device does not wait for the
    /// first (a GPU's run overlaps its CPU reference).
    pub fn fit_pair(
        &mut self,
        subject: (&str, SessionShape),
        reference: (&str, SessionShape),
        problem: &Problem,
    ) -> (Result<FitRun, TfError>, Result<FitRun, TfError>) {
        if let Err(e) = self.require_loaded() {
            return (Err(TfError::NotLoaded(e.to_string())), Err(e));
        }
        std::thread::scope(|s| {
            let other = s.spawn(|| fit(reference.0, reference.1, problem));
            let first = fit(subject.0, subject.1, problem);
            let second = other
                .join()
                .unwrap_or_else(|_| Err(TfError::Panicked("reference")));
            (first, second)
        })
    }
}

static TRACE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Trains `problem` on `device` (TensorFlow loaded) and returns the per-step
/// losses, the final weights and where the model's ops ran.
fn fit(device: &str, shape: SessionShape, problem: &Problem) -> Result<FitRun, TfError> {
    let batch = problem.batch as i64;
    let mut root = Scope::new_root_scope();
    let scope = root.with_device(device);

    let x = placeholder(&scope, "x", DataType::Float, &[batch, INPUTS as i64])?;
    let labels = placeholder(&scope, "labels", DataType::Int32, &[batch])?;
    let beta1_power = placeholder(&scope, "beta1_power", DataType::Float, &[])?;
    let beta2_power = placeholder(&scope, "beta2_power", DataType::Float, &[])?;

    let w = &problem.initial;
    let params = [
        param(&scope, "w1", &[INPUTS as u64, HIDDEN as u64], &w.w1)?,
        param(&scope, "b1", &[HIDDEN as u64], &w.b1)?,
        param(&scope, "w2", &[HIDDEN as u64, CLASSES as u64], &w.w2)?,
        param(&scope, "b2", &[CLASSES as u64], &w.b2)?,
    ];

    let s = &mut here(&scope);
    let z1 = ops::MatMul::new().build(x.clone(), params[0].var.clone(), s)?;
    let a1 = ops::BiasAdd::new().build(z1, params[1].var.clone(), s)?;
    let h = ops::Relu::new().build(a1, s)?;
    let z2 = ops::MatMul::new().build(h, params[2].var.clone(), s)?;
    let logits = ops::BiasAdd::new().build(z2, params[3].var.clone(), s)?;
    let depth = constant(&scope, &[], &[CLASSES as i32])?;
    let on = constant(&scope, &[], &[1.0f32])?;
    let off = constant(&scope, &[], &[0.0f32])?;
    let onehot = ops::OneHot::new().build(labels.clone(), depth, on, off, s)?;
    let xent = ops::SoftmaxCrossEntropyWithLogits::new().build(logits, onehot, s)?;
    let axis = constant(&scope, &[1], &[0i32])?;
    let loss = ops::Mean::new().build(xent.output(0), axis, &mut scope.with_op_name("loss"))?;

    let targets: Vec<Output> = params.iter().map(|p| p.var.output(0)).collect();
    let grads = root.graph_mut().add_gradients(
        Some("gpugate_gradients"),
        &[loss.output(0)],
        &targets,
        None,
    )?;
    let grads: Vec<Output> = grads
        .into_iter()
        .zip(["w1", "b1", "w2", "b2"])
        .map(|(g, name)| g.ok_or(TfError::NoGradient(name)))
        .collect::<Result<_, _>>()?;

    // Every gradient is computed before any update: the updates write the
    // weights in place, and the backward pass still reads them.
    let all_grads: Vec<Operation> = grads.iter().map(|g| g.operation.clone()).collect();
    let update = scope.with_control_dependencies(&all_grads);
    let lr = constant(&scope, &[], &[problem.learning_rate])?;
    let b1 = constant(&scope, &[], &[problem.beta1])?;
    let b2 = constant(&scope, &[], &[problem.beta2])?;
    let eps = constant(&scope, &[], &[problem.epsilon])?;
    let mut updates = Vec::new();
    for (p, g) in params.iter().zip(&grads) {
        updates.push(ops::ApplyAdam::new().build(
            p.var.clone(),
            p.m.clone(),
            p.v.clone(),
            beta1_power.clone(),
            beta2_power.clone(),
            lr.clone(),
            b1.clone(),
            b2.clone(),
            eps.clone(),
            g.clone(),
            &mut here(&update),
        )?);
    }

    let mut options = SessionOptions::new();
    let config = ConfigProto {
        allow_soft_placement: false,
        intra_op_parallelism_threads: shape.threads.unwrap_or(0),
        inter_op_parallelism_threads: shape.threads.unwrap_or(0),
        use_per_session_threads: true,
        device_count: if shape.hide_gpus {
            HashMap::from([("GPU".to_string(), 0)])
        } else {
            HashMap::new()
        },
        ..Default::default()
    };
    options.set_config(&config.encode_to_vec())?;
    let graph = root.graph();
    let session = Session::new(&options, &graph)?;

    let mut init = SessionRunArgs::new();
    for op in params.iter().flat_map(|p| &p.init) {
        init.add_target(op);
    }
    session.run(&mut init)?;

    let mut losses = Vec::with_capacity(problem.steps);
    let mut trace = None;
    for step in 0..problem.steps {
        let (xs, ys) = problem.batch_of(step);
        let t = (step + 1) as i32;
        let tx = Tensor::new(&[problem.batch as u64, INPUTS as u64]).with_values(xs)?;
        let ty = Tensor::new(&[problem.batch as u64]).with_values(ys)?;
        let p1 = Tensor::from(problem.beta1.powi(t));
        let p2 = Tensor::from(problem.beta2.powi(t));
        let mut args = SessionRunArgs::new();
        args.add_feed(&x, 0, &tx);
        args.add_feed(&labels, 0, &ty);
        args.add_feed(&beta1_power, 0, &p1);
        args.add_feed(&beta2_power, 0, &p2);
        for op in &updates {
            args.add_target(op);
        }
        let token = args.request_fetch(&loss, 0);
        // The crate reads run metadata even from a failed run (a null
        // buffer), so only a step after one that succeeded is traced.
        let options = RunOptions {
            trace_level: FULL_TRACE,
            output_partition_graphs: false,
        }
        .encode_to_vec();
        if step == 1 {
            args.set_run_options(&options);
            args.set_request_metadata(true);
        }
        {
            // TensorFlow profiles a traced run in a process-wide session,
            // one at a time: the pair's traced steps take turns.
            let _one_trace = (step == 1).then(|| TRACE.lock().unwrap_or_else(|e| e.into_inner()));
            session.run(&mut args)?;
        }
        let value: Tensor<f32> = args.fetch(token)?;
        losses.push(value[0]);
        if step == 1 {
            trace = args
                .get_metadata()
                .and_then(|b| RunMetadata::decode(b).ok());
        }
    }

    let mut fetch = SessionRunArgs::new();
    let tokens = params.each_ref().map(|p| fetch.request_fetch(&p.var, 0));
    session.run(&mut fetch)?;
    let mut value = |token| -> Result<Vec<f32>, TfError> {
        let t: Tensor<f32> = fetch.fetch(token)?;
        Ok(t.to_vec())
    };
    let [w1, b1, w2, b2] = [
        value(tokens[0])?,
        value(tokens[1])?,
        value(tokens[2])?,
        value(tokens[3])?,
    ];

    let (on_device, elsewhere) = match &trace {
        Some(meta) => where_model_ops_ran(meta, &graph, device),
        None => (0, Vec::new()),
    };
    Ok(FitRun {
        losses,
        weights: Weights { w1, b1, w2, b2 },
        on_device,
        elsewhere,
    })
}

/// Counts the traced model ops that ran on `device` and names the others.
fn where_model_ops_ran(
    meta: &RunMetadata,
    graph: &tensorflow::Graph,
    device: &str,
) -> (usize, Vec<String>) {
    let wanted = short_device(device);
    let mut on_device = 0;
    let mut elsewhere = Vec::new();
    for (node, ran_on) in meta.nodes() {
        let Ok(op) = graph.operation_by_name_required(node) else {
            continue;
        };
        let Ok(op_type) = op.op_type() else { continue };
        if !MODEL_OPS.contains(&op_type.as_str()) {
            continue;
        }
        if short_device(ran_on) == wanted {
            on_device += 1;
        } else {
            elsewhere.push(format!("{node} ({op_type}) on {ran_on}"));
        }
    }
    elsewhere.sort();
    elsewhere.dedup();
    (on_device, elsewhere)
}
