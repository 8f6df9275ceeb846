//! Link, network and transport decoding: turns a captured frame into a TCP segment
//! (addresses, ports, sequence numbers, flags, payload), a UDP datagram that
//! may carry a handshake (QUIC long-header packets, DTLS handshake records),
//! or says why it is neither.
//!
//! Supported link types: Ethernet II with 802.1Q / QinQ VLAN tags, Linux cooked
//! capture (SLL and SLL2), raw IPv4/IPv6, and BSD loopback (NULL and LOOP);
//! inside them the encapsulations of `tunnel` are peeled (GRE, ERSPAN, VXLAN,
//! GENEVE, IP-in-IP, MPLS, PPPoE). Link slicing is in `link`. IP fragments
//! are reassembled in a bounded table (`defrag`). Frames cut short by
//! the snap length are decoded as far as the bytes allow; the TCP payload bytes
//! that were announced but not captured are reported as `missing` so that the
//! reassembler can treat them as a gap.

pub mod defrag;
mod fast;
mod link;
pub mod tunnel;
mod udp;

use std::net::IpAddr;

use etherparse::{ip_number, LaxNetSlice, LaxSlicedPacket, TcpSlice};

use crate::stats::DecodeErrorKind;
use defrag::{Defragmenter, FragmentKey, FragmentOutcome};
use fast::{fast_ethernet_tcp, fast_ethernet_udp};
use link::{from_ip, outer_vlan, slice_link};
pub use link::linktype;
pub use udp::{handshake_datagram, quic_version_with_initial_keys};
use udp::udp_from_ip_payload;

/// TCP flag bits as they appear in the header.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;
}

/// The transport protocol a segment came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    #[default]
    Tcp,
    Udp,
}

impl Transport {
    /// `network.transport` of ECS.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// One endpoint of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// One TCP segment or UDP datagram, from the decoder through the worker
/// queues to the flow table (a datagram has no sequence numbers or flags). `P` is where its payload is: the bytes themselves (`Segment`,
/// borrowing the frame or the defragmenter's buffer), or, in a batch on its
/// way to a worker, their place in the batch's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportSegment<P> {
    /// Capture time, microseconds since the epoch.
    pub ts: i64,
    pub src: Endpoint,
    pub dst: Endpoint,
    /// Outermost VLAN id, when the frame was tagged.
    pub vlan: Option<u16>,
    pub transport: Transport,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload: P,
    /// Payload bytes announced by the IP length but not captured (snap
    /// length), or left out because the flow is bypassed.
    pub missing: u32,
}

/// A segment with its payload bytes.
pub type Segment<'a> = TransportSegment<&'a [u8]>;

impl<P> TransportSegment<P> {
    /// The same segment with its payload elsewhere.
    pub fn with_payload<Q>(&self, payload: Q) -> TransportSegment<Q> {
        TransportSegment {
            ts: self.ts,
            src: self.src,
            dst: self.dst,
            vlan: self.vlan,
            transport: self.transport,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            payload,
            missing: self.missing,
        }
    }
}

/// What a frame turned out to be.
#[derive(Debug)]
pub enum Decoded<'a> {
    Tcp(Segment<'a>),
    /// A UDP datagram that may carry a handshake (see `handshake_datagram`).
    Udp(Segment<'a>),
    /// A TCP segment or UDP datagram that arrived inside a tunnel (the
    /// outermost one named).
    Tunnelled(Segment<'a>, tunnel::Tunnel),
    /// A fragment was stored; the datagram is not complete yet.
    FragmentHeld,
    /// A valid frame that carries something other than TCP or a handshake
    /// datagram (other UDP, ARP, ICMP, ...).
    NotTcp,
    /// A frame that could not be decoded.
    Error(DecodeErrorKind),
}

/// Encapsulations peeled at most, one inside another: deeper nesting is
/// not mirrored traffic but a crafted packet.
const MAX_TUNNEL_DEPTH: u8 = 4;

/// Decoder state: only the IP defragmenter, which outlives single frames.
pub struct Decoder {
    defrag: Defragmenter,
    reassembled: Vec<u8>,
}

impl Decoder {
    pub fn new(max_datagrams: usize, timeout_micros: i64) -> Self {
        Decoder { defrag: Defragmenter::new(max_datagrams, timeout_micros), reassembled: Vec::new() }
    }

    /// Counters kept by the defragmenter.
    pub fn defrag_stats(&self) -> &defrag::DefragStats {
        self.defrag.stats()
    }

    /// Decodes one frame captured at `ts` (microseconds since the epoch).
    pub fn decode<'a>(&'a mut self, linktype: u32, frame: &'a [u8], ts: i64) -> Decoded<'a> {
        if linktype == linktype::ETHERNET {
            if let Some(decoded) = fast_ethernet_tcp(frame, ts) {
                return decoded;
            }
            if let Some(decoded) = fast_ethernet_udp(frame, ts) {
                return decoded;
            }
        }
        self.decode_general(linktype, frame, ts)
    }

    /// Decodes any frame with etherparse's general slicer.
    fn decode_general<'a>(&'a mut self, linktype: u32, frame: &'a [u8], ts: i64) -> Decoded<'a> {
        let sliced = match slice_link(linktype, frame) {
            Ok(Some(s)) => s,
            Ok(None) => return Decoded::NotTcp,
            Err(kind) => return Decoded::Error(kind),
        };
        self.decode_sliced(sliced, None, ts, 0, None)
    }

    /// Decodes a sliced frame, or the frame an encapsulation holds (`depth`
    /// layers in; `vlan` the tag of an outer layer, which wins).
    fn decode_sliced<'a>(
        &'a mut self,
        sliced: LaxSlicedPacket<'a>,
        vlan: Option<u16>,
        ts: i64,
        depth: u8,
        outermost: Option<tunnel::Tunnel>,
    ) -> Decoded<'a> {
        let vlan = vlan.or_else(|| outer_vlan(&sliced));
        let Some(net) = sliced.net.as_ref() else {
            // MPLS or PPPoE after the link header.
            let peeled = sliced.ether_payload().and_then(|p| tunnel::from_ether_type(p.ether_type.0, p.payload));
            if let (Some(peeled), true) = (peeled, depth < MAX_TUNNEL_DEPTH) {
                let outermost = outermost.or(Some(tunnel::Tunnel { kind: peeled.kind, id: peeled.id, outer: None }));
                return self.decode_inner(peeled, vlan, ts, depth, outermost);
            }
            return match sliced.stop_err {
                Some(_) => Decoded::Error(DecodeErrorKind::Truncated),
                None => Decoded::NotTcp,
            };
        };
        let (src, dst): (IpAddr, IpAddr) = match net {
            LaxNetSlice::Ipv4(v4) => (v4.header().source_addr().into(), v4.header().destination_addr().into()),
            LaxNetSlice::Ipv6(v6) => (v6.header().source_addr().into(), v6.header().destination_addr().into()),
            LaxNetSlice::Arp(_) => return Decoded::NotTcp,
        };
        let (payload, claimed_len, fragment) = match net {
            LaxNetSlice::Ipv4(v4) => {
                let h = v4.header();
                let claimed = (h.total_len() as usize)
                    .saturating_sub(h.slice().len())
                    .saturating_sub(v4.extensions().auth.map_or(0, |a| a.slice().len()));
                let frag = if v4.is_payload_fragmented() {
                    Some((
                        FragmentKey::v4(src, dst, h.protocol().0, h.identification(), vlan),
                        h.fragments_offset().value() as usize * 8,
                        h.more_fragments(),
                    ))
                } else {
                    None
                };
                (v4.payload(), claimed, frag)
            }
            LaxNetSlice::Ipv6(v6) => {
                let h = v6.header();
                let claimed = (h.payload_length() as usize).saturating_sub(v6.extensions().slice().len());
                let frag = if v6.is_payload_fragmented() {
                    ipv6_fragment_header(h.next_header().0, v6.extensions().slice()).map(|(id, offset, more)| {
                        (FragmentKey::v6(src, dst, v6.payload().ip_number.0, id, vlan), offset, more)
                    })
                } else {
                    None
                };
                (v6.payload(), claimed, frag)
            }
            LaxNetSlice::Arp(_) => return Decoded::NotTcp,
        };
        if let Some((key, offset, more)) = fragment {
            if payload.incomplete {
                return Decoded::Error(DecodeErrorKind::TruncatedFragment);
            }
            if key.protocol != ip_number::TCP.0 {
                // Only TCP datagrams are worth the memory of reassembly.
                return Decoded::NotTcp;
            }
            match self.defrag.add(key, offset, more, payload.payload, ts) {
                FragmentOutcome::Held => return Decoded::FragmentHeld,
                FragmentOutcome::Dropped(kind) => return Decoded::Error(kind),
                FragmentOutcome::Complete(datagram) => {
                    self.reassembled = datagram;
                    return within(tcp_from_ip_payload(src, dst, vlan, &self.reassembled, 0, ts), outermost);
                }
            }
        }
        if payload.ip_number != ip_number::TCP {
            if depth < MAX_TUNNEL_DEPTH {
                if let Some(peeled) = tunnel::from_ip_payload(payload.ip_number.0, payload.payload) {
                    let here = tunnel::Tunnel { kind: peeled.kind, id: peeled.id, outer: Some((src, dst)) };
                    return self.decode_inner(peeled, vlan, ts, depth, outermost.or(Some(here)));
                }
            }
            if payload.ip_number == ip_number::UDP {
                return within(udp_from_ip_payload(src, dst, vlan, payload.payload, ts), outermost);
            }
            return Decoded::NotTcp;
        }
        let missing = if payload.incomplete { claimed_len.saturating_sub(payload.payload.len()) } else { 0 };
        within(tcp_from_ip_payload(src, dst, vlan, payload.payload, missing, ts), outermost)
    }

    /// Decodes what a tunnel holds, one layer deeper.
    fn decode_inner<'a>(
        &'a mut self,
        peeled: tunnel::Peeled<'a>,
        vlan: Option<u16>,
        ts: i64,
        depth: u8,
        outermost: Option<tunnel::Tunnel>,
    ) -> Decoded<'a> {
        let sliced = match peeled.inner {
            tunnel::Inner::Ethernet(frame) => match LaxSlicedPacket::from_ethernet(frame) {
                Ok(s) => s,
                Err(_) => return Decoded::Error(DecodeErrorKind::Truncated),
            },
            tunnel::Inner::Ip(packet) => match from_ip(packet) {
                Ok(Some(s)) => s,
                Ok(None) => return Decoded::NotTcp,
                Err(kind) => return Decoded::Error(kind),
            },
        };
        self.decode_sliced(sliced, vlan, ts, depth + 1, outermost)
    }

    /// Drops fragments older than the timeout; called as packet time advances.
    pub fn expire(&mut self, now: i64) {
        self.defrag.expire(now);
    }
}

/// A decoded segment, named as tunnelled when it came in one.
fn within(decoded: Decoded<'_>, tunnel: Option<tunnel::Tunnel>) -> Decoded<'_> {
    match (decoded, tunnel) {
        (Decoded::Tcp(seg) | Decoded::Udp(seg), Some(t)) => Decoded::Tunnelled(seg, t),
        (other, _) => other,
    }
}

fn tcp_from_ip_payload<'a>(
    src: IpAddr,
    dst: IpAddr,
    vlan: Option<u16>,
    bytes: &'a [u8],
    missing: usize,
    ts: i64,
) -> Decoded<'a> {
    match TcpSlice::from_slice(bytes) {
        Ok(tcp) => {
            let flag = |set: bool, bit: u8| if set { bit } else { 0 };
            let flags = flag(tcp.fin(), tcp_flags::FIN)
                | flag(tcp.syn(), tcp_flags::SYN)
                | flag(tcp.rst(), tcp_flags::RST)
                | flag(tcp.ack(), tcp_flags::ACK);
            Decoded::Tcp(TransportSegment {
                ts,
                src: Endpoint { ip: src, port: tcp.source_port() },
                dst: Endpoint { ip: dst, port: tcp.destination_port() },
                vlan,
                transport: Transport::Tcp,
                seq: tcp.sequence_number(),
                ack: tcp.acknowledgment_number(),
                flags,
                payload: tcp.payload(),
                missing: u32::try_from(missing).unwrap_or(u32::MAX),
            })
        }
        Err(etherparse::err::tcp::HeaderSliceError::Len(_)) => Decoded::Error(DecodeErrorKind::Truncated),
        Err(etherparse::err::tcp::HeaderSliceError::Content(_)) => Decoded::Error(DecodeErrorKind::BadTcpHeader),
    }
}

/// The fragment header among IPv6 extension headers: identification, offset
/// in bytes, more-fragments flag. Walks the headers with every length
/// checked: etherparse's own iterator trusts the chain to be complete and
/// reads past the slice when a lax parse cut it short (found by fuzzing).
fn ipv6_fragment_header(first: u8, mut exts: &[u8]) -> Option<(u32, usize, bool)> {
    let mut next = first;
    loop {
        let len = match next {
            // Hop-by-hop, routing, destination options: 8-byte units after the first 8.
            0 | 43 | 60 => (usize::from(*exts.get(1)?) + 1) * 8,
            44 => {
                let f = exts.get(..8)?;
                let offset = usize::from(u16::from_be_bytes([f[2], f[3]]) >> 3) * 8;
                let id = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
                return Some((id, offset, f[3] & 1 == 1));
            }
            // Authentication header: 4-byte units after the first 8.
            51 => (usize::from(*exts.get(1)?) + 2) * 4,
            _ => return None,
        };
        next = *exts.first()?;
        exts = exts.get(len..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
        let builder = etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .single_vlan(etherparse::VlanId::try_new(42).expect("valid id"))
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 443, 1000, 64240);
        let mut out = Vec::new();
        builder.write(&mut out, payload).expect("write to a Vec");
        out
    }

    #[test]
    fn decodes_vlan_tagged_ipv4_tcp() {
        let frame = ipv4_tcp(b"hello");
        let mut d = Decoder::new(16, 30_000_000);
        match d.decode(linktype::ETHERNET, &frame, 0) {
            Decoded::Tcp(seg) => {
                assert_eq!(seg.vlan, Some(42));
                assert_eq!(seg.src.port, 40000);
                assert_eq!(seg.dst.port, 443);
                assert_eq!(seg.seq, 1000);
                assert_eq!(seg.payload, b"hello");
                assert_eq!(seg.missing, 0);
            }
            other => panic!("expected TCP, got {other:?}"),
        }
    }

    #[test]
    fn truncated_frame_reports_missing_payload() {
        let frame = ipv4_tcp(&[7u8; 100]);
        let cut = &frame[..frame.len() - 40];
        let mut d = Decoder::new(16, 30_000_000);
        match d.decode(linktype::ETHERNET, cut, 0) {
            Decoded::Tcp(seg) => {
                assert_eq!(seg.payload.len(), 60);
                assert_eq!(seg.missing, 40);
            }
            other => panic!("expected TCP, got {other:?}"),
        }
    }

    #[test]
    fn every_prefix_of_a_frame_decodes_without_panic() {
        let frame = ipv4_tcp(&[7u8; 50]);
        let mut d = Decoder::new(16, 30_000_000);
        for lt in [linktype::ETHERNET, linktype::RAW, linktype::NULL, linktype::LINUX_SLL, linktype::LINUX_SLL2] {
            for n in 0..frame.len() {
                let _ = d.decode(lt, &frame[..n], 0);
            }
        }
    }

    /// Every Ethernet frame of the bundled and third-party captures.
    fn real_ethernet_frames() -> Vec<Vec<u8>> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let thirdparty = std::env::var_os("TLSAUDIT_THIRDPARTY")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| root.join("../shared/captures/thirdparty"));
        let mut files = Vec::new();
        let mut dirs = vec![root.join("captures"), thirdparty];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
                    files.push(path);
                }
            }
        }
        files.sort();
        let mut frames = Vec::new();
        for path in files {
            let Ok(input) = crate::capture::file::open(&path, Default::default()) else { continue };
            let _ = crate::capture::file::read_packets(input, &mut |p| {
                if p.linktype == linktype::ETHERNET {
                    frames.push(p.data.to_vec());
                }
                true
            });
        }
        frames
    }

    /// Checks the fast path against the general one on a frame; true when
    /// the fast path took it.
    fn fast_agrees(frame: &[u8]) -> bool {
        let Some(fast) = fast_ethernet_tcp(frame, 0).or_else(|| fast_ethernet_udp(frame, 0)) else { return false };
        let mut d = Decoder::new(16, 30_000_000);
        let general = d.decode_general(linktype::ETHERNET, frame, 0);
        let same = match (&fast, &general) {
            (Decoded::Tcp(a), Decoded::Tcp(b)) | (Decoded::Udp(a), Decoded::Udp(b)) => a == b,
            _ => format!("{fast:?}") == format!("{general:?}"),
        };
        assert!(same, "fast and general decoding differ on {frame:02x?}: {fast:?} vs {general:?}");
        true
    }

    #[test]
    fn fast_path_equals_the_general_decoder_on_real_and_damaged_frames() {
        let frames = real_ethernet_frames();
        assert!(frames.len() > 10_000, "captures missing: {} Ethernet frames", frames.len());
        let mut d = Decoder::new(16, 30_000_000);
        let tcp = frames.iter().filter(|f| matches!(d.decode_general(linktype::ETHERNET, f, 0), Decoded::Tcp(_))).count();
        let udp = frames.iter().filter(|f| matches!(d.decode_general(linktype::ETHERNET, f, 0), Decoded::Udp(_))).count();
        let fast = frames.iter().filter(|f| fast_agrees(f)).count();
        assert!(fast * 10 >= tcp * 9, "the fast path took only {fast} of {tcp} TCP frames");
        // Handshake datagrams (QUIC, DTLS) too, and the rest of UDP.
        let fast_udp = frames.iter().filter(|f| matches!(fast_ethernet_udp(f, 0), Some(Decoded::Udp(_)))).count();
        assert!(udp > 100 && fast_udp * 10 >= udp * 9, "the fast path took {fast_udp} of {udp} handshake datagrams");
        let fast_other_udp = frames.iter().filter(|f| matches!(fast_ethernet_udp(f, 0), Some(Decoded::NotTcp))).count();
        assert!(fast_other_udp > 100, "the fast path took only {fast_other_udp} other datagrams");
        // Copies re-tagged with 802.1Q (priority bits set, VLAN 100) and
        // with QinQ, which the fast path leaves to the general one.
        let mut tagged = Vec::new();
        for frame in frames.iter().step_by(3).filter(|f| f.len() > 14) {
            for tags in [&[0x81, 0x00, 0xa0, 0x64][..], &[0x88, 0xa8, 0x00, 0x07, 0x81, 0x00, 0xa0, 0x64]] {
                let mut copy = frame[..12].to_vec();
                copy.extend_from_slice(tags);
                copy.extend_from_slice(&frame[12..]);
                tagged.push(copy);
            }
        }
        let tagged_fast = tagged.iter().filter(|f| fast_agrees(f)).count();
        assert!(tagged_fast * 3 >= fast / 2, "few tagged frames took the fast path: {tagged_fast}");
        // Damaged copies: every header byte set to values that matter to
        // one field or another, and every cut within the headers.
        let mut damaged = 0;
        for frame in frames.iter().step_by(7).chain(tagged.iter().step_by(11)) {
            let headers = frame.len().min(96);
            for at in 0..headers {
                for value in [0x00, 0x01, 0x05, 0x06, 0x0f, 0x40, 0x45, 0x60, 0x81, 0xff, frame[at] ^ 0x20] {
                    let mut copy = frame.clone();
                    copy[at] = value;
                    damaged += usize::from(fast_agrees(&copy));
                }
                fast_agrees(&frame[..at]);
            }
        }
        assert!(damaged > 100_000, "few damaged frames took the fast path: {damaged}");
    }

    /// The IPv6 frame the decode fuzz target found: the payload length
    /// claims more than the frame holds and the next header is a fragment
    /// header; etherparse's extension iterator read past its slice on it
    /// (undefined behaviour; an abort with debug assertions).
    #[test]
    fn ipv6_fragment_with_a_cut_extension_chain() {
        let frame: [u8; 94] = [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x86, 0xdd, 0x60, 0x03,
            0x5b, 0x45, 0x20, 0x28, 0x2c, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd3, 0xd3,
            0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0x2b, 0x2c, 0x2c, 0x2c, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3,
            0xd3, 0xd3, 0xd3, 0xd3, 0x26, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3,
            0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3, 0xd3,
        ];
        let mut d = Decoder::new(16, 30_000_000);
        let decoded = d.decode(linktype::ETHERNET, &frame, 0);
        assert!(matches!(decoded, Decoded::Error(_) | Decoded::NotTcp | Decoded::FragmentHeld), "{decoded:?}");
        // A fragment header read by hand: identification, offset, more flag.
        let exts = [6, 0, 0x01, 0x01, 0, 0, 0x12, 0x34];
        assert_eq!(ipv6_fragment_header(44, &exts), Some((0x1234, 256, true)));
        let hop_then_frag = [44, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0x10, 0, 0, 0, 9];
        assert_eq!(ipv6_fragment_header(0, &hop_then_frag), Some((9, 16, false)));
        assert_eq!(ipv6_fragment_header(0, &hop_then_frag[..12]), None);
        assert_eq!(ipv6_fragment_header(0, &[44, 200, 0, 0]), None);
    }
}
