//! `gpugate report merge`: JUnit reports of several runs as one matrix.

use super::MergeFormat;
use super::failure::Failure;
use crate::exit::{Ending, Exit};
use crate::progress::{Progress, QUIET, Unit};
use crate::report::merge;
use std::path::{Path, PathBuf};

/// The most one JUnit report to merge may hold; 200,000 cases take about 40 MiB.
const MAX_REPORT_BYTES: u64 = 256 << 20;

pub fn merge_reports(
    files: &[PathBuf],
    format: MergeFormat,
    out: Option<&Path>,
) -> Result<Exit, Failure> {
    if let Some(out) = out {
        crate::files::writable_target(out)
            .map_err(|why| Failure::usage(format!("--out {}: {why}", out.display())))?;
    }
    let mut read = Vec::new();
    let mut progress = Progress::on_stderr(
        "reading reports",
        files.len() as u64,
        Unit::Items("reports"),
    )
    .quiet_for(QUIET);
    let mut say = |line: &str| eprintln!("{line}");
    for (done, path) in files.iter().enumerate() {
        let unreadable = |e: &dyn std::fmt::Display| {
            Failure::usage(format!(
                "failed to read the JUnit report {}: {e}",
                path.display()
            ))
        };
        let xml = crate::input::read_text(path, MAX_REPORT_BYTES).map_err(|e| unreadable(&e))?;
        let mut junit = merge::read(&xml).map_err(|e| unreadable(&e))?;
        junit.scrub();
        read.push((path.display().to_string(), junit));
        progress.update(done as u64 + 1, &mut say);
    }
    progress.finish();
    let matrix = merge::Matrix::new(read);
    for line in matrix.ignored() {
        eprintln!("gpugate: {line}");
    }
    let text = match format {
        MergeFormat::Markdown => merge::markdown(&matrix),
        MergeFormat::Html => merge::html(&matrix),
        MergeFormat::Json => merge::json(&matrix),
    };
    let Some(path) = out else {
        crate::procs::stdout_is_the_report();
        print!("{text}");
        return Ok(Ending::Done.exit());
    };
    crate::files::write_atomic(path, text.as_bytes())
        .map_err(|e| Failure::unwritable(format!("failed to write {}: {e}", path.display())))?;
    eprintln!("gpugate: merged report written to {}", path.display());
    Ok(Ending::Done.exit())
}
