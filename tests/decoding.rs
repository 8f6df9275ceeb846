//! Link and network decoding on real handshakes: the bundled Ethernet
//! captures are re-encapsulated (802.1Q, QinQ, Linux cooked SLL and SLL2, raw
//! IP, BSD loopback), fragmented at the IP layer (IPv4 and IPv6, in order and
//! reversed) and cut short by a snap length; tlsaudit must report the same
//! sessions as for the original capture, or count what it could not read.

mod common;

use common::*;

const ETHERNET_HEADER: usize = 14;

/// Captures to re-encapsulate: IPv4 and IPv6.
const CAPTURES: &[&str] = &["tls12-mutual-auth.pcap", "tls13-ipv6.pcap"];

fn ether_type(frame: &[u8]) -> [u8; 2] {
    [frame[12], frame[13]]
}

fn run_frames(scratch: &Scratch, name: &str, linktype: u32, frames: &[(u64, Vec<u8>)], snaplen: usize) -> Run {
    let path = scratch.path(&format!("{name}.pcap"));
    write_pcap_frames(&path, linktype, frames, snaplen);
    let run = run_jsonl(&["-r", path.to_str().expect("UTF-8")]);
    assert!(completed(run.code), "{name}: {}", run.stderr);
    run
}

fn reader_stat(run: &Run, field: &str) -> u64 {
    run.stats["tlsaudit"]["stats"]["reader"][field].as_u64().unwrap_or_else(|| panic!("no counter {field}"))
}

#[test]
fn re_encapsulated_handshakes_give_the_same_sessions() {
    for name in CAPTURES {
        let scratch = Scratch::new(&format!("decoding-{name}"));
        let (linktype, frames) = read_pcap_frames(&captures_dir().join(name));
        assert_eq!(linktype, 1);
        let want = session_essentials(&sessions_of(&captures_dir().join(name), &[]));
        assert_eq!(want.len(), 1);

        let vlan = |tags: &[(u16, u16)]| -> Vec<(u64, Vec<u8>)> {
            frames
                .iter()
                .map(|(ts, f)| {
                    let mut out = f[..12].to_vec();
                    for (tpid, id) in tags {
                        out.extend_from_slice(&tpid.to_be_bytes());
                        out.extend_from_slice(&id.to_be_bytes());
                    }
                    out.extend_from_slice(&f[12..]);
                    (*ts, out)
                })
                .collect()
        };
        let run = run_frames(&scratch, "vlan", 1, &vlan(&[(0x8100, 100)]), 262_144);
        assert_eq!(session_essentials(&run.sessions), want, "{name}: 802.1Q");
        assert_eq!(run.sessions[0]["network"]["vlan"]["id"], "100");
        let run = run_frames(&scratch, "qinq", 1, &vlan(&[(0x88a8, 200), (0x8100, 100)]), 262_144);
        assert_eq!(session_essentials(&run.sessions), want, "{name}: QinQ");
        assert_eq!(run.sessions[0]["network"]["vlan"]["id"], "200", "the outermost tag is reported");

        let sll: Vec<(u64, Vec<u8>)> = frames
            .iter()
            .map(|(ts, f)| {
                let mut out = vec![0, 0, 0, 1, 0, 6];
                out.extend_from_slice(&f[6..12]);
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&ether_type(f));
                out.extend_from_slice(&f[ETHERNET_HEADER..]);
                (*ts, out)
            })
            .collect();
        assert_eq!(session_essentials(&run_frames(&scratch, "sll", 113, &sll, 262_144).sessions), want, "{name}: SLL");

        let sll2: Vec<(u64, Vec<u8>)> = frames
            .iter()
            .map(|(ts, f)| {
                let mut out = ether_type(f).to_vec();
                out.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, 0, 6]);
                out.extend_from_slice(&f[6..12]);
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&f[ETHERNET_HEADER..]);
                (*ts, out)
            })
            .collect();
        assert_eq!(session_essentials(&run_frames(&scratch, "sll2", 276, &sll2, 262_144).sessions), want, "{name}: SLL2");

        let raw: Vec<(u64, Vec<u8>)> = frames.iter().map(|(ts, f)| (*ts, f[ETHERNET_HEADER..].to_vec())).collect();
        assert_eq!(session_essentials(&run_frames(&scratch, "raw", 101, &raw, 262_144).sessions), want, "{name}: raw IP");

        // BSD loopback: address family in host byte order (AF_INET6 is 30 on macOS).
        let null: Vec<(u64, Vec<u8>)> = frames
            .iter()
            .map(|(ts, f)| {
                let family: u32 = if ether_type(f) == [0x86, 0xdd] { 30 } else { 2 };
                let mut out = family.to_le_bytes().to_vec();
                out.extend_from_slice(&f[ETHERNET_HEADER..]);
                (*ts, out)
            })
            .collect();
        assert_eq!(session_essentials(&run_frames(&scratch, "null", 0, &null, 262_144).sessions), want, "{name}: NULL");
    }
}

/// Splits an IPv4 packet (from its IP header on) into fragments whose data
/// parts hold `piece` bytes (a multiple of 8).
fn fragment_v4(ip: &[u8], piece: usize, id: u16) -> Vec<Vec<u8>> {
    let ihl = (ip[0] & 0x0f) as usize * 4;
    let payload = &ip[ihl..];
    let mut out = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let end = (off + piece).min(payload.len());
        let mut h = ip[..ihl].to_vec();
        h[2..4].copy_from_slice(&((ihl + end - off) as u16).to_be_bytes());
        h[4..6].copy_from_slice(&id.to_be_bytes());
        let more = if end < payload.len() { 0x2000 } else { 0 };
        h[6..8].copy_from_slice(&(more | (off / 8) as u16).to_be_bytes());
        h[10..12].copy_from_slice(&[0, 0]);
        let sum = h.chunks(2).map(|w| u16::from_be_bytes([w[0], w[1]]) as u32).sum::<u32>();
        let folded = (sum & 0xffff) + (sum >> 16);
        h[10..12].copy_from_slice(&(!(((folded & 0xffff) + (folded >> 16)) as u16)).to_be_bytes());
        h.extend_from_slice(&payload[off..end]);
        out.push(h);
        off = end;
    }
    out
}

/// Splits an IPv6 packet without extension headers into fragments.
fn fragment_v6(ip: &[u8], piece: usize, id: u32) -> Vec<Vec<u8>> {
    let next = ip[6];
    let payload = &ip[40..];
    let mut out = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let end = (off + piece).min(payload.len());
        let mut h = ip[..40].to_vec();
        h[4..6].copy_from_slice(&((8 + end - off) as u16).to_be_bytes());
        h[6] = 44; // Fragment header
        h.extend_from_slice(&[next, 0]);
        let more = u16::from(end < payload.len());
        h.extend_from_slice(&(((off / 8) as u16) << 3 | more).to_be_bytes());
        h.extend_from_slice(&id.to_be_bytes());
        h.extend_from_slice(&payload[off..end]);
        out.push(h);
        off = end;
    }
    out
}

#[test]
fn ip_fragments_are_reassembled_in_any_order() {
    for name in CAPTURES {
        let scratch = Scratch::new(&format!("fragments-{name}"));
        let (_, frames) = read_pcap_frames(&captures_dir().join(name));
        let want = session_essentials(&sessions_of(&captures_dir().join(name), &[]));
        for reversed in [false, true] {
            let mut out = Vec::new();
            let mut fragmented = 0;
            for (i, (ts, f)) in frames.iter().enumerate() {
                let ip = &f[ETHERNET_HEADER..];
                if ip.len() < 300 {
                    out.push((*ts, f.clone()));
                    continue;
                }
                fragmented += 1;
                let mut pieces = if ether_type(f) == [0x86, 0xdd] {
                    fragment_v6(ip, 96, 0x1000 + i as u32)
                } else {
                    fragment_v4(ip, 96, 0x1000 + i as u16)
                };
                if reversed {
                    pieces.reverse();
                }
                for p in pieces {
                    let mut frame = f[..ETHERNET_HEADER].to_vec();
                    frame.extend_from_slice(&p);
                    out.push((*ts, frame));
                }
            }
            assert!(fragmented >= 3, "{name}: too few large packets to fragment");
            let run = run_frames(&scratch, "fragments", 1, &out, 262_144);
            assert_eq!(session_essentials(&run.sessions), want, "{name}: fragments (reversed: {reversed})");
            assert_eq!(reader_stat(&run, "ip_datagrams_reassembled"), fragmented, "{name}");
            assert_eq!(reader_stat(&run, "ip_fragments_evicted"), 0);
        }
    }
}

#[test]
fn frames_cut_by_the_snap_length_are_counted_not_fatal() {
    let scratch = Scratch::new("snaplen");
    let (_, frames) = read_pcap_frames(&captures_dir().join("tls12-mutual-auth.pcap"));
    let want = session_essentials(&sessions_of(&captures_dir().join("tls12-mutual-auth.pcap"), &[]));
    let long = frames.iter().filter(|(_, f)| f.len() > 200).count() as u64;
    assert!(long > 3);
    // 200 bytes keep the ClientHello's start but not the certificates.
    let run = run_frames(&scratch, "snap200", 1, &frames, 200);
    assert_eq!(reader_stat(&run, "packets_truncated_by_snaplen"), long);
    assert_eq!(run.sessions.len(), 1);
    let s = &run.sessions[0];
    assert_eq!(s["tlsaudit"]["incomplete"], true, "{s}");
    assert!(run.stats["tlsaudit"]["stats"]["flows"]["tcp_gap_bytes"].as_u64().unwrap() > 0);
    // Headers cut in the middle: decode errors, no session, no crash.
    for snaplen in [20, 40, 60] {
        let run = run_frames(&scratch, &format!("snap{snaplen}"), 1, &frames, snaplen);
        assert!(run.sessions.len() <= 1);
        let truncated = run.stats["tlsaudit"]["stats"]["decode_errors"]["truncated"].as_u64().unwrap();
        assert!(snaplen > 40 || truncated > 0, "snaplen {snaplen}: truncation not counted");
    }
    // Full frames again: the same session as the original capture.
    assert_eq!(session_essentials(&run_frames(&scratch, "full", 1, &frames, 262_144).sessions), want);
}

/// A real `tcpdump -i any` recording, which libpcap writes as Linux cooked
/// capture v2 (captures/make-sll2-capture.sh): every frame (all TCP) is
/// read as a segment and the session is whole; tshark_oracle compares its
/// hellos with tshark's.
#[test]
fn a_linux_any_device_recording_is_read() {
    let path = captures_dir().join("linux-sll2.pcap");
    let (linktype, frames) = read_pcap_frames(&path);
    assert_eq!(linktype, 276, "LINKTYPE_LINUX_SLL2");
    let run = run_jsonl(&["-r", path.to_str().unwrap()]);
    assert_eq!(run.sessions.len(), 1, "{}", run.stderr);
    let s = &run.sessions[0];
    assert_eq!((s["tls"]["version"].as_str(), s["tls"]["established"].as_bool()), (Some("1.2"), Some(true)));
    assert_eq!(s["tls"]["client"]["server_name"], "pacs.example.test");
    assert_eq!(s["tls"]["server"]["x509"]["subject"]["common_name"], "pacs.example.test");
    assert_eq!(reader_stat(&run, "tcp_segments"), frames.len() as u64, "every frame is a TCP segment");
}
