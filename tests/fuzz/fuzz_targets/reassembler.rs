//! Fuzz target: see `bodies::reassembler`.
#![no_main]

mod bodies;
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::reassembler(data));
