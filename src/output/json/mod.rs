//! JSON records (docs/SCHEMA.md): nested objects with ECS field names;
//! fields that were not observed are omitted. The `tlsaudit.session`
//! record is written here straight into bytes; the closing records
//! (services, stats) are in `closing`.

mod alert;
mod certificates;
mod codes;
mod closing;
mod hellos;
mod kept;
mod server_hellos;

pub use alert::{service_alert_findings, session_alerts, write_service_alert};
pub use certificates::RenderedCertificates;
pub use hellos::RenderedHellos;
pub use server_hellos::RenderedServerHellos;
pub use closing::{stats, write_service};

use serde_json::{Map, Value};

use super::json_writer::{self, JsonValue, JsonWriter, Plain, Text};
use codes::Hex16;
use hellos::RenderedHello;
use crate::util::rfc3339::Rfc3339Micros;
use crate::policy::{Exempted, Finding, Verdict};
use crate::tls::facts::{ClientHelloFacts, QuicFacts, SessionFacts};
use crate::tls::fingerprint;
use crate::tls::names::{self, cipher_name, group_name};

/// The ECS release the records follow (docs/SCHEMA.md).
pub const ECS_VERSION: &str = "9.4.0";

/// Sets `value` at a dotted path of nested objects.
pub(super) fn put(root: &mut Map<String, Value>, path: &str, value: Value) {
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

fn versions(v: &[u16]) -> Vec<&'static str> {
    v.iter().filter_map(|v| names::version_name(*v)).collect()
}

/// The fields `write` puts into an object of its own, without the braces:
/// a part written once and copied into many records (`JsonWriter::raw_fields`).
fn fields_of(write: impl FnOnce(&mut JsonWriter<'_>)) -> Vec<u8> {
    let mut fields = Vec::with_capacity(256);
    write_fields(&mut fields, write);
    fields
}

/// Appends the fields `write` writes to `buf`, as `fields_of` returns them.
fn write_fields(buf: &mut Vec<u8>, write: impl FnOnce(&mut JsonWriter<'_>)) {
    let mut w = JsonWriter::inside(buf);
    write(&mut w);
    w.finish_inside();
}

/// Text of attacker-supplied bytes: as-is when valid UTF-8 (JSON escaping
/// makes control characters harmless), else with replacement characters;
/// `wire_hex` then writes the exact bytes under `tlsaudit.`.
fn wire_string(w: &mut JsonWriter<'_>, key: &'static str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => w.field(key, s),
        Err(_) => w.field(key, &String::from_utf8_lossy(bytes)),
    }
}

/// The hex copy of attacker-supplied bytes that are not UTF-8.
fn wire_hex(w: &mut JsonWriter<'_>, key: &'static str, bytes: &[u8]) {
    if std::str::from_utf8(bytes).is_err() {
        w.field(key, &crate::util::hex::lower(bytes));
    }
}

/// `tls.client` fields of the ClientHello, in the innermost object.
fn client_hello_ecs(w: &mut JsonWriter<'_>, ch: &ClientHelloFacts, hello: &RenderedHello) {
    w.raw_fields(&hello.ecs);
    if let Some(sni) = &ch.server_name {
        wire_string(w, "server_name", sni);
    }
    w.raw_fields(&hello.ja3_field);
}

/// `tlsaudit.client` fields of the ClientHello, in the innermost object.
fn client_hello_detail(w: &mut JsonWriter<'_>, ch: &ClientHelloFacts, hello: &RenderedHello) {
    w.raw_fields(&hello.fingerprint_fields);
    if let Some(sni) = &ch.server_name {
        wire_hex(w, "server_name_hex", sni);
    }
    w.raw_fields(&hello.detail);
}

/// `tlsaudit.quic`: what the long-header packets showed.
fn quic_detail(w: &mut JsonWriter<'_>, q: &QuicFacts) {
    w.object("quic");
    w.field("version", &crate::quic::version_label(q.version()));
    if q.server_version.is_some_and(|v| v != q.client_version) {
        w.field("client_version", &crate::quic::version_label(q.client_version));
    }
    if !q.version_negotiation.is_empty() {
        let names: Vec<String> = q.version_negotiation.iter().map(|v| crate::quic::version_label(*v)).collect();
        w.field("version_negotiation", &names);
    }
    w.field("retry", &q.retry);
    w.field("zero_rtt", &q.zero_rtt);
    w.object("initial_packets");
    w.field("client", &q.initial_packets[0]);
    w.field("server", &q.initial_packets[1]);
    w.close();
    w.object("handshake_packets");
    w.field("client", &q.handshake_packets[0]);
    w.field("server", &q.handshake_packets[1]);
    w.close();
    if q.undecryptable_initials > 0 {
        w.field("undecryptable_initials", &q.undecryptable_initials);
    }
    if let Some((code, from)) = q.close {
        w.object("connection_close");
        w.field("error_code", &code);
        w.field("from", &Plain(from.as_str()));
        w.close();
    }
    w.close();
}

/// A finding's fields, in the innermost object.
fn finding_fields(w: &mut JsonWriter<'_>, x: &Finding) {
    w.field("rule", &Plain(x.rule.as_str()));
    w.field("severity", &Plain(x.severity.as_str()));
    w.field("party", &Plain(x.party.as_str()));
    w.field("message", &x.message);
}

/// A session's findings, as an array of objects.
struct Findings<'a>(&'a [Finding]);

impl JsonValue for Findings<'_> {
    /// Four fields each, always there: written straight, the program's own
    /// names unescaped, only the message escaped.
    fn write_json(&self, buf: &mut Vec<u8>) {
        json_writer::write_array(buf, self.0, |buf, x| {
            buf.extend_from_slice(b"{\"rule\":");
            json_writer::write_plain(buf, x.rule.as_str());
            buf.extend_from_slice(b",\"severity\":");
            json_writer::write_plain(buf, x.severity.as_str());
            buf.extend_from_slice(b",\"party\":");
            json_writer::write_plain(buf, x.party.as_str());
            buf.extend_from_slice(b",\"message\":");
            json_writer::write_escaped_before(buf, &x.message_json);
            buf.push(b'}');
        });
    }
}

/// The findings an exception set aside, each with its justification.
struct ExemptedFindings<'a>(&'a [Exempted]);

impl JsonValue for ExemptedFindings<'_> {
    fn write_json(&self, buf: &mut Vec<u8>) {
        json_writer::write_array(buf, self.0, |buf, x| {
            let mut w = JsonWriter::new(buf);
            finding_fields(&mut w, &x.finding);
            w.field("justification", &x.justification);
            w.field("expires", &x.expires);
            w.finish();
        });
    }
}

/// `"observer":{"name":...},` for `session_stamped`, the name JSON-escaped.
pub fn observer_prefix(name: &str) -> Vec<u8> {
    let mut prefix = b"\"observer\":{\"name\":".to_vec();
    crate::output::json_writer::write_str(&mut prefix, name);
    prefix.extend_from_slice(b"},");
    prefix
}

/// `"log":{"file":{"path":...}},` for `session_stamped`: the capture file a
/// session came from (ECS `log.file.path`).
pub fn file_prefix(path: &str) -> Vec<u8> {
    let mut prefix = b"\"log\":{\"file\":{\"path\":".to_vec();
    crate::output::json_writer::write_str(&mut prefix, path);
    prefix.extend_from_slice(b"}},");
    prefix
}

/// What a record written into bytes starts with: `@timestamp` (`at`),
/// `ecs.version`, and `event` with its kind, category (network), types and
/// dataset, left open for the record's own event fields.
fn open_event(w: &mut JsonWriter<'_>, at: i64, kind: &'static str, types: &[Plain], dataset: &'static str) {
    w.field("@timestamp", &Rfc3339Micros(at));
    w.object("ecs");
    w.field("version", &Plain(ECS_VERSION));
    w.close();
    w.object("event");
    w.field("kind", &Plain(kind));
    w.field("category", &[Plain("network")]);
    w.field("type", types);
    w.field("dataset", &Plain(dataset));
}

/// `source`, `destination` and `network` of a session, as fields to copy
/// into its record and its alerts (`JsonWriter::raw_fields`).
pub fn endpoint_fields(f: &SessionFacts) -> Vec<u8> {
    fields_of(|w| endpoints(w, f))
}

/// Appends `endpoint_fields` to `buf` (a buffer used again for each session).
pub fn write_endpoint_fields(buf: &mut Vec<u8>, f: &SessionFacts) {
    write_fields(buf, |w| endpoints(w, f));
}

/// `source`, `destination` and `network` of a session.
fn endpoints(w: &mut JsonWriter<'_>, f: &SessionFacts) {
    w.object("source");
    w.field("ip", &f.client.ip);
    w.field("port", &f.client.port);
    w.close();
    w.object("destination");
    w.field("ip", &f.server.ip);
    w.field("port", &f.server.port);
    w.close();
    w.object("network");
    w.field("transport", &Plain(f.carrier.transport().as_str()));
    w.field("protocol", &Plain(f.protocol()));
    w.object("vlan");
    // ECS has VLAN ids as keywords.
    w.field_opt("id", f.vlan.map(Text));
    w.close();
    w.close();
}

/// `related`: both addresses, the SNI, and `hashes` (fingerprints and
/// certificate hashes), for ECS's pivots.
fn related<'h>(w: &mut JsonWriter<'_>, f: &SessionFacts, hashes: impl Iterator<Item = &'h str>) {
    w.object("related");
    if f.client.ip == f.server.ip {
        w.field("ip", &[f.client.ip]);
    } else {
        w.field("ip", &[f.client.ip, f.server.ip]);
    }
    if let Some(sni) = f.client_hello.as_ref().and_then(|ch| ch.server_name.as_deref()) {
        w.array("hosts");
        w.element(&String::from_utf8_lossy(sni));
        w.close();
    }
    let mut hashes = hashes.peekable();
    if hashes.peek().is_some() {
        w.array("hash");
        for h in hashes {
            w.element(h);
        }
        w.close();
    }
    w.close();
}

/// Appends the `tlsaudit.session` record of one connection to `buf` (one
/// JSON object, no newline).
pub fn session(f: &SessionFacts, verdict: &Verdict, policy: &str, buf: &mut Vec<u8>) {
    session_stamped(f, verdict, policy, &[], &endpoint_fields(f), &mut RenderCaches::new(0), buf);
}

/// A session's record as the worker writes it with `caches`, with no
/// findings (for the tests of what the caches keep).
#[cfg(test)]
fn written_for_test(f: &SessionFacts, caches: &mut RenderCaches) -> String {
    let mut buf = Vec::new();
    session_stamped(f, &Verdict::default(), "hipaa", &[], &endpoint_fields(f), caches, &mut buf);
    String::from_utf8(buf).expect("UTF-8")
}

/// The JSON a worker keeps of what it wrote, to copy into later sessions:
/// certificates by their digest, ClientHellos and ServerHellos by their
/// facts.
pub struct RenderCaches {
    pub certificates: RenderedCertificates,
    pub hellos: RenderedHellos,
    pub server_hellos: RenderedServerHellos,
    /// The session's `endpoint_fields`, written here for each session in turn.
    pub endpoints: Vec<u8>,
}

impl RenderCaches {
    /// Each keeping at most `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        RenderCaches {
            certificates: RenderedCertificates::new(max_bytes),
            hellos: hellos::rendered_hellos(max_bytes),
            server_hellos: server_hellos::rendered_server_hellos(max_bytes),
            endpoints: Vec::new(),
        }
    }

    /// For a worker whose connections may hold `connection_memory`: a
    /// sixty-fourth of it for certificates and for ClientHellos, 4 MiB at
    /// most each, a 256th for ServerHellos, 1 MiB at most.
    pub fn for_connection_memory(connection_memory: usize) -> Self {
        RenderCaches {
            certificates: RenderedCertificates::for_connection_memory(connection_memory),
            hellos: hellos::rendered_hellos_for(connection_memory),
            server_hellos: server_hellos::rendered_server_hellos_for(connection_memory),
            endpoints: Vec::new(),
        }
    }
}

/// `session`, the record starting with `stamp` (from `observer_prefix`,
/// `file_prefix`), written in place rather than copied in afterwards, with
/// `endpoints` (`endpoint_fields`, written once for the record and its
/// alerts), and its certificates and ClientHello copied from `caches` when
/// written there before.
pub fn session_stamped(
    f: &SessionFacts,
    verdict: &Verdict,
    policy: &str,
    stamp: &[u8],
    endpoints: &[u8],
    caches: &mut RenderCaches,
    buf: &mut Vec<u8>,
) {
    let RenderCaches { certificates: certs, hellos, server_hellos, .. } = caches;
    let mut w = JsonWriter::stamped(buf, stamp);
    let version = f.version();
    let hello = f.client_hello.as_ref().map(|ch| hellos::hello(hellos, ch, f.carrier.ja4_prefix()));
    let server_hello = f.server_hello.as_ref().map(|sh| server_hellos::server_hello(server_hellos, sh));
    let ja3s = server_hello.as_ref().map(|s| s.ja3s.as_str());
    open_event(&mut w, f.first_seen, "event", &[Plain("connection"), Plain("protocol")], "tlsaudit.session");
    w.field("start", &Rfc3339Micros(f.first_seen));
    w.field("end", &Rfc3339Micros(f.last_seen));
    w.close();
    w.raw_fields(endpoints);
    let certificates = f.server_certificates.iter().chain(&f.client_certificates).map(|c| c.sha256.as_str());
    let ja3 = hello.as_ref().and_then(|h| h.ja3.as_deref());
    let ja4 = hello.as_ref().map(|h| h.ja4.as_str());
    related(&mut w, f, ja3.into_iter().chain(ja3s).chain(ja4).chain(certificates));

    if let Some(c) = &f.cleartext {
        w.object("tlsaudit");
        super::cleartext::detail(&mut w, c);
        return session_end(w, f, verdict, policy);
    }
    w.object("tls");
    if let Some(v) = version {
        w.field_opt("version", names::version_name(v).map(Plain));
        w.field("version_protocol", &Plain(names::version_protocol(v)));
    }
    if let Some(sh) = &f.server_hello {
        w.field("cipher", &Plain(cipher_name(sh.cipher)));
        if let Some(alpn) = &sh.alpn {
            wire_string(&mut w, "next_protocol", alpn);
        }
    }
    w.field_opt("curve", f.group().map(|g| Plain(group_name(g))));
    if f.server_hello.is_some() || f.sslv2_server_hello {
        w.field("established", &f.established);
        w.field("resumed", &f.resumed());
    } else {
        w.field("established", &false);
    }
    w.object("server");
    w.field_opt("ja3s", ja3s);
    if let Some(leaf) = f.server_certificates.first() {
        certs.leaf(&mut w, leaf);
    }
    w.close();
    w.object("client");
    if let (Some(ch), Some(hello)) = (&f.client_hello, &hello) {
        client_hello_ecs(&mut w, ch, hello);
    }
    if let Some(leaf) = f.client_certificates.first() {
        certs.leaf(&mut w, leaf);
    }
    w.close();
    w.close();

    w.object("tlsaudit");
    w.field("encrypted", &true);
    if let Some(v) = version {
        if let Some(draft) = names::tls13_draft_number(v) {
            w.field("tls13_draft", &draft);
        }
        w.field("cert_observable", &!f.is_tls13());
    }
    w.object("server");
    if let Some(server_hello) = &server_hello {
        w.field("ja3s_string", server_hello.ja3s_string.as_str());
        w.raw_fields(&server_hello.detail);
    }
    if let Some(hrr) = &f.hello_retry {
        w.object("hello_retry_request");
        w.field_opt("version", names::version_name(hrr.version).map(Plain));
        w.field("cipher", &Plain(cipher_name(hrr.cipher)));
        w.field_opt("group", hrr.selected_group.map(|g| Plain(group_name(g))));
        w.close();
    }
    if !f.server_certificates.is_empty() {
        w.array("certificates");
        for c in &f.server_certificates {
            certs.chain_element(&mut w, c);
        }
        w.close();
    }
    if f.certificate_chain_truncated {
        w.field("certificate_chain_truncated", &true);
    }
    if f.ocsp_stapled {
        w.field("ocsp_stapled", &true);
    }
    if f.client_certificate_requested {
        w.field("client_certificate_requested", &true);
    }
    w.field_opt("ticket_lifetime_hint", f.new_session_ticket_lifetime);
    w.close();
    w.object("client");
    if let (Some(ch), Some(hello)) = (&f.client_hello, &hello) {
        client_hello_detail(&mut w, ch, hello);
    }
    if let Some(retried) = &f.retried_client_hello {
        // The ClientHello sent again after the HelloRetryRequest.
        w.object("retried_hello");
        w.field("ja4", &fingerprint::ja4(retried, f.carrier.ja4_prefix()));
        w.field("ja3", &fingerprint::ja3(retried));
        let shares: Vec<_> = retried.key_share_groups.iter().map(|g| Plain(group_name(*g))).collect();
        w.field("key_share_groups", &shares);
        w.close();
    }
    w.close();
    if let Some(kx) = &f.key_exchange {
        w.object("kex");
        w.field("method", &Plain(kx.method.name()));
        w.field_opt("dh_bits", kx.dh_bits);
        w.field_opt("srp_bits", kx.srp_bits);
        w.field_opt("rsa_bits", kx.rsa_bits);
        w.field_opt("curve", kx.curve.map(|g| Plain(group_name(g))));
        if kx.psk_hint {
            w.field("psk_hint", &true);
        }
        w.field("signed", &kx.signed);
        w.field_opt("signature_scheme", kx.signature_scheme.map(Hex16));
        w.close();
    }
    if let Some(a) = &f.alert {
        w.object("alert");
        w.field("level", &names::alert_level(a.level));
        w.field("description", &names::alert_description(a.description));
        w.field("from", &Plain(a.from.as_str()));
        w.close();
    }
    if let Some(p) = f.preamble {
        // The clear-text phase: whether the server offered the upgrade
        // and the client asked for it (TLS followed, so it was accepted).
        w.object("upgrade");
        w.field("offered", &p.offered);
        w.field("requested", &p.requested);
        if p.login_only {
            w.field("login_only", &true);
        }
        w.close();
    }
    if let Some(q) = f.carrier.quic() {
        quic_detail(&mut w, q);
    }
    if let Some(d) = f.carrier.dtls() {
        w.object("dtls");
        w.field("hello_verify_request", &d.hello_verify_request);
        w.field("retransmitted_messages", &d.retransmitted_messages);
        w.field("fragmented_messages", &d.fragmented_messages);
        w.close();
    }
    session_end(w, f, verdict, policy);
}

/// What every session record ends with, TLS or not: the tunnel, the limits
/// of the analysis, the findings and the verdict.
fn session_end(mut w: JsonWriter<'_>, f: &SessionFacts, verdict: &Verdict, policy: &str) {
    if let Some(t) = &f.tunnel {
        w.object("tunnel");
        w.field("type", &Plain(t.kind.as_str()));
        w.field_opt("id", t.id);
        if let Some((client_side, server_side)) = t.outer {
            w.field("outer_source_ip", &Text(client_side));
            w.field("outer_destination_ip", &Text(server_side));
        }
        w.close();
    }
    if f.incomplete {
        w.field("incomplete", &true);
    }
    if !f.limits_hit.is_empty() {
        w.field("limits_hit", &f.limits_hit.names());
    }
    if f.tcp_overlap_conflicts > 0 {
        w.field("tcp_overlap_conflicts", &f.tcp_overlap_conflicts);
    }
    if !f.malformed_messages.is_empty() {
        w.field("malformed_messages", &f.malformed_messages);
    }
    if f.client_hello_count > 1 {
        w.field("client_hello_count", &f.client_hello_count);
    }
    w.field("findings", &Findings(&verdict.findings));
    if !verdict.exempted.is_empty() {
        w.field("exempted", &ExemptedFindings(&verdict.exempted));
    }
    w.field("assessment", &Plain(verdict.assessment.as_str()));
    w.field("compliant", &verdict.is_compliant());
    w.field("policy", policy);
    w.close();
    w.finish();
}
