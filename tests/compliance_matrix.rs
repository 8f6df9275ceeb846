//! The compliance matrix: one capture per weakness, made with real openssl
//! and gnutls on loopback (captures/make-captures.sh), each judged under
//! `hipaa` and under other profiles; the exact set of findings (rule, party,
//! severity) and the verdict are asserted. Also `--fail-on` exit codes and
//! the `rules`/`explain` commands.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::*;

type Expected = &'static [(&'static str, &'static str, &'static str)];

fn capture(name: &str) -> PathBuf {
    let dir = captures_dir();
    let in_matrix = dir.join("matrix").join(name);
    if in_matrix.is_file() {
        in_matrix
    } else {
        dir.join(name)
    }
}

/// The test CA that issued the bundled certificates.
fn test_ca() -> String {
    captures_dir().join("test-ca.pem").to_str().expect("UTF-8").to_string()
}

/// The findings of the one session in `name` under `policy` (the test CA
/// trusted with --ca-file), and its verdict.
fn judge(name: &str, policy: &str) -> (BTreeSet<(String, String, String)>, bool) {
    judge_with(name, policy, &["--ca-file", &test_ca()])
}

fn judge_with(name: &str, policy: &str, extra: &[&str]) -> (BTreeSet<(String, String, String)>, bool) {
    let path = capture(name);
    let mut args = vec!["--policy", policy];
    args.extend_from_slice(extra);
    let sessions = sessions_of(&path, &args);
    assert_eq!(sessions.len(), 1, "{name}: one session expected");
    let s = &sessions[0];
    assert_eq!(s["tlsaudit"]["policy"], policy);
    let findings = s["tlsaudit"]["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: no findings array"))
        .iter()
        .map(|f| {
            let text = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            assert!(!text("message").is_empty(), "{name}: finding without message: {f}");
            (text("rule"), text("party"), text("severity"))
        })
        .collect();
    (findings, s["tlsaudit"]["compliant"].as_bool().expect("compliant flag"))
}

fn check(name: &str, policy: &str, compliant: bool, expected: Expected) {
    let (got, verdict) = judge(name, policy);
    let want: BTreeSet<(String, String, String)> =
        expected.iter().map(|(r, p, s)| (r.to_string(), p.to_string(), s.to_string())).collect();
    assert_eq!(got, want, "{name} under {policy}");
    assert_eq!(verdict, compliant, "{name} under {policy}: verdict");
}

const SHA1_SIGALGS: (&str, &str, &str) = ("ext.sig_algs_sha1", "client", "info");
/// gnutls-cli asks for OCSP stapling; the test servers do not staple.
const NO_STAPLE: (&str, &str, &str) = ("ext.no_ocsp_staple", "server", "low");
const X25519_NOT_NIST: (&str, &str, &str) = ("kex.group_not_listed", "server", "info");

#[test]
fn protocol_versions() {
    check("tls11.pcap", "hipaa", false, &[("proto.tls11", "client", "medium"), ("cipher.cbc", "client", "low"), X25519_NOT_NIST]);
    check("tls11.pcap", "pci-dss-4", false, &[("proto.tls11", "client", "high"), ("cipher.cbc", "client", "info")]);
    check("tls11.pcap", "bcp195", false, &[("proto.tls11", "client", "high"), ("cipher.cbc", "client", "low")]);
    // openssl was limited to TLS 1.0 with a static-RSA suite on both sides
    // (CBC without forward secrecy is judged by cipher.no_fs alone; openssl
    // negotiates encrypt-then-MAC).
    // AES-CBC with RSA key transport: two weaknesses, two findings.
    check("tls10-rsa-aes128.pcap", "hipaa", false, &[
        ("proto.tls10", "client", "high"),
        ("cipher.no_fs", "client", "medium"),
        ("cipher.cbc", "client", "low"),
    ]);
    check("tls10-rsa-aes128.pcap", "mozilla-intermediate", false, &[
        ("proto.tls10", "client", "high"),
        ("cipher.no_fs", "client", "medium"),
        ("cipher.cbc", "client", "low"),
        ("cipher.not_approved", "client", "medium"),
        // The test server's certificate is valid for 825 days; Mozilla allows 366.
        ("cert.lifetime_too_long", "server", "low"),
    ]);
}

#[test]
fn a_refused_legacy_client_is_a_client_finding() {
    check("tls10-refused.pcap", "hipaa", false, &[("proto.tls10", "client", "high")]);
    check("tls10-refused.pcap", "bcp195", false, &[("proto.tls10", "client", "high")]);
    let (findings, _) = judge("tls10-refused.pcap", "pci-dss-4");
    assert!(findings.iter().all(|(_, party, _)| party == "client"), "the server that refused is compliant: {findings:?}");
}

#[test]
fn weak_cipher_suites() {
    // GnuTLS negotiates encrypt-then-MAC, so the CBC record layer is sound.
    check("tls10-rsa-3des.pcap", "hipaa", false, &[
        ("proto.tls10", "client", "high"),
        ("cipher.3des", "client", "high"),
        ("cipher.no_fs", "client", "medium"),
        ("cipher.cbc", "client", "low"),
        NO_STAPLE,
    ]);
    check("tls10-rsa-3des.pcap", "bcp195", false, &[
        ("proto.tls10", "client", "high"),
        ("cipher.3des", "client", "medium"),
        ("cipher.no_fs", "client", "medium"),
        ("cipher.cbc", "client", "low"),
        ("ext.no_ocsp_staple", "server", "low"),
    ]);
    check("tls12-null.pcap", "hipaa", false, &[
        ("cipher.null", "client", "critical"),
        ("cipher.no_fs", "client", "medium"),
        ("cipher.client_offers_weak", "client", "info"),
        SHA1_SIGALGS,
    ]);
    check("tls12-anon.pcap", "hipaa", false, &[
        ("cipher.anon", "client", "critical"),
        ("kex.dh_lt_2048", "server", "high"),
        ("cipher.client_offers_weak", "client", "info"),
        SHA1_SIGALGS,
    ]);
    // The client offered AEAD suites and encrypt-then-MAC: the server chose worse.
    check("tls12-cbc-no-etm.pcap", "hipaa", false, &[
        ("cipher.cbc", "server", "low"),
        ("ext.no_etm_cbc", "server", "medium"),
        X25519_NOT_NIST,
    ]);
    check("tls12-cbc-no-etm.pcap", "pci-dss-4", true, &[("cipher.cbc", "server", "info"), ("ext.no_etm_cbc", "server", "info")]);
    // The client offers ECDHE suites; the server allows only RSA key transport.
    check("tls12-static-rsa.pcap", "hipaa", false, &[("cipher.no_fs", "server", "medium")]);
    check("tls12-static-rsa.pcap", "pci-dss-4", true, &[("cipher.no_fs", "server", "info")]);
    check("tls12-static-rsa.pcap", "nist-800-52r2", false, &[
        ("cipher.no_fs", "server", "medium"),
        ("cipher.not_approved", "server", "medium"),
    ]);
    check("tls12-null.pcap", "bcp195", false, &[
        ("cipher.null", "client", "critical"),
        ("cipher.no_fs", "client", "medium"),
        ("cipher.client_offers_weak", "client", "low"),
        SHA1_SIGALGS,
    ]);
    check("tls12-anon.pcap", "mozilla-intermediate", false, &[
        ("cipher.anon", "client", "critical"),
        ("kex.dh_lt_2048", "server", "high"),
        ("cipher.not_approved", "client", "medium"),
        ("cipher.client_offers_weak", "client", "low"),
        SHA1_SIGALGS,
    ]);
    check("tls12-null-md5.pcap", "bcp195", false, &[
        ("cipher.null", "client", "critical"),
        ("cipher.weak_mac", "client", "high"),
        ("cipher.no_fs", "client", "medium"),
        ("cipher.client_offers_weak", "client", "low"),
        SHA1_SIGALGS,
    ]);
    check("tls12-null-md5.pcap", "hipaa", false, &[
        ("cipher.null", "client", "critical"),
        ("cipher.weak_mac", "client", "high"),
        ("cipher.no_fs", "client", "medium"),
        ("cipher.client_offers_weak", "client", "info"),
        SHA1_SIGALGS,
    ]);
    check("tls10-rc4-md5.pcap", "hipaa", false, &[
        ("cipher.rc4", "client", "critical"),
        ("cipher.weak_mac", "client", "high"),
        ("proto.tls10", "client", "high"),
        ("cipher.no_fs", "client", "medium"),
        ("cipher.client_offers_weak", "client", "info"),
        NO_STAPLE,
    ]);
    check("tls10-rc4-md5.pcap", "pci-dss-4", false, &[
        ("cipher.rc4", "client", "critical"),
        ("cipher.weak_mac", "client", "high"),
        ("proto.tls10", "client", "high"),
        ("cipher.no_fs", "client", "info"),
        ("cipher.client_offers_weak", "client", "info"),
    ]);
}

#[test]
fn key_exchange() {
    check("tls12-dhe-1024.pcap", "hipaa", false, &[("kex.dh_lt_2048", "server", "high"), SHA1_SIGALGS]);
    check("tls12-dhe-1024.pcap", "bcp195", false, &[
        ("kex.dh_lt_2048", "server", "high"),
        ("cipher.dhe", "client", "medium"),
        SHA1_SIGALGS,
    ]);
    check("tls12-no-ems.pcap", "hipaa", false, &[("ext.no_ems", "both", "medium"), SHA1_SIGALGS, NO_STAPLE]);
    check("tls12-no-ems.pcap", "bcp195", false, &[("ext.no_ems", "both", "high"), SHA1_SIGALGS, NO_STAPLE]);
    // PCI DSS does not judge OCSP stapling.
    check("tls12-no-ems.pcap", "pci-dss-4", true, &[("ext.no_ems", "both", "medium"), SHA1_SIGALGS]);
    check("tls12-weak-curve.pcap", "hipaa", false, &[("kex.ec_curve_weak", "server", "high"), SHA1_SIGALGS, ("kex.group_not_listed", "server", "info")]);
    check("tls12-weak-curve.pcap", "pci-dss-4", false, &[("kex.ec_curve_weak", "server", "high"), SHA1_SIGALGS]);
    // The client accepted only SHA-1 signatures.
    check("tls12-ske-sha1.pcap", "hipaa", false, &[("kex.sig_sha1", "server", "medium"), SHA1_SIGALGS, X25519_NOT_NIST]);
    check("tls12-ske-sha1.pcap", "pci-dss-4", false, &[("kex.sig_sha1", "server", "high"), SHA1_SIGALGS]);
}

#[test]
fn raw_public_keys_and_false_start() {
    // The GnuTLS client accepted only a raw public key (RFC 7250).
    check("tls12-raw-public-key.pcap", "hipaa", false, &[("ext.raw_public_key", "client", "medium"), SHA1_SIGALGS]);
    check("tls12-raw-public-key.pcap", "pci-dss-4", true, &[SHA1_SIGALGS]);
    // A GnuTLS client with False Start sent its request before the server's Finished.
    check("tls12-false-start.pcap", "hipaa", true, &[("proto.false_start", "client", "low"), NO_STAPLE, SHA1_SIGALGS]);
    check("tls12-false-start.pcap", "nist-800-52r2", false, &[
        ("proto.false_start", "client", "medium"),
        ("ext.no_ocsp_staple", "server", "medium"),
        SHA1_SIGALGS,
    ]);
    // An ordinary TLS 1.2 handshake from the same server is not False Start.
    let (findings, _) = judge("tls12-ecdhe-rsa-aes128gcm.pcap", "hipaa");
    assert!(!findings.iter().any(|(rule, ..)| rule == "proto.false_start"), "{findings:?}");
}

#[test]
fn certificates() {
    check("tls12-rsa1024-cert.pcap", "hipaa", false, &[("cert.rsa_lt_2048", "server", "high"), SHA1_SIGALGS, X25519_NOT_NIST]);
    check("tls12-rsa1024-cert.pcap", "bcp195", false, &[("cert.rsa_lt_2048", "server", "high"), SHA1_SIGALGS]);
    check("tls12-sha1-cert.pcap", "hipaa", false, &[("cert.sig_sha1", "server", "high"), SHA1_SIGALGS, X25519_NOT_NIST]);
    check("tls12-sha1-cert.pcap", "mozilla-intermediate", false, &[("cert.sig_sha1", "server", "high"), SHA1_SIGALGS]);
    check("tls12-not-yet-valid.pcap", "hipaa", false, &[("cert.not_yet_valid", "server", "high"), X25519_NOT_NIST]);
    check("tls12-not-yet-valid.pcap", "bcp195", false, &[("cert.not_yet_valid", "server", "high")]);
    check("tls12-hostname-mismatch.pcap", "hipaa", false, &[("cert.hostname_mismatch", "server", "high"), X25519_NOT_NIST]);
    check("tls12-hostname-mismatch.pcap", "pci-dss-4", false, &[("cert.hostname_mismatch", "server", "high")]);
    check("tls12-expired-selfsigned.pcap", "hipaa", false, &[
        ("cert.expired", "server", "high"),
        ("cert.self_signed", "server", "high"),
        ("cert.untrusted_chain", "server", "high"),
        ("cert.eku_not_server_auth", "server", "medium"),
        ("cert.no_revocation_info", "server", "low"),
        X25519_NOT_NIST,
    ]);
    check("tls12-expired-selfsigned.pcap", "bcp195", false, &[
        ("cert.expired", "server", "high"),
        ("cert.self_signed", "server", "high"),
        ("cert.untrusted_chain", "server", "high"),
        ("cert.eku_not_server_auth", "server", "medium"),
        ("cert.no_revocation_info", "server", "info"),
    ]);
    check("tls12-self-signed.pcap", "hipaa", false, &[
        ("cert.self_signed", "server", "high"),
        ("cert.untrusted_chain", "server", "high"),
        ("cert.no_revocation_info", "server", "low"),
        X25519_NOT_NIST,
    ]);
    check("tls12-self-signed.pcap", "pci-dss-4", false, &[
        ("cert.self_signed", "server", "high"),
        ("cert.untrusted_chain", "server", "high"),
        ("cert.no_revocation_info", "server", "info"),
    ]);
    check("tls12-expired.pcap", "hipaa", false, &[("cert.expired", "server", "high"), X25519_NOT_NIST]);
    check("tls12-expired.pcap", "pci-dss-4", false, &[("cert.expired", "server", "high")]);
    // Recorded ten days before the certificate expires: within the default
    // 30-day warning, outside a 5-day one.
    check("tls12-expiring-soon.pcap", "hipaa", true, &[("cert.expiring_soon", "server", "low"), X25519_NOT_NIST]);
    check("tls12-expiring-soon.pcap", "pci-dss-4", true, &[("cert.expiring_soon", "server", "info")]);
    let (findings, _) = judge_with("tls12-expiring-soon.pcap", "hipaa", &["--ca-file", &test_ca(), "--cert-expiry-warn", "5"]);
    assert!(!findings.iter().any(|(rule, ..)| rule == "cert.expiring_soon"), "{findings:?}");
    let (findings, _) = judge_with("tls12-expiring-soon.pcap", "hipaa", &["--ca-file", &test_ca(), "--cert-expiry-warn", "11"]);
    assert!(findings.iter().any(|(rule, ..)| rule == "cert.expiring_soon"), "{findings:?}");
    // Signed by a certificate the test CA issued, but one that is not a CA.
    check("tls12-issuer-not-ca.pcap", "hipaa", false, &[("cert.untrusted_chain", "server", "high"), X25519_NOT_NIST]);
    check("tls12-issuer-not-ca.pcap", "bcp195", false, &[("cert.untrusted_chain", "server", "high")]);
    let sessions = sessions_of(&capture("tls12-issuer-not-ca.pcap"), &["--ca-file", &test_ca()]);
    let message = sessions[0]["tlsaudit"]["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "cert.untrusted_chain").unwrap()["message"].clone();
    assert!(message.as_str().unwrap().contains("not-a-ca.tlsaudit.test") && message.as_str().unwrap().contains("not a CA"), "{message}");
    // Issued by a CA that neither the system nor --ca-file trusts.
    check("tls12-untrusted-chain.pcap", "hipaa", false, &[("cert.untrusted_chain", "server", "high"), X25519_NOT_NIST]);
    check("tls12-untrusted-chain.pcap", "bcp195", false, &[("cert.untrusted_chain", "server", "high")]);
}

#[test]
fn compliant_sessions() {
    check("tls13-compliant.pcap", "hipaa", true, &[("cert.not_observable", "both", "info")]);
    check("tls13-compliant.pcap", "nist-800-52r2", true, &[("cert.not_observable", "both", "info")]);
    check("tls12-ecdsa-compliant.pcap", "hipaa", true, &[X25519_NOT_NIST]);
    // A 365-day certificate is within Mozilla's 366 days.
    check("tls12-ecdsa-compliant.pcap", "mozilla-intermediate", true, &[]);
    // Modern wants TLS 1.3 only.
    let (findings, compliant) = judge("tls12-ecdsa-compliant.pcap", "mozilla-modern");
    assert!(!compliant);
    assert!(findings.contains(&("proto.tls12".into(), "client".into(), "medium".into())), "{findings:?}");
}

#[test]
fn fail_on_sets_the_exit_code() {
    let weak = capture("tls11.pcap");
    let good = capture("tls13-compliant.pcap");
    let ca = test_ca();
    let code = |path: &PathBuf, extra: &[&str]| {
        let mut args = vec!["-r", path.to_str().unwrap(), "--format", "jsonl", "--ca-file", &ca];
        args.extend_from_slice(extra);
        tlsaudit(&args).status.code()
    };
    assert_eq!(code(&weak, &[]), Some(1), "a non-compliant verdict exits 1 by default");
    assert_eq!(code(&weak, &["--fail-on", "never"]), Some(0), "--fail-on never: findings do not change the exit code");
    assert_eq!(code(&good, &[]), Some(0), "compliant");
    assert_eq!(code(&weak, &["--fail-on", "medium"]), Some(1));
    assert_eq!(code(&weak, &["--fail-on", "high"]), Some(0), "TLS 1.1 is medium under hipaa");
    assert_eq!(code(&weak, &["--fail-on", "high", "--policy", "pci-dss-4"]), Some(1));
    assert_eq!(code(&good, &["--fail-on", "low"]), Some(0));
    assert_eq!(code(&good, &["--fail-on", "info"]), Some(1), "cert.not_observable is an info finding");
    assert_eq!(code(&weak, &["--fail-on", "bogus"]), Some(2));
    assert_eq!(code(&weak, &["--policy", "bogus"]), Some(2));
}

#[test]
fn rules_and_explain() {
    let out = tlsaudit(&["rules"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for id in ["proto.tls10", "cipher.3des", "kex.dh_lt_2048", "cert.hostname_mismatch", "ext.no_ems"] {
        assert!(text.lines().any(|l| l.starts_with(id)), "{id} missing from `tlsaudit rules`");
    }
    let out = tlsaudit(&["explain", "cipher.3des"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("SP 800-52r2") && text.contains("hipaa high") && text.contains("bcp195 medium"), "{text}");
    assert!(text.contains("45 CFR 164.312(e)(1)"), "{text}");
    assert_eq!(tlsaudit(&["explain", "no.such.rule"]).status.code(), Some(2));
    let typo = tlsaudit(&["explain", "cipher.3de"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&typo.stderr).contains("did you mean cipher.3des?"));
    // The JSON catalogue says what the text one says.
    let json = tlsaudit(&["rules", "--format", "json"]);
    assert!(json.status.success());
    let rules: Vec<serde_json::Value> = serde_json::from_slice(&json.stdout).expect("one JSON array");
    let listed = String::from_utf8(tlsaudit(&["rules"]).stdout).unwrap();
    assert_eq!(rules.len(), listed.lines().skip(1).filter(|l| !l.starts_with(' ')).count());
    for rule in &rules {
        let id = rule["id"].as_str().unwrap();
        let row = listed.lines().find(|l| l.split_whitespace().next() == Some(id)).unwrap_or_else(|| panic!("{id} in the text"));
        let hipaa = row.split_whitespace().nth(1).unwrap();
        assert_eq!(rule["severity"]["hipaa"].as_str().unwrap_or("-"), hipaa, "{id}");
    }
    let no_fs = rules.iter().find(|r| r["id"] == "cipher.no_fs").unwrap();
    assert_eq!(no_fs["severity_by_cause"]["hipaa"], serde_json::json!(["medium", "low"]));
}

#[test]
fn chains_are_checked_against_the_trust_store() {
    // Without the test CA the same chain leads nowhere.
    let (findings, compliant) = judge_with("tls12-ecdsa-compliant.pcap", "hipaa", &["--no-system-ca"]);
    assert!(!compliant);
    assert!(findings.contains(&("cert.untrusted_chain".into(), "server".into(), "high".into())), "{findings:?}");
    // A directory of CA files works as well as a file.
    let dir = captures_dir();
    let (findings, compliant) = judge_with("tls12-ecdsa-compliant.pcap", "hipaa", &["--no-system-ca", "--ca-dir", dir.to_str().unwrap()]);
    assert!(compliant, "{findings:?}");
    // A self-signed leaf that is no trust anchor is both self-signed and
    // untrusted: one finding per weakness.
    let (findings, _) = judge_with("tls12-expired-selfsigned.pcap", "hipaa", &[]);
    assert!(findings.iter().any(|f| f.0 == "cert.self_signed"));
    assert!(findings.iter().any(|f| f.0 == "cert.untrusted_chain"), "{findings:?}");
    // Real public chains in the third-party captures lead to the system store.
    let ja4 = thirdparty_dir().join("ja4/latest.pcapng");
    let sessions = sessions_of(&ja4, &[]);
    let with_certs: Vec<_> = sessions.iter().filter(|s| s["tls"]["server"]["x509"].is_object()).collect();
    assert!(with_certs.len() >= 3);
    for s in with_certs {
        let rules: Vec<&str> = s["tlsaudit"]["findings"].as_array().unwrap().iter().filter_map(|f| f["rule"].as_str()).collect();
        assert!(!rules.contains(&"cert.untrusted_chain"), "public chain not trusted: {}", s["tls"]["client"]["server_name"]);
    }
    // An unreadable CA file is a usage error naming the file.
    let out = tlsaudit(&["-r", capture("tls13-compliant.pcap").to_str().unwrap(), "--ca-file", "/nonexistent/ca.pem"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ca.pem"));
    let not_pem = captures_dir().join("make-captures.sh");
    let out = tlsaudit(&["-r", capture("tls13-compliant.pcap").to_str().unwrap(), "--ca-file", not_pem.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("make-captures.sh"));
}

/// A post-quantum hybrid group: the one corner case without a real stack
/// here (openssl 3.0 and GnuTLS 3.7 have no ML-KEM), made by renaming the
/// X25519 key share of a real TLS 1.3 handshake to X25519MLKEM768 in both
/// hellos. tlsaudit judges the group id, not the key bytes.
#[test]
fn post_quantum_hybrid_groups_are_recognised() {
    let (linktype, mut frames) = read_pcap_frames(&captures_dir().join("tls13-x25519.pcap"));
    // key_share entry: group 0x001D, key length 32.
    let x25519_share = [0x00, 0x1d, 0x00, 0x20];
    let mut renamed = 0;
    for (_, frame) in &mut frames {
        if let Some(at) = frame.windows(4).position(|w| w == x25519_share) {
            frame[at..at + 2].copy_from_slice(&[0x11, 0xec]);
            renamed += 1;
        }
    }
    assert_eq!(renamed, 2, "one key share in each hello");
    let scratch = Scratch::new("pq-hybrid");
    let path = scratch.path("x25519mlkem768.pcap");
    write_pcap_frames(&path, linktype, &frames, 262_144);
    let sessions = sessions_of(&path, &["--policy", "hipaa"]);
    assert_eq!(sessions.len(), 1);
    let rules: Vec<&str> =
        sessions[0]["tlsaudit"]["findings"].as_array().unwrap().iter().filter_map(|f| f["rule"].as_str()).collect();
    assert!(rules.contains(&"kex.pq_hybrid"), "{rules:?}");
    assert_eq!(sessions[0]["tls"]["curve"], "X25519MLKEM768");
    // The same handshake unmodified is not post-quantum.
    let plain = sessions_of(&captures_dir().join("tls13-x25519.pcap"), &["--policy", "hipaa"]);
    let rules: Vec<&str> =
        plain[0]["tlsaudit"]["findings"].as_array().unwrap().iter().filter_map(|f| f["rule"].as_str()).collect();
    assert!(!rules.contains(&"kex.pq_hybrid"), "{rules:?}");
}

#[test]
fn the_service_inventory_and_the_report() {
    let dir = captures_dir();
    let ca = test_ca();
    let run = run_jsonl(&["-r", dir.to_str().unwrap(), "--ca-file", &ca]);
    assert!(completed(run.code), "{}", run.stderr);
    // One record per server endpoint, counting its sessions.
    let mut per_server = std::collections::BTreeMap::new();
    for s in &run.sessions {
        *per_server.entry((s["destination"]["ip"].to_string(), s["destination"]["port"].to_string())).or_insert(0u64) += 1;
    }
    assert_eq!(run.services.len(), per_server.len());
    for svc in &run.services {
        let key = (svc["destination"]["ip"].to_string(), svc["destination"]["port"].to_string());
        assert_eq!(svc["tlsaudit"]["service"]["sessions"].as_u64(), per_server.get(&key).copied(), "{key:?}");
        assert_eq!(svc["event"]["dataset"], "tlsaudit.service");
        assert_eq!(svc["tlsaudit"]["policy"], "hipaa");
    }
    let service = |port: u64| {
        run.services.iter().find(|s| s["destination"]["port"] == port).unwrap_or_else(|| panic!("no service on {port}"))
    };
    let reuse = &service(4440)["tlsaudit"]["service"];
    assert_eq!(reuse["sessions"], 12);
    assert_eq!(reuse["distinct_clients"], 1);
    assert_eq!(reuse["server_names"].as_array().unwrap().len(), 12);
    assert_eq!(reuse["versions"], serde_json::json!([{"name": "1.2", "count": 12}]));
    // The server that refused a TLS 1.0-only client has nothing held
    // against it, but it answered no handshake with a ServerHello: it is not
    // assessed, and not called compliant. The one that negotiated TLS 1.0 is
    // non-compliant, whoever offered it.
    let refused = service(4442);
    assert_eq!(refused["tlsaudit"]["assessment"], "not_assessed");
    assert_eq!(refused["tlsaudit"]["compliant"], false);
    assert!(refused["tlsaudit"]["findings"].as_array().unwrap().is_empty());
    let legacy = service(4433);
    assert_eq!(legacy["tlsaudit"]["compliant"], false);
    let rules: Vec<&str> = legacy["tlsaudit"]["findings"].as_array().unwrap().iter().filter_map(|f| f["rule"].as_str()).collect();
    assert!(rules.contains(&"proto.tls10"), "{rules:?}");
    // Non-compliant services come first, worst first, then those not
    // assessed, then the compliant ones.
    let order: Vec<(String, String)> = run
        .services
        .iter()
        .map(|s| (s["tlsaudit"]["assessment"].as_str().unwrap().to_string(), s["tlsaudit"]["findings"][0]["severity"].to_string()))
        .collect();
    let rank = |a: &str| ["non_compliant", "not_assessed", "compliant"].iter().position(|x| *x == a).expect("a known assessment");
    assert!(order.windows(2).all(|w| rank(&w[0].0) <= rank(&w[1].0)), "services in verdict order: {order:?}");
    assert_eq!(order[0].1, "\"critical\"", "the NULL/anon services lead: {order:?}");
    let count = |a: &str| order.iter().filter(|(x, _)| x == a).count() as u64;
    assert_eq!(count("not_assessed"), 1, "only the server that refused every handshake: {order:?}");
    let stats = &run.stats["tlsaudit"]["stats"];
    assert_eq!(stats["services"].as_u64(), Some(run.services.len() as u64));
    assert_eq!(stats["services_non_compliant"].as_u64(), Some(count("non_compliant")));
    assert_eq!(stats["services_not_assessed"].as_u64(), Some(count("not_assessed")));
    assert_eq!(stats["verdict"], "non_compliant");

    // The text report leads with the verdict; piped, it carries no colour.
    let out = tlsaudit(&["-r", dir.to_str().unwrap(), "--ca-file", &ca, "--format", "text"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("Verdict: NON-COMPLIANT (hipaa policy"), "{text}");
    assert!(!text.contains('\u{1b}'), "colour codes in piped output");
    let noncompliant = text.find("Non-compliant services").expect("services section");
    let clients = text.find("Clients whose own offers fail").expect("clients section");
    let compliant = text.find("Compliant services:").expect("compliant section");
    assert!(noncompliant < clients && clients < compliant);
    let good = captures_dir().join("matrix/tls13-compliant.pcap");
    let out = tlsaudit(&["-r", good.to_str().unwrap(), "--ca-file", &ca, "--format", "text"]);
    assert!(String::from_utf8(out.stdout).unwrap().starts_with("Verdict: COMPLIANT"));
}

#[test]
fn reuse_of_ephemeral_keys_matches_tshark() {
    // tshark's view: the server's ECDHE point or DH public value per ServerKeyExchange.
    let capture = thirdparty_dir().join("suricata-verify/tls-subjectaltname/input.pcap");
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&capture)
        .args(["-Y", "tls.handshake.type == 12", "-T", "fields", "-e", "ip.src", "-e", "tcp.srcport"])
        .args(["-e", "tls.handshake.server_point", "-e", "tls.handshake.ys"])
        .args(["-o", "tcp.reassemble_out_of_order:TRUE"])
        .output()
        .expect("tshark runs");
    let mut values: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let c: Vec<&str> = line.split('\t').collect();
        let value = format!("{}{}", c.get(2).unwrap_or(&""), c.get(3).unwrap_or(&""));
        if !value.is_empty() {
            values.entry((c[0].to_string(), c[1].to_string())).or_default().push(value);
        }
    }
    assert!(values.len() > 3, "tshark found too few key exchanges: {values:?}");
    let want: BTreeSet<String> = values
        .iter()
        .filter(|(_, v)| v.iter().collect::<BTreeSet<_>>().len() < v.len())
        .map(|((ip, port), _)| format!("{ip}:{port}"))
        .collect();
    assert!(!want.is_empty(), "the capture is expected to hold a reused key");
    let run = run_jsonl(&["-r", capture.to_str().unwrap()]);
    let got: BTreeSet<String> = run
        .services
        .iter()
        .filter(|s| s["tlsaudit"]["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "kex.dh_reuse"))
        .map(|s| format!("{}:{}", s["destination"]["ip"].as_str().unwrap(), s["destination"]["port"]))
        .collect();
    assert_eq!(got, want);
    // The same capture read twice is not reuse.
    let twice = run_jsonl(&["-r", capture.to_str().unwrap(), capture.to_str().unwrap()]);
    let flagged = twice
        .services
        .iter()
        .filter(|s| s["tlsaudit"]["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "kex.dh_reuse"))
        .count();
    assert_eq!(flagged, want.len());
}
