//! Throughput baselines: what a GPU model (or CPU model) measured earlier at a
//! given matmul size, so that a nightly run can require a fraction of it.
//! A TOML file of flat entries, written by `gpugate baseline record`.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The most a baseline file may hold: thousands of entries fit in 1 MiB.
const MAX_BASELINE_BYTES: u64 = 1 << 20;

/// Why a baseline file could not be used, naming it.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("failed to read the baseline file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: crate::input::ReadError,
    },
    #[error("failed to parse the baseline file {}: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    /// A floor of a fraction of NaN, zero or less can never be missed.
    #[error(
        "the baseline file {}: entry {number} ({}, size {}, {}) has value {}; a baseline must be a positive number, or no measurement could ever fall short of it",
        path.display(), entry.model, entry.size, entry.measure, entry.value
    )]
    NotPositive {
        path: PathBuf,
        number: usize,
        entry: Entry,
    },
    #[error(
        "the baseline file {} does not exist: record one on this machine with `gpugate baseline record --suite SUITE --out {}`",
        path.display(), path.display()
    )]
    Missing { path: PathBuf },
    #[error("the baseline file {}: {source}", path.display())]
    NotReplaceable {
        path: PathBuf,
        source: crate::files::NotReplaceable,
    },
    #[error("failed to serialize baselines: {0}")]
    Serialize(#[from] toml::ser::Error),
    #[error("failed to write the baseline file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// "NVIDIA H100 80GB HBM3", or "CPU: " and the model name.
    pub model: String,
    /// The matmul size the figure was measured at (0 for copies).
    pub size: usize,
    /// `float32_tflops`, `float16_tflops`, `bfloat16_tflops`, `h2d_gbps`.
    pub measure: String,
    pub value: f64,
    /// When and by which gpugate it was recorded.
    #[serde(default)]
    pub recorded: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baselines {
    #[serde(default, rename = "baseline")]
    pub entries: Vec<Entry>,
}

impl Baselines {
    pub fn load(path: &Path) -> Result<Baselines, BaselineError> {
        let text = crate::input::read_text(path, MAX_BASELINE_BYTES).map_err(|source| {
            BaselineError::Read {
                path: path.to_path_buf(),
                source,
            }
        })?;
        let baselines: Baselines =
            toml::from_str(&text).map_err(|source| BaselineError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        if let Some((i, e)) = baselines
            .entries
            .iter()
            .enumerate()
            .find(|(_, e)| !(e.value.is_finite() && e.value > 0.0))
        {
            return Err(BaselineError::NotPositive {
                path: path.to_path_buf(),
                number: i + 1,
                entry: e.clone(),
            });
        }
        Ok(baselines)
    }

    /// A missing file is an empty set, for recording into a new file.
    pub fn load_or_empty(path: &Path) -> Result<Baselines, BaselineError> {
        if path.exists() {
            Self::load(path)
        } else {
            Ok(Baselines::default())
        }
    }

    pub fn find(&self, model: &str, size: usize, measure: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.model == model && e.size == size && e.measure == measure)
    }

    /// Adds or replaces the entry for the same model, size and measure.
    pub fn upsert(&mut self, entry: Entry) {
        match self
            .entries
            .iter_mut()
            .find(|e| e.model == entry.model && e.size == entry.size && e.measure == entry.measure)
        {
            Some(existing) => *existing = entry,
            None => self.entries.push(entry),
        }
    }

    /// Writes to a temporary file beside `path`, then renames it over.
    pub fn save(&self, path: &Path) -> Result<(), BaselineError> {
        let text = format!(
            "# Throughput baselines, recorded by `gpugate baseline record`.\n{}",
            toml::to_string(self)?
        );
        crate::files::write_atomic(path, text.as_bytes()).map_err(|source| BaselineError::Write {
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(model: &str, measure: &str, value: f64) -> Entry {
        Entry {
            model: model.into(),
            size: 8192,
            measure: measure.into(),
            value,
            recorded: String::new(),
        }
    }

    #[test]
    fn upsert_replaces_the_same_key_and_keeps_others() {
        let mut b = Baselines::default();
        b.upsert(entry("H100", "float32_tflops", 300.0));
        b.upsert(entry("H100", "float16_tflops", 600.0));
        b.upsert(entry("H100", "float32_tflops", 310.0));
        b.upsert(entry("A100", "float32_tflops", 150.0));
        assert_eq!(b.entries.len(), 3);
        assert_eq!(b.find("H100", 8192, "float32_tflops").unwrap().value, 310.0);
        assert!(b.find("H100", 4096, "float32_tflops").is_none());
    }

    #[test]
    fn files_round_trip_and_bad_ones_name_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/baseline.toml");
        assert_eq!(
            Baselines::load_or_empty(&path).unwrap(),
            Baselines::default()
        );
        let mut b = Baselines::default();
        b.upsert(entry("CPU: Xeon", "float32_tflops", 0.2));
        b.save(&path).unwrap();
        assert_eq!(Baselines::load(&path).unwrap(), b);
        std::fs::write(&path, "[[baseline]]\nmodel = 1\n").unwrap();
        let e = Baselines::load(&path).unwrap_err();
        assert!(matches!(e, BaselineError::Parse { .. }), "{e}");
        let e = e.to_string();
        assert!(e.contains("baseline.toml") && e.contains("model"), "{e}");
    }

    #[test]
    fn a_baseline_that_can_never_be_missed_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.toml");
        for value in ["nan", "0.0", "-1.5", "-inf", "inf"] {
            std::fs::write(
                &path,
                format!("[[baseline]]\nmodel = \"H100\"\nsize = 4096\nmeasure = \"float32_tflops\"\nvalue = {value}\n"),
            )
            .unwrap();
            let err = Baselines::load(&path).unwrap_err().to_string();
            assert!(
                err.contains("entry 1 (H100, size 4096, float32_tflops)"),
                "{value}: {err}"
            );
        }
        std::fs::write(
            &path,
            "[[baseline]]\nmodel = \"H100\"\nsize = 4096\nmeasure = \"float32_tflops\"\nvalue = 51.2\n",
        )
        .unwrap();
        assert_eq!(Baselines::load(&path).unwrap().entries.len(), 1);
    }
}
