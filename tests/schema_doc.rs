//! docs/SCHEMA.md documents every field the session, alert and service
//! records carry, and every top-level field of the stats record: each key a run over
//! the bundled and third-party captures writes appears in the document in
//! backticks (as the field's path, or as a member named in its row).

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;

/// Every key path of `v`, with the last component (the stats record's
/// objects by their top-level name).
fn keys(v: &Value, path: &str, out: &mut BTreeSet<(String, String)>) {
    if let Value::Object(m) = v {
        for (k, child) in m {
            let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            // Objects are checked through their members.
            if !child.is_object() || p.starts_with("tlsaudit.stats.") {
                out.insert((p.clone(), k.clone()));
            }
            if !p.starts_with("tlsaudit.stats.") {
                keys(child, &p, out);
            }
        }
    } else if let Value::Array(a) = v {
        for child in a {
            keys(child, path, out);
        }
    }
}

#[test]
fn every_field_written_is_documented() {
    let doc = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/SCHEMA.md")).unwrap();
    let mut inputs: Vec<String> = bundled_captures().iter().map(|p| p.to_str().unwrap().to_string()).collect();
    inputs.push(thirdparty_dir().to_str().unwrap().to_string());
    inputs.push(captures_dir().join("cleartext").to_str().unwrap().to_string());
    let mut all = BTreeSet::new();
    for input in &inputs {
        let run = run_jsonl(&["-r", input, "--ca-file", captures_dir().join("test-ca.pem").to_str().unwrap()]);
        for record in run.sessions.iter().chain(&run.services).chain(&run.alerts).chain(std::iter::once(&run.stats)) {
            keys(record, "", &mut all);
        }
    }
    assert!(all.len() > 150, "too few fields to check: {}", all.len());
    let missing: Vec<&String> = all
        .iter()
        .filter(|(path, name)| {
            let stripped = path.strip_prefix("tlsaudit.").unwrap_or(path);
            !doc.contains(&format!("`{path}`"))
                && !doc.contains(&format!("`{stripped}`"))
                && !doc.contains(&format!("`{name}`"))
                && !doc.contains(&format!("`{path}.*`"))
        })
        .map(|(path, _)| path)
        .collect();
    assert!(missing.is_empty(), "fields docs/SCHEMA.md does not name: {missing:?}");
}
