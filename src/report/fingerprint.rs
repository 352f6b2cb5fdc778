//! What a compute suite's verdict on this machine depends on, as one hash:
//! the runner hook's full mode runs its suite again whenever it changes.
//! It is taken from what is *there* (the TensorFlow that loads, the
//! libraries the loader resolves, the driver, the GPUs this process may see
//! and the boot), never from a release named with `--for-tensorflow`.

use crate::facts::Facts;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// The hash (hex SHA-256) of the facts a suite's verdict depends on, and of
/// `boot_id` (a reboot resets GPUs and may bring another kernel module).
pub fn fingerprint(facts: &Facts, boot_id: Option<&str>) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "boot {}", boot_id.unwrap_or("unknown"));
    match facts
        .tensorflow
        .load
        .as_ref()
        .and_then(|r| r.loaded.as_ref())
    {
        Some(tf) => {
            let _ = writeln!(text, "tensorflow {} {}", tf.version, tf.path.display());
        }
        None => {
            let _ = writeln!(text, "tensorflow not loaded");
        }
    }
    let _ = writeln!(text, "build {}", facts.tensorflow.build.describe());
    for lib in &facts.libraries {
        match &lib.resolved {
            Some(copy) => {
                let version = copy.version.as_ref().map(|v| v.to_string());
                let _ = writeln!(
                    text,
                    "library {} {} {}",
                    lib.soname,
                    copy.path.display(),
                    version.as_deref().unwrap_or("?")
                );
            }
            None => {
                let _ = writeln!(text, "library {} missing", lib.soname);
            }
        }
    }
    match facts.driver.found() {
        Some(driver) => {
            let _ = writeln!(text, "driver {}", driver.version);
            for gpu in &driver.gpus {
                let uuid = gpu.uuid.value().map_or("unreadable", String::as_str);
                let _ = writeln!(text, "gpu {} {uuid}", gpu.index);
            }
        }
        None => {
            let _ = writeln!(text, "driver {}", facts.driver.why_missing());
        }
    }
    // Which GPUs this process may use: the same machine with another
    // visible set is another verdict.
    for (name, value) in &facts.host.env {
        let _ = writeln!(text, "env {name}={}", value.as_deref().unwrap_or("(unset)"));
    }
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{facts_with_driver, gpu};

    #[test]
    fn what_a_suite_depends_on_changes_the_fingerprint() {
        let facts = facts_with_driver("580.65.06", &[gpu(0, "H100", (9, 0))]);
        let base = fingerprint(&facts, Some("boot-a"));
        assert_eq!(base.len(), 64);
        assert_eq!(base, fingerprint(&facts, Some("boot-a")), "stable");
        assert_ne!(base, fingerprint(&facts, Some("boot-b")), "a reboot");

        let mut visible = facts.clone();
        visible
            .host
            .env
            .push(("CUDA_VISIBLE_DEVICES".into(), Some("1".into())));
        assert_ne!(base, fingerprint(&visible, Some("boot-a")), "visible set");

        let other_driver = facts_with_driver("570.86.15", &[gpu(0, "H100", (9, 0))]);
        assert_ne!(base, fingerprint(&other_driver, Some("boot-a")), "driver");

        let other_gpu = facts_with_driver("580.65.06", &[gpu(1, "H100", (9, 0))]);
        assert_ne!(base, fingerprint(&other_gpu, Some("boot-a")), "GPU");

        let mut loaded = facts.clone();
        loaded.tensorflow.load = Some(crate::tf::LoadReport {
            attempts: vec![],
            loaded: Some(crate::tf::Loaded {
                source: "pip".into(),
                path: "/venv/tensorflow/libtensorflow_cc.so.2".into(),
                version: "2.20.0".into(),
                load_seconds: 0.2,
            }),
        });
        assert_ne!(base, fingerprint(&loaded, Some("boot-a")), "TensorFlow");
    }
}
