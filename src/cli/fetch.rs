//! `gpugate fetch-tensorflow`: provisions a TensorFlow build into the cache
//! and prints its library's path.

use super::failure::Failure;
use crate::exit::{Ending, Exit};
use crate::host::HostFacts;
use crate::runner;
use crate::tf::cache::{self, Flavor};
use crate::tf::provision;

pub fn fetch_tensorflow(version: &str, gpu: bool, cpu: bool) -> Result<Exit, Failure> {
    let flavor = if gpu {
        Flavor::Gpu
    } else if cpu {
        Flavor::Cpu
    } else {
        runner::flavor_for(&HostFacts::gather(std::path::Path::new("/")))
    };
    super::install_signal_handlers();
    let mut say = |line: &str| eprintln!("{line}");
    let dir = provision::provision(&cache::root(), version, flavor, &mut say).map_err(|e| {
        Failure::provisioning(format!(
            "failed to provision TensorFlow {version} ({}): {e}",
            flavor.word()
        ))
    })?;
    println!("{}", cache::library(&dir).display());
    Ok(Ending::Done.exit())
}
