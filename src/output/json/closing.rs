//! The records that close a run: one `tlsaudit.service` per server
//! endpoint, written straight into a buffer, and the `tlsaudit.stats`
//! record, built as a JSON value.

use serde_json::{json, Map, Value};

use super::put;
use crate::output::json_writer::{write_array, write_escaped_before, write_plain, write_str, JsonValue, JsonWriter, Plain};
use crate::util::rfc3339::Rfc3339Micros;
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

/// A `{"count", "name"}` array of counts by name, written in place.
struct CountsArray<'a, K>(&'a crate::util::sorted_vec_map::SortedVecMap<K, u64>);

impl<K: AsRef<str> + Ord> JsonValue for CountsArray<'_, K> {
    fn write_json(&self, buf: &mut Vec<u8>) {
        write_array(buf, self.0, |buf, (name, count)| {
            buf.extend_from_slice(b"{\"count\":");
            count.write_json(buf);
            buf.extend_from_slice(b",\"name\":");
            write_str(buf, name.as_ref());
            buf.push(b'}');
        });
    }
}

/// Writes the `tlsaudit.service` record of one server endpoint into `buf`
/// (no line end). Keys go in the order a JSON object with sorted keys has,
/// at every level, as the records of this kind always had: the writer is
/// told them in that order.
pub fn write_service(buf: &mut Vec<u8>, s: &Service, policy: &str, group: Option<&str>, observer: Option<&str>) {
    let mut w = JsonWriter::new(buf);
    w.field("@timestamp", &Rfc3339Micros(s.last_seen));
    destination_and_ecs(&mut w, s);
    w.object("event");
    w.field("category", &["network"]);
    w.field("dataset", &Plain("tlsaudit.service"));
    w.field("kind", &Plain("state"));
    w.field("type", &["info"]);
    w.close();
    network_and_observer(&mut w, s, observer);
    w.object("related");
    if !s.certificates.is_empty() {
        w.field("hash", &Keys(s.certificates.keys()));
    }
    if !s.server_names.is_empty() {
        w.field("hosts", &Keys(s.server_names.iter()));
    }
    w.field("ip", &[&s.ip]);
    w.close();
    w.object("tlsaudit");
    let assessment = s.assessment();
    w.field("assessment", &Plain(assessment.as_str()));
    w.field("compliant", &(assessment == Assessment::Compliant));
    if !s.exempted.is_empty() {
        w.field("exempted", &Exempted(s));
    }
    w.field("findings", &Findings(s));
    w.field("policy", policy);
    w.object("service");
    w.field("certificates", &Keys(s.certificates.keys()));
    w.field("ciphers", &CountsArray(&s.ciphers));
    w.field("cleartext_sessions", &s.cleartext_sessions);
    w.field("distinct_clients", &s.distinct_clients());
    if s.clients_overflow {
        w.field("distinct_clients_capped", &true);
    }
    w.field("first_seen", &Rfc3339Micros(s.first_seen));
    if let Some((grade, why)) = s.grade() {
        w.field("grade", &Plain(grade.as_str()));
        w.field("grade_capped_by", &why.iter().map(|r| r.as_str()).collect::<Vec<_>>());
    }
    if let Some(group) = group {
        w.field("group", group);
    }
    w.field("last_seen", &Rfc3339Micros(s.last_seen));
    if s.memory_capped {
        w.field("memory_capped", &true);
    }
    w.field("protocols", &CountsArray(&s.protocols));
    w.field("server_names", &Keys(s.server_names.iter()));
    w.field("sessions", &s.sessions);
    w.field("versions", &CountsArray(&s.versions));
    w.close();
    w.close();
    w.finish();
}

/// `destination` (the service) and `ecs`, as a service's records have them
/// (its own, and the alerts of findings judged across its sessions).
pub(super) fn destination_and_ecs(w: &mut JsonWriter<'_>, s: &Service) {
    w.object("destination");
    w.field("ip", &s.ip);
    w.field("port", &s.port);
    w.close();
    w.object("ecs");
    w.field("version", &Plain(super::ECS_VERSION));
    w.close();
}

/// `network` and, when the sensor is named, `observer`, as a service's
/// records have them.
pub(super) fn network_and_observer(w: &mut JsonWriter<'_>, s: &Service, observer: Option<&str>) {
    w.object("network");
    w.field("transport", &Plain(s.transport.as_str()));
    w.close();
    if let Some(name) = observer {
        w.object("observer");
        w.field("name", name);
        w.close();
    }
}

/// Strings from an iterator, as a JSON array.
struct Keys<I>(I);

impl<'a, I: Iterator<Item = &'a String> + Clone> JsonValue for Keys<I> {
    fn write_json(&self, buf: &mut Vec<u8>) {
        write_array(buf, self.0.clone(), |buf, k| k.write_json(buf));
    }
}

/// A service's findings, worst first, then by rule.
struct Findings<'a>(&'a Service);

impl JsonValue for Findings<'_> {
    fn write_json(&self, buf: &mut Vec<u8>) {
        // In rule order already (the map's keys): a stable sort by
        // severity keeps that order among findings of one severity.
        let mut findings: Vec<_> = self.0.findings.values().collect();
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        // Four fields each, always there, in sorted order: written straight,
        // the program's own names unescaped, only the message escaped.
        write_array(buf, findings, |buf, f| {
            buf.extend_from_slice(b"{\"count\":");
            f.count.write_json(buf);
            buf.extend_from_slice(b",\"message\":");
            write_escaped_before(buf, &f.example_json);
            buf.extend_from_slice(b",\"rule\":");
            write_plain(buf, f.rule.as_str());
            buf.extend_from_slice(b",\"severity\":");
            write_plain(buf, f.severity.as_str());
            buf.push(b'}');
        });
    }
}

/// A service's findings that the policy's exceptions covered.
struct Exempted<'a>(&'a Service);

impl JsonValue for Exempted<'_> {
    fn write_json(&self, buf: &mut Vec<u8>) {
        write_array(buf, self.0.exempted.values(), |buf, e| {
            let mut w = JsonWriter::new(buf);
            w.field("count", &e.count);
            w.field("expires", &e.expires);
            w.field("justification", &e.justification);
            w.field("rule", &Plain(e.rule.as_str()));
            w.field("severity", &Plain(e.severity.as_str()));
            w.finish();
        });
    }
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
