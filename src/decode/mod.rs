//! Link, network and transport decoding: turns a captured frame into a TCP segment
//! (addresses, ports, sequence numbers, flags, payload) or says why it is not one.
//!
//! Supported link types: Ethernet II with 802.1Q / QinQ VLAN tags, Linux cooked
//! capture (SLL and SLL2), raw IPv4/IPv6, and BSD loopback (NULL and LOOP). IP
//! fragments are reassembled in a bounded table (`defrag`). Frames cut short by
//! the snap length are decoded as far as the bytes allow; the TCP payload bytes
//! that were announced but not captured are reported as `missing` so that the
//! reassembler can treat them as a gap.

pub mod defrag;

use std::net::IpAddr;

use etherparse::{
    ether_type, ip_number, EtherType, LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, TcpSlice,
};

use crate::stats::DecodeErrorKind;
use defrag::{Defragmenter, FragmentKey, FragmentOutcome};

/// libpcap link-layer header types (LINKTYPE_* values).
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW_OLD_12: u32 = 12;
    pub const RAW_OLD_14: u32 = 14;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;

    /// Whether the decoder understands this link type.
    pub fn is_supported(linktype: u32) -> bool {
        matches!(
            linktype,
            NULL | ETHERNET | RAW_OLD_12 | RAW_OLD_14 | RAW | LOOP | LINUX_SLL | IPV4 | IPV6 | LINUX_SLL2
        )
    }
}

/// TCP flag bits as they appear in the header.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;
}

/// One decoded TCP segment. `payload` borrows either the frame or the
/// defragmenter's buffer.
#[derive(Debug, Clone)]
pub struct TcpSegment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// Outermost VLAN id, when the frame was tagged.
    pub vlan: Option<u16>,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload: &'a [u8],
    /// Payload bytes announced by the IP length but not captured (snap length).
    pub missing: u32,
}

/// What a frame turned out to be.
#[derive(Debug)]
pub enum Decoded<'a> {
    Tcp(TcpSegment<'a>),
    /// A fragment was stored; the datagram is not complete yet.
    FragmentHeld,
    /// A valid frame that carries something other than TCP (UDP, ARP, ICMP, ...).
    NotTcp,
    /// A frame that could not be decoded.
    Error(DecodeErrorKind),
}

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
        let sliced = match slice_link(linktype, frame) {
            Ok(Some(s)) => s,
            Ok(None) => return Decoded::NotTcp,
            Err(kind) => return Decoded::Error(kind),
        };
        let vlan = outer_vlan(&sliced);
        let Some(net) = sliced.net.as_ref() else {
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
                let mut frag = None;
                if v6.is_payload_fragmented() {
                    for ext in v6.extensions().clone().into_iter() {
                        if let etherparse::Ipv6ExtensionSlice::Fragment(f) = ext {
                            frag = Some((
                                FragmentKey::v6(src, dst, v6.payload().ip_number.0, f.identification(), vlan),
                                f.fragment_offset().value() as usize * 8,
                                f.more_fragments(),
                            ));
                        }
                    }
                }
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
                    return tcp_from_ip_payload(src, dst, vlan, &self.reassembled, 0);
                }
            }
        }
        if payload.ip_number != ip_number::TCP {
            return Decoded::NotTcp;
        }
        let missing = if payload.incomplete { claimed_len.saturating_sub(payload.payload.len()) } else { 0 };
        tcp_from_ip_payload(src, dst, vlan, payload.payload, missing)
    }

    /// Drops fragments older than the timeout; called as packet time advances.
    pub fn expire(&mut self, now: i64) {
        self.defrag.expire(now);
    }
}

fn tcp_from_ip_payload<'a>(
    src: IpAddr,
    dst: IpAddr,
    vlan: Option<u16>,
    bytes: &'a [u8],
    missing: usize,
) -> Decoded<'a> {
    match TcpSlice::from_slice(bytes) {
        Ok(tcp) => {
            let flag = |set: bool, bit: u8| if set { bit } else { 0 };
            let flags = flag(tcp.fin(), tcp_flags::FIN)
                | flag(tcp.syn(), tcp_flags::SYN)
                | flag(tcp.rst(), tcp_flags::RST)
                | flag(tcp.ack(), tcp_flags::ACK);
            Decoded::Tcp(TcpSegment {
                src,
                dst,
                src_port: tcp.source_port(),
                dst_port: tcp.destination_port(),
                vlan,
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

/// Slices the frame by link type. `Ok(None)` means a valid frame that is not IP.
fn slice_link(linktype: u32, frame: &[u8]) -> Result<Option<LaxSlicedPacket<'_>>, DecodeErrorKind> {
    use linktype::*;
    match linktype {
        ETHERNET => LaxSlicedPacket::from_ethernet(frame).map(Some).map_err(|_| DecodeErrorKind::Truncated),
        RAW | RAW_OLD_12 | RAW_OLD_14 | IPV4 | IPV6 => from_ip(frame),
        NULL | LOOP => {
            if frame.len() < 4 {
                return Err(DecodeErrorKind::Truncated);
            }
            let raw = [frame[0], frame[1], frame[2], frame[3]];
            // NULL stores the address family in the capturing host's byte order,
            // LOOP in network order; accept either.
            let family = if linktype == LOOP {
                u32::from_be_bytes(raw)
            } else {
                let le = u32::from_le_bytes(raw);
                if le <= 0xFFFF { le } else { u32::from_be_bytes(raw) }
            };
            match family {
                // AF_INET everywhere; AF_INET6 is 10 (Linux), 24 (BSDs), 28 (FreeBSD), 30 (macOS).
                2 | 10 | 24 | 28 | 30 => from_ip(&frame[4..]),
                _ => Ok(None),
            }
        }
        LINUX_SLL => {
            if frame.len() < 16 {
                return Err(DecodeErrorKind::Truncated);
            }
            let proto = u16::from_be_bytes([frame[14], frame[15]]);
            Ok(Some(LaxSlicedPacket::from_ether_type(EtherType(proto), &frame[16..])))
        }
        LINUX_SLL2 => {
            if frame.len() < 20 {
                return Err(DecodeErrorKind::Truncated);
            }
            let proto = u16::from_be_bytes([frame[0], frame[1]]);
            Ok(Some(LaxSlicedPacket::from_ether_type(EtherType(proto), &frame[20..])))
        }
        _ => Err(DecodeErrorKind::UnsupportedLinkType),
    }
}

fn from_ip(bytes: &[u8]) -> Result<Option<LaxSlicedPacket<'_>>, DecodeErrorKind> {
    match bytes.first().map(|b| b >> 4) {
        Some(4) => Ok(Some(LaxSlicedPacket::from_ether_type(ether_type::IPV4, bytes))),
        Some(6) => Ok(Some(LaxSlicedPacket::from_ether_type(ether_type::IPV6, bytes))),
        Some(_) => Err(DecodeErrorKind::BadIpHeader),
        None => Err(DecodeErrorKind::Truncated),
    }
}

fn outer_vlan(sliced: &LaxSlicedPacket<'_>) -> Option<u16> {
    sliced.link_exts.iter().find_map(|ext| match ext {
        LaxLinkExtSlice::Vlan(v) => Some(v.vlan_identifier().value()),
        LaxLinkExtSlice::Macsec(_) => None,
    })
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
                assert_eq!(seg.src_port, 40000);
                assert_eq!(seg.dst_port, 443);
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
}
