//! Fuzz target: see `bodies::reassembly`.
#![no_main]

mod bodies;
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::reassembly(data));
