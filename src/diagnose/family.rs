//! Families of causes. A rule belongs to one; a check kind names the
//! families that can explain its failure (`checks::Kind::explained_by`).
//! Neither side names the other: the rules never name check kinds, and a
//! new family or kind is a compile error until it is placed.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// The driver, NVML, CUDA's init or the device nodes cannot be reached.
    Driver,
    /// The environment hides the GPUs from CUDA (`CUDA_VISIBLE_DEVICES`).
    DeviceVisibility,
    /// The driver is older than the build's CUDA needs.
    DriverTooOld,
    /// The driver is covered only by CUDA's minor-version compatibility.
    DriverCompatibility,
    /// A CUDA library the build needs is missing.
    CudaLibrary,
    /// cuDNN is missing or of the wrong major version.
    Cudnn,
    /// cuDNN is older, within its major version, than the build expects.
    CudnnMinor,
    /// Another copy of a library is loaded before the one the build needs.
    LibraryShadowed,
    /// The GPU's architecture is one the build cannot run on.
    ComputeCapability,
    /// The GPU runs the build only through PTX JIT compilation.
    PtxJit,
    /// The TensorFlow build has no CUDA support, or is not one build (two
    /// distributions installed over one directory).
    CpuOnlyBuild,
    /// TensorFlow registered no GPU and ran on the CPU.
    CpuFallback,
    /// TensorFlow loads but cannot create a session.
    TensorflowSession,
    /// The TensorFlow found or named does not load at all.
    TensorflowLoad,
    /// The GPU reports faults, is out of reach, or is configured in a way
    /// that slows it or refuses the job's CUDA context.
    GpuHealth,
    /// Other processes hold the GPU.
    GpuBusy,
    /// A GPU in MIG mode offers CUDA no MIG device.
    Mig,
    /// The host CPU lacks what the build requires.
    HostCpu,
    /// The host's C library or C++ runtime is older than the build needs.
    HostRuntime,
    /// XLA cannot compile for the GPU: `ptxas` or libdevice is missing or
    /// of a version XLA refuses.
    Xla,
}

impl Family {
    /// Every family, for the tests that keep rules, kinds and docs in step.
    pub const ALL: &[Family] = &[
        Family::Driver,
        Family::DeviceVisibility,
        Family::DriverTooOld,
        Family::DriverCompatibility,
        Family::CudaLibrary,
        Family::Cudnn,
        Family::CudnnMinor,
        Family::LibraryShadowed,
        Family::ComputeCapability,
        Family::PtxJit,
        Family::CpuOnlyBuild,
        Family::CpuFallback,
        Family::TensorflowSession,
        Family::TensorflowLoad,
        Family::GpuHealth,
        Family::GpuBusy,
        Family::Mig,
        Family::HostCpu,
        Family::HostRuntime,
        Family::Xla,
    ];

    /// Whether the family only informs: its cause slows the GPU (PTX JIT)
    /// or shares it (other processes), but never stops TensorFlow from
    /// computing on it. Every other family can explain a failed compute
    /// check, so a new family explains them until it is said to inform.
    pub const fn informational(self) -> bool {
        matches!(self, Family::PtxJit | Family::GpuBusy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_family_once() {
        // A match without a catch-all: a new family breaks this until ALL has it.
        let index = |f: &Family| match f {
            Family::Driver => 0,
            Family::DeviceVisibility => 1,
            Family::DriverTooOld => 2,
            Family::DriverCompatibility => 3,
            Family::CudaLibrary => 4,
            Family::Cudnn => 5,
            Family::CudnnMinor => 6,
            Family::LibraryShadowed => 7,
            Family::ComputeCapability => 8,
            Family::PtxJit => 9,
            Family::CpuOnlyBuild => 10,
            Family::CpuFallback => 11,
            Family::TensorflowSession => 12,
            Family::TensorflowLoad => 13,
            Family::GpuHealth => 14,
            Family::GpuBusy => 15,
            Family::Mig => 16,
            Family::HostCpu => 17,
            Family::HostRuntime => 18,
            Family::Xla => 19,
        };
        let indices: Vec<usize> = Family::ALL.iter().map(index).collect();
        assert_eq!(indices, (0..20).collect::<Vec<_>>());
    }
}
