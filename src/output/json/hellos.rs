//! A ClientHello's part of the session record, written once per worker.
//! Everything the record says of a ClientHello but its server name (its
//! suites by name, JA3 and JA4, versions, groups, signature algorithms,
//! extensions) depends on the hello alone, and clients send the same hello
//! again and again; so each worker keeps that JSON, with the fingerprints,
//! by the hello's facts (`facts_key::client_hello`, the name's presence
//! only), under a share of the memory limit, and copies it into the next
//! session whose hello is the same.

use std::borrow::Cow;

use super::super::json_writer::JsonWriter;
use super::codes::{without_grease, write_cipher_name, write_hex16, CodeList, Hex16};
use super::{fields_of, versions};
use crate::tls::facts::ClientHelloFacts;
use crate::tls::facts_key::{self, ServerNameInKey};
use crate::tls::fingerprint;
use crate::tls::names::{self, group_name};
use super::kept::Kept;

/// Hellos kept at most, whatever their size.
const ENTRIES: usize = 1024;
/// The most one worker's rendered hellos take (less when the memory limit
/// is small: `rendered_hellos_for`).
const MAX_BYTES: usize = 4 * 1024 * 1024;

/// The fingerprints of a ClientHello and the JSON written around its
/// server name.
#[derive(Clone)]
pub struct RenderedHello {
    /// JA3 (none for an SSL 2.0 hello) and JA4, for `related.hash`.
    pub ja3: Option<String>,
    pub ja4: String,
    /// `tls.client.supported_ciphers`, before the server name.
    pub ecs: Vec<u8>,
    /// `tls.client.ja3`, after the server name (empty without JA3).
    pub ja3_field: Vec<u8>,
    /// `tlsaudit.client.ja4` and `ja3_string`, before the server name's hex.
    pub fingerprint_fields: Vec<u8>,
    /// The `tlsaudit.client` fields after the server name.
    pub detail: Vec<u8>,
}

impl RenderedHello {
    fn of(ch: &ClientHelloFacts, transport: char) -> RenderedHello {
        // SSL 2.0 hellos have no JA3.
        let ja3_string = (!ch.sslv2_format).then(|| fingerprint::ja3_string(ch));
        let ja3 = ja3_string.as_deref().map(fingerprint::ja3_digest);
        let ecs = fields_of(|w| {
            if without_grease(&ch.ciphers).next().is_some() {
                w.field("supported_ciphers", &CodeList { values: &ch.ciphers, write: write_cipher_name });
            }
        });
        let ja4 = fingerprint::ja4(ch, transport);
        // Written once here, escaped as any text, and copied into each
        // session with this hello.
        let ja3_field = fields_of(|w| w.field_opt("ja3", ja3.as_deref()));
        let fingerprint_fields = fields_of(|w| {
            w.field("ja4", ja4.as_str());
            w.field_opt("ja3_string", ja3_string.as_deref());
        });
        RenderedHello { ja3, ja4, ecs, ja3_field, fingerprint_fields, detail: fields_of(|w| detail(w, ch)) }
    }

    fn bytes(&self) -> usize {
        let text = |s: &Option<String>| s.as_ref().map_or(0, |s| crate::memory::alloc_bytes(s.len()));
        text(&self.ja3)
            + crate::memory::alloc_bytes(self.ja4.len())
            + crate::memory::alloc_bytes(self.ecs.len())
            + crate::memory::alloc_bytes(self.ja3_field.len())
            + crate::memory::alloc_bytes(self.fingerprint_fields.len())
            + crate::memory::alloc_bytes(self.detail.len())
            + std::mem::size_of::<(Box<[u8]>, (RenderedHello, usize))>()
            + 32
    }
}

/// The `tlsaudit.client` fields of a ClientHello after its server name.
fn detail(w: &mut JsonWriter<'_>, ch: &ClientHelloFacts) {
    w.field("offered_versions", &versions(&ch.offered_versions()));
    w.field("legacy_version", &Hex16(ch.legacy_version));
    let groups: Vec<_> = without_grease(&ch.supported_groups).map(group_name).collect();
    if !groups.is_empty() {
        w.field("supported_groups", &groups);
    }
    let shares: Vec<_> = without_grease(&ch.key_share_groups).map(group_name).collect();
    if !shares.is_empty() {
        w.field("key_share_groups", &shares);
    }
    if without_grease(&ch.signature_algorithms).next().is_some() {
        w.field("signature_algorithms", &CodeList { values: &ch.signature_algorithms, write: write_hex16 });
    }
    if !ch.alpn.is_empty() {
        let alpn: Vec<_> = ch.alpn.iter().map(|a| String::from_utf8_lossy(a)).collect();
        w.field("alpn", &alpn);
    }
    w.field("compression_methods", &ch.compression_methods);
    let extensions: Vec<u16> = without_grease(&ch.extensions).collect();
    w.field("extensions", &extensions);
    w.field("extended_master_secret", &ch.extended_master_secret);
    w.field("encrypt_then_mac", &ch.encrypt_then_mac);
    w.field("renegotiation_info", &(ch.renegotiation_info || ch.ciphers.contains(&0x00ff)));
    w.field("fallback_scsv", &ch.ciphers.contains(&0x5600));
    w.field("session_ticket", &ch.session_ticket.is_some());
    w.field("status_request", &ch.status_request);
    w.field_opt("heartbeat_mode", ch.heartbeat_mode);
    w.field("sslv2_hello", &ch.sslv2_format);
    if !ch.use_srtp.is_empty() {
        let profiles: Vec<_> = ch.use_srtp.iter().map(|p| names::srtp_profile_name(*p)).collect();
        w.field("use_srtp", &profiles);
    }
    if let Some(q) = &ch.quic_transport_parameters {
        w.object("quic_transport_parameters");
        w.field("ids", &q.ids);
        w.field_opt("max_idle_timeout_ms", q.max_idle_timeout_ms);
        w.field_opt("max_udp_payload_size", q.max_udp_payload_size);
        w.field_opt("initial_max_data", q.initial_max_data);
        w.field("disable_active_migration", &q.disable_active_migration);
        if !q.available_versions.is_empty() {
            let names: Vec<String> = q.available_versions.iter().map(|v| crate::quic::version_label(*v)).collect();
            w.field("available_versions", &names);
        }
        w.close();
    }
    if !ch.malformed_extensions.is_empty() {
        w.field("malformed_extensions", &ch.malformed_extensions);
    }
}

/// The ClientHellos one worker wrote last, by their facts.
pub type RenderedHellos = Kept<RenderedHello>;

/// Rendered ClientHellos that keep at most `max_bytes`.
pub fn rendered_hellos(max_bytes: usize) -> RenderedHellos {
    Kept::new(ENTRIES, max_bytes)
}

/// For a worker whose connections may hold `connection_memory`: a
/// sixty-fourth of it, 4 MiB at most.
pub fn rendered_hellos_for(connection_memory: usize) -> RenderedHellos {
    rendered_hellos((connection_memory / 64).min(MAX_BYTES))
}

/// The hello's JSON and fingerprints, from an earlier session with the
/// same hello or written now (and kept). A QUIC hello, whose transport
/// parameters the key does not hold, is written every time.
pub(super) fn hello<'a>(kept: &'a mut RenderedHellos, ch: &ClientHelloFacts, transport: char) -> Cow<'a, RenderedHello> {
    if ch.quic_transport_parameters.is_some() {
        return Cow::Owned(RenderedHello::of(ch, transport));
    }
    let key = |key: &mut Vec<u8>| {
        key.extend_from_slice(&u32::from(transport).to_le_bytes());
        facts_key::client_hello(key, ch, ServerNameInKey::Presence);
    };
    kept.get(key, || RenderedHello::of(ch, transport), RenderedHello::bytes)
}

#[cfg(test)]
mod tests {
    use super::super::{written_for_test as written, RenderCaches};
    use crate::decode::Endpoint;
    use crate::tls::facts::{ClientHelloFacts, SessionFacts};

    /// One session from a client whose hello names `sni` (or none).
    fn session(sni: Option<&[u8]>) -> SessionFacts {
        let end = |ip: [u8; 4], port| Endpoint { ip: ip.into(), port };
        let mut f = SessionFacts::new(1_700_000_000_000_000, end([10, 0, 0, 1], 50_000), end([10, 0, 0, 2], 443), None);
        f.client_hello = Some(ClientHelloFacts {
            legacy_version: 0x0303,
            ciphers: vec![0x0a0a, 0x1301, 0xc02f, 0x002f],
            extensions: if sni.is_some() { vec![0x0000, 0x000a, 0x002b] } else { vec![0x000a, 0x002b] },
            server_name: sni.map(<[u8]>::to_vec),
            supported_groups: vec![0x001d, 0x0017],
            supported_versions: vec![0x0304, 0x0303],
            signature_algorithms: vec![0x0403, 0x0804],
            alpn: vec![b"h2".to_vec()],
            ..Default::default()
        });
        f
    }

    /// The same hello to three names (and none): what is copied from the
    /// worker's memory is what is written afresh, each with its own name.
    #[test]
    fn a_kept_hello_is_written_as_afresh_with_each_sessions_name() {
        let names: [Option<&[u8]>; 4] = [Some(b"a.test"), Some(b"b.test"), None, Some(b"a.test")];
        let mut kept = RenderCaches::new(1 << 20);
        for name in names {
            let f = session(name);
            let text = written(&f, &mut kept);
            assert_eq!(text, written(&f, &mut RenderCaches::new(0)));
            let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
            let sni = name.map(|n| String::from_utf8(n.to_vec()).unwrap());
            assert_eq!(v["tls"]["client"]["server_name"].as_str(), sni.as_deref());
            assert_eq!(v["tls"]["client"]["supported_ciphers"].as_array().map(Vec::len), Some(3), "{text}");
            assert!(v["tlsaudit"]["client"]["ja4"].as_str().is_some_and(|j| j.starts_with("t13")), "{text}");
        }
        // Two hellos kept: with a name and without (the extensions differ).
        assert!(kept.hellos.bytes() > 0);
        assert_eq!(kept.hellos.len(), 2);
    }
}
