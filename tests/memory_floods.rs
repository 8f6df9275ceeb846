//! Floods that aim at the tables that grow with what is seen rather than
//! with what is open: a million ClientHellos each naming another server, to
//! 200,000 server addresses, and a hundred thousand connections each sending
//! another certificate, from 25,000 servers: more services, names and
//! certificates than the inventory's share of memory holds. Each runs under `--memory-limit 64`; the peak resident
//! memory must stay under the limit plus the fixed part, what was refused
//! must be counted and the service marked, and a real handshake in the
//! middle of the flood must be reported whole. The records go to a file
//! that is read line by line (a million sessions do not fit in the test).

mod common;

use std::io::BufRead as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

const MEMORY_LIMIT_MIB: u64 = 64;
/// What a run holds beyond its memory limit (as in hostile_traffic.rs).
const FIXED_OVERHEAD_MIB: u64 = 24;

struct FloodRun {
    stats: Value,
    /// The service records on the flooded port.
    flooded: Vec<Value>,
    /// The sessions of the real handshake's connection.
    real: Vec<Value>,
    sessions: u64,
    peak_mib: u64,
}

/// Runs tlsaudit under the memory limit with its records written to a file,
/// keeping the stats, the service records on `flooded_port` and the
/// sessions from `real_client`.
fn run_flood(scratch: &Scratch, capture: &Path, flooded_port: u16, real_client: &str) -> FloodRun {
    let records = scratch.path("records.jsonl");
    let report = scratch.path("time.txt");
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&report)
        .arg(env!("CARGO_BIN_EXE_tlsaudit"))
        .args(["--format", "jsonl", "--no-alerts", "--fail-on", "never", "--threads", "2", "--memory-limit"])
        .arg(MEMORY_LIMIT_MIB.to_string())
        .arg("-r")
        .arg(capture)
        .arg("-o")
        .arg(&records)
        .status()
        .expect("GNU time runs (apt-get install time)");
    assert!(status.success(), "tlsaudit exited with {status}");
    let peak_kib: u64 = std::fs::read_to_string(&report).unwrap().lines().last().and_then(|l| l.trim().parse().ok()).unwrap();
    let mut run = FloodRun { stats: Value::Null, flooded: Vec::new(), real: Vec::new(), sessions: 0, peak_mib: peak_kib / 1024 };
    let service_marker = "\"dataset\":\"tlsaudit.service\"";
    let port_marker = format!("\"port\":{flooded_port}}}");
    let real_marker = format!("\"source\":{{\"ip\":\"{real_client}\"");
    for line in std::io::BufReader::new(std::fs::File::open(&records).unwrap()).lines() {
        let line = line.unwrap();
        if line.contains("\"dataset\":\"tlsaudit.session\"") {
            run.sessions += 1;
            if line.contains(&real_marker) {
                run.real.push(serde_json::from_str(&line).unwrap());
            }
        } else if line.contains(service_marker) && line.contains(&port_marker) {
            run.flooded.push(serde_json::from_str(&line).unwrap());
        } else if line.contains("\"dataset\":\"tlsaudit.stats\"") {
            run.stats = serde_json::from_str(&line).unwrap();
        }
    }
    let _ = std::fs::remove_file(&records);
    eprintln!(
        "{}: peak RSS {peak_kib} KiB, {} sessions, inventory {} bytes, {} refusals",
        capture.display(),
        run.sessions,
        run.stats["tlsaudit"]["stats"]["inventory_memory_bytes"],
        run.stats["tlsaudit"]["stats"]["inventory_cap_hits"]["memory"]
    );
    assert!(
        run.peak_mib <= MEMORY_LIMIT_MIB + FIXED_OVERHEAD_MIB,
        "peak RSS {} MiB with --memory-limit {MEMORY_LIMIT_MIB}",
        run.peak_mib
    );
    run
}

fn stat(run: &FloodRun, path: &[&str]) -> u64 {
    let mut v = &run.stats["tlsaudit"]["stats"];
    for p in path {
        v = &v[*p];
    }
    v.as_u64().unwrap_or_else(|| panic!("no counter {path:?}"))
}

/// The reference handshake (TLS 1.2 with a certificate chain), as recorded.
fn reference() -> (Vec<Seg>, Vec<String>) {
    let path = captures_dir().join("tls12-ecdhe-rsa-aes128gcm.pcap");
    (read_segments(&path), session_essentials(&sessions_of(&path, &[])))
}

/// Where the server name of a ClientHello record is: the offset and length
/// of the host name in the SNI extension.
fn server_name_at(hello: &[u8]) -> (usize, usize) {
    // Record (5), handshake header (4), version (2), random (32).
    let mut at = 5 + 4 + 2 + 32;
    at += 1 + usize::from(hello[at]);
    at += 2 + usize::from(u16::from_be_bytes([hello[at], hello[at + 1]]));
    at += 1 + usize::from(hello[at]);
    let end = at + 2 + usize::from(u16::from_be_bytes([hello[at], hello[at + 1]]));
    at += 2;
    while at + 4 <= end {
        let kind = u16::from_be_bytes([hello[at], hello[at + 1]]);
        let len = usize::from(u16::from_be_bytes([hello[at + 2], hello[at + 3]]));
        if kind == 0 {
            // List length (2), name type (1), name length (2), name.
            let name_len = usize::from(u16::from_be_bytes([hello[at + 7], hello[at + 8]]));
            return (at + 9, name_len);
        }
        at += 4 + len;
    }
    panic!("the reference ClientHello has no server name");
}

/// `n` written in base 36 over exactly `len` characters (a DNS label).
fn label(mut n: u64, len: usize) -> Vec<u8> {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'a'; len];
    for c in out.iter_mut().rev() {
        *c = digits[(n % 36) as usize];
        n /= 36;
    }
    out
}

fn segment(ts: u64, src: (IpAddr, u16), dst: (IpAddr, u16), seq: u32, flags: &str, payload: Vec<u8>) -> Seg {
    let mut tcp = etherparse::TcpHeader::new(src.1, dst.1, seq, 64_240);
    tcp.ack = flags.contains('A');
    tcp.psh = flags.contains('P');
    tcp.rst = flags.contains('R');
    tcp.acknowledgment_number = 1;
    Seg { ts, src: src.0, dst: dst.0, tcp, payload }
}

#[test]
fn a_million_server_names_stay_under_the_memory_limit() {
    let scratch = Scratch::new("sni-flood");
    let path = scratch.path("sni-flood.pcap");
    let (real, want) = reference();
    let hello = real.iter().find(|s| s.payload.first() == Some(&22)).expect("the reference ClientHello").payload.clone();
    let (name_at, name_len) = server_name_at(&hello);
    assert!(name_len >= 5, "a name long enough to vary");
    const FLOOD: u32 = 1_000_000;
    const SERVERS: u32 = 200_000;
    let mut out = PcapStream::create(&path);
    let start = real[0].ts;
    for i in 0..FLOOD {
        if i == FLOOD / 2 {
            for s in &real {
                out.segment(&Seg { ts: start + u64::from(i), ..s.clone() });
            }
        }
        // Each connection: a ClientHello naming another host, then a reset.
        let client = (IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i >> 4))), 10_000 + (i & 15) as u16);
        let server = (IpAddr::V4(Ipv4Addr::from(0xac10_0000 + i % SERVERS)), 443);
        let mut named = hello.clone();
        named[name_at..name_at + name_len].copy_from_slice(&label(u64::from(i), name_len));
        let ts = start + u64::from(i);
        out.segment(&segment(ts, client, server, 1, "PA", named));
        out.segment(&segment(ts, client, server, 1 + hello.len() as u32, "R", Vec::new()));
    }
    out.finish();

    let real_client = real[0].src.to_string();
    let run = run_flood(&scratch, &path, 443, &real_client);
    assert_eq!(run.sessions, u64::from(FLOOD) + 1, "every ClientHello is a session");
    assert_eq!(stat(&run, &["flows", "flows_evicted_memory"]), 0, "every connection ended by its reset, none for memory");
    let refused = stat(&run, &["inventory_cap_hits", "memory"]);
    assert!(refused > 0, "the inventory refused entries once its share was spent");
    assert!(stat(&run, &["inventory_memory_bytes"]) <= (MEMORY_LIMIT_MIB << 20) / 4, "within the inventory's quarter");
    let services = run.flooded.len();
    assert!(services > 5_000 && services < SERVERS as usize, "{services} services kept of {SERVERS}");
    // The real handshake came when the inventory was full: its session is
    // reported, its service may have been refused.
    let all = stat(&run, &["services"]) as usize;
    assert!(all == services || all == services + 1, "{all} services in all, {services} flooded");
    let capped = run.flooded.iter().filter(|s| s["tlsaudit"]["service"]["memory_capped"] == true).count();
    assert!(capped > 0, "services that lost names to the cap say so");
    let names: usize = run.flooded.iter().map(|s| s["tlsaudit"]["service"]["server_names"].as_array().map_or(0, Vec::len)).sum();
    // Each kept service has the name of its first session (the budget may
    // have run out between the last service and its name); a server's next
    // name comes 200,000 sessions later, when the budget is long spent.
    assert!(names + 1 >= services && names < FLOOD as usize, "{names} names kept of {FLOOD} for {services} services");
    assert_eq!(session_essentials(&run.real), want);
}

/// Where the leaf certificate's DER ends in the server's flight (the end of
/// its signature), from the Certificate message's lengths.
fn leaf_end(flight: &[u8]) -> usize {
    let len3 = |at: usize| usize::from(flight[at]) << 16 | usize::from(flight[at + 1]) << 8 | usize::from(flight[at + 2]);
    (0..flight.len() - 12)
        .find(|&at| {
            flight[at] == 11
                && flight[at + 10] == 0x30
                && len3(at + 1) == len3(at + 4) + 3
                && len3(at + 7) + 3 <= len3(at + 4)
                && at + 10 + len3(at + 7) <= flight.len()
        })
        .map(|at| at + 10 + len3(at + 7))
        .expect("a Certificate message in the server's flight")
}

#[test]
fn a_hundred_thousand_certificates_stay_under_the_memory_limit() {
    let scratch = Scratch::new("certificate-flood");
    let path = scratch.path("certificate-flood.pcap");
    let (real, want) = reference();
    let flights = flights_of(&real);
    let server_flight = flights.iter().position(|(from_client, _)| !from_client).expect("a server flight");
    let end = leaf_end(&flights[server_flight].1);
    const FLOOD: u32 = 100_000;
    const SERVERS: u32 = 25_000;
    let mut out = PcapStream::create(&path);
    let mut ts = real[0].ts;
    for i in 0..FLOOD {
        if i == FLOOD / 2 {
            for s in &real {
                out.segment(&Seg { ts, ..s.clone() });
            }
        }
        // The real handshake, its leaf's signature ending in the
        // connection's number: another certificate each time.
        let mut own = flights.clone();
        own[server_flight].1[end - 4..end].copy_from_slice(&i.to_be_bytes());
        let client = (IpAddr::V4(Ipv4Addr::from(0x0a40_0000 | (i >> 4))), 20_000 + (i & 15) as u16);
        let server = (IpAddr::V4(Ipv4Addr::from(0xac20_0000 + i % SERVERS)), 8443);
        for s in connection(client, server, &own, 1448, ts) {
            out.segment(&s);
        }
        ts += 10;
    }
    out.finish();

    let real_client = real[0].src.to_string();
    let run = run_flood(&scratch, &path, 8443, &real_client);
    assert_eq!(run.sessions, u64::from(FLOOD) + 1);
    assert_eq!(stat(&run, &["decode_errors", "certificate"]), 0, "every altered certificate still parses");
    assert!(stat(&run, &["flows", "certificate_cache_hits"]) < u64::from(FLOOD), "each certificate is another one");
    assert!(stat(&run, &["inventory_cap_hits", "memory"]) > 0, "the inventory refused entries once its share was spent");
    assert!(stat(&run, &["inventory_memory_bytes"]) <= (MEMORY_LIMIT_MIB << 20) / 4, "within the inventory's quarter");
    let kept: usize = run.flooded.iter().map(|s| s["tlsaudit"]["service"]["certificates"].as_array().map_or(0, Vec::len)).sum();
    assert!(kept > 1_000 && kept < FLOOD as usize, "{kept} certificates kept of {FLOOD}");
    assert!(run.flooded.iter().any(|s| s["tlsaudit"]["service"]["memory_capped"] == true));
    assert_eq!(session_essentials(&run.real), want);
}
