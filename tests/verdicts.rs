//! What a run may claim: a verdict only for what was seen. Nothing judged
//! is NOT ASSESSED (exit 3), never compliant, for the run, a service and a
//! session; an unreadable input leaves the run not assessed (exit 2); a
//! non-compliant run exits 1 unless `--fail-on never`.

mod common;

use common::*;

fn ca() -> String {
    captures_dir().join("test-ca.pem").to_str().unwrap().to_string()
}

#[test]
fn a_capture_without_tls_is_not_assessed() {
    // SSH: neither TLS nor a protocol judged in clear.
    let ssh = thirdparty_dir().join("ja4/ssh-r.pcap");
    let run = run_jsonl(&["-r", ssh.to_str().unwrap()]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(run.sessions.is_empty() && run.services.is_empty());
    let stats = &run.stats["tlsaudit"]["stats"];
    assert_eq!(stats["verdict"], "not_assessed");
    assert!(stats["reader"]["tcp_segments"].as_u64().unwrap() > 0, "the capture holds TCP, just no TLS");
    // --fail-on never turns off the exit code for findings, not this one.
    let never = run_jsonl(&["-r", ssh.to_str().unwrap(), "--fail-on", "never"]);
    assert_eq!(never.code, Some(3));
    let text = tlsaudit(&["-r", ssh.to_str().unwrap(), "--format", "text"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.starts_with("Verdict: NOT ASSESSED (hipaa policy"), "{text}");
    assert!(text.contains("Nothing was judged: 0 sessions seen"), "{text}");
    // Plain HTTP is no longer nothing: its sessions are judged in clear.
    let plain = run_jsonl(&["-r", thirdparty_dir().join("ja4/http1.pcapng").to_str().unwrap()]);
    assert_eq!(plain.code, Some(1), "{}", plain.stderr);
    assert!(!plain.sessions.is_empty() && plain.sessions.iter().all(|s| s["tlsaudit"]["encrypted"] == false));
    assert_eq!(plain.stats["tlsaudit"]["stats"]["verdict"], "non_compliant");
}

#[test]
fn a_filter_that_matches_nothing_is_not_assessed() {
    let good = captures_dir().join("matrix/tls13-compliant.pcap");
    let all = run_jsonl(&["-r", good.to_str().unwrap(), "--ca-file", &ca()]);
    assert_eq!(all.code, Some(0), "{}", all.stderr);
    assert_eq!(all.stats["tlsaudit"]["stats"]["verdict"], "compliant");
    let none = run_jsonl(&["-r", good.to_str().unwrap(), "--ca-file", &ca(), "tcp port 1"]);
    assert_eq!(none.code, Some(3));
    assert_eq!(none.stats["tlsaudit"]["stats"]["reader"]["packets_filtered_out"], all.stats["tlsaudit"]["stats"]["reader"]["packets"]);
}

#[test]
fn a_handshake_the_server_never_answered_is_not_assessed() {
    // Only the client's side of a compliant TLS 1.3 handshake: a ClientHello
    // and no ServerHello. Neither the session nor the service is compliant.
    let good = captures_dir().join("matrix/tls13-compliant.pcap");
    let run = run_jsonl(&["-r", good.to_str().unwrap(), "--ca-file", &ca(), "tcp dst port 4459"]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert_eq!(run.sessions.len(), 1);
    let session = &run.sessions[0]["tlsaudit"];
    assert_eq!(session["assessment"], "not_assessed");
    assert_eq!(session["compliant"], false);
    assert_eq!(run.services.len(), 1);
    assert_eq!(run.services[0]["tlsaudit"]["assessment"], "not_assessed");
    assert_eq!(run.services[0]["tlsaudit"]["compliant"], false);
    let text = tlsaudit(&["-r", good.to_str().unwrap(), "--ca-file", &ca(), "--format", "text", "--sessions", "tcp dst port 4459"]);
    let line = String::from_utf8(text.stdout).unwrap().lines().next().unwrap_or_default().to_string();
    assert!(line.ends_with("NOT ASSESSED"), "the session line says what the session is: {line}");
    let stats = &run.stats["tlsaudit"]["stats"];
    assert_eq!(stats["sessions_not_assessed"], 1);
    assert_eq!(stats["sessions_compliant"], 0);
    assert_eq!(stats["sessions_non_compliant"], 0);
    assert_eq!(stats["services_not_assessed"], 1);
}

#[test]
fn an_unreadable_input_leaves_the_run_not_assessed() {
    let good = captures_dir().join("matrix/tls13-compliant.pcap");
    let missing = captures_dir().join("no-such-capture.pcap");
    let run = run_jsonl(&["-r", good.to_str().unwrap(), missing.to_str().unwrap(), "--ca-file", &ca()]);
    assert_eq!(run.code, Some(2), "an input error wins: {}", run.stderr);
    assert_eq!(run.sessions.len(), 1, "the readable capture is still read");
    assert_eq!(run.sessions[0]["tlsaudit"]["assessment"], "compliant");
    assert_eq!(run.stats["tlsaudit"]["stats"]["verdict"], "not_assessed");
    let text = tlsaudit(&["-r", good.to_str().unwrap(), missing.to_str().unwrap(), "--ca-file", &ca(), "--format", "text"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.starts_with("Verdict: NOT ASSESSED"), "{text}");
    assert!(text.contains("1 input could not be read in full"), "{text}");
}

#[test]
fn findings_exit_1_by_default_and_only_when_raised() {
    let weak = captures_dir().join("matrix/tls11.pcap");
    let run = run_jsonl(&["-r", weak.to_str().unwrap(), "--ca-file", &ca()]);
    assert_eq!(run.code, Some(1));
    assert_eq!(run.stats["tlsaudit"]["stats"]["verdict"], "non_compliant");
    assert_eq!(run_jsonl(&["-r", weak.to_str().unwrap(), "--ca-file", &ca(), "--fail-on", "never"]).code, Some(0));
    // --fail-on info trips on a raised info finding, not on an empty run.
    let ssh = thirdparty_dir().join("ja4/ssh-r.pcap");
    assert_eq!(run_jsonl(&["-r", ssh.to_str().unwrap(), "--fail-on", "info"]).code, Some(3));
}
