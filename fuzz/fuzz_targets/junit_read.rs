#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gpugate::fuzzing::junit_read(data));
