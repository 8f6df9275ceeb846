//! Findings remembered per worker. Most sessions repeat an earlier one: the
//! same client software offers the same hello to a server that answers the
//! same way with the same chain (the same server, or one of a farm). The
//! rules that read only those facts then find the same findings, so a
//! worker keeps them by the facts they read (`key`), bounded by entries and
//! bytes. What depends on the session's own time or addresses (a
//! certificate's validity at the time of the session, the address a
//! certificate must name when the client sent no SNI, exceptions) is judged
//! for every session.
//!
//! `key` names every field of the facts, so a new field does not compile
//! until it is put in the key or said to be unread. With
//! `TLSAUDIT_VERIFY_VERDICTS=1` in the environment every remembered answer
//! is checked against judging the session afresh, and a difference stops
//! the run: the tests run the bundled and third-party captures that way.

use super::judge::Judge;
use super::Finding;
use crate::tls::facts::{AlertFacts, Carrier, SessionFacts, Side};
use crate::tls::facts_key::{self, put_bytes, put_flags, put_opt, put_opt_u32, put_u32, ServerNameInKey};
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

    /// Flags what `rules` finds for `f` into `j` (which holds no finding
    /// yet): the findings of an earlier session with the same key, or
    /// `rules` run and its findings kept.
    pub(super) fn judge(&mut self, j: &mut Judge<'_>, f: &SessionFacts, rules: fn(&mut Judge<'_>, &SessionFacts)) {
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
                assert!(fresh == *findings, "a remembered verdict differs from judging the session afresh: {findings:?} remembered, {fresh:?} now");
            }
            j.extend(findings.iter().cloned());
            return;
        }
        rules(j, f);
        let findings = j.findings().to_vec();
        let size = crate::memory::alloc_bytes(self.scratch.len())
            + crate::memory::alloc_bytes(findings.len() * std::mem::size_of::<Finding>())
            + findings.iter().map(Finding::text_bytes).sum::<usize>()
            + std::mem::size_of::<(Box<[u8]>, (Vec<Finding>, usize))>()
            + 32;
        self.entries.insert(self.scratch.as_slice().into(), findings, size);
    }
}

/// Appends to `out` every fact the remembered rules may read. False for
/// the sessions the memory does not serve: clear text, QUIC and DTLS, a
/// HelloRetryRequest and its second ClientHello (rare, and their facts are
/// more than this writes).
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
    if cleartext.is_some() || !matches!(carrier, Carrier::Tcp) || retried_client_hello.is_some() || hello_retry.is_some() {
        return false;
    }
    if client_hello.as_ref().is_some_and(|ch| ch.quic_transport_parameters.is_some()) {
        return false;
    }
    put_opt(out, preamble.as_ref(), |out, p| {
        put_bytes(out, p.protocol.as_bytes());
        put_flags(out, &[p.offered, p.requested, p.login_only]);
    });
    put_opt(out, client_hello.as_ref(), |out, ch| facts_key::client_hello(out, ch, ServerNameInKey::Value));
    put_opt(out, server_hello.as_ref(), facts_key::server_hello);
    put_u32(out, server_certificates.len() as u32);
    for c in server_certificates {
        out.extend_from_slice(&c.digest);
    }
    put_opt(out, key_exchange.as_ref(), facts_key::key_exchange);
    put_opt(out, alert.as_ref(), |out, AlertFacts { level, description, from }| {
        out.extend_from_slice(&[*level, *description, u8::from(*from == Side::Server)]);
    });
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
