//! TCP reassembly on real handshakes: the bundled captures are re-cut into
//! small segments and delivered out of order, duplicated, overlapping, with
//! conflicting overlaps, with gaps and without their SYNs; tlsaudit must
//! report the same session facts as for the original capture (or, for gaps,
//! what the remaining bytes allow) and count what it saw.

mod common;

use common::*;

struct Case(Scratch);

impl Case {
    fn new(name: &str) -> Self {
        Case(Scratch::new(&format!("reassembly-{name}")))
    }

    fn run(&self, name: &str, segs: &[Seg]) -> common::Run {
        self.run_with(name, segs, &[])
    }

    fn run_with(&self, name: &str, segs: &[Seg], extra: &[&str]) -> common::Run {
        let path = self.0.path(&format!("{name}.pcap"));
        write_segments(&path, segs);
        let mut args = vec!["-r", path.to_str().expect("UTF-8")];
        args.extend_from_slice(extra);
        let run = run_jsonl(&args);
        assert!(completed(run.code), "{name}: {}", run.stderr);
        run
    }
}

/// Captures with a handshake in each direction spread over several segments.
const CAPTURES: &[&str] = &["tls12-mutual-auth.pcap", "tls13-hello-retry.pcap", "tls12-dhe-1024.pcap", "tls13-ipv6.pcap"];

fn stat(run: &common::Run, field: &str) -> u64 {
    run.stats["tlsaudit"]["stats"]["flows"][field].as_u64().unwrap_or_else(|| panic!("no counter {field}"))
}

/// A copy of a segment with every byte changed.
fn forge(s: &Seg) -> Seg {
    let mut f = s.clone();
    f.payload.iter_mut().for_each(|b| *b ^= 0x5a);
    f
}

/// Each packet cut into 10-byte pieces: all but the first sent last first
/// (they wait), then the copies `forged` makes from the packet and those
/// pieces, then the first piece, which lets everything through.
fn waiting_then_forged(original: &[Seg], forged: impl Fn(&Seg, &[Seg]) -> Vec<Seg>) -> Vec<Seg> {
    original
        .iter()
        .flat_map(|s| {
            let parts = pieces(s, 10, 10);
            let (first, rest) = parts.split_first().expect("at least one piece");
            let mut out: Vec<Seg> = rest.iter().rev().cloned().collect();
            out.extend(forged(s, rest));
            out.push(first.clone());
            out
        })
        .collect()
}

#[test]
fn resegmented_reordered_duplicated_and_overlapping_streams_give_the_same_sessions() {
    for name in CAPTURES {
        let original_path = captures_dir().join(name);
        let original = read_segments(&original_path);
        let case = Case::new(name.trim_end_matches(".pcap"));
        let baseline = run_jsonl(&["-r", original_path.to_str().expect("UTF-8")]);
        let want = session_essentials(&baseline.sessions);
        assert_eq!(want.len(), 1, "{name}: one session expected");
        assert!(want[0].contains("est=true"), "{name}: {}", want[0]);

        // Seven-byte segments, in order.
        let small: Vec<Seg> = original.iter().flat_map(|s| pieces(s, 7, 7)).collect();
        assert!(small.len() > original.len() * 10, "{name}: the capture carries too little data");
        let run = case.run("small", &small);
        assert_eq!(session_essentials(&run.sessions), want, "{name}: 7-byte segments");

        // One-byte segments.
        let tiny: Vec<Seg> = original.iter().flat_map(|s| pieces(s, 1, 1)).collect();
        assert_eq!(session_essentials(&case.run("tiny", &tiny).sessions), want, "{name}: 1-byte segments");

        // The pieces of every packet delivered in reverse order.
        let reversed: Vec<Seg> = original.iter().flat_map(|s| pieces(s, 9, 9).into_iter().rev()).collect();
        let run = case.run("reversed", &reversed);
        assert_eq!(session_essentials(&run.sessions), want, "{name}: out of order");

        // Every piece twice (retransmissions).
        let doubled: Vec<Seg> = original.iter().flat_map(|s| pieces(s, 11, 11)).flat_map(|p| [p.clone(), p]).collect();
        let run = case.run("doubled", &doubled);
        assert_eq!(session_essentials(&run.sessions), want, "{name}: duplicated");
        assert!(stat(&run, "tcp_retransmitted_bytes") > 0, "{name}: retransmissions not counted");

        // Overlapping pieces: 16 bytes every 10 bytes, same bytes.
        let overlapping: Vec<Seg> = original.iter().flat_map(|s| pieces(s, 10, 16)).collect();
        let run = case.run("overlapping", &overlapping);
        assert_eq!(session_essentials(&run.sessions), want, "{name}: overlapping");
        assert!(stat(&run, "tcp_overlap_bytes") > 0, "{name}: overlaps not counted");
        assert_eq!(stat(&run, "tcp_overlap_inconsistent"), 0, "{name}: consistent overlaps reported as conflicts");

        // Overlapping pieces whose second copy carries different bytes: the
        // first copy is kept and the conflict counted. The copies arrive
        // while the originals wait for an earlier piece, so both are held.
        let conflicting = waiting_then_forged(&original, |_, rest| rest.iter().map(forge).collect());
        let run = case.run("conflicting", &conflicting);
        assert_eq!(session_essentials(&run.sessions), want, "{name}: conflicting overlaps");
        assert!(stat(&run, "tcp_overlap_inconsistent") > 0, "{name}: conflicting overlap not counted");

        // Forged copies that start before the waiting piece they overlap
        // and reach back into the one before: they sort first, yet the
        // waiting pieces arrived first and are what gets analysed.
        let straddling = waiting_then_forged(&original, |s, rest| {
            rest.iter()
                .skip(1)
                .map(|p| {
                    let start = p.tcp.sequence_number.wrapping_sub(s.tcp.sequence_number) as usize - 5;
                    let mut f = p.clone();
                    f.tcp.sequence_number = p.tcp.sequence_number.wrapping_sub(5);
                    f.payload = s.payload[start..(start + 10).min(s.payload.len())].to_vec();
                    forge(&f)
                })
                .collect()
        });
        let run = case.run("straddling", &straddling);
        assert_eq!(session_essentials(&run.sessions), want, "{name}: forged copies starting before the waiting pieces");
        assert!(stat(&run, "tcp_overlap_inconsistent") > 0, "{name}: conflicting overlap not counted");

        // Forged retransmissions of delivered bytes: every piece is sent,
        // then sent again with other bytes. The first copy is analysed and
        // the session says how many segments conflicted with it.
        let retransmitted: Vec<Seg> = original
            .iter()
            .flat_map(|s| {
                let parts = pieces(s, 10, 10);
                let forged: Vec<Seg> = parts.iter().filter(|p| !p.payload.is_empty()).map(forge).collect();
                parts.into_iter().chain(forged)
            })
            .collect();
        let run = case.run("forged-retransmissions", &retransmitted);
        assert_eq!(session_essentials(&run.sessions), want, "{name}: forged retransmissions");
        let conflicts = run.sessions[0]["tlsaudit"]["tcp_overlap_conflicts"].as_u64().unwrap_or(0);
        assert!(conflicts > 0, "{name}: conflicting retransmissions not reported in the session");
        assert_eq!(stat(&run, "tcp_overlap_inconsistent"), conflicts, "{name}: session and stats disagree");
        // The same retransmissions with the original bytes are no conflict.
        let honest: Vec<Seg> = original.iter().flat_map(|s| pieces(s, 10, 10)).flat_map(|p| [p.clone(), p]).collect();
        let run = case.run("honest-retransmissions", &honest);
        assert!(run.sessions[0]["tlsaudit"]["tcp_overlap_conflicts"].is_null(), "{name}: {}", run.sessions[0]);

        // Picked up mid-stream: without SYN and SYN-ACK the handshake is
        // still found, since it starts at a record boundary.
        let midstream: Vec<Seg> = original.iter().filter(|s| !s.tcp.syn).cloned().collect();
        let run = case.run("midstream", &midstream);
        assert_eq!(session_essentials(&run.sessions), want, "{name}: mid-stream");
        assert!(stat(&run, "flows_midstream") > 0, "{name}: mid-stream flow not counted");
    }
}

#[test]
fn a_gap_in_the_certificate_is_counted_and_the_rest_of_the_handshake_still_parsed() {
    let original = read_segments(&captures_dir().join("tls12-mutual-auth.pcap"));
    let case = Case::new("gap");
    // The server's first data segment holds ServerHello and Certificate; cut
    // it into 100-byte pieces and lose the fourth (inside the certificate).
    let server_port = original[0].tcp.destination_port;
    let first_server_data = original
        .iter()
        .position(|s| s.tcp.source_port == server_port && !s.payload.is_empty())
        .expect("server data");
    let mut segs = Vec::new();
    for (i, s) in original.iter().enumerate() {
        if i == first_server_data {
            let mut parts = pieces(s, 100, 100);
            assert!(parts.len() > 5, "server flight too short");
            parts.remove(3);
            segs.extend(parts);
        } else {
            segs.push(s.clone());
        }
    }
    let run = case.run("gap", &segs);
    assert_eq!(run.sessions.len(), 1);
    let s = &run.sessions[0];
    assert_eq!(s["tls"]["version"], "1.2");
    assert_eq!(s["tls"]["client"]["server_name"], "tlsaudit.test");
    assert!(s["tls"]["cipher"].is_string(), "ServerHello lost: {s}");
    assert_eq!(s["tlsaudit"]["incomplete"], true, "gap not flagged: {s}");
    assert!(s["tls"]["server"]["hash"].is_null(), "a certificate with a hole cannot be parsed: {s}");
    assert_eq!(stat(&run, "tcp_gaps"), 1);
    assert_eq!(stat(&run, "tcp_gap_bytes"), 100);
    assert!(stat(&run, "tls_resyncs") >= 1, "the record layer did not resynchronise");
}

#[test]
fn every_back_to_back_connection_on_a_reused_port_is_reported() {
    let path = captures_dir().join("port-reuse.pcap");
    let run = run_jsonl(&["-r", path.to_str().expect("UTF-8")]);
    assert!(completed(run.code));
    let syns = read_segments(&path).iter().filter(|s| s.tcp.syn && !s.tcp.ack).count();
    assert_eq!(syns, 12, "the capture should hold twelve connections");
    let mut names: Vec<&str> = run.sessions.iter().filter_map(|s| s["tls"]["client"]["server_name"].as_str()).collect();
    names.sort();
    let mut expected: Vec<String> = (0..12).map(|i| format!("reuse{i}.tlsaudit.test")).collect();
    expected.sort();
    assert_eq!(names, expected, "one session per connection, none merged");
    let ports: std::collections::BTreeSet<_> = run.sessions.iter().map(session_key).collect();
    assert_eq!(ports.len(), 1, "all connections share one 4-tuple");
    assert!(run.sessions.iter().all(|s| s["tls"]["established"] == true));
    assert_eq!(stat(&run, "flows_port_reused"), 11);
}

#[test]
fn the_out_of_order_buffer_cap_is_counted_and_the_stream_goes_on() {
    let original = read_segments(&captures_dir().join("tls12-mutual-auth.pcap"));
    let case = Case::new("cap");
    // Every packet's pieces in reverse order: all but the first wait in the
    // out-of-order buffer, capped at 1 KiB here: the ClientHello fits, the
    // server's certificate flight does not.
    let reversed: Vec<Seg> = original.iter().flat_map(|s| pieces(s, 50, 50).into_iter().rev()).collect();
    let run = case.run_with("reversed", &reversed, &["--max-buffered", "1024"]);
    assert!(stat(&run, "tcp_buffer_cap_hits") > 0, "cap not hit");
    assert!(stat(&run, "tcp_gaps") > 0, "bytes skipped at the cap are gaps");
    assert_eq!(run.sessions.len(), 1, "the connection is still reported");
    let s = &run.sessions[0];
    assert_eq!(s["tls"]["client"]["server_name"], "tlsaudit.test");
    assert_eq!(s["tlsaudit"]["incomplete"], true, "{s}\n{}", run.stats);
    assert_eq!(s["tlsaudit"]["limits_hit"], serde_json::json!(["reassembly_buffer"]));
    // A cap smaller than any flight loses the hellos themselves: nothing to
    // report, but the loss is counted.
    let run = case.run_with("reversed-tiny", &reversed, &["--max-buffered", "64"]);
    assert!(stat(&run, "tcp_buffer_cap_hits") > 0);
    // With the default cap the same capture is whole.
    let run = case.run("reversed-default", &reversed);
    assert_eq!(stat(&run, "tcp_buffer_cap_hits"), 0);
    assert!(run.sessions[0]["tlsaudit"]["incomplete"].is_null());
}

#[test]
fn the_flow_table_cap_evicts_the_quietest_flow() {
    // Interleave the handshakes of three captures so that three flows are
    // open at once, with room for one.
    let mut all: Vec<Seg> = Vec::new();
    for name in ["tls12-ecdhe-rsa-aes128gcm.pcap", "tls12-dhe-1024.pcap", "tls10-rsa-aes128.pcap"] {
        let segs = read_segments(&captures_dir().join(name));
        let base = segs[0].ts;
        all.extend(segs.into_iter().map(|mut s| {
            s.ts = 1_700_000_000_000_000 + (s.ts - base);
            s
        }));
    }
    all.sort_by_key(|s| s.ts);
    let case = Case::new("flows");
    let run = case.run_with("interleaved", &all, &["--threads", "1", "--max-flows", "1"]);
    assert!(stat(&run, "flows_evicted") > 0, "no eviction");
    assert!(!run.sessions.is_empty());
    let evicted = run.sessions.iter().filter(|s| s["tlsaudit"]["limits_hit"] == serde_json::json!(["flow_table"])).count();
    assert!(evicted > 0 && evicted as u64 <= stat(&run, "flows_evicted"), "evicted sessions not marked");
    let run = case.run_with("interleaved-roomy", &all, &["--threads", "1"]);
    assert_eq!(stat(&run, "flows_evicted"), 0);
    assert_eq!(run.sessions.len(), 3);
    assert!(run.sessions.iter().all(|s| s["tls"]["established"] == true));
}

#[test]
fn a_connection_quiet_for_longer_than_the_idle_timeout_ends() {
    let original = read_segments(&captures_dir().join("tls12-ecdhe-rsa-aes128gcm.pcap"));
    let case = Case::new("idle");
    // Everything after the ClientHello arrives five minutes later.
    let client_port = original[0].tcp.source_port;
    let hello = original
        .iter()
        .position(|s| s.tcp.source_port == client_port && !s.payload.is_empty())
        .expect("ClientHello");
    let delayed: Vec<Seg> = original
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut s = s.clone();
            if i > hello {
                s.ts += 300_000_000;
            }
            s
        })
        .collect();
    let run = case.run_with("idle", &delayed, &["--idle-timeout", "60"]);
    assert_eq!(stat(&run, "flows_timed_out"), 1);
    assert_eq!(stat(&run, "flows"), 2, "the rest starts a new flow");
    let first = run.sessions.iter().find(|s| s["tlsaudit"]["client"]["ja4"].is_string()).expect("the ClientHello's session");
    assert!(first["tls"]["version"].is_null(), "the ServerHello came after the timeout");
    assert_eq!(first["tls"]["established"], false);
    // Within the default timeout (120 s) a 100 s pause is just a pause.
    let paused: Vec<Seg> = delayed
        .into_iter()
        .map(|mut s| {
            if s.ts > original[hello].ts + 1_000_000 {
                s.ts -= 200_000_000;
            }
            s
        })
        .collect();
    let run = case.run("paused", &paused);
    assert_eq!(stat(&run, "flows_timed_out"), 0);
    assert_eq!(run.sessions.len(), 1);
    assert_eq!(run.sessions[0]["tls"]["established"], true);
}

/// TCP Fast Open: a ClientHello carried in the SYN is read with its SNI,
/// whether the server took the SYN's data (port 4491) or not, so that the
/// client sent it again after the handshake (port 4492): one ClientHello
/// each, as tshark reads them.
#[test]
fn client_hello_in_a_syn_is_read() {
    let path = captures_dir().join("tcp-fast-open.pcap");
    let sessions = sessions_of(&path, &[]);
    assert_eq!(sessions.len(), 2);
    let tshark = tshark_hello_fields(&path, &[]);
    let client_hellos = tshark.lines().filter(|l| l.split('\t').nth(7) == Some("1")).count();
    assert_eq!(client_hellos, 2, "tshark: {tshark}");
    for s in &sessions {
        assert_eq!(s["tls"]["client"]["server_name"], "tfo.tlsaudit.test", "{s}");
        assert!(s["tlsaudit"]["client_hello_count"].is_null(), "one ClientHello, not a retransmitted second: {s}");
        assert_eq!(s["tls"]["established"], true);
    }
}
