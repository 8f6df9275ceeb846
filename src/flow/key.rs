//! The key of a flow: both endpoints in a fixed order (so that both
//! directions find one entry), the VLAN and the transport, with the
//! symmetric hash that picks the worker owning it.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use super::Segment;
use crate::decode::{Endpoint, Transport};

/// Identifies a connection regardless of direction. Stored as integers, so
/// that ordering the endpoints, comparing keys and hashing one (two 128-bit
/// words and a 64-bit one) take a few instructions each, on the reader's
/// and the workers' path of every packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    /// The lower endpoint's address: an IPv4 address in the low 32 bits.
    lo: u128,
    hi: u128,
    /// The lower endpoint's port (bits 0-15), the higher's (16-31), the
    /// VLAN id (32-47), whether there is a VLAN (48), UDP (49), and whether
    /// each address is IPv6 (50 the lower's, 51 the higher's).
    rest: u64,
}

const HAS_VLAN: u64 = 1 << 48;
const UDP: u64 = 1 << 49;
const LO_IS_V6: u64 = 1 << 50;
const HI_IS_V6: u64 = 1 << 51;

/// An address as a number, and whether it is IPv6: ordered as `IpAddr`
/// orders addresses (every IPv4 address first, each family by value).
fn address_bits(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (true, u128::from(v6)),
    }
}

impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u128(self.lo);
        state.write_u128(self.hi);
        state.write_u64(self.rest);
    }
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
        let (a6, a_bits) = address_bits(a.ip);
        let (b6, b_bits) = address_bits(b.ip);
        let a_first = (a6, a_bits, a.port) <= (b6, b_bits, b.port);
        let ((lo6, lo, lo_port), (hi6, hi, hi_port)) =
            if a_first { ((a6, a_bits, a.port), (b6, b_bits, b.port)) } else { ((b6, b_bits, b.port), (a6, a_bits, a.port)) };
        let mut rest = u64::from(lo_port) | u64::from(hi_port) << 16;
        if let Some(id) = vlan {
            rest |= u64::from(id) << 32 | HAS_VLAN;
        }
        if transport == Transport::Udp {
            rest |= UDP;
        }
        if lo6 {
            rest |= LO_IS_V6;
        }
        if hi6 {
            rest |= HI_IS_V6;
        }
        FlowKey { lo, hi, rest }
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
        let ports = [self.rest & 0xffff, (self.rest >> 16) & 0xffff];
        for ((bits, v6), port) in [(self.lo, self.rest & LO_IS_V6 != 0), (self.hi, self.rest & HI_IS_V6 != 0)].into_iter().zip(ports) {
            if v6 {
                mix(bits as u64);
                mix(((bits >> 64) as u64) ^ (port << 48));
            } else {
                mix(((bits as u64) << 16) | port);
            }
        }
        let vlan = (self.rest >> 32) & 0xffff;
        let transport = u64::from(self.rest & UDP != 0);
        mix(vlan | transport << 16);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash written over the addresses as `IpAddr`s, endpoints ordered
    /// as `IpAddr` and port order them: what the integer form must give.
    fn reference_hash(a: Endpoint, b: Endpoint, vlan: Option<u16>, transport: Transport) -> u64 {
        let (lo, hi) = if (a.ip, a.port) <= (b.ip, b.port) { (a, b) } else { (b, a) };
        let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut mix = |word: u64| {
            h = (h ^ word).wrapping_mul(0xff51_afd7_ed55_8ccd);
            h ^= h >> 33;
        };
        for ep in [lo, hi] {
            match ep.ip {
                IpAddr::V4(v4) => mix((u64::from(u32::from(v4)) << 16) | u64::from(ep.port)),
                IpAddr::V6(v6) => {
                    let bits = u128::from(v6);
                    mix(bits as u64);
                    mix(((bits >> 64) as u64) ^ (u64::from(ep.port) << 48));
                }
            }
        }
        mix(u64::from(vlan.unwrap_or(0)) | (transport as u64) << 16);
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    #[test]
    fn keys_order_hash_and_compare_as_the_endpoints_do() {
        let mut x: u64 = 0x1234_5678_9abc_def0;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut endpoints = Vec::new();
        for i in 0..400 {
            let r = next();
            // Few distinct addresses and ports, so that ties are tested too.
            let ip: IpAddr = if i % 3 == 0 {
                std::net::Ipv6Addr::from(u128::from(r % 5) << 100 | u128::from(r % 3)).into()
            } else {
                std::net::Ipv4Addr::from((r % 7) as u32 * 0x0101_0101).into()
            };
            endpoints.push(Endpoint { ip, port: (r >> 20) as u16 % 4 });
        }
        for pair in endpoints.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            for vlan in [None, Some(0), Some(7)] {
                for transport in [Transport::Tcp, Transport::Udp] {
                    let key = FlowKey::with_transport(a, b, vlan, transport);
                    assert_eq!(key, FlowKey::with_transport(b, a, vlan, transport));
                    assert_eq!(key.dispatch_hash(), reference_hash(a, b, vlan, transport), "{a:?} {b:?} {vlan:?} {transport:?}");
                }
            }
            // Keys are equal exactly when the unordered pairs and the rest are.
            let same_pair = |c: Endpoint, d: Endpoint| (a == c && b == d) || (a == d && b == c);
            for pair2 in endpoints.windows(2).take(50) {
                let (c, d) = (pair2[0], pair2[1]);
                assert_eq!(FlowKey::new(a, b, None) == FlowKey::new(c, d, None), same_pair(c, d));
            }
            assert_ne!(FlowKey::new(a, b, None), FlowKey::new(a, b, Some(0)));
            assert_ne!(FlowKey::with_transport(a, b, None, Transport::Tcp), FlowKey::with_transport(a, b, None, Transport::Udp));
        }
    }
}
