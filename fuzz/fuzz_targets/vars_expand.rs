#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gpugate::fuzzing::vars_expand(data));
