//! Findings remembered per worker: a session whose facts repeat an earlier
//! one's takes its findings from the worker's memory. Every remembered
//! answer must equal judging the session afresh (checked by the binary
//! itself under `TLSAUDIT_VERIFY_VERDICTS=1`, which stops the run on a
//! difference), and what depends on the session's own time must still be
//! judged per session.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

/// Runs tlsaudit with every remembered verdict checked against a fresh one.
fn run_verified(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_tlsaudit"))
        .env("TLSAUDIT_VERIFY_VERDICTS", "1")
        .args(["--format", "jsonl", "--no-system-ca"])
        .args(args)
        .output()
        .expect("the tlsaudit binary runs");
    split_records(out)
}

fn flows_stat(run: &Run, key: &str) -> u64 {
    run.stats["tlsaudit"]["stats"]["flows"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("no flows.{key} in {}", run.stats))
}

fn rules(s: &Value) -> Vec<String> {
    let mut v: Vec<String> = s["tlsaudit"]["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["rule"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn remembered_findings_equal_fresh_ones_under_every_profile() {
    let captures = captures_dir();
    let third = thirdparty_dir();
    let inputs = [captures.to_str().unwrap(), third.to_str().unwrap()];
    for profile in [
        "hipaa",
        "nist-800-52r2",
        "pci-dss-4",
        "mozilla-modern",
        "mozilla-intermediate",
        "mozilla-old",
        "bcp195",
    ] {
        // The bundled captures' test CA, so that trusted chains are judged too.
        let ca = captures.join("test-ca.pem");
        let run = run_verified(&[
            "-r",
            inputs[0],
            inputs[1],
            "--threads",
            "1",
            "--policy",
            profile,
            "--ca-file",
            ca.to_str().unwrap(),
        ]);
        assert!(completed(run.code), "{profile}: {}", run.stderr);
        let sessions = flows_stat(&run, "tls_sessions");
        let hits = flows_stat(&run, "verdict_cache_hits");
        // The third-party set repeats captures and hosts: many sessions are
        // judged from memory, but never all of them.
        assert!(
            hits >= 20 && hits < sessions,
            "{profile}: {hits} of {sessions} sessions from memory"
        );
    }
}

/// The same connection at three times: inside its certificate's validity,
/// after it, and before it. The three share every fact but the time, so the
/// later two are judged from memory; their certificate's validity is not.
#[test]
fn a_certificates_validity_is_judged_for_every_session() {
    let scratch = Scratch::new("verdict-memo-validity");
    let original = captures_dir().join("tls12-ecdhe-rsa-aes128gcm.pcap");
    let (linktype, frames) = read_pcap_frames(&original);
    let shifted = |name: &str, by: i64| {
        let path = scratch.path(name);
        let moved: Vec<(u64, Vec<u8>)> = frames
            .iter()
            .map(|(ts, f)| ((*ts as i64 + by) as u64, f.clone()))
            .collect();
        write_pcap_frames(&path, linktype, &moved, 262_144);
        path
    };
    const DAY: i64 = 86_400 * 1_000_000;
    let late = shifted("late.pcap", 4 * 365 * DAY);
    let early = shifted("early.pcap", -2 * DAY);
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let (o, l, e) = (path(&original), path(&late), path(&early));
    let run = run_verified(&["-r", &o, &l, &e, "--threads", "1"]);
    assert!(completed(run.code), "{}", run.stderr);
    assert_eq!(run.sessions.len(), 3, "{:?}", run.sessions);
    assert_eq!(flows_stat(&run, "verdict_cache_hits"), 2);
    let by_file = |file: &str| {
        run.sessions
            .iter()
            .find(|s| s["log"]["file"]["path"] == file)
            .unwrap_or_else(|| panic!("no session from {file}"))
    };
    let (in_time, after, before) = (rules(by_file(&o)), rules(by_file(&l)), rules(by_file(&e)));
    for r in ["cert.expired", "cert.not_yet_valid"] {
        assert!(
            !in_time.contains(&r.to_string()),
            "{r} within the validity: {in_time:?}"
        );
    }
    assert!(after.contains(&"cert.expired".to_string()), "{after:?}");
    assert!(
        before.contains(&"cert.not_yet_valid".to_string()),
        "{before:?}"
    );
    let without = |v: &[String], r: &str| v.iter().filter(|x| *x != r).cloned().collect::<Vec<_>>();
    assert_eq!(without(&after, "cert.expired"), in_time);
    assert_eq!(without(&before, "cert.not_yet_valid"), in_time);
    assert!(!in_time.is_empty());
}
