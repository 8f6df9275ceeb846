//! Fuzz target: see `bodies::capture_file`.
#![no_main]

mod bodies;
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::capture_file(data));
