//! Fuzz target: [`baton_fuzz::request`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| baton_fuzz::request(data));
