//! The one snapshot mechanism of the tests, the library's and the CLI's
//! (which include this file): insta, with every snapshot under
//! `fixtures/snapshots/`. After an intended change, `INSTA_UPDATE=always
//! cargo test` rewrites them (or `cargo insta review`, where cargo-insta is
//! installed); review the diff before committing. Under CI they are never
//! written, only compared.

/// Compares `actual` with the snapshot `fixtures/snapshots/DIR/NAME.snap`
/// (`dir` empty: directly under `fixtures/snapshots/`).
pub fn assert_snapshot(dir: &str, name: &str, actual: &str) {
    let mut settings = insta::Settings::clone_current();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/snapshots");
    settings.set_snapshot_path(path.join(dir));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, actual));
}
