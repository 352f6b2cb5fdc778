//! TensorFlow's own log lines, recognised: the worker's stderr while it loads
//! TensorFlow and runs checks is evidence for the diagnoses.

use regex::Regex;
use std::sync::LazyLock;

#[derive(Debug, Clone, PartialEq)]
pub enum LogEvent {
    /// `Could not load dynamic library '<file>'; dlerror: <msg>`
    CouldNotLoad { file: String, error: String },
    /// `Cannot dlopen some GPU libraries. ... Skipping registering GPU devices...`
    SkippedGpuRegistration,
    /// `Could not find cuda drivers on your machine, GPU will not be used.`
    NoCudaDrivers,
    /// `failed call to cuInit: ... <CUDA_ERROR_NAME> ...`
    CuInitFailed { error: String },
    /// `Ignoring visible gpu device (...) with Cuda compute capability X.Y. The minimum required Cuda capability is Z.`
    IgnoredDevice { capability: String, minimum: String },
    /// `TensorFlow was not built with CUDA kernel binaries compatible with compute capability X.Y.`
    PtxJit { capability: String },
    /// `Loaded runtime CuDNN library: X but source was compiled with: Y.`
    CudnnMismatch { loaded: String, compiled: String },
    /// `Created device .../device:GPU:K with M MB memory: -> device: D, name:
    /// N, pci bus id: P, compute capability: C`: a GPU TensorFlow registered.
    CreatedDevice {
        tf_index: u32,
        name: String,
        pci_bus_id: String,
    },
}

/// One recognised line and what it means.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub event: LogEvent,
    /// The line as TensorFlow wrote it (trimmed), to quote as evidence.
    pub text: String,
}

/// A line pattern and how to read its captures.
type Pattern = (Regex, fn(&regex::Captures) -> LogEvent);

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(p).expect("valid regex");
    vec![
        (
            re(r"Could not load dynamic library '([^']+)'; dlerror: (.*)"),
            |c| LogEvent::CouldNotLoad {
                file: c[1].to_string(),
                error: c[2].trim().to_string(),
            },
        ),
        (re(r"Cannot dlopen some GPU libraries"), |_| {
            LogEvent::SkippedGpuRegistration
        }),
        (re(r"Could not find cuda drivers on your machine"), |_| {
            LogEvent::NoCudaDrivers
        }),
        (re(r"failed call to cuInit.*?(CUDA_ERROR_[A-Z_]+)"), |c| {
            LogEvent::CuInitFailed {
                error: c[1].to_string(),
            }
        }),
        (
            re(
                r"Ignoring visible gpu device .*compute capability (\d+\.\d+)\. The minimum required Cuda capability is (\d+\.\d+)",
            ),
            |c| LogEvent::IgnoredDevice {
                capability: c[1].to_string(),
                minimum: c[2].to_string(),
            },
        ),
        (
            re(
                r"not built with CUDA kernel binaries compatible with compute capability (\d+\.\d+)",
            ),
            |c| LogEvent::PtxJit {
                capability: c[1].to_string(),
            },
        ),
        (
            re(
                r"Loaded runtime CuDNN library: (\d+(?:\.\d+)*) but source was compiled with: (\d+(?:\.\d+)*)",
            ),
            |c| LogEvent::CudnnMismatch {
                loaded: c[1].to_string(),
                compiled: c[2].to_string(),
            },
        ),
        (
            re(
                r"Created device \S*/device:GPU:(\d+) with \d+ MB memory:\s*-> device: \d+, name: (.*?), pci bus id: ([0-9A-Fa-f:.]+)",
            ),
            |c| LogEvent::CreatedDevice {
                tf_index: c[1].parse().unwrap_or(u32::MAX),
                name: c[2].to_string(),
                pci_bus_id: c[3].to_string(),
            },
        ),
    ]
});

/// Every recognised line, in order.
pub fn scan(log: &str) -> Vec<LogLine> {
    log.lines()
        .filter_map(|line| {
            PATTERNS.iter().find_map(|(re, make)| {
                re.captures(line).map(|c| LogLine {
                    event: make(&c),
                    text: line.trim().to_string(),
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_tensorflows_lines() {
        let log = "\
2026-11-24 10:00:00.1: W tensorflow/core/common_runtime/gpu/gpu_device.cc:2344] Cannot dlopen some GPU libraries. Please make sure the missing libraries mentioned above are installed properly if you would like to use GPU. Follow the guide at https://www.tensorflow.org/install/gpu for how to download and setup the required libraries for your platform.
Skipping registering GPU devices...
I external/local_xla/xla/stream_executor/cuda/cuda_diagnostics.cc:135] Could not load dynamic library 'libcudnn.so.9'; dlerror: libcudnn.so.9: cannot open shared object file: No such file or directory
E external/local_xla/xla/stream_executor/cuda/cuda_driver.cc:152] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected
I tensorflow/core/common_runtime/gpu/gpu_device.cc:2211] Ignoring visible gpu device (device: 0, name: Tesla K80, pci bus id: 0000:00:04.0, compute capability: 3.7) with Cuda compute capability 3.7. The minimum required Cuda capability is 6.0.
E external/local_xla/xla/stream_executor/cuda/cuda_dnn.cc:522] Loaded runtime CuDNN library: 8.9.7 but source was compiled with: 9.3.0.  CuDNN library needs to have matching major version and equal or higher minor version.
W TensorFlow was not built with CUDA kernel binaries compatible with compute capability 9.0. CUDA kernels will be jit-compiled from PTX, which could take 30 minutes or longer.
I0000 00:00:1732443921.123456   4242 gpu_device.cc:2022] Created device /job:localhost/replica:0/task:0/device:GPU:0 with 78938 MB memory:  -> device: 0, name: NVIDIA H100 80GB HBM3, pci bus id: 0000:00:05.0, compute capability: 9.0
an unrelated line
";
        let events: Vec<LogEvent> = scan(log).into_iter().map(|l| l.event).collect();
        assert_eq!(
            events,
            [
                LogEvent::SkippedGpuRegistration,
                LogEvent::CouldNotLoad {
                    file: "libcudnn.so.9".into(),
                    error:
                        "libcudnn.so.9: cannot open shared object file: No such file or directory"
                            .into()
                },
                LogEvent::CuInitFailed {
                    error: "CUDA_ERROR_NO_DEVICE".into()
                },
                LogEvent::IgnoredDevice {
                    capability: "3.7".into(),
                    minimum: "6.0".into()
                },
                LogEvent::CudnnMismatch {
                    loaded: "8.9.7".into(),
                    compiled: "9.3.0".into()
                },
                LogEvent::PtxJit {
                    capability: "9.0".into()
                },
                LogEvent::CreatedDevice {
                    tf_index: 0,
                    name: "NVIDIA H100 80GB HBM3".into(),
                    pci_bus_id: "0000:00:05.0".into()
                },
            ]
        );
    }
}
