//! The quic_transport_parameters extension of a QUIC ClientHello (RFC 9000
//! §18, RFC 9001 §8.2): a list of (id, length, value) entries whose ids and
//! integers are QUIC variable-length integers. The ids are kept in order
//! (a client's habit, like its extension order); the values that describe
//! the client are read.

use super::facts::QuicTransportParameters;
use crate::util::varint::varint;

/// Parameter ids (RFC 9000 §18.2, RFC 9368 §3).
mod id {
    pub const MAX_IDLE_TIMEOUT: u64 = 0x01;
    pub const MAX_UDP_PAYLOAD_SIZE: u64 = 0x03;
    pub const INITIAL_MAX_DATA: u64 = 0x04;
    pub const DISABLE_ACTIVE_MIGRATION: u64 = 0x0c;
    pub const VERSION_INFORMATION: u64 = 0x11;
}

/// Parameters kept at most; the rest are not listed.
const MAX_PARAMETERS: usize = 64;

/// Parses the extension body; None when an entry runs past it.
pub(super) fn parse(mut b: &[u8]) -> Option<QuicTransportParameters> {
    let mut p = QuicTransportParameters::default();
    while !b.is_empty() {
        let (param, n1) = varint(b)?;
        let (len, n2) = varint(&b[n1..])?;
        let start = n1 + n2;
        let value = b.get(start..start.checked_add(usize::try_from(len).ok()?)?)?;
        b = &b[start + value.len()..];
        if p.ids.len() < MAX_PARAMETERS {
            p.ids.push(param);
        }
        let integer = || varint(value).filter(|(_, n)| *n == value.len()).map(|(v, _)| v);
        match param {
            id::MAX_IDLE_TIMEOUT => p.max_idle_timeout_ms = integer(),
            id::MAX_UDP_PAYLOAD_SIZE => p.max_udp_payload_size = integer(),
            id::INITIAL_MAX_DATA => p.initial_max_data = integer(),
            id::DISABLE_ACTIVE_MIGRATION => p.disable_active_migration = true,
            id::VERSION_INFORMATION => {
                // The chosen version, then the versions the client can use.
                p.available_versions = value
                    .chunks_exact(4)
                    .skip(1)
                    .take(MAX_PARAMETERS)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
            }
            _ => {}
        }
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parameters_that_describe_the_client() {
        let body = [
            0x01, 0x04, 0x80, 0x00, 0x75, 0x30, // max_idle_timeout 30000
            0x03, 0x02, 0x45, 0xc0, // max_udp_payload_size 1472
            0x0c, 0x00, // disable_active_migration
            0x11, 0x08, 0, 0, 0, 1, 0x6b, 0x33, 0x43, 0xcf, // version_information: chosen 1, available v2
            0x4a, 0x0a, 0x00, // a GREASE-like unknown id with no value
        ];
        let p = parse(&body).expect("well formed");
        assert_eq!(p.ids, [0x01, 0x03, 0x0c, 0x11, 0x0a0a]);
        assert_eq!((p.max_idle_timeout_ms, p.max_udp_payload_size, p.initial_max_data), (Some(30_000), Some(1472), None));
        assert!(p.disable_active_migration);
        assert_eq!(p.available_versions, [0x6b33_43cf]);
        assert!(parse(&body[..5]).is_none(), "an entry cut short");
    }
}
