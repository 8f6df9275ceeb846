//! QUIC packet and frame layout as far as an observer of the handshake
//! needs it: long headers (RFC 9000 §17.2, RFC 9369 §3.2), coalesced
//! packets in one datagram, variable-length integers, and the frames an
//! Initial packet may carry (§17.2.2: PADDING, PING, ACK, CRYPTO,
//! CONNECTION_CLOSE). Every length is checked; nothing here decrypts.

use super::protection::VERSION_2;

pub use crate::util::varint::varint;

/// The kinds of long-header packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
    VersionNegotiation,
}

/// One long-header packet of a datagram.
#[derive(Debug)]
pub struct LongPacket<'a> {
    pub kind: PacketKind,
    pub version: u32,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    /// The whole packet, header included (protected as sent).
    pub bytes: &'a [u8],
    /// Where the packet number starts (Initial, 0-RTT, Handshake).
    pub pn_offset: usize,
    /// The versions a Version Negotiation packet lists.
    pub versions: &'a [u8],
}

/// The packet type bits of a long header, by version (v2 rotated them).
fn kind_of(first: u8, version: u32) -> PacketKind {
    let bits = (first >> 4) & 0x03;
    let v1_bits = if version == VERSION_2 { (bits + 3) % 4 } else { bits };
    match v1_bits {
        0 => PacketKind::Initial,
        1 => PacketKind::ZeroRtt,
        2 => PacketKind::Handshake,
        _ => PacketKind::Retry,
    }
}

/// The long-header packet at the start of `b`, and where the next one of
/// the datagram starts. None for a short-header packet (which ends the
/// datagram) or a header that does not add up.
pub fn long_packet(b: &[u8]) -> Option<(LongPacket<'_>, usize)> {
    let first = *b.first()?;
    if first & 0x80 == 0 {
        return None;
    }
    let version = u32::from_be_bytes(b.get(1..5)?.try_into().ok()?);
    let dcid_len = usize::from(*b.get(5)?);
    let dcid = b.get(6..6 + dcid_len)?;
    let scid_at = 6 + dcid_len;
    let scid_len = usize::from(*b.get(scid_at)?);
    let scid = b.get(scid_at + 1..scid_at + 1 + scid_len)?;
    let mut at = scid_at + 1 + scid_len;
    let mut packet = LongPacket { kind: PacketKind::VersionNegotiation, version, dcid, scid, bytes: b, pn_offset: 0, versions: &[] };
    if version == 0 {
        packet.versions = &b[at..];
        return Some((packet, b.len()));
    }
    if dcid_len > 20 || scid_len > 20 {
        return None;
    }
    packet.kind = kind_of(first, version);
    if packet.kind == PacketKind::Retry {
        // A retry token and the integrity tag fill the rest of the datagram.
        return Some((packet, b.len()));
    }
    if packet.kind == PacketKind::Initial {
        let (token_len, n) = varint(b.get(at..)?)?;
        at = at.checked_add(n)?.checked_add(usize::try_from(token_len).ok()?)?;
    }
    let (length, n) = varint(b.get(at..)?)?;
    packet.pn_offset = at + n;
    let end = packet.pn_offset.checked_add(usize::try_from(length).ok()?)?;
    packet.bytes = b.get(..end)?;
    Some((packet, end))
}

/// The frames of a decrypted Initial packet that matter here.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Crypto { offset: u64, data: &'a [u8] },
    /// CONNECTION_CLOSE of QUIC (type 0x1c, the only one an Initial packet
    /// may carry): its error code, 0x100 + the alert for a TLS alert.
    Close { code: u64 },
}

/// Walks the frames of an Initial packet's payload, calling `f` on those
/// that matter; false when a frame is malformed or not allowed in an
/// Initial packet.
pub fn initial_frames<'a>(mut b: &'a [u8], mut f: impl FnMut(Frame<'a>)) -> bool {
    while let Some(&typ) = b.first() {
        let rest = &b[1..];
        let used = match typ {
            0x00 | 0x01 => Some(0),
            0x02 | 0x03 => ack_length(rest, typ == 0x03),
            0x06 => (|| {
                let (offset, n1) = varint(rest)?;
                let (len, n2) = varint(&rest[n1..])?;
                let start = n1 + n2;
                let data = rest.get(start..start.checked_add(usize::try_from(len).ok()?)?)?;
                f(Frame::Crypto { offset, data });
                Some(start + data.len())
            })(),
            0x1c => (|| {
                let (code, n1) = varint(rest)?;
                let (_frame_type, n2) = varint(&rest[n1..])?;
                let (reason_len, n3) = varint(&rest[n1 + n2..])?;
                let end = (n1 + n2 + n3).checked_add(usize::try_from(reason_len).ok()?)?;
                rest.get(..end)?;
                f(Frame::Close { code });
                Some(end)
            })(),
            _ => None,
        };
        let Some(used) = used else { return false };
        b = &rest[used..];
    }
    true
}

/// Bytes an ACK frame's body takes (RFC 9000 §19.3).
fn ack_length(b: &[u8], ecn: bool) -> Option<usize> {
    let mut at = 0;
    let mut next = || -> Option<u64> {
        let (v, n) = varint(b.get(at..)?)?;
        at += n;
        Some(v)
    };
    let _largest = next()?;
    let _delay = next()?;
    let ranges = next()?;
    let _first = next()?;
    for _ in 0..ranges.min(4096) {
        next()?;
        next()?;
    }
    if ranges > 4096 {
        return None;
    }
    if ecn {
        for _ in 0..3 {
            next()?;
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesced_packets_split_and_damaged_headers_refused() {
        // An Initial (v1) with a 2-byte token and 3 bytes after the length,
        // then a Handshake packet of 2 bytes.
        let mut d = vec![0xc0, 0, 0, 0, 1, 2, 0xaa, 0xbb, 1, 0xcc, 2, 0x11, 0x22, 3, 1, 2, 3];
        d.extend_from_slice(&[0xe0, 0, 0, 0, 1, 0, 0, 2, 9, 9]);
        let (first, next) = long_packet(&d).expect("initial");
        assert_eq!((first.kind, first.dcid, first.scid, first.pn_offset, next), (PacketKind::Initial, &[0xaa, 0xbb][..], &[0xcc][..], 14, 17));
        let (second, end) = long_packet(&d[next..]).expect("handshake");
        assert_eq!((second.kind, second.bytes.len(), end), (PacketKind::Handshake, 10, 10));
        // v2's Initial type bits are v1's 0-RTT ones.
        let mut v2 = d[..17].to_vec();
        v2[0] = 0xd0;
        v2[1..5].copy_from_slice(&VERSION_2.to_be_bytes());
        assert_eq!(long_packet(&v2).expect("v2 initial").0.kind, PacketKind::Initial);
        for cut in 0..17 {
            assert!(long_packet(&d[..cut]).is_none(), "cut at {cut}");
        }
        assert!(long_packet(&[0x40, 1, 2, 3]).is_none(), "short header");
    }

    #[test]
    fn initial_frames_are_walked_and_others_refused() {
        let frames = [0x00, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x03, 0x0a, 0x0b, 0x0c, 0x01, 0x1c, 0x41, 0x28, 0x00, 0x00];
        let mut seen = Vec::new();
        assert!(initial_frames(&frames, |f| seen.push(format!("{f:?}"))));
        assert_eq!(seen, ["Crypto { offset: 0, data: [10, 11, 12] }", "Close { code: 296 }"]);
        assert!(!initial_frames(&[0x08, 0, 0], |_| {}), "STREAM is not allowed in an Initial packet");
        assert!(!initial_frames(&[0x06, 0x00, 0x05, 1], |_| {}), "CRYPTO data cut short");
    }
}
