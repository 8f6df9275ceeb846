//! The key of a flow: both endpoints in a fixed order (so that both
//! directions find one entry), the VLAN and the transport, with the
//! symmetric hash that picks the worker owning it.

use std::net::IpAddr;

use super::Segment;
use crate::decode::{Endpoint, Transport};

/// Identifies a connection regardless of direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    lo: Endpoint,
    hi: Endpoint,
    vlan: Option<u16>,
    transport: Transport,
}

impl FlowKey {
    /// The key of a TCP connection.
    pub fn new(a: Endpoint, b: Endpoint, vlan: Option<u16>) -> Self {
        Self::with_transport(a, b, vlan, Transport::Tcp)
    }

    /// The key of the flow a segment or datagram belongs to.
    pub fn of(seg: &Segment<'_>) -> Self {
        Self::with_transport(seg.src, seg.dst, seg.vlan, seg.transport)
    }

    fn with_transport(a: Endpoint, b: Endpoint, vlan: Option<u16>, transport: Transport) -> Self {
        let a_first = (a.ip, a.port) <= (b.ip, b.port);
        let (lo, hi) = if a_first { (a, b) } else { (b, a) };
        FlowKey { lo, hi, vlan, transport }
    }

    /// A hash that is the same for both directions and for every run, used
    /// to pick the worker that owns the flow.
    pub fn dispatch_hash(&self) -> u64 {
        // A word at a time, each folded in with a multiply and a shift
        // (constants of the murmur3 finaliser): a few cycles per key,
        // stable across runs and platforms.
        let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut mix = |word: u64| {
            h = (h ^ word).wrapping_mul(0xff51_afd7_ed55_8ccd);
            h ^= h >> 33;
        };
        for ep in [self.lo, self.hi] {
            match ep.ip {
                IpAddr::V4(v4) => mix((u64::from(u32::from(v4)) << 16) | u64::from(ep.port)),
                IpAddr::V6(v6) => {
                    let bits = u128::from(v6);
                    mix(bits as u64);
                    mix(((bits >> 64) as u64) ^ (u64::from(ep.port) << 48));
                }
            }
        }
        mix(u64::from(self.vlan.unwrap_or(0)) | (self.transport as u64) << 16);
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    /// The worker, of `workers`, that owns this flow.
    pub fn owner(&self, workers: usize) -> usize {
        if workers <= 1 {
            return 0;
        }
        (self.dispatch_hash() % workers as u64) as usize
    }
}
