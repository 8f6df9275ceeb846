//! The fast paths of decoding: the common frames (Ethernet II, at most one
//! VLAN tag, IPv4 that is no fragment or IPv6 without extension headers,
//! the whole packet captured) read without the general slicer, TCP first.
//! For what they accept, the answer is the general path's.

use std::net::IpAddr;

use etherparse::{ether_type, ip_number};

use super::udp::udp_from_ip_payload;
use super::{tcp_from_ip_payload, tunnel, Decoded};

/// The common case, decoded without the general slicer: Ethernet II with at
/// most one 802.1Q tag, then IPv4 that is not a fragment or IPv6 without
/// extension headers, carrying TCP, the whole IP packet captured. Anything
/// else, or anything odd, gives `None` and takes the UDP fast path or the
/// general one. For what it accepts, the answer is the general path's (a
/// test checks this on every frame of the bundled and third-party captures,
/// and on damaged copies). It reads the IP header itself rather than
/// through `fast_ip`: that way it compiles to fewer instructions a segment.
#[inline]
pub(super) fn fast_ethernet_tcp(frame: &[u8], ts: i64) -> Option<Decoded<'_>> {
    let (ether_type, vlan, ip) = ethernet(frame)?;
    if ether_type == ether_type::IPV4.0 {
        let h: &[u8; 20] = ip.get(..20)?.try_into().ok()?;
        let header_len = usize::from(h[0] & 0x0f) * 4;
        let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        // More-fragments flag and fragment offset.
        let fragment = u16::from_be_bytes([h[6], h[7]]) & 0x3fff;
        if h[0] >> 4 != 4 || h[9] != ip_number::TCP.0 || fragment != 0 {
            return None;
        }
        if header_len < 20 || total_len < header_len || total_len > ip.len() {
            return None;
        }
        let src = IpAddr::from([h[12], h[13], h[14], h[15]]);
        let dst = IpAddr::from([h[16], h[17], h[18], h[19]]);
        Some(tcp_from_ip_payload(src, dst, vlan, &ip[header_len..total_len], 0, ts))
    } else if ether_type == ether_type::IPV6.0 {
        let h: &[u8; 40] = ip.get(..40)?.try_into().ok()?;
        let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        if h[0] >> 4 != 6 || h[6] != ip_number::TCP.0 || payload_len == 0 || 40 + payload_len > ip.len() {
            return None;
        }
        let src: [u8; 16] = h[8..24].try_into().ok()?;
        let dst: [u8; 16] = h[24..40].try_into().ok()?;
        Some(tcp_from_ip_payload(IpAddr::from(src), IpAddr::from(dst), vlan, &ip[40..40 + payload_len], 0, ts))
    } else {
        None
    }
}

/// The UDP datagrams of the frames `fast_ethernet_tcp` leaves, on the same
/// terms, when they carry no tunnel (peeled by the general path).
#[inline(never)]
pub(super) fn fast_ethernet_udp(frame: &[u8], ts: i64) -> Option<Decoded<'_>> {
    let FastIp { protocol, src, dst, vlan, payload } = fast_ip(frame)?;
    if protocol == ip_number::UDP.0 && tunnel::from_ip_payload(protocol, payload).is_none() {
        Some(udp_from_ip_payload(src, dst, vlan, payload, ts))
    } else {
        None
    }
}

/// The IP header of a frame the fast paths take.
struct FastIp<'a> {
    protocol: u8,
    src: IpAddr,
    dst: IpAddr,
    vlan: Option<u16>,
    payload: &'a [u8],
}

fn fast_ip(frame: &[u8]) -> Option<FastIp<'_>> {
    let (ether_type, vlan, ip) = ethernet(frame)?;
    if ether_type == ether_type::IPV4.0 {
        let h: &[u8; 20] = ip.get(..20)?.try_into().ok()?;
        let header_len = usize::from(h[0] & 0x0f) * 4;
        let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        // More-fragments flag and fragment offset.
        let fragment = u16::from_be_bytes([h[6], h[7]]) & 0x3fff;
        if h[0] >> 4 != 4 || fragment != 0 || header_len < 20 || total_len < header_len || total_len > ip.len() {
            return None;
        }
        let src = IpAddr::from([h[12], h[13], h[14], h[15]]);
        let dst = IpAddr::from([h[16], h[17], h[18], h[19]]);
        Some(FastIp { protocol: h[9], src, dst, vlan, payload: &ip[header_len..total_len] })
    } else if ether_type == ether_type::IPV6.0 {
        let h: &[u8; 40] = ip.get(..40)?.try_into().ok()?;
        let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        if h[0] >> 4 != 6 || payload_len == 0 || 40 + payload_len > ip.len() {
            return None;
        }
        let src: [u8; 16] = h[8..24].try_into().ok()?;
        let dst: [u8; 16] = h[24..40].try_into().ok()?;
        Some(FastIp { protocol: h[6], src: IpAddr::from(src), dst: IpAddr::from(dst), vlan, payload: &ip[40..40 + payload_len] })
    } else {
        None
    }
}

/// The Ethernet II header with at most one 802.1Q tag: the Ethernet type,
/// the VLAN id, and what follows.
#[inline(always)]
fn ethernet(frame: &[u8]) -> Option<(u16, Option<u16>, &[u8])> {
    let ether_type = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    if ether_type != ether_type::VLAN_TAGGED_FRAME.0 {
        return Some((ether_type, None, frame.get(14..)?));
    }
    let tci = u16::from_be_bytes([*frame.get(14)?, *frame.get(15)?]);
    let inner = u16::from_be_bytes([*frame.get(16)?, *frame.get(17)?]);
    Some((inner, Some(tci & 0x0fff), frame.get(18..)?))
}
