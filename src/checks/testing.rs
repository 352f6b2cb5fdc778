//! Fixtures for the facts-based checks' unit tests.

use crate::compat::{self, Capability};
use crate::facts::build::TfBuild;
use crate::facts::driver::{Driver, DriverProbe, Field, Gpu, Memory};
use crate::facts::{Facts, TfFacts};
use crate::host::HostFacts;
use crate::version::v;
use serde::de::DeserializeOwned;

pub fn spec<T: DeserializeOwned>(toml_text: &str) -> T {
    toml::from_str(toml_text).expect("test spec parses")
}

pub fn gpu(index: u32, name: &str, cc: (u32, u32)) -> Gpu {
    Gpu {
        index,
        name: Field::Value(name.into()),
        uuid: Field::Value(format!("GPU-0000000{index}-test")),
        pci_bus_id: Field::Value(format!("00000000:0{index}:00.0")),
        compute_capability: Field::Value(Capability {
            major: cc.0,
            minor: cc.1,
        }),
        memory: Field::Value(Memory {
            total_mib: 81559,
            free_mib: 81000,
            used_mib: 559,
        }),
        ecc_enabled: Field::Value(true),
        ecc_uncorrected_volatile: Field::Value(0),
        ecc_uncorrected_aggregate: Field::Value(0),
        retired_pages_pending: Field::Value(false),
        remapped_rows: Field::Unsupported,
        persistence_mode: Field::Value(true),
        mig_enabled: Field::Value(false),
        mig_devices: Field::Value(Vec::new()),
        temperature_c: Field::Value(35),
        power_watts: Field::Value(70.0),
        throttle_reasons: Field::Value(vec!["gpu_idle".into()]),
        compute_mode: Field::Value("default".into()),
        unreachable: None,
        processes: Field::Value(vec![]),
        state: crate::facts::gpu_state::GpuState::unsupported(),
    }
}

/// A machine with this driver and GPUs, judged against TensorFlow 2.18's CUDA build.
pub fn facts_with_driver(driver: &str, gpus: &[Gpu]) -> Facts {
    let version = v(driver);
    let host = HostFacts {
        hostname: "runner".into(),
        kernel: "6.8".into(),
        os: "Linux".into(),
        glibc: None,
        cpu_model: None,
        cpu_avx: Some(true),
        wsl: false,
        dev_nodes_denied: Vec::new(),
        process: crate::host::ProcessIds {
            uid: 1000,
            gid: 1000,
        },
        runner: None,
        root: "/".into(),
        container: None,
        nvidia: Ok(crate::host::NvidiaPresence {
            gpus: gpus.len(),
            driver: Some(driver.into()),
        }),
        dev_nodes: vec!["nvidia0".into(), "nvidiactl".into()],
        env: vec![],
        below: crate::host::below::Below::unread(),
        mps: Default::default(),
    };
    Facts {
        host,
        driver: DriverProbe::Found(Driver {
            library: "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1".into(),
            cuda: compat::cuda_of_driver(&version).map_or(Field::Unsupported, Field::Value),
            version,
            nvml_version: Field::Unsupported,
            confidential_computing: Field::Unsupported,
            gpus: gpus.to_vec(),
        }),
        tensorflow: TfFacts {
            build: TfBuild::from_target("2.18.1").expect("table"),
            load: None,
            devices: None,
            log: String::new(),
            loader: None,
            xla: None,
            distributions: Vec::new(),
        },
        libraries: vec![],
        libraries_error: None,
    }
}

/// A library as the probe reports it: found in `dir` at `version`, or (None)
/// not found, with the loader's error.
pub fn library_fact(
    dir: &str,
    soname: &str,
    role: crate::compat::Role,
    version: Option<&str>,
) -> crate::facts::libraries::LibraryFact {
    crate::facts::libraries::LibraryFact {
        role,
        soname: soname.into(),
        resolved: version.map(|ver| crate::facts::libraries::Copy {
            path: format!("{dir}/{soname}").into(),
            version: Some(v(ver)),
        }),
        via: version.map(|_| "loader".into()),
        error: version.is_none().then(|| {
            format!("{soname}: cannot open shared object file: No such file or directory")
        }),
        copies: vec![],
        other_versions: vec![],
        driver_api: None,
        probe_crashed: None,
        missing_parts: vec![],
        foreign_parts: vec![],
        built_for_cuda: None,
    }
}
