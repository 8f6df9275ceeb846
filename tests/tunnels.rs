//! Encapsulated traffic, as mirror ports and cloud taps deliver it. Real
//! handshakes of the bundled captures are wrapped in GRE (plain; with
//! checksum, key and sequence; bridging Ethernet), ERSPAN II and III, VXLAN,
//! GENEVE, IP-in-IP (4in4, 6in4), MPLS and PPPoE: tlsaudit must report the
//! sessions of the original with the tunnel they came in (type, id, outer
//! addresses from the client's side to the server's), and tshark must see
//! the same hellos in the wrapped file. The third-party captures of SSH inside GRE, ERSPAN with
//! VXLAN, and GENEVE: every TCP segment tshark finds inside is decoded. And
//! TLS that the Linux kernel itself carried in VXLAN (the only tunnel device
//! the kernel here offers): captures/make-vxlan-capture.sh.

mod common;

use common::*;

const ETHERNET_HEADER: usize = 14;
const CAPTURES: &[&str] = &["tls12-mutual-auth.pcap", "tls13-ipv6.pcap"];

/// The tunnel endpoint on the client's side, and on the server's.
const CLIENT_SIDE: [u8; 4] = [192, 0, 2, 1];
const SERVER_SIDE: [u8; 4] = [198, 51, 100, 2];

/// Whether an inner frame goes from the client to the server: the bundled
/// servers listen on ports below 10000, the clients' ports are ephemeral.
fn towards_server(frame: &[u8]) -> bool {
    let ip = &frame[ETHERNET_HEADER..];
    let tcp = if ip[0] >> 4 == 6 { &ip[40..] } else { &ip[usize::from(ip[0] & 0x0f) * 4..] };
    u16::from_be_bytes([tcp[2], tcp[3]]) < 10_000
}

/// An outer Ethernet + IPv4 header around `payload` of IP protocol
/// `protocol`, between the tunnel endpoints in the inner frame's direction.
fn outer_ipv4_for(inner: &[u8], protocol: u8, payload: &[u8]) -> Vec<u8> {
    let (src, dst) = if towards_server(inner) { (CLIENT_SIDE, SERVER_SIDE) } else { (SERVER_SIDE, CLIENT_SIDE) };
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    let total = (20 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, protocol, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(payload);
    f
}

/// An outer IPv4 header in a fixed direction (for nesting).
fn outer_ipv4(protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    let total = (20 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, protocol, 0, 0]);
    f.extend_from_slice(&[192, 0, 2, 9, 192, 0, 2, 10]);
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

/// Every way of wrapping one Ethernet frame: its name, the tunnel type and
/// id tlsaudit reports, and whether it has outer IP addresses.
fn wrappings() -> Vec<(&'static str, &'static str, Option<u64>, bool, Wrap)> {
    vec![
        ("gre", "gre", None, true, |f| {
            let ip = &f[ETHERNET_HEADER..];
            outer_ipv4_for(f, 47, &[&[0, 0][..], &ip_version_ether_type(ip), ip].concat())
        }),
        ("gre-checksum-key-sequence", "gre", Some(12345), true, |f| {
            let ip = &f[ETHERNET_HEADER..];
            let header = [&[0xB0, 0x00][..], &ip_version_ether_type(ip), &[0, 0, 0, 0, 0, 0, 0x30, 0x39, 0, 0, 0, 7]].concat();
            outer_ipv4_for(f, 47, &[&header[..], ip].concat())
        }),
        ("gre-ethernet", "gre", Some(5), true, |f| outer_ipv4_for(f, 47, &[&[0x20, 0x00, 0x65, 0x58, 0, 0, 0, 5][..], f].concat())),
        ("erspan-2", "erspan", Some(20), true, |f| {
            let gre = [0x10, 0x00, 0x88, 0xBE, 0, 0, 0, 1];
            let erspan = [0x10, 0x00, 0x00, 0x14, 0, 0, 0, 1];
            outer_ipv4_for(f, 47, &[&gre[..], &erspan, f].concat())
        }),
        ("erspan-3", "erspan", Some(21), true, |f| {
            let gre = [0x10, 0x00, 0x22, 0xEB, 0, 0, 0, 1];
            let erspan = [0x20, 0x00, 0x00, 0x15, 0, 0, 0, 0, 0, 0, 0, 0x01];
            let platform = [0u8; 8];
            outer_ipv4_for(f, 47, &[&gre[..], &erspan, &platform, f].concat())
        }),
        ("vxlan", "vxlan", Some(42), true, |f| outer_ipv4_for(f, 17, &udp(4789, &[&[0x08, 0, 0, 0, 0, 0, 42, 0][..], f].concat()))),
        ("geneve", "geneve", Some(7), true, |f| {
            // One 8-byte option (length 2 words), protocol Ethernet, VNI 7.
            let header = [0x02, 0x00, 0x65, 0x58, 0, 0, 7, 0, 0x01, 0x02, 0x03, 0x01, 0, 0, 0, 0];
            outer_ipv4_for(f, 17, &udp(6081, &[&header[..], f].concat()))
        }),
        ("ip-in-ip", "ip-in-ip", None, true, |f| {
            let ip = &f[ETHERNET_HEADER..];
            outer_ipv4_for(f, if ip[0] >> 4 == 6 { 41 } else { 4 }, ip)
        }),
        ("mpls", "mpls", None, false, |f| {
            let labels = [0x00, 0x01, 0x00, 64, 0x00, 0x02, 0x01, 64];
            [&f[..12], &[0x88, 0x47], &labels[..], &f[ETHERNET_HEADER..]].concat()
        }),
        ("pppoe", "pppoe", Some(4660), false, |f| {
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
        for (kind, reported, id, outer, wrap) in wrappings() {
            let wrapped: Vec<(u64, Vec<u8>)> = frames.iter().map(|(ts, f)| (*ts, wrap(f))).collect();
            let path = scratch.path(&format!("{kind}.pcap"));
            write_pcap_frames(&path, 1, &wrapped, 262_144);
            let run = run_jsonl(&["-r", path.to_str().unwrap()]);
            assert!(completed(run.code), "{name} in {kind}: {}", run.stderr);
            assert_eq!(session_essentials(&run.sessions), want, "{name} in {kind}");
            assert_eq!(run.stats["tlsaudit"]["stats"]["reader"]["tcp_segments"], frames.len(), "{name} in {kind}");
            assert_eq!(tshark_hellos(&path), hellos, "{name} in {kind}: tshark reads the wrapped file alike");
            let tunnel = &run.sessions[0]["tlsaudit"]["tunnel"];
            assert_eq!(tunnel["type"], reported, "{name} in {kind}: {tunnel}");
            assert_eq!(tunnel["id"].as_u64(), id, "{name} in {kind}: {tunnel}");
            let (client_side, server_side) = if outer { ("192.0.2.1", "198.51.100.2") } else { ("", "") };
            assert_eq!(tunnel["outer_source_ip"].as_str().unwrap_or(""), client_side, "{name} in {kind}: {tunnel}");
            assert_eq!(tunnel["outer_destination_ip"].as_str().unwrap_or(""), server_side, "{name} in {kind}");
            assert_eq!(run.stats["tlsaudit"]["stats"]["reader"]["tunnelled_segments"], frames.len(), "{name} in {kind}");
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

/// TLS that the Linux kernel itself carried in VXLAN between two network
/// namespaces (captures/make-vxlan-capture.sh): both sessions, IPv4 and
/// IPv6 inside, are read established with the VNI and the underlay's
/// addresses, and every TCP segment tshark finds inside is decoded.
#[test]
fn kernel_vxlan_capture_is_read_through() {
    let path = captures_dir().join("tunnels/vxlan.pcap");
    let run = run_jsonl(&["-r", path.to_str().unwrap()]);
    assert!(completed(run.code), "{}", run.stderr);
    let mut seen: Vec<(String, String)> = run
        .sessions
        .iter()
        .map(|s| {
            let tunnel = &s["tlsaudit"]["tunnel"];
            assert_eq!((tunnel["type"].as_str(), tunnel["id"].as_u64()), (Some("vxlan"), Some(4242)), "{tunnel}");
            assert_eq!(tunnel["outer_source_ip"], "192.0.2.1");
            assert_eq!(tunnel["outer_destination_ip"], "192.0.2.2");
            assert_eq!(s["tls"]["established"], true);
            assert_eq!(s["tls"]["client"]["server_name"], "ehr.vxlan.example.test");
            (s["destination"]["ip"].as_str().unwrap().to_string(), s["tls"]["version"].as_str().unwrap().to_string())
        })
        .collect();
    seen.sort();
    assert_eq!(seen, [("198.51.100.2".to_string(), "1.2".to_string()), ("2001:db8:42::2".to_string(), "1.3".to_string())]);
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-Y", "vxlan && tcp", "-T", "fields", "-e", "frame.number"])
        .output()
        .expect("tshark runs");
    let segments = String::from_utf8_lossy(&out.stdout).lines().count() as u64;
    assert!(segments > 20, "tshark finds the TCP segments inside VXLAN");
    let reader = &run.stats["tlsaudit"]["stats"]["reader"];
    assert_eq!(reader["tcp_segments"].as_u64(), Some(segments), "{reader}");
    assert_eq!(reader["tunnelled_segments"].as_u64(), Some(segments), "{reader}");
}
