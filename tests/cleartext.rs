//! Sessions that stay in clear (TCP, and SNMP and syslog over UDP), from
//! real stacks on loopback
//! (captures/make-cleartext-health-captures.sh and
//! make-cleartext-login-captures.sh): each protocol is named, judged by the
//! plaintext.* and starttls.* rules, and reported without a byte of its
//! payload — the planted patient data, passwords and message bodies are
//! looked for in every output format. The same protocols with TLS on
//! (captures/starttls) carry none of these findings.

mod common;

use common::*;
use serde_json::Value;

fn cleartext(name: &str) -> std::path::PathBuf {
    captures_dir().join("cleartext").join(name)
}

fn only_session(name: &str) -> Value {
    let run = run_jsonl(&["-r", cleartext(name).to_str().unwrap()]);
    assert_eq!(run.sessions.len(), 1, "{name}: one session expected: {}", run.stderr);
    run.sessions.into_iter().next().unwrap()
}

fn rules(s: &Value) -> Vec<String> {
    s["tlsaudit"]["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap().to_string()).collect()
}

/// One recording: capture, protocol, the kind of login that crossed in
/// clear, whether the server offered TLS, and the rules raised.
type Recorded = (&'static str, &'static str, Option<&'static str>, Option<bool>, &'static [&'static str]);

/// What each recording did.
const RECORDED: &[Recorded] = &[
    ("hl7-mllp.pcap", "hl7", None, None, &["plaintext.phi_protocol"]),
    ("dicom-cstore.pcap", "dicom", None, None, &["plaintext.phi_protocol"]),
    ("dicom-echo.pcap", "dicom", None, None, &["plaintext.phi_protocol"]),
    ("dicom-pynetdicom.pcap", "dicom", None, None, &["plaintext.phi_protocol"]),
    ("fhir-http.pcap", "http", Some("HTTP Basic"), None, &["plaintext.credentials", "plaintext.phi_protocol"]),
    ("ftp-login.pcap", "ftp", Some("FTP USER/PASS"), None, &["plaintext.credentials"]),
    ("telnet-login.pcap", "telnet", Some("telnet login"), None, &["plaintext.credentials"]),
    ("imap-login.pcap", "imap", Some("IMAP LOGIN"), Some(false), &["plaintext.credentials", "starttls.not_offered"]),
    ("pop3-login.pcap", "pop3", Some("POP3 USER/PASS"), None, &["plaintext.credentials"]),
    ("ldap-simple-bind.pcap", "ldap", Some("LDAP simple bind"), None, &["plaintext.credentials"]),
    ("postgresql-login.pcap", "postgresql", Some("PostgreSQL cleartext password"), None, &["plaintext.credentials"]),
    ("mysql-login.pcap", "mysql", Some("MySQL login"), Some(false), &["plaintext.credentials", "starttls.not_offered"]),
    ("mssql-login.pcap", "mssql", Some("MS-SQL login, password only obfuscated"), Some(false), &["plaintext.credentials", "starttls.not_offered"]),
    ("smtp-no-starttls.pcap", "smtp", None, Some(false), &["starttls.not_offered"]),
    ("smtp-starttls-unused.pcap", "smtp", None, Some(true), &["starttls.not_used"]),
    ("snmp-v2c.pcap", "snmp", Some("SNMP community string"), None, &["plaintext.credentials"]),
    ("syslog.pcap", "syslog", None, None, &["plaintext.protocol"]),
    ("smb-unencrypted.pcap", "smb", None, None, &["plaintext.protocol"]),
];

#[test]
fn each_protocol_in_clear_is_named_and_judged() {
    for (file, protocol, credentials, offered, want) in RECORDED {
        let s = only_session(file);
        assert_eq!(s["network"]["protocol"], *protocol, "{file}");
        assert_eq!(s["tlsaudit"]["encrypted"], false, "{file}");
        assert!(s["tls"].is_null(), "{file}: no tls object for a session in clear");
        let c = &s["tlsaudit"]["cleartext"];
        assert_eq!(c["credentials"].as_str(), *credentials, "{file}: {c}");
        assert_eq!(c["upgrade_offered"].as_bool(), *offered, "{file}: {c}");
        let mut got = rules(&s);
        got.sort();
        assert_eq!(got, *want, "{file}");
        assert_eq!((s["tlsaudit"]["assessment"].as_str(), s["tlsaudit"]["compliant"].as_bool()), (Some("non_compliant"), Some(false)), "{file}");
        assert!(!c["seen"].as_array().unwrap().is_empty(), "{file}: what was seen is said");
    }
}

#[test]
fn health_protocols_record_their_identifiers() {
    let hl7 = only_session("hl7-mllp.pcap");
    assert_eq!(hl7["tlsaudit"]["cleartext"]["hl7"]["message_type"], "ADT^A01");
    for (file, calling, service) in
        [("dicom-cstore.pcap", "SYNTH-MODALITY", "storage"), ("dicom-echo.pcap", "SYNTH-MODALITY", "verification"), ("dicom-pynetdicom.pcap", "SYNTH-WORKSTN", "storage")]
    {
        let d = &only_session(file)["tlsaudit"]["cleartext"]["dicom"];
        assert_eq!((d["calling_ae_title"].as_str(), d["called_ae_title"].as_str()), (Some(calling), Some("SYNTH-PACS")), "{file}");
        assert_eq!((d["service"].as_str(), d["answer"].as_str()), (Some(service), Some("accepted")), "{file}");
        // The first command, as tshark names the first P-DATA's ("C-STORE-RQ ID=1, ...").
        let first_rq = tshark_fields(&cleartext(file), &["-d", "tcp.port==11112,dicom", "-Y", "dicom.pdu.type == 4"], "_ws.col.Info")
            .into_iter()
            .find_map(|info| info.split([' ', ',']).find(|w| w.ends_with("-RQ")).map(|w| w.trim_end_matches("-RQ").to_string()))
            .expect("tshark reads a DIMSE request");
        assert_eq!(d["command"].as_str(), Some(first_rq.as_str()), "{file}");
    }
    let fhir = only_session("fhir-http.pcap");
    assert_eq!(fhir["tlsaudit"]["cleartext"]["http"], serde_json::json!({"method": "GET", "fhir": true}));
    let smtp = only_session("smtp-no-starttls.pcap");
    assert_eq!(smtp["tlsaudit"]["cleartext"]["message_sent"], true);
    let snmp = only_session("snmp-v2c.pcap");
    assert_eq!((snmp["network"]["transport"].as_str(), snmp["tlsaudit"]["cleartext"]["snmp"]["version"].as_str()), (Some("udp"), Some("2c")));
}

/// tshark reads the same protocols in the same captures: the session's
/// protocol is the one tshark's dissectors name (told the ports where they
/// are not the standard ones).
#[test]
fn tshark_names_the_same_protocols() {
    for (file, protocol, decode_as) in [
        ("hl7-mllp.pcap", "hl7", "tcp.port==2575,hl7"),
        ("dicom-cstore.pcap", "dicom", "tcp.port==11112,dicom"),
        ("fhir-http.pcap", "http", "tcp.port==8080,http"),
        ("ftp-login.pcap", "ftp", "tcp.port==2121,ftp"),
        ("imap-login.pcap", "imap", "tcp.port==2143,imap"),
        ("pop3-login.pcap", "pop", "tcp.port==2110,pop"),
        ("ldap-simple-bind.pcap", "ldap", "tcp.port==2389,ldap"),
        ("postgresql-login.pcap", "pgsql", "tcp.port==25432,pgsql"),
        ("mysql-login.pcap", "mysql", "tcp.port==23306,mysql"),
        ("mssql-login.pcap", "tds", "tcp.port==14437,tds"),
        ("smtp-no-starttls.pcap", "smtp", "tcp.port==2525,smtp"),
        ("telnet-login.pcap", "telnet", "tcp.port==2323,telnet"),
        ("snmp-v2c.pcap", "snmp", "udp.port==2161,snmp"),
        ("syslog.pcap", "syslog", "udp.port==2514,syslog"),
        ("smb-unencrypted.pcap", "smb2", "tcp.port==2445,nbss"),
    ] {
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(cleartext(file))
            .args(["-d", decode_as, "-Y", protocol, "-T", "fields", "-e", "frame.number"])
            .output()
            .expect("tshark runs");
        let frames = String::from_utf8_lossy(&out.stdout).lines().count();
        assert!(frames > 0, "{file}: tshark finds {protocol}");
    }
}

/// tshark's values of one field, one per frame matched.
fn tshark_fields(path: &std::path::Path, args: &[&str], field: &str) -> Vec<String> {
    let out = std::process::Command::new("tshark").arg("-r").arg(path).args(args).args(["-T", "fields", "-e", field]).output().expect("tshark runs");
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// Samba with SMB3 encryption off and required: the dialect, the cipher
/// and the count of messages behind a TRANSFORM header are tshark's; the
/// session without encryption is held, the encrypted one is compliant and
/// counted neither as TLS nor in clear.
#[test]
fn smb_encryption_is_read_as_tshark_reads_it() {
    for (file, port, encrypted) in [("smb-unencrypted.pcap", 2445, false), ("smb-encrypted.pcap", 2446, true)] {
        let path = cleartext(file);
        let decode = format!("tcp.port=={port},nbss");
        let negotiated = ["-d", &decode, "-Y", "smb2.cmd == 0 && smb2.flags.response == 1"];
        let dialect = tshark_fields(&path, &negotiated, "smb2.dialect");
        let cipher = tshark_fields(&path, &negotiated, "smb2.negotiate_context.cipher_id");
        let transforms = tshark_fields(&path, &["-d", &decode, "-Y", "smb2.protocol_id == 0xfd534d42"], "frame.number").len();
        let run = run_jsonl(&["-r", path.to_str().unwrap()]);
        assert_eq!(run.sessions.len(), 1, "{file}");
        let s = &run.sessions[0];
        let smb = &s["tlsaudit"]["smb"];
        assert_eq!(dialect, ["0x0311"], "{file}: tshark");
        assert_eq!(smb["dialect"], "3.1.1", "{file}");
        let cipher_name = match cipher.first().map(String::as_str) {
            Some("0x0002") => Some("AES-128-GCM"),
            None => None,
            Some(other) => panic!("{file}: cipher {other}"),
        };
        assert_eq!(smb["cipher"].as_str(), cipher_name, "{file}");
        assert_eq!(smb["encrypted_messages"].as_u64(), Some(transforms as u64), "{file}");
        assert_eq!(transforms > 0, encrypted, "{file}");
        assert_eq!(s["tlsaudit"]["encrypted"], encrypted, "{file}");
        assert_eq!(s["tlsaudit"]["cleartext"].is_null(), encrypted, "{file}: a cleartext object only in clear");
        assert_eq!(s["tlsaudit"]["compliant"], encrypted, "{file}: {:?}", rules(s));
        let flows = &run.stats["tlsaudit"]["stats"]["flows"];
        assert_eq!((flows["cleartext_sessions"].as_u64(), flows["tls_sessions"].as_u64()), (Some(u64::from(!encrypted)), Some(0)), "{file}");
    }
}

/// A capture that ends after SMB 3's login (the first 11 frames of the
/// encrypted session): whether the messages after it were encrypted was not
/// seen, so the session, the service and the run are not assessed — never
/// compliant.
#[test]
fn smb3_without_messages_after_the_login_is_not_assessed() {
    let scratch = Scratch::new("smb-cut");
    let cut = scratch.path("smb-login-only.pcap");
    let status = std::process::Command::new("editcap")
        .args(["-r", cleartext("smb-encrypted.pcap").to_str().unwrap(), cut.to_str().unwrap(), "1-11"])
        .status()
        .expect("editcap runs");
    assert!(status.success());
    let run = run_jsonl(&["-r", cut.to_str().unwrap()]);
    assert_eq!(run.sessions.len(), 1, "{}", run.stderr);
    let s = &run.sessions[0];
    assert_eq!((s["network"]["protocol"].as_str(), s["tlsaudit"]["smb"]["dialect"].as_str()), (Some("smb"), Some("3.1.1")));
    assert!(s["tlsaudit"]["encrypted"].is_null(), "encryption not seen: {}", s["tlsaudit"]);
    assert_eq!(s["tlsaudit"]["assessment"], "not_assessed");
    assert_eq!(run.services[0]["tlsaudit"]["assessment"], "not_assessed");
    assert_eq!(run.code, Some(3), "the run is not assessed");
}

/// Nothing of the payload reaches any output: not the patient's name or
/// record number, not a password (nor its Base64 form), not a message body
/// or a community string, in JSON Lines, the text report with every session,
/// or a file written with -o.
#[test]
fn no_payload_in_any_output() {
    let dir = captures_dir().join("cleartext");
    let scratch = Scratch::new("cleartext-planted");
    let file = scratch.path("out.jsonl");
    let jsonl = tlsaudit(&["-r", dir.to_str().unwrap(), "--format", "jsonl"]);
    let text = tlsaudit(&["-r", dir.to_str().unwrap(), "--format", "text", "--sessions"]);
    let written = tlsaudit(&["-r", dir.to_str().unwrap(), "--format", "jsonl", "-o", file.to_str().unwrap()]);
    assert!(written.status.code().is_some());
    let text_file = scratch.path("out.txt");
    let text_written =
        tlsaudit(&["-r", dir.to_str().unwrap(), "--format", "text", "--sessions", "-o", text_file.to_str().unwrap()]);
    assert!(text_written.status.code().is_some());
    let outputs = [
        String::from_utf8_lossy(&jsonl.stdout).into_owned(),
        String::from_utf8_lossy(&jsonl.stderr).into_owned(),
        String::from_utf8_lossy(&text.stdout).into_owned(),
        String::from_utf8_lossy(&text.stderr).into_owned(),
        std::fs::read_to_string(&file).expect("-o wrote the records"),
        std::fs::read_to_string(&text_file).expect("-o wrote the report"),
    ];
    assert!(outputs[5].contains("in clear"), "the text report was written");
    assert!(outputs[0].matches("\"tlsaudit.session\"").count() >= RECORDED.len(), "the sessions are there to search");
    // Every planted value is in the captures themselves (so the test can fail).
    let planted = ["PLANTEDSURNAME", "PLANTEDGIVEN", "PLANTED-MRN-4711", "PLANTED-PASSWORD-login", "PLANTED-MESSAGE-BODY", "PLANTED-COMMUNITY"];
    let raw: Vec<u8> = std::fs::read_dir(&dir).unwrap().flatten().flat_map(|e| std::fs::read(e.path()).unwrap()).collect();
    for p in planted {
        assert!(raw.windows(p.len()).any(|w| w == p.as_bytes()), "{p} is in the captures");
    }
    // HTTP Basic carries "clinician:PLANTED-PASSWORD-fhir" in Base64.
    let basic = "Y2xpbmljaWFuOlBMQU5URUQtUEFTU1dPUkQtZmhpcg==";
    assert!(raw.windows(basic.len()).any(|w| w == basic.as_bytes()));
    // MS-SQL's LOGIN7 carries the password in UTF-16, each byte's nibbles
    // swapped and XORed with 0xA5 (MS-TDS 2.2.6.4).
    let obfuscated: Vec<u8> =
        "PLANTED-PASSWORD-login".encode_utf16().flat_map(|u| u.to_le_bytes()).map(|b| b.rotate_left(4) ^ 0xa5).collect();
    assert!(raw.windows(obfuscated.len()).any(|w| w == obfuscated), "the obfuscated MS-SQL password is in the captures");
    for out in &outputs {
        for p in planted.iter().chain(&["PLANTED-PASSWORD-fhir", basic, "PLANTED", "clinician", "synthetic"]) {
            assert!(!out.contains(p), "{p} written");
        }
        assert!(!out.as_bytes().windows(obfuscated.len()).any(|w| w == obfuscated), "the obfuscated password written");
    }
}

/// The same servers with TLS on: no plaintext or starttls finding.
#[test]
fn the_same_protocols_with_tls_on_are_not_held_in_clear() {
    for file in ["imap.pcap", "pop3.pcap", "ftp.pcap", "ldap.pcap", "postgresql.pcap", "mysql.pcap", "mssql-freetds.pcap", "smtp.pcap", "submission.pcap"] {
        let run = run_jsonl(&["-r", captures_dir().join("starttls").join(file).to_str().unwrap()]);
        assert_eq!(run.sessions.len(), 1, "{file}");
        let s = &run.sessions[0];
        assert_eq!(s["tlsaudit"]["encrypted"], true, "{file}");
        assert!(s["tlsaudit"]["cleartext"].is_null(), "{file}");
        let held: Vec<String> = rules(s).into_iter().filter(|r| r.starts_with("plaintext.") || r.starts_with("starttls.")).collect();
        assert!(held.is_empty(), "{file}: {held:?}");
        assert_eq!(s["tlsaudit"]["compliant"], true, "{file}: {:?}", rules(s));
    }
}

/// The health-data protocols with TLS on (captures/make-health-tls-captures.sh:
/// dcmtk with +tls, python-hl7's MLLP inside TLS, curl over HTTPS to the same
/// FHIR server): TLS 1.3, established, compliant, no plaintext finding.
#[test]
fn health_protocols_with_tls_on_are_compliant() {
    for file in ["dicom-tls.pcap", "hl7-mllp-tls.pcap", "fhir-https.pcap"] {
        let run = run_jsonl(&["-r", captures_dir().join(file).to_str().unwrap()]);
        assert_eq!(run.sessions.len(), 1, "{file}");
        let s = &run.sessions[0];
        assert_eq!((s["tlsaudit"]["encrypted"].as_bool(), s["tls"]["established"].as_bool()), (Some(true), Some(true)), "{file}");
        assert_eq!(s["tls"]["version"], "1.3", "{file}");
        let held: Vec<String> = rules(s).into_iter().filter(|r| r.starts_with("plaintext.") || r.starts_with("starttls.")).collect();
        assert!(held.is_empty(), "{file}: {held:?}");
        assert_eq!((s["tlsaudit"]["compliant"].as_bool(), run.code), (Some(true), Some(0)), "{file}: {:?}", rules(s));
        // The same verdict under the cleartext profile.
        let under_cleartext = run_jsonl(&["-r", captures_dir().join(file).to_str().unwrap(), "--policy", "cleartext"]);
        assert_eq!(under_cleartext.code, Some(0), "{file}");
    }
}

/// Browsing in suricata-verify's capture: page fetches over plain HTTP are
/// held as plaintext.http; the OCSP requests among them (their answers say
/// application/ocsp-response) travel over HTTP by design and are not.
#[test]
fn plain_http_is_held_and_ocsp_is_not() {
    let run = run_jsonl(&["-r", thirdparty_dir().join("suricata-verify/tls-subjectaltname/input.pcap").to_str().unwrap()]);
    let in_clear: Vec<&Value> = run.sessions.iter().filter(|s| s["tlsaudit"]["encrypted"] == false).collect();
    let pki: Vec<&&Value> = in_clear.iter().filter(|s| s["tlsaudit"]["cleartext"]["http"]["pki"] == true).collect();
    let pages = in_clear.len() - pki.len();
    assert!(!pki.is_empty() && pages > 0, "{} OCSP fetches, {pages} pages", pki.len());
    for s in &in_clear {
        let held = rules(s);
        if s["tlsaudit"]["cleartext"]["http"]["pki"] == true {
            assert!(held.is_empty() && s["tlsaudit"]["compliant"] == true, "{held:?}");
        } else {
            assert_eq!(held, ["plaintext.http"]);
        }
    }
}

/// Exceptions apply to findings in clear as to TLS ones: the FTP server's
/// login in clear set aside with its justification; the same exception
/// does not cover another server's.
#[test]
fn exceptions_set_aside_findings_in_clear() {
    let scratch = Scratch::new("cleartext-exception");
    let policy = scratch.path("policy.toml");
    std::fs::write(
        &policy,
        "base = \"hipaa\"\n\n[[exception]]\nserver = \"127.0.0.1\"\nport = 2121\nrule = \"plaintext.credentials\"\njustification = \"isolated lab FTP, change 4711\"\nexpires = \"2099-12-31\"\n",
    )
    .unwrap();
    let ftp = run_jsonl(&["-r", cleartext("ftp-login.pcap").to_str().unwrap(), "--policy-file", policy.to_str().unwrap()]);
    let s = &ftp.sessions[0]["tlsaudit"];
    assert!(rules(&ftp.sessions[0]).is_empty(), "{s}");
    assert_eq!((s["exempted"][0]["rule"].as_str(), s["exempted"][0]["justification"].as_str()), (Some("plaintext.credentials"), Some("isolated lab FTP, change 4711")));
    assert_eq!((s["compliant"].as_bool(), ftp.code), (Some(true), Some(0)));
    let pop3 = run_jsonl(&["-r", cleartext("pop3-login.pcap").to_str().unwrap(), "--policy-file", policy.to_str().unwrap()]);
    assert_eq!(rules(&pop3.sessions[0]), ["plaintext.credentials"], "another port is not covered");
}

/// The `cleartext` profile holds only traffic without TLS: the same
/// findings as hipaa for every session in clear, none for a TLS session,
/// however weak (TLS 1.0 with 3DES here, non-compliant under hipaa).
#[test]
fn cleartext_profile_judges_only_what_is_not_tls() {
    for (file, ..) in RECORDED {
        let under = |policy: &str| {
            let run = run_jsonl(&["-r", cleartext(file).to_str().unwrap(), "--policy", policy]);
            let mut r = rules(&run.sessions[0]);
            r.sort();
            (r, run.sessions[0]["tlsaudit"]["compliant"].as_bool())
        };
        assert_eq!(under("cleartext"), under("hipaa"), "{file}");
    }
    let weak = captures_dir().join("tls10-rsa-3des.pcap");
    let hipaa = run_jsonl(&["-r", weak.to_str().unwrap()]);
    assert_eq!(hipaa.sessions[0]["tlsaudit"]["compliant"], false, "weak under hipaa");
    let run = run_jsonl(&["-r", weak.to_str().unwrap(), "--policy", "cleartext"]);
    assert_eq!(run.sessions.len(), 1);
    assert!(rules(&run.sessions[0]).is_empty(), "{:?}", rules(&run.sessions[0]));
    assert_eq!((run.sessions[0]["tlsaudit"]["compliant"].as_bool(), run.code), (Some(true), Some(0)));
    assert_eq!(run.sessions[0]["tlsaudit"]["policy"], "cleartext");
}

/// Services heard in clear are counted first in the verdict and listed
/// first among the non-compliant, ahead of a TLS service with weak
/// options; the stats record counts them.
#[test]
fn services_in_clear_come_first() {
    let dir = captures_dir().join("cleartext");
    let weak = captures_dir().join("tls10-rsa-3des.pcap");
    let run = run_jsonl(&["-r", dir.to_str().unwrap(), weak.to_str().unwrap()]);
    let in_clear = |s: &Value| s["tlsaudit"]["service"]["cleartext_sessions"].as_u64().unwrap() > 0;
    let count = run.services.iter().filter(|s| in_clear(s)).count();
    assert!(count >= RECORDED.len() - 2, "{count} services in clear");
    assert_eq!(run.stats["tlsaudit"]["stats"]["services_in_clear"].as_u64(), Some(count as u64));
    let non_compliant: Vec<&Value> = run.services.iter().filter(|s| s["tlsaudit"]["assessment"] == "non_compliant").collect();
    let first_tls = non_compliant.iter().position(|s| !in_clear(s)).expect("the TLS 1.0 service is non-compliant too");
    assert_eq!(first_tls, count, "every service in clear comes before the first TLS one");
    let text = tlsaudit(&["-r", dir.to_str().unwrap(), weak.to_str().unwrap(), "--format", "text"]);
    let report = String::from_utf8_lossy(&text.stdout);
    let verdict = report.lines().next().unwrap();
    assert!(verdict.contains(&format!("{count} services heard in clear; ")), "{verdict}");
    let listed = report.find("127.0.0.1:4439").expect("the TLS service is listed");
    let last_clear = report.find("127.0.0.1:2161/udp").expect("the SNMP service is listed");
    assert!(last_clear < listed, "services in clear are listed before the TLS one");
}
