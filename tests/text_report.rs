//! The text report names things: each service's SNI names, certificate
//! (subject, issuer, expiry against the last session), versions and suites,
//! findings worst first and the findings exceptions set aside with their
//! justification; decode errors itemized by kind with what they mean.

mod common;

use common::*;

fn text(args: &[&str]) -> String {
    let out = tlsaudit(&[args, &["--format", "text"]].concat());
    assert!(completed(out.status.code()), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 report")
}

/// The lines of one service's block in the report.
fn block<'a>(report: &'a str, endpoint: &str) -> Vec<&'a str> {
    let mut lines = report.lines().skip_while(|l| !l.starts_with(&format!("  {endpoint}  ")));
    let head = lines.next().unwrap_or_else(|| panic!("no service {endpoint} in:\n{report}"));
    std::iter::once(head).chain(lines.take_while(|l| l.starts_with("    "))).collect()
}

#[test]
fn a_service_names_its_names_certificate_and_suites() {
    let ca = captures_dir().join("test-ca.pem");
    let capture = captures_dir().join("matrix/tls12-expired.pcap");
    let report = text(&["-r", capture.to_str().unwrap(), "--ca-file", ca.to_str().unwrap()]);
    let sessions = sessions_of(&capture, &["--ca-file", ca.to_str().unwrap()]);
    let s = &sessions[0];
    let endpoint = format!("{}:{}", s["destination"]["ip"].as_str().unwrap(), s["destination"]["port"]);
    let mut lines = block(&report, &endpoint);
    // The passive grade first: an expired certificate is a trust failure.
    assert_eq!(lines.remove(1), "    passive grade: T (cert.expired)");
    let x509 = &s["tls"]["server"]["x509"];
    let not_after = &x509["not_after"].as_str().unwrap()[..10];
    assert_eq!(lines[1], format!("    names asked for: {}", s["tls"]["client"]["server_name"].as_str().unwrap()));
    assert!(
        lines[2].starts_with(&format!(
            "    certificate: {}, issued by {}, expired {not_after}, ",
            x509["subject"]["common_name"].as_str().unwrap(),
            x509["issuer"]["common_name"].as_str().unwrap()
        )) && lines[2].ends_with(" before the last session"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], format!("    negotiated TLS 1.2 (1); {} (1)", s["tls"]["cipher"].as_str().unwrap()));
    assert!(lines[4].starts_with("    [high] cert.expired x1: "), "{lines:?}");

    // TLS 1.3 hides the certificate: the report says so.
    let report = text(&["-r", captures_dir().join("tls13-x25519.pcap").to_str().unwrap()]);
    assert!(report.contains("    certificate: none seen (TLS 1.3 encrypts it)\n"), "{report}");
}

#[test]
fn exempted_findings_show_their_justification_and_expiry() {
    let scratch = Scratch::new("text-exempted");
    let policy = scratch.path("lab.toml");
    std::fs::write(
        &policy,
        "[[exception]]\nserver = \"127.0.0.1\"\nport = 4450\nrule = \"proto.tls11\"\njustification = \"lab analyser (change 4711)\"\nexpires = \"2099-12-31\"\n",
    )
    .unwrap();
    let capture = captures_dir().join("matrix/tls11.pcap");
    let report = text(&["-r", capture.to_str().unwrap(), "--policy-file", policy.to_str().unwrap()]);
    let lines = block(&report, "127.0.0.1:4450");
    assert!(
        lines.contains(&"    [exempted] proto.tls11 x1 (medium): lab analyser (change 4711) (until 2099-12-31)"),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("] proto.tls11 x1:")), "not among the findings: {lines:?}");
}

#[test]
fn decode_errors_are_itemized() {
    // A real capture whose frames are cut inside the TCP header.
    let (linktype, frames) = read_pcap_frames(&captures_dir().join("tls12-ecdhe-rsa-aes128gcm.pcap"));
    let cut: Vec<(u64, Vec<u8>)> =
        frames.iter().enumerate().map(|(i, (t, f))| (*t, if i % 3 == 0 { f[..f.len().min(40)].to_vec() } else { f.clone() })).collect();
    let scratch = Scratch::new("text-decode-errors");
    let path = scratch.path("cut.pcap");
    write_pcap_frames(&path, linktype, &cut, 65535);
    let expected = frames.iter().step_by(3).count();
    let report = text(&["-r", path.to_str().unwrap()]);
    assert!(report.contains(&format!("  decode errors: {expected} (tlsaudit.stats.decode_errors in JSON Lines):\n")), "{report}");
    assert!(report.contains(&format!("    truncated {expected}: frames cut short by the snap length")), "{report}");
}
