//! The facts of a handshake as bytes, for the keys of what a worker
//! remembers (findings, rendered JSON): two sessions whose facts write the
//! same bytes have the same facts, but for those a key leaves out on
//! purpose (random session ids, a server's ephemeral key). Each function
//! names every field of its struct, so a new field does not compile until
//! it is put in the key or said to be left out. Values are length-prefixed
//! or of fixed size, so that no two different facts write the same bytes.

use super::facts::{ClientHelloFacts, KeyExchangeFacts, ServerHelloFacts};

/// What a key takes of the ClientHello's server name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerNameInKey {
    /// The name itself.
    Value,
    /// Only whether there was one (for what is written around the name).
    Presence,
}

/// A ClientHello's facts, but its session id (random for most TLS 1.3
/// clients) and QUIC transport parameters (a caller keys no QUIC hello).
pub fn client_hello(out: &mut Vec<u8>, ch: &ClientHelloFacts, server_name_in_key: ServerNameInKey) {
    let ClientHelloFacts {
        session_id: _,
        quic_transport_parameters: _,
        sslv2_format,
        legacy_version,
        ciphers,
        compression_methods,
        extensions,
        server_name,
        alpn,
        supported_versions,
        supported_groups,
        ec_point_formats,
        signature_algorithms,
        key_share_groups,
        psk_key_exchange_modes,
        extended_master_secret,
        encrypt_then_mac,
        renegotiation_info,
        session_ticket,
        status_request,
        heartbeat_mode,
        pre_shared_key,
        early_data,
        server_certificate_types,
        use_srtp,
        malformed_extensions,
    } = ch;
    out.extend_from_slice(&legacy_version.to_le_bytes());
    put_u16s(out, ciphers);
    put_bytes(out, compression_methods);
    put_u16s(out, extensions);
    match server_name_in_key {
        ServerNameInKey::Value => put_opt_bytes(out, server_name.as_deref()),
        ServerNameInKey::Presence => put_flags(out, &[server_name.is_some()]),
    }
    put_u32(out, alpn.len() as u32);
    for protocol in alpn {
        put_bytes(out, protocol);
    }
    put_u16s(out, supported_versions);
    put_u16s(out, supported_groups);
    put_bytes(out, ec_point_formats);
    put_u16s(out, signature_algorithms);
    put_u16s(out, key_share_groups);
    put_bytes(out, psk_key_exchange_modes);
    put_opt(out, *session_ticket, |out, n| out.extend_from_slice(&(n as u64).to_le_bytes()));
    put_opt_u32(out, heartbeat_mode.map(u32::from));
    put_bytes(out, server_certificate_types);
    put_u16s(out, use_srtp);
    put_u16s(out, malformed_extensions);
    put_flags(out, &[*sslv2_format, *extended_master_secret, *encrypt_then_mac, *renegotiation_info, *status_request, *pre_shared_key, *early_data]);
}

/// A ServerHello's facts, but its session id and its key share (new for
/// every session unless reused, which the service records judge).
pub fn server_hello(out: &mut Vec<u8>, sh: &ServerHelloFacts) {
    let ServerHelloFacts {
        session_id: _,
        key_share_public: _,
        legacy_version,
        selected_version,
        cipher,
        compression_method,
        extensions,
        alpn,
        key_share_group,
        extended_master_secret,
        encrypt_then_mac,
        renegotiation_info,
        session_ticket,
        status_request,
        heartbeat_mode,
        pre_shared_key,
        ec_point_formats,
        server_certificate_type,
        use_srtp,
        downgrade_sentinel,
        early_draft,
    } = sh;
    out.extend_from_slice(&legacy_version.to_le_bytes());
    put_opt_u32(out, selected_version.map(u32::from));
    out.extend_from_slice(&cipher.to_le_bytes());
    out.push(*compression_method);
    put_u16s(out, extensions);
    put_opt_bytes(out, alpn.as_deref());
    put_opt_u32(out, key_share_group.map(u32::from));
    put_opt_u32(out, heartbeat_mode.map(u32::from));
    put_bytes(out, ec_point_formats);
    put_opt_u32(out, server_certificate_type.map(u32::from));
    put_opt_u32(out, use_srtp.map(u32::from));
    put_opt_u32(out, downgrade_sentinel.map(u32::from));
    put_flags(out, &[*extended_master_secret, *encrypt_then_mac, *renegotiation_info, *session_ticket, *status_request, *pre_shared_key, *early_draft]);
}

/// A ServerKeyExchange's facts, but the server's ephemeral public value
/// (new for every session unless reused: judged per service).
pub fn key_exchange(out: &mut Vec<u8>, k: &KeyExchangeFacts) {
    let KeyExchangeFacts { server_public: _, method, dh_bits, srp_bits, rsa_bits, curve, psk_hint, signed, signature_scheme } = k;
    put_bytes(out, method.name().as_bytes());
    put_opt_u32(out, *dh_bits);
    put_opt_u32(out, *srp_bits);
    put_opt_u32(out, *rsa_bits);
    put_opt_u32(out, curve.map(u32::from));
    put_opt_u32(out, signature_scheme.map(u32::from));
    put_flags(out, &[*psk_hint, *signed]);
}

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Whether there is a value (one byte), then the value.
pub fn put_opt<T>(out: &mut Vec<u8>, v: Option<T>, put: impl FnOnce(&mut Vec<u8>, T)) {
    match v {
        Some(v) => {
            out.push(1);
            put(out, v);
        }
        None => out.push(0),
    }
}

pub fn put_opt_u32(out: &mut Vec<u8>, v: Option<u32>) {
    put_opt(out, v, put_u32);
}

pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

pub fn put_opt_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    put_opt(out, b, put_bytes);
}

pub fn put_flags(out: &mut Vec<u8>, flags: &[bool]) {
    out.extend(flags.iter().map(|&b| u8::from(b)));
}

pub fn put_u16s(out: &mut Vec<u8>, v: &[u16]) {
    put_u32(out, v.len() as u32);
    // Room for all of them at once, then filled in place: no capacity check
    // per value (a hello's key is mostly these lists).
    let start = out.len();
    out.resize(start + 2 * v.len(), 0);
    for (to, x) in out[start..].chunks_exact_mut(2).zip(v) {
        to.copy_from_slice(&x.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_is_in_the_key_as_asked() {
        let named = |name: Option<&[u8]>| ClientHelloFacts { server_name: name.map(<[u8]>::to_vec), ciphers: vec![0x1301], ..Default::default() };
        let key = |ch: &ClientHelloFacts, how| {
            let mut out = Vec::new();
            client_hello(&mut out, ch, how);
            out
        };
        let (a, b, none) = (named(Some(b"a.test")), named(Some(b"b.test")), named(None));
        assert_ne!(key(&a, ServerNameInKey::Value), key(&b, ServerNameInKey::Value));
        assert_eq!(key(&a, ServerNameInKey::Presence), key(&b, ServerNameInKey::Presence));
        assert_ne!(key(&a, ServerNameInKey::Presence), key(&none, ServerNameInKey::Presence));
        // Lists are length-prefixed: moving a value from one list to the next changes the key.
        let one = ClientHelloFacts { ciphers: vec![1, 2], extensions: vec![3], ..Default::default() };
        let other = ClientHelloFacts { ciphers: vec![1], extensions: vec![2, 3], ..Default::default() };
        assert_ne!(key(&one, ServerNameInKey::Value), key(&other, ServerNameInKey::Value));
    }

    #[test]
    fn a_list_of_codes_is_its_length_then_each_code_little_endian() {
        let mut out = vec![0xee];
        put_u16s(&mut out, &[0x1301, 0xc02f, 0x00ff]);
        put_u16s(&mut out, &[]);
        assert_eq!(out, [0xee, 3, 0, 0, 0, 0x01, 0x13, 0x2f, 0xc0, 0xff, 0x00, 0, 0, 0, 0]);
    }
}
