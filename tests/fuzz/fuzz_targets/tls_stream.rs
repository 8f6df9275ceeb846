//! Fuzz target: see `bodies::tls_stream`.
#![no_main]

mod bodies;
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::tls_stream(data));
