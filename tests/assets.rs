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

/// `--group-by subnet/24` on a capture of many servers (suricata-verify's
/// browsing): each service record names the /24 of its address, as the test
/// computes it, and the stats' groups add up to the services.
#[test]
fn services_are_grouped_by_subnet_and_by_asset() {
    let capture = thirdparty_dir().join("suricata-verify/tls-subjectaltname/input.pcap");
    let run = run_jsonl(&["-r", capture.to_str().unwrap(), "--group-by", "subnet/24"]);
    let mut groups = std::collections::BTreeMap::new();
    for s in &run.services {
        let ip: std::net::IpAddr = s["destination"]["ip"].as_str().unwrap().parse().unwrap();
        let want = match ip {
            std::net::IpAddr::V4(a) => {
                let o = a.octets();
                format!("{}.{}.{}.0/24", o[0], o[1], o[2])
            }
            std::net::IpAddr::V6(_) => continue,
        };
        assert_eq!(s["tlsaudit"]["service"]["group"], want.as_str());
        *groups.entry(want).or_insert(0u64) += 1;
    }
    assert!(groups.len() > 5, "{groups:?}");
    let stats = run.stats["tlsaudit"]["stats"]["groups"].as_array().unwrap();
    assert_eq!(stats.iter().map(|g| g["services"].as_u64().unwrap()).sum::<u64>(), run.services.len() as u64);
    for g in stats {
        if let Some(n) = groups.get(g["name"].as_str().unwrap()) {
            assert_eq!(g["services"].as_u64(), Some(*n));
        }
    }
    // Without --group-by there is no group.
    let plain = run_jsonl(&["-r", capture.to_str().unwrap()]);
    assert!(plain.services.iter().all(|s| s["tlsaudit"]["service"]["group"].is_null()));

    // By asset: the asset file's names, "(no asset)" elsewhere.
    let scratch = Scratch::new("assets-groups");
    let assets = scratch.path("assets.csv");
    std::fs::write(&assets, "network,name,owner,criticality,services\n127.0.0.0/8,lab,IT security,high,\n").unwrap();
    let mut args = inputs();
    args.extend(["--assets", assets.to_str().unwrap(), "--group-by", "asset", "-r", captures_dir().join("tls13-ipv6.pcap").to_str().unwrap()].map(String::from));
    let by_asset = run_jsonl(&args.iter().map(String::as_str).collect::<Vec<_>>());
    for s in &by_asset.services {
        let want = if s["destination"]["ip"] == "::1" { "(no asset)" } else { "lab" };
        assert_eq!(s["tlsaudit"]["service"]["group"], want);
    }
}

/// `findings_by_rule` adds up the service records' findings, and
/// `--min-severity` leaves lower findings out of the text report and the
/// CSV findings while the JSON records keep them all.
#[test]
fn findings_by_rule_and_min_severity() {
    let matrix = captures_dir().join("matrix");
    let run = run_jsonl(&["-r", matrix.to_str().unwrap()]);
    let mut want: std::collections::BTreeMap<String, (u64, u64)> = std::collections::BTreeMap::new();
    for s in &run.services {
        for f in s["tlsaudit"]["findings"].as_array().unwrap() {
            let e = want.entry(f["rule"].as_str().unwrap().to_string()).or_default();
            e.0 += 1;
            e.1 += f["count"].as_u64().unwrap();
        }
    }
    let by_rule = run.stats["tlsaudit"]["stats"]["findings_by_rule"].as_array().unwrap();
    assert_eq!(by_rule.len(), want.len());
    for r in by_rule {
        assert_eq!((r["services"].as_u64().unwrap(), r["count"].as_u64().unwrap()), want[r["rule"].as_str().unwrap()], "{r}");
    }

    let scratch = Scratch::new("min-severity");
    let dir = scratch.path("tables");
    let high = run_jsonl(&["-r", matrix.to_str().unwrap(), "--min-severity", "high", "--csv", dir.to_str().unwrap()]);
    let count = |r: &Run| r.services.iter().map(|s| s["tlsaudit"]["findings"].as_array().unwrap().len()).sum::<usize>();
    assert_eq!(count(&high), count(&run), "the records keep every finding");
    let findings = std::fs::read_to_string(dir.join("findings.csv")).unwrap();
    assert!(findings.contains(",high,") && !findings.contains(",medium,") && !findings.contains(",low,"));
    let text = String::from_utf8(tlsaudit(&["-r", matrix.to_str().unwrap(), "--format", "text", "--min-severity", "high"]).stdout).unwrap();
    assert!(text.contains("[high]") && !text.contains("[medium]") && !text.contains("[low]"), "{text}");
    assert!(text.contains("Findings by rule"));
}
