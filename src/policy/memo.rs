//! Findings remembered per worker. Most sessions repeat an earlier one: the
//! same client software offers the same hello to a server that answers the
//! same way with the same chain (the same server, or one of a farm). The rules that read only those
//! facts then find the same findings, so a worker keeps them by the facts
//! they read (`key`), bounded by entries and bytes. What depends on the
//! session's own time or addresses (a certificate's validity at the time of
//! the session, the address a certificate must name when the client sent
//! no SNI, exceptions) is judged for every session.
//!
//! `key` names every field of the facts, so a new field does not compile
//! until it is put in the key or said to be unread. With
//! `TLSAUDIT_VERIFY_VERDICTS=1` in the environment every remembered answer
//! is checked against judging the session afresh, and a difference stops
//! the run: the tests run the bundled and third-party captures that way.

use super::judge::Judge;
use super::Finding;
use crate::tls::facts::{
    AlertFacts, Carrier, ClientHelloFacts, KeyExchangeFacts, ServerHelloFacts, SessionFacts,
};
use crate::util::bounded_lru::BoundedLru;

/// Entries kept at most, whatever their size.
const ENTRIES: usize = 4096;
/// The most one worker's memory takes (less when the memory limit is small).
const MAX_BYTES: usize = 4 * 1024 * 1024;

/// The findings of the rules that read only what `key` writes, by those
/// facts, for one worker and one profile.
pub struct VerdictMemo {
    entries: BoundedLru<Box<[u8]>, Vec<Finding>>,
    /// The key of the session being judged.
    scratch: Vec<u8>,
    verify: bool,
    /// Sessions whose findings came from the memory.
    pub hits: u64,
}

impl VerdictMemo {
    /// Keeps at most `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        VerdictMemo {
            entries: BoundedLru::new(ENTRIES, max_bytes),
            scratch: Vec::with_capacity(512),
            verify: std::env::var_os("TLSAUDIT_VERIFY_VERDICTS").is_some_and(|v| v == "1"),
            hits: 0,
        }
    }

    /// For a worker whose connections may hold `connection_memory`: a
    /// sixty-fourth of it, 4 MiB at most.
    pub fn for_connection_memory(connection_memory: usize) -> Self {
        VerdictMemo::new((connection_memory / 64).min(MAX_BYTES))
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.entries.bytes()
    }

    /// Flags what `rules` finds for `f` into `j` (which holds no finding
    /// yet): the findings of an earlier session with the same key, or
    /// `rules` run and its findings kept.
    pub(super) fn judge(
        &mut self,
        j: &mut Judge<'_>,
        f: &SessionFacts,
        rules: fn(&mut Judge<'_>, &SessionFacts),
    ) {
        self.scratch.clear();
        if !key(f, &mut self.scratch) {
            rules(j, f);
            return;
        }
        if let Some(findings) = self.entries.get(self.scratch.as_slice()) {
            self.hits += 1;
            if self.verify {
                let mut fresh = Judge::new(j.profile);
                rules(&mut fresh, f);
                let fresh = fresh.into_findings();
                assert!(
                    fresh == *findings,
                    "a remembered verdict differs from judging the session afresh: {findings:?} remembered, {fresh:?} now"
                );
            }
            j.extend(findings.iter().cloned());
            return;
        }
        rules(j, f);
        let findings = j.findings().to_vec();
        let size = crate::memory::alloc_bytes(self.scratch.len())
            + crate::memory::alloc_bytes(findings.len() * std::mem::size_of::<Finding>())
            + findings
                .iter()
                .map(|x| crate::memory::alloc_bytes(x.message.len()))
                .sum::<usize>()
            + std::mem::size_of::<(Box<[u8]>, (Vec<Finding>, usize))>()
            + 32;
        self.entries
            .insert(self.scratch.as_slice().into(), findings, size);
    }
}

/// Appends to `out` every fact the remembered rules may read, each length
/// prefixed so that no two sessions with different facts write the same
/// bytes. False for the sessions the memory does not serve: clear text,
/// QUIC and DTLS, a HelloRetryRequest and its second ClientHello (rare,
/// and their facts are more than this writes).
fn key(f: &SessionFacts, out: &mut Vec<u8>) -> bool {
    let SessionFacts {
        // Judged for every session: a certificate's validity at the time of
        // the session, the address a certificate must name without SNI, and
        // exceptions (client, server, port, name).
        first_seen: _,
        client: _,
        server: _,
        // Not read by any rule.
        last_seen: _,
        vlan: _,
        tunnel: _,
        source_file: _,
        client_certificates: _,
        encrypted_records: _,
        limits_hit: _,
        tcp_overlap_conflicts: _,
        // Not served: see above.
        cleartext,
        carrier,
        retried_client_hello,
        hello_retry,
        // The key.
        preamble,
        client_hello,
        server_hello,
        sslv2_server_hello,
        server_certificates,
        certificate_chain_truncated,
        key_exchange,
        client_certificate_requested,
        ocsp_stapled,
        new_session_ticket_lifetime,
        server_hello_done,
        alert,
        change_cipher_spec,
        established,
        client_false_start,
        incomplete,
        malformed_messages,
        client_hello_count,
    } = f;
    if cleartext.is_some()
        || !matches!(carrier, Carrier::Tcp)
        || retried_client_hello.is_some()
        || hello_retry.is_some()
    {
        return false;
    }
    put_opt(out, preamble.as_ref(), |out, p| {
        put_bytes(out, p.protocol.as_bytes());
        put_flags(out, &[p.offered, p.requested, p.login_only]);
    });
    if client_hello
        .as_ref()
        .is_some_and(|ch| ch.quic_transport_parameters.is_some())
    {
        return false;
    }
    put_opt(out, client_hello.as_ref(), client_hello_key);
    put_opt(out, server_hello.as_ref(), server_hello_key);
    put_u32(out, server_certificates.len() as u32);
    for c in server_certificates {
        out.extend_from_slice(&c.digest);
    }
    put_opt(out, key_exchange.as_ref(), key_exchange_key);
    put_opt(
        out,
        alert.as_ref(),
        |out,
         AlertFacts {
             level,
             description,
             from,
         }| {
            out.extend_from_slice(&[
                *level,
                *description,
                u8::from(*from == crate::tls::facts::Side::Server),
            ]);
        },
    );
    put_opt_u32(out, *new_session_ticket_lifetime);
    put_flags(
        out,
        &[
            *sslv2_server_hello,
            *certificate_chain_truncated,
            *client_certificate_requested,
            *ocsp_stapled,
            *server_hello_done,
            change_cipher_spec[0],
            change_cipher_spec[1],
            *established,
            *client_false_start,
            *incomplete,
        ],
    );
    put_bytes(out, malformed_messages);
    put_u32(out, *client_hello_count);
    true
}

/// A ClientHello's facts but its session id (`key` takes no QUIC hello).
fn client_hello_key(out: &mut Vec<u8>, ch: &ClientHelloFacts) {
    let ClientHelloFacts {
        // Random for most TLS 1.3 clients, and read by no rule.
        session_id: _,
        // Only a QUIC hello carries these; QUIC is not served.
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
    put_opt_bytes(out, server_name.as_deref());
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
    put_opt(out, *session_ticket, |out, n| {
        out.extend_from_slice(&(n as u64).to_le_bytes())
    });
    put_opt_u32(out, heartbeat_mode.map(u32::from));
    put_bytes(out, server_certificate_types);
    put_u16s(out, use_srtp);
    put_u16s(out, malformed_extensions);
    put_flags(
        out,
        &[
            *sslv2_format,
            *extended_master_secret,
            *encrypt_then_mac,
            *renegotiation_info,
            *status_request,
            *pre_shared_key,
            *early_data,
        ],
    );
}

fn server_hello_key(out: &mut Vec<u8>, sh: &ServerHelloFacts) {
    let ServerHelloFacts {
        // Random per session (or per resumption), read by no rule.
        session_id: _,
        // The server's key share: new for every session unless reused, which
        // the service records judge, not the session's rules.
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
    put_flags(
        out,
        &[
            *extended_master_secret,
            *encrypt_then_mac,
            *renegotiation_info,
            *session_ticket,
            *status_request,
            *pre_shared_key,
            *early_draft,
        ],
    );
}

fn key_exchange_key(out: &mut Vec<u8>, k: &KeyExchangeFacts) {
    let KeyExchangeFacts {
        // New for every session unless reused (judged per service).
        server_public: _,
        method,
        dh_bits,
        srp_bits,
        rsa_bits,
        curve,
        psk_hint,
        signed,
        signature_scheme,
    } = k;
    put_bytes(out, method.name().as_bytes());
    put_opt_u32(out, *dh_bits);
    put_opt_u32(out, *srp_bits);
    put_opt_u32(out, *rsa_bits);
    put_opt_u32(out, curve.map(u32::from));
    put_opt_u32(out, signature_scheme.map(u32::from));
    put_flags(out, &[*psk_hint, *signed]);
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Whether there is a value (one byte), then the value.
fn put_opt<T>(out: &mut Vec<u8>, v: Option<T>, put: impl FnOnce(&mut Vec<u8>, T)) {
    match v {
        Some(v) => {
            out.push(1);
            put(out, v);
        }
        None => out.push(0),
    }
}

fn put_opt_u32(out: &mut Vec<u8>, v: Option<u32>) {
    put_opt(out, v, put_u32);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

fn put_opt_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    put_opt(out, b, put_bytes);
}

fn put_flags(out: &mut Vec<u8>, flags: &[bool]) {
    out.extend(flags.iter().map(|&b| u8::from(b)));
}

fn put_u16s(out: &mut Vec<u8>, v: &[u16]) {
    put_u32(out, v.len() as u32);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}
