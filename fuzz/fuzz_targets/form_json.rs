#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mesa_conformance::fuzz::form_json(data));
