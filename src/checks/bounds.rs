//! `min` / `max` / `equals` keys, shared by the kinds that compare one value:
//! such a kind's spec is `Bounds<T>` of its value's type.

use crate::checks::Invalid;
use serde::{Deserialize, Serialize};
use std::fmt::Display;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds<T> {
    // A default function rather than `default`, which would make serde
    // require `T: Default`.
    #[serde(default = "Option::default")]
    pub min: Option<T>,
    #[serde(default = "Option::default")]
    pub max: Option<T>,
    #[serde(default = "Option::default")]
    pub equals: Option<T>,
}

impl<T: PartialOrd + Display> Bounds<T> {
    /// At least one bound; `equals` alone; `min` not above `max`. `example`
    /// goes in the message that asks for a bound.
    pub fn check_keys(&self, example: &str) -> Result<(), Invalid> {
        validate(
            self.min.as_ref(),
            self.max.as_ref(),
            self.equals.as_ref(),
            example,
        )
    }

    /// Which bound `found` breaks, if any.
    pub fn broken_by<'a>(&'a self, found: &T) -> Option<Violation<'a, T>> {
        violation(
            found,
            self.min.as_ref(),
            self.max.as_ref(),
            self.equals.as_ref(),
        )
    }
}

/// Which bound a value breaks.
#[derive(Debug, PartialEq)]
pub enum Violation<'a, T> {
    NotEqual(&'a T),
    Below(&'a T),
    Above(&'a T),
}

fn validate<T: PartialOrd + Display>(
    min: Option<&T>,
    max: Option<&T>,
    equals: Option<&T>,
    example: &str,
) -> Result<(), Invalid> {
    match (min, max, equals) {
        (None, None, None) => Err(Invalid::check(format!(
            "give `min`, `max` or `equals` (e.g. {example})"
        ))),
        (_, _, Some(_)) if min.is_some() || max.is_some() => Err(Invalid::at(
            "equals",
            "`equals` cannot be combined with `min` or `max`",
        )),
        (Some(min), Some(max), _) if min > max => Err(Invalid::at(
            "min",
            format!("`min` {min} is above `max` {max}"),
        )),
        _ => Ok(()),
    }
}

fn violation<'a, T: PartialOrd>(
    found: &T,
    min: Option<&'a T>,
    max: Option<&'a T>,
    equals: Option<&'a T>,
) -> Option<Violation<'a, T>> {
    match (min, max, equals) {
        (_, _, Some(want)) if found != want => Some(Violation::NotEqual(want)),
        (Some(min), _, _) if found < min => Some(Violation::Below(min)),
        (_, Some(max), _) if found > max => Some(Violation::Above(max)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(
            validate::<u32>(None, None, None, "min = 1")
                .unwrap_err()
                .message
                .contains("min = 1")
        );
        assert!(validate(Some(&1), None, Some(&1), "").is_err());
        assert!(validate(Some(&3), Some(&2), None, "").is_err());
        assert_eq!(
            violation(&2, Some(&3), None, None),
            Some(Violation::Below(&3))
        );
        assert_eq!(
            violation(&4, None, Some(&3), None),
            Some(Violation::Above(&3))
        );
        assert_eq!(
            violation(&4, None, None, Some(&3)),
            Some(Violation::NotEqual(&3))
        );
        assert_eq!(violation(&3, Some(&3), Some(&3), None), None);
    }
}
