//! UDP datagrams that may carry a TLS handshake: QUIC long-header packets
//! and DTLS handshake records; and those that open a session in clear
//! (SNMP v1/v2c, syslog). Everything else over UDP is counted as not TCP
//! and goes no further than this check.

use std::net::IpAddr;

use super::{Decoded, Endpoint, Transport, TransportSegment};
use crate::stats::DecodeErrorKind;

/// A UDP datagram, handed on only when its payload may carry a handshake:
/// the rest of UDP (DNS, media, bulk QUIC after the handshake) costs no
/// more than this check.
pub(super) fn udp_from_ip_payload(src: IpAddr, dst: IpAddr, vlan: Option<u16>, bytes: &[u8], ts: i64) -> Decoded<'_> {
    let Some(h) = bytes.get(..8) else { return Decoded::Error(DecodeErrorKind::Truncated) };
    // The UDP length bounds the payload; a capture cut short keeps what it has.
    let length = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let end = if length >= 8 { length.min(bytes.len()) } else { bytes.len() };
    let payload = &bytes[8..end];
    if !handshake_datagram(payload) {
        return Decoded::NotTcp;
    }
    Decoded::Udp(TransportSegment {
        ts,
        src: Endpoint { ip: src, port: u16::from_be_bytes([h[0], h[1]]) },
        dst: Endpoint { ip: dst, port: u16::from_be_bytes([h[2], h[3]]) },
        vlan,
        transport: Transport::Udp,
        seq: 0,
        ack: 0,
        flags: 0,
        payload,
        missing: 0,
    })
}

/// Whether a UDP payload may be part of a TLS handshake: a QUIC long-header
/// packet (Initial, Handshake, Retry, 0-RTT, or a Version Negotiation,
/// RFC 8999 §5.1), or a DTLS record of the handshake, alert or
/// change_cipher_spec type (RFC 6347 §4.1, RFC 9147 §4); or whether it
/// opens a session in clear (an SNMP v1/v2c request or trap, a syslog
/// message), which is judged as such.
pub fn handshake_datagram(b: &[u8]) -> bool {
    match b {
        // Long header: the form bit, a version tlsaudit can read (or 0 for
        // a Version Negotiation), and a connection id of at most 20 bytes.
        [first, v0, v1, v2, v3, dcid_len, ..] if first & 0x80 != 0 => {
            let version = u32::from_be_bytes([*v0, *v1, *v2, *v3]);
            let known = version == 0 || (first & 0x40 != 0 && quic_version_with_initial_keys(version));
            known && *dcid_len <= 20 && b.len() >= 7 + usize::from(*dcid_len)
        }
        [20..=22, 0xfe, 0xff | 0xfd | 0xfc, ..] => b.len() >= 13,
        // OpenSSL's DTLS from before RFC 4347 (0x0100): its handshake records only.
        [22, 0x01, 0x00, ..] => b.len() >= 13,
        // A session in clear that one datagram opens: SNMP v1/v2c, syslog.
        [0x30 | b'<', ..] => crate::cleartext::datagram::read(b).is_some(),
        _ => false,
    }
}

/// QUIC versions whose Initial keys an observer can derive: 1 (RFC 9000),
/// 2 (RFC 9369) and the IETF drafts 23 to 34 (0xff000017 to 0xff000022),
/// the same set that quic::protection has a key schedule for.
pub fn quic_version_with_initial_keys(version: u32) -> bool {
    matches!(version, 0x0000_0001 | 0x6b33_43cf | 0xff00_0017..=0xff00_0022)
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_datagrams_that_can_carry_a_handshake_pass() {
        let mut initial_v1 = vec![0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0];
        initial_v1.resize(1200, 0);
        assert!(handshake_datagram(&initial_v1));
        let mut v2 = initial_v1.clone();
        v2[1..5].copy_from_slice(&[0x6b, 0x33, 0x43, 0xcf]);
        assert!(handshake_datagram(&v2));
        let version_negotiation = [0x80, 0, 0, 0, 0, 4, 1, 2, 3, 4, 0, 0, 0, 0, 1];
        assert!(handshake_datagram(&version_negotiation));
        let dtls_client_hello = [22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 60, 1];
        assert!(handshake_datagram(&dtls_client_hello));
        // RTP (version 2, no fixed QUIC bit), an unknown QUIC version, a
        // connection id too long, DNS, DTLS application data.
        let rtp = [0x80, 0x60, 0x12, 0x34, 0, 0, 0x10, 0, 0, 0, 0, 1];
        assert!(!handshake_datagram(&rtp));
        let mut unknown = initial_v1.clone();
        unknown[1..5].copy_from_slice(&[0x1a, 0x2a, 0x3a, 0x4a]);
        assert!(!handshake_datagram(&unknown));
        let mut long_cid = initial_v1.clone();
        long_cid[5] = 21;
        assert!(!handshake_datagram(&long_cid));
        assert!(!handshake_datagram(&[0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]));
        assert!(!handshake_datagram(&[23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 30, 0]));
        assert!(!handshake_datagram(&[]));
    }
}
