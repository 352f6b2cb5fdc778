//! Files checks attach (a loss plot), written beside the JUnit report in
//! `<report stem>-attachments/`, so one artifact upload of the report's
//! directory carries them. The report names each with GitLab's
//! `[[ATTACHMENT|path]]`, using the path as given on the command line.

use crate::outcome::Outcome;
use crate::plan::Plan;
use std::path::{Path, PathBuf};

/// Keeps letters, digits, `-`, `_` and `.`; everything else becomes `-`.
fn file_part(text: &str) -> String {
    let keep = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    crate::text::replace_unless(text, keep, '-')
        .trim_matches(['-', '.'])
        .to_string()
}

/// The directory attachments of the report at `junit` go to.
pub fn dir_for(junit: &Path) -> PathBuf {
    let stem = junit
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "junit".into());
    junit.with_file_name(format!("{stem}-attachments"))
}

/// Per check of the plan, the files its attachments were written to.
pub type Written = Vec<Vec<PathBuf>>;

/// Writes every outcome's attachments and returns where, per check; the
/// outcomes are left as they are. A file that cannot be written is a
/// warning on stderr, never a reason to lose the report.
pub fn write(plan: &Plan, outcomes: &[Option<Outcome>], junit: &Path) -> Written {
    let dir = dir_for(junit);
    // Names that differ only in what file names cannot hold ("fit parity",
    // "fit-parity") must not overwrite each other's files.
    let mut taken = std::collections::HashSet::new();
    let mut written = vec![Vec::new(); plan.checks.len()];
    for (index, (check, outcome)) in plan.checks.iter().zip(outcomes).enumerate() {
        let Some(outcome) = outcome else { continue };
        for attachment in &outcome.verdict.attachments {
            let suite = plan.suites.get(check.suite).map_or("", |s| s.name.as_str());
            let name = format!(
                "{}--{}--{}",
                file_part(suite),
                file_part(&check.name),
                file_part(&attachment.name)
            );
            let path = unique(&dir, &name, &mut taken);
            let saved = std::fs::create_dir_all(&dir)
                .and_then(|()| crate::text::write_atomic(&path, attachment.contents.as_bytes()));
            match saved {
                Ok(()) => written[index].push(path),
                Err(e) => eprintln!(
                    "warning: failed to write the attachment {}: {e}",
                    path.display()
                ),
            }
        }
    }
    written
}

/// `dir/name`, or `dir/NAME-2.EXT`, `-3`... when an earlier attachment of
/// this run took that name.
fn unique(dir: &Path, name: &str, taken: &mut std::collections::HashSet<String>) -> PathBuf {
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) => (stem.to_string(), format!(".{ext}")),
        None => (name.to_string(), String::new()),
    };
    let mut candidate = name.to_string();
    let mut n = 1;
    while !taken.insert(candidate.clone()) {
        n += 1;
        candidate = format!("{stem}-{n}{ext}");
    }
    dir.join(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_names_get_distinct_files() {
        let mut taken = std::collections::HashSet::new();
        let dir = Path::new("d");
        let a = unique(dir, "s--fit-parity--loss.svg", &mut taken);
        let b = unique(dir, "s--fit-parity--loss.svg", &mut taken);
        assert_eq!(a, Path::new("d/s--fit-parity--loss.svg"));
        assert_eq!(b, Path::new("d/s--fit-parity--loss-2.svg"));
    }

    #[test]
    fn names_are_safe_file_names() {
        assert_eq!(
            file_part("fit parity [gpu0 8f6a1b2c]"),
            "fit-parity--gpu0-8f6a1b2c"
        );
        assert_eq!(file_part("../../etc/passwd"), "etc-passwd");
        assert_eq!(file_part("loss.svg"), "loss.svg");
        assert_eq!(
            dir_for(Path::new("reports/gpu-basic.xml")),
            Path::new("reports/gpu-basic-attachments")
        );
    }
}
