//! Every TLS handshake tshark reports in the bundled and third-party captures
//! (over TCP, in QUIC Initial packets and in DTLS records) appears in tlsaudit's JSON with
//! the same client and server endpoints, negotiated version, cipher suite,
//! offered suites and SNI.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use serde_json::Value;
use tlsaudit::tls::names::{cipher_name, is_dtls, is_grease, version_name};

/// What tshark's rows and tlsaudit's records say about one (client, server) pair.
#[derive(Debug, Default, PartialEq, Eq)]
struct Facts {
    client_hellos: usize,
    server_names: Vec<String>,
    offered: Vec<Vec<String>>,
    /// (version, cipher) of every ServerHello, HelloRetryRequests included.
    server_hellos: Vec<(String, String)>,
}

fn names(ids: &[u16]) -> Vec<String> {
    ids.iter().filter(|c| !is_grease(**c)).map(|c| cipher_name(*c).into_owned()).collect()
}

fn tshark_facts(hellos: &[TsharkHello]) -> BTreeMap<(EndpointKey, EndpointKey), Facts> {
    let mut map: BTreeMap<_, Facts> = BTreeMap::new();
    for h in hellos {
        let f = map.entry((h.client.clone(), h.server.clone())).or_default();
        if h.is_client_hello {
            f.client_hellos += 1;
            f.server_names.extend(h.sni.clone());
            if !h.ciphers.is_empty() {
                f.offered.push(names(&h.ciphers));
            }
        } else {
            let version = h.version.map(oracle_version).unwrap_or_default();
            let cipher = h.ciphers.first().map(|c| cipher_name(*c).into_owned()).unwrap_or_default();
            f.server_hellos.push((version, cipher));
        }
    }
    map
}

fn tlsaudit_facts(sessions: &[Value]) -> BTreeMap<(EndpointKey, EndpointKey), Facts> {
    let mut map: BTreeMap<_, Facts> = BTreeMap::new();
    for s in sessions {
        let f = map.entry(session_key(s)).or_default();
        let hellos = s["tlsaudit"]["client_hello_count"].as_u64().unwrap_or(1) as usize;
        let client = &s["tls"]["client"];
        if s["tlsaudit"]["client"]["ja4"].is_string() {
            f.client_hellos += hellos;
            if let Some(name) = client["server_name"].as_str() {
                f.server_names.extend(std::iter::repeat_n(name.to_string(), hellos));
            }
            if let Some(list) = client["supported_ciphers"].as_array() {
                if !s["tlsaudit"]["client"]["sslv2_hello"].as_bool().unwrap_or(false) {
                    let list: Vec<String> = list.iter().filter_map(|c| c.as_str().map(str::to_string)).collect();
                    f.offered.extend(std::iter::repeat_n(list, hellos));
                }
            }
        }
        let hrr = &s["tlsaudit"]["server"]["hello_retry_request"];
        if let Some(cipher) = hrr["cipher"].as_str() {
            f.server_hellos.push((hrr["version"].as_str().unwrap_or("").to_string(), cipher.to_string()));
        }
        if let Some(cipher) = s["tls"]["cipher"].as_str() {
            let mut version = s["tls"]["version"].as_str().unwrap_or("").to_string();
            if s["tls"]["version_protocol"] == "dtls" {
                version = format!("DTLS {version}");
            }
            f.server_hellos.push((version, cipher.to_string()));
        }
    }
    map
}

/// A version code tshark printed, in `tls.version` spelling; a DTLS one
/// (whose numbers tshark's supported_versions table lacks) as "DTLS 1.2".
fn oracle_version(v: u16) -> String {
    if is_dtls(v) {
        return format!("DTLS {}", version_name(v).expect("DTLS versions are named"));
    }
    version_spelling(v)
}

/// The fields that differ, tshark's value first.
fn differences(want: &Facts, got: &Facts) -> String {
    let mut d = Vec::new();
    if want.client_hellos != got.client_hellos {
        d.push(format!("ClientHellos {} vs {}", want.client_hellos, got.client_hellos));
    }
    if want.server_names != got.server_names {
        d.push(format!("SNI {:?} vs {:?}", want.server_names, got.server_names));
    }
    if want.offered != got.offered {
        let short = |o: &Vec<Vec<String>>| o.iter().map(|l| format!("{} suites from {:?}", l.len(), l.first())).collect::<Vec<_>>();
        d.push(format!("offered {:?} vs {:?}", short(&want.offered), short(&got.offered)));
    }
    if want.server_hellos != got.server_hellos {
        d.push(format!("ServerHellos {:?} vs {:?}", want.server_hellos, got.server_hellos));
    }
    d.join("; ")
}

/// Compares one capture; returns the differences, one line each.
fn compare(path: &Path, tsv: &str) -> (usize, usize, Vec<String>) {
    let (hellos, not_tcp) = parse_tshark(tsv);
    let sessions = sessions_of(path, &[]);
    let mut expected = tshark_facts(&hellos);
    let mut seen = tlsaudit_facts(&sessions);
    let mut problems = Vec::new();
    for (key, want) in expected.iter_mut() {
        let mut got = seen.remove(key).unwrap_or_default();
        // tshark omits the suites of SSLv2-format hellos; compare only what it shows.
        if want.offered.len() < got.offered.len() && want.offered.is_empty() {
            got.offered.clear();
        }
        for f in [&mut *want, &mut got] {
            f.server_names.sort();
            f.offered.sort();
            f.server_hellos.sort();
        }
        if *want != got {
            problems.push(format!("{} -> {}: {}", key.0, key.1, differences(want, &got)));
        }
    }
    for (key, extra) in &seen {
        if extra.client_hellos > 0 || !extra.server_hellos.is_empty() {
            eprintln!("{}: tlsaudit only: {} -> {} {extra:?}", path.display(), key.0, key.1);
        }
    }
    (hellos.len(), not_tcp.len(), problems)
}

/// The oracle file of a third-party capture: the decode-as variant when tshark
/// needed to be told that a port carries TLS (tlsaudit finds TLS by its bytes).
fn oracle_of(dir: &Path, local: &str, default: &str) -> String {
    let decode_as = dir.join(format!("{local}.tshark-decodeas.tsv"));
    let path = if decode_as.is_file() { decode_as } else { dir.join(default) };
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn thirdparty_captures_match_tshark() {
    let dir = thirdparty_dir();
    let mut failures = Vec::new();
    let mut compared_hellos = 0;
    let mut skipped_not_tcp = 0;
    let mut quic_hellos = 0;
    let mut dtls_hellos = 0;
    let mut stale_exceptions = Vec::new();
    let mut files = 0;
    for row in manifest() {
        if row["tshark_readable"] != "yes" || row["tshark_oracle"].is_empty() {
            continue;
        }
        let local = &row["local_path"];
        let mut tsv = if TSHARK_OUT_OF_ORDER.contains(&local.as_str()) {
            tshark_hello_fields(&dir.join(local), &["-o", "tcp.reassemble_out_of_order:TRUE"])
        } else {
            oracle_of(&dir, local, &row["tshark_oracle"])
        };
        let rows = |t: &str| t.lines().filter(|l| !l.trim().is_empty()).count();
        let (mut dtls_here, mut quic_here) = (0, 0);
        let dtls_oracle = dir.join(format!("{local}.tshark-dtls.tsv"));
        if dtls_oracle.is_file() {
            // DTLS hellos, read by tshark with their UDP ports.
            let dtls = std::fs::read_to_string(&dtls_oracle).expect("readable oracle");
            dtls_here = rows(&dtls);
            tsv.push_str(&dtls);
        }
        if row["features"].split(',').any(|f| f == "QUIC") {
            // The oracle files list QUIC hellos without ports; tshark is
            // asked again for them with their UDP ports.
            let quic = tshark_quic_hello_fields(&dir.join(local));
            quic_here = rows(&quic);
            tsv.push_str(&quic);
        }
        dtls_hellos += dtls_here;
        quic_hellos += quic_here;
        let (n, skipped, problems) = compare(&dir.join(local), &tsv);
        // The per-capture table: hellos tshark read (of them in QUIC and in
        // DTLS) and whether tlsaudit's records agree.
        let excepted = TSHARK_EXCEPTIONS.iter().any(|(f, _)| f == local);
        let verdict = match (problems.is_empty(), excepted) {
            (true, _) => "same",
            (false, true) => "differs, an exception (tests/common)",
            (false, false) => "DIFFERENT",
        };
        eprintln!("{local:<62} {n:>4} hellos  quic {quic_here:>3}  dtls {dtls_here:>2}  {verdict}");
        files += 1;
        compared_hellos += n;
        // QUIC rows without ports are the ones asked again with them.
        skipped_not_tcp += skipped;
        match TSHARK_EXCEPTIONS.iter().find(|(f, _)| f == local) {
            Some(_) if problems.is_empty() => stale_exceptions.push(local.clone()),
            Some(_) => {}
            None if problems.is_empty() => {}
            None => failures.push(format!("{local}:\n  {}", problems.join("\n  "))),
        }
    }
    eprintln!(
        "{files} captures, {compared_hellos} hellos compared ({quic_hellos} of them in QUIC, {dtls_hellos} in DTLS), {skipped_not_tcp} rows without ports (QUIC asked again, EAP-TLS) left out"
    );
    assert!(dtls_hellos >= 13, "only {dtls_hellos} DTLS hellos compared");
    assert!(files > 100 && compared_hellos > 800, "too little compared: {files} files, {compared_hellos} hellos");
    assert!(quic_hellos >= 40, "only {quic_hellos} QUIC hellos compared");
    assert!(stale_exceptions.is_empty(), "exceptions no longer needed: {stale_exceptions:?}");
    assert!(failures.is_empty(), "{} captures differ from tshark:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn bundled_captures_match_tshark() {
    let dir = captures_dir();
    let mut files = 0;
    let mut hellos = 0;
    let mut failures = Vec::new();
    for path in &bundled_captures() {
        // tshark reads TLS inside TDS only where told the port carries TDS
        // (captures/make-mssql-captures.sh uses 14433 to 14437), and after
        // IRC's STARTTLS or RDP's X.224 negotiation only where told the
        // port carries TLS.
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let decode_as: &[&str] = match name.as_str() {
            n if n.starts_with("mssql") => {
                &["-d", "tcp.port==14433,tds", "-d", "tcp.port==14434,tds", "-d", "tcp.port==14435,tds", "-d", "tcp.port==14436,tds"]
            }
            "irc.pcap" => &["-d", "tcp.port==6667,tls"],
            "rdp.pcap" => &["-d", "tcp.port==3389,tls"],
            "rdp-credssp.pcap" => &["-d", "tcp.port==3390,tls"],
            _ => &[],
        };
        let mut tsv = tshark_hello_fields(path, decode_as);
        if path.parent().is_some_and(|d| d.ends_with("quic")) {
            tsv = tshark_quic_hello_fields(path);
        }
        if path.parent().is_some_and(|d| d.ends_with("dtls")) {
            tsv = tshark_dtls_hello_fields(path);
        }
        let (n, _, problems) = compare(path, &tsv);
        assert!(n > 0, "tshark sees no handshake in {}", path.display());
        files += 1;
        hellos += n;
        if !problems.is_empty() {
            failures.push(format!("{}:\n  {}", path.display(), problems.join("\n  ")));
        }
    }
    assert!(files >= 20, "expected the bundled captures in {}", dir.display());
    eprintln!("{files} bundled captures, {hellos} hellos compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
