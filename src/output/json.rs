//! JSON records: `tlsaudit.session` and `tlsaudit.stats`, nested objects with
//! ECS field names (SCHEMA.md). Fields that were not observed are omitted.

use serde_json::{json, Map, Value};

use super::{rfc3339_micros, rfc3339_secs};
use crate::cert::CertificateFacts;
use crate::inventory::{Inventory, Service};
use crate::policy::Verdict;
use crate::tls::facts::{ClientHelloFacts, SessionFacts};
use crate::tls::fingerprint;
use crate::tls::names::{self, cipher_name, group_name, is_grease};

/// Sets `value` at a dotted path of nested objects.
fn put(root: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut map = root;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        let entry = map.entry(part.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        map = match entry {
            Value::Object(m) => m,
            _ => return,
        };
    }
}

fn put_opt<T: Into<Value>>(root: &mut Map<String, Value>, path: &str, value: Option<T>) {
    if let Some(v) = value {
        put(root, path, v.into());
    }
}

/// Text of attacker-supplied bytes: as-is when valid UTF-8 (JSON escaping
/// makes control characters harmless), else with replacement characters and
/// a hex copy beside it.
fn wire_string(root: &mut Map<String, Value>, path: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => put(root, path, json!(s)),
        Err(_) => {
            put(root, path, json!(String::from_utf8_lossy(bytes)));
            put(root, &format!("{path}_hex"), json!(hex(bytes)));
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn versions(v: &[u16]) -> Value {
    Value::Array(v.iter().filter_map(|v| names::version_name(*v)).map(|s| json!(s)).collect())
}

fn x509(prefix: &str, root: &mut Map<String, Value>, c: &CertificateFacts) {
    put_opt(root, &format!("{prefix}.subject.common_name"), c.subject_cn.clone());
    put(root, &format!("{prefix}.subject.distinguished_name"), json!(c.subject_dn));
    put_opt(root, &format!("{prefix}.issuer.common_name"), c.issuer_cn.clone());
    put(root, &format!("{prefix}.issuer.distinguished_name"), json!(c.issuer_dn));
    put(root, &format!("{prefix}.not_before"), json!(rfc3339_secs(c.not_before)));
    put(root, &format!("{prefix}.not_after"), json!(rfc3339_secs(c.not_after)));
    put(root, &format!("{prefix}.serial_number"), json!(c.serial_hex));
    let mut alt: Vec<Value> = c.dns_names.iter().map(|n| json!(n)).collect();
    alt.extend(c.ip_addresses.iter().map(|n| json!(n)));
    if !alt.is_empty() {
        put(root, &format!("{prefix}.alternative_names"), Value::Array(alt));
    }
    put(root, &format!("{prefix}.public_key_algorithm"), json!(c.public_key_algorithm));
    put(root, &format!("{prefix}.public_key_size"), json!(c.public_key_bits));
    put_opt(root, &format!("{prefix}.public_key_curve"), c.public_key_curve.clone());
    put(root, &format!("{prefix}.signature_algorithm"), json!(c.signature_algorithm));
    put(root, &format!("{prefix}.version_number"), json!(c.version.to_string()));
}

/// Facts of one certificate beyond the ECS x509 fields (for the chain list).
fn certificate_detail(c: &CertificateFacts) -> Value {
    let mut m = Map::new();
    put(&mut m, "sha256", json!(c.sha256));
    x509("x509", &mut m, c);
    put(&mut m, "self_issued", json!(c.self_issued));
    put_opt(&mut m, "basic_constraints.ca", c.is_ca);
    put_opt(&mut m, "basic_constraints.path_len", c.path_len);
    if !c.key_usage.is_empty() {
        put(&mut m, "key_usage", json!(c.key_usage));
    }
    if !c.extended_key_usage.is_empty() {
        put(&mut m, "extended_key_usage", json!(c.extended_key_usage));
    }
    put(&mut m, "signature_algorithm_oid", json!(c.signature_algorithm_oid));
    if !c.ocsp_urls.is_empty() {
        put(&mut m, "ocsp_urls", json!(c.ocsp_urls));
    }
    if !c.crl_urls.is_empty() {
        put(&mut m, "crl_urls", json!(c.crl_urls));
    }
    Value::Object(m)
}

fn client_hello(root: &mut Map<String, Value>, ch: &ClientHelloFacts) {
    let ciphers: Vec<Value> = ch.ciphers.iter().filter(|c| !is_grease(**c)).map(|c| json!(cipher_name(*c))).collect();
    put(root, "tls.client.supported_ciphers", Value::Array(ciphers));
    if let Some(sni) = &ch.server_name {
        wire_string(root, "tls.client.server_name", sni);
    }
    if !ch.sslv2_format {
        put(root, "tls.client.ja3", json!(fingerprint::ja3(ch)));
        put(root, "tlsaudit.client.ja3_string", json!(fingerprint::ja3_string(ch)));
    }
    put(root, "tls.client.ja4", json!(fingerprint::ja4(ch)));
    put(root, "tlsaudit.client.offered_versions", versions(&ch.offered_versions()));
    put(root, "tlsaudit.client.legacy_version", json!(format!("0x{:04X}", ch.legacy_version)));
    let strip = |v: &[u16]| -> Vec<u16> { v.iter().copied().filter(|x| !is_grease(*x)).collect() };
    let groups: Vec<String> = strip(&ch.supported_groups).into_iter().map(group_name).collect();
    if !groups.is_empty() {
        put(root, "tlsaudit.client.supported_groups", json!(groups));
    }
    let shares: Vec<String> = strip(&ch.key_share_groups).into_iter().map(group_name).collect();
    if !shares.is_empty() {
        put(root, "tlsaudit.client.key_share_groups", json!(shares));
    }
    if !ch.signature_algorithms.is_empty() {
        let sigs: Vec<String> = strip(&ch.signature_algorithms).iter().map(|s| format!("0x{s:04X}")).collect();
        put(root, "tlsaudit.client.signature_algorithms", json!(sigs));
    }
    if !ch.alpn.is_empty() {
        let alpn: Vec<String> = ch.alpn.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        put(root, "tlsaudit.client.alpn", json!(alpn));
    }
    put(root, "tlsaudit.client.compression_methods", json!(ch.compression_methods));
    put(root, "tlsaudit.client.extensions", json!(strip(&ch.extensions)));
    put(root, "tlsaudit.client.extended_master_secret", json!(ch.extended_master_secret));
    put(root, "tlsaudit.client.encrypt_then_mac", json!(ch.encrypt_then_mac));
    put(root, "tlsaudit.client.renegotiation_info", json!(ch.renegotiation_info || ch.ciphers.contains(&0x00ff)));
    put(root, "tlsaudit.client.fallback_scsv", json!(ch.ciphers.contains(&0x5600)));
    put(root, "tlsaudit.client.session_ticket", json!(ch.session_ticket.is_some()));
    put(root, "tlsaudit.client.status_request", json!(ch.status_request));
    put_opt(root, "tlsaudit.client.heartbeat_mode", ch.heartbeat_mode);
    put(root, "tlsaudit.client.sslv2_hello", json!(ch.sslv2_format));
    if !ch.malformed_extensions.is_empty() {
        put(root, "tlsaudit.client.malformed_extensions", json!(ch.malformed_extensions));
    }
}

/// The `tlsaudit.session` record of one connection.
pub fn session(f: &SessionFacts, verdict: &Verdict, policy: &str) -> Value {
    let mut r = Map::new();
    put(&mut r, "@timestamp", json!(rfc3339_micros(f.first_seen)));
    put(&mut r, "event.dataset", json!("tlsaudit.session"));
    put(&mut r, "event.start", json!(rfc3339_micros(f.first_seen)));
    put(&mut r, "event.end", json!(rfc3339_micros(f.last_seen)));
    put(&mut r, "source.ip", json!(f.client.ip.to_string()));
    put(&mut r, "source.port", json!(f.client.port));
    put(&mut r, "destination.ip", json!(f.server.ip.to_string()));
    put(&mut r, "destination.port", json!(f.server.port));
    put(&mut r, "network.transport", json!("tcp"));
    put(&mut r, "network.protocol", json!(f.outer_protocol.unwrap_or("tls")));
    put_opt(&mut r, "network.vlan.id", f.vlan);
    if let Some(v) = f.version() {
        put_opt(&mut r, "tls.version", names::version_name(v));
        put(&mut r, "tls.version_protocol", json!(names::version_protocol(v)));
        if names::is_tls13_draft(v) {
            put(&mut r, "tlsaudit.tls13_draft", json!(v & 0xff));
        }
        put(&mut r, "tlsaudit.cert_observable", json!(!f.is_tls13()));
    }
    if let Some(sh) = &f.server_hello {
        put(&mut r, "tls.cipher", json!(cipher_name(sh.cipher)));
        if let Some(alpn) = &sh.alpn {
            wire_string(&mut r, "tls.next_protocol", alpn);
        }
        put(&mut r, "tls.server.ja3s", json!(fingerprint::ja3s(sh)));
        put(&mut r, "tlsaudit.server.ja3s_string", json!(fingerprint::ja3s_string(sh)));
        put(&mut r, "tlsaudit.server.legacy_version", json!(format!("0x{:04X}", sh.legacy_version)));
        put(&mut r, "tlsaudit.server.compression_method", json!(sh.compression_method));
        put(&mut r, "tlsaudit.server.extensions", json!(sh.extensions));
        put(&mut r, "tlsaudit.server.extended_master_secret", json!(sh.extended_master_secret));
        put(&mut r, "tlsaudit.server.encrypt_then_mac", json!(sh.encrypt_then_mac));
        put(&mut r, "tlsaudit.server.renegotiation_info", json!(sh.renegotiation_info));
        put(&mut r, "tlsaudit.server.session_ticket", json!(sh.session_ticket));
        put_opt(&mut r, "tlsaudit.server.heartbeat_mode", sh.heartbeat_mode);
    }
    put_opt(&mut r, "tls.curve", f.group().map(group_name));
    if f.server_hello.is_some() || f.sslv2_server_hello {
        put(&mut r, "tls.established", json!(f.established));
        put(&mut r, "tls.resumed", json!(f.resumed()));
    } else {
        put(&mut r, "tls.established", json!(false));
    }
    if let Some(ch) = &f.client_hello {
        client_hello(&mut r, ch);
    }
    if let Some(hrr) = &f.hello_retry {
        put(&mut r, "tlsaudit.server.hello_retry_request.cipher", json!(cipher_name(hrr.cipher)));
        put_opt(&mut r, "tlsaudit.server.hello_retry_request.group", hrr.selected_group.map(group_name));
    }
    if let Some(retried) = &f.retried_client_hello {
        // The ClientHello sent again after the HelloRetryRequest.
        put(&mut r, "tlsaudit.client.retried_hello.ja4", json!(fingerprint::ja4(retried)));
        put(&mut r, "tlsaudit.client.retried_hello.ja3", json!(fingerprint::ja3(retried)));
        let shares: Vec<String> = retried.key_share_groups.iter().map(|g| group_name(*g)).collect();
        put(&mut r, "tlsaudit.client.retried_hello.key_share_groups", json!(shares));
    }
    if let Some(leaf) = f.server_certificates.first() {
        x509("tls.server.x509", &mut r, leaf);
        put(&mut r, "tls.server.hash.sha256", json!(leaf.sha256));
        let chain: Vec<Value> = f.server_certificates.iter().map(|c| json!(c.sha256)).collect();
        put(&mut r, "tls.server.certificate_chain", Value::Array(chain));
        let detail: Vec<Value> = f.server_certificates.iter().map(certificate_detail).collect();
        put(&mut r, "tlsaudit.server.certificates", Value::Array(detail));
    }
    if let Some(leaf) = f.client_certificates.first() {
        x509("tls.client.x509", &mut r, leaf);
        put(&mut r, "tls.client.hash.sha256", json!(leaf.sha256));
    }
    if f.certificate_chain_truncated {
        put(&mut r, "tlsaudit.server.certificate_chain_truncated", json!(true));
    }
    if f.ocsp_stapled {
        put(&mut r, "tlsaudit.server.ocsp_stapled", json!(true));
    }
    if f.client_certificate_requested {
        put(&mut r, "tlsaudit.server.client_certificate_requested", json!(true));
    }
    put_opt(&mut r, "tlsaudit.server.ticket_lifetime_hint", f.new_session_ticket_lifetime);
    if let Some(kx) = &f.key_exchange {
        put_opt(&mut r, "tlsaudit.kex.dh_bits", kx.dh_bits);
        put_opt(&mut r, "tlsaudit.kex.curve", kx.curve.map(group_name));
        put_opt(&mut r, "tlsaudit.kex.signature_scheme", kx.signature_scheme.map(|s| format!("0x{s:04X}")));
    }
    if let Some(a) = &f.alert {
        put(&mut r, "tlsaudit.alert.level", json!(names::alert_level(a.level)));
        put(&mut r, "tlsaudit.alert.description", json!(names::alert_description(a.description)));
        put(&mut r, "tlsaudit.alert.from", json!(a.from.as_str()));
    }
    if f.incomplete {
        put(&mut r, "tlsaudit.incomplete", json!(true));
    }
    if !f.malformed_messages.is_empty() {
        put(&mut r, "tlsaudit.malformed_messages", json!(f.malformed_messages));
    }
    if f.client_hello_count > 1 {
        put(&mut r, "tlsaudit.client_hello_count", json!(f.client_hello_count));
    }
    let findings: Vec<Value> = verdict
        .findings
        .iter()
        .map(|x| json!({"rule": x.rule, "severity": x.severity.as_str(), "party": x.party.as_str(), "message": x.message}))
        .collect();
    put(&mut r, "tlsaudit.findings", Value::Array(findings));
    if !verdict.exempted.is_empty() {
        let exempted: Vec<Value> = verdict
            .exempted
            .iter()
            .map(|x| {
                json!({"rule": x.finding.rule, "severity": x.finding.severity.as_str(), "party": x.finding.party.as_str(),
                       "message": x.finding.message, "justification": x.justification, "expires": x.expires})
            })
            .collect();
        put(&mut r, "tlsaudit.exempted", Value::Array(exempted));
    }
    put(&mut r, "tlsaudit.compliant", json!(verdict.compliant));
    put(&mut r, "tlsaudit.policy", json!(policy));
    Value::Object(r)
}

/// The `tlsaudit.service` record of one server endpoint.
pub fn service(s: &Service, policy: &str) -> Value {
    let mut r = Map::new();
    put(&mut r, "@timestamp", json!(rfc3339_micros(s.last_seen)));
    put(&mut r, "event.dataset", json!("tlsaudit.service"));
    put(&mut r, "destination.ip", json!(s.ip.to_string()));
    put(&mut r, "destination.port", json!(s.port));
    put(&mut r, "tlsaudit.service.sessions", json!(s.sessions));
    put(&mut r, "tlsaudit.service.distinct_clients", json!(s.distinct_clients()));
    if s.clients_overflow {
        put(&mut r, "tlsaudit.service.distinct_clients_capped", json!(true));
    }
    put(&mut r, "tlsaudit.service.versions", json!(s.versions));
    put(&mut r, "tlsaudit.service.ciphers", json!(s.ciphers));
    put(&mut r, "tlsaudit.service.server_names", json!(s.server_names));
    put(&mut r, "tlsaudit.service.certificates", json!(s.certificates));
    put(&mut r, "tlsaudit.service.first_seen", json!(rfc3339_micros(s.first_seen)));
    put(&mut r, "tlsaudit.service.last_seen", json!(rfc3339_micros(s.last_seen)));
    let mut findings: Vec<_> = s.findings.values().collect();
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(b.rule)));
    let findings: Vec<Value> = findings
        .iter()
        .map(|f| json!({"rule": f.rule, "severity": f.severity.as_str(), "count": f.count, "message": f.example}))
        .collect();
    put(&mut r, "tlsaudit.findings", Value::Array(findings));
    put(&mut r, "tlsaudit.compliant", json!(s.compliant));
    put(&mut r, "tlsaudit.policy", json!(policy));
    Value::Object(r)
}

/// The `tlsaudit.stats` record closing a run.
pub fn stats(summary: &crate::RunSummary, inventory: &Inventory) -> Value {
    let mut r = Map::new();
    put(&mut r, "@timestamp", json!(rfc3339_micros(crate::capture::live::now_micros())));
    put(&mut r, "event.dataset", json!("tlsaudit.stats"));
    put(&mut r, "tlsaudit.stats.reader", serde_json::to_value(&summary.reader).unwrap_or(Value::Null));
    put(&mut r, "tlsaudit.stats.flows", serde_json::to_value(&summary.workers).unwrap_or(Value::Null));
    put(&mut r, "tlsaudit.stats.sessions", json!(summary.sessions));
    put(&mut r, "tlsaudit.stats.sessions_established", json!(summary.workers.tls_established));
    put(&mut r, "tlsaudit.stats.sessions_compliant", json!(summary.sessions_compliant));
    put(&mut r, "tlsaudit.stats.sessions_non_compliant", json!(summary.sessions - summary.sessions_compliant));
    let [info, low, medium, high, critical] = summary.findings_by_severity;
    put(
        &mut r,
        "tlsaudit.stats.findings",
        json!({"info": info, "low": low, "medium": medium, "high": high, "critical": critical}),
    );
    put(&mut r, "tlsaudit.stats.decode_errors_total", json!(summary.decode_errors().total()));
    put(&mut r, "tlsaudit.stats.decode_errors", serde_json::to_value(summary.decode_errors()).unwrap_or(Value::Null));
    let services = inventory.services();
    put(&mut r, "tlsaudit.stats.services", json!(services.len()));
    put(&mut r, "tlsaudit.stats.services_non_compliant", json!(services.iter().filter(|s| !s.compliant).count()));
    put(&mut r, "tlsaudit.stats.inventory_cap_hits", json!({"services": inventory.services_dropped, "clients": inventory.clients_dropped}));
    put(&mut r, "tlsaudit.stats.threads", json!(summary.threads));
    put(&mut r, "tlsaudit.stats.wall_time_seconds", json!(summary.wall_time.as_secs_f64()));
    Value::Object(r)
}
