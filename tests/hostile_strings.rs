//! Attacker-chosen strings from real TLS stacks (`captures/hostile-strings.pcap`,
//! made by `captures/make-hostile-strings.sh`): an SNI of 222 bytes starting
//! with ANSI escape sequences and a bell, an ALPN protocol with an escape
//! sequence, a certificate whose subject holds escape sequences, a bell and
//! an OSC title sequence, and a 305-character subjectAltName. The JSON must
//! carry them exactly (tshark's fields are the oracle), and the text output
//! must show them escaped once, with no control character reaching the
//! terminal.

mod common;

use std::process::Command;

use common::{captures_dir, completed, run_jsonl, tlsaudit};

fn tshark_fields(filter: &str, fields: &[&str]) -> Vec<String> {
    let capture = captures_dir().join("hostile-strings.pcap");
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(&capture).args(["-Y", filter, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=\u{1f}"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("the strings are UTF-8");
    let line = text.lines().next().expect("one matching packet").to_string();
    line.split('\t').map(str::to_string).collect()
}

#[test]
fn hostile_strings_reach_json_exactly_and_the_terminal_escaped() {
    let path = captures_dir().join("hostile-strings.pcap");
    let run = run_jsonl(&["-r", path.to_str().unwrap()]);
    assert!(completed(run.code), "{}", run.stderr);
    assert_eq!(run.sessions.len(), 1);
    let s = &run.sessions[0];

    // The oracle: what tshark reads in the same bytes.
    let hello = tshark_fields("tls.handshake.type==1", &["tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str"]);
    let server = tshark_fields("tls.handshake.type==2", &["tls.handshake.extensions_alpn_str"]);
    let names = tshark_fields("tls.handshake.type==11", &["x509sat.uTF8String", "x509ce.dNSName"]);
    let sni = &hello[0];
    assert!(sni.starts_with("\u{1b}[1;31mALERT\u{1b}[0m\u{7}") && sni.len() == 222, "{sni:?}");
    assert_eq!(s["tls"]["client"]["server_name"], sni.as_str());
    let offered: Vec<&str> = hello[1].split('\u{1f}').collect();
    assert_eq!(s["tlsaudit"]["client"]["alpn"], serde_json::json!(offered));
    assert_eq!(s["tls"]["next_protocol"], server[0].as_str());
    assert_eq!(server[0], "h2\u{1b}[8m");
    let subject_values: Vec<&str> = names[0].split('\u{1f}').collect();
    let x509 = &s["tls"]["server"]["x509"];
    let cn = x509["subject"]["common_name"].as_str().unwrap();
    assert_eq!(cn, "x\u{1b}]0;pwned\u{7}\u{1b}[2J.test");
    assert!(subject_values.contains(&cn), "{subject_values:?}");
    assert!(subject_values.contains(&"Evil\u{1b}[31mRED\u{7}"), "{subject_values:?}");
    let san: Vec<&str> = names[1].split('\u{1f}').collect();
    assert_eq!(x509["alternative_names"], serde_json::json!(san));
    assert_eq!(san[1].len(), 305);

    // Finding messages are free text for people: a quoted network string is
    // escaped there as on the terminal, in JSON too.
    let messages: Vec<&str> = s["tlsaudit"]["findings"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap()).collect();
    let mismatch = messages.iter().find(|m| m.starts_with("the client asked for ")).expect("a host name mismatch finding");
    let escaped_sni = sni.replace('\u{1b}', r"\x1b").replace('\u{7}', r"\x07");
    assert!(mismatch.contains(&escaped_sni), "{mismatch}");
    for m in &messages {
        assert!(!m.chars().any(char::is_control), "control character in a JSON message: {m:?}");
    }

    // The terminal: nothing it would act on, every string escaped once.
    let out = tlsaudit(&["-r", path.to_str().unwrap(), "--format", "text", "--sessions"]);
    assert_eq!(out.status.code(), Some(1), "the hostile certificate fails the policy");
    let text = String::from_utf8(out.stdout).expect("text output is UTF-8");
    let bad: Vec<char> = text.chars().filter(|c| c.is_control() && *c != '\n').collect();
    assert!(bad.is_empty(), "control characters reached the terminal: {bad:?}");
    let shown_sni = sni.replace('\u{1b}', r"\x1b").replace('\u{7}', r"\x07");
    assert!(text.contains(&format!("sni={shown_sni}")), "{text}");
    assert!(text.contains(r"cert=x\x1b]0;pwned\x07\x1b[2J.test"), "{text}");
    // Findings quote the names escaped once, not twice.
    assert!(text.contains(&format!("the client asked for {shown_sni} but the certificate names a\\x1b[5mb.test")), "{text}");
    assert!(!text.contains(r"\\x1b"), "escaped twice: {text}");
}
