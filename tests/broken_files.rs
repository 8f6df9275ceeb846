//! Broken capture files, made from real ones: empty, cut inside the file
//! header, with a wrong magic number, cut inside a packet, with a record
//! claiming more than a frame may have or more than the file holds, pcapng
//! with an unknown block (skipped) or a corrupt block length, corrupt gzip and
//! zstd streams, and a directory mixing good and bad files. tlsaudit must read
//! everything readable, name each bad file and where it broke in one line on
//! stderr, exit with status 2, and never panic.

mod common;

use std::path::{Path, PathBuf};

use common::{captures_dir, completed, run_jsonl, session_essentials, thirdparty_dir, Run, Scratch};

/// Offsets of the packet records of a little-endian legacy pcap file.
fn pcap_record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        offsets.push(at);
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
    }
    offsets
}

/// (offset, type, length) of the blocks of a little-endian pcapng file.
fn pcapng_blocks(bytes: &[u8]) -> Vec<(usize, u32, usize)> {
    let mut blocks = Vec::new();
    let mut at = 0;
    while at + 12 <= bytes.len() {
        let kind = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        blocks.push((at, kind, len));
        at += len;
    }
    blocks
}

fn set_u32_le(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn run(path: &Path) -> Run {
    run_jsonl(&["-r", path.to_str().unwrap(), "--threads", "1"])
}

/// Checks the run of one broken file: exit 2, one error line that names the
/// file and says `expected`, no panic, and a stats record counting it.
fn assert_reported(run: &Run, file: &Path, expected: &str) {
    let name = file.display().to_string();
    assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
    assert_eq!(run.code, Some(2), "{name}: {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().filter(|l| l.contains(&name)).collect();
    assert_eq!(lines.len(), 1, "{name}: one error line expected: {}", run.stderr);
    assert!(lines[0].starts_with(&format!("tlsaudit: {name}: ")), "{}", lines[0]);
    assert!(lines[0].contains(expected), "{name}: {:?} lacks {expected:?}", lines[0]);
    assert!(run.stats.is_object(), "{name}: no stats record");
    assert_eq!(run.stats["tlsaudit"]["stats"]["reader"]["files_failed"], 1, "{name}");
}

struct Case {
    file: PathBuf,
    expected: String,
}

#[test]
fn broken_files_are_reported_with_their_name_and_offset() {
    let scratch = Scratch::new("broken-files");
    let pcap_source = captures_dir().join("tls12-resumption.pcap");
    let pcap = std::fs::read(&pcap_source).unwrap();
    let records = pcap_record_offsets(&pcap);
    assert!(records.len() > 10, "the source capture has {} records", records.len());
    let whole = session_essentials(&run(&pcap_source).sessions);
    assert_eq!(whole.len(), 2, "a full and a resumed handshake");
    let ng_source = thirdparty_dir().join("ja4/tls-non-ascii-alpn.pcapng");
    let ng = std::fs::read(&ng_source).unwrap();
    let blocks = pcapng_blocks(&ng);
    let (second_packet, _, _) = *blocks.iter().filter(|b| b.1 == 6).nth(1).expect("two packet blocks");

    let mut cases = Vec::new();
    let mut write = |name: &str, bytes: &[u8], expected: String| {
        let file = scratch.path(name);
        std::fs::write(&file, bytes).unwrap();
        cases.push(Case { file, expected });
    };
    write("empty.pcap", b"", "empty file, not a capture".into());
    write("header-cut.pcap", &pcap[..10], "ends inside its file header".into());
    write("ng-header-cut.pcapng", &ng[..20], "ends inside its file header".into());
    let mut magic = pcap.clone();
    magic[..4].copy_from_slice(b"PCAP");
    write("wrong-magic.pcap", &magic, "not a pcap or pcapng capture".into());
    let cut_record = records[5];
    write("cut-mid-packet.pcap", &pcap[..cut_record + 30], format!("ends inside the record at byte offset {cut_record}"));
    let mut oversized = pcap.clone();
    set_u32_le(&mut oversized, records[3] + 8, 300_000);
    write("caplen-300000.pcap", &oversized, format!("record at byte offset {}: it claims 300000 bytes", records[3]));
    let mut past_end = pcap.clone();
    let last = *records.last().unwrap();
    let last_len = u32::from_le_bytes(pcap[last + 8..last + 12].try_into().unwrap());
    set_u32_le(&mut past_end, last + 8, last_len + 100);
    write("caplen-past-end.pcap", &past_end, format!("ends inside the record at byte offset {last}"));
    let mut bad_block = ng.clone();
    set_u32_le(&mut bad_block, second_packet + 4, 7);
    write("ng-bad-block-length.pcapng", &bad_block, format!("at byte offset {second_packet}"));
    let mut gz = flate2_compress(&pcap);
    let middle = gz.len() / 2;
    gz[middle] ^= 0xff;
    write("corrupt.pcap.gz", &gz, "read error after byte offset".into());
    // With a checksum, as the zstd command writes by default.
    let mut zst = {
        let mut enc = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        enc.include_checksum(true).unwrap();
        std::io::Write::write_all(&mut enc, &pcap).unwrap();
        enc.finish().unwrap()
    };
    let middle = zst.len() / 2;
    zst[middle] ^= 0xff;
    write("corrupt.pcap.zst", &zst, "read error after byte offset".into());

    for case in &cases {
        assert_reported(&run(&case.file), &case.file, &case.expected);
    }

    // A cut inside a later packet keeps what came before: the first
    // handshake is reported whole.
    let first_handshake_end = records[records.len() / 2];
    let cut = scratch.path("cut-after-first-handshake.pcap");
    std::fs::write(&cut, &pcap[..first_handshake_end + 20]).unwrap();
    let r = run(&cut);
    assert_reported(&r, &cut, &format!("byte offset {first_handshake_end}"));
    let kept = session_essentials(&r.sessions);
    assert!(!kept.is_empty() && kept.iter().all(|s| whole.contains(s)), "{kept:?} vs {whole:?}");

    // An unknown pcapng block is skipped: same sessions, no error.
    let mut unknown = ng[..second_packet].to_vec();
    unknown.extend_from_slice(&0x0bad_0bad_u32.to_le_bytes());
    unknown.extend_from_slice(&16u32.to_le_bytes());
    unknown.extend_from_slice(b"odd!");
    unknown.extend_from_slice(&16u32.to_le_bytes());
    unknown.extend_from_slice(&ng[second_packet..]);
    let unknown_file = scratch.path("ng-unknown-block.pcapng");
    std::fs::write(&unknown_file, &unknown).unwrap();
    let r = run(&unknown_file);
    assert!(completed(r.code), "{}", r.stderr);
    assert_eq!(session_essentials(&r.sessions), session_essentials(&run(&ng_source).sessions));

    // A directory of good and bad files: every good one read, every bad one
    // named once.
    let dir = scratch.path("mixed");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&pcap_source, dir.join("a-good.pcap")).unwrap();
    std::fs::copy(&cases[4].file, dir.join("b-cut.pcap")).unwrap();
    std::fs::copy(&ng_source, dir.join("c-good.pcapng")).unwrap();
    std::fs::copy(&cases[5].file, dir.join("d-oversized.pcap")).unwrap();
    let r = run_jsonl(&["-r", dir.to_str().unwrap(), "--threads", "1"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
    let named: Vec<&str> = r.stderr.lines().filter(|l| l.contains(dir.to_str().unwrap())).collect();
    assert_eq!(named.len(), 2, "{}", r.stderr);
    assert!(named[0].contains("b-cut.pcap") && named[1].contains("d-oversized.pcap"), "{named:?}");
    assert_eq!(r.stats["tlsaudit"]["stats"]["reader"]["files_read"], 2);
    assert_eq!(r.stats["tlsaudit"]["stats"]["reader"]["files_failed"], 2);
    let all = session_essentials(&r.sessions);
    for s in whole.iter().chain(session_essentials(&run(&ng_source).sessions).iter()) {
        assert!(all.contains(s), "missing from the directory run: {s}");
    }
}

fn flate2_compress(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}
