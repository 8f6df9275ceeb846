//! The passive grade of a service (A to F, T for trust), on real captures
//! of the compliance matrix, the legacy TLS 1.0 capture and sessions in
//! clear: each weakness caps the grade as docs/COMPLIANCE.md says, the
//! record names the rules that set it, and the CSV and the text report show
//! the same grade.

mod common;

use common::*;

fn graded(path: &std::path::Path) -> (Option<String>, Vec<String>) {
    let ca = captures_dir().join("test-ca.pem");
    let run = run_jsonl(&["-r", path.to_str().unwrap(), "--ca-file", ca.to_str().unwrap(), "--as-of", "2026-12-01"]);
    assert_eq!(run.services.len(), 1, "{}", path.display());
    let s = &run.services[0]["tlsaudit"]["service"];
    let why = s["grade_capped_by"].as_array().map(|a| a.iter().map(|r| r.as_str().unwrap().to_string()).collect()).unwrap_or_default();
    (s["grade"].as_str().map(str::to_string), why)
}

#[test]
fn weaknesses_cap_the_grade() {
    let matrix = captures_dir().join("matrix");
    let cases: [(std::path::PathBuf, &str, &[&str]); 8] = [
        (matrix.join("tls13-compliant.pcap"), "A", &[]),
        (matrix.join("tls12-ecdsa-compliant.pcap"), "A", &[]),
        (matrix.join("tls11.pcap"), "B", &["proto.tls11"]),
        (captures_dir().join("tls10-rsa-3des.pcap"), "C", &["cipher.3des"]),
        (matrix.join("tls12-self-signed.pcap"), "T", &["cert.self_signed", "cert.untrusted_chain"]),
        (matrix.join("tls10-rc4-md5.pcap"), "F", &["cipher.rc4"]),
        (captures_dir().join("cleartext/ftp-login.pcap"), "F", &["plaintext.credentials"]),
        (captures_dir().join("cleartext/smb-encrypted.pcap"), "A", &[]),
    ];
    for (path, grade, why) in cases {
        let (got, got_why) = graded(&path);
        assert_eq!(got.as_deref(), Some(grade), "{}", path.display());
        for rule in why {
            assert!(got_why.iter().any(|r| r == rule), "{}: {rule} in {got_why:?}", path.display());
        }
    }
}

/// A service not assessed gets no grade: nothing it negotiated was seen.
#[test]
fn no_grade_without_an_assessment() {
    let scratch = Scratch::new("grade-cut");
    let cut = scratch.path("smb-login-only.pcap");
    assert!(std::process::Command::new("editcap")
        .args(["-r", captures_dir().join("cleartext/smb-encrypted.pcap").to_str().unwrap(), cut.to_str().unwrap(), "1-11"])
        .status()
        .unwrap()
        .success());
    assert_eq!(graded(&cut), (None, Vec::new()));
}

/// The text report and services.csv show the grade of the record.
#[test]
fn text_and_csv_show_the_same_grade() {
    let scratch = Scratch::new("grade-outputs");
    let dir = scratch.path("tables");
    let matrix = captures_dir().join("matrix");
    let run = run_jsonl(&["-r", matrix.to_str().unwrap(), "--csv", dir.to_str().unwrap()]);
    let csv = std::fs::read_to_string(dir.join("services.csv")).unwrap();
    let text = String::from_utf8(tlsaudit(&["-r", matrix.to_str().unwrap(), "--format", "text"]).stdout).unwrap();
    for s in &run.services {
        let (port, grade) = (s["destination"]["port"].to_string(), s["tlsaudit"]["service"]["grade"].as_str().unwrap());
        assert!(csv.lines().any(|l| l.starts_with(&format!("127.0.0.1,{port},tcp,,")) && l.contains(&format!(",{grade},"))), "{port}: {grade}");
        let block = &text[text.find(&format!("127.0.0.1:{port} ")).unwrap()..];
        let line = block.lines().find(|l| l.trim_start().starts_with("passive grade:")).unwrap();
        assert!(line.contains(&format!("passive grade: {grade}")), "{port}: {line}");
    }
}
