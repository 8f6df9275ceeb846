//! Views over the inventory for people who own parts of it: services
//! grouped by subnet or by the asset file's names (`--group-by`), and the
//! findings counted per rule. Text sections and JSON values of the same
//! numbers.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::inventory::{Inventory, Service};
use crate::policy::assets::GroupBy;
use crate::policy::rules::RULES;
use crate::policy::{Assessment, Profile, RuleId, Severity};

/// What one group holds.
#[derive(Debug, Default, Clone)]
struct Group {
    services: u64,
    non_compliant: u64,
    in_clear: u64,
    unlisted: u64,
    sessions: u64,
    worst: Option<Severity>,
}

fn groups(inventory: &Inventory, by: GroupBy, profile: &Profile) -> BTreeMap<String, Group> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for s in inventory.each_service() {
        let g = groups.entry(by.group_of(s.ip, &profile.assets)).or_default();
        g.services += 1;
        g.non_compliant += u64::from(s.assessment() == Assessment::NonCompliant);
        g.in_clear += u64::from(s.cleartext_sessions > 0);
        g.unlisted += u64::from(s.unlisted());
        g.sessions += s.sessions;
        g.worst = g.worst.max(s.worst());
    }
    groups
}

/// Groups worst first: most non-compliant services, then by name.
fn ordered(groups: BTreeMap<String, Group>) -> Vec<(String, Group)> {
    let mut v: Vec<_> = groups.into_iter().collect();
    v.sort_by(|(an, a), (bn, b)| b.non_compliant.cmp(&a.non_compliant).then(b.worst.cmp(&a.worst)).then(an.cmp(bn)));
    v
}

/// The stats record's `groups`.
pub fn groups_json(inventory: &Inventory, by: GroupBy, profile: &Profile) -> Value {
    let list: Vec<Value> = ordered(groups(inventory, by, profile))
        .into_iter()
        .map(|(name, g)| {
            json!({"name": name, "services": g.services, "services_non_compliant": g.non_compliant,
                   "services_in_clear": g.in_clear, "services_unlisted": g.unlisted, "sessions": g.sessions,
                   "worst_severity": g.worst.map(Severity::as_str)})
        })
        .collect();
    Value::Array(list)
}

/// The text report's section of groups.
pub fn groups_text(inventory: &Inventory, by: GroupBy, profile: &Profile) -> String {
    let what = match by {
        GroupBy::Asset => "asset".to_string(),
        GroupBy::Subnet { v4, v6 } => format!("subnet (/{v4}, IPv6 /{v6})"),
    };
    let mut out = format!("\nServices by {what}, most non-compliant first:\n");
    for (name, g) in ordered(groups(inventory, by, profile)) {
        let mut extra = Vec::new();
        if g.in_clear > 0 {
            extra.push(format!("{} in clear", g.in_clear));
        }
        if g.unlisted > 0 {
            extra.push(format!("{} unlisted", g.unlisted));
        }
        let extra = if extra.is_empty() { String::new() } else { format!(" ({})", extra.join(", ")) };
        let worst = g.worst.map(|w| format!(", worst {}", w.as_str())).unwrap_or_default();
        out.push_str(&format!(
            "  {:<28} {} of {} non-compliant{extra}, {}{worst}\n",
            crate::util::escape::escape_terminal(name.as_bytes()),
            g.non_compliant,
            plural(g.services, "service"),
            plural(g.sessions, "session")
        ));
    }
    out
}

/// Per rule, over the services' findings at or above `min`: its severity,
/// the services that raised it and the sessions it was raised in.
pub(crate) fn by_rule<'a>(services: impl Iterator<Item = &'a Service>, min: Severity) -> Vec<(RuleId, Severity, u64, u64)> {
    // By catalogue index: a service's findings, over every service, are
    // counted without a map's comparisons.
    let mut rules: Vec<Option<(RuleId, Severity, u64, u64)>> = vec![None; RULES.len()];
    for s in services {
        for f in s.findings.values().filter(|f| f.severity >= min) {
            let e = rules[f.rule as usize].get_or_insert((f.rule, f.severity, 0, 0));
            e.1 = e.1.max(f.severity);
            e.2 += 1;
            e.3 += f.count;
        }
    }
    let mut v: Vec<_> = rules.into_iter().flatten().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    v
}

/// The stats record's `findings_by_rule`.
pub fn by_rule_json(inventory: &Inventory) -> Value {
    let rows: Vec<Value> = by_rule(inventory.each_service(), Severity::Info)
        .into_iter()
        .map(|(rule, severity, services, count)| json!({"rule": rule.as_str(), "severity": severity.as_str(), "services": services, "count": count}))
        .collect();
    Value::Array(rows)
}

/// The text report's section of rules.
pub fn by_rule_text(inventory: &Inventory, min: Severity) -> String {
    let rows = by_rule(inventory.each_service(), min);
    if rows.is_empty() {
        return String::new();
    }
    let mut out = "\nFindings by rule (services, times raised):\n".to_string();
    for (rule, severity, services, count) in rows {
        out.push_str(&format!("  {:<30} {:<8} {}, {count}x\n", rule.as_str(), severity.as_str(), plural(services, "service")));
    }
    out
}

fn plural(n: u64, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}
