//! Encapsulated traffic, as mirror ports and cloud taps deliver it. Real
//! handshakes of the bundled captures are wrapped in GRE (plain; with
//! checksum, key and sequence; bridging Ethernet), ERSPAN II and III, VXLAN,
//! GENEVE, IP-in-IP (4in4, 6in4), MPLS and PPPoE: tlsaudit must report the
//! sessions of the original, and tshark must see the same hellos in the
//! wrapped file. The third-party captures of SSH inside GRE, ERSPAN with
//! VXLAN, and GENEVE: every TCP segment tshark finds inside is decoded.

mod common;

use common::*;

const ETHERNET_HEADER: usize = 14;
const CAPTURES: &[&str] = &["tls12-mutual-auth.pcap", "tls13-ipv6.pcap"];

/// An outer Ethernet + IPv4 header around `payload` of IP protocol `protocol`.
fn outer_ipv4(protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    let total = (20 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, protocol, 0, 0]);
    f.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
    f.extend_from_slice(payload);
    f
}

/// A UDP header to `port` around `payload`.
fn udp(port: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = vec![0xC0, 0x01];
    u.extend_from_slice(&port.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn ip_version_ether_type(ip: &[u8]) -> [u8; 2] {
    if ip[0] >> 4 == 6 { [0x86, 0xDD] } else { [0x08, 0x00] }
}

/// Wraps one Ethernet frame in an encapsulation.
type Wrap = fn(&[u8]) -> Vec<u8>;

/// Every way of wrapping one Ethernet frame, by name.
fn wrappings() -> Vec<(&'static str, Wrap)> {
    vec![
        ("gre", |f| {
            let ip = &f[ETHERNET_HEADER..];
            outer_ipv4(47, &[&[0, 0][..], &ip_version_ether_type(ip), ip].concat())
        }),
        ("gre-checksum-key-sequence", |f| {
            let ip = &f[ETHERNET_HEADER..];
            let header = [&[0xB0, 0x00][..], &ip_version_ether_type(ip), &[0, 0, 0, 0, 0, 0, 0x30, 0x39, 0, 0, 0, 7]].concat();
            outer_ipv4(47, &[&header[..], ip].concat())
        }),
        ("gre-ethernet", |f| outer_ipv4(47, &[&[0x20, 0x00, 0x65, 0x58, 0, 0, 0, 5][..], f].concat())),
        ("erspan-2", |f| {
            let gre = [0x10, 0x00, 0x88, 0xBE, 0, 0, 0, 1];
            let erspan = [0x10, 0x00, 0x00, 0x14, 0, 0, 0, 1];
            outer_ipv4(47, &[&gre[..], &erspan, f].concat())
        }),
        ("erspan-3", |f| {
            let gre = [0x10, 0x00, 0x22, 0xEB, 0, 0, 0, 1];
            let erspan = [0x20, 0x00, 0x00, 0x15, 0, 0, 0, 0, 0, 0, 0, 0x01];
            let platform = [0u8; 8];
            outer_ipv4(47, &[&gre[..], &erspan, &platform, f].concat())
        }),
        ("vxlan", |f| outer_ipv4(17, &udp(4789, &[&[0x08, 0, 0, 0, 0, 0, 42, 0][..], f].concat()))),
        ("geneve", |f| {
            // One 8-byte option (length 2 words), protocol Ethernet, VNI 7.
            let header = [0x02, 0x00, 0x65, 0x58, 0, 0, 7, 0, 0x01, 0x02, 0x03, 0x01, 0, 0, 0, 0];
            outer_ipv4(17, &udp(6081, &[&header[..], f].concat()))
        }),
        ("ip-in-ip", |f| {
            let ip = &f[ETHERNET_HEADER..];
            outer_ipv4(if ip[0] >> 4 == 6 { 41 } else { 4 }, ip)
        }),
        ("mpls", |f| {
            let labels = [0x00, 0x01, 0x00, 64, 0x00, 0x02, 0x01, 64];
            [&f[..12], &[0x88, 0x47], &labels[..], &f[ETHERNET_HEADER..]].concat()
        }),
        ("pppoe", |f| {
            let ip = &f[ETHERNET_HEADER..];
            let len = (ip.len() + 2) as u16;
            let ppp = if ip[0] >> 4 == 6 { [0x00, 0x57] } else { [0x00, 0x21] };
            let header = [0x11, 0x00, 0x12, 0x34, (len >> 8) as u8, len as u8];
            [&f[..12], &[0x88, 0x64], &header[..], &ppp, ip].concat()
        }),
    ]
}

/// ClientHellos and ServerHellos tshark finds in a capture.
fn tshark_hellos(path: &std::path::Path) -> usize {
    tshark_hello_fields(path, &[]).lines().filter(|l| !l.trim().is_empty()).count()
}

#[test]
fn tunnelled_handshakes_give_the_same_sessions_as_tshark_sees() {
    for name in CAPTURES {
        let original = captures_dir().join(name);
        let (linktype, frames) = read_pcap_frames(&original);
        assert_eq!(linktype, 1);
        let want = session_essentials(&sessions_of(&original, &[]));
        let hellos = tshark_hellos(&original);
        assert!(hellos >= 2, "{name}: tshark sees the handshake");
        let scratch = Scratch::new(&format!("tunnels-{name}"));
        for (kind, wrap) in wrappings() {
            let wrapped: Vec<(u64, Vec<u8>)> = frames.iter().map(|(ts, f)| (*ts, wrap(f))).collect();
            let path = scratch.path(&format!("{kind}.pcap"));
            write_pcap_frames(&path, 1, &wrapped, 262_144);
            let run = run_jsonl(&["-r", path.to_str().unwrap()]);
            assert!(completed(run.code), "{name} in {kind}: {}", run.stderr);
            assert_eq!(session_essentials(&run.sessions), want, "{name} in {kind}");
            assert_eq!(run.stats["tlsaudit"]["stats"]["reader"]["tcp_segments"], frames.len(), "{name} in {kind}");
            assert_eq!(tshark_hellos(&path), hellos, "{name} in {kind}: tshark reads the wrapped file alike");
        }
    }
}

/// A tunnel inside a tunnel inside ... is peeled a few layers deep, then
/// left alone: a crafted packet nested without end costs nothing.
#[test]
fn nesting_is_bounded() {
    let (_, frames) = read_pcap_frames(&captures_dir().join("tls12-mutual-auth.pcap"));
    let nest = |depth: usize| -> Vec<(u64, Vec<u8>)> {
        frames
            .iter()
            .map(|(ts, f)| {
                let mut ip = f[ETHERNET_HEADER..].to_vec();
                for _ in 0..depth {
                    ip = outer_ipv4(4, &ip)[ETHERNET_HEADER..].to_vec();
                }
                (*ts, [&f[..ETHERNET_HEADER], &ip[..]].concat())
            })
            .collect()
    };
    let scratch = Scratch::new("tunnels-nesting");
    for (depth, decoded) in [(4, true), (5, false), (200, false)] {
        let path = scratch.path(&format!("nest-{depth}.pcap"));
        write_pcap_frames(&path, 1, &nest(depth), 262_144);
        let run = run_jsonl(&["-r", path.to_str().unwrap()]);
        assert!(completed(run.code), "{}", run.stderr);
        assert_eq!(!run.sessions.is_empty(), decoded, "{depth} layers");
    }
}

#[test]
fn third_party_tunnels_decode_every_tcp_segment_tshark_sees() {
    for file in ["ja4/gre-sample.pcap", "ja4/gre-erspan-vxlan.pcap", "ja4/tcpdump-geneve.pcap"] {
        let path = thirdparty_dir().join(file);
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .args(["-Y", "tcp", "-T", "fields", "-e", "frame.number"])
            .output()
            .expect("tshark runs");
        let segments = String::from_utf8_lossy(&out.stdout).lines().count() as u64;
        assert!(segments > 0, "{file}: tshark finds TCP inside");
        let run = run_jsonl(&["-r", path.to_str().unwrap()]);
        assert!(completed(run.code), "{}", run.stderr);
        let reader = &run.stats["tlsaudit"]["stats"]["reader"];
        assert_eq!(reader["tcp_segments"].as_u64(), Some(segments), "{file}: {reader}");
    }
}
