//! The facts tshark's hello fields do not cover, checked on the bundled
//! captures against what `captures/make-captures.sh` configured the TLS
//! stacks to do: key exchange groups and DH sizes, HelloRetryRequest,
//! certificates in both directions, alerts, resumption, extensions.

mod common;

use common::*;
use serde_json::Value;

fn only_session(name: &str) -> Value {
    let sessions = sessions_of(&captures_dir().join(name), &[]);
    assert_eq!(sessions.len(), 1, "{name}: one session expected");
    sessions.into_iter().next().unwrap_or_default()
}

#[test]
fn tls13_with_x25519() {
    let s = only_session("tls13-x25519.pcap");
    assert_eq!(s["tls"]["version"], "1.3");
    assert_eq!(s["tls"]["version_protocol"], "tls");
    assert_eq!(s["tls"]["curve"], "x25519");
    assert_eq!(s["tls"]["established"], true);
    assert_eq!(s["tls"]["resumed"], false);
    assert_eq!(s["tlsaudit"]["cert_observable"], false, "TLS 1.3 certificates are encrypted");
    assert!(s["tls"]["server"]["x509"].is_null());
    assert_eq!(s["tlsaudit"]["client"]["key_share_groups"], serde_json::json!(["x25519"]));
    let offered = s["tlsaudit"]["client"]["offered_versions"].as_array().unwrap();
    assert_eq!(offered, &vec![Value::from("1.3")], "the client was limited to TLS 1.3");
}

#[test]
fn hello_retry_request_for_p256() {
    let s = only_session("tls13-hello-retry.pcap");
    assert_eq!(s["tls"]["version"], "1.3");
    assert_eq!(s["tlsaudit"]["server"]["hello_retry_request"]["group"], "secp256r1");
    assert_eq!(s["tls"]["curve"], "secp256r1");
    assert_eq!(s["tlsaudit"]["client"]["key_share_groups"], serde_json::json!(["x25519"]));
    assert_eq!(s["tlsaudit"]["client"]["retried_hello"]["key_share_groups"], serde_json::json!(["secp256r1"]));
    assert_eq!(s["tlsaudit"]["client_hello_count"], 2);
    assert_eq!(s["tls"]["established"], true);
}

#[test]
fn tls12_ecdhe_with_a_chain_from_the_test_ca() {
    let s = only_session("tls12-ecdhe-rsa-aes128gcm.pcap");
    assert_eq!(s["tls"]["cipher"], "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    assert_eq!(s["tlsaudit"]["kex"]["curve"], "x25519");
    assert_eq!(s["tlsaudit"]["cert_observable"], true);
    let leaf = &s["tls"]["server"]["x509"];
    assert_eq!(leaf["subject"]["common_name"], "tlsaudit.test");
    assert_eq!(leaf["issuer"]["common_name"], "tlsaudit Test CA");
    assert_eq!(leaf["public_key_algorithm"], "RSA");
    assert_eq!(leaf["public_key_size"], 2048);
    assert_eq!(leaf["signature_algorithm"], "sha256WithRSAEncryption");
    let names: Vec<&str> = leaf["alternative_names"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert!(names.contains(&"tlsaudit.test") && names.contains(&"localhost"), "{names:?}");
    assert_eq!(chain_hashes(&s).len(), 2, "leaf and CA");
    let certs = s["tlsaudit"]["server"]["certificates"].as_array().unwrap();
    assert_eq!(certs[0]["basic_constraints"]["ca"], false);
    assert_eq!(certs[0]["extended_key_usage"], serde_json::json!(["serverAuth"]));
    assert_eq!(certs[1]["basic_constraints"]["ca"], true);
    assert_eq!(certs[1]["self_issued"], true);
    assert_eq!(s["tlsaudit"]["client"]["extended_master_secret"], true);
    assert_eq!(s["tlsaudit"]["server"]["extended_master_secret"], true);
    assert_eq!(s["tlsaudit"]["server"]["renegotiation_info"], true);
}

#[test]
fn legacy_tls10_static_rsa() {
    let s = only_session("tls10-rsa-3des.pcap");
    assert_eq!(s["tls"]["version"], "1.0");
    assert_eq!(s["tls"]["cipher"], "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
    assert!(s["tlsaudit"]["kex"].is_null(), "static RSA has no ServerKeyExchange");
    assert!(s["tls"]["curve"].is_null());
    let s = only_session("tls10-rsa-aes128.pcap");
    assert_eq!(s["tls"]["version"], "1.0");
    assert_eq!(s["tls"]["cipher"], "TLS_RSA_WITH_AES_128_CBC_SHA");
    assert_eq!(s["tls"]["established"], true);
}

#[test]
fn finite_field_dhe_with_a_1024_bit_prime() {
    let s = only_session("tls12-dhe-1024.pcap");
    assert_eq!(s["tls"]["cipher"], "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256");
    assert_eq!(s["tlsaudit"]["kex"]["dh_bits"], 1024);
}

#[test]
fn expired_self_signed_certificate() {
    let s = only_session("tls12-expired-selfsigned.pcap");
    let leaf = &s["tls"]["server"]["x509"];
    assert_eq!(leaf["subject"]["common_name"], "expired.tlsaudit.test");
    assert_eq!(leaf["issuer"]["common_name"], "expired.tlsaudit.test");
    assert_eq!(leaf["not_before"], "2020-01-01T00:00:00Z");
    assert_eq!(leaf["not_after"], "2021-01-01T00:00:00Z");
    assert_eq!(s["tlsaudit"]["server"]["certificates"][0]["self_issued"], true);
}

#[test]
fn mutual_tls_client_certificate() {
    let s = only_session("tls12-mutual-auth.pcap");
    assert_eq!(s["tlsaudit"]["server"]["client_certificate_requested"], true);
    let client = &s["tls"]["client"]["x509"];
    assert_eq!(client["subject"]["common_name"], "workstation-17");
    assert_eq!(client["public_key_algorithm"], "EC");
    assert_eq!(client["public_key_curve"], "secp256r1");
    assert_eq!(client["public_key_size"], 256);
}

#[test]
fn refused_client_and_its_alert() {
    let s = only_session("tls10-refused.pcap");
    assert!(s["tls"]["version"].is_null(), "no ServerHello was sent");
    assert_eq!(s["tls"]["established"], false);
    assert_eq!(s["tlsaudit"]["alert"]["level"], "fatal");
    assert_eq!(s["tlsaudit"]["alert"]["description"], "protocol_version");
    assert_eq!(s["tlsaudit"]["alert"]["from"], "server");
    let offered = s["tlsaudit"]["client"]["offered_versions"].as_array().unwrap();
    assert!(!offered.contains(&Value::from("1.2")), "{offered:?}");
}

#[test]
fn session_resumption_by_id() {
    let sessions = sessions_of(&captures_dir().join("tls12-resumption.pcap"), &[]);
    assert_eq!(sessions.len(), 2);
    let resumed: Vec<bool> = {
        let mut s = sessions.clone();
        s.sort_by_key(|v| v["@timestamp"].as_str().unwrap_or("").to_string());
        s.iter().map(|v| v["tls"]["resumed"].as_bool().unwrap()).collect()
    };
    assert_eq!(resumed, vec![false, true], "the second connection resumes the first");
    let second = sessions.iter().find(|s| s["tls"]["resumed"] == true).unwrap();
    assert!(second["tls"]["server"]["x509"].is_null(), "an abbreviated handshake sends no certificate");
    assert_eq!(second["tls"]["established"], true);
}

#[test]
fn gnutls_hello_and_ipv6() {
    let s = only_session("gnutls-tls12.pcap");
    assert_eq!(s["tls"]["version"], "1.2");
    assert_eq!(s["tls"]["client"]["server_name"], "tlsaudit.test");
    assert!(s["tlsaudit"]["client"]["ja4"].as_str().unwrap().starts_with("t12d"));
    let s = only_session("tls13-ipv6.pcap");
    assert_eq!(s["source"]["ip"], "::1");
    assert_eq!(s["destination"]["port"], 4438);
}
