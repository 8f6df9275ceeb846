//! A ServerHello's part of the session record, written once per worker.
//! JA3S, the string it digests and the `tlsaudit.server` fields of a
//! ServerHello depend on the hello alone (but its session id and key share,
//! which the record does not show), and a server answers the same hello the
//! same way again and again; so each worker keeps that part by the hello's
//! facts (`facts_key::server_hello`), under a share of the memory limit, and
//! copies it into the next session whose ServerHello is the same. An MD5
//! digest and a dozen fields per session become one lookup.

use std::borrow::Cow;

use super::super::json_writer::JsonWriter;
use super::codes::Hex16;
use super::{fields_of, wire_hex};
use crate::tls::facts::ServerHelloFacts;
use crate::tls::facts_key;
use crate::tls::fingerprint;
use crate::tls::names;
use super::kept::Kept;

/// ServerHellos kept at most, whatever their size.
const ENTRIES: usize = 1024;
/// The most one worker's rendered ServerHellos take (less when the memory
/// limit is small: `rendered_server_hellos_for`). An entry
/// is about 400 bytes.
const MAX_BYTES: usize = 1024 * 1024;

/// The JA3S of a ServerHello and its `tlsaudit.server` fields.
#[derive(Clone)]
pub struct RenderedServerHello {
    pub ja3s_string: String,
    pub ja3s: String,
    /// The `tlsaudit.server` fields after `ja3s_string`.
    pub detail: Vec<u8>,
}

impl RenderedServerHello {
    fn of(sh: &ServerHelloFacts) -> RenderedServerHello {
        let ja3s_string = fingerprint::ja3s_string(sh);
        let ja3s = fingerprint::ja3_digest(&ja3s_string);
        RenderedServerHello { ja3s_string, ja3s, detail: fields_of(|w| detail(w, sh)) }
    }

    fn bytes(&self) -> usize {
        crate::memory::alloc_bytes(self.ja3s_string.len())
            + crate::memory::alloc_bytes(self.ja3s.len())
            + crate::memory::alloc_bytes(self.detail.len())
            + std::mem::size_of::<(Box<[u8]>, (RenderedServerHello, usize))>()
            + 32
    }
}

/// The `tlsaudit.server` fields of a ServerHello after `ja3s_string`.
fn detail(w: &mut JsonWriter<'_>, sh: &ServerHelloFacts) {
    if let Some(alpn) = &sh.alpn {
        wire_hex(w, "next_protocol_hex", alpn);
    }
    w.field("legacy_version", &Hex16(sh.legacy_version));
    w.field("compression_method", &sh.compression_method);
    w.field("extensions", &sh.extensions);
    w.field("extended_master_secret", &sh.extended_master_secret);
    w.field("encrypt_then_mac", &sh.encrypt_then_mac);
    w.field("renegotiation_info", &sh.renegotiation_info);
    w.field("session_ticket", &sh.session_ticket);
    w.field_opt("heartbeat_mode", sh.heartbeat_mode);
    w.field_opt("use_srtp", sh.use_srtp.map(names::srtp_profile_name));
}

/// The ServerHellos one worker wrote last, by their facts.
pub type RenderedServerHellos = Kept<RenderedServerHello>;

/// Rendered ServerHellos that keep at most `max_bytes`.
pub fn rendered_server_hellos(max_bytes: usize) -> RenderedServerHellos {
    Kept::new(ENTRIES, max_bytes)
}

/// For a worker whose connections may hold `connection_memory`: a 256th of
/// it, 1 MiB at most.
pub fn rendered_server_hellos_for(connection_memory: usize) -> RenderedServerHellos {
    rendered_server_hellos((connection_memory / 256).min(MAX_BYTES))
}

/// The ServerHello's part of the record, from an earlier session with the
/// same ServerHello or written now (and kept).
pub(super) fn server_hello<'a>(kept: &'a mut RenderedServerHellos, sh: &ServerHelloFacts) -> Cow<'a, RenderedServerHello> {
    kept.get(|key| facts_key::server_hello(key, sh), || RenderedServerHello::of(sh), RenderedServerHello::bytes)
}

#[cfg(test)]
mod tests {
    use super::super::{written_for_test as written, RenderCaches};
    use crate::decode::Endpoint;
    use crate::tls::facts::{ServerHelloFacts, SessionFacts};

    /// One session answered by a ServerHello choosing `cipher`, with its own
    /// session id (which the record does not show).
    fn session(cipher: u16, session_id: u8) -> SessionFacts {
        let end = |ip: [u8; 4], port| Endpoint { ip: ip.into(), port };
        let mut f = SessionFacts::new(1_700_000_000_000_000, end([10, 0, 0, 1], 50_000), end([10, 0, 0, 2], 443), None);
        f.server_hello = Some(ServerHelloFacts {
            legacy_version: 0x0303,
            session_id: vec![session_id; 32],
            cipher,
            extensions: vec![0xff01, 0x0017, 0x0010],
            alpn: Some(vec![0xff, b'x']),
            extended_master_secret: true,
            renegotiation_info: true,
            ..Default::default()
        });
        f
    }

    /// Sessions answered alike, and one answered otherwise: what is copied
    /// from the worker's memory is what is written afresh.
    #[test]
    fn a_kept_server_hello_is_written_as_afresh() {
        let mut kept = RenderCaches::new(1 << 20);
        for (cipher, id) in [(0xc02f, 1), (0xc02f, 2), (0xc030, 3), (0xc02f, 4)] {
            let f = session(cipher, id);
            let text = written(&f, &mut kept);
            assert_eq!(text, written(&f, &mut RenderCaches::new(0)));
            let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
            let ja3s_string = v["tlsaudit"]["server"]["ja3s_string"].as_str().expect("ja3s_string");
            assert_eq!(ja3s_string, format!("771,{cipher},65281-23-16"));
            assert_eq!(v["tls"]["server"]["ja3s"].as_str().map(str::len), Some(32), "{text}");
            assert_eq!(v["tlsaudit"]["server"]["next_protocol_hex"].as_str(), Some("ff78"), "{text}");
            assert_eq!(v["tlsaudit"]["server"]["legacy_version"].as_str(), Some("0x0303"), "{text}");
        }
        // Two ServerHellos kept: the session ids do not tell them apart.
        assert!(kept.server_hellos.bytes() > 0);
        assert_eq!(kept.server_hellos.len(), 2);
    }
}
