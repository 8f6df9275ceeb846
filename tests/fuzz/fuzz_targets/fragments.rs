//! Fuzz target: see `bodies::fragments`.
#![no_main]

mod bodies;
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::fragments(data));
