//! Helpers shared by the integration tests: running the tlsaudit binary,
//! locating the bundled and third-party captures, and reading tshark's view of
//! the same bytes as an independent oracle.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TcpHeader, TransportSlice};
use serde_json::Value;

/// The repository's own captures.
pub fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures")
}

/// The third-party captures shared beside the repository
/// (`../shared/captures/thirdparty`, or `$TLSAUDIT_THIRDPARTY`).
pub fn thirdparty_dir() -> PathBuf {
    let dir = std::env::var_os("TLSAUDIT_THIRDPARTY")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/captures/thirdparty"));
    assert!(
        dir.join("MANIFEST.tsv").is_file(),
        "third-party captures not found at {}: check out ../shared beside the repository or set TLSAUDIT_THIRDPARTY",
        dir.display()
    );
    dir
}

/// Captures where tshark and tlsaudit are not expected to agree, each with
/// its reason. The test fails if an exception is no longer needed.
pub const TSHARK_EXCEPTIONS: &[(&str, &str)] = &[
    (
        "wireshark/wireguard-ping-tcp-dsb.pcapng",
        "the TLS session runs inside a WireGuard tunnel; tshark decrypts it with the keys stored in the \
         file, a passive analyzer without keys sees only the tunnel",
    ),
    (
        "suricata-verify/tls13-draft14/tls13_draft14.pcap",
        "an early TLS 1.3 draft ServerHello (version 0x0304, no session id): tshark 4.0 reads it with the \
         TLS 1.2 layout and reports the garbage suite 0xACAD; tlsaudit reads the draft layout \
         ",
    ),
];

/// Captures whose stored oracle misses handshakes because tshark's default
/// settings do not reassemble out-of-order TCP segments; for these the test
/// runs tshark itself with out-of-order reassembly switched on.
pub const TSHARK_OUT_OF_ORDER: &[&str] =
    &["suricata-verify/tls-fingerprint-alert/input.pcap", "suricata-verify/tls-subjectaltname/input.pcap"];

/// What one run of the binary produced.
pub struct Run {
    pub sessions: Vec<Value>,
    pub services: Vec<Value>,
    /// `tlsaudit.alert` records, one per finding.
    pub alerts: Vec<Value>,
    /// `tlsaudit.change` records (with `--baseline`).
    pub changes: Vec<Value>,
    pub stats: Value,
    pub stderr: String,
    pub code: Option<i32>,
}

pub fn tlsaudit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tlsaudit"))
        .args(args)
        .output()
        .expect("the tlsaudit binary runs")
}

/// Runs tlsaudit with `--format jsonl` and splits its records.
pub fn run_jsonl(args: &[&str]) -> Run {
    let mut all = vec!["--format", "jsonl"];
    all.extend_from_slice(args);
    split_records(tlsaudit(&all))
}

/// The records of a `--format jsonl` run, by kind.
pub fn split_records(out: Output) -> Run {
    let stdout = String::from_utf8(out.stdout).expect("JSON output is UTF-8");
    let mut sessions = Vec::new();
    let mut services = Vec::new();
    let mut alerts = Vec::new();
    let mut changes = Vec::new();
    let mut stats = Value::Null;
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("invalid JSON line {line:?}: {e}"));
        match v["event"]["dataset"].as_str() {
            Some("tlsaudit.session") => sessions.push(v),
            Some("tlsaudit.service") => services.push(v),
            Some("tlsaudit.alert") => alerts.push(v),
            Some("tlsaudit.change") => changes.push(v),
            Some("tlsaudit.stats") => stats = v,
            other => panic!("unexpected record kind {other:?}"),
        }
    }
    Run { sessions, services, alerts, changes, stats, stderr: String::from_utf8_lossy(&out.stderr).into_owned(), code: out.status.code() }
}

/// Whether a run completed with a verdict: 0 compliant, 1 a finding at or
/// above `--fail-on`, 3 not assessed (2 is an error).
pub fn completed(code: Option<i32>) -> bool {
    matches!(code, Some(0 | 1 | 3))
}

/// Runs tlsaudit on one capture and insists that it succeeded.
pub fn sessions_of(path: &Path, extra: &[&str]) -> Vec<Value> {
    let p = path.to_str().expect("UTF-8 path");
    let mut args = vec!["-r", p];
    args.extend_from_slice(extra);
    let run = run_jsonl(&args);
    assert!(completed(run.code), "tlsaudit -r {p} failed ({:?}): {}", run.code, run.stderr);
    assert!(run.stats.is_object(), "no tlsaudit.stats record for {p}");
    run.sessions
}

/// The tshark command whose output the `*.tshark.tsv` oracle files hold.
pub fn tshark_hello_fields(path: &Path, extra: &[&str]) -> String {
    let mut args = vec!["-o", "tls.desegment_ssl_records:TRUE", "-o", "tcp.desegment_tcp_streams:TRUE"];
    args.extend_from_slice(extra);
    tshark_hello_rows(path, "tls", "tls.handshake.type==1 || tls.handshake.type==2", "tcp", &args)
}

/// The hellos tshark reads in DTLS records, in the same columns (UDP ports).
pub fn tshark_dtls_hello_fields(path: &Path) -> String {
    tshark_hello_rows(path, "dtls", "dtls.handshake.type==1 || dtls.handshake.type==2", "udp", &[])
}

/// The hellos tshark reads in QUIC Initial packets, in the columns of
/// `tshark_hello_fields` with UDP ports where the TCP ones are.
pub fn tshark_quic_hello_fields(path: &Path) -> String {
    tshark_hello_rows(path, "tls", "quic && (tls.handshake.type==1 || tls.handshake.type==2)", "udp", &[])
}

/// One row per frame with a hello that `filter` selects: frame, addresses
/// and ports of `transport`, and the hello fields of `protocol` (tls or
/// dtls): types, versions, suites, SNI.
fn tshark_hello_rows(path: &Path, protocol: &str, filter: &str, transport: &str, extra: &[&str]) -> String {
    let (src_port, dst_port) = (format!("{transport}.srcport"), format!("{transport}.dstport"));
    let hello = |field: &str| format!("{protocol}.handshake.{field}");
    let (typ, version, supported, suites, sni) = (
        hello("type"),
        hello("version"),
        hello("extensions.supported_version"),
        hello("ciphersuite"),
        hello("extensions_server_name"),
    );
    // frame.protocols comes last: the oracle files in shared/ have the
    // first twelve columns only.
    let fields =
        ["frame.number", "ip.src", "ipv6.src", &src_port, "ip.dst", "ipv6.dst", &dst_port, &typ, &version, &supported, &suites, &sni, "frame.protocols"];
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-Y", filter, "-T", "fields"])
        .args(fields.iter().flat_map(|f| ["-e", f]))
        .args(extra)
        .output()
        .expect("tshark runs (apt-get install tshark)");
    assert!(out.status.success(), "tshark failed on {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One endpoint as "ip|port".
pub type EndpointKey = String;

pub fn endpoint(ip: &str, port: &str) -> EndpointKey {
    let ip: std::net::IpAddr = ip.parse().unwrap_or_else(|e| panic!("bad IP {ip:?}: {e}"));
    format!("{ip}|{port}")
}

/// A ClientHello or ServerHello as tshark reports it.
#[derive(Debug, Clone)]
pub struct TsharkHello {
    pub frame: u64,
    pub client: EndpointKey,
    pub server: EndpointKey,
    pub is_client_hello: bool,
    /// Negotiated version (ServerHello): supported_versions, else the legacy field.
    pub version: Option<u16>,
    /// Offered suites (ClientHello) or the chosen one (ServerHello).
    pub ciphers: Vec<u16>,
    pub sni: Option<String>,
}

pub fn hex16(s: &str) -> u16 {
    u16::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

/// The last of several comma-separated values (the innermost header when
/// packets are tunnelled).
fn last(field: &str) -> &str {
    field.rsplit(',').next().unwrap_or("")
}

/// The innermost source and destination addresses of a tshark row, from
/// its ip.src/ip.dst and ipv6.src/ipv6.dst fields: the last of each, and of
/// IPv4 and IPv6 the one that comes last in `frame.protocols` where a
/// tunnel carries one family in the other (without that field, IPv4).
pub fn innermost_ips<'a>(v4: [&'a str; 2], v6: [&'a str; 2], protocols: Option<&str>) -> (&'a str, &'a str) {
    let inner_is_v6 = match protocols {
        Some(chain) if !v4[0].is_empty() && !v6[0].is_empty() => chain.rfind(":ipv6:") > chain.rfind(":ip:"),
        _ => v4[0].is_empty(),
    };
    let [src, dst] = if inner_is_v6 { v6 } else { v4 };
    (last(src), last(dst))
}

/// Splits the values of `count` messages that tshark printed in one row.
/// Returns None when they cannot be told apart.
fn split_values<T: Clone + PartialEq>(values: &[T], count: usize) -> Option<Vec<Vec<T>>> {
    if count <= 1 {
        return Some(vec![values.to_vec()]);
    }
    if values.is_empty() {
        return Some(vec![Vec::new(); count]);
    }
    if values.len() % count != 0 {
        return None;
    }
    let n = values.len() / count;
    let chunks: Vec<Vec<T>> = values.chunks(n).map(|c| c.to_vec()).collect();
    chunks.iter().all(|c| c == &chunks[0]).then_some(chunks)
}

/// Reads tshark's field output, one entry per hello message (a row holds
/// every hello of one frame). Rows without TCP ports (QUIC, EAP-TLS) are
/// returned in the second list.
pub fn parse_tshark(tsv: &str) -> (Vec<TsharkHello>, Vec<String>) {
    let mut hellos = Vec::new();
    let mut not_tcp = Vec::new();
    for line in tsv.lines().filter(|l| !l.trim().is_empty()) {
        let c: Vec<&str> = line.split('\t').collect();
        assert!(c.len() >= 12, "short tshark row {line:?}");
        if c[3].is_empty() || c[6].is_empty() {
            not_tcp.push(line.to_string());
            continue;
        }
        let (src_ip, dst_ip) = innermost_ips([c[1], c[4]], [c[2], c[5]], c.get(12).copied());
        let src = endpoint(src_ip, last(c[3]));
        let dst = endpoint(dst_ip, last(c[6]));
        let frame = c[0].parse().unwrap_or(0);
        let types: Vec<&str> = c[7].split(',').collect();
        let ciphers: Vec<u16> = c[10].split(',').filter(|s| !s.is_empty()).map(hex16).collect();
        let first = |field: &str| field.split(',').next().filter(|s| !s.is_empty()).map(str::to_string);
        if types.contains(&"1") {
            let count = types.iter().filter(|t| **t == "1").count();
            let lists = split_values(&ciphers, count)
                .unwrap_or_else(|| panic!("frame {frame}: cannot split the suites of {count} ClientHellos"));
            let sni: Vec<String> = c[11].split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
            let sni_lists = split_values(&sni, count)
                .unwrap_or_else(|| panic!("frame {frame}: cannot split the SNI of {count} ClientHellos"));
            for (list, names) in lists.into_iter().zip(sni_lists) {
                hellos.push(TsharkHello {
                    frame,
                    client: src.clone(),
                    server: dst.clone(),
                    is_client_hello: true,
                    version: None,
                    ciphers: list,
                    sni: names.first().cloned(),
                });
            }
        } else {
            let version = first(c[9]).or_else(|| first(c[8])).map(|v| hex16(&v));
            hellos.push(TsharkHello {
                frame,
                client: dst,
                server: src,
                is_client_hello: false,
                version,
                ciphers: ciphers.into_iter().take(1).collect(),
                sni: None,
            });
        }
    }
    (hellos, not_tcp)
}

/// A session's client and server as endpoint keys.
pub fn session_key(s: &Value) -> (EndpointKey, EndpointKey) {
    let port = |v: &Value| v.as_u64().map(|p| p.to_string()).unwrap_or_default();
    (
        endpoint(s["source"]["ip"].as_str().unwrap_or("0.0.0.0"), &port(&s["source"]["port"])),
        endpoint(s["destination"]["ip"].as_str().unwrap_or("0.0.0.0"), &port(&s["destination"]["port"])),
    )
}

/// The `tls.version` spelling of a version code, by tshark's own names of
/// the codes: "TLS 1.2" is "1.2", "TLS 1.3 (draft 18)" is "1.3-draft-18",
/// "TLS 1.3 (Facebook draft 23)" is "1.3-facebook-draft-23".
pub fn version_spelling(v: u16) -> String {
    if v == 0x0002 {
        return "2.0".into();
    }
    match tshark_version_names().get(&v) {
        Some(name) => {
            let name = name.trim_start_matches("TLS ").trim_start_matches("SSL ");
            match name.split_once(" (") {
                Some((base, draft)) => {
                    let draft = draft.trim_end_matches(')').to_lowercase().replace(' ', "-");
                    format!("{base}-{draft}")
                }
                None => name.to_string(),
            }
        }
        None => format!("0x{v:04X}"),
    }
}

/// tshark's names of the version codes of supported_versions (`tshark -G values`).
pub fn tshark_version_names() -> &'static BTreeMap<u16, String> {
    static NAMES: std::sync::OnceLock<BTreeMap<u16, String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let out = Command::new("tshark").args(["-G", "values"]).output().expect("tshark runs (apt-get install tshark)");
        let text = String::from_utf8_lossy(&out.stdout);
        let names: BTreeMap<u16, String> = text
            .lines()
            .filter_map(|l| {
                let cols: Vec<&str> = l.split('\t').collect();
                match cols.as_slice() {
                    ["V", "tls.handshake.extensions.supported_version", code, name] => {
                        Some((u16::from_str_radix(code.trim_start_matches("0x"), 16).ok()?, name.to_string()))
                    }
                    _ => None,
                }
            })
            .collect();
        assert!(names.contains_key(&0x7F12), "tshark -G values names no TLS 1.3 draft");
        names
    })
}

/// Groups records by their (client, server) endpoints.
pub fn by_connection(sessions: &[Value]) -> BTreeMap<(EndpointKey, EndpointKey), Vec<&Value>> {
    let mut map: BTreeMap<_, Vec<&Value>> = BTreeMap::new();
    for s in sessions {
        map.entry(session_key(s)).or_default().push(s);
    }
    map
}

/// The IANA cipher suite registry (tests/data/iana-tls-cipher-suites.txt):
/// every assigned code with its name.
pub fn iana_suites() -> Vec<(u16, String)> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/iana-tls-cipher-suites.txt"))
        .expect("registry file");
    text.lines()
        .filter(|l| l.starts_with("0x"))
        .map(|l| {
            let (code, name) = l.split_once(' ').expect("code and name");
            (u16::from_str_radix(&code[2..], 16).expect("hex code"), name.to_string())
        })
        .collect()
}

/// Reads the third-party MANIFEST.tsv as one map per row.
pub fn manifest() -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(thirdparty_dir().join("MANIFEST.tsv")).expect("MANIFEST.tsv readable");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("MANIFEST.tsv has a header").split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| header.iter().zip(l.split('\t')).map(|(h, v)| (h.to_string(), v.to_string())).collect())
        .collect()
}

/// Frames of a classic (microsecond, little-endian) pcap file: link type and
/// (timestamp in microseconds, frame bytes).
pub fn read_pcap_frames(path: &Path) -> (u32, Vec<(u64, Vec<u8>)>) {
    let bytes = std::fs::read(path).expect("capture readable");
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian microsecond pcap expected");
    let le = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let linktype = le(20);
    let mut frames = Vec::new();
    let mut pos = 24;
    while pos + 16 <= bytes.len() {
        let ts = le(pos) as u64 * 1_000_000 + le(pos + 4) as u64;
        let caplen = le(pos + 8) as usize;
        frames.push((ts, bytes[pos + 16..pos + 16 + caplen].to_vec()));
        pos += 16 + caplen;
    }
    (linktype, frames)
}

/// Writes a classic pcap file; frames longer than `snaplen` are cut, keeping
/// their original length in the record header.
pub fn write_pcap_frames(path: &Path, linktype: u32, frames: &[(u64, Vec<u8>)], snaplen: usize) {
    let mut out = Vec::new();
    out.extend_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&(snaplen as u32).to_le_bytes());
    out.extend_from_slice(&linktype.to_le_bytes());
    for (ts, frame) in frames {
        let kept = frame.len().min(snaplen);
        out.extend_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(kept as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame[..kept]);
    }
    std::fs::write(path, out).expect("capture written");
}

/// A scratch directory removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tlsaudit-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The hashes of the certificates a server sent, leaf first.
pub fn chain_hashes(s: &Value) -> Vec<String> {
    s["tlsaudit"]["server"]["certificates"].as_array().map_or(Vec::new(), |c| c.iter().map(|c| c["sha256"].as_str().unwrap_or("").to_string()).collect())
}

/// The facts of each session that re-cutting or re-encapsulating a capture
/// must not change, one line per session, sorted.
pub fn session_essentials(sessions: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = sessions
        .iter()
        .map(|s| {
            let tls = &s["tls"];
            format!(
                "{}:{} {}:{} v={} c={} curve={} sni={} ja4={} ja3s={} leaf={} chain={} client_leaf={} est={} dh={}",
                s["source"]["ip"],
                s["source"]["port"],
                s["destination"]["ip"],
                s["destination"]["port"],
                tls["version"],
                tls["cipher"],
                tls["curve"],
                tls["client"]["server_name"],
                s["tlsaudit"]["client"]["ja4"],
                tls["server"]["ja3s"],
                tls["server"]["hash"]["sha256"],
                chain_hashes(s).join(","),
                tls["client"]["hash"]["sha256"],
                tls["established"],
                s["tlsaudit"]["kex"]["dh_bits"],
            )
        })
        .collect();
    v.sort();
    v
}

/// Every bundled capture: `captures/*.pcap` and those of `captures/matrix`,
/// `captures/kex`, `captures/quic`, `captures/dtls` and `captures/starttls`, sorted.
pub fn bundled_captures() -> Vec<PathBuf> {
    let mut all = Vec::new();
    let dirs = ["", "matrix", "kex", "quic", "dtls", "starttls", "tunnels"].map(|d| captures_dir().join(d));
    for dir in dirs {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        all.extend(entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "pcap")));
    }
    all.sort();
    all
}

/// One TCP segment of a capture.
#[derive(Clone)]
pub struct Seg {
    pub ts: u64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub tcp: TcpHeader,
    pub payload: Vec<u8>,
}

/// The TCP segments of a classic Ethernet pcap file, in file order.
pub fn read_segments(path: &Path) -> Vec<Seg> {
    let (linktype, frames) = read_pcap_frames(path);
    assert_eq!(linktype, 1, "Ethernet link type expected");
    let mut segs = Vec::new();
    for (ts, frame) in frames {
        let p = SlicedPacket::from_ethernet(&frame).expect("frame decodes");
        let (src, dst): (IpAddr, IpAddr) = match &p.net {
            Some(NetSlice::Ipv4(v4)) => (v4.header().source_addr().into(), v4.header().destination_addr().into()),
            Some(NetSlice::Ipv6(v6)) => (v6.header().source_addr().into(), v6.header().destination_addr().into()),
            _ => continue,
        };
        let Some(TransportSlice::Tcp(tcp)) = &p.transport else { continue };
        segs.push(Seg { ts, src, dst, tcp: tcp.to_header(), payload: tcp.payload().to_vec() });
    }
    segs
}

/// One segment as an Ethernet frame.
pub fn segment_frame(s: &Seg) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut frame = Vec::new();
    match (s.src, s.dst) {
        (IpAddr::V4(a), IpAddr::V4(b)) => builder
            .ipv4(a.octets(), b.octets(), 64)
            .tcp_header(s.tcp.clone())
            .write(&mut frame, &s.payload)
            .expect("frame builds"),
        (IpAddr::V6(a), IpAddr::V6(b)) => builder
            .ipv6(a.octets(), b.octets(), 64)
            .tcp_header(s.tcp.clone())
            .write(&mut frame, &s.payload)
            .expect("frame builds"),
        _ => panic!("mixed address families"),
    }
    frame
}

/// Writes segments as an Ethernet pcap file.
pub fn write_segments(path: &Path, segs: &[Seg]) {
    let frames: Vec<(u64, Vec<u8>)> = segs.iter().map(|s| (s.ts, segment_frame(s))).collect();
    write_pcap_frames(path, 1, &frames, 262_144);
}

/// Splits one segment's payload into pieces of `size` bytes starting every
/// `step` bytes (overlapping when step < size).
pub fn pieces(s: &Seg, step: usize, size: usize) -> Vec<Seg> {
    if s.payload.is_empty() {
        return vec![s.clone()];
    }
    let mut out = Vec::new();
    let mut off = 0;
    while off < s.payload.len() {
        let end = (off + size).min(s.payload.len());
        let mut p = s.clone();
        p.tcp.sequence_number = s.tcp.sequence_number.wrapping_add(off as u32);
        p.payload = s.payload[off..end].to_vec();
        out.push(p);
        if end == s.payload.len() {
            break;
        }
        off += step;
    }
    out
}

/// The payloads of one recorded TCP connection as flights: consecutive bytes
/// one side sent before the other answered, with their direction (true:
/// from the side that sent the first SYN, or the first payload).
pub fn flights_of(segs: &[Seg]) -> Vec<(bool, Vec<u8>)> {
    let client = segs.iter().find(|s| s.tcp.syn && !s.tcp.ack).or(segs.iter().find(|s| !s.payload.is_empty()));
    let Some(client) = client.map(|s| (s.src, s.tcp.source_port)) else { return Vec::new() };
    let mut flights: Vec<(bool, Vec<u8>)> = Vec::new();
    for s in segs.iter().filter(|s| !s.payload.is_empty()) {
        let from_client = (s.src, s.tcp.source_port) == client;
        match flights.last_mut() {
            Some((dir, bytes)) if *dir == from_client => bytes.extend_from_slice(&s.payload),
            _ => flights.push((from_client, s.payload.clone())),
        }
    }
    flights
}

/// A TCP connection carrying `flights`, as segments of at most `mss` bytes:
/// handshake, the flights with consistent sequence and acknowledgement
/// numbers, and a FIN from each side. Timestamps start at `ts` and grow by
/// one microsecond per segment.
pub fn connection(client: (IpAddr, u16), server: (IpAddr, u16), flights: &[(bool, Vec<u8>)], mss: usize, ts: u64) -> Vec<Seg> {
    let mut out = Vec::new();
    let (mut cseq, mut sseq) = (0x1000_0000u32, 0x2000_0000u32);
    let mut t = ts;
    let mut push = |from_client: bool, seq: u32, ack: u32, flags: &str, payload: &[u8]| {
        let (src, dst) = if from_client { (client, server) } else { (server, client) };
        let mut tcp = TcpHeader::new(src.1, dst.1, seq, 65_535);
        tcp.acknowledgment_number = ack;
        tcp.syn = flags.contains('S');
        tcp.ack = flags.contains('A');
        tcp.fin = flags.contains('F');
        tcp.psh = !payload.is_empty();
        out.push(Seg { ts: t, src: src.0, dst: dst.0, tcp, payload: payload.to_vec() });
        t += 1;
    };
    push(true, cseq, 0, "S", &[]);
    push(false, sseq, cseq + 1, "SA", &[]);
    cseq += 1;
    sseq += 1;
    push(true, cseq, sseq, "A", &[]);
    for (from_client, bytes) in flights {
        for chunk in bytes.chunks(mss.max(1)) {
            if *from_client {
                push(true, cseq, sseq, "A", chunk);
                cseq = cseq.wrapping_add(chunk.len() as u32);
            } else {
                push(false, sseq, cseq, "A", chunk);
                sseq = sseq.wrapping_add(chunk.len() as u32);
            }
        }
    }
    push(true, cseq, sseq, "FA", &[]);
    push(false, sseq, cseq + 1, "FA", &[]);
    push(true, cseq + 1, sseq + 1, "A", &[]);
    out
}

/// Writes a classic Ethernet pcap file one frame at a time (for captures
/// too large to build in memory).
pub struct PcapStream(std::io::BufWriter<std::fs::File>);

impl PcapStream {
    pub fn create(path: &Path) -> Self {
        use std::io::Write as _;
        let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("capture file created"));
        let mut header = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        header.extend_from_slice(&[0; 8]);
        header.extend_from_slice(&262_144u32.to_le_bytes());
        header.extend_from_slice(&1u32.to_le_bytes());
        w.write_all(&header).expect("capture written");
        PcapStream(w)
    }

    pub fn segment(&mut self, s: &Seg) {
        use std::io::Write as _;
        let frame = segment_frame(s);
        let mut record = Vec::with_capacity(16 + frame.len());
        record.extend_from_slice(&((s.ts / 1_000_000) as u32).to_le_bytes());
        record.extend_from_slice(&((s.ts % 1_000_000) as u32).to_le_bytes());
        record.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        record.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        record.extend_from_slice(&frame);
        self.0.write_all(&record).expect("capture written");
    }

    pub fn finish(mut self) {
        use std::io::Write as _;
        self.0.flush().expect("capture written");
    }
}

/// Runs tlsaudit with `--format jsonl` under GNU time and returns its
/// records and its peak resident memory in KiB.
pub fn run_jsonl_measured(args: &[&str], scratch: &Scratch) -> (Run, u64) {
    let report = scratch.path("time.txt");
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&report)
        .arg(env!("CARGO_BIN_EXE_tlsaudit"))
        .args(["--format", "jsonl"])
        .args(args)
        .output()
        .expect("GNU time runs (apt-get install time)");
    let text = std::fs::read_to_string(&report).expect("GNU time wrote its report");
    let peak_kib = text.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("GNU time said {text:?}"));
    (split_records(out), peak_kib)
}
