//! The records that close a run, built as JSON values: one
//! `tlsaudit.service` per server endpoint and the `tlsaudit.stats` record.

use serde_json::{json, Map, Value};

use super::put;
use crate::inventory::{Inventory, Service};
use crate::policy::Assessment;
use crate::util::rfc3339::rfc3339_micros;

/// What every closing record starts with: the ECS version and what kind of
/// event it is (ECS `event.kind`), in the network category.
pub(crate) fn head(r: &mut Map<String, Value>, kind: &str, dataset: &str) {
    put(r, "ecs.version", json!(super::ECS_VERSION));
    put(r, "event.kind", json!(kind));
    put(r, "event.category", json!(["network"]));
    put(r, "event.type", json!(["info"]));
    put(r, "event.dataset", json!(dataset));
}

/// Counts by name as an array of `{"name", "count"}`: a search index
/// maps two fields, not one per value seen.
fn counts<K: AsRef<str>>(map: &std::collections::BTreeMap<K, u64>) -> Value {
    Value::Array(map.iter().map(|(name, count)| json!({"name": name.as_ref(), "count": count})).collect())
}

/// The `tlsaudit.service` record of one server endpoint.
pub fn service(s: &Service, policy: &str, group: Option<&str>) -> Value {
    let mut r = Map::new();
    put(&mut r, "@timestamp", json!(rfc3339_micros(s.last_seen)));
    head(&mut r, "state", "tlsaudit.service");
    put(&mut r, "destination.ip", json!(s.ip.to_string()));
    put(&mut r, "destination.port", json!(s.port));
    put(&mut r, "network.transport", json!(s.transport.as_str()));
    put(&mut r, "related.ip", json!([s.ip.to_string()]));
    if !s.server_names.is_empty() {
        put(&mut r, "related.hosts", json!(s.server_names));
    }
    if !s.certificates.is_empty() {
        put(&mut r, "related.hash", json!(s.certificates.keys().collect::<Vec<_>>()));
    }
    put(&mut r, "tlsaudit.service.protocols", counts(&s.protocols));
    put(&mut r, "tlsaudit.service.sessions", json!(s.sessions));
    put(&mut r, "tlsaudit.service.cleartext_sessions", json!(s.cleartext_sessions));
    put(&mut r, "tlsaudit.service.distinct_clients", json!(s.distinct_clients()));
    if let Some(group) = group {
        put(&mut r, "tlsaudit.service.group", json!(group));
    }
    if let Some((grade, why)) = s.grade() {
        put(&mut r, "tlsaudit.service.grade", json!(grade.as_str()));
        put(&mut r, "tlsaudit.service.grade_capped_by", json!(why.iter().map(|r| r.as_str()).collect::<Vec<_>>()));
    }
    if s.clients_overflow {
        put(&mut r, "tlsaudit.service.distinct_clients_capped", json!(true));
    }
    if s.memory_capped {
        put(&mut r, "tlsaudit.service.memory_capped", json!(true));
    }
    put(&mut r, "tlsaudit.service.versions", counts(&s.versions));
    put(&mut r, "tlsaudit.service.ciphers", counts(&s.ciphers));
    put(&mut r, "tlsaudit.service.server_names", json!(s.server_names));
    put(&mut r, "tlsaudit.service.certificates", json!(s.certificates.keys().collect::<Vec<_>>()));
    put(&mut r, "tlsaudit.service.first_seen", json!(rfc3339_micros(s.first_seen)));
    put(&mut r, "tlsaudit.service.last_seen", json!(rfc3339_micros(s.last_seen)));
    let mut findings: Vec<_> = s.findings.values().collect();
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(&b.rule)));
    let findings: Vec<Value> = findings
        .iter()
        .map(|f| json!({"rule": f.rule.as_str(), "severity": f.severity.as_str(), "count": f.count, "message": f.example}))
        .collect();
    put(&mut r, "tlsaudit.findings", Value::Array(findings));
    if !s.exempted.is_empty() {
        let exempted: Vec<Value> = s
            .exempted
            .values()
            .map(|e| {
                json!({"rule": e.rule.as_str(), "severity": e.severity.as_str(), "count": e.count,
                       "justification": e.justification, "expires": e.expires})
            })
            .collect();
        put(&mut r, "tlsaudit.exempted", Value::Array(exempted));
    }
    put(&mut r, "tlsaudit.assessment", json!(s.assessment().as_str()));
    put(&mut r, "tlsaudit.compliant", json!(s.assessment() == Assessment::Compliant));
    put(&mut r, "tlsaudit.policy", json!(policy));
    Value::Object(r)
}

/// The `tlsaudit.stats` record closing a run.
pub fn stats(summary: &crate::RunSummary, inventory: &Inventory) -> Value {
    let mut r = Map::new();
    put(&mut r, "@timestamp", json!(rfc3339_micros(crate::capture::live::now_micros())));
    head(&mut r, "metric", "tlsaudit.stats");
    put(&mut r, "tlsaudit.stats.reader", serde_json::to_value(&summary.reader).unwrap_or(Value::Null));
    put(&mut r, "tlsaudit.stats.flows", serde_json::to_value(&summary.workers).unwrap_or(Value::Null));
    put(&mut r, "tlsaudit.stats.sessions", json!(summary.sessions));
    put(&mut r, "tlsaudit.stats.sessions_established", json!(summary.workers.tls_established));
    put(&mut r, "tlsaudit.stats.sessions_compliant", json!(summary.sessions_compliant));
    put(&mut r, "tlsaudit.stats.verdict", json!(summary.verdict.as_str()));
    put(&mut r, "tlsaudit.stats.sessions_non_compliant", json!(summary.sessions_non_compliant()));
    put(&mut r, "tlsaudit.stats.sessions_not_assessed", json!(summary.sessions_not_assessed));
    let [info, low, medium, high, critical] = summary.findings_by_severity;
    put(
        &mut r,
        "tlsaudit.stats.findings",
        json!({"info": info, "low": low, "medium": medium, "high": high, "critical": critical}),
    );
    put(&mut r, "tlsaudit.stats.decode_errors_total", json!(summary.decode_errors().total()));
    put(&mut r, "tlsaudit.stats.decode_errors", serde_json::to_value(summary.decode_errors()).unwrap_or(Value::Null));
    let services: Vec<&Service> = inventory.each_service().collect();
    put(&mut r, "tlsaudit.stats.services", json!(services.len()));
    put(&mut r, "tlsaudit.stats.services_in_clear", json!(services.iter().filter(|s| s.cleartext_sessions > 0).count()));
    put(&mut r, "tlsaudit.stats.services_unlisted", json!(services.iter().filter(|s| s.unlisted()).count()));
    let services_in = |a: Assessment| services.iter().filter(|s| s.assessment() == a).count();
    put(&mut r, "tlsaudit.stats.services_non_compliant", json!(services_in(Assessment::NonCompliant)));
    put(&mut r, "tlsaudit.stats.services_not_assessed", json!(services_in(Assessment::NotAssessed)));
    put(
        &mut r,
        "tlsaudit.stats.inventory_cap_hits",
        json!({"services": inventory.services_dropped, "clients": inventory.clients_dropped, "memory": inventory.memory_refusals()}),
    );
    put(&mut r, "tlsaudit.stats.inventory_memory_bytes", json!(inventory.memory()));
    if let Some(changes) = &summary.changes {
        put(&mut r, "tlsaudit.stats.changes", crate::output::change::summary(changes));
    }
    put(&mut r, "tlsaudit.stats.findings_by_rule", crate::output::groups::by_rule_json(inventory));
    put(&mut r, "tlsaudit.stats.threads", json!(summary.threads));
    put(&mut r, "tlsaudit.stats.wall_time_seconds", json!(summary.wall_time.as_secs_f64()));
    Value::Object(r)
}
