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

/// The ptxas XLA runs is a CUDA 12 one older than 12.6.85 and a GPU has
/// compute capability 9.0 or newer: XLA warns that it miscompiles certain
/// clamping edge cases there, and results can be wrong, not only slow.
pub(super) fn xla_ptxas_miscompiles(e: &Evidence) -> Vec<Finding> {
    let f = e.facts;
    let (Some(x), Some(driver)) = (xla(f), f.driver.found()) else {
        return vec![];
    };
    let Some(version) = x.ptxas_miscompiling_clamps() else {
        return vec![];
    };
    let hopper: Vec<String> = driver
        .gpus
        .iter()
        .filter(|g| g.compute_capability.value().is_some_and(|c| c.major >= 9))
        .map(|g| g.label())
        .collect();
    if hopper.is_empty() {
        return vec![];
    }
    let path = x
        .usable_ptxas()
        .map(|p| p.path.display().to_string())
        .unwrap_or_default();
    let package = nvcc_package(f);
    finding(
        Severity::Warning,
        format!(
            "XLA will assemble kernels for {} with ptxas {version}, which miscompiles certain clamping edge cases on compute capability 9.0 and newer (XLA warns: \"Please upgrade to CUDA 12.6.3 or newer\")",
            hopper.join(", ")
        ),
        format!(
            "install a newer ptxas where XLA finds it first: `python3 -m pip install \"{package}>={}\"`",
            crate::facts::xla::PTXAS_CLAMP_FIXED
        ),
        vec![format!("{path}: version {version}")],
    )
}
