//! Diagnoses: rules with stable ids that read the
//! facts and TensorFlow's log and say the cause and the fix, citing the facts
//! they used. Documented one section per id in docs/diagnoses.md, which
//! `gpugate explain ID` prints.

pub mod family;
mod rules;
pub mod tf_log;

use crate::facts::Facts;

pub use crate::finding::{Finding, Severity};
pub use family::Family;
pub use rules::{RULES, SUPERSEDES, health_problems};

/// What the rules read: the snapshot, plus TensorFlow's log (its load and,
/// for a failing check, that check's output).
pub struct Evidence<'a> {
    pub facts: &'a Facts,
    pub log: &'a str,
}

pub struct Rule {
    pub id: &'static str,
    /// The family of causes this rule finds; the check kinds it can explain
    /// say which families explain them.
    pub family: Family,
    pub judge: fn(&Evidence) -> Vec<Finding>,
}

impl Rule {
    /// What the rule finds, each finding stamped with the rule's id (the
    /// judge never writes it).
    pub fn findings(&self, evidence: &Evidence) -> Vec<Finding> {
        let mut findings = (self.judge)(evidence);
        for finding in &mut findings {
            finding.id = self.id;
        }
        findings
    }
}

/// Every finding for this machine, errors first, in rule order.
pub fn diagnose(evidence: &Evidence) -> Vec<Finding> {
    let mut findings: Vec<Finding> = RULES.iter().flat_map(|r| r.findings(evidence)).collect();
    let superseded: Vec<&str> = SUPERSEDES
        .iter()
        .filter(|(by, _)| findings.iter().any(|f| f.id == *by))
        .flat_map(|(_, ids)| ids.iter().copied())
        .collect();
    findings.retain(|f| !superseded.contains(&f.id));
    findings.sort_by_key(|f| f.severity != Severity::Error);
    findings
}

/// The findings that can explain a failure of a check whose kind the
/// `families` explain. Only errors: a warning says the stack works at a
/// cost, so it is never the cause of a failure.
pub fn explaining<'f>(families: &[Family], findings: &'f [Finding]) -> Vec<&'f Finding> {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .filter(|f| {
            RULES
                .iter()
                .any(|r| r.id == f.id && families.contains(&r.family))
        })
        .collect()
}

/// A finding as text, for failure messages and the console.
pub fn render(finding: &Finding) -> String {
    let mut text = format!(
        "diagnosis [{}] ({}): {}\n  fix: {}",
        finding.id,
        finding.severity.word(),
        finding.cause,
        finding.fix
    );
    for line in &finding.evidence {
        text.push_str("\n  evidence: ");
        text.push_str(line);
    }
    text.push_str(&format!("\n  more: gpugate explain {}", finding.id));
    text
}

const DOC: &str = include_str!("../../docs/diagnoses.md");

/// The documentation section for `id`, as written in docs/diagnoses.md.
pub fn explain(id: &str) -> Option<&'static str> {
    let heading = format!("## `{id}`");
    let start = DOC.find(&heading)?;
    let rest = &DOC[start..];
    let end = rest[heading.len()..]
        .find("\n## ")
        .map_or(rest.len(), |i| i + heading.len());
    Some(rest[..end].trim_end())
}

/// The first sentence of a diagnosis's **Cause**, for `gpugate explain`.
pub fn summary(id: &str) -> Option<String> {
    let section = explain(id)?;
    // `**Cause**:` or `**Cause** (warning):`.
    let cause = section.split("**Cause**").nth(1)?;
    let cause = cause.split_once(':').map_or(cause, |(_, rest)| rest);
    let paragraph = cause.split("\n**").next().unwrap_or(cause);
    let text = terminal_text(paragraph)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let end = text
        .char_indices()
        .find(|&(i, c)| c == '.' && text[i + 1..].starts_with(' '))
        .map_or(text.len(), |(i, _)| i + 1);
    Some(text[..end].to_string())
}

/// Markdown as a terminal shows it: no `**`, no backticks, headings bare.
pub fn terminal_text(markdown: &str) -> String {
    markdown
        .lines()
        .map(|line| {
            let line = line.strip_prefix("## ").unwrap_or(line);
            line.replace("**", "").replace('`', "")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every id documented in docs/diagnoses.md.
#[cfg(test)]
fn documented_ids() -> Vec<&'static str> {
    DOC.lines()
        .filter_map(|l| l.strip_prefix("## `").and_then(|l| l.strip_suffix('`')))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_explain_a_failure() {
        // persistence-mode-off is a warning in a family that explains
        // compute failures: the stack works, so it is no failure's cause.
        let finding = |id: &'static str, severity| Finding {
            id,
            severity,
            cause: String::new(),
            fix: String::new(),
            evidence: vec![],
        };
        let findings = [
            finding("persistence-mode-off", Severity::Warning),
            finding("gpu-unreachable", Severity::Error),
        ];
        let ids: Vec<&str> = explaining(&[Family::GpuHealth], &findings)
            .iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(ids, ["gpu-unreachable"]);
    }

    #[test]
    fn summaries_are_the_first_sentence_of_the_cause() {
        let s = summary("nvml-missing").unwrap();
        assert!(s.starts_with("libnvidia-ml.so.1 (NVML"), "{s}");
        assert!(
            s.ends_with('.') && !s.contains('`') && !s.contains("**"),
            "{s}"
        );
        for rule in RULES {
            assert!(
                summary(rule.id).is_some_and(|s| !s.is_empty()),
                "{}",
                rule.id
            );
        }
    }

    #[test]
    fn every_rule_is_documented_and_every_section_is_a_rule() {
        let documented = documented_ids();
        let ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        for id in &ids {
            assert!(
                documented.contains(id),
                "rule {id} has no section in docs/diagnoses.md"
            );
            let section = explain(id).unwrap();
            assert!(
                section.contains("**Cause**") && section.contains("**Fix**"),
                "{section}"
            );
        }
        for id in &documented {
            assert!(
                ids.contains(id),
                "docs/diagnoses.md documents {id}, which no rule has"
            );
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "duplicate rule ids");
        for (by, superseded) in SUPERSEDES {
            for id in std::iter::once(by).chain(superseded.iter()) {
                assert!(ids.contains(id), "SUPERSEDES names {id}, which no rule has");
            }
        }
    }

    /// Each rule cites its source and names a scenario that triggers it and
    /// one that must not; the machine profiles and tests it names exist.
    #[test]
    fn every_rule_cites_its_source_and_its_scenarios() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let tests: String = [
            "tests/cli/machines.rs",
            "tests/real_binaries.rs",
            "src/diagnose/rules/mod.rs",
        ]
        .iter()
        .map(|f| std::fs::read_to_string(root.join(f)).unwrap())
        .collect();
        for rule in RULES {
            let section = explain(rule.id).unwrap();
            assert!(section.contains("**Source**: "), "{}: no source", rule.id);
            let scenarios = section
                .split("**Scenarios**: ")
                .nth(1)
                .unwrap_or_else(|| panic!("{}: no scenarios", rule.id));
            let scenarios = scenarios.split("\n**").next().unwrap().replace('\n', " ");
            assert!(
                scenarios.contains("trigger")
                    && (scenarios.contains("must not") || scenarios.contains("stays silent")),
                "{}: scenarios must say what triggers it and what must not",
                rule.id
            );
            for name in scenarios.split('`').skip(1).step_by(2) {
                if name.ends_with(".toml") {
                    assert!(
                        root.join("fixtures/machines").join(name).is_file(),
                        "{}: no profile {name}",
                        rule.id
                    );
                } else if name.matches('_').count() >= 3 && !name.contains(['/', ' ', '.']) {
                    assert!(
                        tests.contains(&format!("fn {name}(")),
                        "{}: no test {name}",
                        rule.id
                    );
                }
            }
        }
    }

    #[test]
    fn explain_prints_one_section() {
        let text = explain("no-device-nodes").unwrap();
        assert!(text.starts_with("## `no-device-nodes`"));
        assert!(!text.contains("## `",) || text.matches("## `").count() == 1);
        assert!(explain("no-such-rule").is_none());
    }
}
