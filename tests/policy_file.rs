//! Custom policy files: overrides of severities and of the failing level,
//! allow-list extensions, an exception that applies, an expired exception,
//! and malformed files (a clear error naming the line, exit status 2).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn matrix(name: &str) -> PathBuf {
    captures_dir().join("matrix").join(name)
}

fn write_policy(scratch: &Scratch, name: &str, text: &str) -> PathBuf {
    let path = scratch.path(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The one session of a capture judged with a policy file (the test CA trusted).
fn session_with(capture: &Path, policy: &Path) -> (Value, Run) {
    let ca = captures_dir().join("test-ca.pem");
    let run = run_jsonl(&[
        "-r",
        capture.to_str().unwrap(),
        "--policy-file",
        policy.to_str().unwrap(),
        "--ca-file",
        ca.to_str().unwrap(),
    ]);
    assert!(completed(run.code), "{}", run.stderr);
    assert_eq!(run.sessions.len(), 1);
    (run.sessions[0].clone(), run)
}

fn rules_of(s: &Value, key: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = s["tlsaudit"][key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| (f["rule"].as_str().unwrap_or("").to_string(), f["severity"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn overrides_change_severities_and_the_failing_level() {
    let scratch = Scratch::new("policy-overrides");
    let policy = write_policy(
        &scratch,
        "strict.toml",
        "# stricter than hipaa for TLS 1.1, quieter about CBC\nbase = \"hipaa\"\n\n[rules]\n\"proto.tls11\" = \"critical\"\n\"cipher.cbc\" = \"off\"\n\"kex.group_not_listed\" = \"off\"\n",
    );
    let (s, _) = session_with(&matrix("tls11.pcap"), &policy);
    assert_eq!(rules_of(&s, "findings"), vec![("proto.tls11".into(), "critical".into())]);
    assert_eq!(s["tlsaudit"]["policy"], "hipaa+strict");
    assert_eq!(s["tlsaudit"]["compliant"], false);

    let lenient = write_policy(&scratch, "lenient.toml", "base = \"hipaa\"\nfailing = \"high\"\n");
    let (s, _) = session_with(&matrix("tls11.pcap"), &lenient);
    assert!(rules_of(&s, "findings").contains(&("proto.tls11".into(), "medium".into())));
    assert_eq!(s["tlsaudit"]["compliant"], true, "medium findings pass when failing starts at high");
}

#[test]
fn allow_lists_can_be_extended() {
    let scratch = Scratch::new("policy-allow");
    let capture = matrix("tls12-cbc-no-etm.pcap"); // TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256 (0xC027)
    let plain = write_policy(&scratch, "plain.toml", "base = \"mozilla-intermediate\"\n");
    let (s, _) = session_with(&capture, &plain);
    assert!(rules_of(&s, "findings").iter().any(|(r, _)| r == "cipher.not_approved"));
    let extended = write_policy(
        &scratch,
        "extended.toml",
        "base = \"mozilla-intermediate\"\n[allow]\nsuites = [\"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256\"]\n",
    );
    let (s, _) = session_with(&capture, &extended);
    assert!(!rules_of(&s, "findings").iter().any(|(r, _)| r == "cipher.not_approved"), "{s}");
    let by_code = write_policy(&scratch, "code.toml", "base = \"mozilla-intermediate\"\n[allow]\nsuites = [\"0xC027\"]\n");
    let (s, _) = session_with(&capture, &by_code);
    assert!(!rules_of(&s, "findings").iter().any(|(r, _)| r == "cipher.not_approved"));
}

#[test]
fn an_exception_sets_a_finding_aside_until_it_expires() {
    let scratch = Scratch::new("policy-exceptions");
    let capture = matrix("tls11.pcap"); // server 127.0.0.1:4450
    let granted = write_policy(
        &scratch,
        "granted.toml",
        r#"base = "hipaa"

[[exception]]
server = "127.0.0.0/8"
port = 4450
rule = "proto.tls11"
justification = "lab analyser, replacement ordered (change 4711)"
expires = "2099-12-31"
"#,
    );
    let (s, run) = session_with(&capture, &granted);
    assert_eq!(rules_of(&s, "exempted"), vec![("proto.tls11".into(), "medium".into())]);
    assert!(!rules_of(&s, "findings").iter().any(|(r, _)| r == "proto.tls11"));
    assert_eq!(s["tlsaudit"]["exempted"][0]["justification"], "lab analyser, replacement ordered (change 4711)");
    assert_eq!(s["tlsaudit"]["compliant"], true, "only low and info findings remain: {s}");
    assert_eq!(run.services[0]["tlsaudit"]["compliant"], true);

    // Another port: the exception does not cover it.
    let other_port = write_policy(
        &scratch,
        "other.toml",
        "[[exception]]\nserver = \"127.0.0.1\"\nport = 443\nrule = \"proto.tls11\"\njustification = \"x\"\n",
    );
    let (s, _) = session_with(&capture, &other_port);
    assert!(rules_of(&s, "findings").iter().any(|(r, _)| r == "proto.tls11"));

    let expired = write_policy(
        &scratch,
        "expired.toml",
        "[[exception]]\nserver = \"127.0.0.1\"\nrule = \"proto.tls11\"\njustification = \"until the 2020 upgrade\"\nexpires = \"2020-06-30\"\n",
    );
    let (s, _) = session_with(&capture, &expired);
    let findings = rules_of(&s, "findings");
    assert!(findings.contains(&("proto.tls11".into(), "medium".into())), "an expired exception stops applying");
    assert!(findings.contains(&("policy.exception_expired".into(), "low".into())), "and is reported itself: {findings:?}");
    let note = s["tlsaudit"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "policy.exception_expired")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(note.contains("2020-06-30") && note.contains("line 2"), "{note}");
    assert_eq!(s["tlsaudit"]["compliant"], false);
}

/// Whether an exception set `rule` aside for the one session of `capture`.
fn exempts(capture: &Path, policy: &Path, rule: &str) -> bool {
    let (s, _) = session_with(capture, policy);
    let exempted = rules_of(&s, "exempted").iter().any(|(r, _)| r == rule);
    let raised = rules_of(&s, "findings").iter().any(|(r, _)| r == rule);
    assert!(exempted != raised, "{rule} is either raised or exempted: {s}");
    exempted
}

#[test]
fn exceptions_select_by_client_and_server_name() {
    let scratch = Scratch::new("policy-selectors");
    // Client 127.0.0.1 asked for legacy.tlsaudit.test over TLS 1.0.
    let capture = captures_dir().join("tls10-rsa-aes128.pcap");
    let policy = |name: &str, selector: &str| {
        write_policy(
            &scratch,
            name,
            &format!("[[exception]]\n{selector}\nrule = \"proto.tls10\"\njustification = \"lab analyser\"\n"),
        )
    };
    let cases = [
        ("client-net.toml", "client = \"127.0.0.0/8\"", true),
        ("client-other.toml", "client = \"10.0.0.0/8\"", false),
        ("sni-exact.toml", "sni = \"Legacy.TLSaudit.test\"", true),
        ("sni-other.toml", "sni = \"tlsaudit.test\"", false),
        ("sni-below.toml", "sni = \"*.tlsaudit.test\"", true),
        ("sni-deeper.toml", "sni = \"*.legacy.tlsaudit.test\"", false),
        ("all-hold.toml", "client = \"127.0.0.1\"\nserver = \"127.0.0.1\"\nport = 4433\nsni = \"*.tlsaudit.test\"", true),
        ("one-fails.toml", "client = \"127.0.0.1\"\nserver = \"127.0.0.1\"\nport = 4434\nsni = \"*.tlsaudit.test\"", false),
    ];
    for (name, selector, expected) in cases {
        assert_eq!(exempts(&capture, &policy(name, selector), "proto.tls10"), expected, "{name}: {selector}");
    }
    // An exception by server name leaves a session without SNI alone.
    let no_sni = captures_dir().join("kex/tls12-srp.pcap");
    let by_name = write_policy(&scratch, "by-name.toml", "[[exception]]\nsni = \"*.tlsaudit.test\"\nrule = \"ext.no_sni\"\njustification = \"x\"\n");
    assert!(!exempts(&no_sni, &by_name, "ext.no_sni"));
}

/// Expiry is judged at the time of the run, or of --as-of, not of the session.
#[test]
fn exceptions_expire_by_the_clock_of_the_run() {
    let scratch = Scratch::new("policy-clock");
    let capture = matrix("tls11.pcap");
    let (plain, _) = session_with(&capture, &write_policy(&scratch, "none.toml", "base = \"hipaa\"\n"));
    let session_day = plain["@timestamp"].as_str().unwrap()[..10].to_string();
    // The exception ends on the day of the session.
    let policy = write_policy(
        &scratch,
        "until.toml",
        &format!("[[exception]]\nserver = \"127.0.0.1\"\nrule = \"proto.tls11\"\njustification = \"upgrade week\"\nexpires = \"{session_day}\"\n"),
    );
    let run = |as_of: Option<&str>| {
        let mut args = vec!["-r", capture.to_str().unwrap(), "--policy-file", policy.to_str().unwrap()];
        if let Some(day) = as_of {
            args.extend(["--as-of", day]);
        }
        let run = run_jsonl(&args);
        assert!(completed(run.code), "{}", run.stderr);
        rules_of(&run.sessions[0], "findings").into_iter().map(|(r, _)| r).collect::<Vec<_>>()
    };
    let on_the_day = run(Some(&session_day));
    assert!(!on_the_day.contains(&"proto.tls11".to_string()), "exempted as of the session's day: {on_the_day:?}");
    let next_year = format!("{}{}", session_day[..4].parse::<u32>().unwrap() + 1, &session_day[4..]);
    let later = run(Some(&next_year));
    assert!(later.contains(&"proto.tls11".to_string()) && later.contains(&"policy.exception_expired".to_string()), "{later:?}");
    // Without --as-of, today decides.
    let today = String::from_utf8(std::process::Command::new("date").args(["-u", "+%F"]).output().unwrap().stdout).unwrap();
    let expired_today = today.trim() > session_day.as_str();
    assert_eq!(run(None).contains(&"policy.exception_expired".to_string()), expired_today, "today {today}, session {session_day}");
    let bad = tlsaudit(&["-r", capture.to_str().unwrap(), "--as-of", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--as-of \"yesterday\" is not a date"));
}

#[test]
fn malformed_policy_files_name_the_line_and_exit_2() {
    let scratch = Scratch::new("policy-malformed");
    let capture = matrix("tls13-compliant.pcap");
    let cases = [
        ("syntax.toml", "base = \"hipaa\"\n[rules]\n\"cipher.cbc\" = off\n", ":3:"),
        ("unknown-rule.toml", "base = \"hipaa\"\n\n[rules]\n\"cipher.nope\" = \"high\"\n", ":4: unknown rule"),
        ("bad-severity.toml", "[rules]\n\"cipher.cbc\" = \"severe\"\n", ":2: rule cipher.cbc: unknown severity"),
        ("unknown-key.toml", "base = \"hipaa\"\ncolour = \"red\"\n", ":2:"),
        ("bad-base.toml", "base = \"hipa\"\n", ":1: unknown base profile"),
        ("bad-cidr.toml", "[[exception]]\nserver = \"10.0.0.0/40\"\nrule = \"proto.tls10\"\njustification = \"x\"\n", ":2: server"),
        ("bad-date.toml", "[[exception]]\nserver = \"10.0.0.1\"\nrule = \"proto.tls10\"\njustification = \"x\"\nexpires = \"31/12/2027\"\n", ":5: expiry"),
        ("no-justification.toml", "[[exception]]\nserver = \"10.0.0.1\"\nrule = \"proto.tls10\"\n", "justification"),
        ("bad-client.toml", "[[exception]]\nclient = \"workstations\"\nrule = \"proto.tls10\"\njustification = \"x\"\n", ":2: client"),
        ("bad-sni.toml", "[[exception]]\nsni = \"pacs.*.example.org\"\nrule = \"proto.tls10\"\njustification = \"x\"\n", ":2: sni"),
        ("no-selector.toml", "[[exception]]\nrule = \"proto.tls10\"\njustification = \"x\"\n", ":2: the exception selects no sessions"),
    ];
    for (name, text, expected) in cases {
        let policy = write_policy(&scratch, name, text);
        let out = tlsaudit(&["-r", capture.to_str().unwrap(), "--policy-file", policy.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{name}: one line expected: {stderr}");
        assert!(stderr.contains(name) && stderr.contains(expected), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}: nothing is analysed with a broken policy");
    }
}
