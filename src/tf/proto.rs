//! The subset of TensorFlow's protos gpugate reads and writes, with field
//! numbers from tensorflow/core/protobuf/config.proto and
//! tensorflow/core/framework/step_stats.proto.

use prost::Message;
use std::collections::HashMap;

#[derive(Clone, PartialEq, Message)]
pub struct ConfigProto {
    /// Most devices of each type the session may create ("GPU": 0 hides them).
    #[prost(map = "string, int32", tag = "1")]
    pub device_count: HashMap<String, i32>,
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
    /// Thread pools of this session's own, rather than the process-wide ones
    /// the first session created.
    #[prost(bool, tag = "9")]
    pub use_per_session_threads: bool,
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
    /// The graphs as partitioned per device, after every rewrite (XLA's
    /// clusters included), in the run metadata.
    #[prost(bool, tag = "5")]
    pub output_partition_graphs: bool,
}

pub const FULL_TRACE: i32 = 3;
/// Step stats without the hardware profiler.
pub const SOFTWARE_TRACE: i32 = 1;

#[derive(Clone, PartialEq, Message)]
pub struct RunMetadata {
    #[prost(message, optional, tag = "1")]
    pub step_stats: Option<StepStats>,
    #[prost(message, repeated, tag = "3")]
    pub partition_graphs: Vec<GraphDef>,
}

#[derive(Clone, PartialEq, Message)]
pub struct GraphDef {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeDef>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NodeDef {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub op: String,
    #[prost(string, tag = "4")]
    pub device: String,
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
    /// Every (node, device) pair the step stats record.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.step_stats
            .iter()
            .flat_map(|s| &s.dev_stats)
            .flat_map(|d| {
                d.node_stats
                    .iter()
                    .map(move |n| (n.node_name.as_str(), d.device.as_str()))
            })
    }

    /// The devices whose step stats name `node`.
    pub fn devices_of(&self, node: &str) -> Vec<String> {
        let mut devices: Vec<String> = self
            .nodes()
            .filter(|(n, _)| *n == node)
            .map(|(_, d)| d.to_string())
            .collect();
        devices.dedup();
        devices
    }
}

/// `CPU:0` from `/job:localhost/replica:0/task:0/device:CPU:0`, and `GPU:0`
/// from the GPU's stream pseudo-devices (`.../device:GPU:0/stream:7`), in
/// upper case, for comparing device names written in different forms.
pub fn short_device(name: &str) -> String {
    let tail = name.rsplit_once("/device:").map_or(name, |(_, t)| t);
    let tail = match name.rsplit_once("/device:") {
        Some(_) => tail.split('/').next().unwrap_or(tail),
        None => tail.trim_start_matches('/'),
    };
    tail.to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_options_encode_as_tensorflow_expects() {
        // The bytes TensorFlow's Python client sends for RunOptions(trace_level=FULL_TRACE).
        assert_eq!(
            RunOptions {
                trace_level: FULL_TRACE,
                output_partition_graphs: false,
            }
            .encode_to_vec(),
            [8, 3]
        );
        // ... and for RunOptions(trace_level=SOFTWARE_TRACE, output_partition_graphs=True).
        assert_eq!(
            RunOptions {
                trace_level: SOFTWARE_TRACE,
                output_partition_graphs: true,
            }
            .encode_to_vec(),
            [8, 1, 40, 1]
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
            partition_graphs: vec![],
        };
        let decoded = RunMetadata::decode(meta.encode_to_vec().as_slice()).unwrap();
        assert_eq!(
            decoded.devices_of("mm"),
            ["/job:localhost/replica:0/task:0/device:GPU:0"]
        );
        assert!(decoded.devices_of("zz").is_empty());
        assert_eq!(decoded.nodes().count(), 2);
    }

    #[test]
    fn device_names_shorten_to_type_and_index() {
        assert_eq!(
            short_device("/job:localhost/replica:0/task:0/device:CPU:0"),
            "CPU:0"
        );
        assert_eq!(short_device("/device:gpu:1"), "GPU:1");
        assert_eq!(
            short_device("/job:localhost/replica:0/task:0/device:GPU:0/stream:7"),
            "GPU:0"
        );
        assert_eq!(short_device("/device:GPU:0/memcpy"), "GPU:0");
    }

    #[test]
    fn config_proto_hides_gpus_in_tensorflows_encoding() {
        // ConfigProto(device_count={"GPU": 0}): a map entry is a nested
        // message whose value 0, the default, may be left out; any protobuf
        // reader, TensorFlow's included, reads the entry back as GPU → 0.
        let config = ConfigProto {
            device_count: HashMap::from([("GPU".to_string(), 0)]),
            ..Default::default()
        };
        let bytes = config.encode_to_vec();
        assert_eq!(bytes, [10, 5, 10, 3, b'G', b'P', b'U']);
        let back = ConfigProto::decode(bytes.as_slice()).unwrap();
        assert_eq!(back.device_count.get("GPU"), Some(&0));
        // Field 9 is use_per_session_threads.
        let threads = ConfigProto {
            use_per_session_threads: true,
            ..Default::default()
        };
        assert_eq!(threads.encode_to_vec(), [72, 1]);
    }
}
