//! The link layer: libpcap's link types, and slicing a frame of each down
//! to its network layer (with VLAN tags noted), or an IP packet on its own.

use etherparse::{ether_type, EtherType, LaxLinkExtSlice, LaxSlicedPacket};

use crate::stats::DecodeErrorKind;

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

/// Slices the frame by link type. `Ok(None)` means a valid frame that is not IP.
pub(super) fn slice_link(linktype: u32, frame: &[u8]) -> Result<Option<LaxSlicedPacket<'_>>, DecodeErrorKind> {
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

pub(super) fn from_ip(bytes: &[u8]) -> Result<Option<LaxSlicedPacket<'_>>, DecodeErrorKind> {
    match bytes.first().map(|b| b >> 4) {
        Some(4) => Ok(Some(LaxSlicedPacket::from_ether_type(ether_type::IPV4, bytes))),
        Some(6) => Ok(Some(LaxSlicedPacket::from_ether_type(ether_type::IPV6, bytes))),
        Some(_) => Err(DecodeErrorKind::BadIpHeader),
        None => Err(DecodeErrorKind::Truncated),
    }
}

pub(super) fn outer_vlan(sliced: &LaxSlicedPacket<'_>) -> Option<u16> {
    sliced.link_exts.iter().find_map(|ext| match ext {
        LaxLinkExtSlice::Vlan(v) => Some(v.vlan_identifier().value()),
        LaxLinkExtSlice::Macsec(_) => None,
    })
}
