//! Suites shipped inside the binary, so an installed gpugate works anywhere.

pub const BUILTIN: &[(&str, &str)] = &[
    ("cpu-basic", include_str!("../../suites/cpu-basic.toml")),
    ("gpu-basic", include_str!("../../suites/gpu-basic.toml")),
    ("gpu-each", include_str!("../../suites/gpu-each.toml")),
];

pub fn builtin_source(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
