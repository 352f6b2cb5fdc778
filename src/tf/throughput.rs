//! Timed TensorFlow work for `tensorflow.throughput`: square matmuls of a
//! given precision on one device, and host-to-device copies. Every timed run
//! fetches a single value computed from the result, so the clock stops only
//! when the device has finished (GPU kernels are launched asynchronously).
//! Worker only.

use super::error::TfError;
use super::proto::ConfigProto;
use super::runtime::Runtime;
use prost::Message;
use std::time::Instant;
use tensorflow::{
    DataType, Operation, Scope, Session, SessionOptions, SessionRunArgs, Tensor, ops,
};

fn session(scope: &Scope) -> Result<Session, TfError> {
    let mut options = SessionOptions::new();
    let config = ConfigProto {
        allow_soft_placement: false,
        ..Default::default()
    };
    options.set_config(&config.encode_to_vec())?;
    Session::new(&options, &scope.graph()).map_err(TfError::from)
}

/// Runs `args()` `warmup` times untimed, then `iterations` times timed.
fn time_runs<'a>(
    session: &Session,
    warmup: usize,
    iterations: usize,
    mut args: impl FnMut() -> SessionRunArgs<'a>,
) -> Result<Vec<f64>, TfError> {
    let mut seconds = Vec::with_capacity(iterations);
    for i in 0..warmup + iterations {
        let mut run = args();
        let started = Instant::now();
        session.run(&mut run)?;
        if i >= warmup {
            seconds.push(started.elapsed().as_secs_f64());
        }
    }
    Ok(seconds)
}

fn scalar_fetch<'a>(op: &Operation) -> SessionRunArgs<'a> {
    let mut args = SessionRunArgs::new();
    args.request_fetch(op, 0);
    args
}

impl Runtime {
    /// Seconds per `n×n · n×n` matmul in `dtype` on `device`, one per timed run.
    /// The operands are variables filled on the device once, so no timed run
    /// copies them.
    pub fn matmul_seconds(
        &mut self,
        device: &str,
        dtype: DataType,
        n: usize,
        warmup: usize,
        iterations: usize,
    ) -> Result<Vec<f64>, TfError> {
        self.require_loaded()?;
        let scope = Scope::new_root_scope().with_device(device);
        let s = |name: &str| scope.with_op_name(name);
        let shape = ops::Const::new()
            .dtype(DataType::Int32)
            .value(Tensor::new(&[2]).with_values(&[n as i32, n as i32])?)
            .build(&mut s("throughput/shape"))?;
        let operand = |name: &str, seed: i64| -> Result<(Operation, Operation), TfError> {
            let random = ops::RandomUniform::new()
                .dtype(DataType::Float)
                .seed(seed)
                .seed2(seed)
                .build(shape.clone(), &mut s(&format!("{name}_random")))?;
            let cast = ops::Cast::new()
                .DstT(dtype)
                .build(random, &mut s(&format!("{name}_cast")))?;
            let var = ops::VariableV2::new()
                .dtype(dtype)
                .shape(tensorflow::Shape::from(Some(vec![
                    Some(n as i64),
                    Some(n as i64),
                ])))
                .build(&mut s(name))?;
            let assign =
                ops::Assign::new().build(var.clone(), cast, &mut s(&format!("{name}_assign")))?;
            Ok((var, assign))
        };
        let (a, init_a) = operand("throughput/a", 1)?;
        let (b, init_b) = operand("throughput/b", 2)?;
        let product = ops::MatMul::new().build(a, b, &mut s("throughput/matmul"))?;
        let corner = one_element(&scope, product, 2)?;

        let session = session(&scope)?;
        let mut init = SessionRunArgs::new();
        init.add_target(&init_a);
        init.add_target(&init_b);
        session.run(&mut init)?;
        time_runs(&session, warmup, iterations, || scalar_fetch(&corner))
    }

    /// Seconds per copy of `bytes` from host memory (pageable: a session
    /// feed) to `device`, summed there so that the copy must complete.
    pub fn host_to_device_seconds(
        &mut self,
        device: &str,
        bytes: usize,
        warmup: usize,
        iterations: usize,
    ) -> Result<Vec<f64>, TfError> {
        self.require_loaded()?;
        let scope = Scope::new_root_scope().with_device(device);
        let len = bytes / 4;
        let input = ops::Placeholder::new()
            .dtype(DataType::Float)
            .shape(&[len as i64][..])
            .build(&mut scope.with_op_name("h2d/input"))?;
        let axis = ops::Const::new()
            .dtype(DataType::Int32)
            .value(Tensor::new(&[1]).with_values(&[0i32])?)
            .build(&mut scope.with_op_name("h2d/axis"))?;
        let sum = ops::Sum::new().build(input.clone(), axis, &mut scope.with_op_name("h2d/sum"))?;
        let session = session(&scope)?;
        let data = Tensor::new(&[len as u64]).with_values(&vec![1.0f32; len])?;
        time_runs(&session, warmup, iterations, || {
            let mut args = scalar_fetch(&sum);
            args.add_feed(&input, 0, &data);
            args
        })
    }
}

/// `product[0, 0]` as float32: one value to fetch, computed after `product`.
fn one_element(scope: &Scope, product: Operation, rank: usize) -> Result<Operation, TfError> {
    let zeros = vec![0i32; rank];
    let ones = vec![1i32; rank];
    let constant = |values: &[i32], name: &str| -> Result<Operation, TfError> {
        ops::Const::new()
            .dtype(DataType::Int32)
            .value(Tensor::new(&[rank as u64]).with_values(values)?)
            .build(&mut scope.with_op_name(name))
            .map_err(TfError::from)
    };
    let begin = constant(&zeros, "throughput/begin")?;
    let size = constant(&ones, "throughput/size")?;
    let slice = ops::Slice::new().build(
        product,
        begin,
        size,
        &mut scope.with_op_name("throughput/corner"),
    )?;
    ops::Cast::new()
        .DstT(DataType::Float)
        .build(slice, &mut scope.with_op_name("throughput/corner_f32"))
        .map_err(TfError::from)
}
