//! Rules of the `Xla` family: what XLA needs to compile for a GPU, which
//! every Keras 3 fit uses there (`jit_compile="auto"`), and which a graph
//! without XLA never touches.

use super::*;
use crate::facts::xla::XlaFacts;

fn xla(f: &Facts) -> Option<&XlaFacts> {
    f.tensorflow.xla.as_ref()
}

/// `nvidia-cuda-nvcc-cu12`, for the build's CUDA major (12 when unstated).
fn nvcc_package(f: &Facts) -> String {
    let major = f.tensorflow.build.cuda.as_ref().map_or(12, Version::major);
    format!("nvidia-cuda-nvcc-cu{major}")
}

fn searched(x: &XlaFacts) -> String {
    format!(
        "searched: {}",
        x.roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn skipped_path(x: &XlaFacts) -> Option<String> {
    (!x.path_skipped.is_empty()).then(|| {
        format!(
            "PATH elements naming the working directory, not searched: {:?}",
            x.path_skipped
        )
    })
}

/// No ptxas XLA would run: XLA cannot assemble a kernel, and every fit that
/// XLA compiles fails ("Couldn't find a suitable version of ptxas", "No PTX
/// compilation provider is available").
pub(super) fn xla_ptxas_missing(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(x) = xla(f) else {
        return vec![];
    };
    if x.usable_ptxas().is_some() {
        return vec![];
    }
    let mut evidence: Vec<String> = x
        .ptxas
        .iter()
        .map(|p| {
            format!(
                "{}: {}",
                p.path.display(),
                p.refused.as_deref().unwrap_or("usable")
            )
        })
        .collect();
    if x.ptxas.is_empty() {
        evidence.push(
            "no ptxas in XLA_FLAGS' --xla_gpu_cuda_data_dir, on PATH or in a CUDA root".into(),
        );
    }
    evidence.push(searched(x));
    evidence.extend(skipped_path(x));
    let package = nvcc_package(f);
    finding(
        Severity::Error,
        if x.ptxas.is_empty() {
            "XLA finds no ptxas: every graph XLA compiles for the GPU (each Keras 3 fit, `jit_compile=True`) fails with \"Couldn't find a suitable version of ptxas\" or \"No PTX compilation provider is available\"".into()
        } else {
            "XLA refuses every ptxas it finds: every graph XLA compiles for the GPU (each Keras 3 fit) fails with \"Couldn't find a suitable version of ptxas\"".into()
        },
        format!(
            "install `{package}` into TensorFlow's environment (`python3 -m pip install \"{package}>=12.6.85\"`; `tensorflow[and-cuda]` includes it), or point XLA at a CUDA toolkit that has `bin/ptxas` and `nvvm/libdevice` (`XLA_FLAGS=--xla_gpu_cuda_data_dir=/usr/local/cuda-12.9`)"
        ),
        evidence,
    )
}

/// No libdevice where XLA looks: it falls back to `./libdevice.10.bc` and
/// any kernel with a math call (exp, tanh, pow) fails ("libdevice not
/// found at ./libdevice.10.bc").
pub(super) fn xla_libdevice_missing(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let Some(x) = xla(f).filter(|x| x.libdevice.is_none()) else {
        return vec![];
    };
    let package = nvcc_package(f);
    let mut evidence = vec![
        format!("no nvvm/libdevice/libdevice.10.bc under any CUDA root XLA searches"),
        searched(x),
    ];
    evidence.extend(skipped_path(x));
    finding(
        Severity::Error,
        "XLA finds no libdevice (\"Can't find libdevice directory ${CUDA_DIR}/nvvm/libdevice\"): graphs XLA compiles for the GPU that call exp, tanh or other math functions fail with \"libdevice not found at ./libdevice.10.bc\"".into(),
        format!(
            "install `{package}` into TensorFlow's environment (`python3 -m pip install \"{package}>=12.6.85\"`), or set `XLA_FLAGS=--xla_gpu_cuda_data_dir=DIR` to a CUDA toolkit whose `nvvm/libdevice/libdevice.10.bc` exists"
        ),
        evidence,
    )
}
