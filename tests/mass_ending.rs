//! Thousands of sessions ending at once (handshakes still under way when
//! the capture ends): a worker judges them in one go and sends them to the
//! output thread in several batches, each with its sessions' verdicts. The
//! inventory, the counters and the session records must hold every session
//! with its own verdict, as if each connection had been read alone.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use common::*;
use serde_json::Value;

/// Real handshakes with different verdicts and findings, none of them
/// judged differently a few seconds later (no certificate near the end or
/// the start of its validity).
const SOURCES: &[&str] = &[
    "tls12-ecdhe-rsa-aes128gcm.pcap",
    "tls13-x25519.pcap",
    "tls10-rsa-3des.pcap",
    "tls12-dhe-1024.pcap",
    "gnutls-tls12.pcap",
    "matrix/tls12-null.pcap",
];

/// Connections per source: each source's session records alone are more
/// than the 256 KiB a worker puts in one batch.
const COPIES: usize = 400;

/// A recorded connection's first two flights (the ClientHello, the
/// server's answer up to its certificates and key exchange) and its
/// server's port: the client's Finished never comes, so the session is
/// still open at the end of the capture.
struct Source {
    flights: Vec<(bool, Vec<u8>)>,
    port: u16,
    /// When it was recorded (microseconds).
    recorded: u64,
}

fn source(name: &str) -> Source {
    let segs = read_segments(&captures_dir().join(name));
    let mut flights = flights_of(&segs);
    assert!(flights.len() >= 2, "{name}: no handshake in the capture");
    flights.truncate(2);
    let first = segs.iter().find(|s| s.tcp.syn && !s.tcp.ack).expect("a SYN");
    Source { flights, port: first.tcp.destination_port, recorded: first.ts }
}

fn server(k: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 200, 0, k as u8 + 1))
}

/// `connection`'s segments without the closing FINs and the last ACK.
fn open_connection(client: (IpAddr, u16), server: (IpAddr, u16), flights: &[(bool, Vec<u8>)], ts: u64) -> Vec<Seg> {
    let mut segs = connection(client, server, flights, 1448, ts);
    segs.truncate(segs.len() - 3);
    assert!(segs.iter().all(|s| !s.tcp.fin && !s.tcp.rst));
    segs
}

/// A service record's findings: rule to count.
fn finding_counts(service: &Value) -> BTreeMap<String, u64> {
    service["tlsaudit"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| (f["rule"].as_str().unwrap().to_string(), f["count"].as_u64().unwrap()))
        .collect()
}

fn session_rules(session: &Value) -> Vec<String> {
    let mut rules: Vec<String> = session["tlsaudit"]["findings"]
        .as_array()
        .map(|a| a.iter().map(|f| f["rule"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    rules.sort();
    rules
}

fn service_of(run: &Run, ip: IpAddr, port: u16) -> &Value {
    let ip = ip.to_string();
    run.services
        .iter()
        .find(|s| s["destination"]["ip"] == ip.as_str() && s["destination"]["port"] == port)
        .unwrap_or_else(|| panic!("no service record for {ip}:{port}"))
}

#[test]
fn sessions_ending_at_once_keep_their_own_verdicts() {
    let scratch = Scratch::new("mass-ending");
    let sources: Vec<Source> = SOURCES.iter().map(|n| source(n)).collect();
    // One start time for every capture of the test (when the last source
    // was recorded, so that its certificates were valid), so that each
    // certificate is judged at the same moment in the reference runs and
    // in the large one.
    let t0 = sources.iter().map(|s| s.recorded).max().expect("sources");
    let client = |i: usize| (IpAddr::V4(Ipv4Addr::new(10, 100, (i / 250) as u8, (i % 250) as u8 + 1)), 40_000 + (i % 20_000) as u16);

    // Each handshake alone: its session's findings and its service's record.
    let mut reference = Vec::new();
    for (k, s) in sources.iter().enumerate() {
        let path = scratch.path(&format!("alone-{k}.pcap"));
        write_segments(&path, &open_connection(client(0), (server(k), s.port), &s.flights, t0));
        let run = run_jsonl(&["-r", path.to_str().unwrap(), "--no-system-ca"]);
        assert!(completed(run.code), "{}: {}", SOURCES[k], run.stderr);
        assert_eq!(run.sessions.len(), 1, "{}: one session alone", SOURCES[k]);
        let service = service_of(&run, server(k), s.port);
        reference.push((session_rules(&run.sessions[0]), finding_counts(service), run.sessions[0]["tlsaudit"]["assessment"].clone()));
    }
    let distinct: std::collections::BTreeSet<_> = reference.iter().map(|r| &r.0).collect();
    assert!(distinct.len() >= 5, "the sources should differ in their findings: {reference:?}");

    // The handshakes interleaved, none finished: all end together at the
    // end of the capture.
    let path = scratch.path("open-connections.pcap");
    let mut capture = PcapStream::create(&path);
    for i in 0..COPIES * sources.len() {
        let k = i % sources.len();
        let s = &sources[k];
        for seg in open_connection(client(i), (server(k), s.port), &s.flights, t0 + i as u64 * 100) {
            capture.segment(&seg);
        }
    }
    drop(capture);

    for threads in ["1", "2"] {
        let run = run_jsonl(&["-r", path.to_str().unwrap(), "--no-system-ca", "--threads", threads]);
        assert!(completed(run.code), "--threads {threads}: {}", run.stderr);
        assert_eq!(run.sessions.len(), COPIES * sources.len(), "--threads {threads}: every connection reported once");
        let record_bytes: usize = run.sessions.iter().map(|s| s.to_string().len()).sum();
        assert!(record_bytes > 4 * 256 * 1024, "the session records ({record_bytes} bytes) should fill several batches");

        // Each session record: its own source's findings.
        let mut per_server = BTreeMap::new();
        for session in &run.sessions {
            let ip: IpAddr = session["destination"]["ip"].as_str().unwrap().parse().unwrap();
            let k = sources.iter().enumerate().position(|(k, _)| server(k) == ip).expect("a known server");
            assert_eq!(session_rules(session), reference[k].0, "--threads {threads}: a session of {}", SOURCES[k]);
            *per_server.entry(k).or_insert(0usize) += 1;
        }
        assert!(per_server.values().all(|&n| n == COPIES), "--threads {threads}: {per_server:?}");

        // Each service: every session counted with the findings it had (a
        // verdict paired with another session's facts would move counts
        // from one service to another). The one finding judged across a
        // service's sessions (the same key exchange value in each) may come
        // on top.
        for (k, s) in sources.iter().enumerate() {
            let service = service_of(&run, server(k), s.port);
            let (_, alone, _) = &reference[k];
            assert_eq!(service["tlsaudit"]["service"]["sessions"], COPIES, "--threads {threads}: {}", SOURCES[k]);
            let counts = finding_counts(service);
            for (rule, n) in alone {
                assert_eq!(counts.get(rule), Some(&(n * COPIES as u64)), "--threads {threads}: {rule} at {}", SOURCES[k]);
            }
            for rule in counts.keys().filter(|r| !alone.contains_key(*r)) {
                assert_eq!(rule, "kex.dh_reuse", "--threads {threads}: {rule} at {} only with many sessions", SOURCES[k]);
            }
        }
        let stats = &run.stats["tlsaudit"]["stats"];
        assert_eq!(stats["sessions"], COPIES * sources.len(), "--threads {threads}");
        let compliant_sources = reference.iter().filter(|r| r.2 == "compliant").count();
        assert_eq!(stats["sessions_compliant"], COPIES * compliant_sources, "--threads {threads}");
    }
}
