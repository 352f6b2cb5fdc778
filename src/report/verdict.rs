//! doctor's verdict in the words each fleet consumer takes, decided here
//! and nowhere else, so that no script re-derives meaning from text: the
//! node condition's message (Node Problem Detector) and the drain reason
//! (Slurm). Each line fits its consumer's limit as that consumer counts it.
//! The exit code that goes with them is [`crate::exit::Ending::Machine`]'s.

use crate::diagnose::{Finding, Severity};
use crate::facts::Facts;

/// Node Problem Detector's default `max_output_length`: it cuts the
/// plugin's output at this many *bytes*, wherever a character ends.
pub const CONDITION_MAX_BYTES: usize = 80;

/// The most of a drain reason gpugate writes: `sinfo -R` shows the first
/// 20 characters, `scontrol show node` the rest.
pub const DRAIN_REASON_MAX_BYTES: usize = 160;

/// What marks a Slurm drain as gpugate's: the reason is `ID (gpugate):
/// cause`, so the 20 characters `sinfo -R` shows start with the
/// diagnosis id, and the check resumes only the drains that carry it.
pub const DRAIN_MARK: &str = " (gpugate): ";

fn first_error(findings: &[Finding]) -> Option<&Finding> {
    findings.iter().find(|f| f.severity == Severity::Error)
}

/// The verdict in a sentence: the first error's id and cause, else that
/// the stack is healthy; secrets redacted before it is cut to its
/// consumer's size, so the cut holds.
fn sentence(facts: &Facts, findings: &[Finding], separator: &str) -> String {
    let text = match first_error(findings) {
        Some(f) => format!("{}{separator}{}", f.id, f.cause),
        None => format!("healthy: {}", facts.tensorflow.build.describe()),
    };
    crate::redact::scrub(&text).into_owned()
}

/// `text` on one line, at most `max` bytes, cut where a character ends and
/// marked with `ellipsis` when cut; control, separator and bidi characters
/// become spaces.
fn fit(text: &str, max: usize, ellipsis: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if crate::text::invisible(c) { ' ' } else { c })
        .collect();
    if line.len() <= max {
        return line;
    }
    let mut end = max - ellipsis.len();
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ellipsis}", line[..end].trim_end())
}

/// The node condition's message: at most [`CONDITION_MAX_BYTES`] bytes of
/// UTF-8, so NPD's byte cut never splits a character.
pub fn condition_message(facts: &Facts, findings: &[Finding]) -> String {
    fit(&sentence(facts, findings, ": "), CONDITION_MAX_BYTES, "…")
}

/// The Slurm drain reason (or, when healthy, the line the check logs):
/// ASCII on one line, led by the diagnosis id and [`DRAIN_MARK`].
pub fn drain_reason(facts: &Facts, findings: &[Finding]) -> String {
    let ascii: String = sentence(facts, findings, DRAIN_MARK)
        .chars()
        .map(|c| match c {
            // scontrol takes the reason as one argument, but a quote in it
            // would end the `Reason="..."` a person pastes from the log.
            '"' => '\'',
            c if c.is_ascii() => c,
            _ => '?',
        })
        .collect();
    fit(&ascii, DRAIN_REASON_MAX_BYTES, "...")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{facts_with_driver, gpu};

    fn findings(cause: &str) -> Vec<Finding> {
        let warning = Finding {
            id: "gpu-busy",
            severity: Severity::Warning,
            cause: "busy".into(),
            fix: String::new(),
            evidence: vec![],
        };
        let error = Finding {
            id: "gpu-unreachable",
            severity: Severity::Error,
            cause: cause.into(),
            ..warning.clone()
        };
        vec![warning, error]
    }

    /// NPD keeps the first 80 bytes of what the plugin prints (then trims
    /// the space around them): what it keeps must be the whole line, valid
    /// UTF-8, whatever characters the cause holds.
    #[test]
    fn npd_s_byte_cut_keeps_the_whole_condition() {
        let facts = facts_with_driver("580.65.06", &[gpu(0, "H100", (9, 0))]);
        assert_eq!(
            condition_message(&facts, &[]),
            format!("healthy: {}", facts.tensorflow.build.describe())
        );
        for cause in [
            format!("GPU 3 has fallen off the bus\n{}", "x".repeat(200)),
            format!("{}é—ü", "a".repeat(60)),
            "ü".repeat(100),
            "—".repeat(40),
        ] {
            let line = condition_message(&facts, &findings(&cause));
            let printed = format!("{line}\n");
            let kept = &printed.as_bytes()[..printed.len().min(CONDITION_MAX_BYTES)];
            let kept = std::str::from_utf8(kept).expect("NPD keeps valid UTF-8");
            assert_eq!(kept.trim(), line, "{cause:?}");
            assert!(line.starts_with("gpu-unreachable: "), "{line}");
            assert!(!line.contains('\n'));
        }
    }

    #[test]
    fn the_drain_reason_is_ascii_and_leads_with_the_id() {
        let facts = facts_with_driver("580.65.06", &[gpu(0, "H100", (9, 0))]);
        let reason = drain_reason(&facts, &findings("GPU 1 — \"lost\"\nXid 79"));
        assert_eq!(reason, "gpu-unreachable (gpugate): GPU 1 ? 'lost' Xid 79");
        let long = drain_reason(&facts, &findings(&"é".repeat(300)));
        assert!(
            long.is_ascii() && long.len() == DRAIN_REASON_MAX_BYTES,
            "{long}"
        );
        assert!(long.ends_with("..."));
        assert!(drain_reason(&facts, &[]).starts_with("healthy: "));
    }

    /// A secret grows when redacted (`ZQXJV` becomes `<redacted>`): the
    /// cut comes after, so the limits hold; line separators and bidi
    /// controls never pass.
    #[test]
    fn limits_hold_after_redaction_and_separators_never_pass() {
        crate::redact::register("GPUGATE_TEST_VERDICT_KEY", "ZQXJV");
        let facts = facts_with_driver("580.65.06", &[gpu(0, "H100", (9, 0))]);
        let cause = format!("{}\u{2028}\u{202e}", "ZQXJV ".repeat(30));
        let line = condition_message(&facts, &findings(&cause));
        assert!(
            line.len() <= CONDITION_MAX_BYTES,
            "{} bytes: {line}",
            line.len()
        );
        assert!(
            line.contains("<redacted>") && !line.contains("ZQXJV"),
            "{line}"
        );
        let reason = drain_reason(&facts, &findings(&cause));
        assert!(reason.len() <= DRAIN_REASON_MAX_BYTES, "{reason}");
        let line = condition_message(&facts, &findings("a\u{2028}b\u{202e}c"));
        assert_eq!(line, "gpu-unreachable: a b c");
    }
}
