//! QUIC: handshakes read from Initial packets. The captures made here with
//! aioquic (captures/make-quic-captures.sh) cover versions 1 and 2, a
//! ClientHello over several Initial packets, a Retry, a Version
//! Negotiation and two connections from one client port; the third-party ones are browsers and servers in the wild.
//! JA4 ('q' prefix) is checked against the ja4 project's outputs, and
//! damaged packets against panics and silent acceptance.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

fn quic_sessions(path: &std::path::Path) -> Vec<Value> {
    sessions_of(path, &[]).into_iter().filter(|s| s["network"]["transport"] == "udp").collect()
}

fn only_session(name: &str) -> Value {
    let mut s = quic_sessions(&captures_dir().join("quic").join(name));
    assert_eq!(s.len(), 1, "{name}: one QUIC session expected, got {}", s.len());
    s.remove(0)
}

#[test]
fn version_1_handshake_is_read_from_the_initial_packets() {
    let s = only_session("v1.pcap");
    assert_eq!(s["network"]["protocol"], "quic");
    assert_eq!(s["tls"]["version"], "1.3");
    assert_eq!(s["tls"]["client"]["server_name"], "ehr.example.test");
    assert_eq!(s["tls"]["established"], true);
    assert!(s["tlsaudit"]["client"]["ja4"].as_str().unwrap().starts_with("q13d"), "{}", s["tlsaudit"]["client"]["ja4"]);
    let q = &s["tlsaudit"]["quic"];
    assert_eq!(q["version"], "1");
    assert!(q["initial_packets"]["client"].as_u64() >= Some(1) && q["initial_packets"]["server"].as_u64() >= Some(1), "{q}");
    assert!(q["handshake_packets"]["client"].as_u64() >= Some(1), "{q}");
    // aioquic's defaults: a 60 s idle timeout, and 1 MiB of connection data.
    let params = &s["tlsaudit"]["client"]["quic_transport_parameters"];
    assert_eq!(params["max_idle_timeout_ms"], 60_000);
    assert_eq!(params["initial_max_data"], 1_048_576);
    // The certificate travels in Handshake packets: said, not judged.
    assert_eq!(s["tlsaudit"]["cert_observable"], false);
    let rules: Vec<&str> = s["tlsaudit"]["findings"].as_array().unwrap().iter().filter_map(|f| f["rule"].as_str()).collect();
    assert!(rules.contains(&"cert.not_observable"), "{rules:?}");
}

/// aioquic's client connects twice from the same port: two sessions, each
/// with its own handshake, not one flow that absorbs the second.
#[test]
fn a_new_connection_from_the_same_port_is_a_new_session() {
    let path = captures_dir().join("quic/same-port-twice.pcap");
    let run = run_jsonl(&["-r", path.to_str().unwrap()]);
    assert_eq!(run.sessions.len(), 2, "{}", run.stderr);
    for s in &run.sessions {
        assert_eq!((s["source"]["port"].as_u64(), s["tls"]["established"].as_bool()), (Some(54321), Some(true)), "{s}");
        assert_eq!(s["tls"]["client"]["server_name"], "ris.example.test");
        assert!(s["tlsaudit"]["quic"]["undecryptable_initials"].is_null(), "{}", s["tlsaudit"]["quic"]);
    }
    assert!(run.sessions[0]["event"]["end"].as_str() < run.sessions[1]["event"]["start"].as_str(), "one after the other");
    assert_eq!(run.stats["tlsaudit"]["stats"]["flows"]["flows_port_reused"], 1);
    let hellos = tshark_quic_hello_fields(&path).lines().filter(|l| l.split('\t').nth(7).is_some_and(|t| t.split(',').any(|t| t == "1"))).count();
    assert_eq!(hellos, 2, "tshark sees two ClientHellos");
}

#[test]
fn version_2_keys_and_packet_types() {
    let s = only_session("v2.pcap");
    assert_eq!(s["tlsaudit"]["quic"]["version"], "2");
    assert_eq!(s["tls"]["cipher"], "TLS_AES_256_GCM_SHA384");
    assert_eq!(s["tls"]["established"], true);
    // suricata-verify's v2 capture, from another stack.
    let sv = quic_sessions(&thirdparty_dir().join("suricata-verify/quic-v2-ja3/input.pcap"));
    assert_eq!(sv.len(), 1);
    assert_eq!(sv[0]["tlsaudit"]["quic"]["version"], "2");
    assert!(sv[0]["tlsaudit"]["quic"]["undecryptable_initials"].is_null(), "{}", sv[0]["tlsaudit"]["quic"]);
}

#[test]
fn a_client_hello_over_several_initial_packets_is_put_back_together() {
    let path = captures_dir().join("quic/long-hello.pcap");
    // tshark shows the ClientHello completed in the third Initial.
    let tsv = tshark_quic_hello_fields(&path);
    let first_hello_frame: u32 = tsv.lines().next().and_then(|l| l.split('\t').next()).and_then(|f| f.parse().ok()).unwrap();
    assert!(first_hello_frame >= 2, "the ClientHello fits one packet (frame {first_hello_frame})");
    let s = only_session("long-hello.pcap");
    assert_eq!(s["tls"]["client"]["server_name"], "portal.example.test");
    assert!(s["tlsaudit"]["client"]["alpn"].as_array().unwrap().len() > 30);
    assert!(s["tlsaudit"]["quic"]["initial_packets"]["client"].as_u64() >= Some(u64::from(first_hello_frame)));
}

#[test]
fn retry_and_version_negotiation_are_recorded() {
    let retry = only_session("retry.pcap");
    assert_eq!(retry["tlsaudit"]["quic"]["retry"], true);
    assert_eq!(retry["tls"]["established"], true, "the handshake after the Retry is read with the new keys");
    let vn = only_session("version-negotiation.pcap");
    let q = &vn["tlsaudit"]["quic"];
    assert_eq!(q["version_negotiation"], serde_json::json!(["1"]));
    assert_eq!((q["client_version"].as_str(), q["version"].as_str()), (Some("2"), Some("1")));
    assert_eq!(vn["tls"]["established"], true);
    for s in [&retry, &vn] {
        // Written only when above one: the repeated ClientHello is one hello.
        assert!(s["tlsaudit"]["client_hello_count"].is_null(), "{}", s["tlsaudit"]["client_hello_count"]);
        assert!(s["tlsaudit"]["client"]["ja4"].is_string());
    }
}

/// JA4 of every QUIC stream in the ja4 project's expected outputs (its
/// Rust implementation's snapshots list them per stream).
#[test]
fn quic_ja4_matches_the_ja4_projects_outputs() {
    let dir = thirdparty_dir().join("ja4");
    let mut compared = 0;
    let mut failures = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir.join("expected-rust")).expect("ja4/expected-rust").flatten().collect();
    files.sort_by_key(|e| e.file_name());
    for entry in files {
        let file_name = entry.file_name().to_string_lossy().to_string();
        let Some(name) = file_name.strip_suffix(".json") else { continue };
        let capture = dir.join(name);
        let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
        let expected: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut want: BTreeMap<(String, String), String> = BTreeMap::new();
        for s in expected["streams"].as_array().into_iter().flatten() {
            if s["transport"] != "udp" || !s["ja4"].is_string() {
                continue;
            }
            let ep = |ip: &Value, port: &Value| endpoint(ip.as_str().unwrap(), &port.to_string());
            want.insert((ep(&s["src"], &s["src_port"]), ep(&s["dst"], &s["dst_port"])), s["ja4"].as_str().unwrap().to_string());
        }
        if want.is_empty() || !capture.is_file() {
            continue;
        }
        let got: BTreeMap<(String, String), String> = quic_sessions(&capture)
            .iter()
            .map(|s| (session_key(s), s["tlsaudit"]["client"]["ja4"].as_str().unwrap_or("").to_string()))
            .collect();
        for (key, ja4) in want {
            compared += 1;
            if got.get(&key) != Some(&ja4) {
                failures.push(format!("{name} {} -> {}: expected {ja4}, tlsaudit {:?}", key.0, key.1, got.get(&key)));
            }
        }
    }
    assert!(compared >= 40, "only {compared} QUIC JA4 values compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Bytes of the client's first datagram changed one at a time: inside its
/// Initial packet, each change is counted (the AEAD tag or the header
/// fails) and no other hello is ever read; in the padding aioquic puts
/// after the packet, outside QUIC's protection, nothing changes.
#[test]
fn damaged_initial_packets_are_counted_not_believed() {
    let scratch = Scratch::new("quic-damaged");
    let capture = captures_dir().join("quic/v1.pcap");
    let (linktype, frames) = read_pcap_frames(&capture);
    let clean = only_session("v1.pcap");
    let clean_run = run_jsonl(&["-r", capture.to_str().unwrap()]);
    let clean_not_tcp = clean_run.stats["tlsaudit"]["stats"]["reader"]["not_tcp"].as_u64().expect("not_tcp counted");
    // Where the Initial packet ends, as tshark reads it (Ethernet, IPv4 and UDP headers first).
    let out = std::process::Command::new("tshark")
        .args(["-r", capture.to_str().unwrap(), "-c", "1", "-T", "fields", "-e", "quic.packet_length"])
        .output()
        .expect("tshark runs");
    let packet_len: usize = String::from_utf8_lossy(&out.stdout).trim().parse().expect("a QUIC packet length");
    let (start, end) = (14 + 20 + 8, 14 + 20 + 8 + packet_len);
    assert!(end + 100 < frames[0].1.len(), "no padding after the packet to damage");
    let (mut inside, mut outside) = (0, 0);
    for at in (start + 1..frames[0].1.len()).step_by(13) {
        let mut damaged = frames.clone();
        damaged[0].1[at] ^= 0x5a;
        let path = scratch.path(&format!("at-{at}.pcap"));
        write_pcap_frames(&path, linktype, &damaged, 65_535);
        let run = run_jsonl(&["-r", path.to_str().unwrap()]);
        assert!(completed(run.code), "byte {at}: {}", run.stderr);
        let stats = &run.stats["tlsaudit"]["stats"];
        let counted = stats["decode_errors"]["quic_packet"].as_u64().unwrap_or(0)
            + stats["flows"]["udp_datagrams_without_flow"].as_u64().unwrap_or(0)
            + stats["reader"]["not_tcp"].as_u64().unwrap_or(0).saturating_sub(clean_not_tcp);
        let hellos: Vec<&Value> =
            run.sessions.iter().filter(|s| s["network"]["transport"] == "udp").map(|s| &s["tlsaudit"]["client"]["ja4"]).collect();
        if at < end {
            inside += 1;
            assert!(counted > 0, "byte {at} of the Initial packet damaged, nothing counted");
            assert!(hellos.iter().all(|h| h.is_null()), "byte {at}: a damaged hello was read: {hellos:?}");
        } else {
            outside += 1;
            assert_eq!(counted, 0, "byte {at} after the packet");
            assert_eq!(hellos, [&clean["tlsaudit"]["client"]["ja4"]], "byte {at} after the packet");
        }
    }
    assert!(inside > 30 && outside > 30, "{inside} inside, {outside} outside");
}
