//! Property tests: version comparison and XML-safe text hold for any input,
//! not only the examples in the unit tests.

use gpugate::text::{is_xml_char, xml_safe};
use gpugate::version::Version;
use proptest::prelude::*;

fn parts() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(0u64..100_000, 1..5)
}

/// `[1, 2]` and `[1, 2, 0, 0]` are the same version: compare as padded.
fn padded(mut p: Vec<u64>, len: usize) -> Vec<u64> {
    p.resize(len, 0);
    p
}

proptest! {
    #[test]
    fn versions_compare_part_by_part_as_numbers(a in parts(), b in parts()) {
        let (va, vb) = (Version::from_parts(&a), Version::from_parts(&b));
        let len = a.len().max(b.len());
        prop_assert_eq!(va.cmp(&vb), padded(a.clone(), len).cmp(&padded(b.clone(), len)));
        prop_assert_eq!(va.cmp(&vb), vb.cmp(&va).reverse());
    }

    #[test]
    fn version_text_round_trips(a in parts(), suffix in "(-rc[0-9]|\\+cuda12|)") {
        let text = format!(
            "{}{suffix}",
            a.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
        );
        let parsed = Version::parse(&text).expect("a version");
        prop_assert_eq!(parsed.to_string(), text);
        prop_assert_eq!(parsed, Version::from_parts(&a));
    }

    #[test]
    fn leading_zeros_do_not_change_a_version(a in parts()) {
        // "535.104.05" is 535.104.5.
        let text = a.iter().map(|p| format!("0{p}")).collect::<Vec<_>>().join(".");
        prop_assert_eq!(Version::parse(&text).unwrap(), Version::from_parts(&a));
    }

    #[test]
    fn version_ordering_is_transitive(a in parts(), b in parts(), c in parts()) {
        let (a, b, c) = (Version::from_parts(&a), Version::from_parts(&b), Version::from_parts(&c));
        if a <= b && b <= c {
            prop_assert!(a <= c);
        }
    }

    #[test]
    fn parse_never_panics(text in any::<String>()) {
        let _ = Version::parse(&text);
    }

    #[test]
    fn xml_safe_text_has_only_xml_characters(text in any::<String>()) {
        let safe = xml_safe(&text);
        prop_assert!(safe.chars().all(is_xml_char));
        // Idempotent, and it only ever removes.
        prop_assert_eq!(xml_safe(&safe), safe.clone());
        prop_assert!(safe.chars().count() <= text.chars().count());
    }

    #[test]
    fn xml_safe_keeps_text_that_is_already_safe(text in "[\\t\\n\\r -~\u{a0}-\u{d7ff}\u{e000}-\u{fffd}]*") {
        prop_assert_eq!(xml_safe(&text), text);
    }
}
