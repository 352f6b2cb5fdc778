//! A small graph compiled by XLA on one device: the graph is made a
//! function, and the node that calls it must be compiled (`_XlaMustCompile`,
//! what `tf.function(jit_compile=True)` sets) and clustered (`_XlaCompile`,
//! which makes the compiled cluster visible in the partition graphs). The
//! body's `Exp` makes XLA's GPU backend link libdevice and its kernels go
//! through ptxas, as a Keras fit's do. Worker only.

use super::error::TfError;
use super::proto::{ConfigProto, RunMetadata, RunOptions, SOFTWARE_TRACE};
use super::runtime::Runtime;
use prost::Message;
use tensorflow::{
    DataType, FunctionOptions, Graph, Operation, Output, Scope, Session, SessionOptions,
    SessionRunArgs, Tensor, ops,
};

/// The function XLA compiles.
pub const FUNCTION: &str = "gpugate_xla_body";
/// The node that calls it.
pub const CALL: &str = "gpugate_xla/call";

pub struct XlaRun {
    /// sum(relu(a · b) + exp(a)).
    pub value: f32,
    /// The partition graphs' `_XlaRun` nodes (the compiled cluster's launch),
    /// with their devices.
    pub launches: Vec<(String, String)>,
    /// Step-stats node names of the run: the compiled launch (`.../xla_run`)
    /// or the uncompiled fallback (`.../stateful_partitioned_call`).
    pub executed: Vec<String>,
}

fn placeholder(scope: &Scope, name: &str, n: usize) -> Result<Operation, TfError> {
    ops::Placeholder::new()
        .dtype(DataType::Float)
        .shape(&[n as i64, n as i64][..])
        .build(&mut scope.with_op_name(name))
        .map_err(TfError::from)
}

/// The body: sum(relu(x · w) + exp(x)), as a function of x and w.
fn body(n: usize) -> Result<tensorflow::Function, TfError> {
    let scope = Scope::new_root_scope();
    let x = placeholder(&scope, "x", n)?;
    let w = placeholder(&scope, "w", n)?;
    let product =
        ops::MatMul::new().build(x.clone(), w.clone(), &mut scope.with_op_name("matmul"))?;
    let relu = ops::Relu::new().build(product, &mut scope.with_op_name("relu"))?;
    let exp = ops::Exp::new().build(x.clone(), &mut scope.with_op_name("exp"))?;
    let add = ops::Add::new().build(relu, exp, &mut scope.with_op_name("add"))?;
    let axes = ops::Const::new()
        .dtype(DataType::Int32)
        .value(Tensor::new(&[2]).with_values(&[0i32, 1])?)
        .build(&mut scope.with_op_name("axes"))?;
    let sum = ops::Sum::new().build(add, axes, &mut scope.with_op_name("sum"))?;
    let graph = scope.graph();
    graph
        .to_function::<&str>(
            FUNCTION,
            false,
            None,
            &[x.into(), w.into()],
            &[sum.into()],
            None,
            &FunctionOptions::new(),
            None,
        )
        .map_err(TfError::from)
}

impl Runtime {
    pub fn xla(&mut self, device: &str, n: usize, a: &[f32], b: &[f32]) -> Result<XlaRun, TfError> {
        self.require_loaded()?;
        let mut graph = Graph::new();
        graph.copy_function(&body(n)?, None)?;
        let feeds = |graph: &mut Graph, name: &str| -> Result<Operation, TfError> {
            let mut d = graph.new_operation("Placeholder", name)?;
            d.set_attr_type("dtype", DataType::Float)?;
            d.set_attr_shape("shape", &tensorflow::Shape::from(&[n as i64, n as i64][..]))?;
            d.finish().map_err(TfError::from)
        };
        let pa = feeds(&mut graph, "gpugate_xla/a")?;
        let pb = feeds(&mut graph, "gpugate_xla/b")?;
        let call = {
            let mut d = graph.new_operation("StatefulPartitionedCall", CALL)?;
            d.add_input_list(&[Output::from(pa.clone()), Output::from(pb.clone())]);
            d.set_attr_type_list("Tin", &[DataType::Float, DataType::Float])?;
            d.set_attr_type_list("Tout", &[DataType::Float])?;
            d.set_attr_func_name("f", FUNCTION)?;
            // Must compile: an op XLA cannot compile is an error, never a
            // silent run without XLA.
            d.set_attr_bool("_XlaMustCompile", true)?;
            // Clustered: the partition graphs show the compiled launch.
            d.set_attr_bool("_XlaCompile", true)?;
            d.set_device(device)?;
            d.finish()?
        };
        let config = ConfigProto {
            allow_soft_placement: false,
            ..Default::default()
        };
        let mut options = SessionOptions::new();
        options.set_config(&config.encode_to_vec())?;
        let session = Session::new(&options, &graph)?;
        let dims = [n as u64, n as u64];
        let ta = Tensor::new(&dims).with_values(a)?;
        let tb = Tensor::new(&dims).with_values(b)?;
        // A plain run first: a run that fails while metadata is requested
        // leaves the tensorflow crate an empty buffer it cannot read.
        let mut plain = SessionRunArgs::new();
        plain.add_feed(&pa, 0, &ta);
        plain.add_feed(&pb, 0, &tb);
        plain.request_fetch(&call, 0);
        session.run(&mut plain)?;
        let mut args = SessionRunArgs::new();
        args.add_feed(&pa, 0, &ta);
        args.add_feed(&pb, 0, &tb);
        let token = args.request_fetch(&call, 0);
        args.set_run_options(
            &RunOptions {
                trace_level: SOFTWARE_TRACE,
                output_partition_graphs: true,
            }
            .encode_to_vec(),
        );
        args.set_request_metadata(true);
        session.run(&mut args)?;
        let value: Tensor<f32> = args.fetch(token)?;
        let meta = args
            .get_metadata()
            .and_then(|bytes| RunMetadata::decode(bytes).ok())
            .unwrap_or_default();
        Ok(XlaRun {
            value: value.first().copied().unwrap_or(f32::NAN),
            launches: meta
                .partition_graphs
                .iter()
                .flat_map(|g| &g.node)
                .filter(|node| node.op == "_XlaRun")
                .map(|node| (node.name.clone(), node.device.clone()))
                .collect(),
            executed: meta.nodes().map(|(node, _)| node.to_string()).collect(),
        })
    }
}
