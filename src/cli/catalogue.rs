//! The rule catalogue for people and tools: `tlsaudit rules` (text or
//! JSON) and `tlsaudit explain`.

use serde_json::{json, Map, Value};

use crate::policy::rules::{Rule, RuleId, PROFILES, RULES};

/// Why a rule bears on HIPAA: the transmission security standard, through
/// the NIST guidance HHS points to, where the rule comes from that guidance.
fn hipaa_basis(r: &Rule) -> String {
    let in_hipaa_profile = r.severities[0].iter().any(Option::is_some);
    let from_nist = r.required_by.contains("NIST SP 800-52r2");
    match (in_hipaa_profile, from_nist) {
        (true, true) => {
            "45 CFR 164.312(e)(1) transmission security, through NIST SP 800-52r2, which HHS refers to for protecting ePHI in transit".into()
        }
        (true, false) => {
            let why = match r.required_by {
                "-" => "a note on what could not be seen, not a requirement".to_string(),
                "operational" => "an operational warning, not a requirement of NIST SP 800-52r2".to_string(),
                "the policy file" => "the policy file's own terms, not a requirement of NIST SP 800-52r2".to_string(),
                other => format!("NIST SP 800-52r2 has no section on this; the hipaa profile applies it from {other}"),
            };
            format!("45 CFR 164.312(e)(1) transmission security; {why}")
        }
        (false, _) => "not applied by the hipaa profile".into(),
    }
}

/// `tlsaudit rules --format json`: every rule with its texts and its
/// severity per profile (null: off); `severity_by_cause` where a rule's two
/// causes differ (`cipher.no_fs`: RSA key transport, static DH).
pub fn rules_json() -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            let name = |s: Option<crate::policy::Severity>| s.map_or(Value::Null, |s| json!(s.as_str()));
            let mut severity = Map::new();
            let mut by_cause = Map::new();
            for (profile, causes) in PROFILES.iter().zip(r.severities) {
                severity.insert(profile.to_string(), name(causes[0]));
                if causes[0] != causes[1] {
                    by_cause.insert(profile.to_string(), json!([name(causes[0]), name(causes[1])]));
                }
            }
            let mut rule = json!({
                "id": r.id.as_str(),
                "flags": r.flags,
                "required_by": r.required_by,
                "hipaa": hipaa_basis(r),
                "observable": r.observable,
                "remediation": r.remediation,
                "evaluated": r.evaluated,
                "severity": severity,
            });
            if !by_cause.is_empty() {
                rule["severity_by_cause"] = Value::Object(by_cause);
            }
            rule
        })
        .collect();
    Value::Array(rules).to_string()
}

/// `tlsaudit rules`: every rule with its severity in each profile.
pub fn rules_table() -> Vec<String> {
    let mut lines =
        vec![format!("{:<28} {}", "RULE", PROFILES.iter().map(|p| format!("{:<9}", short_profile(p))).collect::<String>())];
    for r in RULES {
        let cells: String = (0..PROFILES.len())
            .map(|i| format!("{:<9}", r.severity(i).map(|s| s.as_str()).unwrap_or("-")))
            .collect();
        let note = if r.evaluated { "" } else { "  (not evaluated yet)" };
        lines.push(format!("{:<28} {}{note}", r.id, cells.trim_end()));
        lines.push(format!("{:<28} {}", "", r.flags));
    }
    lines
}

fn short_profile(p: &str) -> &str {
    match p {
        "nist-800-52r2" => "nist",
        "pci-dss-4" => "pci",
        "mozilla-modern" => "moz-mod",
        "mozilla-intermediate" => "moz-int",
        "mozilla-old" => "moz-old",
        other => other,
    }
}

/// `tlsaudit explain RULE`: what a rule flags, who requires it, how to
/// fix it and its severities; an error for an unknown id.
pub fn explain(id: &str) -> Result<Vec<String>, String> {
    let r = RuleId::parse(id)?.rule();
    let severities = PROFILES
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{p} {}", r.severity(i).map(|s| s.as_str()).unwrap_or("off")))
        .collect::<Vec<_>>()
        .join(", ");
    let mut lines = vec![
        r.id.to_string(),
        String::new(),
        format!("Flags:        {}", r.flags),
        format!("Required by:  {}", r.required_by),
        format!("HIPAA:        {}", hipaa_basis(r)),
        format!("Observed in:  {}", r.observable),
        format!("Fix:          {}", r.remediation),
        format!("Severity:     {severities}"),
    ];
    if !r.evaluated {
        lines.push(String::new());
        lines.push("This version of tlsaudit does not evaluate this rule yet.".into());
    }
    Ok(lines)
}

