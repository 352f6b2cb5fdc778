//! Dotted version numbers as NVIDIA and TensorFlow write them (535.104.05,
//! 12.5.1, 2.19.0-rc1), compared part by part as numbers.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// Numeric parts, compared with missing parts as 0 ("12.5" == "12.5.0").
/// The text is kept as written, so "535.104.05" prints with its zero.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Version {
    parts: Vec<u64>,
    text: String,
}

impl Version {
    /// Reads "535.104.05", "12.5", "2.19.0-rc1" (pre-release and build
    /// suffixes are ignored in comparisons).
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim();
        let core = text.split(['-', '+', ' ']).next()?;
        let parts: Option<Vec<u64>> = core.split('.').map(|p| p.parse().ok()).collect();
        let parts = parts.filter(|p| !p.is_empty())?;
        Some(Version {
            parts,
            text: text.to_string(),
        })
    }

    pub fn from_parts(parts: &[u64]) -> Version {
        Version {
            parts: parts.to_vec(),
            text: parts
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join("."),
        }
    }

    /// CUDA's encoding, 1000×major + 10×minor (12050 → 12.5); also the driver
    /// API's and NVML's. None for 0, which means "no driver".
    pub fn from_cuda_int(value: i64) -> Option<Version> {
        (value > 0)
            .then(|| Version::from_parts(&[(value / 1000) as u64, ((value % 1000) / 10) as u64]))
    }

    pub fn major(&self) -> u64 {
        self.parts[0]
    }

    pub fn minor(&self) -> u64 {
        self.parts.get(1).copied().unwrap_or(0)
    }

    /// The first `n` parts ("12.5.1" → "12.5" for n = 2).
    pub fn truncate(&self, n: usize) -> Version {
        Version::from_parts(&self.parts[..n.min(self.parts.len())])
    }

    fn part(&self, i: usize) -> u64 {
        self.parts.get(i).copied().unwrap_or(0)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.parts.len().max(other.parts.len());
        (0..len)
            .map(|i| self.part(i).cmp(&other.part(i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<Version> for String {
    fn from(v: Version) -> String {
        v.text
    }
}

impl TryFrom<String> for Version {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Version::parse(&text).ok_or_else(|| format!("`{text}` is not a version like 535.104.05"))
    }
}

/// Parses a version literal known to be valid (tables in this crate).
pub fn v(text: &str) -> Version {
    Version::parse(text).unwrap_or_else(|| panic!("bad version literal {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_part_by_part_as_numbers() {
        assert!(v("535.104.05") > v("535.54.03"));
        assert!(v("535.104.05") < v("535.129"));
        assert!(v("9.3.0") > v("9.1"));
        assert!(v("2.9.1") < v("2.15"));
        assert!(v("2.18") < v("2.18.1"));
        assert_eq!(v("12.5"), v("12.5.0"));
        assert_eq!(v("2.19.0-rc1"), v("2.19"));
        assert_eq!(v("535.104.05").to_string(), "535.104.05");
        assert!(Version::parse("five").is_none());
        assert!(Version::parse("").is_none());
    }

    #[test]
    fn reads_cuda_encodings() {
        assert_eq!(Version::from_cuda_int(12040).unwrap().to_string(), "12.4");
        assert_eq!(Version::from_cuda_int(11020).unwrap().to_string(), "11.2");
        assert!(Version::from_cuda_int(0).is_none());
        assert_eq!(v("12.5.1").truncate(2).to_string(), "12.5");
    }
}
