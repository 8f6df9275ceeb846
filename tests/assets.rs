//! The asset file and the home networks (`--assets`, `--home-net`): a
//! service on an internal address that no row lists raises
//! inventory.unlisted_service and leads the report; listed services, and
//! services outside the home networks, do not. Real captures: the
//! compliance matrix and the sessions in clear, all on 127.0.0.1.

mod common;

use common::*;
use serde_json::Value;

fn unlisted_ports(run: &Run) -> Vec<u64> {
    let mut ports: Vec<u64> = run
        .services
        .iter()
        .filter(|s| s["tlsaudit"]["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "inventory.unlisted_service"))
        .map(|s| s["destination"]["port"].as_u64().unwrap())
        .collect();
    ports.sort();
    ports
}

fn inputs() -> Vec<String> {
    let matrix = captures_dir().join("matrix");
    let cleartext = captures_dir().join("cleartext");
    vec![
        "-r".into(),
        matrix.join("tls13-compliant.pcap").display().to_string(),
        "-r".into(),
        matrix.join("tls11.pcap").display().to_string(),
        "-r".into(),
        cleartext.join("ftp-login.pcap").display().to_string(),
        "-r".into(),
        cleartext.join("snmp-v2c.pcap").display().to_string(),
    ]
}

fn run_with(extra: &[&str]) -> Run {
    let mut args = inputs();
    args.extend(extra.iter().map(|s| s.to_string()));
    run_jsonl(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn services_the_asset_file_does_not_list_are_raised_and_lead() {
    let scratch = Scratch::new("assets");
    let assets = scratch.path("assets.csv");
    // The lab network: TLS 1.3 on 4459 and TLS 1.1 on 4450 approved; FTP
    // (2121) and SNMP (2161/udp) are not.
    std::fs::write(&assets, "network,name,owner,criticality,services\n# the lab\n127.0.0.0/8,lab,IT security,high,4459;4450/tcp\n").unwrap();
    let run = run_with(&["--assets", assets.to_str().unwrap()]);
    assert_eq!(unlisted_ports(&run), [2121, 2161]);
    let ftp = run.services.iter().find(|s| s["destination"]["port"] == 2121).unwrap();
    let finding = ftp["tlsaudit"]["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "inventory.unlisted_service").unwrap();
    assert_eq!(finding["severity"], "medium");
    assert!(finding["message"].as_str().unwrap().contains("ftp on 2121/tcp") && finding["message"].as_str().unwrap().contains("(in lab)"));
    assert_eq!(run.stats["tlsaudit"]["stats"]["services_unlisted"], 2);
    // The service records lead with them.
    let first: Vec<u64> = run.services.iter().take(2).map(|s| s["destination"]["port"].as_u64().unwrap()).collect();
    assert!(first.contains(&2121) && first.contains(&2161), "{first:?}");

    // The text report names them before anything else.
    let mut args = inputs();
    args.extend(["--format", "text", "--assets", assets.to_str().unwrap()].map(String::from));
    let text = String::from_utf8(tlsaudit(&args.iter().map(String::as_str).collect::<Vec<_>>()).stdout).unwrap();
    assert!(text.lines().next().unwrap().contains("2 services the asset file does not list; "), "{text}");
    let section = text.find("does not list (rogue or forgotten)").expect("the section");
    assert!(section < text.find("Non-compliant services").unwrap());

    // Outside the home networks nothing is unlisted; without an asset file
    // the rule is not judged.
    let elsewhere = run_with(&["--assets", assets.to_str().unwrap(), "--home-net", "10.0.0.0/8"]);
    assert!(unlisted_ports(&elsewhere).is_empty());
    assert!(unlisted_ports(&run_with(&[])).is_empty());
    assert!(unlisted_ports(&run_with(&["--home-net", "127.0.0.0/8"])).is_empty(), "no asset file, no judgement");

    // An exception sets one aside.
    let policy = scratch.path("policy.toml");
    std::fs::write(&policy, "base = \"hipaa\"\n\n[[exception]]\nserver = \"127.0.0.1\"\nport = 2161\nrule = \"inventory.unlisted_service\"\njustification = \"SNMP agent of the lab switch, listing pending\"\n").unwrap();
    let excepted = run_with(&["--assets", assets.to_str().unwrap(), "--policy-file", policy.to_str().unwrap()]);
    assert_eq!(unlisted_ports(&excepted), [2121]);
    let snmp: &Value = excepted.services.iter().find(|s| s["destination"]["port"] == 2161).unwrap();
    assert_eq!(snmp["tlsaudit"]["exempted"][0]["rule"], "inventory.unlisted_service");
}

#[test]
fn a_bad_asset_file_is_one_error_naming_the_line() {
    let scratch = Scratch::new("assets-bad");
    for (name, content, says) in [
        ("no-network.csv", "name,owner\nlab,IT\n", "no 'network' column"),
        ("bad-cidr.csv", "network,name\n10.0.0.0/40,lab\n", "line 2"),
        ("bad-service.csv", "network,name,owner,criticality,services\n10.0.0.0/8,lab,IT,high,https\n", "line 2"),
    ] {
        let path = scratch.path(name);
        std::fs::write(&path, content).unwrap();
        let out = tlsaudit(&["-r", captures_dir().join("tls13-x25519.pcap").to_str().unwrap(), "--assets", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(name) && stderr.contains(says) && stderr.lines().count() == 1, "{stderr}");
    }
}
