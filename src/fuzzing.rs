//! The bodies of the fuzz targets in `fuzz/` (cargo fuzz), here so that the
//! stable test suite runs them too, over their seed corpora
//! (`tests/fuzz_seeds.rs`). Each takes arbitrary bytes and must neither
//! panic nor hang, whatever the bytes.

use std::collections::BTreeMap;
use std::path::Path;

/// A suite file: parsed and validated, or refused with a located message.
pub fn suite_parse(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let no_env = |_: &str| None;
    if let Err(e) = crate::suite::parse_suite(
        "fuzz",
        "fuzz.toml",
        Path::new("."),
        source,
        &BTreeMap::new(),
        &no_env,
    ) {
        // Rendering reads the source at the error's span: it must be in bounds.
        let _ = e.to_string();
    }
}

/// `${VAR}` expansion with variables that refer to each other (cycles).
pub fn vars_expand(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (table_part, text) = text.split_once('\n').unwrap_or(("", &text));
    let table: BTreeMap<String, String> = table_part
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cli = BTreeMap::new();
    let env = |name: &str| (name == "HOME").then(|| "/root".to_string());
    let resolver = crate::suite::Resolver::new(&cli, table, &env);
    let _ = resolver.expand(text);
}

/// A line from a worker, as the parent decodes it.
pub fn worker_protocol(data: &[u8]) {
    let line = String::from_utf8_lossy(data);
    let _ = serde_json::from_str::<crate::worker::protocol::Response>(&line);
    let _ = serde_json::from_str::<crate::worker::protocol::Request>(&line);
}

/// A JUnit file as `report merge` reads it, then merged and rendered.
pub fn junit_read(data: &[u8]) {
    let xml = String::from_utf8_lossy(data);
    if let Ok(junit) = crate::report::merge::read(&xml) {
        let matrix = crate::report::merge::Matrix::new(vec![
            ("a.xml".into(), junit.clone()),
            ("b.xml".into(), junit),
        ]);
        let _ = crate::report::merge::markdown(&matrix);
        let _ = crate::report::merge::html(&matrix);
    }
}
