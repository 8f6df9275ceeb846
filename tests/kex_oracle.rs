//! Every ServerKeyExchange tshark dissects (over TCP, and in DTLS), in the third-party and bundled
//! captures, appears in tlsaudit's `tlsaudit.kex` with the same finite-field
//! prime size, curve, temporary RSA modulus, PSK hint presence and signature
//! scheme. The layouts tshark 4.0 leaves undissected (DHE_PSK, ECDHE_PSK,
//! SRP) are checked against the configuration that recorded them.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

/// The key-exchange facts both sides can state.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Kex {
    dh_bits: Option<u32>,
    curve: Option<u16>,
    rsa_bits: Option<u32>,
    psk_hint: bool,
    signature_scheme: Option<u16>,
}

type Connection = (EndpointKey, EndpointKey);

/// Bits of a colon-separated hex integer as tshark prints it.
fn bits_of(hex: &str) -> u32 {
    let bytes: Vec<u8> = hex.split(':').map(|b| u8::from_str_radix(b, 16).expect("hex byte")).collect();
    let lead = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    match bytes[lead..].first() {
        Some(b) => (bytes.len() - lead - 1) as u32 * 8 + (8 - b.leading_zeros()),
        None => 0,
    }
}

/// The last of a layer that tshark's JSON repeats (tunnels): an array with
/// `--no-duplicate-keys`, else the object itself.
fn last(v: &Value) -> &Value {
    v.as_array().and_then(|a| a.last()).unwrap_or(v)
}

/// Every object under `v` (arrays flattened) that holds `key`.
fn objects_with<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a serde_json::Map<String, Value>>) {
    match v {
        Value::Object(m) => {
            if m.contains_key(key) {
                out.push(m);
            }
            m.values().for_each(|c| objects_with(c, key, out));
        }
        Value::Array(a) => a.iter().for_each(|c| objects_with(c, key, out)),
        _ => {}
    }
}

/// The first value of `key` anywhere under `v`.
fn find<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    match v {
        Value::Object(m) => m.get(key).and_then(|x| last(x).as_str()).or_else(|| m.values().find_map(|c| find(c, key))),
        Value::Array(a) => a.iter().find_map(|c| find(c, key)),
        _ => None,
    }
}

/// tshark's reading of each connection's first ServerKeyExchange; None
/// where tshark names the message but dissects none of its fields.
fn tshark_kex(path: &Path, extra: &[&str], dtls: bool) -> BTreeMap<Connection, Option<Kex>> {
    let mut map = tshark_kex_of(path, extra, "tls", "tcp");
    if dtls {
        // DTLS's messages are tshark's dtls.* fields, over UDP.
        map.extend(tshark_kex_of(path, &[], "dtls", "udp"));
    }
    map
}

/// tshark's reading of the ServerKeyExchanges of `protocol` (tls or dtls)
/// over `transport`.
fn tshark_kex_of(path: &Path, extra: &[&str], protocol: &str, transport: &str) -> BTreeMap<Connection, Option<Kex>> {
    let f = |name: &str| format!("{protocol}.handshake.{name}");
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-Y", &format!("{} == 12", f("type")), "-T", "json", "--no-duplicate-keys", "-J"])
        .arg(format!("ip ipv6 {transport} tds {protocol}"))
        .args(["-o", "tls.desegment_ssl_records:TRUE", "-o", "tcp.desegment_tcp_streams:TRUE"])
        .args(extra)
        .output()
        .expect("tshark runs (apt-get install tshark)");
    assert!(out.status.success(), "tshark failed on {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let packets: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Array(Vec::new()));
    let mut map = BTreeMap::new();
    for packet in packets.as_array().into_iter().flatten() {
        let layers = &packet["_source"]["layers"];
        let ip = if layers["ipv6"].is_null() { last(&layers["ip"]) } else { last(&layers["ipv6"]) };
        let segment = last(&layers[transport]);
        if segment.is_null() {
            continue; // EAP-TLS over 802.11 or another carrier without TCP.
        }
        let field = |v: &Value, k: &str| find(v, k).unwrap_or_default().to_string();
        let (ip_src, ip_dst) = if layers["ipv6"].is_null() {
            (field(ip, "ip.src"), field(ip, "ip.dst"))
        } else {
            (field(ip, "ipv6.src"), field(ip, "ipv6.dst"))
        };
        // The server sends the ServerKeyExchange.
        let server = endpoint(&ip_src, &field(segment, &format!("{transport}.srcport")));
        let client = endpoint(&ip_dst, &field(segment, &format!("{transport}.dstport")));
        let mut messages = Vec::new();
        // TLS inside TDS PRELOGIN packets (MS-SQL) is a layer of the tds layer.
        let tls_layer = if layers[protocol].is_null() { &layers["tds"][protocol] } else { &layers[protocol] };
        objects_with(tls_layer, &f("type"), &mut messages);
        for m in messages.into_iter().filter(|m| m[&f("type")] == "12") {
            let m = Value::Object(m.clone());
            let kex = Kex {
                dh_bits: find(&m, &f("p")).map(bits_of),
                curve: find(&m, &f("server_named_curve")).map(hex16),
                rsa_bits: find(&m, &f("modulus")).map(bits_of),
                psk_hint: find(&m, &f("hint_len")).is_some_and(|n| n != "0"),
                signature_scheme: find(&m, &f("sig_hash_alg")).map(hex16),
            };
            let dissected = kex.dh_bits.is_some() || kex.curve.is_some() || kex.rsa_bits.is_some()
                || find(&m, &f("hint_len")).is_some();
            // The first one dissected: a message in fragments is dissected
            // where its last fragment arrives, and named where its first does.
            let slot = map.entry((client.clone(), server.clone())).or_insert(None);
            if slot.is_none() {
                *slot = dissected.then_some(kex);
            }
        }
    }
    map
}

/// tlsaudit's reading: each connection's first session with a kex record,
/// and the method it was read by.
fn tlsaudit_kex(sessions: &[Value]) -> BTreeMap<Connection, (String, Kex)> {
    let mut map = BTreeMap::new();
    for s in sessions {
        let k = &s["tlsaudit"]["kex"];
        let Some(method) = k["method"].as_str() else { continue };
        let kex = Kex {
            dh_bits: k["dh_bits"].as_u64().map(|b| b as u32),
            curve: k["curve"].as_str().map(curve_code),
            rsa_bits: k["rsa_bits"].as_u64().map(|b| b as u32),
            psk_hint: k["psk_hint"].as_bool().unwrap_or(false),
            signature_scheme: k["signature_scheme"].as_str().map(hex16),
        };
        map.entry(session_key(s)).or_insert((method.to_string(), kex));
    }
    map
}

/// The code point of a group name as tlsaudit spells it.
fn curve_code(name: &str) -> u16 {
    if let Some(hex) = name.strip_prefix("0x") {
        return hex16(hex);
    }
    (0..=0xFFFFu16)
        .find(|g| tlsaudit::tls::names::group_name(*g) == name)
        .unwrap_or_else(|| panic!("unknown group name {name:?}"))
}

/// Compares one capture; returns (messages compared, undissected, problems).
fn compare(path: &Path, extra: &[&str], dtls: bool) -> (usize, usize, Vec<String>) {
    let theirs = tshark_kex(path, extra, dtls);
    let ours = tlsaudit_kex(&sessions_of(path, &[]));
    let mut problems = Vec::new();
    let (mut compared, mut undissected) = (0, 0);
    for (conn, their) in &theirs {
        match (their, ours.get(conn)) {
            (_, None) => problems.push(format!("{conn:?}: tshark saw a ServerKeyExchange, tlsaudit read none")),
            (Some(t), Some((_, o))) if t == o => compared += 1,
            (Some(t), Some((m, o))) => problems.push(format!("{conn:?}: tshark {t:?}, tlsaudit ({m}) {o:?}")),
            (None, Some((m, _))) => {
                undissected += 1;
                if !matches!(m.as_str(), "DHE_PSK" | "ECDHE_PSK" | "SRP") {
                    problems.push(format!("{conn:?}: tshark dissects no field of a {m} ServerKeyExchange"));
                }
            }
        }
    }
    for conn in ours.keys().filter(|c| !theirs.contains_key(*c)) {
        problems.push(format!("{conn:?}: tlsaudit reports a key exchange tshark saw no ServerKeyExchange for"));
    }
    (compared, undissected, problems)
}

/// Every capture, the tshark options it needs, and whether it holds DTLS.
fn all_captures() -> Vec<(PathBuf, Vec<&'static str>, bool)> {
    let dir = thirdparty_dir();
    let mut all: Vec<_> = manifest()
        .into_iter()
        .filter(|row| row["tshark_readable"] == "yes")
        .map(|row| {
            let local = row["local_path"].clone();
            let extra =
                if TSHARK_OUT_OF_ORDER.contains(&local.as_str()) { vec!["-o", "tcp.reassemble_out_of_order:TRUE"] } else { vec![] };
            let dtls = row["features"].split(',').any(|f| f == "DTLS");
            (dir.join(local), extra, dtls)
        })
        .filter(|(p, _, _)| !TSHARK_EXCEPTIONS.iter().any(|(f, _)| p.ends_with(f)))
        .collect();
    all.extend(bundled_captures().into_iter().map(|p| {
        let dtls = p.parent().is_some_and(|d| d.ends_with("dtls"));
        // TLS inside TDS: tshark reads it where told the port carries TDS.
        let mssql = p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("mssql"));
        let extra = if mssql { vec!["-d", "tcp.port==14433,tds", "-d", "tcp.port==14434,tds", "-d", "tcp.port==14435,tds"] } else { vec![] };
        (p, extra, dtls)
    }));
    all
}

/// Captures where tshark does not see the TLS that tlsaudit reads, with the
/// reason. The test fails when one is no longer needed.
const TSHARK_BLIND: &[(&str, &str)] = &[(
    "ja4/socks4-https.pcap",
    "TLS after a SOCKS4 exchange on port 9901: tshark decodes neither, even with decode-as",
)];

#[test]
fn every_server_key_exchange_matches_tshark() {
    let (mut files, mut compared, mut undissected) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut stale = Vec::new();
    for (path, extra, dtls) in all_captures() {
        let (n, u, problems) = compare(&path, &extra, dtls);
        files += usize::from(n + u > 0);
        compared += n;
        undissected += u;
        let blind = TSHARK_BLIND.iter().any(|(f, _)| path.ends_with(f));
        if blind && problems.is_empty() {
            stale.push(path.display().to_string());
        } else if !blind && !problems.is_empty() {
            failures.push(format!("{}:\n  {}", path.display(), problems.join("\n  ")));
        }
    }
    eprintln!("{files} captures with a ServerKeyExchange, {compared} compared field by field, {undissected} not dissected by tshark");
    assert!(files >= 40 && compared >= 80, "too little compared: {files} captures, {compared} messages");
    assert!(stale.is_empty(), "tshark now reads these; drop them from TSHARK_BLIND: {stale:?}");
    assert!(failures.is_empty(), "{} captures differ from tshark:\n{}", failures.len(), failures.join("\n"));
}

/// The layouts tshark leaves undissected, against what recorded them:
/// openssl's default 2048-bit DH and X25519, srptool's 1536-bit group 2, and
/// the length tshark gives Wireshark's DHE_PSK message.
#[test]
fn undissected_layouts_read_as_recorded() {
    let kex = |file: &str| {
        let sessions = sessions_of(&captures_dir().join("kex").join(file), &[]);
        let k = sessions.iter().find(|s| s["tlsaudit"]["kex"].is_object()).expect("a session with a kex record");
        k["tlsaudit"]["kex"].clone()
    };
    let dhe_psk = kex("tls12-dhe-psk.pcap");
    assert_eq!((dhe_psk["method"].as_str(), dhe_psk["dh_bits"].as_u64()), (Some("DHE_PSK"), Some(2048)));
    assert_eq!((dhe_psk["psk_hint"].as_bool(), dhe_psk["signed"].as_bool()), (Some(true), Some(false)));
    let ecdhe_psk = kex("tls12-ecdhe-psk.pcap");
    assert_eq!((ecdhe_psk["method"].as_str(), ecdhe_psk["curve"].as_str()), (Some("ECDHE_PSK"), Some("x25519")));
    for (file, signed) in [("tls12-srp.pcap", false), ("tls12-srp-rsa.pcap", true)] {
        let srp = kex(file);
        assert_eq!((srp["method"].as_str(), srp["srp_bits"].as_u64()), (Some("SRP"), Some(1536)), "{file}");
        assert_eq!(srp["signed"].as_bool(), Some(signed), "{file}");
    }
    let srp_rsa = kex("tls12-srp-rsa.pcap");
    assert!(srp_rsa["signature_scheme"].is_string(), "SRP_SHA_RSA over TLS 1.2 names its scheme: {srp_rsa}");

    // Wireshark's DHE_PSK message: tshark shows only its length, 777 bytes,
    // which an empty hint, a 1-byte generator and a public value as long as
    // the prime (2 + 2 + p + 2 + 1 + 2 + p) fill with a 384-byte prime.
    let wireshark = thirdparty_dir().join("wireshark/tls12-chacha20poly1305.pcap");
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&wireshark)
        .args(["-Y", "tls.handshake.type == 12 && tcp.stream == 4", "-T", "fields"])
        .args(["-e", "tls.handshake.type", "-e", "tls.handshake.length"])
        .output()
        .expect("tshark runs");
    let row = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (types, lengths) = row.split_once('\t').expect("type and length columns");
    let length: u64 = types
        .split(',')
        .zip(lengths.split(','))
        .find(|(t, _)| *t == "12")
        .and_then(|(_, l)| l.parse().ok())
        .expect("the ServerKeyExchange length");
    let sessions = sessions_of(&wireshark, &[]);
    let dhe_psk = sessions
        .iter()
        .find(|s| s["tls"]["cipher"] == "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256")
        .expect("the DHE_PSK session");
    let bits = dhe_psk["tlsaudit"]["kex"]["dh_bits"].as_u64().expect("a prime size");
    assert_eq!(2 + 2 + bits / 8 + 2 + 1 + 2 + bits / 8, length, "{}", dhe_psk["tlsaudit"]["kex"]);
    assert_eq!(bits, 3072);
}

/// PSK and SRP parameters never carry a false finite-field finding: the
/// DHE_PSK message of Wireshark's capture used to read its hint length as a
/// zero-bit prime.
#[test]
fn psk_hint_is_not_read_as_a_prime() {
    let run = run_jsonl(&["-r", thirdparty_dir().join("wireshark/tls12-chacha20poly1305.pcap").to_str().unwrap()]);
    let findings: Vec<&Value> = run.sessions.iter().flat_map(|s| s["tlsaudit"]["findings"].as_array().into_iter().flatten()).collect();
    assert!(!findings.is_empty(), "the capture has findings (its certificate is self-signed)");
    assert!(
        !findings.iter().any(|f| f["rule"] == "kex.dh_lt_2048" || f["rule"] == "kex.sig_sha1"),
        "false key-exchange findings: {findings:?}"
    );
    let srp = sessions_of(&captures_dir().join("kex/tls12-srp.pcap"), &[]);
    let rules: Vec<&str> = srp[0]["tlsaudit"]["findings"].as_array().unwrap().iter().filter_map(|f| f["rule"].as_str()).collect();
    assert!(rules.contains(&"kex.dh_lt_2048"), "a 1536-bit SRP group is below 2048 bits: {rules:?}");
}
