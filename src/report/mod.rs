//! Reporters: each consumes a run's events (`crate::event`) and turns them
//! into one product. The console's pass/fail lines are libtest-mimic's;
//! the root causes after them, JUnit, JSON, the GitHub and GitLab output,
//! attachments and baselines are reporters here. `doctor` and `merge` are
//! the reports of other commands.

pub mod attachments;
pub mod baseline;
pub mod doctor;
pub mod fingerprint;
pub mod github;
pub mod gitlab;
pub mod json;
pub mod junit;
pub mod merge;
pub mod metrics;
pub mod results;
pub mod root_causes;
#[cfg(test)]
pub(crate) mod testing;
pub mod verdict;

use crate::facts::Facts;

/// Facts every suite in a report carries as properties.
pub fn run_properties(facts: &Facts) -> Vec<(String, String)> {
    let mut props = facts.properties();
    let tensorflow = facts.tensorflow.load.as_ref();
    match tensorflow.and_then(|r| r.loaded.as_ref()) {
        Some(loaded) => {
            props.push(("tensorflow.version".into(), loaded.version.clone()));
            props.push((
                "tensorflow.library".into(),
                loaded.path.display().to_string(),
            ));
            props.push(("tensorflow.found_by".into(), loaded.source.clone()));
        }
        None if tensorflow.is_some() => {
            props.push(("tensorflow.version".into(), "not loaded".into()))
        }
        None => {}
    }
    for (_, value) in &mut props {
        crate::redact::scrub_in_place(value);
    }
    props
}
