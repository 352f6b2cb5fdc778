//! The subset of TensorFlow's protos gpugate reads and writes, with field
//! numbers from tensorflow/core/protobuf/config.proto and
//! tensorflow/core/framework/step_stats.proto.

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct ConfigProto {
    #[prost(int32, tag = "2")]
    pub intra_op_parallelism_threads: i32,
    #[prost(int32, tag = "5")]
    pub inter_op_parallelism_threads: i32,
    #[prost(message, optional, tag = "6")]
    pub gpu_options: Option<GpuOptions>,
    #[prost(bool, tag = "7")]
    pub allow_soft_placement: bool,
    #[prost(bool, tag = "8")]
    pub log_device_placement: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct GpuOptions {
    #[prost(double, tag = "1")]
    pub per_process_gpu_memory_fraction: f64,
    #[prost(bool, tag = "4")]
    pub allow_growth: bool,
    #[prost(string, tag = "5")]
    pub visible_device_list: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct RunOptions {
    /// 3 = FULL_TRACE, which makes the run record per-node step stats.
    #[prost(int32, tag = "1")]
    pub trace_level: i32,
}

pub const FULL_TRACE: i32 = 3;

#[derive(Clone, PartialEq, Message)]
pub struct RunMetadata {
    #[prost(message, optional, tag = "1")]
    pub step_stats: Option<StepStats>,
}

#[derive(Clone, PartialEq, Message)]
pub struct StepStats {
    #[prost(message, repeated, tag = "1")]
    pub dev_stats: Vec<DeviceStepStats>,
}

#[derive(Clone, PartialEq, Message)]
pub struct DeviceStepStats {
    #[prost(string, tag = "1")]
    pub device: String,
    #[prost(message, repeated, tag = "2")]
    pub node_stats: Vec<NodeExecStats>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NodeExecStats {
    #[prost(string, tag = "1")]
    pub node_name: String,
}

impl RunMetadata {
    /// The devices whose step stats name `node`.
    pub fn devices_of(&self, node: &str) -> Vec<String> {
        self.step_stats
            .iter()
            .flat_map(|s| &s.dev_stats)
            .filter(|d| d.node_stats.iter().any(|n| n.node_name == node))
            .map(|d| d.device.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_options_encode_as_tensorflow_expects() {
        // The bytes TensorFlow's Python client sends for RunOptions(trace_level=FULL_TRACE).
        assert_eq!(
            RunOptions {
                trace_level: FULL_TRACE
            }
            .encode_to_vec(),
            [8, 3]
        );
    }

    #[test]
    fn devices_are_read_from_step_stats() {
        let meta = RunMetadata {
            step_stats: Some(StepStats {
                dev_stats: vec![
                    DeviceStepStats {
                        device: "/job:localhost/replica:0/task:0/device:CPU:0".into(),
                        node_stats: vec![NodeExecStats {
                            node_name: "a".into(),
                        }],
                    },
                    DeviceStepStats {
                        device: "/job:localhost/replica:0/task:0/device:GPU:0".into(),
                        node_stats: vec![NodeExecStats {
                            node_name: "mm".into(),
                        }],
                    },
                ],
            }),
        };
        let decoded = RunMetadata::decode(meta.encode_to_vec().as_slice()).unwrap();
        assert_eq!(
            decoded.devices_of("mm"),
            ["/job:localhost/replica:0/task:0/device:GPU:0"]
        );
        assert!(decoded.devices_of("zz").is_empty());
    }
}
