//! Encapsulations a mirror or cloud tap delivers traffic in, peeled to the
//! frame inside so it is decoded like any other: GRE (checksum, key and
//! sequence fields; carrying IP, Ethernet or MPLS), ERSPAN types I, II and
//! III, VXLAN (UDP 4789), GENEVE (UDP 6081), IP-in-IP and IPv6-in-IP (4in4,
//! 6in4, 4in6, 6in6), MPLS label stacks (over Ethernet or GRE) and PPPoE
//! sessions. Every length is checked; what does not parse is not a tunnel.

/// The UDP port of VXLAN (RFC 7348).
pub const VXLAN_PORT: u16 = 4789;
/// The UDP port of GENEVE (RFC 8926).
pub const GENEVE_PORT: u16 = 6081;

const ETHER_IPV4: u16 = 0x0800;
const ETHER_IPV6: u16 = 0x86DD;
const ETHER_TEB: u16 = 0x6558;
const ETHER_MPLS: u16 = 0x8847;
const ETHER_MPLS_MULTICAST: u16 = 0x8848;
const ETHER_PPPOE_SESSION: u16 = 0x8864;
const ETHER_ERSPAN_2: u16 = 0x88BE;
const ETHER_ERSPAN_3: u16 = 0x22EB;

/// Which encapsulation a frame came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    Gre,
    Erspan,
    Vxlan,
    Geneve,
    IpInIp,
    Mpls,
    Pppoe,
}

impl TunnelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelKind::Gre => "gre",
            TunnelKind::Erspan => "erspan",
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::IpInIp => "ip-in-ip",
            TunnelKind::Mpls => "mpls",
            TunnelKind::Pppoe => "pppoe",
        }
    }
}

/// The outermost tunnel a segment arrived in: its kind, identifier, and the
/// addresses of its outer IP header (none for MPLS and PPPoE, which have none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    pub kind: TunnelKind,
    pub id: Option<u32>,
    pub outer: Option<(std::net::IpAddr, std::net::IpAddr)>,
}

impl Tunnel {
    /// The same tunnel seen from the other direction.
    pub fn reversed(self) -> Tunnel {
        Tunnel { outer: self.outer.map(|(a, b)| (b, a)), ..self }
    }
}

/// What an encapsulation holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inner<'a> {
    /// An Ethernet frame.
    Ethernet(&'a [u8]),
    /// An IPv4 or IPv6 packet.
    Ip(&'a [u8]),
}

/// One peeled layer: its kind, its identifier where it has one (GRE key,
/// VXLAN or GENEVE network identifier, ERSPAN session), and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peeled<'a> {
    pub kind: TunnelKind,
    pub id: Option<u32>,
    pub inner: Inner<'a>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([*b.get(at)?, *b.get(at + 1)?, *b.get(at + 2)?, *b.get(at + 3)?]))
}

/// An encapsulation inside an IP packet: `protocol` is the IP protocol
/// number, `payload` what follows the IP header.
pub fn from_ip_payload(protocol: u8, payload: &[u8]) -> Option<Peeled<'_>> {
    match protocol {
        // IPv4 (4) or IPv6 (41) directly inside IP.
        4 | 41 => Some(Peeled { kind: TunnelKind::IpInIp, id: None, inner: Inner::Ip(payload) }),
        47 => gre(payload),
        137 => mpls(payload).map(|inner| Peeled { kind: TunnelKind::Mpls, id: None, inner }),
        17 => udp(payload),
        _ => None,
    }
}

/// An encapsulation named by an Ethernet type (after any VLAN tags).
pub fn from_ether_type(ether_type: u16, payload: &[u8]) -> Option<Peeled<'_>> {
    match ether_type {
        ETHER_MPLS | ETHER_MPLS_MULTICAST => mpls(payload).map(|inner| Peeled { kind: TunnelKind::Mpls, id: None, inner }),
        ETHER_PPPOE_SESSION => pppoe(payload),
        _ => None,
    }
}

/// GRE (RFC 2784, 2890): flags and version, protocol, then the optional
/// checksum, key and sequence number. Version 1 (PPTP) carries PPP: not peeled.
fn gre(b: &[u8]) -> Option<Peeled<'_>> {
    let flags = u16_at(b, 0)?;
    if flags & 0x0007 != 0 {
        return None;
    }
    let protocol = u16_at(b, 2)?;
    let mut at = 4;
    if flags & 0x8000 != 0 {
        at += 4; // checksum and reserved
    }
    let key = if flags & 0x2000 != 0 {
        let k = u32_at(b, at)?;
        at += 4;
        Some(k)
    } else {
        None
    };
    let sequenced = flags & 0x1000 != 0;
    if sequenced {
        at += 4;
    }
    let rest = b.get(at..)?;
    let (kind, id, inner) = match protocol {
        ETHER_IPV4 | ETHER_IPV6 => (TunnelKind::Gre, key, Inner::Ip(rest)),
        ETHER_TEB => (TunnelKind::Gre, key, Inner::Ethernet(rest)),
        ETHER_MPLS | ETHER_MPLS_MULTICAST => (TunnelKind::Gre, key, mpls(rest)?),
        // ERSPAN type I has no header of its own (and no sequence number);
        // type II an 8-byte one, type III 12 bytes and an optional 8-byte
        // platform subheader. Both name a 10-bit session.
        ETHER_ERSPAN_2 if !sequenced => (TunnelKind::Erspan, None, Inner::Ethernet(rest)),
        ETHER_ERSPAN_2 => {
            let session = u32::from(u16_at(rest, 2)? & 0x03FF);
            (TunnelKind::Erspan, Some(session), Inner::Ethernet(rest.get(8..)?))
        }
        ETHER_ERSPAN_3 => {
            let session = u32::from(u16_at(rest, 2)? & 0x03FF);
            let optional = if rest.get(11)? & 0x01 != 0 { 8 } else { 0 };
            (TunnelKind::Erspan, Some(session), Inner::Ethernet(rest.get(12 + optional..)?))
        }
        _ => return None,
    };
    Some(Peeled { kind, id, inner })
}

/// VXLAN and GENEVE, by their UDP port on either side (senders also use
/// the well-known port as source, as tshark allows too).
fn udp(b: &[u8]) -> Option<Peeled<'_>> {
    let (source, destination) = (u16_at(b, 0)?, u16_at(b, 2)?);
    let port = if [VXLAN_PORT, GENEVE_PORT].contains(&destination) { destination } else { source };
    let length = usize::from(u16_at(b, 4)?);
    // The UDP length bounds the payload; a cut capture keeps what it has.
    let body = b.get(8..length.min(b.len()).max(8))?;
    match port {
        VXLAN_PORT => {
            // Flags with the I bit (a valid network identifier), 24-bit VNI.
            if body.first()? & 0x08 == 0 {
                return None;
            }
            let vni = u32_at(body, 4)? >> 8;
            Some(Peeled { kind: TunnelKind::Vxlan, id: Some(vni), inner: Inner::Ethernet(body.get(8..)?) })
        }
        GENEVE_PORT => {
            let first = *body.first()?;
            if first >> 6 != 0 {
                return None; // version 0 only
            }
            let options = usize::from(first & 0x3F) * 4;
            let vni = u32_at(body, 4)? >> 8;
            let rest = body.get(8 + options..)?;
            let inner = match u16_at(body, 2)? {
                ETHER_TEB => Inner::Ethernet(rest),
                ETHER_IPV4 | ETHER_IPV6 => Inner::Ip(rest),
                _ => return None,
            };
            Some(Peeled { kind: TunnelKind::Geneve, id: Some(vni), inner })
        }
        _ => None,
    }
}

/// An MPLS label stack (RFC 3032) down to the bottom-of-stack label, then
/// IP by its version nibble, or an Ethernet pseudowire after a zero control
/// word (RFC 4385).
fn mpls(b: &[u8]) -> Option<Inner<'_>> {
    let mut at = 0;
    // A stack deeper than 16 labels is not traffic anybody mirrors.
    for _ in 0..16 {
        let bottom = b.get(at + 2)? & 0x01 != 0;
        at += 4;
        if bottom {
            let rest = b.get(at..)?;
            return match rest.first()? >> 4 {
                4 | 6 => Some(Inner::Ip(rest)),
                0 => Some(Inner::Ethernet(rest.get(4..)?)),
                _ => None,
            };
        }
    }
    None
}

/// A PPPoE session frame (RFC 2516): version and type 0x11, code 0, session
/// id, length, then PPP's protocol: IPv4 (0x0021) or IPv6 (0x0057).
fn pppoe(b: &[u8]) -> Option<Peeled<'_>> {
    if *b.first()? != 0x11 || *b.get(1)? != 0 {
        return None;
    }
    let session = u32::from(u16_at(b, 2)?);
    let length = usize::from(u16_at(b, 4)?);
    let ppp = b.get(6..(6 + length).min(b.len()))?;
    match u16_at(ppp, 0)? {
        0x0021 | 0x0057 => Some(Peeled { kind: TunnelKind::Pppoe, id: Some(session), inner: Inner::Ip(ppp.get(2..)?) }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gre_reads_its_optional_fields() {
        // Checksum, key 0x01020304 and sequence present, carrying IPv4.
        let mut b = vec![0xB0, 0x00, 0x08, 0x00, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 9];
        b.extend([0x45, 0, 0, 20]);
        let p = from_ip_payload(47, &b).expect("GRE");
        assert_eq!((p.kind, p.id), (TunnelKind::Gre, Some(0x01020304)));
        assert_eq!(p.inner, Inner::Ip(&[0x45, 0, 0, 20]));
        // Version 1 (PPTP) and a header cut inside the key are not peeled.
        assert!(from_ip_payload(47, &[0x30, 0x01, 0x88, 0x0B, 0, 0, 0, 0]).is_none());
        assert!(from_ip_payload(47, &b[..10]).is_none());
    }

    #[test]
    fn mpls_stacks_end_at_the_bottom_label() {
        let b = [0, 0, 0x10, 64, 0, 0, 0x21, 64, 0x60, 0, 0, 0];
        assert_eq!(from_ether_type(ETHER_MPLS, &b).map(|p| p.inner), Some(Inner::Ip(&b[8..])));
        // No bottom-of-stack bit within the bytes: nothing.
        assert!(from_ether_type(ETHER_MPLS, &[[0u8, 0, 0x10, 64]; 20].concat()).is_none());
    }

    #[test]
    fn every_prefix_of_a_layer_is_safe() {
        let vxlan = [[0x12, 0x34, 0x12, 0xB5, 0, 30, 0, 0].as_slice(), &[0x08, 0, 0, 0, 0, 0, 42, 0], &[0xAA; 14]].concat();
        assert_eq!(from_ip_payload(17, &vxlan).map(|p| (p.kind, p.id)), Some((TunnelKind::Vxlan, Some(42))));
        for n in 0..vxlan.len() {
            let _ = from_ip_payload(17, &vxlan[..n]);
            let _ = from_ip_payload(47, &vxlan[..n]);
            let _ = from_ether_type(ETHER_PPPOE_SESSION, &vxlan[..n]);
        }
    }
}
