//! Fuzz target: [`baton_fuzz::username`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| baton_fuzz::username(data));
