//! The rule catalogue for people: `tlsaudit rules` and `tlsaudit explain`.

use crate::policy::rules::{RuleId, PROFILES, RULES};

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
    let Some(r) = RuleId::from_name(id).map(RuleId::rule) else {
        return Err(format!("unknown rule {id:?}; `tlsaudit rules` lists them"));
    };
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

