//! Replays the fuzzers' minimized corpora (tests/fuzz/corpus/<target>.bin.zst,
//! made by tests/fuzz/plateau.sh) through the same target bodies the
//! fuzzers run, on the stable toolchain: every input the fuzzers kept for
//! the coverage it reached is run again on every change, in seconds. A
//! panic here is a regression the fuzzers had already been past.

#[path = "fuzz/fuzz_targets/bodies.rs"]
mod bodies;
#[path = "fuzz/fuzz_targets/common.rs"]
mod common;

use std::path::Path;

/// The inputs of a packed corpus: each after its length (u32, little
/// endian), the whole zstd-compressed.
fn inputs(target: &str) -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus").join(format!("{target}.bin.zst"));
    let packed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (tests/fuzz/plateau.sh makes the corpora)", path.display()));
    let bytes = zstd::decode_all(packed.as_slice()).expect("a zstd stream");
    let mut rest = bytes.as_slice();
    let mut out = Vec::new();
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_le_bytes(*len) as usize;
        assert!(len <= tail.len(), "{target}: the packed corpus is cut short");
        out.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    assert!(rest.is_empty(), "{target}: bytes after the last input");
    out
}

fn replay(target: &str, body: fn(&[u8])) {
    let inputs = inputs(target);
    assert!(inputs.len() >= 10, "{target}: only {} inputs in its corpus", inputs.len());
    for (i, data) in inputs.iter().enumerate() {
        // Name the input that failed: a panic in the body says only where.
        let outcome = std::panic::catch_unwind(|| body(data));
        assert!(outcome.is_ok(), "{target}: input {i} of its corpus made the target fail");
    }
}

#[test]
fn decode_corpus() {
    replay("decode", bodies::decode);
}

#[test]
fn fragments_corpus() {
    replay("fragments", bodies::fragments);
}

#[test]
fn reassembly_corpus() {
    replay("reassembly", bodies::reassembly);
}

#[test]
fn reassembler_corpus() {
    replay("reassembler", bodies::reassembler);
}

#[test]
fn tls_stream_corpus() {
    replay("tls_stream", bodies::tls_stream);
}

#[test]
fn datagrams_corpus() {
    replay("datagrams", bodies::datagrams);
}

#[test]
fn certificate_corpus() {
    replay("certificate", bodies::certificate);
}

#[test]
fn capture_file_corpus() {
    replay("capture_file", bodies::capture_file);
}
