//! Findings checked against tshark's reading of the same bytes. For every
//! handshake of the third-party and bundled captures that tshark shows as one
//! ClientHello and one ServerHello, each rule that judges hello or key-exchange
//! fields must fire exactly when tshark's fields say it should: the version,
//! the IANA name of the chosen suite, the extensions of both hellos, the
//! compression method, the DH prime length, the curve or key-share group, the
//! ServerKeyExchange signature scheme and the client's signature algorithms.
//! The expectation is written from the standards (suite names, code points),
//! not from tlsaudit's own tables.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

const FIELDS: &[&str] = &[
    "frame.number",
    "ip.src",
    "ipv6.src",
    "tcp.srcport",
    "ip.dst",
    "ipv6.dst",
    "tcp.dstport",
    "tls.handshake.type",
    "tls.handshake.version",
    "tls.handshake.extensions.supported_version",
    "tls.handshake.ciphersuite",
    "tls.handshake.extension.type",
    "tls.handshake.comp_method",
    "tls.handshake.extensions_server_name",
    "tls.handshake.extensions_key_share_group",
    "tls.handshake.p_len",
    "tls.handshake.server_named_curve",
    "tls.handshake.sig_hash_alg",
    "tls.handshake.random",
    "tls.handshake.cipherspec",
    "frame.protocols",
];

/// One hello (with the ServerKeyExchange of its flight, for a ServerHello)
/// as tshark shows it.
#[derive(Debug, Default, Clone)]
struct Hello {
    frame: u64,
    version: Option<u16>,
    supported_versions: Vec<u16>,
    suites: Vec<u16>,
    extensions: Vec<u16>,
    compression: Vec<u8>,
    server_name: bool,
    key_share_group: Option<u16>,
    random: String,
    /// ClientHello: signature_algorithms; ServerHello: none.
    signature_algorithms: Vec<u16>,
}

#[derive(Debug, Default, Clone)]
struct KeyExchangeFields {
    dh_prime_bytes: Option<u32>,
    named_curve: Option<u16>,
    /// None when a CertificateRequest in the same frame makes the field ambiguous.
    signature: Option<u16>,
}

#[derive(Debug, Default)]
struct Connection {
    client_hellos: Vec<Hello>,
    server_hellos: Vec<Hello>,
    key_exchange: Option<KeyExchangeFields>,
    /// Frames holding several hellos, whose fields cannot be told apart.
    ambiguous: bool,
}

fn numbers(field: &str) -> Vec<u64> {
    field
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}")),
            None => s.parse().unwrap_or_else(|e| panic!("bad number {s:?}: {e}")),
        })
        .collect()
}

fn u16s(field: &str) -> Vec<u16> {
    numbers(field).into_iter().map(|n| n as u16).collect()
}

fn last(field: &str) -> &str {
    field.rsplit(',').next().unwrap_or("")
}

fn tshark_connections(path: &Path, extra: &[&str]) -> BTreeMap<(EndpointKey, EndpointKey), Connection> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(path);
    cmd.args(["-Y", "tls.handshake.type==1 || tls.handshake.type==2 || tls.handshake.type==12", "-T", "fields"]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    cmd.args(["-o", "tls.desegment_ssl_records:TRUE", "-o", "tcp.desegment_tcp_streams:TRUE"]).args(extra);
    let out = cmd.output().expect("tshark runs (apt-get install tshark)");
    assert!(out.status.success(), "tshark failed on {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let mut map: BTreeMap<_, Connection> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()) {
        let c: Vec<&str> = line.split('\t').collect();
        assert_eq!(c.len(), FIELDS.len(), "tshark row {line:?}");
        if c[3].is_empty() || c[6].is_empty() {
            continue; // not TCP (QUIC, EAP-TLS)
        }
        let (src_ip, dst_ip) = innermost_ips([c[1], c[4]], [c[2], c[5]], c.get(20).copied());
        let src = endpoint(src_ip, last(c[3]));
        let dst = endpoint(dst_ip, last(c[6]));
        let types = numbers(c[7]);
        let count = |t: u64| types.iter().filter(|x| **x == t).count();
        let hello = |c: &[&str]| Hello {
            frame: c[0].parse().unwrap_or(0),
            version: u16s(c[8]).first().copied(),
            supported_versions: u16s(c[9]),
            // An SSLv2-format ClientHello lists 3-byte cipher specs; those
            // with a zero first byte are TLS suites (and the SCSV).
            suites: u16s(c[10])
                .into_iter()
                .chain(numbers(c[19]).into_iter().filter(|s| *s <= 0xffff).map(|s| s as u16))
                .collect(),
            extensions: u16s(c[11]),
            compression: numbers(c[12]).into_iter().map(|n| n as u8).collect(),
            server_name: !c[13].is_empty(),
            key_share_group: u16s(c[14]).first().copied(),
            random: c[18].split(',').next().unwrap_or("").to_string(),
            signature_algorithms: u16s(c[17]),
        };
        if count(1) > 0 {
            let conn = map.entry((src, dst)).or_default();
            if count(1) == 1 && count(2) == 0 {
                conn.client_hellos.push(hello(&c));
            } else {
                conn.ambiguous = true;
            }
            continue;
        }
        let conn = map.entry((dst, src)).or_default();
        if count(2) > 1 {
            conn.ambiguous = true;
            continue;
        }
        if count(2) == 1 {
            let mut h = hello(&c);
            h.signature_algorithms.clear();
            conn.server_hellos.push(h);
        }
        if count(12) == 1 {
            conn.key_exchange = Some(KeyExchangeFields {
                dh_prime_bytes: numbers(c[15]).first().map(|n| *n as u32),
                named_curve: u16s(c[16]).first().copied(),
                signature: if count(13) == 0 { u16s(c[17]).first().copied() } else { None },
            });
        } else if count(12) > 1 {
            conn.ambiguous = true;
        }
    }
    map
}

const TLS13: u16 = 0x0304;
const DOWNGRADE_SENTINELS: [&str; 2] = ["444f574e47524401", "444f574e47524400"];

fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// Named groups under 224 bits (RFC 8422 §5.1.1 registry: sect163k1 ..
/// secp192r1) and the explicit-curve code points.
fn weak_curve(group: u16) -> bool {
    (1..=19).contains(&group) || group == 0xFF01 || group == 0xFF02
}

/// Post-quantum hybrid key shares: the ML-KEM hybrids (0x11EB..0x11ED) and
/// the Kyber drafts that preceded them (0x6399, 0x639A).
fn pq_hybrid(group: u16) -> bool {
    (0x11EB..=0x11ED).contains(&group) || group == 0x6399 || group == 0x639A
}

/// What tshark's fields say each rule should conclude, per rule id.
fn expectations(ch: &Hello, sh: &Hello, kx: Option<&KeyExchangeFields>, suite_names: &BTreeMap<u16, String>) -> BTreeMap<&'static str, bool> {
    let mut e = BTreeMap::new();
    let Some(version) = sh.supported_versions.first().copied().or(sh.version) else { return e };
    let is_draft = version >> 8 == 0x7f;
    e.insert("proto.sslv3", version == 0x0300);
    e.insert("proto.tls10", version == 0x0301);
    e.insert("proto.tls11", version == 0x0302);
    // tshark names the drafts "TLS 1.3 (draft N)" and Facebook's "(Facebook draft N)".
    let pre_standard = tshark_version_names().get(&version).is_some_and(|n| n.contains("draft"));
    e.insert("proto.tls13_draft", pre_standard);
    let sentinel = DOWNGRADE_SENTINELS.iter().any(|s| sh.random.ends_with(s));
    e.insert("proto.no_tls13", ch.supported_versions.contains(&TLS13) && version < TLS13 && !sentinel);

    if let Some(name) = sh.suites.first().and_then(|s| suite_names.get(s)) {
        let kx = name.split("_WITH_").next().unwrap_or("");
        let bulk = name.split("_WITH_").nth(1).unwrap_or(name);
        e.insert("cipher.null", bulk.starts_with("NULL_"));
        e.insert("cipher.anon", kx.contains("_anon"));
        e.insert("cipher.export", kx.contains("EXPORT"));
        let single_des = bulk.contains("DES") && !bulk.contains("3DES");
        e.insert("cipher.des", single_des && !kx.contains("EXPORT"));
        e.insert("cipher.rc4", bulk.contains("RC4"));
        e.insert("cipher.3des", bulk.contains("3DES"));
        e.insert("cipher.weak_mac", name.ends_with("_MD5"));
        // RSA key transport (RSA_PSK included: its premaster secret is RSA-encrypted).
        // Plain PSK and Kerberos: nothing ephemeral either.
        let static_kx = kx.starts_with("TLS_RSA")
            || kx == "TLS_PSK"
            || kx.starts_with("TLS_KRB5")
            || kx.starts_with("TLS_DH_DSS")
            || kx.starts_with("TLS_DH_RSA")
            || kx.starts_with("TLS_ECDH_ECDSA")
            || kx.starts_with("TLS_ECDH_RSA");
        e.insert("cipher.no_fs", static_kx);
        e.insert("cipher.cbc", bulk.contains("CBC"));
        let not_nist = ["CHACHA20", "CAMELLIA", "ARIA", "SEED", "IDEA", "GOST", "KUZNYECHIK", "MAGMA", "SM4", "AEGIS"];
        // SP 800-52r2 §3.3.1 approves RSA, (EC)DH(E) and PSK key exchange only.
        let not_nist_kx = ["TLS_SRP", "TLS_KRB5", "TLS_ECCPWD"].iter().any(|p| kx.starts_with(p));
        e.insert("cipher.not_fips", not_nist.iter().any(|a| name.contains(a)) || not_nist_kx);
        if version < TLS13 && !is_draft {
            e.insert("ext.no_etm_cbc", bulk.contains("CBC") && !sh.extensions.contains(&22));
        }
    }

    let group = kx.and_then(|k| k.named_curve).or(sh.key_share_group);
    e.insert("kex.ec_curve_weak", group.is_some_and(weak_curve));
    e.insert("kex.pq_hybrid", group.is_some_and(pq_hybrid));
    if let Some(kx) = kx {
        if let Some(bytes) = kx.dh_prime_bytes {
            e.insert("kex.dh_lt_2048", bytes * 8 < 2048);
        }
        if version == 0x0303 {
            if let Some(scheme) = kx.signature {
                let rsa_dsa_ecdsa = matches!(scheme & 0xff, 1..=3);
                e.insert("kex.sig_sha1", rsa_dsa_ecdsa && scheme >> 8 == 2);
                e.insert("kex.sig_md5", rsa_dsa_ecdsa && scheme >> 8 == 1);
            }
        }
    }

    if version < TLS13 && !is_draft {
        let client_reneg = ch.extensions.contains(&0xff01) || ch.suites.contains(&0x00ff);
        e.insert("ext.no_secure_renegotiation", !(client_reneg && sh.extensions.contains(&0xff01)));
        e.insert("ext.no_ems", !(ch.extensions.contains(&23) && sh.extensions.contains(&23)));
        e.insert("ext.compression", sh.compression.first().is_some_and(|m| *m != 0));
        e.insert("ext.heartbeat", sh.extensions.contains(&15));
        e.insert("ext.truncated_hmac", sh.extensions.contains(&4));
    }
    e.insert("ext.early_data", ch.extensions.contains(&42));
    let offered: Vec<u16> = if ch.supported_versions.is_empty() {
        ch.version.into_iter().collect()
    } else {
        ch.supported_versions.iter().copied().filter(|v| !is_grease(*v)).collect()
    };
    e.insert("ext.no_sig_algs", offered.iter().max() == Some(&0x0303) && !ch.extensions.contains(&13));
    let weak_sig = |s: &u16| matches!(s >> 8, 1 | 2) && matches!(s & 0xff, 1..=3);
    e.insert("ext.sig_algs_sha1", ch.signature_algorithms.iter().any(weak_sig));
    e.insert("ext.no_sni", !ch.server_name);
    e
}

fn rules_of(session: &Value) -> BTreeSet<String> {
    let t = &session["tlsaudit"];
    let findings = t["findings"].as_array().into_iter().flatten();
    let exempted = t["exempted"].as_array().into_iter().flatten();
    findings.chain(exempted).filter_map(|f| f["rule"].as_str().map(str::to_string)).collect()
}

#[derive(Default)]
struct Tally {
    sessions: usize,
    /// rule → (sessions where tshark says it applies, where it does not)
    per_rule: BTreeMap<&'static str, (usize, usize)>,
    mismatches: Vec<String>,
}

fn judge_capture(path: &Path, tshark_extra: &[&str], label: &str, suite_names: &BTreeMap<u16, String>, tally: &mut Tally) {
    let sessions = sessions_of(path, &["--policy", "hipaa"]);
    let ours = by_connection(&sessions);
    for (key, conn) in tshark_connections(path, tshark_extra) {
        if conn.ambiguous || conn.client_hellos.len() != 1 || conn.server_hellos.len() != 1 {
            continue;
        }
        let Some(records) = ours.get(&key) else { continue };
        let [session] = records.as_slice() else { continue };
        let expected = expectations(&conn.client_hellos[0], &conn.server_hellos[0], conn.key_exchange.as_ref(), suite_names);
        if expected.is_empty() {
            continue;
        }
        tally.sessions += 1;
        let got = rules_of(session);
        for (rule, applies) in expected {
            let entry = tally.per_rule.entry(rule).or_default();
            if applies {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
            if got.contains(rule) != applies {
                tally.mismatches.push(format!(
                    "{label} frame {}: {rule} {} by tshark's fields, tlsaudit {} (findings {got:?})",
                    conn.server_hellos[0].frame,
                    if applies { "applies" } else { "does not apply" },
                    if got.contains(rule) { "reports it" } else { "does not" },
                ));
            }
        }
    }
}

#[test]
fn findings_agree_with_tshark_fields() {
    let suite_names: BTreeMap<u16, String> = iana_suites().into_iter().collect();
    let dir = thirdparty_dir();
    let mut jobs: Vec<(PathBuf, Vec<&str>, String)> = Vec::new();
    for row in manifest() {
        let local = row["local_path"].clone();
        if row["tshark_readable"] != "yes" || TSHARK_EXCEPTIONS.iter().any(|(f, _)| *f == local) {
            continue;
        }
        let extra = if TSHARK_OUT_OF_ORDER.contains(&local.as_str()) {
            vec!["-o", "tcp.reassemble_out_of_order:TRUE"]
        } else {
            Vec::new()
        };
        jobs.push((dir.join(&local), extra, local));
    }
    for path in bundled_captures() {
        let label = path.strip_prefix(captures_dir()).unwrap_or(&path).display().to_string();
        jobs.push((path, Vec::new(), label));
    }

    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(4);
    let chunks: Vec<Vec<(PathBuf, Vec<&str>, String)>> = {
        let mut chunks = vec![Vec::new(); workers];
        for (i, job) in jobs.into_iter().enumerate() {
            chunks[i % workers].push(job);
        }
        chunks
    };
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                let names = &suite_names;
                scope.spawn(move || {
                    let mut tally = Tally::default();
                    for (path, extra, label) in chunk {
                        judge_capture(path, extra, label, names, &mut tally);
                    }
                    tally
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("worker")).collect()
    });

    let mut total = Tally::default();
    for t in tallies {
        total.sessions += t.sessions;
        total.mismatches.extend(t.mismatches);
        for (rule, (yes, no)) in t.per_rule {
            let e = total.per_rule.entry(rule).or_default();
            e.0 += yes;
            e.1 += no;
        }
    }
    eprintln!("{} handshakes judged; rule: sessions where it applies / does not", total.sessions);
    for (rule, (yes, no)) in &total.per_rule {
        eprintln!("  {rule:28} {yes:5} / {no}");
    }
    // Each of these rules is seen both firing and not firing in the corpus,
    // so a rule that always or never fires cannot pass. The corpus has no
    // negotiated export, single-DES, MD5-signed, compressed, truncated-HMAC
    // or post-quantum handshake: those rules are compared (never firing)
    // but not listed here.
    let exercised = [
        "proto.sslv3",
        "proto.tls10",
        "proto.tls11",
        "proto.no_tls13",
        "proto.tls13_draft",
        "cipher.anon",
        "cipher.rc4",
        "cipher.3des",
        "cipher.no_fs",
        "cipher.cbc",
        "cipher.not_fips",
        "cipher.null",
        "cipher.weak_mac",
        "kex.dh_lt_2048",
        "kex.ec_curve_weak",
        "kex.sig_sha1",
        "ext.no_secure_renegotiation",
        "ext.no_ems",
        "ext.no_etm_cbc",
        "ext.heartbeat",
        "ext.no_sig_algs",
        "ext.sig_algs_sha1",
        "ext.no_sni",
    ];
    let unexercised: Vec<&&str> =
        exercised.iter().filter(|r| total.per_rule.get(**r).is_none_or(|(yes, no)| *yes == 0 || *no == 0)).collect();
    assert!(
        total.mismatches.is_empty(),
        "{} disagreements with tshark:\n{}",
        total.mismatches.len(),
        total.mismatches.join("\n")
    );
    assert!(total.sessions > 200, "too few handshakes compared: {}", total.sessions);
    assert!(unexercised.is_empty(), "rules the corpus does not exercise both ways: {unexercised:?}");
}
