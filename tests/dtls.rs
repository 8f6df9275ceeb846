//! DTLS: associations read from their records, with handshake fragments put
//! back together. The captures made here with openssl
//! (captures/make-dtls-captures.sh) cover DTLS 1.2 with a cookie exchange
//! and DTLS-SRTP, a certificate cut into fragments, and DTLS 1.0; they are
//! also replayed reordered and duplicated. tshark_oracle compares every
//! hello with tshark's.

mod common;

use common::*;
use serde_json::Value;

fn dtls_sessions(path: &std::path::Path) -> Vec<Value> {
    sessions_of(path, &[]).into_iter().filter(|s| s["network"]["protocol"] == "dtls").collect()
}

fn only_session(path: &std::path::Path) -> Value {
    let mut s = dtls_sessions(path);
    assert_eq!(s.len(), 1, "{}: one DTLS session expected, got {}", path.display(), s.len());
    s.remove(0)
}

fn rules(s: &Value) -> Vec<String> {
    s["tlsaudit"]["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap().to_string()).collect()
}

#[test]
fn dtls12_with_a_cookie_exchange_and_srtp() {
    let s = only_session(&captures_dir().join("dtls/dtls12-srtp.pcap"));
    assert_eq!((s["network"]["transport"].as_str(), s["tls"]["version_protocol"].as_str()), (Some("udp"), Some("dtls")));
    assert_eq!(s["tls"]["version"], "1.2");
    assert_eq!(s["tls"]["cipher"], "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
    assert_eq!(s["tls"]["client"]["server_name"], "pacs.example.test");
    assert_eq!(s["tls"]["established"], true);
    assert!(s["tlsaudit"]["client"]["ja4"].as_str().unwrap().starts_with("dd2d"), "{}", s["tlsaudit"]["client"]["ja4"]);
    assert_eq!(s["tlsaudit"]["dtls"]["hello_verify_request"], true);
    // The hello sent again with the cookie is counted, not read as a retry.
    assert_eq!(s["tlsaudit"]["client_hello_count"], 2);
    assert!(s["tlsaudit"]["client"]["retried_hello"].is_null());
    assert_eq!(s["tlsaudit"]["client"]["use_srtp"], serde_json::json!(["SRTP_AEAD_AES_128_GCM", "SRTP_AES128_CM_HMAC_SHA1_80"]));
    assert_eq!(s["tlsaudit"]["server"]["use_srtp"], "SRTP_AES128_CM_HMAC_SHA1_80");
    // Judged as TLS 1.2 is: no protocol finding; the certificate is visible and judged.
    assert!(!rules(&s).iter().any(|r| r.starts_with("proto.")), "{:?}", rules(&s));
    assert_eq!(s["tls"]["server"]["x509"]["subject"]["common_name"], "pacs.example.test");
    assert!(rules(&s).contains(&"cert.self_signed".to_string()));
}

#[test]
fn dtls10_is_judged_as_the_tls_11_it_is_built_on() {
    let s = only_session(&captures_dir().join("dtls/dtls10-rsa.pcap"));
    assert_eq!(s["tls"]["version"], "1.0");
    let tls11 = s["tlsaudit"]["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "proto.tls11").expect("proto.tls11");
    assert_eq!(tls11["message"], "negotiated DTLS 1.0; the client offered DTLS 1.0");
    assert!(rules(&s).contains(&"cipher.no_fs".to_string()));
    assert_eq!(s["tlsaudit"]["assessment"], "non_compliant");
}

/// The certificate came in fragments over several datagrams: read whole,
/// and the same whether the datagrams come reordered or twice.
#[test]
fn fragments_reordered_and_retransmitted_give_the_same_session() {
    let path = captures_dir().join("dtls/dtls12-fragmented.pcap");
    let clean = only_session(&path);
    assert!(clean["tlsaudit"]["dtls"]["fragmented_messages"].as_u64() >= Some(1), "{}", clean["tlsaudit"]["dtls"]);
    assert_eq!(clean["tls"]["server"]["x509"]["subject"]["common_name"], "vpn.example.test");
    assert_eq!(clean["tls"]["established"], true);
    let essentials = |s: &Value| {
        (s["tls"]["server"]["hash"]["sha256"].clone(), s["tls"]["cipher"].clone(), s["tlsaudit"]["client"]["ja4"].clone(), s["tls"]["established"].clone())
    };
    let (linktype, frames) = read_pcap_frames(&path);
    let scratch = Scratch::new("dtls-replayed");
    // The server's first flight (after the HelloVerifyRequest) reversed.
    let server_port = clean["destination"]["port"].as_u64().unwrap() as u16;
    let from_server = |f: &(u64, Vec<u8>)| f.1.len() > 36 && u16::from_be_bytes([f.1[34], f.1[35]]) == server_port;
    let flight: Vec<usize> = (2..frames.len()).filter(|i| from_server(&frames[*i])).take_while(|i| *i < 8).collect();
    assert!(flight.len() >= 3, "the server's flight spans {} datagrams", flight.len());
    let mut reordered = frames.clone();
    for (a, b) in flight.iter().zip(flight.iter().rev()) {
        reordered[*a].1 = frames[*b].1.clone();
    }
    let mut doubled = Vec::new();
    for f in &frames {
        doubled.push(f.clone());
        doubled.push(f.clone());
    }
    for (name, variant) in [("reordered", &reordered), ("doubled", &doubled)] {
        let out = scratch.path(&format!("{name}.pcap"));
        write_pcap_frames(&out, linktype, variant, 65_535);
        let s = only_session(&out);
        assert_eq!(essentials(&s), essentials(&clean), "{name}");
        if name == "doubled" {
            assert!(s["tlsaudit"]["dtls"]["retransmitted_messages"].as_u64() >= Some(4), "{}", s["tlsaudit"]["dtls"]);
            assert_eq!(s["tlsaudit"]["client_hello_count"], 4, "every ClientHello sent is counted");
        }
    }
}

/// The third-party DTLS captures: OpenSSL's pre-standard DTLS (0x0100) and
/// a retransmitted flight.
#[test]
fn thirdparty_dtls_versions_and_retransmissions() {
    let dir = thirdparty_dir().join("wireshark");
    let old = only_session(&dir.join("snakeoil-dtls.pcap"));
    assert_eq!(old["tls"]["version"], "1.0-pre-standard");
    assert!(rules(&old).contains(&"proto.tls11".to_string()));
    let udt = only_session(&dir.join("udt-dtls.pcapng"));
    assert_eq!(udt["tlsaudit"]["dtls"]["retransmitted_messages"], 1);
    assert_eq!(udt["tlsaudit"]["dtls"]["hello_verify_request"], true);
    assert_eq!(udt["tls"]["client"]["server_name"], "ws-test");
}
