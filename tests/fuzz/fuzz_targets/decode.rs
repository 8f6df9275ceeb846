//! Fuzz target: see `bodies::decode`.
#![no_main]

mod bodies;
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::decode(data));
