//! Baseline diffs (`--inventory-out`, then `--baseline`): real captures of
//! the compliance matrix, some moved to another server port with tcpreplay's
//! tcprewrite, so that one address and port holds a compliant service in
//! one run and a failing one in the next. Each kind of change is reported
//! once, in JSON Lines and in text, with a verdict, and the exit status
//! says only whether things got worse.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn matrix(name: &str) -> PathBuf {
    captures_dir().join("matrix").join(name)
}

/// `capture` with its server port `from` moved to `to`.
fn moved(scratch: &Scratch, capture: &Path, from: u16, to: u16) -> PathBuf {
    let out = scratch.path(&format!("{}-{to}.pcap", capture.file_stem().unwrap().to_string_lossy()));
    let status = std::process::Command::new("tcprewrite")
        .arg(format!("--portmap={from}:{to}"))
        .arg(format!("--infile={}", capture.display()))
        .arg(format!("--outfile={}", out.display()))
        .arg("--fixcsum")
        .status()
        .expect("tcprewrite runs");
    assert!(status.success());
    out
}

fn run(inputs: &[&Path], extra: &[&str]) -> Run {
    let ca = captures_dir().join("test-ca.pem");
    let mut args: Vec<String> = vec!["--as-of".into(), "2026-12-01".into(), "--ca-file".into(), ca.display().to_string()];
    for i in inputs {
        args.extend(["-r".to_string(), i.display().to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    run_jsonl(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The `tlsaudit.change` records of a run's output.
fn changes(scratch: &Scratch, inputs: &[&Path], baseline: &Path) -> (Vec<Value>, Value, Option<i32>) {
    let out = scratch.path("changes.jsonl");
    let ca = captures_dir().join("test-ca.pem");
    let mut args: Vec<String> = vec!["--format".into(), "jsonl".into(), "--as-of".into(), "2026-12-01".into(), "--ca-file".into(), ca.display().to_string()];
    for i in inputs {
        args.extend(["-r".to_string(), i.display().to_string()]);
    }
    args.extend(["--baseline".to_string(), baseline.display().to_string(), "-o".to_string(), out.display().to_string(), "--truncate".to_string()]);
    let status = tlsaudit(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let text = std::fs::read_to_string(&out).expect("records written");
    let records: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let stats = records.iter().find(|r| r["event"]["dataset"] == "tlsaudit.stats").cloned().expect("stats");
    let list = records.into_iter().filter(|r| r["event"]["dataset"] == "tlsaudit.change").collect();
    (list, stats, status.status.code())
}

fn kind_at(list: &[Value], port: u64) -> Option<&str> {
    list.iter().find(|c| c["destination"]["port"] == port).and_then(|c| c["tlsaudit"]["change"]["kind"].as_str())
}

#[test]
fn each_kind_of_change_is_reported_with_a_verdict() {
    let scratch = Scratch::new("baseline");
    let inventory = scratch.path("inventory.json");
    // Baseline: 4459 compliant (TLS 1.3), 4450 TLS 1.1, 4455 a SHA-1
    // certificate, and a self-signed one that will be gone.
    let (compliant, tls11, sha1, self_signed) =
        (matrix("tls13-compliant.pcap"), matrix("tls11.pcap"), matrix("tls12-sha1-cert.pcap"), matrix("tls12-self-signed.pcap"));
    let base = run(&[&compliant, &tls11, &sha1, &self_signed], &["--inventory-out", inventory.to_str().unwrap()]);
    assert!(completed(base.code), "{}", base.stderr);
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&inventory).unwrap()).unwrap();
    assert_eq!((file["tlsaudit_inventory"].as_u64(), file["policy"].as_str()), (Some(1), Some("hipaa")));
    assert_eq!(file["services"].as_array().unwrap().len(), base.services.len());
    let self_signed_port = base.services.iter().map(|s| s["destination"]["port"].as_u64().unwrap()).find(|p| ![4459, 4450, 4455].contains(p)).unwrap();

    // This run: TLS 1.1 moved onto 4459 (newly failing), TLS 1.3 onto 4450
    // (fixed), an expired certificate onto 4455 (other rules), the
    // self-signed service gone, and an FTP login in clear (new).
    let expired = matrix("tls12-expired.pcap");
    let expired_port = run(&[&expired], &[]).services[0]["destination"]["port"].as_u64().unwrap() as u16;
    let now = [
        moved(&scratch, &tls11, 4450, 4459),
        moved(&scratch, &compliant, 4459, 4450),
        moved(&scratch, &expired, expired_port, 4455),
        captures_dir().join("cleartext").join("ftp-login.pcap"),
    ];
    let (list, stats, code) = changes(&scratch, &now.iter().map(PathBuf::as_path).collect::<Vec<_>>(), &inventory);
    assert_eq!(kind_at(&list, 4459), Some("newly_failing"), "{list:?}");
    assert_eq!(kind_at(&list, 4450), Some("fixed"));
    assert_eq!(kind_at(&list, 4455), Some("rules_changed"));
    assert_eq!(kind_at(&list, self_signed_port), Some("gone"));
    assert_eq!(kind_at(&list, 2121), Some("new"));
    assert_eq!(list.len(), 5);
    let other_rules = list.iter().find(|c| c["destination"]["port"] == 4455).unwrap();
    let added: Vec<&str> = other_rules["tlsaudit"]["change"]["rules_added"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    let removed: Vec<&str> = other_rules["tlsaudit"]["change"]["rules_removed"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(added.contains(&"cert.expired") && removed.contains(&"cert.sig_sha1"), "{added:?} {removed:?}");
    let c = &stats["tlsaudit"]["stats"]["changes"];
    assert_eq!(c["verdict"], "mixed");
    assert_eq!((c["counts"]["new"].as_u64(), c["counts"]["gone"].as_u64(), c["counts"]["fixed"].as_u64()), (Some(1), Some(1), Some(1)));
    assert_eq!(code, Some(1), "something got worse");

    // The text report lists them under the verdict.
    let ca = captures_dir().join("test-ca.pem");
    let mut args = vec!["--format", "text", "--as-of", "2026-12-01", "--ca-file", ca.to_str().unwrap(), "--baseline", inventory.to_str().unwrap()];
    for p in &now {
        args.extend(["-r", p.to_str().unwrap()]);
    }
    let text = String::from_utf8(tlsaudit(&args).stdout).unwrap();
    let section = &text[text.find("Changes since the baseline").expect("the section")..];
    assert!(section.lines().next().unwrap().ends_with(": mixed"), "{section}");
    for label in ["newly failing", "fixed", "other rules", "gone", "new "] {
        assert!(section.contains(label), "{label}: {section}");
    }
}

/// The same traffic again: nothing changed, and the run exits 0 although
/// its services still fail — a cron job alerts only on change. Then only
/// fixes and a failing service gone: better, still 0.
#[test]
fn unchanged_and_better_runs_exit_zero() {
    let scratch = Scratch::new("baseline-unchanged");
    let inventory = scratch.path("inventory.json");
    let (tls11, sha1) = (matrix("tls11.pcap"), matrix("tls12-sha1-cert.pcap"));
    let base = run(&[&tls11, &sha1], &["--inventory-out", inventory.to_str().unwrap()]);
    assert_eq!(base.code, Some(1), "the services fail");
    let (list, stats, code) = changes(&scratch, &[&tls11, &sha1], &inventory);
    assert!(list.is_empty(), "{list:?}");
    assert_eq!(stats["tlsaudit"]["stats"]["changes"]["verdict"], "unchanged");
    assert_eq!(code, Some(0));
    let fixed = moved(&scratch, &matrix("tls13-compliant.pcap"), 4459, 4450);
    let (list, stats, code) = changes(&scratch, &[&fixed], &inventory);
    assert_eq!((kind_at(&list, 4450), kind_at(&list, 4455)), (Some("fixed"), Some("gone")));
    assert_eq!((stats["tlsaudit"]["stats"]["changes"]["verdict"].as_str(), code), (Some("better"), Some(0)));
}

#[test]
fn a_file_that_is_no_inventory_is_one_error_naming_it() {
    let scratch = Scratch::new("baseline-bad");
    for (name, content) in [("empty.json", ""), ("records.jsonl", "{\"event\":{}}\n{\"event\":{}}\n"), ("other.json", "{\"services\":[]}")] {
        let path = scratch.path(name);
        std::fs::write(&path, content).unwrap();
        let out = tlsaudit(&["-r", matrix("tls11.pcap").to_str().unwrap(), "--baseline", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(name) && stderr.contains("--inventory-out") && stderr.lines().count() == 1, "{stderr}");
    }
}
