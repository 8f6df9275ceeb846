//! A TLS 1.3 draft or experiment is reported as what was negotiated, never
//! as RFC 8446, and raises `proto.tls13_draft`. Suricata's expected output
//! beside each draft capture is the oracle for the spelling (tshark's names
//! are checked in tshark_oracle.rs); Chrome's 0x7E01 experiment, which no
//! capture holds, is a real TLS 1.3 capture with its version rewritten.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;

fn rules_of(session: &Value) -> Vec<String> {
    session["tlsaudit"]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["rule"].as_str().map(str::to_string))
        .collect()
}

/// Suricata's `tls.version` ("TLS 1.3 draft-18", "TLS 1.3 draft-<16") in
/// the spelling of tlsaudit's `tls.version`.
fn suricata_spelling(version: &str) -> String {
    let draft = version.trim_start_matches("TLS 1.3 draft-");
    match draft.strip_prefix('<') {
        Some(below) => format!("1.3-draft-pre{below}"),
        None => format!("1.3-draft-{draft}"),
    }
}

#[test]
fn drafts_are_named_as_suricata_names_them() {
    let dir = thirdparty_dir().join("suricata-verify");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("suricata-verify captures") {
        let test = entry.expect("dir entry").path();
        let Ok(yaml) = std::fs::read_to_string(test.join("test.yaml")) else { continue };
        let expected: BTreeSet<String> = yaml
            .lines()
            .filter_map(|l| l.trim().strip_prefix("tls.version: "))
            .map(|v| v.trim_matches('"'))
            .filter(|v| v.starts_with("TLS 1.3 draft-"))
            .map(suricata_spelling)
            .collect();
        if expected.is_empty() {
            continue;
        }
        let pcap = std::fs::read_dir(&test)
            .expect("test dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "pcap"))
            .expect("a capture beside test.yaml");
        let sessions = sessions_of(&pcap, &[]);
        let established: Vec<&Value> = sessions.iter().filter(|s| s["tls"]["established"] == true).collect();
        assert!(!established.is_empty(), "{}: no established session", pcap.display());
        let seen: BTreeSet<String> =
            established.iter().filter_map(|s| s["tls"]["version"].as_str().map(str::to_string)).collect();
        assert_eq!(seen, expected, "{}", pcap.display());
        for s in &established {
            assert!(rules_of(s).contains(&"proto.tls13_draft".to_string()), "{}: {:?}", pcap.display(), rules_of(s));
            assert_eq!(s["tlsaudit"]["compliant"], false, "a draft is not compliant under hipaa");
        }
        checked += 1;
    }
    assert_eq!(checked, 6, "the six suricata-verify draft captures (14, 18, 19, 22, 23, 28)");
}

#[test]
fn the_final_version_raises_no_draft_finding() {
    let sessions = sessions_of(&captures_dir().join("tls13-x25519.pcap"), &[]);
    assert_eq!(sessions[0]["tls"]["version"], "1.3");
    assert!(sessions[0]["tlsaudit"]["tls13_draft"].is_null());
    assert!(!rules_of(&sessions[0]).contains(&"proto.tls13_draft".to_string()));
}

/// The bundled TLS 1.3 handshake with its ServerHello's supported_versions
/// rewritten from 0x0304 to Chrome's experiment 0x7E01.
#[test]
fn chrome_experiment_is_reported_as_an_experiment() {
    let (linktype, mut frames) = read_pcap_frames(&captures_dir().join("tls13-x25519.pcap"));
    // supported_versions (0x002B), 2 bytes long, 0x0304: only the ServerHello
    // carries it in this form (the ClientHello's holds a list).
    let needle = [0x00, 0x2B, 0x00, 0x02, 0x03, 0x04];
    let mut rewritten = 0;
    for (_, frame) in frames.iter_mut() {
        if let Some(at) = frame.windows(needle.len()).position(|w| w == needle) {
            frame[at + 4..at + 6].copy_from_slice(&[0x7E, 0x01]);
            rewritten += 1;
        }
    }
    assert_eq!(rewritten, 1, "one ServerHello");
    let scratch = Scratch::new("experiment");
    let path = scratch.path("tls13-experiment.pcap");
    write_pcap_frames(&path, linktype, &frames, 65535);
    let sessions = sessions_of(&path, &[]);
    assert_eq!(sessions[0]["tls"]["version"], "1.3-experiment-1");
    let rules = rules_of(&sessions[0]);
    assert!(rules.contains(&"proto.tls13_draft".to_string()), "{rules:?}");
    let finding = sessions[0]["tlsaudit"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "proto.tls13_draft")
        .unwrap()
        .clone();
    // The client offered RFC 8446; the server answered with an experiment.
    assert_eq!(finding["party"], "server", "{finding}");
}
