//! A GPU's own state as NVIDIA's health tools read it (DCGM's health
//! watches and software plugin, gpud, NVSentinel): the InfoROM, retired
//! pages, the recovery action the driver asks for, the PCIe link, NVLink,
//! the NVSwitch fabric, temperature limits, and what a virtual machine's
//! GPU is. Each is read once, as it is now; what those tools judge as a rate
//! over a minute (PCIe replays, NVLink error counters) is not read.

use super::field::Field;
use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::{
    GpuVirtualizationMode, RetirementCause, TemperatureThreshold,
};
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::structs::device::FieldId;
use serde::{Deserialize, Serialize};

/// NVML's `NVML_FI_DEV_GET_GPU_RECOVERY_ACTION` field (drivers 570 on).
const RECOVERY_ACTION_FIELD: u32 = 230;
/// `NVML_NVLINK_MAX_LINKS` in NVML 13 (18 in 12): the loop ends at a GPU's
/// last link anyway.
const MAX_NVLINKS: u32 = 36;
/// NVML_SUCCESS and NVML_ERROR_NOT_SUPPORTED.
const NVML_SUCCESS: u32 = 0;
const NVML_NOT_SUPPORTED: u32 = 3;
/// DCGM's window for double-bit retirements (`DCGM_FR_RETIRED_PAGES_DBE_LIMIT`).
const WEEK_SECONDS: u64 = 7 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuState {
    /// `nvmlDeviceValidateInforom`: false where NVML answers
    /// NVML_ERROR_CORRUPTED_INFOROM.
    pub inforom_valid: Field<bool>,
    pub retired_pages: Field<RetiredPages>,
    /// `NVML_FI_DEV_GET_GPU_RECOVERY_ACTION`: `none`, `gpu_reset`,
    /// `node_reboot`, `drain_p2p`, `drain_and_reset`, `recover_imex_domain`.
    pub recovery_action: Field<String>,
    pub pcie_link: Field<PcieLink>,
    /// Each NVLink's state, in link order (true: active), up to the first
    /// link NVML does not have.
    pub nvlinks: Field<Vec<bool>>,
    pub fabric: Field<Fabric>,
    pub temperature_limits: Field<TemperatureLimits>,
    /// `nvmlDeviceGetVirtualizationMode`: `none`, `passthrough`, `vgpu`,
    /// `host_vgpu`, `host_vsga`.
    pub virtualization: Field<String>,
    /// A vGPU guest's licence, from `nvmlDeviceGetGridLicensableFeatures_v4`.
    pub vgpu_licensed: Field<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredPages {
    pub single_bit: u32,
    pub double_bit: u32,
    /// Double-bit retirements in the week before the probe.
    pub double_bit_last_week: u32,
}

impl RetiredPages {
    pub fn total(&self) -> u32 {
        self.single_bit + self.double_bit
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PcieLink {
    pub generation: u32,
    pub max_generation: u32,
    pub width: u32,
    pub max_width: u32,
}

/// `nvmlDeviceGetGpuFabricInfo`: the GPU's registration with the NVSwitch
/// fabric (NVIDIA Fabric Manager).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fabric {
    /// `not_supported`, `not_started`, `in_progress`, `completed`.
    pub state: String,
    /// NVML's return code for the registration (0: success) and its words.
    pub status_code: u32,
    pub status: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemperatureLimits {
    /// The GPU's maximum operating temperature (`GPU_MAX`), else its
    /// slowdown temperature, as DCGM falls back.
    pub max_operating_c: u32,
    pub slowdown_c: Option<u32>,
}

impl GpuState {
    /// Nothing could be read: the GPU has no handle.
    pub fn unreadable(why: &str) -> GpuState {
        GpuState::every(Some(why))
    }

    /// Not read (a GPU built by hand, in tests): every field unsupported.
    pub fn unsupported() -> GpuState {
        GpuState::every(None)
    }

    fn every(error: Option<&str>) -> GpuState {
        fn field<T>(error: Option<&str>) -> Field<T> {
            error.map_or(Field::Unsupported, |e| Field::Error(e.to_string()))
        }
        GpuState {
            inforom_valid: field(error),
            retired_pages: field(error),
            recovery_action: field(error),
            pcie_link: field(error),
            nvlinks: field(error),
            fabric: field(error),
            temperature_limits: field(error),
            virtualization: field(error),
            vgpu_licensed: field(error),
        }
    }
}

pub fn read(nvml: &Nvml, device: &nvml_wrapper::Device) -> GpuState {
    let virtualization = Field::from_nvml(device.virtualization_mode().map(|m| {
        match m {
            GpuVirtualizationMode::Bare => "none",
            GpuVirtualizationMode::PassThrough => "passthrough",
            GpuVirtualizationMode::Vgpu => "vgpu",
            GpuVirtualizationMode::HostVgpu => "host_vgpu",
            GpuVirtualizationMode::HostVsga => "host_vsga",
        }
        .to_string()
    }));
    let vgpu_licensed = match virtualization.value().map(String::as_str) {
        Some("vgpu") => vgpu_licence(nvml, device),
        _ => Field::Unsupported,
    };
    GpuState {
        inforom_valid: match device.validate_info_rom() {
            Ok(()) => Field::Value(true),
            Err(NvmlError::CorruptedInfoROM) => Field::Value(false),
            Err(e) => Field::from_nvml(Err(e)),
        },
        retired_pages: retired_pages(device),
        recovery_action: recovery_action(device),
        pcie_link: pcie_link(device),
        nvlinks: nvlinks(device),
        fabric: fabric(nvml, device),
        temperature_limits: temperature_limits(device),
        virtualization,
        vgpu_licensed,
    }
}

fn retired_pages(device: &nvml_wrapper::Device) -> Field<RetiredPages> {
    let single = device.retired_pages(RetirementCause::MultipleSingleBitEccErrors);
    let double = device.retired_pages(RetirementCause::DoubleBitEccError);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Field::from_nvml(single.and_then(|single| {
        let double = double?;
        Ok(RetiredPages {
            single_bit: single.len() as u32,
            double_bit: double.len() as u32,
            double_bit_last_week: double
                .iter()
                .filter(|p| now.saturating_sub(epoch_seconds(p.timestamp)) < WEEK_SECONDS)
                .count() as u32,
        })
    }))
}

/// nvml.h gives no unit for a retirement's timestamp; NVML's other
/// timestamps are microseconds. A value past the year 33658 in seconds is
/// taken as microseconds.
fn epoch_seconds(timestamp: u64) -> u64 {
    if timestamp > 1_000_000_000_000 {
        timestamp / 1_000_000
    } else {
        timestamp
    }
}

fn recovery_action(device: &nvml_wrapper::Device) -> Field<String> {
    use nvml_wrapper::enums::device::SampleValue;
    let value = device
        .field_values_for(&[FieldId(RECOVERY_ACTION_FIELD)])
        .and_then(|mut samples| samples.pop().unwrap_or(Err(NvmlError::NotSupported)))
        .and_then(|sample| sample.value)
        // A driver older than the field may call it an invalid argument.
        .map_err(|e| match e {
            NvmlError::InvalidArg => NvmlError::NotSupported,
            e => e,
        });
    Field::from_nvml(value.map(|value| {
        let code = match value {
            SampleValue::U32(v) => u64::from(v),
            SampleValue::U64(v) => v,
            SampleValue::I64(v) => v as u64,
            SampleValue::F64(v) => v as u64,
        };
        match code {
            0 => "none".to_string(),
            1 => "gpu_reset".to_string(),
            2 => "node_reboot".to_string(),
            3 => "drain_p2p".to_string(),
            4 => "drain_and_reset".to_string(),
            5 => "recover_imex_domain".to_string(),
            other => format!("unknown ({other})"),
        }
    }))
}

fn pcie_link(device: &nvml_wrapper::Device) -> Field<PcieLink> {
    Field::from_nvml((|| {
        Ok(PcieLink {
            generation: device.current_pcie_link_gen()?,
            max_generation: device.max_pcie_link_gen()?,
            width: device.current_pcie_link_width()?,
            max_width: device.max_pcie_link_width()?,
        })
    })())
}

fn nvlinks(device: &nvml_wrapper::Device) -> Field<Vec<bool>> {
    let mut links = Vec::new();
    for link in 0..MAX_NVLINKS {
        match device.link_wrapper_for(link).is_active() {
            Ok(active) => links.push(active),
            // Past the GPU's last link, or a GPU without NVLink.
            Err(NvmlError::InvalidArg | NvmlError::NotSupported) => break,
            Err(e) => return Field::from_nvml(Err(e)),
        }
    }
    if links.is_empty() {
        Field::Unsupported
    } else {
        Field::Value(links)
    }
}

fn fabric(nvml: &Nvml, device: &nvml_wrapper::Device) -> Field<Fabric> {
    // nvml-wrapper has no call for it; the raw symbol is optional (drivers
    // before 525 lack it).
    let Ok(sym) = nvml.lib().nvmlDeviceGetGpuFabricInfo.as_ref() else {
        return Field::Unsupported;
    };
    let mut info = FabricInfo::default();
    // SAFETY: a valid device handle and an out-struct of NVML's layout.
    let rc = unsafe { sym(device.handle(), (&raw mut info).cast()) };
    match rc {
        NVML_SUCCESS => {
            let state = match info.state {
                0 => "not_supported".to_string(),
                1 => "not_started".to_string(),
                2 => "in_progress".to_string(),
                3 => "completed".to_string(),
                other => format!("unknown ({other})"),
            };
            if state == "not_supported" {
                return Field::Unsupported;
            }
            Field::Value(Fabric {
                state,
                status_code: info.status,
                status: nvml_words(info.status),
            })
        }
        NVML_NOT_SUPPORTED => Field::Unsupported,
        code => Field::Error(format!(
            "nvmlDeviceGetGpuFabricInfo returned {code} ({})",
            nvml_words(code)
        )),
    }
}

/// `nvmlGpuFabricInfo_t`, as nvml.h lays it out.
#[repr(C)]
#[derive(Default)]
struct FabricInfo {
    _cluster_uuid: [u8; 16],
    status: u32,
    _clique_id: u32,
    state: u8,
}

/// `nvmlGridLicensableFeatures_t` (v4), as nvml.h lays it out.
#[repr(C)]
struct LicensableFeatures {
    _supported: i32,
    count: u32,
    features: [LicensableFeature; 3],
}

#[repr(C)]
struct LicensableFeature {
    code: u32,
    state: u32,
    _licence_info: [std::os::raw::c_char; 128],
    _product_name: [std::os::raw::c_char; 128],
    enabled: u32,
    _expiry: LicenceExpiry,
}

#[repr(C)]
struct LicenceExpiry {
    _year: u32,
    _month: u16,
    _day: u16,
    _hour: u16,
    _min: u16,
    _sec: u16,
    _status: u8,
}

/// `nvmlConfComputeSystemState_t`, as nvml.h lays it out.
#[repr(C)]
#[derive(Default)]
struct ConfComputeState {
    environment: u32,
    feature: u32,
    _dev_tools_mode: u32,
}

/// NVML's own words for a return code, or the code where it has none.
fn nvml_words(code: u32) -> String {
    super::field::nvml_error_string(code).unwrap_or_else(|| format!("NVML return code {code}"))
}

fn temperature_limits(device: &nvml_wrapper::Device) -> Field<TemperatureLimits> {
    // A threshold of 0 °C is no threshold: a board that answers so has none.
    let threshold = |kind| match device.temperature_threshold(kind) {
        Ok(0) => Err(NvmlError::NotSupported),
        other => other,
    };
    let slowdown = threshold(TemperatureThreshold::Slowdown).ok();
    match threshold(TemperatureThreshold::GpuMax) {
        Ok(max) => Field::Value(TemperatureLimits {
            max_operating_c: max,
            slowdown_c: slowdown,
        }),
        Err(e) => match slowdown {
            Some(s) => Field::Value(TemperatureLimits {
                max_operating_c: s,
                slowdown_c: Some(s),
            }),
            None => Field::from_nvml(Err(e)),
        },
    }
}

/// A vGPU guest's licence: the vGPU feature's `featureState` (1: licensed).
fn vgpu_licence(nvml: &Nvml, device: &nvml_wrapper::Device) -> Field<bool> {
    let Ok(sym) = nvml.lib().nvmlDeviceGetGridLicensableFeatures_v4.as_ref() else {
        return Field::Unsupported;
    };
    // SAFETY: all-zero bytes are a valid value of this plain C struct.
    let mut features: LicensableFeatures = unsafe { std::mem::zeroed() };
    // SAFETY: a valid device handle and an out-struct of NVML's layout.
    let rc = unsafe { sym(device.handle(), (&raw mut features).cast()) };
    match rc {
        NVML_SUCCESS => {
            let count = (features.count as usize).min(features.features.len());
            // The enabled feature is the guest's own: VGPU, or COMPUTE for
            // a C-series (Virtual Compute Server) profile; nvml.h:
            // `featureState` "non-zero if feature is currently licensed".
            let enabled = features.features[..count].iter().find(|f| f.enabled != 0);
            match enabled {
                Some(feature) => Field::Value(feature.state != 0),
                None => Field::Unsupported,
            }
        }
        NVML_NOT_SUPPORTED => Field::Unsupported,
        code => Field::Error(format!(
            "nvmlDeviceGetGridLicensableFeatures_v4 returned {code} ({})",
            nvml_words(code)
        )),
    }
}

/// Confidential computing, system-wide: whether it is on, and whether the
/// GPUs accept work (the ready state an attestation sets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfidentialComputing {
    pub enabled: bool,
    /// `production`, `simulation` or `unavailable`.
    pub environment: String,
    /// NVML_CC_ACCEPTING_CLIENT_REQUESTS_TRUE.
    pub gpus_ready: bool,
}

pub fn confidential_computing(nvml: &Nvml) -> Field<ConfidentialComputing> {
    let lib = nvml.lib();
    let (Ok(state), Ok(ready)) = (
        lib.nvmlSystemGetConfComputeState.as_ref(),
        lib.nvmlSystemGetConfComputeGpusReadyState.as_ref(),
    ) else {
        return Field::Unsupported;
    };
    // SAFETY: out-pointers of NVML's types, as NVML documents both calls.
    unsafe {
        let mut cc = ConfComputeState::default();
        match state((&raw mut cc).cast()) {
            NVML_SUCCESS => {}
            NVML_NOT_SUPPORTED => return Field::Unsupported,
            code => {
                return Field::Error(format!(
                    "nvmlSystemGetConfComputeState returned {code} ({})",
                    nvml_words(code)
                ));
            }
        }
        // NVML_CC_SYSTEM_FEATURE_ENABLED = 1.
        let enabled = cc.feature == 1;
        let environment = match cc.environment {
            1 => "simulation",
            2 => "production",
            _ => "unavailable",
        }
        .to_string();
        let mut accepting: std::os::raw::c_uint = 0;
        let gpus_ready = match ready(&mut accepting) {
            NVML_SUCCESS => accepting == 1,
            // Where CC is off the ready state means nothing.
            _ if !enabled => false,
            code => {
                return Field::Error(format!(
                    "nvmlSystemGetConfComputeGpusReadyState returned {code} ({})",
                    nvml_words(code)
                ));
            }
        };
        Field::Value(ConfidentialComputing {
            enabled,
            environment,
            gpus_ready,
        })
    }
}
