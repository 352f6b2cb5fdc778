//! Keys every check has, whatever its kind.

use serde::{Deserialize, Deserializer, Serialize};
use std::time::Duration;

pub const COMMON_KEYS: &[&str] = &[
    "name",
    "kind",
    "description",
    "timeout",
    "requires",
    "on_missing",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommonSpec {
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Overrides `--timeout` and the kind's default.
    #[serde(default)]
    pub timeout: Option<Timeout>,
    #[serde(default)]
    pub requires: Vec<Requirement>,
    #[serde(default)]
    pub on_missing: OnMissing,
}

/// What the machine must offer for a check to be worth running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Requirement {
    /// The NVIDIA kernel driver is loaded and lists at least one GPU.
    Gpu,
}

impl Requirement {
    pub fn word(self) -> &'static str {
        match self {
            Requirement::Gpu => "gpu",
        }
    }
}

/// What an unmet requirement means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnMissing {
    #[default]
    Fail,
    Skip,
}

/// A duration written as seconds (`30`, `2.5`) or with a unit (`"500ms"`, `"30s"`, `"2m"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeout(pub Duration);

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timeout;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a duration: seconds as a number, or a string like \"500ms\", \"30s\", \"2m\"",
                )
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Timeout, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Timeout, E> {
                seconds(v).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timeout, E> {
                parse_duration(v).map_err(E::custom)
            }
        }
        de.deserialize_any(Visitor)
    }
}

/// The longest timeout a check may ask for; anything longer is a typo.
const MAX_SECONDS: f64 = 24.0 * 3600.0;
/// A shorter timeout cannot even start a process: it would fail every check
/// for a reason that is not the check's.
const MIN_SECONDS: f64 = 0.001;

/// A timeout in seconds, within the bounds every timeout shares (suite
/// keys and `--timeout`, `--probe-timeout`).
pub fn seconds(v: f64) -> Result<Timeout, String> {
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&v) {
        return Err(format!(
            "timeout must be at least 1ms and at most 24h, got {v} seconds"
        ));
    }
    Ok(Timeout(Duration::from_secs_f64(v)))
}

pub fn parse_duration(text: &str) -> Result<Timeout, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| {
        format!("`{text}` is not a duration (write \"500ms\", \"30s\", \"2m\" or \"1h\")")
    })?;
    let factor = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in duration `{text}` (use ms, s, m or h)"
            ));
        }
    };
    seconds(number * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(
            parse_duration("500ms").unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(parse_duration("2m").unwrap().0, Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap().0, Duration::from_secs(7));
        assert!(
            parse_duration("5 fortnights")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_duration("0s").unwrap_err().contains("at least 1ms"));
        assert!(
            parse_duration("0.0000001s")
                .unwrap_err()
                .contains("at least 1ms")
        );
        assert!(parse_duration("100h").unwrap_err().contains("at most 24h"));
    }
}
