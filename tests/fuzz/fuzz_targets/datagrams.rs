//! Fuzz target: see `bodies::datagrams`.
#![no_main]

mod bodies;
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::datagrams(data));
