//! The CSV tables (`--csv DIR`) read back by Python's csv module (an RFC
//! 4180 reader of its own) and compared, field by field, with the JSON
//! Lines records of the same run: every service, every finding and every
//! certificate once; quoting that survives commas, quotes and the hostile
//! strings capture's escape sequences; nothing a spreadsheet would run.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use serde_json::Value;

/// The rows of a CSV file as Python's csv module reads them, each a map
/// from the header's names.
fn python_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let script = "import csv, json, sys\nwith open(sys.argv[1], newline='') as f:\n    print(json.dumps(list(csv.DictReader(f))))";
    let out = std::process::Command::new("/usr/bin/python3").args(["-c", script]).arg(path).output().expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("python's rows as JSON")
}

/// "name=count; ..." as the services table writes the records' counts.
fn counted(v: &Value) -> String {
    v.as_array().map_or(String::new(), |a| a.iter().map(|c| format!("{}={}", c["name"].as_str().unwrap(), c["count"])).collect::<Vec<_>>().join("; "))
}

#[test]
fn tables_match_the_json_records() {
    let scratch = Scratch::new("csv-tables");
    let dir = scratch.path("tables");
    let inputs = [captures_dir(), captures_dir().join("matrix"), captures_dir().join("cleartext")];
    let mut args: Vec<&str> = vec!["--as-of", "2026-12-01", "--ca-file"];
    let ca = captures_dir().join("test-ca.pem");
    args.push(ca.to_str().unwrap());
    for i in &inputs {
        args.extend(["-r", i.to_str().unwrap()]);
    }
    args.extend(["--csv", dir.to_str().unwrap()]);
    let run = run_jsonl(&args);
    assert!(completed(run.code), "{}", run.stderr);
    assert!(run.services.len() > 30, "services to compare: {}", run.services.len());

    // services.csv: one row per service record, in the same order.
    let services = python_rows(&dir.join("services.csv"));
    assert_eq!(services.len(), run.services.len());
    for (row, record) in services.iter().zip(&run.services) {
        let t = &record["tlsaudit"];
        let s = &t["service"];
        let key = format!("{}:{}", row["ip"], row["port"]);
        assert_eq!((row["ip"].as_str(), row["port"].parse::<u64>().ok()), (record["destination"]["ip"].as_str().unwrap(), record["destination"]["port"].as_u64()));
        assert_eq!(row["transport"], record["network"]["transport"].as_str().unwrap(), "{key}");
        assert_eq!(row["assessment"], t["assessment"].as_str().unwrap(), "{key}");
        assert_eq!(row["sessions"], s["sessions"].to_string(), "{key}");
        assert_eq!(row["sessions_in_clear"], s["cleartext_sessions"].to_string(), "{key}");
        assert_eq!(row["distinct_clients"], s["distinct_clients"].to_string(), "{key}");
        assert_eq!(row["protocols"], counted(&s["protocols"]), "{key}");
        assert_eq!(row["versions"], counted(&s["versions"]), "{key}");
        assert_eq!(row["ciphers"], counted(&s["ciphers"]), "{key}");
        let certificates: Vec<&str> = s["certificates"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        assert_eq!(row["certificates"], certificates.join("; "), "{key}");
        let mut rules: Vec<&str> = t["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
        rules.sort();
        assert_eq!(row["rules_raised"], rules.join("; "), "{key}");
        assert_eq!((row["first_seen"].as_str(), row["last_seen"].as_str()), (s["first_seen"].as_str().unwrap(), s["last_seen"].as_str().unwrap()), "{key}");
    }

    // findings.csv: every finding and exemption of every service record,
    // with its count and severity.
    let findings = python_rows(&dir.join("findings.csv"));
    let of_services: Vec<&BTreeMap<String, String>> = findings.iter().filter(|r| r["scope"] == "service").collect();
    let mut expected = 0;
    for record in &run.services {
        let (ip, port) = (record["destination"]["ip"].as_str().unwrap(), record["destination"]["port"].to_string());
        let t = &record["tlsaudit"];
        for (list, status) in [("findings", "raised"), ("exempted", "exempted")] {
            for f in t[list].as_array().into_iter().flatten() {
                expected += 1;
                let row = of_services
                    .iter()
                    .find(|r| r["ip"] == ip && r["port"] == port && r["rule"] == f["rule"].as_str().unwrap() && r["status"] == status)
                    .unwrap_or_else(|| panic!("{ip}:{port} {} {status}: no row", f["rule"]));
                assert_eq!((row["severity"].as_str(), row["count"].parse::<u64>().ok()), (f["severity"].as_str().unwrap(), f["count"].as_u64()));
            }
        }
    }
    assert!(expected > 50, "findings to compare: {expected}");
    assert_eq!(of_services.len(), expected);
    assert!(findings.iter().any(|r| r["scope"] == "client"), "the clients whose own offers fail have rows too");

    // certificates.csv: each leaf of the service records once, soonest
    // expiry first, with the services that served it.
    let certificates = python_rows(&dir.join("certificates.csv"));
    let mut served: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for record in &run.services {
        for c in record["tlsaudit"]["service"]["certificates"].as_array().unwrap() {
            served.entry(c.as_str().unwrap().to_string()).or_default().push(format!("{}:{}", record["destination"]["ip"].as_str().unwrap(), record["destination"]["port"]));
        }
    }
    assert_eq!(certificates.len(), served.len());
    let mut last_expiry = String::new();
    let mut checked_expired = false;
    for row in &certificates {
        let mut where_served = served[&row["sha256"]].clone();
        where_served.sort();
        assert_eq!(row["served_by"], where_served.join("; "));
        assert!(row["not_after"] >= last_expiry, "sorted by expiry");
        last_expiry = row["not_after"].clone();
        // Days from --as-of 2026-12-01T00:00:00Z, rounded down.
        let not_after = row["not_after"].as_str();
        let days: i64 = row["days_to_expiry"].parse().unwrap();
        assert!(row["key"].starts_with("RSA ") || row["key"].starts_with("EC ") || row["key"].starts_with("Ed"), "{}", row["key"]);
        assert!(!row["signature"].is_empty());
        if not_after.starts_with("2021-01-01T00:00:00") {
            assert_eq!(days, -2161, "expired 2021-01-01, as of 2026-12-01");
            checked_expired = true;
        }
    }
    assert!(checked_expired, "the certificate that expired on 2021-01-01 is listed");

    // The text report's certificate section (--certificates) lists the same
    // certificates in the same order, with the same days to expiry.
    let mut text_args: Vec<&str> = args.iter().copied().take_while(|a| *a != "--csv").collect();
    text_args.extend(["--format", "text", "--certificates"]);
    let out = tlsaudit(&text_args);
    assert!(completed(out.status.code()));
    let text = String::from_utf8(out.stdout).unwrap();
    let section = text.split("\nCertificates, soonest expiry first (days counted from 2026-12-01):\n").nth(1).expect("the certificate section");
    let digests: Vec<&str> = section.lines().filter_map(|l| l.split("; sha256 ").nth(1)).collect();
    let csv_digests: Vec<&str> = certificates.iter().map(|r| r["sha256"].as_str()).collect();
    assert_eq!(digests, csv_digests);
    let heads: Vec<&str> = section.lines().filter(|l| l.starts_with("  ") && !l.starts_with("    ")).collect();
    for (head, row) in heads.iter().zip(&certificates) {
        let days: i64 = row["days_to_expiry"].parse().unwrap();
        let when = if days < 0 { format!("EXPIRED {} days ago", -days) } else { format!("{days} days left") };
        assert!(head.contains(&when), "{head} vs {days}");
    }
}

/// The hostile strings capture: an SNI with escape sequences and a bell, a
/// subject with a terminal title sequence. Python reads every field back,
/// no control character reaches a file, and no cell starts a formula.
#[test]
fn hostile_strings_are_quoted_and_made_visible() {
    let scratch = Scratch::new("csv-hostile");
    let dir = scratch.path("tables");
    let run = run_jsonl(&["-r", captures_dir().join("hostile-strings.pcap").to_str().unwrap(), "--csv", dir.to_str().unwrap()]);
    assert!(completed(run.code), "{}", run.stderr);
    for file in ["services.csv", "findings.csv", "certificates.csv"] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let text = String::from_utf8(bytes).expect("UTF-8");
        // Line ends are CRLF or LF, nothing else below space.
        assert!(!text.chars().any(|c| c.is_control() && c != '\n' && c != '\r'), "{file}: a control character");
        for row in python_rows(&dir.join(file)) {
            for (column, value) in &row {
                assert!(!value.starts_with(['=', '+', '@']), "{file} {column}: {value}");
            }
        }
    }
    let services = python_rows(&dir.join("services.csv"));
    assert!(services.iter().any(|r| r["server_names"].contains("\\x1b")), "the escape sequence shown, not sent: {services:?}");
    let certificates = python_rows(&dir.join("certificates.csv"));
    assert!(!certificates.is_empty());
}

#[test]
fn an_unwritable_directory_is_one_error_naming_it() {
    let scratch = Scratch::new("csv-unwritable");
    let blocker = scratch.path("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let out = tlsaudit(&["-r", captures_dir().join("tls13-x25519.pcap").to_str().unwrap(), "--csv", blocker.join("tables").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("a-file") && stderr.lines().count() == 1, "{stderr}");
}
