//! docs/COMPLIANCE.md's rule table is the catalogue the binary carries:
//! every rule of `tlsaudit rules --format json` has one row with the same
//! flags, the same severity in each profile, and the same sources; no row
//! names a rule the catalogue lacks.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

const PROFILES: [&str; 8] =
    ["hipaa", "nist-800-52r2", "pci-dss-4", "mozilla-modern", "mozilla-intermediate", "mozilla-old", "bcp195", "cleartext"];

fn letter(v: &Value) -> &'static str {
    match v.as_str() {
        Some("critical") => "C",
        Some("high") => "H",
        Some("medium") => "M",
        Some("low") => "L",
        Some("info") => "I",
        None => "–",
        Some(other) => panic!("unknown severity {other}"),
    }
}

#[test]
fn the_rule_table_is_the_catalogue() {
    let out = tlsaudit(&["rules", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let catalogue: Vec<Value> = serde_json::from_slice(&out.stdout).expect("the catalogue is JSON");
    let doc = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/COMPLIANCE.md")).unwrap();
    // Rows of the rule table: | `id` | flags | eight severities | required by |
    let rows: BTreeMap<String, Vec<String>> = doc
        .lines()
        .filter(|l| l.starts_with("| `") && l.split(" | ").count() == 11)
        .map(|l| {
            let cells: Vec<String> = l.trim_matches('|').split(" | ").map(|c| c.trim().to_string()).collect();
            (cells[0].trim_matches('`').to_string(), cells[1..].to_vec())
        })
        .collect();
    assert!(catalogue.len() > 50, "the catalogue lists every rule");
    for rule in &catalogue {
        let id = rule["id"].as_str().unwrap();
        let row = rows.get(id).unwrap_or_else(|| panic!("docs/COMPLIANCE.md has no row for {id}"));
        let evaluated = if rule["evaluated"] == true { String::new() } else { " (not evaluated yet)".to_string() };
        assert_eq!(row[0], format!("{}{evaluated}", rule["flags"].as_str().unwrap()), "{id}: flags");
        for (i, profile) in PROFILES.iter().enumerate() {
            let want = match rule["severity_by_cause"][profile].as_array() {
                Some(causes) => causes.iter().map(letter).collect::<Vec<_>>().join("/"),
                None => letter(&rule["severity"][profile]).to_string(),
            };
            assert_eq!(row[1 + i], want, "{id}: severity in {profile}");
        }
        assert_eq!(row[9], rule["required_by"].as_str().unwrap(), "{id}: sources");
    }
    // explain's HIPAA basis: the CFR section, and the SP 800-52r2 section the
    // rule rests on, or plainly that it rests on none.
    for rule in catalogue.iter().filter(|r| !r["severity"]["hipaa"].is_null()) {
        let basis = rule["hipaa"].as_str().unwrap();
        let source = rule["required_by"].as_str().unwrap();
        assert!(basis.starts_with("45 CFR 164.312(e)(1)"), "{}: {basis}", rule["id"]);
        let cites_section = source.contains("NIST SP 800-52r2 §") || source.contains("NIST SP 800-52r2 Table");
        let says_none = basis.contains("has no section on this") || basis.contains("not a requirement");
        assert!(cites_section != says_none, "{}: {source} / {basis}", rule["id"]);
    }
    let known: Vec<&str> = catalogue.iter().filter_map(|r| r["id"].as_str()).collect();
    let stale: Vec<&String> = rows.keys().filter(|id| !known.contains(&id.as_str())).collect();
    assert!(stale.is_empty(), "rows for rules the catalogue lacks: {stale:?}");
}
