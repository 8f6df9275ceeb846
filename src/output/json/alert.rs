//! `tlsaudit.alert`: one event per finding (ECS `event.kind: alert`), so a
//! SIEM can alert on `rule.id` and `event.severity` without reading the
//! session's findings array. A session's alerts follow its record; the
//! findings judged across a service's sessions (`kex.dh_reuse`,
//! `starttls.stripped`, `inventory.unlisted_service`) come with the
//! service records at the end of the run.

use std::sync::OnceLock;

use super::super::json_writer::{write_escaped_before, write_str, JsonValue, JsonWriter, Plain};
use super::{fields_of, ECS_VERSION};
use crate::inventory::{FindingCount, Service};
use crate::policy::rules::RULES;
use crate::policy::{Finding, Party, RuleId, Severity};
use crate::tls::facts::SessionFacts;
use crate::tls::names;
use crate::util::rfc3339::Rfc3339Micros;

/// Where the rules come from, for `rule.reference` (ECS: a URL).
const SP_800_52R2: &str = "https://doi.org/10.6028/NIST.SP.800-52r2";

/// `event.severity`: 1 (info) to 5 (critical), higher is worse.
pub fn severity_number(s: Severity) -> u8 {
    s as u8 + 1
}

/// `event.risk_score` (0 to 100), on the scale Elastic's detection rules
/// use for low, medium, high and critical.
pub fn risk_score(s: Severity) -> u8 {
    match s {
        Severity::Info => 0,
        Severity::Low => 21,
        Severity::Medium => 47,
        Severity::High => 73,
        Severity::Critical => 99,
    }
}

/// The rule's family: the part of its id before the dot ("cipher").
fn family(rule: RuleId) -> &'static str {
    rule.as_str().split('.').next().unwrap_or_default()
}

/// Appends one alert per finding of a session to `buf`, each a line.
/// `endpoints` are the session's `source`, `destination` and `network`
/// (`endpoint_fields`).
///
/// An alert is its finding's severity, message, rule and party between
/// parts that every alert of the session repeats: its time, endpoints, TLS
/// version and cipher, `related` and the policy. The first alert is written
/// in full and the others copy those parts from it, so that each costs a
/// few copies (the layout is `JsonWriter`'s, which a test checks).
pub fn session_alerts(f: &SessionFacts, findings: &[Finding], policy: &str, stamp: &[u8], endpoints: &[u8], buf: &mut Vec<u8>) {
    let Some((first, rest)) = findings.split_first() else { return };
    // `{`, the stamp, `@timestamp`, `ecs`, and `event` up to its severity.
    let at = buf.len();
    buf.push(b'{');
    buf.extend_from_slice(stamp);
    super::write_fields(buf, |w| {
        w.field("@timestamp", &Rfc3339Micros(f.first_seen));
        w.object("ecs");
        w.field("version", &Plain(ECS_VERSION));
        w.close();
    });
    buf.extend_from_slice(b",\"event\":{");
    buf.extend_from_slice(event_fields());
    buf.push(b',');
    let before_severity = at..buf.len();
    buf.extend_from_slice(severity_fields(first.severity));
    // The rest of `event` up to the message.
    let at = buf.len();
    buf.extend_from_slice(b",\"start\":");
    Rfc3339Micros(f.first_seen).write_json(buf);
    buf.extend_from_slice(b",\"end\":");
    Rfc3339Micros(f.last_seen).write_json(buf);
    buf.extend_from_slice(b"},\"message\":");
    let before_message = at..buf.len();
    write_escaped_before(buf, &first.message_json);
    buf.extend_from_slice(RULE_OPEN);
    buf.extend_from_slice(rule_fields(first.rule));
    // `ruleset`, what the session's alerts share, and `tlsaudit` up to the
    // finding.
    let at = buf.len();
    buf.extend_from_slice(b",\"ruleset\":");
    write_str(buf, policy);
    buf.extend_from_slice(b"},");
    super::write_fields(buf, |w| {
        w.raw_fields(endpoints);
        if let Some(v) = f.version() {
            w.object("tls");
            w.field_opt("version", names::version_name(v).map(Plain));
            w.field("version_protocol", &Plain(names::version_protocol(v)));
            if let Some(sh) = &f.server_hello {
                w.field("cipher", &Plain(names::cipher_name(sh.cipher)));
            }
            w.close();
        }
        super::related(w, f, std::iter::empty());
    });
    buf.extend_from_slice(b",\"tlsaudit\":{");
    let before_finding = at..buf.len();
    buf.extend_from_slice(finding_fields(first.severity, first.party));
    // The policy and the end of the line.
    let at = buf.len();
    buf.extend_from_slice(b",\"policy\":");
    write_str(buf, policy);
    buf.extend_from_slice(b"}}\n");
    let end = at..buf.len();
    for finding in rest {
        buf.extend_from_within(before_severity.clone());
        buf.extend_from_slice(severity_fields(finding.severity));
        buf.extend_from_within(before_message.clone());
        write_escaped_before(buf, &finding.message_json);
        buf.extend_from_slice(RULE_OPEN);
        buf.extend_from_slice(rule_fields(finding.rule));
        buf.extend_from_within(before_finding.clone());
        buf.extend_from_slice(finding_fields(finding.severity, finding.party));
        buf.extend_from_within(end.clone());
    }
}

/// Between an alert's message and its rule's fields.
const RULE_OPEN: &[u8] = b",\"rule\":{";

/// What the `event` object of every alert starts with.
fn event_fields() -> &'static [u8] {
    static FIELDS: OnceLock<Vec<u8>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        fields_of(|w| {
            w.field("kind", &Plain("alert"));
            w.field("category", &["network"]);
            w.field("type", &["info"]);
            w.field("dataset", &Plain("tlsaudit.alert"));
        })
    })
}

const SEVERITIES: [Severity; 5] = [Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];
const PARTIES: [Party; 3] = [Party::Server, Party::Client, Party::Both];

/// `event.severity` and `event.risk_score` of an alert of each severity,
/// written once per run.
fn severity_fields(s: Severity) -> &'static [u8] {
    static FIELDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let all = FIELDS.get_or_init(|| {
        SEVERITIES
            .iter()
            .map(|&s| {
                fields_of(|w| {
                    w.field("severity", &severity_number(s));
                    w.field("risk_score", &risk_score(s));
                })
            })
            .collect()
    });
    let at = SEVERITIES.iter().position(|&x| x == s).unwrap_or(0);
    all.get(at).map_or(&[][..], Vec::as_slice)
}

/// `tlsaudit.finding` of an alert of each severity and party, written once
/// per run.
fn finding_fields(s: Severity, party: Party) -> &'static [u8] {
    static FIELDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let all = FIELDS.get_or_init(|| {
        SEVERITIES
            .iter()
            .flat_map(|&s| PARTIES.iter().map(move |&p| (s, p)))
            .map(|(s, p)| {
                fields_of(|w| {
                    w.object("finding");
                    w.field("severity", &Plain(s.as_str()));
                    w.field("party", &Plain(p.as_str()));
                    w.close();
                })
            })
            .collect()
    });
    let severity = SEVERITIES.iter().position(|&x| x == s).unwrap_or(0);
    let at = severity * PARTIES.len() + PARTIES.iter().position(|&p| p == party).unwrap_or(0);
    all.get(at).map_or(&[][..], Vec::as_slice)
}

/// A rule's fields of the `rule` object (all but `ruleset`), written once
/// per run: every alert of the rule repeats them.
fn rule_fields(id: RuleId) -> &'static [u8] {
    static FIELDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let all = FIELDS.get_or_init(|| {
        RULES
            .iter()
            .map(|rule| {
                fields_of(|w| {
                    w.field("id", &Plain(rule.id.as_str()));
                    w.field("name", rule.flags);
                    w.field("category", family(rule.id));
                    w.field("description", rule.required_by);
                    if rule.required_by.contains("NIST SP 800-52r2") {
                        w.field("reference", SP_800_52R2);
                    }
                })
            })
            .collect()
    });
    all.get(id as usize).map_or(&[][..], Vec::as_slice)
}

/// The alerts of a service's findings judged across its sessions.
/// The findings of a service that make alerts of their own: those of the
/// rules judged across its sessions.
pub fn service_alert_findings<'a>(s: &'a Service, judged_per_service: &'a [RuleId]) -> impl Iterator<Item = &'a FindingCount> + 'a {
    s.findings.values().filter(move |f| judged_per_service.contains(&f.rule))
}

/// Appends the alert of a finding judged across a service's sessions to
/// `buf` (no line end), with `observer.name` when there is one. Keys go in
/// sorted order at every level, as the records of this kind always had.
pub fn write_service_alert(buf: &mut Vec<u8>, s: &Service, f: &FindingCount, policy: &str, observer: Option<&str>) {
    let rule = f.rule.rule();
    let mut w = JsonWriter::new(buf);
    w.field("@timestamp", &Rfc3339Micros(f.example_at));
    super::closing::destination_and_ecs(&mut w, s);
    w.object("event");
    w.field("category", &["network"]);
    w.field("dataset", &Plain("tlsaudit.alert"));
    w.field("end", &Rfc3339Micros(s.last_seen));
    w.field("kind", &Plain("alert"));
    w.field("risk_score", &risk_score(f.severity));
    w.field("severity", &severity_number(f.severity));
    w.field("start", &Rfc3339Micros(s.first_seen));
    w.field("type", &["info"]);
    w.close();
    w.field("message", &f.example);
    super::closing::network_and_observer(&mut w, s, observer);
    w.object("related");
    w.field("ip", &[&s.ip]);
    w.close();
    w.object("rule");
    w.field("category", family(f.rule));
    w.field("description", rule.required_by);
    w.field("id", &Plain(f.rule.as_str()));
    w.field("name", rule.flags);
    if rule.required_by.contains("NIST SP 800-52r2") {
        w.field("reference", SP_800_52R2);
    }
    w.field("ruleset", policy);
    w.close();
    w.object("tlsaudit");
    w.object("finding");
    w.field("party", &Plain("server"));
    w.field("sessions", &f.count);
    w.field("severity", &Plain(f.severity.as_str()));
    w.close();
    w.field("policy", policy);
    w.close();
    w.finish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Endpoint;
    use crate::tls::facts::{ClientHelloFacts, ServerHelloFacts};

    /// The alerts as `JsonWriter` lays them out, one writer per alert.
    fn written_with_a_writer(f: &SessionFacts, findings: &[Finding], policy: &str, stamp: &[u8], endpoints: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        for finding in findings {
            let mut w = JsonWriter::stamped(&mut buf, stamp);
            w.field("@timestamp", &Rfc3339Micros(f.first_seen));
            w.object("ecs");
            w.field("version", &Plain(ECS_VERSION));
            w.close();
            w.object("event");
            w.raw_fields(event_fields());
            w.raw_fields(severity_fields(finding.severity));
            w.field("start", &Rfc3339Micros(f.first_seen));
            w.field("end", &Rfc3339Micros(f.last_seen));
            w.close();
            w.field("message", &finding.message);
            w.object("rule");
            w.raw_fields(rule_fields(finding.rule));
            w.field("ruleset", policy);
            w.close();
            w.raw_fields(endpoints);
            if let Some(v) = f.version() {
                w.object("tls");
                w.field_opt("version", names::version_name(v).map(Plain));
                w.field("version_protocol", &Plain(names::version_protocol(v)));
                if let Some(sh) = &f.server_hello {
                    w.field("cipher", &Plain(names::cipher_name(sh.cipher)));
                }
                w.close();
            }
            super::super::related(&mut w, f, std::iter::empty());
            w.object("tlsaudit");
            w.raw_fields(finding_fields(finding.severity, finding.party));
            w.field("policy", policy);
            w.close();
            w.finish();
            buf.push(b'\n');
        }
        buf
    }

    fn finding(rule: RuleId, severity: Severity, party: Party, message: &str) -> Finding {
        Finding::new(rule, severity, party, message)
    }

    /// Alerts copied from the session's first one are what a writer lays
    /// out afresh: with and without a stamp, a hello, a ServerHello, an
    /// SNI; messages and a policy name that need escaping.
    #[test]
    fn copied_alerts_are_laid_out_as_a_writer_writes_them() {
        let end = |ip: [u8; 4], port| Endpoint { ip: ip.into(), port };
        let mut sessions = vec![SessionFacts::new(1_700_000_000_123_456, end([10, 0, 0, 1], 50_000), end([10, 0, 0, 2], 443), Some(7))];
        let mut hello = sessions[0].clone();
        hello.client_hello = Some(ClientHelloFacts { legacy_version: 0x0303, server_name: Some(b"a\"b.test".to_vec()), ..Default::default() });
        hello.last_seen = 1_700_000_001_000_000;
        sessions.push(hello.clone());
        let mut answered = hello;
        answered.server_hello = Some(ServerHelloFacts { legacy_version: 0x0303, cipher: 0x000a, ..Default::default() });
        answered.server = end([10, 0, 0, 1], 993);
        sessions.push(answered);
        let findings = [
            finding(RuleId::Cipher3des, Severity::High, Party::Server, "negotiated TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
            finding(RuleId::CipherNoFs, Severity::Medium, Party::Both, "no forward secrecy: \"RSA\"\n\u{1b}[31m"),
            finding(RuleId::ProtoNoTls13, Severity::Low, Party::Client, ""),
            finding(RuleId::Cipher3des, Severity::Critical, Party::Server, "again"),
        ];
        let mut compared = 0;
        for f in &sessions {
            let endpoints = super::super::endpoint_fields(f);
            for stamp in [&b""[..], b"\"observer\":{\"name\":\"tap\\\"1\"},"] {
                for policy in ["hipaa", "site \"strict\""] {
                    for n in 0..=findings.len() {
                        let mut ours = b"before\n".to_vec();
                        session_alerts(f, &findings[..n], policy, stamp, &endpoints, &mut ours);
                        let mut expected = b"before\n".to_vec();
                        expected.extend(written_with_a_writer(f, &findings[..n], policy, stamp, &endpoints));
                        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&expected));
                        for line in ours.split(|&b| b == b'\n').skip(1).filter(|l| !l.is_empty()) {
                            let v: serde_json::Value = serde_json::from_slice(line).expect("valid JSON");
                            assert_eq!(v["tlsaudit"]["policy"], policy);
                        }
                        compared += n;
                    }
                }
            }
        }
        assert_eq!(compared, 3 * 2 * 2 * 10);
    }
}
