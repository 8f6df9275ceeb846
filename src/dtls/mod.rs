//! The handshake of one DTLS association over UDP (DTLS 1.0 and 1.2, and
//! the hellos of DTLS 1.3): records are read from each datagram, handshake
//! fragments are put back into whole messages in message-sequence order,
//! retransmitted flights are counted once, and the messages, alerts and
//! ChangeCipherSpecs go to the same TLS analysis as over TCP. DTLS-SRTP
//! (use_srtp) is read from the hellos.

pub mod record;

use crate::decode::tunnel::Tunnel;
use crate::memory::vec_bytes;
use crate::stats::{DecodeErrorKind, WorkerStats};
use crate::tls::facts::{Carrier, DtlsFacts, Endpoint, SessionFacts};
use crate::tls::fragments::Fragments;
use crate::tls::{handshake, Progress, RecordEvent, TlsConnection, TlsLimits};

/// HelloVerifyRequest (RFC 6347 §4.2.1): the server's cookie, before any ServerHello.
const HELLO_VERIFY_REQUEST: u8 = 3;

/// Messages waiting for their other fragments, per direction, at most.
const MAX_PENDING: usize = 8;

/// Whether a datagram can start a DTLS flow: its first record is a
/// plaintext handshake record whose first fragment starts a ClientHello.
pub fn starts_connection(datagram: &[u8]) -> bool {
    let mut starts = false;
    let mut first = true;
    record::records(datagram, |r| {
        if std::mem::take(&mut first) && r.content_type == 22 && r.epoch == 0 {
            record::fragments(r.body, |f| starts |= f.msg_type == handshake::CLIENT_HELLO && f.offset == 0);
        }
    });
    starts
}

/// A handshake message some of whose fragments arrived.
struct Pending {
    message_seq: u16,
    msg_type: u8,
    length: usize,
    bytes: Fragments,
    pieces: u32,
}

/// One DTLS association's handshake analysis. Direction 0 is the side
/// whose ClientHello started the flow.
pub struct DtlsConnection {
    tls: TlsConnection,
    pending: [Vec<Pending>; 2],
    /// The message sequence number each direction hands on next, once its
    /// first message was seen.
    next_seq: [Option<u16>; 2],
    max_message: usize,
    client_hello_read: bool,
    dtls: DtlsFacts,
}

impl DtlsConnection {
    pub fn new(first_seen: i64, client: Endpoint, server: Endpoint, vlan: Option<u16>, limits: TlsLimits) -> Self {
        DtlsConnection {
            tls: TlsConnection::new(first_seen, client, server, vlan, limits),
            pending: Default::default(),
            next_seq: [None; 2],
            max_message: limits.max_handshake,
            client_hello_read: false,
            dtls: DtlsFacts::default(),
        }
    }

    /// A datagram came inside `tunnel`.
    pub fn on_tunnel(&mut self, dir: usize, tunnel: Tunnel) {
        self.tls.on_tunnel(dir, tunnel);
    }

    /// Takes one datagram of direction `dir`.
    pub fn on_datagram(&mut self, dir: usize, datagram: &[u8], stats: &mut WorkerStats) -> Progress {
        let well_formed = record::records(datagram, |r| self.on_record(dir, r, stats));
        if !well_formed {
            stats.decode_errors.count(DecodeErrorKind::TlsRecord);
        }
        self.progress()
    }

    /// One record, in the order the datagram holds them.
    fn on_record(&mut self, dir: usize, r: record::Record<'_>, stats: &mut WorkerStats) {
        match (r.content_type, r.epoch) {
            (22, 0) => self.on_handshake_record(dir, r.body, stats),
            (22, _) => self.tls.on_record(dir, RecordEvent::EncryptedHandshake, stats),
            (20, _) => self.tls.on_record(dir, RecordEvent::ChangeCipherSpec, stats),
            (21, 0) if r.body.len() == 2 => {
                self.tls.on_record(dir, RecordEvent::Alert { level: r.body[0], description: r.body[1] }, stats);
            }
            (21, _) => self.tls.on_record(dir, RecordEvent::EncryptedAlert, stats),
            _ => {}
        }
    }

    /// The fragments of a plaintext handshake record.
    fn on_handshake_record(&mut self, dir: usize, body: &[u8], stats: &mut WorkerStats) {
        if !record::fragments(body, |f| self.on_fragment(dir, f, stats)) {
            stats.decode_errors.count(DecodeErrorKind::TlsRecord);
        }
    }

    fn on_fragment(&mut self, dir: usize, f: record::Fragment<'_>, stats: &mut WorkerStats) {
        let next = *self.next_seq[dir].get_or_insert(f.message_seq);
        if f.message_seq < next {
            // A message handed on already: a retransmitted flight.
            if f.offset == 0 {
                self.dtls.retransmitted_messages = self.dtls.retransmitted_messages.saturating_add(1);
                if f.msg_type == handshake::CLIENT_HELLO && f.is_whole() {
                    self.tls.count_repeated_client_hello();
                }
            }
            return;
        }
        if f.is_whole() && f.message_seq == next {
            self.next_seq[dir] = Some(next.wrapping_add(1));
            self.on_message(dir, f.msg_type, f.bytes, stats);
            return self.hand_on_waiting(dir, stats);
        }
        let pending = &mut self.pending[dir];
        let at = match pending.iter().position(|p| p.message_seq == f.message_seq) {
            Some(at) => at,
            None if pending.len() < MAX_PENDING => {
                let cap = f.length.min(self.max_message);
                pending.push(Pending { message_seq: f.message_seq, msg_type: f.msg_type, length: f.length, bytes: Fragments::new(cap), pieces: 0 });
                pending.len() - 1
            }
            None => return,
        };
        let p = &mut pending[at];
        if p.msg_type != f.msg_type || p.length != f.length {
            return stats.decode_errors.count(DecodeErrorKind::TlsHandshake);
        }
        p.bytes.add(f.offset as u64, f.bytes);
        p.pieces += 1;
        self.hand_on_waiting(dir, stats);
    }

    /// Hands on the waiting messages that are whole and next in sequence.
    fn hand_on_waiting(&mut self, dir: usize, stats: &mut WorkerStats) {
        loop {
            let Some(next) = self.next_seq[dir] else { return };
            let pending = &mut self.pending[dir];
            let Some(at) = pending.iter().position(|p| p.message_seq == next) else { return };
            if pending[at].bytes.given_up {
                // Larger than the cap: skipped, as over TCP.
                let p = pending.swap_remove(at);
                self.next_seq[dir] = Some(next.wrapping_add(1));
                self.tls.on_record(dir, RecordEvent::HandshakeTooLarge { msg_type: p.msg_type, len: p.length }, stats);
                continue;
            }
            if pending[at].bytes.contiguous().len() < pending[at].length {
                return;
            }
            let p = pending.swap_remove(at);
            self.next_seq[dir] = Some(next.wrapping_add(1));
            if p.pieces > 1 {
                self.dtls.fragmented_messages = self.dtls.fragmented_messages.saturating_add(1);
            }
            self.on_message(dir, p.msg_type, p.bytes.contiguous(), stats);
        }
    }

    fn on_message(&mut self, dir: usize, msg_type: u8, body: &[u8], stats: &mut WorkerStats) {
        match msg_type {
            HELLO_VERIFY_REQUEST => self.dtls.hello_verify_request = true,
            handshake::CLIENT_HELLO => {
                let retried = self.tls.facts().hello_retry.is_some();
                if self.client_hello_read && !retried {
                    // The hello again with the cookie the server asked for.
                    return self.tls.count_repeated_client_hello();
                }
                self.client_hello_read = true;
                match record::client_hello_without_cookie(body) {
                    Some(tls_layout) => self.tls.on_handshake_message(dir, msg_type, &tls_layout, stats),
                    None => self.tls.on_handshake_message(dir, msg_type, &[], stats),
                }
            }
            _ => self.tls.on_handshake_message(dir, msg_type, body, stats),
        }
    }

    /// Over once both sides changed keys and sent their Finished, or a
    /// fatal alert ended the handshake. (DTLS 1.3 encrypts everything after
    /// the ServerHello in records the reader does not hand on: its
    /// associations end by timeout.)
    fn progress(&self) -> Progress {
        let f = self.tls.facts();
        let finished = f.change_cipher_spec.iter().all(|c| *c) && f.encrypted_records.iter().all(|n| *n > 0);
        if (f.server_hello.is_some() && finished) || self.tls.failed() {
            Progress::Done
        } else {
            Progress::Inspecting
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.tls.heap_bytes()
            + self.pending.iter().map(|p| vec_bytes(p) + p.iter().map(|m| m.bytes.heap_bytes()).sum::<usize>()).sum::<usize>()
    }

    /// Ends the analysis: the facts, when a hello was read.
    pub fn finish(self, last_seen: i64, stats: &mut WorkerStats) -> Option<SessionFacts> {
        let established = matches!(self.progress(), Progress::Done) && !self.tls.failed();
        let mut facts = self.tls.finish(last_seen, stats)?;
        facts.established = established;
        facts.carrier = Carrier::Dtls(Box::new(self.dtls));
        Some(facts)
    }
}
