//! Hostile traffic: a SYN flood of a million flows, handshakes in reversed
//! one-byte segments, a 16 KB ClientHello, a chain of 100 certificates,
//! zero-length records, lengths that claim megabytes, alert and
//! ChangeCipherSpec floods. Each is built from a real handshake of the
//! bundled captures (or recorded from real stacks), run
//! under a small `--memory-limit`, and checked three ways: the results are
//! right wherever the bytes allow (tshark reads the same files as an
//! oracle), every cap hit is counted in the stats and named in the session,
//! and the peak resident memory stays under the limit.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::*;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

/// The memory limit every run here is given, in MiB.
const MEMORY_LIMIT_MIB: i64 = 64;
/// What a run holds beyond its memory limit: the binary and its libraries,
/// packet batches in flight, worker queues and per-thread caches (about
/// 7 MiB for a capture of a few packets, measured).
const FIXED_OVERHEAD_MIB: i64 = 24;

/// Runs tlsaudit on `path` with the memory limit and checks its peak memory.
fn run_limited(scratch: &Scratch, path: &std::path::Path, extra: &[&str]) -> Run {
    let limit = MEMORY_LIMIT_MIB.to_string();
    let mut args = vec!["-r", path.to_str().expect("UTF-8 path"), "--memory-limit", &limit];
    args.extend_from_slice(extra);
    let (run, peak_kib) = run_jsonl_measured(&args, scratch);
    assert!(completed(run.code), "{}: {}", path.display(), run.stderr);
    let peak_mib = peak_kib as i64 / 1024;
    eprintln!("{}: peak RSS {peak_kib} KiB", path.display());
    assert!(
        peak_mib <= MEMORY_LIMIT_MIB + FIXED_OVERHEAD_MIB,
        "peak RSS {peak_mib} MiB with --memory-limit {MEMORY_LIMIT_MIB} ({})",
        path.display()
    );
    run
}

fn flows_stat(run: &Run, field: &str) -> u64 {
    run.stats["tlsaudit"]["stats"]["flows"][field].as_u64().unwrap_or_else(|| panic!("no counter {field}"))
}

fn decode_errors(run: &Run, kind: &str) -> u64 {
    run.stats["tlsaudit"]["stats"]["decode_errors"][kind].as_u64().unwrap_or_else(|| panic!("no counter {kind}"))
}

/// The recorded TLS 1.2 handshake every scenario starts from.
fn reference_path() -> std::path::PathBuf {
    captures_dir().join("tls12-ecdhe-rsa-aes128gcm.pcap")
}

/// The reference handshake as flights, and the session tlsaudit reports for
/// the original capture.
fn reference() -> (Vec<(bool, Vec<u8>)>, Value) {
    let path = reference_path();
    let flights = flights_of(&read_segments(&path));
    let sessions = sessions_of(&path, &[]);
    assert_eq!(sessions.len(), 1);
    (flights, sessions.into_iter().next().expect("one session"))
}

/// The reference handshake's segments as recorded, and the essentials of
/// the session tlsaudit reports for them.
fn reference_segments() -> (Vec<Seg>, Vec<String>) {
    let path = reference_path();
    (read_segments(&path), session_essentials(&sessions_of(&path, &[])))
}

const CLIENT: (IpAddr, u16) = (IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)), 40_001);
const SERVER: (IpAddr, u16) = (IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1)), 443);

/// Writes one connection carrying `flights` and runs tlsaudit on it.
fn run_flights(scratch: &Scratch, name: &str, flights: &[(bool, Vec<u8>)], extra: &[&str]) -> Run {
    let path = scratch.path(&format!("{name}.pcap"));
    write_segments(&path, &connection(CLIENT, SERVER, flights, 1448, 1_700_000_000_000_000));
    run_limited(scratch, &path, extra)
}

/// TLS records of `content` type carrying `body` split at 16,384 bytes.
fn records(content: u8, version: [u8; 2], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in body.chunks(16_384) {
        out.extend_from_slice(&[content, version[0], version[1]]);
        out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// The first record of a flight: (content type, version, body, the rest).
fn first_record(flight: &[u8]) -> (u8, [u8; 2], &[u8], &[u8]) {
    let len = usize::from(u16::from_be_bytes([flight[3], flight[4]]));
    (flight[0], [flight[1], flight[2]], &flight[5..5 + len], &flight[5 + len..])
}

#[test]
fn a_syn_flood_of_a_million_flows_stays_under_the_memory_limit() {
    let scratch = Scratch::new("syn-flood");
    let path = scratch.path("flood.pcap");
    let (real, want) = reference_segments();
    const FLOOD: u32 = 1_000_000;
    let start = real[0].ts;
    let mut out = PcapStream::create(&path);
    for i in 0..FLOOD {
        if i == FLOOD / 2 {
            // A real handshake in the middle of the flood.
            for s in &real {
                out.segment(&Seg { ts: start + u64::from(i), ..s.clone() });
            }
        }
        let src = Ipv4Addr::from(0x0a00_0000 | (i / 50_000));
        let mut tcp = etherparse::TcpHeader::new(10_000 + (i % 50_000) as u16, 443, i.wrapping_mul(7919), 1024);
        tcp.syn = true;
        let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        out.segment(&Seg { ts: start + u64::from(i), src: IpAddr::V4(src), dst, tcp, payload: Vec::new() });
    }
    out.finish();

    let run = run_limited(&scratch, &path, &["--threads", "2"]);
    assert_eq!(flows_stat(&run, "flows"), u64::from(FLOOD) + 1);
    // 48 MiB of connection memory holds about 125,000 SYN-only flows: the
    // rest of the flood was ended early, and counted.
    let evicted = flows_stat(&run, "flows_evicted_memory");
    assert!(evicted > 800_000 && evicted < u64::from(FLOOD), "{evicted} flows ended for memory");
    assert_eq!(flows_stat(&run, "flows_evicted"), 0, "the flow-count cap is not what bounded this run");
    // SYN-only flows are not TLS sessions; the real handshake is reported whole.
    assert_eq!(session_essentials(&run.sessions), want);
    assert!(run.sessions[0]["tlsaudit"]["limits_hit"].is_null(), "{}", run.sessions[0]);
}

#[test]
fn thousands_of_unfinished_handshakes_stay_under_the_memory_limit() {
    // Each connection sends 16,000 bytes of a ClientHello record that
    // claims 16,384 and never finishes it: the record layer holds it all.
    // 6,000 of them hold about 130 MiB; the limit keeps 48 MiB for
    // connections and ends the quietest.
    let scratch = Scratch::new("unfinished");
    let path = scratch.path("unfinished.pcap");
    let (real, want) = reference_segments();
    let mut partial = vec![22, 3, 1, 0x40, 0x00, 1, 0x00, 0x3f, 0xfc, 3, 3];
    partial.resize(16_000, 0x5a);
    const FLOWS: u32 = 6_000;
    let mut out = PcapStream::create(&path);
    let mut ts = 1_700_000_000_000_000;
    for i in 0..FLOWS {
        let client = (IpAddr::V4(Ipv4Addr::from(0x0a10_0000 + i)), 50_000);
        let segs = connection(client, SERVER, &[(true, partial.clone())], 1448, ts);
        // No FIN: the connections stay open.
        for s in segs.iter().take_while(|s| !s.tcp.fin) {
            out.segment(s);
        }
        ts += 100;
    }
    for s in &real {
        out.segment(&Seg { ts, ..s.clone() });
    }
    out.finish();

    let run = run_limited(&scratch, &path, &["--threads", "2"]);
    assert_eq!(flows_stat(&run, "flows"), u64::from(FLOWS) + 1);
    let evicted = flows_stat(&run, "flows_evicted_memory");
    assert!(evicted > u64::from(FLOWS) / 4, "{evicted} connections ended for memory");
    let marked = run.sessions.iter().filter(|s| s["tlsaudit"]["limits_hit"] == json!(["flow_memory"])).count();
    assert_eq!(marked as u64, evicted, "every connection ended for memory is reported so");
    let real_sessions: Vec<Value> =
        run.sessions.iter().filter(|s| s["destination"]["port"] == json!(real[0].tcp.destination_port)).cloned().collect();
    assert_eq!(session_essentials(&real_sessions), want);

    // One file read with --independent-files has the whole budget for its
    // connections: nothing is set aside for the order of other files.
    let alone = run_limited(&scratch, &path, &["--threads", "1"]);
    let independent = run_limited(&scratch, &path, &["--threads", "1", "--independent-files"]);
    let evicted_alone = flows_stat(&alone, "flows_evicted_memory");
    assert!(evicted_alone > u64::from(FLOWS) / 4, "{evicted_alone} connections ended for memory");
    assert_eq!(flows_stat(&independent, "flows_evicted_memory"), evicted_alone, "one file, --independent-files or not");
}

#[test]
fn handshakes_in_reversed_one_byte_segments_are_read_and_release_their_buffers() {
    // 8,000 connections each send a real ClientHello (158 bytes) as one-byte
    // segments, last byte first, so that every segment lands before all
    // those waiting, and stay open. Each hello waits whole and is delivered
    // at once. A connection that kept the list of waiting segments it needed
    // for that (256 entries, 8 KiB) for the rest of its life would take
    // 8,000 of them past the 48 MiB for connections.
    let scratch = Scratch::new("reversed-bytes");
    let path = scratch.path("reversed.pcap");
    let (flights, reference) = reference();
    let hello = &flights[0].1;
    const FLOWS: u32 = 8_000;
    let mut out = PcapStream::create(&path);
    let mut ts = 1_700_000_000_000_000;
    for i in 0..FLOWS {
        let client = (IpAddr::V4(Ipv4Addr::from(0x0a20_0000 + i)), 50_000);
        let segs = connection(client, SERVER, &[(true, hello.clone())], usize::MAX, ts);
        let (setup, data) = (&segs[..3], &segs[3]);
        assert_eq!(data.payload, *hello);
        for s in setup {
            out.segment(s);
        }
        for piece in pieces(data, 1, 1).iter().rev() {
            out.segment(piece);
        }
        ts += 1_000;
    }
    out.finish();

    let run = run_limited(&scratch, &path, &["--threads", "2"]);
    assert_eq!(flows_stat(&run, "flows"), u64::from(FLOWS));
    assert_eq!(flows_stat(&run, "flows_evicted_memory"), 0, "connections were ended for memory");
    assert_eq!(flows_stat(&run, "tcp_gaps"), 0);
    assert_eq!(flows_stat(&run, "tcp_buffer_cap_hits"), 0);
    assert_eq!(run.sessions.len(), FLOWS as usize);
    let client_facts = |s: &Value| (s["tls"]["client"].clone(), s["tlsaudit"]["client"].clone());
    let want = client_facts(&reference);
    for s in &run.sessions {
        assert_eq!(client_facts(s), want, "{s}");
        assert!(s["tlsaudit"]["limits_hit"].is_null(), "{s}");
    }
}

#[test]
fn a_16_kb_client_hello_with_thousands_of_suites_is_read_whole() {
    let scratch = Scratch::new("big-hello");
    let (mut flights, reference) = reference();
    let (content, version, hello, rest) = first_record(&flights[0].1);
    assert_eq!((content, hello[0]), (22, 1), "the first flight starts with the ClientHello");
    // ClientHello body: version (2), random (32), session id, suites, ...
    let body = &hello[4..];
    let suites_at = 35 + usize::from(body[34]);
    let suites_len = usize::from(u16::from_be_bytes([body[suites_at], body[suites_at + 1]]));
    let mut suites = body[suites_at + 2..suites_at + 2 + suites_len].to_vec();
    const ADDED: u16 = 8_192;
    for code in 0x1000..0x1000 + ADDED {
        suites.extend_from_slice(&code.to_be_bytes());
    }
    let mut new_body = body[..suites_at].to_vec();
    new_body.extend_from_slice(&(suites.len() as u16).to_be_bytes());
    new_body.extend_from_slice(&suites);
    new_body.extend_from_slice(&body[suites_at + 2 + suites_len..]);
    let mut message = vec![1];
    message.extend_from_slice(&(new_body.len() as u32).to_be_bytes()[1..]);
    message.extend_from_slice(&new_body);
    assert!(message.len() > 16_384, "the hello spans two records");
    let mut flight = records(22, version, &message);
    flight.extend_from_slice(rest);
    flights[0].1 = flight;

    let run = run_flights(&scratch, "big-hello", &flights, &[]);
    assert_eq!(run.sessions.len(), 1);
    let s = &run.sessions[0];
    let offered = s["tls"]["client"]["supported_ciphers"].as_array().expect("suites listed");
    let original = reference["tls"]["client"]["supported_ciphers"].as_array().expect("suites listed");
    // Two of the added codes (0x1A1A, 0x2A2A) are GREASE values, left out;
    // five (0x1301 to 0x1305) are TLS 1.3 suites, named as the IANA registry
    // names them; the rest are unassigned.
    let grease = |c: u16| c & 0x0f0f == 0x0a0a && c >> 8 == c & 0xff;
    let registry: std::collections::BTreeMap<u16, String> = iana_suites().into_iter().collect();
    let added: Vec<Value> = (0x1000..0x1000 + ADDED)
        .filter(|c| !grease(*c))
        .map(|c| match c {
            // tls-parser's name; the registry file says …_SHA384 (see tests/suite_registry.rs).
            0x1306 => json!("TLS_AEGIS_256_SHA512"),
            _ => json!(registry.get(&c).cloned().unwrap_or_else(|| format!("0x{c:04X}"))),
        })
        .collect();
    assert_eq!(added.len(), usize::from(ADDED) - 2);
    assert_eq!(offered[..original.len()], original[..]);
    for (i, (ours, want)) in offered[original.len()..].iter().zip(&added).enumerate() {
        assert_eq!(ours, want, "added suite {i}");
    }
    assert_eq!(offered.len(), original.len() + added.len());
    assert!(s["tlsaudit"]["limits_hit"].is_null());
    assert_eq!(s["tls"]["established"], true);

    // tshark's JA3 of the same bytes.
    let path = scratch.path("big-hello.pcap");
    let out = std::process::Command::new("tshark")
        .args(["-r", path.to_str().expect("UTF-8")])
        .args(["-Y", "tls.handshake.type==1", "-T", "fields", "-e", "tls.handshake.ja3_full", "-e", "tls.handshake.ja3"])
        .args(["-o", "tls.desegment_ssl_records:TRUE", "-o", "tcp.desegment_tcp_streams:TRUE"])
        .output()
        .expect("tshark runs");
    let tshark = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = tshark.trim().split('\t').collect();
    assert_eq!(fields.len(), 2, "tshark: {tshark}");
    assert_eq!(s["tlsaudit"]["client"]["ja3_string"], fields[0]);
    assert_eq!(s["tls"]["client"]["ja3"], fields[1]);
}

#[test]
fn a_chain_of_100_certificates_is_cut_at_the_cap_and_said_so() {
    // Recorded from openssl s_server (captures/make-long-chain.sh).
    let path = captures_dir().join("tls12-chain-100.pcap");
    let run = run_limited(&Scratch::new("chain"), &path, &[]);
    assert_eq!(run.sessions.len(), 1);
    let s = &run.sessions[0];
    assert_eq!(s["tls"]["established"], true);
    assert_eq!(s["tlsaudit"]["limits_hit"], json!(["chain_length"]));
    assert_eq!(s["tlsaudit"]["server"]["certificate_chain_truncated"], true);
    assert_eq!(flows_stat(&run, "tls_chain_cap_hits"), 1);
    assert_eq!(s["tls"]["server"]["x509"]["subject"]["common_name"], "tlsaudit chain 1");

    // tshark lists all 100 (its tree-depth limit raised); the first 16 are ours.
    let out = std::process::Command::new("tshark")
        .args(["-r", path.to_str().expect("UTF-8"), "-o", "gui.max_tree_depth:1000"])
        .args(["-Y", "tls.handshake.type==11", "-T", "fields", "-e", "tls.handshake.certificate"])
        .output()
        .expect("tshark runs");
    let tshark = String::from_utf8_lossy(&out.stdout);
    let hashes: Vec<String> = tshark
        .trim()
        .split(',')
        .map(|hex| {
            let der: Vec<u8> = (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex")).collect();
            Sha256::digest(&der).iter().map(|b| format!("{b:02X}")).collect()
        })
        .collect();
    assert_eq!(hashes.len(), 100, "tshark sees the whole chain");
    let ours: Vec<String> = chain_hashes(s);
    assert_eq!(ours, hashes[..16]);
}

#[test]
fn zero_length_records_change_nothing() {
    let scratch = Scratch::new("zero-length");
    let (flights, _) = reference();
    let want = session_essentials(&run_flights(&scratch, "plain", &flights, &[]).sessions);
    assert_eq!(want.len(), 1);

    // Empty application-data records (allowed by RFC 5246) after every
    // flight of both sides, and an empty handshake record (not allowed, but
    // harmless) between the client's records.
    let mut padded = flights.clone();
    for (i, (_, bytes)) in padded.iter_mut().enumerate() {
        if i >= 2 {
            bytes.extend_from_slice(&[23, 3, 3, 0, 0]);
        }
    }
    let (_, version, hello, rest) = first_record(&flights[0].1);
    let mut first = records(22, version, hello);
    first.extend_from_slice(&[22, 3, 3, 0, 0]);
    first.extend_from_slice(rest);
    padded[0].1 = first;
    let run = run_flights(&scratch, "zero-length", &padded, &[]);
    assert_eq!(session_essentials(&run.sessions), want);
    assert_eq!(decode_errors(&run, "tls_record"), 0);
}

#[test]
fn lengths_that_claim_megabytes_are_capped_and_the_rest_still_read() {
    let scratch = Scratch::new("huge-lengths");
    let (flights, reference) = reference();

    // A handshake message that claims 16 MiB, sent after the ServerHello
    // flight: skipped at the handshake-size cap, never allocated.
    let mut huge_message = flights.clone();
    let mut claim = vec![11, 0xff, 0xff, 0xff];
    claim.extend(std::iter::repeat_n(0x42, 64 * 1024));
    huge_message[1].1.extend(records(22, [3, 3], &claim));
    let run = run_flights(&scratch, "huge-message", &huge_message, &[]);
    assert_eq!(run.sessions.len(), 1);
    let s = &run.sessions[0];
    assert_eq!(s["tls"]["cipher"], reference["tls"]["cipher"]);
    assert_eq!(s["tls"]["server"]["hash"], reference["tls"]["server"]["hash"]);
    assert_eq!(s["tlsaudit"]["client"]["ja4"], reference["tlsaudit"]["client"]["ja4"]);
    assert!(
        s["tlsaudit"]["limits_hit"].as_array().is_some_and(|caps| caps.contains(&json!("handshake_size"))),
        "{s}"
    );
    assert!(flows_stat(&run, "tls_handshake_cap_hits") >= 1);

    // A record header that claims 65,535 bytes (more than TLS allows) in
    // the client's stream: counted as a bad record, the stream resynchronised
    // on the next header, and the handshake still completes.
    let mut huge_record = flights.clone();
    let (_, version, hello, rest) = first_record(&flights[0].1);
    let mut first = records(22, version, hello);
    first.extend_from_slice(&[22, 3, 3, 0xff, 0xff]);
    first.extend_from_slice(rest);
    huge_record[0].1 = first;
    let run = run_flights(&scratch, "huge-record", &huge_record, &[]);
    assert_eq!(run.sessions.len(), 1);
    let s = &run.sessions[0];
    assert_eq!(s["tlsaudit"]["client"]["ja4"], reference["tlsaudit"]["client"]["ja4"]);
    assert_eq!(s["tls"]["cipher"], reference["tls"]["cipher"]);
    assert_eq!(s["tls"]["established"], true, "{s}");
    assert!(decode_errors(&run, "tls_record") >= 1, "{}", run.stats);
}

#[test]
fn alert_and_change_cipher_spec_floods_stop_at_the_inspection_cap() {
    let scratch = Scratch::new("floods");
    let (flights, reference) = reference();
    const FLOOD: usize = 200_000;
    for (name, record, alert) in [
        ("alerts", vec![21u8, 3, 3, 0, 2, 1, 90], Some(json!({"level": "warning", "description": "user_canceled", "from": "client"}))),
        ("change-cipher-specs", vec![20u8, 3, 3, 0, 1, 1], None),
    ] {
        // The hellos, then the client floods instead of finishing.
        let mut flooded = flights[..2].to_vec();
        flooded.push((true, record.repeat(FLOOD)));
        let run = run_flights(&scratch, name, &flooded, &[]);
        assert_eq!(run.sessions.len(), 1, "{name}");
        let s = &run.sessions[0];
        assert_eq!(s["tlsaudit"]["client"]["ja4"], reference["tlsaudit"]["client"]["ja4"], "{name}");
        assert_eq!(s["tls"]["cipher"], reference["tls"]["cipher"], "{name}");
        assert_eq!(s["tls"]["established"], false, "{name}");
        if let Some(alert) = alert {
            assert_eq!(s["tlsaudit"]["alert"], alert);
        }
        // The flood is longer than the bytes inspected per direction.
        assert_eq!(s["tlsaudit"]["limits_hit"], json!(["inspected_bytes"]), "{name}: {s}");
        assert_eq!(flows_stat(&run, "tls_inspect_cap_hits"), 1, "{name}");
    }
}
