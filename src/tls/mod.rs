//! TLS handshake analysis for one TCP connection: both directions' record
//! streams, the roles (who sent the ClientHello), and the facts gathered from
//! every handshake message, until the handshake is over (established, failed
//! or abandoned).

pub mod carrier;
mod detect;
pub mod facts;
pub mod facts_key;
pub mod fingerprint;
pub mod fragments;
pub mod hello;
pub mod kex;
pub mod names;
pub mod preamble;
pub mod record;
mod side;
mod transport_params;
mod wrapped;

use tls_parser::TlsMessageHandshake;

use crate::cert;
use crate::decode::tunnel::Tunnel;
use crate::stream::StreamEvent;
use crate::memory::{vec_bytes, HeapSize};
use crate::stats::{DecodeErrorKind, WorkerStats};
use facts::{AlertFacts, CapHit, Endpoint, SessionFacts, Side};
use hello::ServerHelloKind;
pub use record::RecordEvent;
use record::{Control, ParseState, RecordStream};

/// Handshake message types (TLS HandshakeType registry).
pub mod handshake {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const NEW_SESSION_TICKET: u8 = 4;
    pub const HELLO_RETRY_REQUEST: u8 = 6;
    pub const CERTIFICATE: u8 = 11;
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    pub const CERTIFICATE_REQUEST: u8 = 13;
    pub const SERVER_HELLO_DONE: u8 = 14;
    pub const CERTIFICATE_STATUS: u8 = 22;
}

/// Caps that bound the memory of one connection's analysis.
#[derive(Debug, Clone, Copy)]
pub struct TlsLimits {
    /// Largest handshake message parsed (certificate chains are the big ones).
    pub max_handshake: usize,
    /// Certificates of one chain that are parsed; the rest are counted.
    pub max_chain: usize,
    /// Bytes per direction inspected before the handshake is declared abandoned.
    pub max_inspect: usize,
}

impl Default for TlsLimits {
    fn default() -> Self {
        TlsLimits { max_handshake: 256 * 1024, max_chain: 16, max_inspect: 1024 * 1024 }
    }
}

/// Where the analysis of a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Inspecting,
    /// The handshake is over: report the session and stop parsing.
    Done,
    /// Neither direction carries TLS.
    NotTls,
}

/// Malformed handshake messages listed per session (all are counted in the stats).
const MAX_MALFORMED_LISTED: usize = 32;

struct Analysis {
    facts: SessionFacts,
    /// Heap memory held by the hellos, certificates and key exchange in
    /// `facts`, added up as they are stored.
    facts_heap: usize,
    /// The handshake went on past `max_inspect` bytes.
    inspect_cap_hit: bool,
    /// Flow direction (0: initiator to responder) that carries the client's bytes.
    client_dir: Option<usize>,
    limits: TlsLimits,
    failed: bool,
    /// Handshake messages came outside TLS records (QUIC's CRYPTO frames).
    messages_seen: bool,
}

pub struct TlsConnection {
    streams: [RecordStream; 2],
    analysis: Analysis,
}

impl TlsConnection {
    /// `initiator` is the side that opened the TCP connection (or was seen first).
    pub fn new(first_seen: i64, initiator: Endpoint, responder: Endpoint, vlan: Option<u16>, limits: TlsLimits) -> Self {
        TlsConnection {
            streams: [RecordStream::new(limits.max_handshake), RecordStream::new(limits.max_handshake)],
            analysis: Analysis {
                facts: SessionFacts::new(first_seen, initiator, responder, vlan),
                facts_heap: 0,
                inspect_cap_hit: false,
                client_dir: None,
                limits,
                failed: false,
                messages_seen: false,
            },
        }
    }

    /// Takes the next reassembled bytes (or a gap) of direction `dir`.
    pub fn on_stream(&mut self, dir: usize, event: StreamEvent<'_>, stats: &mut WorkerStats) -> Progress {
        let TlsConnection { streams, analysis } = self;
        let tls13 = analysis.facts.is_tls13();
        let stream = &mut streams[dir];
        stream.tls13 |= tls13;
        match event {
            StreamEvent::Gap(_) => {
                // Reported only if TLS is found in the connection at all.
                analysis.facts.incomplete = true;
                stream.gap();
            }
            StreamEvent::Data(bytes) => {
                stream.feed(bytes, &mut |ev| analysis.handle(dir, ev, stats));
            }
        }
        self.progress()
    }

    /// A whole handshake message of direction `dir` that came outside TLS
    /// records (QUIC carries them in CRYPTO frames). The carrier decides
    /// when the handshake is over.
    pub fn on_handshake_message(&mut self, dir: usize, msg_type: u8, body: &[u8], stats: &mut WorkerStats) {
        self.analysis.messages_seen = true;
        let _ = self.analysis.handshake(dir, msg_type, body, stats);
    }

    /// A record of direction `dir` that came outside a TCP stream (DTLS's
    /// records, read by its own record layer): a ChangeCipherSpec, an
    /// alert, or a record protected under new keys.
    pub fn on_record(&mut self, dir: usize, event: RecordEvent<'_>, stats: &mut WorkerStats) {
        self.analysis.messages_seen = true;
        let _ = self.analysis.handle(dir, event, stats);
    }

    /// A ClientHello sent again unchanged (DTLS retransmits its flights,
    /// and repeats the hello with the cookie a HelloVerifyRequest asked
    /// for): counted, not read again.
    pub fn count_repeated_client_hello(&mut self) {
        self.analysis.facts.client_hello_count += 1;
    }

    /// A fatal alert ended the handshake.
    pub fn failed(&self) -> bool {
        self.analysis.failed
    }

    /// The facts gathered so far.
    pub fn facts(&self) -> &SessionFacts {
        &self.analysis.facts
    }

    /// Which side direction `dir` carries, as far as the hellos tell.
    pub fn side_of(&self, dir: usize) -> Side {
        self.analysis.side(dir)
    }

    /// A segment in direction `dir` came inside `tunnel`.
    pub fn on_tunnel(&mut self, dir: usize, tunnel: Tunnel) {
        self.analysis.note_tunnel(dir, tunnel);
    }

    /// Heap memory held by the record buffers and the facts gathered so far.
    pub fn heap_bytes(&self) -> usize {
        self.streams.iter().map(RecordStream::heap_bytes).sum::<usize>()
            + self.analysis.facts_heap
            + vec_bytes(&self.analysis.facts.malformed_messages)
    }

    fn progress(&mut self) -> Progress {
        let found = self.streams.iter().any(|s| s.found_tls());
        if !found {
            return if self.streams.iter().any(|s| s.mode() == ParseState::NotTls) { Progress::NotTls } else { Progress::Inspecting };
        }
        let a = &mut self.analysis;
        let f = &a.facts;
        let both_encrypted = f.encrypted_records[0] > 0 && f.encrypted_records[1] > 0;
        if let Some(sh) = f.server_hello.as_ref() {
            let established =
                if sh.is_tls13() { both_encrypted } else { f.change_cipher_spec[0] && f.change_cipher_spec[1] && both_encrypted };
            if established {
                a.facts.established = true;
                return Progress::Done;
            }
        }
        if a.failed || f.sslv2_server_hello {
            return Progress::Done;
        }
        let over_budget = self.streams.iter().any(|s| s.bytes_seen > a.limits.max_inspect);
        if over_budget {
            a.facts.limits_hit.insert(CapHit::InspectedBytes);
            a.inspect_cap_hit = true;
            return Progress::Done;
        }
        let both_stuck = self.streams.iter().all(|s| matches!(s.mode(), ParseState::NotTls | ParseState::Stopped));
        if both_stuck {
            return Progress::Done;
        }
        Progress::Inspecting
    }

    /// Ends the analysis: the facts, when any TLS was seen, with the record
    /// layer's counters added to `stats`.
    pub fn finish(mut self, last_seen: i64, stats: &mut WorkerStats) -> Option<SessionFacts> {
        for s in &mut self.streams {
            stats.tls_resyncs += s.counters.resyncs;
            stats.tls_handshake_cap_hits += s.counters.handshake_cap_hits;
            for _ in 0..s.counters.bad_records {
                stats.decode_errors.count(DecodeErrorKind::TlsRecord);
            }
        }
        if self.analysis.inspect_cap_hit {
            stats.tls_inspect_cap_hits += 1;
        }
        if !self.streams.iter().any(|s| s.found_tls()) && !self.analysis.messages_seen {
            return self.clear_text(last_seen);
        }
        let mut facts = self.analysis.facts;
        facts.last_seen = last_seen;
        let client_dir = self.analysis.client_dir.unwrap_or(0);
        let client_stream = &self.streams[client_dir];
        let server_stream = &self.streams[1 - client_dir];
        if client_stream.had_preamble() || server_stream.had_preamble() {
            facts.preamble = Some(preamble::read(
                &client_stream.preamble,
                &server_stream.preamble,
                client_stream.upgrade_words.seen,
                server_stream.upgrade_words.seen,
                facts.server.port,
            ));
        }
        Some(facts)
    }
}

impl TlsConnection {
    /// A session that stayed in clear: the facts of a recognised protocol,
    /// read from the first bytes of each direction (direction 0 opened the
    /// connection). The kept bytes go with the connection.
    fn clear_text(self, last_seen: i64) -> Option<SessionFacts> {
        let [client, server] = &self.streams;
        if !client.had_preamble() && !server.had_preamble() {
            return None;
        }
        let mut facts = self.analysis.facts;
        fn side(s: &RecordStream) -> crate::cleartext::Direction<'_> {
            crate::cleartext::Direction {
                kept: &s.preamble,
                followed: s.follow.as_ref().map(|f| f.seen).unwrap_or_default(),
                named_upgrade: s.upgrade_words.seen,
            }
        }
        let seen = crate::cleartext::read(side(client), side(server), facts.server.port)?;
        facts.last_seen = last_seen;
        facts.cleartext = Some(Box::new(seen));
        Some(facts)
    }
}

impl Analysis {
    fn side(&self, dir: usize) -> Side {
        match self.client_dir {
            Some(c) if c == dir => Side::Client,
            Some(_) => Side::Server,
            None if dir == 0 => Side::Client,
            None => Side::Server,
        }
    }

    /// Fixes the roles: `dir` carries the client's bytes.
    fn set_client_dir(&mut self, dir: usize) {
        if self.client_dir.is_some() {
            return;
        }
        self.client_dir = Some(dir);
        if dir == 1 {
            std::mem::swap(&mut self.facts.client, &mut self.facts.server);
            self.facts.tunnel = self.facts.tunnel.map(Tunnel::reversed);
        }
    }

    /// The tunnel a segment in direction `dir` came in, kept once and
    /// oriented from the client's side to the server's.
    fn note_tunnel(&mut self, dir: usize, tunnel: Tunnel) {
        if self.facts.tunnel.is_none() {
            let from_client = dir == self.client_dir.unwrap_or(0);
            self.facts.tunnel = Some(if from_client { tunnel } else { tunnel.reversed() });
        }
    }

    fn handle(&mut self, dir: usize, event: RecordEvent<'_>, stats: &mut WorkerStats) -> Control {
        match event {
            RecordEvent::Handshake { msg_type, body } => self.handshake(dir, msg_type, body, stats),
            RecordEvent::HandshakeTooLarge { msg_type, .. } => {
                if msg_type == handshake::CERTIFICATE {
                    self.facts.certificate_chain_truncated = true;
                }
                self.facts.limits_hit.insert(CapHit::HandshakeSize);
                self.list_malformed(msg_type);
                Control::Continue
            }
            RecordEvent::ChangeCipherSpec => {
                let p = self.side(dir) as usize;
                self.facts.change_cipher_spec[p] = true;
                if self.facts.is_tls13() {
                    Control::Tls13
                } else if self.facts.server_hello.is_none() && self.client_dir.is_some() {
                    // Before TLS 1.2 and older have negotiated anything, a
                    // ChangeCipherSpec can only be TLS 1.3's compatibility
                    // message (after a HelloRetryRequest, or with early data):
                    // the records after it are still in clear.
                    Control::StayClear
                } else {
                    Control::Continue
                }
            }
            RecordEvent::Alert { level, description } => {
                let from = self.side(dir);
                if self.facts.alert.is_none() {
                    self.facts.alert = Some(AlertFacts { level, description, from });
                }
                if level == 2 {
                    self.failed = true;
                    return Control::Stop;
                }
                Control::Continue
            }
            RecordEvent::ApplicationData | RecordEvent::EncryptedHandshake | RecordEvent::EncryptedAlert => {
                let party = self.side(dir);
                let tls12 = self.facts.server_hello.as_ref().is_some_and(|sh| !sh.is_tls13());
                if matches!(event, RecordEvent::ApplicationData)
                    && party == Side::Client
                    && tls12
                    && !self.facts.change_cipher_spec[Side::Server as usize]
                {
                    self.facts.client_false_start = true;
                }
                let p = party as usize;
                self.facts.encrypted_records[p] += 1;
                Control::Continue
            }
            RecordEvent::Heartbeat => Control::Continue,
            RecordEvent::SslV2ClientHello(body) => {
                match hello::parse_sslv2_client_hello(body) {
                    Some(ch) => {
                        self.set_client_dir(dir);
                        self.facts.client_hello_count += 1;
                        if self.facts.client_hello.is_none() {
                            self.store_client_hello(ch);
                        }
                    }
                    None => self.malformed(handshake::CLIENT_HELLO, stats),
                }
                Control::Continue
            }
            RecordEvent::SslV2ServerHello => {
                self.set_client_dir(1 - dir);
                self.facts.sslv2_server_hello = true;
                Control::Stop
            }
        }
    }

    fn list_malformed(&mut self, msg_type: u8) {
        if self.facts.malformed_messages.len() < MAX_MALFORMED_LISTED {
            self.facts.malformed_messages.push(msg_type);
        }
    }

    fn malformed(&mut self, msg_type: u8, stats: &mut WorkerStats) {
        self.list_malformed(msg_type);
        stats.decode_errors.count(DecodeErrorKind::TlsHandshake);
    }

    /// Stores a ClientHello: the first one, or the one answering a retry.
    fn store_client_hello(&mut self, ch: facts::ClientHelloFacts) {
        if self.facts.client_hello.is_none() {
            self.facts_heap += ch.heap_bytes();
            self.facts.client_hello = Some(ch);
        } else if self.facts.server_hello.is_none() && self.facts.retried_client_hello.is_none() {
            // A second ClientHello before any ServerHello: the answer to a
            // HelloRetryRequest (seen or not), or a client that repeats itself.
            let ch = Box::new(ch);
            self.facts_heap += ch.heap_bytes();
            self.facts.retried_client_hello = Some(ch);
        }
    }

    fn handshake(&mut self, dir: usize, msg_type: u8, body: &[u8], stats: &mut WorkerStats) -> Control {
        match msg_type {
            handshake::CLIENT_HELLO => match hello::parse_client_hello(body) {
                Some(ch) => {
                    self.set_client_dir(dir);
                    self.facts.client_hello_count += 1;
                    self.store_client_hello(ch);
                }
                None => self.malformed(msg_type, stats),
            },
            handshake::SERVER_HELLO => {
                self.set_client_dir(1 - dir);
                match hello::parse_server_hello(body) {
                    Some(ServerHelloKind::Hello(sh)) => {
                        if self.facts.server_hello.is_none() {
                            let tls13 = sh.is_tls13();
                            self.facts_heap += sh.heap_bytes();
                            self.facts.server_hello = Some(sh);
                            if tls13 {
                                return Control::Tls13;
                            }
                        }
                    }
                    Some(ServerHelloKind::Retry(hrr)) => {
                        self.facts.hello_retry.get_or_insert(hrr);
                    }
                    None => self.malformed(msg_type, stats),
                }
            }
            handshake::HELLO_RETRY_REQUEST => match hello::parse_draft_hello_retry(body) {
                Some(hrr) => {
                    self.facts.hello_retry.get_or_insert(hrr);
                }
                None => self.malformed(msg_type, stats),
            },
            handshake::CERTIFICATE => self.certificates(dir, body, stats),
            handshake::SERVER_KEY_EXCHANGE => self.server_key_exchange(body, stats),
            handshake::CERTIFICATE_STATUS => self.facts.ocsp_stapled = true,
            handshake::NEW_SESSION_TICKET => {
                if let Some(b) = body.get(..4) {
                    self.facts.new_session_ticket_lifetime = Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                }
            }
            handshake::CERTIFICATE_REQUEST => self.facts.client_certificate_requested = true,
            handshake::SERVER_HELLO_DONE => self.facts.server_hello_done = true,
            _ => {}
        }
        Control::Continue
    }

    fn certificates(&mut self, dir: usize, body: &[u8], stats: &mut WorkerStats) {
        let chain = match tls_parser::parse_tls_handshake_msg_certificate(body) {
            Ok((_, TlsMessageHandshake::Certificate(c))) => c.cert_chain,
            _ => return self.malformed(handshake::CERTIFICATE, stats),
        };
        let party = self.side(dir);
        let max = self.limits.max_chain;
        let mut parsed = Vec::new();
        for raw in chain.iter().take(max) {
            let (facts, cached) = cert::parse_certificate_cached(raw.data);
            if cached {
                stats.certificate_cache_hits += 1;
            }
            match facts {
                Some(c) => parsed.push(c),
                None => stats.decode_errors.count(DecodeErrorKind::Certificate),
            }
        }
        if chain.len() > max {
            stats.tls_chain_cap_hits += 1;
            self.facts.certificate_chain_truncated = true;
            self.facts.limits_hit.insert(CapHit::ChainLength);
        }
        let slot = match party {
            Side::Server => &mut self.facts.server_certificates,
            Side::Client => &mut self.facts.client_certificates,
        };
        if slot.is_empty() {
            self.facts_heap += vec_bytes(&parsed) + parsed.iter().map(|c| c.heap_bytes()).sum::<usize>();
            *slot = parsed;
        }
    }

    fn server_key_exchange(&mut self, body: &[u8], stats: &mut WorkerStats) {
        let Some(sh) = self.facts.server_hello.as_ref() else { return };
        let Some(layout) = kex::layout(sh.cipher) else {
            // A known suite that sends no ServerKeyExchange got one anyway: it
            // is listed, not guessed at. An unknown suite leaves no layout.
            if tls_parser::TlsCipherSuite::from_id(sh.cipher).is_some() {
                self.list_malformed(handshake::SERVER_KEY_EXCHANGE);
            }
            return;
        };
        let Some(kx) = kex::parse(body, layout, names::tls_equivalent(sh.version()) == 0x0303) else {
            return self.malformed(handshake::SERVER_KEY_EXCHANGE, stats);
        };
        if self.facts.key_exchange.is_none() {
            self.facts_heap += kx.heap_bytes();
            self.facts.key_exchange = Some(kx);
        }
    }
}

