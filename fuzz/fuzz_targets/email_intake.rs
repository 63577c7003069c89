#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mesa_conformance::fuzz::email_intake(data));
