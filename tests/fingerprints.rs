//! Fingerprints checked against values computed by others: JA4 against the
//! expected outputs shipped with the ja4 captures, JA3 and JA3S against
//! tshark's `tls.handshake.ja3` and `tls.handshake.ja3s` fields.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

type Key = (EndpointKey, EndpointKey);



#[test]
fn ja4_matches_the_ja4_projects_expected_outputs() {
    let dir = thirdparty_dir().join("ja4");
    let mut compared = 0;
    let mut skipped_quic = 0;
    let mut failures = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir.join("expected")).expect("ja4/expected").flatten().collect();
    files.sort_by_key(|e| e.file_name());
    for entry in files {
        let name = entry.file_name().to_string_lossy().trim_end_matches(".json").to_string();
        let capture = dir.join(&name);
        if !capture.is_file() {
            continue;
        }
        let expected: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(entry.path()).expect("readable"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Expected JA4 values per connection: the first ClientHello, and the
        // one sent again after a HelloRetryRequest.
        let mut want: BTreeMap<Key, Vec<(String, String, String)>> = BTreeMap::new();
        for e in &expected {
            let Some(ja4) = e["JA4.1"].as_str() else { continue };
            if !ja4.starts_with('t') {
                skipped_quic += 1; // QUIC ('q') and DTLS ('d'): not TCP
                continue;
            }
            let s = |k: &str| e[k].as_str().map(str::to_string).unwrap_or_else(|| e[k].to_string());
            let key = (endpoint(&s("src"), &s("srcport")), endpoint(&s("dst"), &s("dstport")));
            let retried = e["JA4.2"].as_str().unwrap_or("").to_string();
            let domain = e["domain"].as_str().unwrap_or("").to_string();
            want.entry(key).or_default().push((ja4.to_string(), retried, domain));
        }
        if want.is_empty() {
            continue;
        }
        let sessions = sessions_of(&capture, &[]);
        let mut got: BTreeMap<Key, Vec<(String, String, String)>> = BTreeMap::new();
        for s in &sessions {
            let Some(ja4) = s["tlsaudit"]["client"]["ja4"].as_str() else { continue };
            let retried = s["tlsaudit"]["client"]["retried_hello"]["ja4"].as_str().unwrap_or("").to_string();
            let domain = s["tls"]["client"]["server_name"].as_str().unwrap_or("").to_string();
            got.entry(session_key(s)).or_default().push((ja4.to_string(), retried, domain));
        }
        for (key, mut w) in want {
            let mut g = got.remove(&key).unwrap_or_default();
            w.sort();
            g.sort();
            compared += w.len();
            if w != g {
                failures.push(format!("{name} {} -> {}: expected {w:?}, tlsaudit {g:?}", key.0, key.1));
            }
        }
    }
    eprintln!("{compared} JA4 values compared, {skipped_quic} QUIC/DTLS streams left out");
    assert!(compared >= 100, "only {compared} JA4 values compared");
    assert!(failures.is_empty(), "{} JA4 mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// tshark's JA3 and JA3S per connection.
fn tshark_ja3(path: &Path, extra: &[&str]) -> BTreeMap<Key, (Vec<String>, Vec<String>)> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-Y", "tls.handshake.type==1 || tls.handshake.type==2", "-T", "fields"])
        .args(["-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "ipv6.dst"])
        .args(["-e", "tcp.dstport", "-e", "tls.handshake.type", "-e", "tls.handshake.ja3", "-e", "tls.handshake.ja3s", "-e", "frame.protocols"])
        .args(["-o", "tls.desegment_ssl_records:TRUE", "-o", "tcp.desegment_tcp_streams:TRUE"])
        .args(extra)
        .output()
        .expect("tshark runs");
    let mut map: BTreeMap<Key, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let c: Vec<&str> = line.split('\t').collect();
        if c.len() < 9 || c[2].is_empty() {
            continue; // not TCP
        }
        let last = |f: &str| f.rsplit(',').next().unwrap_or("").to_string();
        let (src, dst) = innermost_ips([c[0], c[3]], [c[1], c[4]], c.get(9).copied());
        let (a, b) = (endpoint(src, &last(c[2])), endpoint(dst, &last(c[5])));
        if c[6].split(',').any(|t| t == "1") {
            let e = map.entry((a, b)).or_default();
            e.0.extend(c[7].split(',').filter(|s| !s.is_empty()).map(str::to_string));
        } else if !c[8].is_empty() {
            let e = map.entry((b, a)).or_default();
            e.1.extend(c[8].split(',').filter(|s| !s.is_empty()).map(str::to_string));
        }
    }
    map
}

#[test]
fn ja3_and_ja3s_match_tshark() {
    let dir = thirdparty_dir();
    let mut paths: Vec<_> = manifest()
        .into_iter()
        .filter(|r| r["tshark_readable"] == "yes" && r["tshark_hello_rows"].parse::<u32>().unwrap_or(0) > 0)
        .map(|r| dir.join(&r["local_path"]))
        .collect();
    let bundled = bundled_captures();
    paths.extend(bundled);
    let (mut ja3_count, mut ja3s_count) = (0, 0);
    let mut failures = Vec::new();
    for path in &paths {
        if TSHARK_EXCEPTIONS.iter().any(|(name, _)| path.ends_with(name)) {
            continue;
        }
        let out_of_order = TSHARK_OUT_OF_ORDER.iter().any(|name| path.ends_with(name));
        let want = tshark_ja3(path, if out_of_order { &["-o", "tcp.reassemble_out_of_order:TRUE"] } else { &[] });
        let sessions = sessions_of(path, &[]);
        let mut got: BTreeMap<Key, (Vec<String>, Vec<String>)> = BTreeMap::new();
        let mut retries: BTreeMap<Key, usize> = BTreeMap::new();
        for s in &sessions {
            if s["tlsaudit"]["server"]["hello_retry_request"].is_object() {
                *retries.entry(session_key(s)).or_default() += 1;
            }
            let e = got.entry(session_key(s)).or_default();
            let hellos = s["tlsaudit"]["client_hello_count"].as_u64().unwrap_or(1) as usize;
            if let Some(ja3) = s["tls"]["client"]["ja3"].as_str() {
                // tshark fingerprints every ClientHello of the connection;
                // tlsaudit keeps the first and the one sent again before any
                // ServerHello (further ones repeat the first in these captures).
                let mut all = vec![ja3.to_string()];
                all.extend(s["tlsaudit"]["client"]["retried_hello"]["ja3"].as_str().map(str::to_string));
                while all.len() < hellos {
                    all.push(ja3.to_string());
                }
                e.0.extend(all);
            }
            if let Some(ja3s) = s["tls"]["server"]["ja3s"].as_str() {
                e.1.push(ja3s.to_string());
            }
        }
        for (key, (mut ja3, mut ja3s)) in want {
            let (mut g3, mut g3s) = got.remove(&key).unwrap_or_default();
            // tshark also fingerprints a HelloRetryRequest, which comes
            // before the ServerHello; tlsaudit's JA3S is the ServerHello's.
            let hrr = retries.get(&key).copied().unwrap_or(0).min(ja3s.len());
            ja3s.drain(..hrr);
            for v in [&mut ja3, &mut ja3s, &mut g3, &mut g3s] {
                v.sort();
            }
            ja3_count += ja3.len();
            ja3s_count += ja3s.len();
            if ja3 != g3 || ja3s != g3s {
                failures.push(format!(
                    "{} {} -> {}: tshark JA3 {ja3:?} JA3S {ja3s:?}, tlsaudit JA3 {g3:?} JA3S {g3s:?}",
                    path.display(),
                    key.0,
                    key.1
                ));
            }
        }
    }
    eprintln!("{ja3_count} JA3 and {ja3s_count} JA3S values compared over {} captures", paths.len());
    assert!(ja3_count > 300 && ja3s_count > 100, "too few fingerprints compared");
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
}
