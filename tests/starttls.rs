//! TLS that starts inside another protocol: the protocol is named
//! (`network.protocol`) and the clear-text phase says whether the server
//! offered the upgrade and the client asked for it. The captures made here
//! pair openssl s_client -starttls with Debian's dovecot, vsftpd, slapd,
//! PostgreSQL, MariaDB and prosody (captures/make-starttls-captures.sh) and
//! with postfix, INN and InspIRCd, and FreeRDP's client with xrdp and FreeRDP's shadow server
//! (captures/make-smtp-nntp-irc-rdp-captures.sh); the third-party ones are
//! suricata-verify's SMTP, LDAP and PostgreSQL upgrades; MS-SQL's TLS inside
//! TDS PRELOGIN packets (captures/make-mssql-captures.sh). tshark_oracle
//! compares their hellos with tshark's.

mod common;

use common::*;
use serde_json::Value;

/// The one TLS session of a capture (sessions in clear beside it left out).
fn only_tls_session(path: &std::path::Path) -> Value {
    let mut s: Vec<Value> = sessions_of(path, &[]).into_iter().filter(|s| s["tlsaudit"]["encrypted"] == true).collect();
    assert_eq!(s.len(), 1, "{}: one TLS session expected, got {}", path.display(), s.len());
    s.remove(0)
}

fn only_session(path: &std::path::Path) -> Value {
    let mut s = sessions_of(path, &[]);
    assert_eq!(s.len(), 1, "{}: one session expected, got {}", path.display(), s.len());
    s.remove(0)
}

/// (capture, protocol, offered, requested): what each recording did.
/// openssl sends STLS and AUTH TLS without asking for the capabilities
/// first, so those servers never named the upgrade; LDAP has no offer.
const RECORDED: &[(&str, &str, bool, bool)] = &[
    ("imap.pcap", "imap", true, true),
    ("pop3.pcap", "pop3", false, true),
    ("lmtp.pcap", "lmtp", true, true),
    ("sieve.pcap", "sieve", true, true),
    ("ftp.pcap", "ftp", false, true),
    ("ldap.pcap", "ldap", false, true),
    ("postgresql.pcap", "postgresql", true, true),
    ("mysql.pcap", "mysql", true, true),
    ("xmpp-client.pcap", "xmpp-client", true, true),
    ("xmpp-server.pcap", "xmpp-server", true, true),
    ("smtp.pcap", "smtp", true, true),
    ("submission.pcap", "submission", true, true),
    ("nntp.pcap", "nntp", true, true),
    ("irc.pcap", "irc", true, true),
];

#[test]
fn each_debian_server_upgrade_is_named_with_its_offer_and_request() {
    for (file, protocol, offered, requested) in RECORDED {
        let s = only_session(&captures_dir().join("starttls").join(file));
        assert_eq!(s["network"]["protocol"], *protocol, "{file}");
        assert_eq!(s["tlsaudit"]["upgrade"]["offered"], *offered, "{file}");
        assert_eq!(s["tlsaudit"]["upgrade"]["requested"], *requested, "{file}");
        assert_eq!(s["tls"]["established"], true, "{file}");
        assert_eq!(s["tls"]["version"], "1.3", "{file}");
        assert_eq!(s["tls"]["client"]["server_name"], "mail.example.test", "{file}");
    }
}

#[test]
fn thirdparty_upgrades_are_named() {
    let dir = thirdparty_dir().join("suricata-verify");
    for (capture, protocol, offered) in [
        ("smtp-startssl/input.pcap", "smtp", true),
        ("ldap-starttls/input.pcap", "ldap", false),
        ("pgsql-upgrade-tls/input.pcap", "postgresql", true),
    ] {
        let s = only_tls_session(&dir.join(capture));
        assert_eq!(s["network"]["protocol"], protocol, "{capture}");
        assert_eq!(s["tlsaudit"]["upgrade"]["offered"], offered, "{capture}");
        assert_eq!(s["tlsaudit"]["upgrade"]["requested"], true, "{capture}");
    }
    // Beside its upgrade, the PostgreSQL capture holds a startup in clear,
    // refused by the server: a session in clear of its own.
    let pg = sessions_of(&dir.join("pgsql-upgrade-tls/input.pcap"), &[]);
    assert!(pg.iter().any(|s| s["tlsaudit"]["encrypted"] == false && s["network"]["protocol"] == "postgresql"));
    // Plain SMTP answering on the implicit-TLS port: the server's greeting
    // came before TLS, and no upgrade was asked for.
    let s = only_session(&dir.join("smtp-tls-protodetect/input.pcap"));
    assert_eq!(s["network"]["protocol"], "smtp");
    assert_eq!(s["tlsaudit"]["upgrade"]["requested"], false);
}

/// The clear text itself is never written: not the greeting, not a
/// capability list.
#[test]
fn no_clear_text_reaches_the_output() {
    for (file, ..) in RECORDED {
        let path = captures_dir().join("starttls").join(file);
        let run = run_jsonl(&["-r", path.to_str().unwrap()]);
        let text = tlsaudit(&["-r", path.to_str().unwrap(), "--format", "text", "--sessions"]);
        let all = format!("{:?}{:?}{}", run.sessions, run.services, String::from_utf8_lossy(&text.stdout));
        for planted in [
            "Dovecot", "vsFTPd", "CAPABILITY", "IMPLEMENTATION", "LHLO", "AUTH TLS", "MariaDB", "jabber:", "stream:features", "Postfix",
            "ESMTP", "InterNetNews", "STARTTLS successful", "mstshash", "synthetic",
        ] {
            assert!(!all.contains(planted), "{file}: {planted:?} written");
        }
    }
}

/// RDP: xfreerdp asks for TLS or CredSSP in its X.224 Connection Request;
/// xrdp selects TLS, FreeRDP's shadow server (NLA only) CredSSP, which then
/// runs inside the TLS session. FreeRDP names the server by the address it
/// was given, so the SNI is an IP literal, as tshark reads it too.
#[test]
fn rdp_negotiation_selects_tls_or_credssp() {
    for file in ["rdp.pcap", "rdp-credssp.pcap"] {
        let path = captures_dir().join("starttls").join(file);
        let s = only_session(&path);
        assert_eq!(s["network"]["protocol"], "rdp", "{file}");
        assert_eq!((s["tlsaudit"]["upgrade"]["offered"].as_bool(), s["tlsaudit"]["upgrade"]["requested"].as_bool()), (Some(true), Some(true)), "{file}");
        assert_eq!(s["tls"]["established"], true, "{file}");
        assert_eq!(s["tls"]["version"], "1.3", "{file}");
        assert_eq!(s["tls"]["client"]["server_name"], "127.0.0.1", "{file}");
        // The user name travels in clear in the X.224 cookie; it is never written.
        let run = run_jsonl(&["-r", path.to_str().unwrap()]);
        assert!(!format!("{:?}{:?}", run.sessions, run.services).contains("synthetic"), "{file}");
    }
}

/// MS-SQL: the PRELOGIN exchange asks for encryption and the TLS handshake
/// travels inside PRELOGIN packets; the TDS headers come out before the
/// records are read, so the client's wrapped ChangeCipherSpec and Finished
/// (TLS 1.2) are seen and the session is established.
#[test]
fn mssql_tls_inside_tds_prelogin_packets() {
    for (file, version) in [("mssql-tls12.pcap", "1.2"), ("mssql-tls13.pcap", "1.3")] {
        let s = only_session(&captures_dir().join("starttls").join(file));
        assert_eq!(s["network"]["protocol"], "mssql", "{file}");
        assert_eq!((s["tlsaudit"]["upgrade"]["offered"].as_bool(), s["tlsaudit"]["upgrade"]["requested"].as_bool()), (Some(true), Some(true)));
        assert_eq!(s["tls"]["version"], version, "{file}");
        assert_eq!(s["tls"]["established"], true, "{file}");
        assert_eq!(s["tls"]["client"]["server_name"], "ehr-db.example.test", "{file}");
        assert!(s["tlsaudit"]["incomplete"].is_null(), "{file}: no bytes lost to the TDS headers");
    }
    // FreeTDS, a real TDS client with its own TLS stack, through the same unwrapping.
    let freetds = only_session(&captures_dir().join("starttls/mssql-freetds.pcap"));
    assert_eq!((freetds["network"]["protocol"].as_str(), freetds["tls"]["established"].as_bool()), (Some("mssql"), Some(true)));
    assert_eq!(freetds["tlsaudit"]["upgrade"]["requested"], true);
    let tls12 = only_session(&captures_dir().join("starttls/mssql-tls12.pcap"));
    assert_eq!(tls12["tls"]["server"]["x509"]["subject"]["common_name"], "ehr-db.example.test");
}

/// MS-SQL's login-only encryption: FreeTDS asks for encryption, the server
/// answers ENCRYPT_OFF, and TLS carries the LOGIN7 only — the queries and
/// results after it go in clear. tshark reads the answer in the same
/// packet; tlsaudit holds the session, which a TLS-only reading would pass.
#[test]
fn mssql_login_only_encryption_is_held() {
    let path = captures_dir().join("starttls/mssql-login-only.pcap");
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-d", "tcp.port==14436,tds", "-Y", "tds.type == 4", "-T", "fields", "-e", "tds.prelogin.option.encryption"])
        .output()
        .expect("tshark runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "tshark: the server's PRELOGIN answers encryption off");
    let s = only_session(&path);
    assert_eq!((s["network"]["protocol"].as_str(), s["tls"]["established"].as_bool()), (Some("mssql"), Some(true)));
    assert_eq!(s["tlsaudit"]["upgrade"]["login_only"], true);
    let held: Vec<&Value> = s["tlsaudit"]["findings"].as_array().unwrap().iter().filter(|f| f["rule"] == "plaintext.protocol").collect();
    assert_eq!(held.len(), 1, "{}", s["tlsaudit"]["findings"]);
    assert!(held[0]["message"].as_str().unwrap().contains("login only"));
    assert_eq!(s["tlsaudit"]["compliant"], false);
    // The sessions that encrypt everything carry no such mark.
    for file in ["mssql-freetds.pcap", "mssql-tls13.pcap"] {
        let s = only_session(&captures_dir().join("starttls").join(file));
        assert!(s["tlsaudit"]["upgrade"]["login_only"].is_null(), "{file}");
    }
}

/// STARTTLS stripped on the path (captures/make-starttls-stripped-capture.sh):
/// smtplib against postfix through a relay that lets the first session pass
/// and overwrites STARTTLS in the second's EHLO answer. tshark reads the
/// offer in the first answer and not in the second; tlsaudit holds the
/// service with starttls.stripped, which a policy exception can set aside.
#[test]
fn stripped_starttls_offer_is_held_against_the_service() {
    let path = captures_dir().join("starttls/smtp-stripped.pcap");
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-d", "tcp.port==2528,smtp", "-Y", "smtp.response.code == 250 && smtp.rsp.parameter contains \"PIPELINING\"", "-T", "fields", "-e", "smtp.rsp.parameter"])
        .output()
        .expect("tshark runs");
    let answers = String::from_utf8_lossy(&out.stdout).lines().map(|l| l.contains("STARTTLS")).collect::<Vec<_>>();
    assert_eq!(answers, [true, false], "tshark: the offer in the first EHLO answer only");

    let run = run_jsonl(&["-r", path.to_str().unwrap()]);
    assert_eq!(run.sessions.len(), 2);
    assert_eq!(run.sessions[0]["tlsaudit"]["upgrade"]["offered"], true);
    assert_eq!(run.sessions[1]["tlsaudit"]["cleartext"]["upgrade_offered"], false);
    let service = &run.services[0]["tlsaudit"];
    let stripped: Vec<&Value> = service["findings"].as_array().unwrap().iter().filter(|f| f["rule"] == "starttls.stripped").collect();
    assert_eq!(stripped.len(), 1, "{service}");
    assert_eq!((stripped[0]["severity"].as_str(), stripped[0]["count"].as_u64()), (Some("high"), Some(1)));
    assert!(stripped[0]["message"].as_str().unwrap().contains("offered in 1 session and missing from 1"));
    assert_eq!(run.code, Some(1));
    // The message sent in clear, and the relay's mark, are not written.
    let text = tlsaudit(&["-r", path.to_str().unwrap(), "--format", "text", "--sessions"]);
    let all = format!("{:?}{:?}{}", run.sessions, run.services, String::from_utf8_lossy(&text.stdout));
    for planted in ["PLANTED", "XXXXXXXA", "Postfix", "discharge"] {
        assert!(!all.contains(planted), "{planted} written");
    }

    // The same sessions in the other order in time are no stripping: the
    // offer came after the session without it (a server that gained it).
    let scratch = Scratch::new("starttls-stripped");
    let syns = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0", "-T", "fields", "-e", "frame.number"])
        .output()
        .expect("tshark runs");
    let second: u32 = String::from_utf8_lossy(&syns.stdout).lines().nth(1).and_then(|l| l.trim().parse().ok()).expect("a second session");
    let reversed = scratch.path("offer-added.pcap");
    let (first, later) = (scratch.path("first.pcap"), scratch.path("later.pcap"));
    let editcap = |args: &[&str]| std::process::Command::new("editcap").args(args).status().expect("editcap runs").success();
    assert!(editcap(&["-t", "-100", "-r", path.to_str().unwrap(), later.to_str().unwrap(), &format!("{second}-1000000")]));
    assert!(editcap(&["-r", path.to_str().unwrap(), first.to_str().unwrap(), &format!("1-{}", second - 1)]));
    assert!(std::process::Command::new("mergecap")
        .args(["-F", "pcap", "-w", reversed.to_str().unwrap(), first.to_str().unwrap(), later.to_str().unwrap()])
        .status()
        .expect("mergecap runs")
        .success());
    let run = run_jsonl(&["-r", reversed.to_str().unwrap()]);
    assert_eq!(run.sessions.len(), 2, "{}", run.stderr);
    assert!(!run.services[0]["tlsaudit"]["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "starttls.stripped"));

    // An exception for the server sets the finding aside.
    let policy = scratch.path("policy.toml");
    std::fs::write(
        &policy,
        "base = \"hipaa\"\n\n[[exception]]\nserver = \"127.0.0.1\"\nport = 2528\nrule = \"starttls.stripped\"\njustification = \"lab relay\"\n",
    )
    .unwrap();
    let run = run_jsonl(&["-r", path.to_str().unwrap(), "--policy-file", policy.to_str().unwrap()]);
    let service = &run.services[0]["tlsaudit"];
    assert!(!service["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "starttls.stripped"), "{service}");
    assert_eq!(service["exempted"][0]["rule"], "starttls.stripped", "{service}");
    assert_eq!(service["exempted"][0]["justification"], "lab relay");
}
