//! The one snapshot mechanism of the tests: insta, with every snapshot in
//! `fixtures/snapshots/`. After an intended change, `INSTA_UPDATE=always
//! cargo test` rewrites them (or `cargo insta review`, where cargo-insta is
//! installed); review the diff before committing. Under CI they are never
//! written, only compared.

/// Compares `actual` with the snapshot `NAME` in `fixtures/snapshots/`.
pub fn assert_snapshot(name: &str, actual: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, actual));
}
