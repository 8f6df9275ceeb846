//! Fuzz target: see `bodies::certificate`.
#![no_main]

mod bodies;
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::certificate(data));
