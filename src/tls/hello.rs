//! ClientHello and ServerHello parsing: tls-parser reads the message and the
//! extension bodies; this module walks the extension list in wire order (the
//! fingerprints need the order and the unknown types) and records the facts.
//! Also parses the SSLv2-format ClientHello, which tls-parser does not cover.

use tls_parser::{TlsExtension, TlsMessageHandshake};

use super::facts::{ClientHelloFacts, HelloRetryFacts, ServerHelloFacts};

/// The ServerHello.random value that marks a HelloRetryRequest (RFC 8446 §4.1.3).
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11,
    0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

pub mod ext {
    pub const SERVER_NAME: u16 = 0;
    pub const STATUS_REQUEST: u16 = 5;
    pub const USE_SRTP: u16 = 14;
    pub const SUPPORTED_GROUPS: u16 = 10;
    pub const EC_POINT_FORMATS: u16 = 11;
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    pub const HEARTBEAT: u16 = 15;
    pub const ALPN: u16 = 16;
    pub const SERVER_CERTIFICATE_TYPE: u16 = 20;
    pub const ENCRYPT_THEN_MAC: u16 = 22;
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    pub const SESSION_TICKET: u16 = 35;
    pub const PRE_SHARED_KEY: u16 = 41;
    pub const EARLY_DATA: u16 = 42;
    pub const SUPPORTED_VERSIONS: u16 = 43;
    pub const PSK_KEY_EXCHANGE_MODES: u16 = 45;
    pub const KEY_SHARE_DRAFT: u16 = 40;
    pub const KEY_SHARE: u16 = 51;
    pub const QUIC_TRANSPORT_PARAMETERS: u16 = 57;
    /// The code point of the QUIC drafts, before RFC 9001.
    pub const QUIC_TRANSPORT_PARAMETERS_DRAFT: u16 = 0xffa5;
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

/// Splits an extensions block into (type, body) pairs in wire order. Stops at
/// the first entry whose length runs past the block; returns whether the block
/// was well formed.
pub fn walk_extensions<'a>(mut block: &'a [u8], mut f: impl FnMut(u16, &'a [u8])) -> bool {
    while !block.is_empty() {
        if block.len() < 4 {
            return false;
        }
        let typ = u16::from_be_bytes([block[0], block[1]]);
        let len = u16::from_be_bytes([block[2], block[3]]) as usize;
        if block.len() < 4 + len {
            return false;
        }
        f(typ, &block[4..4 + len]);
        block = &block[4 + len..];
    }
    true
}

fn u16_list(data: &[u8], len_bytes: usize) -> Option<Vec<u16>> {
    if data.len() < len_bytes {
        return None;
    }
    let len = if len_bytes == 1 { data[0] as usize } else { u16::from_be_bytes([data[0], data[1]]) as usize };
    let body = data.get(len_bytes..len_bytes + len)?;
    if len % 2 != 0 {
        return None;
    }
    Some(body.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect())
}

/// The signature_algorithms list as tls-parser reads it: a length, that
/// many bytes, and the whole u16 values among them (an odd last byte is
/// left); collected into one allocation of the right size.
fn signature_algorithms(data: &[u8]) -> Option<Vec<u16>> {
    let len = u16::from_be_bytes([*data.first()?, *data.get(1)?]) as usize;
    let body = data.get(2..2 + len)?;
    Some(body.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect())
}

/// Groups of the key_share entries a client sent.
fn client_key_share_groups(data: &[u8]) -> Option<Vec<u16>> {
    let len = u16::from_be_bytes([*data.first()?, *data.get(1)?]) as usize;
    let mut rest = data.get(2..2 + len)?;
    let mut groups = Vec::new();
    while rest.len() >= 4 {
        let group = u16::from_be_bytes([rest[0], rest[1]]);
        let klen = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        groups.push(group);
        rest = rest.get(4 + klen..)?;
    }
    Some(groups)
}

/// Parses a ClientHello body (after the 4-byte handshake header).
pub fn parse_client_hello(body: &[u8]) -> Option<ClientHelloFacts> {
    let (_, ch) = tls_parser::parse_tls_handshake_client_hello(body).ok()?;
    let mut f = ClientHelloFacts {
        legacy_version: ch.version.0,
        session_id: ch.session_id.map(|s| s.to_vec()).unwrap_or_default(),
        // tls-parser's vectors of code newtypes, turned into vectors of
        // the codes in place (the same layout: no new allocation).
        ciphers: ch.ciphers.into_iter().map(|c| c.0).collect(),
        compression_methods: ch.comp.into_iter().map(|c| c.0).collect(),
        ..Default::default()
    };
    if let Some(block) = ch.ext {
        // Room for as many extensions as a browser sends.
        f.extensions.reserve(24);
        let well_formed = walk_extensions(block, |typ, data| {
            f.extensions.push(typ);
            if !client_extension(&mut f, typ, data) {
                f.malformed_extensions.push(typ);
            }
        });
        if !well_formed {
            f.malformed_extensions.push(0xffff);
        }
    }
    Some(f)
}

/// Records one ClientHello extension; false when its body is malformed.
fn client_extension(f: &mut ClientHelloFacts, typ: u16, data: &[u8]) -> bool {
    use tls_parser as tp;
    match typ {
        ext::SERVER_NAME => {
            if data.is_empty() {
                return true;
            }
            match tp::parse_tls_extension_sni_content(data) {
                Ok((_, TlsExtension::SNI(names))) => {
                    f.server_name = names.iter().find(|(t, _)| t.0 == 0).map(|(_, n)| n.to_vec());
                    true
                }
                _ => false,
            }
        }
        ext::SUPPORTED_GROUPS => match u16_list(data, 2) {
            Some(g) => {
                f.supported_groups = g;
                true
            }
            None => false,
        },
        ext::EC_POINT_FORMATS => match tp::parse_tls_extension_ec_point_formats_content(data) {
            Ok((_, TlsExtension::EcPointFormats(p))) => {
                f.ec_point_formats = p.to_vec();
                true
            }
            _ => false,
        },
        ext::SIGNATURE_ALGORITHMS => match signature_algorithms(data) {
            Some(s) => {
                f.signature_algorithms = s;
                true
            }
            None => false,
        },
        ext::ALPN => match tp::parse_tls_extension_alpn_content(data) {
            Ok((_, TlsExtension::ALPN(p))) => {
                f.alpn = p.iter().map(|v| v.to_vec()).collect();
                true
            }
            _ => false,
        },
        ext::SUPPORTED_VERSIONS => match u16_list(data, 1) {
            Some(v) => {
                f.supported_versions = v;
                true
            }
            None => false,
        },
        ext::KEY_SHARE | ext::KEY_SHARE_DRAFT => match client_key_share_groups(data) {
            Some(g) => {
                f.key_share_groups = g;
                true
            }
            None => false,
        },
        ext::PSK_KEY_EXCHANGE_MODES => {
            let Some((&n, rest)) = data.split_first() else { return false };
            f.psk_key_exchange_modes = rest.iter().take(n as usize).copied().collect();
            true
        }
        ext::EXTENDED_MASTER_SECRET => {
            f.extended_master_secret = true;
            true
        }
        ext::ENCRYPT_THEN_MAC => {
            f.encrypt_then_mac = true;
            true
        }
        ext::RENEGOTIATION_INFO => {
            f.renegotiation_info = true;
            true
        }
        ext::SESSION_TICKET => {
            f.session_ticket = Some(data.len());
            true
        }
        ext::STATUS_REQUEST => {
            f.status_request = true;
            true
        }
        ext::HEARTBEAT => {
            f.heartbeat_mode = data.first().copied();
            !data.is_empty()
        }
        ext::PRE_SHARED_KEY => {
            f.pre_shared_key = true;
            true
        }
        ext::EARLY_DATA => {
            f.early_data = true;
            true
        }
        ext::USE_SRTP => match u16_list(data, 2) {
            Some(profiles) => {
                f.use_srtp = profiles;
                true
            }
            None => false,
        },
        ext::QUIC_TRANSPORT_PARAMETERS | ext::QUIC_TRANSPORT_PARAMETERS_DRAFT => {
            match super::transport_params::parse(data) {
                Some(p) => {
                    f.quic_transport_parameters.get_or_insert(p);
                    true
                }
                None => false,
            }
        }
        ext::SERVER_CERTIFICATE_TYPE => match data.split_first() {
            Some((len, types)) if usize::from(*len) == types.len() && !types.is_empty() => {
                f.server_certificate_types = types.to_vec();
                true
            }
            _ => false,
        },
        _ => true,
    }
}

/// A parsed ServerHello: either a real one or a HelloRetryRequest.
pub enum ServerHelloKind {
    Hello(ServerHelloFacts),
    Retry(HelloRetryFacts),
}

/// Parses a ServerHello body, including TLS 1.3 drafts whose legacy version
/// field carried the draft number (no session id, no compression).
pub fn parse_server_hello(body: &[u8]) -> Option<ServerHelloKind> {
    let version = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
    let mut f = ServerHelloFacts { legacy_version: version, ..Default::default() };
    // RFC 8446 freezes legacy_version at 0x0303: a ServerHello that says
    // 0x0304 there comes from an early TLS 1.3 draft, laid out without
    // session id and compression method.
    let early_draft = version == 0x0304;
    // tls-parser reads ServerHellos of TLS versions only; a DTLS one has the
    // same layout and is read under TLS 1.2's code, its own kept above.
    let dtls_as_tls;
    let layout = if super::names::is_dtls(version) {
        dtls_as_tls = [&[3u8, 3][..], body.get(2..)?].concat();
        &dtls_as_tls[..]
    } else {
        body
    };
    let parsed = if early_draft { None } else { tls_parser::parse_tls_handshake_msg_server_hello(layout).ok() };
    let (random, ext_block) = match parsed {
        Some((_, TlsMessageHandshake::ServerHello(sh))) => {
            f.session_id = sh.session_id.map(|s| s.to_vec()).unwrap_or_default();
            f.cipher = sh.cipher.0;
            f.compression_method = sh.compression.0;
            (sh.random, sh.ext)
        }
        Some((_, TlsMessageHandshake::ServerHelloV13Draft18(sh))) => {
            f.cipher = sh.cipher.0;
            (sh.random, sh.ext)
        }
        _ if early_draft || super::names::is_tls13_draft(version) => {
            // Drafts other than 18 share its layout: version, random, cipher, extensions.
            let random = body.get(2..34)?;
            f.cipher = u16::from_be_bytes([*body.get(34)?, *body.get(35)?]);
            let ext = body.get(36..).and_then(|rest| {
                let len = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize;
                rest.get(2..2 + len)
            });
            (random, ext)
        }
        _ => return None,
    };
    f.early_draft = early_draft;
    let mut retry_group = None;
    if let Some(block) = ext_block {
        walk_extensions(block, |typ, data| {
            f.extensions.push(typ);
            server_extension(&mut f, &mut retry_group, typ, data);
        });
    }
    if let Some(tail) = random.get(24..32) {
        if &tail[..7] == b"DOWNGRD" && tail[7] <= 1 {
            f.downgrade_sentinel = Some(tail[7]);
        }
    }
    if random == HELLO_RETRY_RANDOM {
        return Some(ServerHelloKind::Retry(HelloRetryFacts { version: f.version(), cipher: f.cipher, selected_group: retry_group }));
    }
    Some(ServerHelloKind::Hello(f))
}

/// Parses a draft-era HelloRetryRequest message (handshake type 6).
pub fn parse_draft_hello_retry(body: &[u8]) -> Option<HelloRetryFacts> {
    match tls_parser::parse_tls_handshake_msg_hello_retry_request(body) {
        Ok((_, TlsMessageHandshake::HelloRetryRequest(hrr))) => {
            let mut group = None;
            if let Some(block) = hrr.ext {
                walk_extensions(block, |typ, data| {
                    if (typ == ext::KEY_SHARE || typ == ext::KEY_SHARE_DRAFT) && data.len() >= 2 {
                        group = Some(u16::from_be_bytes([data[0], data[1]]));
                    }
                });
            }
            Some(HelloRetryFacts { version: hrr.version.0, cipher: hrr.cipher.0, selected_group: group })
        }
        _ => None,
    }
}

fn server_extension(f: &mut ServerHelloFacts, retry_group: &mut Option<u16>, typ: u16, data: &[u8]) {
    let first_u16 = || data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    match typ {
        ext::SUPPORTED_VERSIONS => f.selected_version = first_u16(),
        ext::KEY_SHARE | ext::KEY_SHARE_DRAFT => {
            // ServerHello: group + key; HelloRetryRequest: group only.
            f.key_share_group = first_u16();
            if let Some(key) = data.get(4..).filter(|k| !k.is_empty()) {
                f.key_share_public = Some(super::facts::public_value_digest(key));
            }
            *retry_group = first_u16();
        }
        ext::ALPN => {
            if let Ok((_, TlsExtension::ALPN(p))) = tls_parser::parse_tls_extension_alpn_content(data) {
                f.alpn = p.first().map(|v| v.to_vec());
            }
        }
        ext::EXTENDED_MASTER_SECRET => f.extended_master_secret = true,
        ext::ENCRYPT_THEN_MAC => f.encrypt_then_mac = true,
        ext::SERVER_CERTIFICATE_TYPE => f.server_certificate_type = data.first().copied(),
        ext::RENEGOTIATION_INFO => f.renegotiation_info = true,
        ext::SESSION_TICKET => f.session_ticket = true,
        ext::STATUS_REQUEST => f.status_request = true,
        ext::HEARTBEAT => f.heartbeat_mode = data.first().copied(),
        ext::USE_SRTP => f.use_srtp = u16_list(data, 2).and_then(|p| p.first().copied()),
        ext::PRE_SHARED_KEY => f.pre_shared_key = true,
        ext::EC_POINT_FORMATS => f.ec_point_formats = data.get(1..).unwrap_or_default().to_vec(),
        _ => {}
    }
}

/// Parses an SSLv2-format ClientHello body (after the 2-byte record header,
/// starting at the message type byte). Cipher specs whose first byte is zero
/// are TLS cipher suites; the others are SSLv2-only kinds and are kept as
/// 0xFF00|kind so they stay visible without colliding with real suites.
pub fn parse_sslv2_client_hello(body: &[u8]) -> Option<ClientHelloFacts> {
    if body.len() < 9 || body[0] != 1 {
        return None;
    }
    let version = u16::from_be_bytes([body[1], body[2]]);
    let specs_len = u16::from_be_bytes([body[3], body[4]]) as usize;
    let sid_len = u16::from_be_bytes([body[5], body[6]]) as usize;
    let challenge_len = u16::from_be_bytes([body[7], body[8]]) as usize;
    let specs = body.get(9..9 + specs_len)?;
    let session_id = body.get(9 + specs_len..9 + specs_len + sid_len)?;
    body.get(9 + specs_len + sid_len..9 + specs_len + sid_len + challenge_len)?;
    if specs_len % 3 != 0 {
        return None;
    }
    let ciphers = specs
        .chunks_exact(3)
        .map(|c| if c[0] == 0 { u16::from_be_bytes([c[1], c[2]]) } else { 0xff00 | c[0] as u16 })
        .collect();
    Some(ClientHelloFacts {
        sslv2_format: true,
        legacy_version: version,
        session_id: session_id.to_vec(),
        ciphers,
        compression_methods: vec![0],
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_walk_stops_on_overrun() {
        let mut seen = Vec::new();
        let ok = walk_extensions(&[0, 0, 0, 0, 0, 16, 0, 9, 1], |t, d| seen.push((t, d.len())));
        assert!(!ok);
        assert_eq!(seen, vec![(0, 0)]);
    }

    /// The signature_algorithms reading is tls-parser's on every body up to
    /// five bytes (each byte one of a few values that matter to the
    /// lengths), and on longer lists, odd and cut.
    #[test]
    fn signature_algorithms_are_read_as_tls_parser_reads_them() {
        let theirs = |data: &[u8]| match tls_parser::parse_tls_extension_signature_algorithms_content(data) {
            Ok((_, TlsExtension::SignatureAlgorithms(s))) => Some(s),
            _ => None,
        };
        let values = [0u8, 1, 2, 3, 4, 5, 8, 0x80];
        let mut compared = 0;
        for len in 0..=5usize {
            let mut counter = vec![0usize; len];
            loop {
                let data: Vec<u8> = counter.iter().map(|&i| values[i]).collect();
                assert_eq!(signature_algorithms(&data), theirs(&data), "{data:02x?}");
                compared += 1;
                // Next combination (odometer), when there is one.
                let Some(at) = counter.iter().rposition(|&i| i + 1 < values.len()) else { break };
                counter[at] += 1;
                counter[at + 1..].iter_mut().for_each(|i| *i = 0);
            }
        }
        for n in [0usize, 1, 2, 17, 34, 35, 500] {
            let mut data = (n as u16).to_be_bytes().to_vec();
            data.extend((0..n).map(|i| i as u8));
            for cut in [0, 1, 2] {
                let body = &data[..data.len() - cut.min(data.len())];
                assert_eq!(signature_algorithms(body), theirs(body), "{n} {cut}");
                compared += 1;
            }
        }
        assert!(compared > 30_000, "{compared}");
        let read = signature_algorithms(&[0, 5, 4, 3, 8, 4, 9, 7]).expect("a list");
        assert_eq!(read, vec![0x0403, 0x0804]);
    }

    #[test]
    fn sslv2_hello_keeps_tls_suites() {
        // type 1, version 3.1, 6 bytes of specs, no session id, 16-byte challenge
        let mut body = vec![1, 3, 1, 0, 6, 0, 0, 0, 16];
        body.extend_from_slice(&[0x00, 0x00, 0x2f, 0x07, 0x00, 0xc0]);
        body.extend_from_slice(&[0xaa; 16]);
        let f = parse_sslv2_client_hello(&body).expect("valid hello");
        assert_eq!(f.ciphers, vec![0x002f, 0xff07]);
        assert_eq!(f.legacy_version, 0x0301);
        assert_eq!(f.offered_versions(), vec![0x0002, 0x0301, 0x0300]);
    }
}
