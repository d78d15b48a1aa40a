//! Fuzz target: [`baton_fuzz::dpop`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| baton_fuzz::dpop(data));
