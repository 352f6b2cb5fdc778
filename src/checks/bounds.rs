//! `min` / `max` / `equals` keys, shared by the kinds that compare one value.

use std::fmt::Display;

/// Which bound a value breaks.
#[derive(Debug, PartialEq)]
pub enum Violation<'a, T> {
    NotEqual(&'a T),
    Below(&'a T),
    Above(&'a T),
}

/// At least one bound; `equals` alone; `min` not above `max`.
pub fn validate<T: PartialOrd + Display>(
    min: Option<&T>,
    max: Option<&T>,
    equals: Option<&T>,
    example: &str,
) -> Result<(), String> {
    match (min, max, equals) {
        (None, None, None) => Err(format!("give `min`, `max` or `equals` (e.g. {example})")),
        (_, _, Some(_)) if min.is_some() || max.is_some() => {
            Err("`equals` cannot be combined with `min` or `max`".into())
        }
        (Some(min), Some(max), _) if min > max => Err(format!("`min` {min} is above `max` {max}")),
        _ => Ok(()),
    }
}

pub fn violation<'a, T: PartialOrd>(
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
