//! A small graph pinned to one device under a given session config, run once
//! plain and once traced: what it computed and where each op ran. Worker only.

use super::error::TfError;
use super::proto::ConfigProto;
use super::runtime::Runtime;
use prost::Message;
use tensorflow::{Scope, Session, SessionOptions, Tensor, ops};

/// The pinned ops, by node name, in the order they run.
pub const NODES: &[&str] = &[
    "gpugate_placement/matmul",
    "gpugate_placement/relu",
    "gpugate_placement/sum",
];

pub struct PlacementRun {
    /// sum(relu(a · b)).
    pub value: f32,
    /// For each of [`NODES`], the devices the trace says ran it.
    pub ran_on: Vec<(String, Vec<String>)>,
}

impl Runtime {
    pub fn placement(
        &mut self,
        device: &str,
        config: &ConfigProto,
        n: usize,
        a: &[f32],
        b: &[f32],
    ) -> Result<PlacementRun, TfError> {
        self.require_loaded()?;
        let scope = Scope::new_root_scope().with_device(device);
        let dims = [n as u64, n as u64];
        // Fed, not constant: TensorFlow would fold constants on the CPU
        // before the pinned ops ever ran.
        let input = |name: &str| -> Result<tensorflow::Operation, TfError> {
            ops::Placeholder::new()
                .dtype(tensorflow::DataType::Float)
                .shape(&[n as i64, n as i64][..])
                .build(&mut scope.with_op_name(name))
                .map_err(TfError::from)
        };
        let pa = input("gpugate_placement/a")?;
        let pb = input("gpugate_placement/b")?;
        let ta = Tensor::new(&dims).with_values(a)?;
        let tb = Tensor::new(&dims).with_values(b)?;
        let product =
            ops::MatMul::new().build(pa.clone(), pb.clone(), &mut scope.with_op_name(NODES[0]))?;
        let relu = ops::Relu::new().build(product, &mut scope.with_op_name(NODES[1]))?;
        let axes = {
            let tensor = Tensor::new(&[2]).with_values(&[0i32, 1])?;
            ops::Const::new()
                .dtype(tensorflow::DataType::Int32)
                .value(tensor)
                .build(&mut scope.with_op_name("gpugate_placement/axes"))?
        };
        let sum = ops::Sum::new().build(relu, axes, &mut scope.with_op_name(NODES[2]))?;

        let mut options = SessionOptions::new();
        options.set_config(&config.encode_to_vec())?;
        let session = Session::new(&options, &scope.graph())?;
        let (value, meta) = super::runtime::run_twice(&session, &[(&pa, &ta), (&pb, &tb)], &sum)?;
        Ok(PlacementRun {
            value: value.first().copied().unwrap_or(f32::NAN),
            ran_on: NODES
                .iter()
                .map(|node| (node.to_string(), meta.devices_of(node)))
                .collect(),
        })
    }
}
