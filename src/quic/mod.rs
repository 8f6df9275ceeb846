//! The TLS handshake of one QUIC connection, as an observer can read it:
//! the Initial packets of both sides are decrypted with the keys derived
//! from the client's Destination Connection ID, their CRYPTO frames are put
//! back in order, and the ClientHello and ServerHello they carry go to the
//! same TLS analysis as over TCP. Everything after (certificates included)
//! is in Handshake packets, whose keys an observer never has; those are
//! only counted. Version Negotiation, Retry and 0-RTT are recorded.

pub mod crypto_stream;
pub mod packet;
pub mod protection;

use crate::decode::tunnel::Tunnel;
use crate::memory::vec_bytes;
use crate::stats::{DecodeErrorKind, WorkerStats};
use crate::tls::facts::{AlertFacts, Carrier, Endpoint, QuicFacts, SessionFacts, Side};
use crate::tls::{Progress, TlsConnection, TlsLimits};
use crypto_stream::CryptoStream;
use packet::{LongPacket, PacketKind};
use protection::InitialSecrets;

pub use crate::decode::quic_version_with_initial_keys;

/// Versions of a Version Negotiation packet kept at most.
const MAX_VERSIONS_LISTED: usize = 16;

/// The name of a QUIC version as the output spells it: "1", "2",
/// "draft-29", else "0x" and 8 hex digits.
pub fn version_label(version: u32) -> String {
    match version {
        1 => "1".to_string(),
        protection::VERSION_2 => "2".to_string(),
        v if v >> 8 == 0x00ff_0000 => format!("draft-{}", v & 0xff),
        v => format!("0x{v:08x}"),
    }
}

/// The Initial keys of one (version, client Destination Connection ID).
struct KeySet {
    version: u32,
    dcid: Vec<u8>,
    secrets: InitialSecrets,
}

/// One QUIC connection's handshake analysis. Direction 0 is the side that
/// sent the Initial packet the flow started with: the client.
pub struct QuicConnection {
    tls: TlsConnection,
    crypto: [CryptoStream; 2],
    keys: Option<KeySet>,
    largest_packet_number: [Option<u64>; 2],
    /// Decrypted packets are written here, reused packet after packet.
    scratch: Vec<u8>,
    quic: QuicFacts,
    /// Direction of a CONNECTION_CLOSE in an Initial packet, and its code.
    close: Option<(usize, u64)>,
    /// The client's Source Connection ID (at most 20 bytes, and its length),
    /// which it keeps for all its Initial packets of this connection.
    client_scid: Option<([u8; 20], u8)>,
}

/// Whether a datagram can start a QUIC flow: a long-header Initial packet
/// of a version whose keys are known, in a datagram padded to the 1200
/// bytes every Initial-carrying datagram has (RFC 9000 §14.1).
pub fn starts_connection(datagram: &[u8]) -> bool {
    datagram.len() >= 1200
        && packet::long_packet(datagram)
            .is_some_and(|(p, _)| p.kind == PacketKind::Initial && quic_version_with_initial_keys(p.version))
}

impl QuicConnection {
    pub fn new(first_seen: i64, client: Endpoint, server: Endpoint, vlan: Option<u16>, limits: TlsLimits) -> Self {
        QuicConnection {
            tls: TlsConnection::new(first_seen, client, server, vlan, limits),
            crypto: Default::default(),
            keys: None,
            largest_packet_number: [None; 2],
            scratch: Vec::new(),
            quic: QuicFacts::default(),
            close: None,
            client_scid: None,
        }
    }

    /// Whether `datagram`, from the client's side, opens another
    /// connection: an Initial packet whose Source Connection ID is not the
    /// one this client has used. A client keeps its id through Retry and
    /// version negotiation; a new connection picks a new one. (Two
    /// connections whose clients both use empty ids look alike.)
    pub fn opens_another_connection(&self, datagram: &[u8]) -> bool {
        let Some((id, len)) = &self.client_scid else {
            return false;
        };
        packet::long_packet(datagram).is_some_and(|(p, _)| p.kind == PacketKind::Initial && p.scid != &id[..usize::from(*len)])
    }

    /// A datagram came inside `tunnel`.
    pub fn on_tunnel(&mut self, dir: usize, tunnel: Tunnel) {
        self.tls.on_tunnel(dir, tunnel);
    }

    /// Takes one datagram of direction `dir`: every long-header packet
    /// coalesced in it.
    pub fn on_datagram(&mut self, dir: usize, mut datagram: &[u8], stats: &mut WorkerStats) -> Progress {
        while let Some((packet, next)) = packet::long_packet(datagram) {
            self.on_packet(dir, &packet, stats);
            datagram = &datagram[next..];
        }
        self.progress()
    }

    fn on_packet(&mut self, dir: usize, p: &LongPacket<'_>, stats: &mut WorkerStats) {
        let q = &mut self.quic;
        match p.kind {
            PacketKind::VersionNegotiation => {
                if dir == 1 && q.version_negotiation.is_empty() {
                    q.version_negotiation = p
                        .versions
                        .chunks_exact(4)
                        .take(MAX_VERSIONS_LISTED)
                        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                        .collect();
                }
            }
            PacketKind::Retry => q.retry |= dir == 1,
            PacketKind::ZeroRtt => q.zero_rtt |= dir == 0,
            PacketKind::Handshake => q.handshake_packets[dir] = q.handshake_packets[dir].saturating_add(1),
            PacketKind::Initial => self.on_initial(dir, p, stats),
        }
    }

    fn on_initial(&mut self, dir: usize, p: &LongPacket<'_>, stats: &mut WorkerStats) {
        let q = &mut self.quic;
        q.initial_packets[dir] = q.initial_packets[dir].saturating_add(1);
        if dir == 0 && self.client_scid.is_none() {
            let mut id = [0u8; 20];
            // The packet reader takes no id over 20 bytes.
            id[..p.scid.len()].copy_from_slice(p.scid);
            self.client_scid = Some((id, p.scid.len() as u8));
        }
        if dir == 0 && q.client_version == 0 {
            q.client_version = p.version;
        }
        let Some(opened) = self.open_initial(dir, p) else {
            self.quic.undecryptable_initials += 1;
            return stats.decode_errors.count(DecodeErrorKind::QuicPacket);
        };
        let largest = self.largest_packet_number[dir];
        self.largest_packet_number[dir] = Some(largest.map_or(opened.packet_number, |l| l.max(opened.packet_number)));
        if dir == 1 {
            self.quic.server_version = Some(p.version);
        }
        let (crypto, close) = (&mut self.crypto[dir], &mut self.close);
        let well_formed = packet::initial_frames(&self.scratch[opened.payload], |frame| match frame {
            packet::Frame::Crypto { offset, data } => crypto.add(offset, data),
            packet::Frame::Close { code } => {
                close.get_or_insert((dir, code));
            }
        });
        if !well_formed {
            stats.decode_errors.count(DecodeErrorKind::QuicFrame);
        }
        let tls = &mut self.tls;
        crypto.drain(|msg_type, body| tls.on_handshake_message(dir, msg_type, body, stats));
    }

    /// Opens an Initial packet of direction `dir`. Both sides' keys derive
    /// from the Destination Connection ID of the client's first Initial
    /// (later ones address the server's chosen id under the same keys),
    /// and again from the one a client uses after a Retry; the version
    /// may change under compatible version negotiation (RFC 9368).
    fn open_initial(&mut self, dir: usize, p: &LongPacket<'_>) -> Option<protection::Opened> {
        let largest = self.largest_packet_number[dir];
        let keys = match self.keys.take() {
            Some(k) if k.version == p.version => Some(k),
            Some(k) => InitialSecrets::derive(p.version, &k.dcid).map(|secrets| KeySet { version: p.version, dcid: k.dcid, secrets }),
            None if dir == 0 => InitialSecrets::derive(p.version, p.dcid).map(|secrets| KeySet { version: p.version, dcid: p.dcid.to_vec(), secrets }),
            None => None,
        };
        self.keys = keys;
        let keys = self.keys.as_ref()?;
        let side = if dir == 0 { &keys.secrets.client } else { &keys.secrets.server };
        if let Some(opened) = protection::open(side, p.bytes, p.pn_offset, largest, &mut self.scratch) {
            return Some(opened);
        }
        if dir != 0 || keys.dcid == p.dcid {
            return None;
        }
        // The client's own Destination Connection ID: after a Retry.
        let retried = InitialSecrets::derive(p.version, p.dcid)?;
        let opened = protection::open(&retried.client, p.bytes, p.pn_offset, None, &mut self.scratch)?;
        self.keys = Some(KeySet { version: p.version, dcid: p.dcid.to_vec(), secrets: retried });
        Some(opened)
    }

    /// Over once the server's hello is known and both sides have gone on to
    /// Handshake packets (the client's carry its Finished), or when a side
    /// closed the connection during the Initial exchange.
    fn progress(&self) -> Progress {
        let hello = self.tls.facts().server_hello.is_some();
        let both_on = self.quic.handshake_packets.iter().all(|n| *n > 0);
        if (hello && both_on) || self.close.is_some() {
            Progress::Done
        } else {
            Progress::Inspecting
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.tls.heap_bytes()
            + self.crypto.iter().map(CryptoStream::heap_bytes).sum::<usize>()
            + vec_bytes(&self.scratch)
            + self.keys.as_ref().map_or(0, |k| std::mem::size_of::<KeySet>() + vec_bytes(&k.dcid))
            + vec_bytes(&self.quic.version_negotiation)
    }

    /// Ends the analysis: the facts, when a hello was read.
    pub fn finish(self, last_seen: i64, stats: &mut WorkerStats) -> Option<SessionFacts> {
        let QuicConnection { tls, crypto, mut quic, close, .. } = self;
        let sides = [tls.side_of(0), tls.side_of(1)];
        let mut facts = tls.finish(last_seen, stats)?;
        if crypto.iter().any(CryptoStream::given_up) {
            facts.limits_hit.insert(crate::tls::facts::CapHit::HandshakeSize);
        }
        if let Some((dir, code)) = close {
            quic.close = Some((code, sides[dir]));
            // A TLS alert travels as error 0x100 + its code (RFC 9001 §4.8).
            if let (0x100..=0x1ff, None) = (code, &facts.alert) {
                facts.alert = Some(AlertFacts { level: 2, description: (code - 0x100) as u8, from: sides[dir] });
            }
        }
        facts.established = facts.server_hello.is_some() && quic.handshake_packets.iter().all(|n| *n > 0) && close.is_none();
        if sides[0] == Side::Server {
            quic.initial_packets.swap(0, 1);
            quic.handshake_packets.swap(0, 1);
        }
        facts.carrier = Carrier::Quic(Box::new(quic));
        Some(facts)
    }
}
