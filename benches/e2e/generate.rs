//! Writes a large, realistic capture deterministically from a seed: the real
//! handshakes of the bundled captures (`captures/`), each followed by bulk
//! encrypted records in Ethernet-sized segments, interleaved across many
//! concurrent flows, mixed with plain TCP and UDP traffic, over IPv4 and
//! IPv6, some flows VLAN-tagged, some client ports reused. Half the plain
//! TCP flows replay a real session of a protocol spoken in clear (the
//! recordings in `captures/cleartext`: DICOM, HL7, FHIR, logins, SMB...)
//! before their bulk; the others are random bytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::Path;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

/// A small deterministic generator (SplitMix64). Written here rather than
/// taken from `rand` so that a seed gives the same bytes whatever crate
/// versions are resolved.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5eed_7153_a0d1_7000)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Log-uniform between lo and hi: many small values, a few large ones.
    pub fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let (l, h) = ((lo as f64).ln(), (hi as f64).ln());
        let x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (l + x * (h - l)).exp() as u64
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// A TCP connection by its two endpoints, client first.
type ConnectionKey = ((IpAddr, u16), (IpAddr, u16));

/// The application payloads of one recorded TCP connection, in order, each
/// with its direction (true: client to server).
#[derive(Clone, Debug)]
pub struct Template {
    pub source: String,
    pub server_port: u16,
    pub payloads: Vec<(bool, Vec<u8>)>,
    /// ClientHello messages in the template (the expected handshake count).
    pub client_hellos: usize,
}

/// Counts TLS ClientHello records at the starts of the client's records.
fn count_client_hellos(client_bytes: &[u8]) -> usize {
    let mut n = 0;
    let mut at = 0;
    while at + 5 <= client_bytes.len() {
        let typ = client_bytes[at];
        let len = u16::from_be_bytes([client_bytes[at + 3], client_bytes[at + 4]]) as usize;
        if typ == 22 && client_bytes.get(at + 5) == Some(&1) {
            n += 1;
        }
        if !(20..=24).contains(&typ) {
            break;
        }
        at += 5 + len;
    }
    n
}

/// Reads every TCP connection (from its SYN) of the captures in `dirs`.
pub fn load_templates(dirs: &[&Path]) -> Vec<Template> {
    let mut files: Vec<_> = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap_or_else(|e| panic!("{}: {e}", d.display())))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    let mut templates = Vec::new();
    for file in files {
        let mut cap = pcap::Capture::from_file(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // (client, server) -> index in `open`
        let mut open: BTreeMap<ConnectionKey, Template> = BTreeMap::new();
        let mut done = Vec::new();
        while let Ok(packet) = cap.next_packet() {
            let Ok(sliced) = SlicedPacket::from_ethernet(packet.data) else { continue };
            let (src, dst) = match &sliced.net {
                Some(NetSlice::Ipv4(v4)) => {
                    (IpAddr::V4(v4.header().source_addr()), IpAddr::V4(v4.header().destination_addr()))
                }
                Some(NetSlice::Ipv6(v6)) => {
                    (IpAddr::V6(v6.header().source_addr()), IpAddr::V6(v6.header().destination_addr()))
                }
                _ => continue,
            };
            let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else { continue };
            let a = (src, tcp.source_port());
            let b = (dst, tcp.destination_port());
            if tcp.syn() && !tcp.ack() {
                if let Some(old) = open.remove(&(a, b)) {
                    done.push(old);
                }
                let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
                open.insert((a, b), Template { source: name, server_port: b.1, payloads: Vec::new(), client_hellos: 0 });
                continue;
            }
            let payload = tcp.payload();
            if payload.is_empty() {
                continue;
            }
            let (key, to_server) = if open.contains_key(&(a, b)) { ((a, b), true) } else { ((b, a), false) };
            let Some(t) = open.get_mut(&key) else { continue };
            match t.payloads.last_mut() {
                Some((dir, bytes)) if *dir == to_server => bytes.extend_from_slice(payload),
                _ => t.payloads.push((to_server, payload.to_vec())),
            }
        }
        done.extend(open.into_values());
        for mut t in done {
            let client: Vec<u8> = t.payloads.iter().filter(|(d, _)| *d).flat_map(|(_, p)| p.iter().copied()).collect();
            t.client_hellos = count_client_hellos(&client);
            if !t.payloads.is_empty() {
                templates.push(t);
            }
        }
    }
    templates
}

const MSS: usize = 1460;
/// Largest bulk transfer after a handshake, by default.
pub const DEFAULT_MAX_BULK: u64 = 1_000_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tls,
    PlainTcp,
    Udp,
}

/// One flow being written: the packets it still has to send.
struct Flow {
    kind: Kind,
    client: (IpAddr, u16),
    server: (IpAddr, u16),
    vlan: Option<u16>,
    /// (to_server, payload) units still to send, each at most MSS bytes.
    units: std::collections::VecDeque<(bool, Vec<u8>)>,
    seq: [u32; 2],
    /// Segments since the last pure ACK, per direction.
    unacked: [u8; 2],
    state: u8, // 0 = handshake to send, 1 = data, 2 = closing
}

/// What the generator wrote, for the harness to check against.
#[derive(Default, Debug)]
pub struct Summary {
    pub packets: u64,
    pub bytes: u64,
    pub tls_flows: u64,
    pub client_hellos: u64,
    pub plain_tcp_flows: u64,
    /// Of them, those that replay a recorded session in clear.
    pub plain_protocol_flows: u64,
    pub udp_flows: u64,
    pub reused_ports: u64,
    pub ipv6_flows: u64,
    pub vlan_flows: u64,
}

pub struct Generator {
    rng: Rng,
    templates: Vec<Template>,
    /// Recorded TCP sessions of protocols in clear, for plain flows.
    pub plain_templates: Vec<Template>,
    out: BufWriter<File>,
    ts_micros: u64,
    summary: Summary,
    /// Recently closed TLS flows (and their VLAN) whose client port may be reused.
    closed: Vec<(ConnectionKey, Option<u16>)>,
    next_port: u16,
    /// Largest bulk transfer after a handshake, and in a plain TCP flow
    /// (0: handshakes only, and short plain flows).
    pub max_bulk: u64,
}

fn ip_of(rng: &mut Rng, v6: bool, server: bool) -> IpAddr {
    if v6 {
        let mut b = [0u8; 16];
        b[0] = 0xfd;
        b[1] = if server { 0x10 } else { 0x20 };
        b[14] = rng.below(if server { 16 } else { 256 }) as u8;
        b[15] = rng.below(250) as u8 + 1;
        IpAddr::from(b)
    } else if server {
        IpAddr::from([10, 10, 0, rng.below(64) as u8 + 1])
    } else {
        IpAddr::from([10, 20, rng.below(32) as u8, rng.below(250) as u8 + 1])
    }
}

impl Generator {
    pub fn new(path: &Path, seed: u64, templates: Vec<Template>) -> std::io::Result<Self> {
        assert!(!templates.is_empty(), "no handshake templates");
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        // Classic pcap, microseconds, Ethernet.
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&[0; 8])?;
        out.write_all(&65535u32.to_le_bytes())?;
        out.write_all(&1u32.to_le_bytes())?;
        Ok(Generator {
            rng: Rng::new(seed),
            templates,
            plain_templates: Vec::new(),
            out,
            ts_micros: 1_767_225_600_000_000, // 2026-01-01
            summary: Summary::default(),
            closed: Vec::new(),
            next_port: 32768,
            max_bulk: DEFAULT_MAX_BULK,
        })
    }

    /// The next client port from Linux's ephemeral range (32768-60999).
    fn client_port(&mut self) -> u16 {
        self.next_port = if !(32768..60999).contains(&self.next_port) { 32768 } else { self.next_port + 1 };
        self.next_port
    }

    fn new_flow(&mut self) -> Flow {
        let roll = self.rng.below(100);
        let kind = match roll {
            0..=69 => Kind::Tls,
            70..=89 => Kind::PlainTcp,
            _ => Kind::Udp,
        };
        let v6 = self.rng.chance(20);
        let vlan = self.rng.chance(10).then(|| 100 + self.rng.below(4) as u16);
        let mut flow = Flow {
            kind,
            client: (ip_of(&mut self.rng, v6, false), 0),
            server: (ip_of(&mut self.rng, v6, true), 0),
            vlan,
            units: Default::default(),
            seq: [self.rng.next_u64() as u32, self.rng.next_u64() as u32],
            unacked: [0, 0],
            state: 0,
        };
        flow.client.1 = self.client_port();
        match kind {
            Kind::Tls => {
                // Now and then a new connection from the port of a closed one.
                if self.rng.chance(5) && !self.closed.is_empty() {
                    let i = self.rng.below(self.closed.len() as u64) as usize;
                    let ((c, s), v) = self.closed.swap_remove(i);
                    flow.client = c;
                    flow.server = s;
                    flow.vlan = v;
                    self.summary.reused_ports += 1;
                }
                let t = &self.templates[self.rng.below(self.templates.len() as u64) as usize];
                if flow.server.1 == 0 {
                    flow.server.1 = t.server_port;
                }
                self.summary.tls_flows += 1;
                self.summary.client_hellos += t.client_hellos as u64;
                let payloads = t.payloads.clone();
                for (dir, bytes) in payloads {
                    for chunk in bytes.chunks(MSS) {
                        flow.units.push_back((dir, chunk.to_vec()));
                    }
                }
                // Bulk application data: TLS records of up to 16 KiB, mostly
                // from the server.
                let mut bulk = if self.max_bulk > 1_000 { self.rng.log_uniform(1_000, self.max_bulk) as usize } else { 0 };
                while bulk > 0 {
                    let len = bulk.min(16_384);
                    bulk -= len;
                    let to_server = self.rng.chance(15);
                    let mut record = vec![23, 3, 3, (len >> 8) as u8, len as u8];
                    let at = record.len();
                    record.resize(at + len, 0);
                    self.rng.fill(&mut record[at..]);
                    for chunk in record.chunks(MSS) {
                        flow.units.push_back((to_server, chunk.to_vec()));
                    }
                }
            }
            Kind::PlainTcp => {
                flow.server.1 = [80, 445, 3306, 8080][self.rng.below(4) as usize];
                self.summary.plain_tcp_flows += 1;
                if !self.plain_templates.is_empty() && self.rng.chance(50) {
                    let t = &self.plain_templates[self.rng.below(self.plain_templates.len() as u64) as usize];
                    flow.server.1 = t.server_port;
                    for (dir, bytes) in &t.payloads {
                        for chunk in bytes.chunks(MSS) {
                            flow.units.push_back((*dir, chunk.to_vec()));
                        }
                    }
                    self.summary.plain_protocol_flows += 1;
                }
                let mut bulk = self.rng.log_uniform(200, (self.max_bulk / 2).max(400)) as usize;
                while bulk > 0 {
                    let len = bulk.min(MSS);
                    bulk -= len;
                    let mut data = vec![0; len];
                    self.rng.fill(&mut data);
                    flow.units.push_back((self.rng.chance(30), data));
                }
            }
            Kind::Udp => {
                flow.server.1 = [53, 123, 5004, 514][self.rng.below(4) as usize];
                self.summary.udp_flows += 1;
                let count = self.rng.log_uniform(2, 400);
                for _ in 0..count {
                    let len = 40 + self.rng.below(1_200) as usize;
                    let mut data = vec![0; len];
                    self.rng.fill(&mut data);
                    flow.units.push_back((self.rng.chance(50), data));
                }
                flow.state = 1;
            }
        }
        if flow.client.0.is_ipv6() {
            self.summary.ipv6_flows += 1;
        }
        if flow.vlan.is_some() {
            self.summary.vlan_flows += 1;
        }
        flow
    }

    /// Writes one frame.
    fn frame(&mut self, flow: &Flow, to_server: bool, transport: Transport<'_>) -> std::io::Result<()> {
        let (src, dst) = if to_server { (flow.client, flow.server) } else { (flow.server, flow.client) };
        let builder = match (src.0, dst.0, flow.vlan) {
            (IpAddr::V4(s), IpAddr::V4(d), None) => {
                etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(s.octets(), d.octets(), 64)
            }
            (IpAddr::V4(s), IpAddr::V4(d), Some(v)) => etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .single_vlan(v.try_into().expect("vlan id"))
                .ipv4(s.octets(), d.octets(), 64),
            (IpAddr::V6(s), IpAddr::V6(d), None) => {
                etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv6(s.octets(), d.octets(), 64)
            }
            (IpAddr::V6(s), IpAddr::V6(d), Some(v)) => etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .single_vlan(v.try_into().expect("vlan id"))
                .ipv6(s.octets(), d.octets(), 64),
            _ => unreachable!("both ends of a flow have the same family"),
        };
        let mut frame = Vec::with_capacity(1600);
        match transport {
            Transport::Udp(payload) => {
                let b = builder.udp(src.1, dst.1);
                b.write(&mut frame, payload).expect("frame");
            }
            Transport::Tcp { seq, ack, flags, payload } => {
                let mut b = builder.tcp(src.1, dst.1, seq, 65535);
                if flags & SYN != 0 {
                    b = b.syn();
                }
                if flags & ACK != 0 {
                    b = b.ack(ack);
                }
                if flags & FIN != 0 {
                    b = b.fin();
                }
                if flags & PSH != 0 {
                    b = b.psh();
                }
                b.write(&mut frame, payload).expect("frame");
            }
        }
        // About 1 Gbit/s of traffic, with a little jitter.
        self.ts_micros += (frame.len() as u64 * 8 / 1000).max(1) + self.rng.below(3);
        let ts = self.ts_micros;
        self.out.write_all(&((ts / 1_000_000) as u32).to_le_bytes())?;
        self.out.write_all(&((ts % 1_000_000) as u32).to_le_bytes())?;
        self.out.write_all(&(frame.len() as u32).to_le_bytes())?;
        self.out.write_all(&(frame.len() as u32).to_le_bytes())?;
        self.out.write_all(&frame)?;
        self.summary.packets += 1;
        self.summary.bytes += frame.len() as u64 + 16;
        Ok(())
    }

    /// Sends the flow's next packet (or its handshake or close); false when
    /// the flow has nothing left.
    fn step(&mut self, flow: &mut Flow) -> std::io::Result<bool> {
        if flow.kind == Kind::Udp {
            let Some((to_server, data)) = flow.units.pop_front() else { return Ok(false) };
            self.frame(flow, to_server, Transport::Udp(&data))?;
            return Ok(true);
        }
        let (c, s) = (0usize, 1usize);
        match flow.state {
            0 => {
                let isn = flow.seq;
                self.frame(flow, true, Transport::Tcp { seq: isn[c], ack: 0, flags: SYN, payload: &[] })?;
                self.frame(flow, false, Transport::Tcp { seq: isn[s], ack: isn[c].wrapping_add(1), flags: SYN | ACK, payload: &[] })?;
                flow.seq[c] = isn[c].wrapping_add(1);
                flow.seq[s] = isn[s].wrapping_add(1);
                self.frame(flow, true, Transport::Tcp { seq: flow.seq[c], ack: flow.seq[s], flags: ACK, payload: &[] })?;
                flow.state = 1;
                Ok(true)
            }
            1 => {
                let Some((to_server, data)) = flow.units.pop_front() else {
                    flow.state = 2;
                    return Ok(true);
                };
                let (me, peer) = if to_server { (c, s) } else { (s, c) };
                let seq = flow.seq[me];
                self.frame(flow, to_server, Transport::Tcp { seq, ack: flow.seq[peer], flags: ACK | PSH, payload: &data })?;
                flow.seq[me] = seq.wrapping_add(data.len() as u32);
                // The receiver acknowledges every second segment.
                flow.unacked[me] += 1;
                if flow.unacked[me] >= 2 {
                    flow.unacked[me] = 0;
                    let ack = flow.seq[me];
                    self.frame(flow, !to_server, Transport::Tcp { seq: flow.seq[peer], ack, flags: ACK, payload: &[] })?;
                }
                Ok(true)
            }
            _ => {
                let (cs, ss) = (flow.seq[c], flow.seq[s]);
                self.frame(flow, true, Transport::Tcp { seq: cs, ack: ss, flags: FIN | ACK, payload: &[] })?;
                self.frame(flow, false, Transport::Tcp { seq: ss, ack: cs.wrapping_add(1), flags: FIN | ACK, payload: &[] })?;
                self.frame(flow, true, Transport::Tcp { seq: cs.wrapping_add(1), ack: ss.wrapping_add(1), flags: ACK, payload: &[] })?;
                if flow.kind == Kind::Tls {
                    self.closed.push(((flow.client, flow.server), flow.vlan));
                    if self.closed.len() > 4096 {
                        self.closed.swap_remove(0);
                    }
                }
                Ok(false)
            }
        }
    }

    /// Writes flows, `concurrent` at a time, until the file holds `target_bytes`.
    pub fn run(mut self, target_bytes: u64, concurrent: usize) -> std::io::Result<Summary> {
        let mut active: Vec<Flow> = (0..concurrent).map(|_| self.new_flow()).collect();
        while !active.is_empty() {
            let i = self.rng.below(active.len() as u64) as usize;
            // A short burst from one flow, as real traffic comes.
            let burst = 1 + self.rng.below(4);
            let mut alive = true;
            for _ in 0..burst {
                let mut flow = std::mem::replace(&mut active[i], placeholder());
                alive = self.step(&mut flow)?;
                active[i] = flow;
                if !alive {
                    break;
                }
            }
            if !alive {
                if self.summary.bytes < target_bytes {
                    active[i] = self.new_flow();
                } else {
                    active.swap_remove(i);
                }
            }
        }
        self.out.flush()?;
        Ok(self.summary)
    }
}

fn placeholder() -> Flow {
    let any = (IpAddr::from([0, 0, 0, 0]), 0);
    Flow {
        kind: Kind::Udp,
        client: any,
        server: any,
        vlan: None,
        units: Default::default(),
        seq: [0, 0],
        unacked: [0, 0],
        state: 0,
    }
}

const SYN: u8 = 1;
const ACK: u8 = 2;
const FIN: u8 = 4;
const PSH: u8 = 8;

enum Transport<'a> {
    Udp(&'a [u8]),
    Tcp { seq: u32, ack: u32, flags: u8, payload: &'a [u8] },
}
