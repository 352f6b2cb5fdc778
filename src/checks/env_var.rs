//! `env.var`: an environment variable is present, absent, equal to a value or
//! matching a pattern (for example that CUDA_VISIBLE_DEVICES hides no GPU).

use crate::checks::Invalid;
use crate::checks::kind::{Execution, InParent, Kind};
use crate::diagnose::Family;

use super::Pattern;
use crate::outcome::Verdict;
use crate::redact::shown_value;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub var: String,
    /// The variable must not be set.
    #[serde(default)]
    pub absent: bool,
    #[serde(default)]
    pub equals: Option<String>,
    #[serde(default)]
    pub matches: Option<Pattern>,
    /// An unset variable passes; a set one must satisfy `equals`/`matches`.
    #[serde(default)]
    pub allow_unset: bool,
}

impl Spec {
    pub fn run(&self) -> Verdict {
        self.judge(std::env::var(&self.var).ok().as_deref())
    }

    pub fn judge(&self, value: Option<&str>) -> Verdict {
        let var = &self.var;
        let Some(value) = value else {
            return if self.absent {
                Verdict::pass(format!("{var} is not set"))
            } else if self.allow_unset {
                Verdict::pass(format!("{var} is not set (allowed)"))
            } else {
                Verdict::fail(format!("{var} is not set"))
            };
        };
        let shown = shown_value(var, value);
        if self.absent {
            return Verdict::fail(format!("{var} is set to \"{shown}\" but must not be set"));
        }
        if let Some(expected) = &self.equals
            && value != expected
        {
            return Verdict::fail(format!(
                "{var} is \"{shown}\", expected \"{}\"",
                shown_value(var, expected)
            ));
        }
        if let Some(pattern) = &self.matches
            && !pattern.is_match(value)
        {
            // A pattern for a secret says what the secret looks like.
            return Verdict::fail(format!(
                "{var} is \"{shown}\", which does not match /{}/",
                shown_value(var, pattern.as_str())
            ));
        }
        Verdict::pass(format!("{var} is \"{shown}\""))
    }
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "var = 'PATH'";

impl Kind for Spec {
    fn validate(&self) -> Result<(), Invalid> {
        if self.var.is_empty() || self.var.contains('=') || self.var.contains('\0') {
            return Err(Invalid::at(
                "var",
                format!("`var` must be a variable name, got `{}`", self.var),
            ));
        }
        if self.absent && (self.equals.is_some() || self.matches.is_some() || self.allow_unset) {
            return Err(Invalid::at(
                "absent",
                "`absent = true` cannot be combined with `equals`, `matches` or `allow_unset`",
            ));
        }
        Ok(())
    }

    fn execution(&self) -> Execution<'_> {
        Execution::Parent(self)
    }

    fn concerns_gpu(&self) -> bool {
        true
    }

    fn explained_by(&self) -> &'static [Family] {
        &[Family::DeviceVisibility]
    }
}

impl InParent for Spec {
    fn run(&self, _timeout: std::time::Duration) -> (Verdict, Option<String>) {
        (self.run(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;

    fn spec(toml_text: &str) -> Spec {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn judgements() {
        let cases: &[(&str, Option<&str>, Status)] = &[
            ("var = 'X'", Some(""), Status::Pass),
            ("var = 'X'", None, Status::Fail),
            ("var = 'X'\nabsent = true", None, Status::Pass),
            ("var = 'X'\nabsent = true", Some("1"), Status::Fail),
            ("var = 'X'\nequals = 'a'", Some("a"), Status::Pass),
            ("var = 'X'\nequals = 'a'", Some("b"), Status::Fail),
            (
                "var = 'X'\nmatches = '^[0-9]'\nallow_unset = true",
                None,
                Status::Pass,
            ),
            (
                "var = 'X'\nmatches = '^[0-9]'\nallow_unset = true",
                Some("-1"),
                Status::Fail,
            ),
            (
                "var = 'X'\nmatches = '^[0-9]'\nallow_unset = true",
                Some("0,1"),
                Status::Pass,
            ),
        ];
        for (text, value, expected) in cases {
            assert_eq!(
                spec(text).judge(*value).status,
                *expected,
                "{text} with {value:?}"
            );
        }
    }

    #[test]
    fn secrets_never_appear_in_messages() {
        let verdict =
            spec("var = 'API_TOKEN'\nequals = 'expected-secret'").judge(Some("actual-secret"));
        assert_eq!(verdict.status, Status::Fail);
        assert!(!verdict.message.contains("secret"), "{}", verdict.message);
    }

    #[test]
    fn contradictions_are_rejected() {
        assert!(
            spec("var = 'X'\nabsent = true\nequals = 'a'")
                .validate()
                .is_err()
        );
        assert!(spec("var = ''").validate().is_err());
    }
}
