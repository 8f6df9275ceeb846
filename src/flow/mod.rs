//! The flow table of one worker: TCP connections keyed by their symmetric
//! 5-tuple (plus VLAN), in least-recently-active order so that idle flows time
//! out and, when the table is full, the quietest flow is evicted.
//!
//! A new SYN on a 5-tuple whose earlier connection used another initial
//! sequence number starts a new connection (clients reuse source ports). Once a
//! connection's handshake is over its flow is bypassed: later packets are
//! counted and dropped, never buffered or parsed.

mod datagram;
mod key;
pub mod reassembly;

use hashlink::linked_hash_map::Entry;
use hashlink::LinkedHashMap;

pub use crate::decode::Segment;
use crate::decode::{tcp_flags, Transport};
use crate::decode::tunnel::Tunnel;
use crate::memory::alloc_bytes;
use crate::util::keyed_hash::KeyedHash;
use crate::stats::WorkerStats;
use crate::tls::facts::{CapHit, Endpoint, SessionFacts};
use crate::dtls::DtlsConnection;
use crate::quic::QuicConnection;
use crate::tls::{Progress, TlsConnection, TlsLimits};
pub use key::FlowKey;
use reassembly::Reassembler;

/// Caps and timeouts of a flow table.
#[derive(Debug, Clone, Copy)]
pub struct FlowLimits {
    /// A flow with no packet for this long is ended.
    pub idle_timeout_micros: i64,
    /// Flows one worker holds at most.
    pub max_flows: usize,
    /// Memory of out-of-order segments buffered per direction, in bytes.
    pub max_buffered: usize,
    /// Memory all flows of one worker hold at most, in bytes: table entries,
    /// reassembly buffers and handshakes in progress. Beyond it the quietest
    /// flows are ended early.
    pub max_memory: usize,
    pub tls: TlsLimits,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            idle_timeout_micros: 120_000_000,
            max_flows: 262_144,
            max_buffered: 256 * 1024,
            max_memory: 512 * 1024 * 1024,
            tls: TlsLimits::default(),
        }
    }
}

/// How far the TLS analysis of a flow has come.
enum Inspection {
    /// No payload yet (a SYN flood's flows never get further): nothing allocated.
    NotStarted,
    Active(Box<TlsConnection>),
    /// A QUIC connection's Initial packets (UDP flows only).
    Quic(Box<QuicConnection>),
    /// A DTLS association's records (UDP flows only).
    Dtls(Box<DtlsConnection>),
    /// The handshake is over or the flow is not TLS: later packets are
    /// counted and dropped.
    Over,
}

struct Flow {
    initiator: Endpoint,
    responder: Endpoint,
    first_seen: i64,
    last_seen: i64,
    isn: [Option<u32>; 2],
    fin: [bool; 2],
    reset: bool,
    data_seen: bool,
    reassembly: [Reassembler; 2],
    inspection: Inspection,
    /// Bytes this flow is charged in the table's memory account.
    charged: usize,
    /// The capture file its first packet came from.
    file: Option<u16>,
}

/// Why a segment ends the flow of its 5-tuple and starts a new one.
enum Successor {
    /// The flow was quiet for longer than the idle timeout.
    AfterTimeout,
    /// A SYN starts another connection on the same 5-tuple.
    NewConnection,
}

impl Flow {
    /// A new flow for the segment that starts it (counted, and charged its
    /// table entry). Picked up mid-stream, the first packet may come from
    /// either side: until a hello says otherwise, the side with the lower
    /// port (the service, not the ephemeral port) is the server.
    fn start(seg: &Segment<'_>, stats: &mut WorkerStats, charged: &mut usize) -> Flow {
        let syn_only = seg.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN;
        let syn_ack = seg.flags & (tcp_flags::SYN | tcp_flags::ACK) == (tcp_flags::SYN | tcp_flags::ACK);
        let midstream = !syn_only && !syn_ack;
        let first_from_server = syn_ack || (midstream && seg.src.port < seg.dst.port);
        let (initiator, responder) = if first_from_server { (seg.dst, seg.src) } else { (seg.src, seg.dst) };
        if midstream {
            stats.flows_midstream += 1;
        }
        Flow::counted(initiator, responder, seg.ts, stats, charged)
    }

    /// A new flow between two endpoints, counted and charged its table entry.
    fn counted(initiator: Endpoint, responder: Endpoint, ts: i64, stats: &mut WorkerStats, charged: &mut usize) -> Flow {
        stats.flows += 1;
        *charged += FLOW_ENTRY_BYTES;
        Flow {
            initiator,
            responder,
            first_seen: ts,
            last_seen: ts,
            isn: [None; 2],
            fin: [false; 2],
            reset: false,
            data_seen: false,
            reassembly: [Reassembler::default(), Reassembler::default()],
            inspection: Inspection::NotStarted,
            charged: FLOW_ENTRY_BYTES,
            file: None,
        }
    }

    /// Whether `seg` ends this flow and starts another on its 5-tuple. A flow
    /// quiet for longer than the timeout has ended, whether or not a periodic
    /// expiry got to it first, so results do not depend on when the worker's
    /// clock ticks. A SYN repeated with the same sequence number is a
    /// retransmission, unless the earlier attempt was already closed or
    /// carried data: then it starts a new connection, as does a SYN with
    /// another initial sequence number.
    fn successor(&self, seg: &Segment<'_>, syn_only: bool, idle_timeout: i64) -> Option<Successor> {
        if seg.ts.saturating_sub(self.last_seen) > idle_timeout {
            return Some(Successor::AfterTimeout);
        }
        if !syn_only {
            return None;
        }
        let dir = usize::from(self.initiator != seg.src);
        let other_isn = self.isn[dir].is_some_and(|isn| isn != seg.seq);
        let closed = self.reset || self.fin.iter().any(|f| *f);
        (other_isn || closed || self.data_seen).then_some(Successor::NewConnection)
    }

    fn is_over(&self) -> bool {
        matches!(self.inspection, Inspection::Over)
    }

    /// Memory the flow holds: its table entry, reassembly buffers and the
    /// TLS analysis in progress.
    fn memory(&self) -> usize {
        let analysis = match &self.inspection {
            Inspection::Active(tls) => alloc_bytes(std::mem::size_of::<TlsConnection>()) + tls.heap_bytes(),
            Inspection::Quic(quic) => alloc_bytes(std::mem::size_of::<QuicConnection>()) + quic.heap_bytes(),
            Inspection::Dtls(dtls) => alloc_bytes(std::mem::size_of::<DtlsConnection>()) + dtls.heap_bytes(),
            _ => 0,
        };
        FLOW_ENTRY_BYTES + self.reassembly.iter().map(Reassembler::heap_bytes).sum::<usize>() + analysis
    }
}

/// Memory one entry of the flow table takes: key, flow, the two links of the
/// recency list, and the hash table's slot and allocation header.
const FLOW_ENTRY_BYTES: usize = std::mem::size_of::<FlowKey>() + std::mem::size_of::<Flow>() + 4 * 8 + 16;

/// Why a flow ended before its connection did.
#[derive(Clone, Copy)]
enum Ending {
    /// The connection ended, timed out, or the input did.
    Normal,
    /// The table held `max_flows` flows and this one was the quietest.
    TableFull,
    /// The flows' memory exceeded `max_memory` and this one was the quietest.
    MemoryFull,
}

impl Ending {
    /// Notes on the session the cap that ended it, if one did.
    fn mark(self, facts: &mut SessionFacts) {
        match self {
            Ending::Normal => {}
            Ending::TableFull => facts.limits_hit.insert(CapHit::FlowTable),
            Ending::MemoryFull => facts.limits_hit.insert(CapHit::FlowMemory),
        }
    }
}

pub struct FlowTable {
    flows: LinkedHashMap<FlowKey, Flow, KeyedHash>,
    limits: FlowLimits,
    /// Memory charged to the flows held, in bytes (see `Flow::memory`).
    charged: usize,
    pub stats: WorkerStats,
    finished: Vec<SessionFacts>,
    /// Flows whose payload is no longer looked at, since the last call to
    /// `take_bypassed` (the reader may stop copying their payload).
    bypassed: Vec<(FlowKey, i64)>,
    /// The capture file of the segments being processed (set per batch);
    /// a flow started now remembers it.
    pub source_file: Option<u16>,
}

impl FlowTable {
    pub fn new(limits: FlowLimits) -> Self {
        FlowTable {
            flows: LinkedHashMap::default(),
            limits,
            charged: 0,
            stats: WorkerStats::default(),
            finished: Vec::new(),
            bypassed: Vec::new(),
            source_file: None,
        }
    }

    /// Flows held right now.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Memory charged to the flows held right now, in bytes.
    pub fn memory(&self) -> usize {
        self.charged
    }

    /// Sessions reported since the last call.
    pub fn take_sessions(&mut self) -> Vec<SessionFacts> {
        std::mem::take(&mut self.finished)
    }

    /// Sessions reported since the last call, swapped for `empty` (an
    /// emptied list whose room the next sessions use, so that the list is
    /// not grown again batch after batch: sessions are large to move).
    pub fn swap_sessions(&mut self, empty: &mut Vec<SessionFacts>) {
        debug_assert!(empty.is_empty());
        std::mem::swap(&mut self.finished, empty);
    }

    /// Flows bypassed since the last call that are still bypassed now (not
    /// ended, nor replaced by a new connection on the same 5-tuple), with
    /// the time of their last packet.
    pub fn take_bypassed(&mut self) -> Vec<(FlowKey, i64)> {
        // The next batch's list starts with room for as many as this one's
        // (it goes to the reader with the notice).
        let room = self.bypassed.len();
        let mut keys = std::mem::replace(&mut self.bypassed, Vec::with_capacity(room));
        keys.retain_mut(|(key, last_seen)| match self.flows.get(key) {
            Some(flow) if flow.is_over() => {
                *last_seen = flow.last_seen;
                true
            }
            _ => false,
        });
        keys
    }

    /// Takes the quietest flow out of the table.
    fn remove_quietest(&mut self) -> Option<Flow> {
        let (_, flow) = self.flows.pop_front()?;
        self.charged -= flow.charged;
        Some(flow)
    }

    /// Takes one segment: finds or starts its flow with one lookup (a second
    /// only when an old connection on the 5-tuple ends first), feeds its
    /// payload and acknowledgement to the flow's reassembly and TLS analysis,
    /// and ends or bypasses the flow when that is over.
    pub fn process(&mut self, seg: &Segment<'_>) {
        self.process_tunnelled(seg, None);
    }

    /// As `process`, for a segment that came inside `tunnel` (if any).
    pub fn process_tunnelled(&mut self, seg: &Segment<'_>, tunnel: Option<Tunnel>) {
        if seg.transport == Transport::Udp {
            return self.process_datagram(seg, tunnel);
        }
        let key = FlowKey::new(seg.src, seg.dst, seg.vlan);
        let syn_only = seg.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN;
        if self.flows.len() >= self.limits.max_flows && !self.flows.contains_key(&key) {
            if let Some(oldest) = self.remove_quietest() {
                self.stats.flows_evicted += 1;
                self.finish(oldest, Ending::TableFull);
            }
        }
        let FlowTable { flows, limits, charged, stats, finished, bypassed, source_file } = self;
        let flow = match flows.entry(key) {
            Entry::Occupied(mut known) => match known.get().successor(seg, syn_only, limits.idle_timeout_micros) {
                None => {
                    known.to_back();
                    known.into_mut()
                }
                Some(why) => {
                    // The connection before ends first; its 5-tuple starts a new flow.
                    let mut old = known.remove();
                    *charged -= old.charged;
                    match why {
                        Successor::AfterTimeout if !old.is_over() => stats.flows_timed_out += 1,
                        Successor::AfterTimeout => {}
                        Successor::NewConnection => stats.flows_port_reused += 1,
                    }
                    if let Some(facts) = conclude(&mut old, Ending::Normal, stats) {
                        report(facts, stats, finished);
                    }
                    flows.entry(key).or_insert_with(|| Flow::start(seg, stats, charged))
                }
            },
            Entry::Vacant(new) => new.insert(Flow::start(seg, stats, charged)),
        };
        flow.last_seen = flow.last_seen.max(seg.ts);
        if flow.file.is_none() {
            flow.file = *source_file;
        }
        let has_payload = !seg.payload.is_empty() || seg.missing > 0;
        if has_payload && matches!(flow.inspection, Inspection::NotStarted) {
            let tls = TlsConnection::new(flow.first_seen, flow.initiator, flow.responder, seg.vlan, limits.tls);
            flow.inspection = Inspection::Active(Box::new(tls));
        }
        let tls = match &mut flow.inspection {
            Inspection::Active(tls) => Some(tls),
            Inspection::NotStarted | Inspection::Quic(_) | Inspection::Dtls(_) => None,
            Inspection::Over => {
                // The reader may already leave the payload out (counted as missing).
                stats.bypassed_packets += 1;
                stats.bypassed_bytes += seg.payload.len() as u64 + u64::from(seg.missing);
                return;
            }
        };
        let dir = usize::from(flow.initiator != seg.src);
        let max_buffered = limits.max_buffered;
        let mut progress = Progress::Inspecting;
        if seg.flags & tcp_flags::SYN != 0 {
            flow.isn[dir].get_or_insert(seg.seq);
            flow.reassembly[dir].on_syn(seg.seq);
        }
        if let Some(tls) = tls {
            if let Some(t) = tunnel {
                tls.on_tunnel(dir, t);
            }
            if has_payload {
                flow.data_seen = true;
                // Data in a SYN (TCP Fast Open) starts after the SYN's own sequence number.
                let data_seq = if seg.flags & tcp_flags::SYN != 0 { seg.seq.wrapping_add(1) } else { seg.seq };
                flow.reassembly[dir].on_segment(data_seq, seg.payload, seg.missing, max_buffered, &mut |ev| {
                    if progress == Progress::Inspecting {
                        progress = tls.on_stream(dir, ev, stats);
                    }
                });
            }
            if seg.flags & tcp_flags::ACK != 0 && progress == Progress::Inspecting {
                flow.reassembly[1 - dir].on_peer_ack(seg.ack, &mut |ev| {
                    if progress == Progress::Inspecting {
                        progress = tls.on_stream(1 - dir, ev, stats);
                    }
                });
            }
        }
        if seg.flags & tcp_flags::FIN != 0 {
            flow.fin[dir] = true;
        }
        if seg.flags & tcp_flags::RST != 0 {
            flow.reset = true;
        }
        let closed = flow.reset || (flow.fin[0] && flow.fin[1]);
        match progress {
            Progress::Done => bypass(key, flow, stats, finished, bypassed),
            // Not TLS: a session in clear is reported for what it showed.
            Progress::NotTls => bypass(key, flow, stats, finished, bypassed),
            Progress::Inspecting if closed => bypass(key, flow, stats, finished, bypassed),
            Progress::Inspecting => {}
        }
        // What the flow holds now is what it is charged.
        let now = flow.memory();
        *charged = *charged - flow.charged + now;
        flow.charged = now;
        self.enforce_memory_cap();
    }

    /// Ends the quietest flows while the flows hold more than the cap.
    fn enforce_memory_cap(&mut self) {
        while self.charged > self.limits.max_memory {
            let Some(flow) = self.remove_quietest() else { break };
            // A flow whose session was reported already (it stays to
            // recognise its later packets) loses nothing by going.
            if !flow.is_over() {
                self.stats.flows_evicted_memory += 1;
            }
            self.finish(flow, Ending::MemoryFull);
        }
    }

    fn finish(&mut self, mut flow: Flow, ending: Ending) {
        if let Some(facts) = conclude(&mut flow, ending, &mut self.stats) {
            report(facts, &mut self.stats, &mut self.finished);
        }
    }

    /// Ends flows idle for longer than the timeout, as of packet time `now`.
    pub fn expire(&mut self, now: i64) {
        let timeout = self.limits.idle_timeout_micros;
        while let Some((_, flow)) = self.flows.front() {
            if now.saturating_sub(flow.last_seen) <= timeout {
                break;
            }
            if let Some(flow) = self.remove_quietest() {
                if !flow.is_over() {
                    self.stats.flows_timed_out += 1;
                }
                self.finish(flow, Ending::Normal);
            }
        }
    }

    /// Ends every flow (end of input).
    pub fn finish_all(&mut self) {
        // Quietest first, as one by one, without a lookup per flow.
        let FlowTable { flows, charged, stats, finished, .. } = self;
        for (_, mut flow) in flows.drain() {
            *charged -= flow.charged;
            if let Some(facts) = conclude(&mut flow, Ending::Normal, stats) {
                report(facts, stats, finished);
            }
        }
    }
}

/// Ends the analysis of a flow whose handshake is over and reports the
/// session; the flow stays in the table so that its later packets are
/// recognised and skipped.
fn bypass(
    key: FlowKey,
    flow: &mut Flow,
    stats: &mut WorkerStats,
    finished: &mut Vec<SessionFacts>,
    bypassed: &mut Vec<(FlowKey, i64)>,
) {
    if let Some(facts) = conclude(flow, Ending::Normal, stats) {
        report(facts, stats, finished);
    }
    bypassed.push((key, flow.last_seen));
}

/// Counts a finished session and queues it for the worker.
fn report(facts: SessionFacts, stats: &mut WorkerStats, finished: &mut Vec<SessionFacts>) {
    match &facts.cleartext {
        Some(c) if c.in_clear() => stats.cleartext_sessions += 1,
        Some(_) => stats.other_sessions += 1,
        None => stats.tls_sessions += 1,
    }
    if facts.established {
        stats.tls_established += 1;
    }
    finished.push(facts);
}

/// Delivers what the reassemblers still hold, ends the TLS analysis and
/// frees the flow's buffers. Returns the session when TLS was seen, with
/// the caps that cut its analysis short.
fn conclude(flow: &mut Flow, ending: Ending, stats: &mut WorkerStats) -> Option<SessionFacts> {
    let mut facts = conclude_inspection(flow, ending, stats)?;
    facts.source_file = flow.file;
    Some(facts)
}

/// The facts of the flow's inspection, finished.
fn conclude_inspection(flow: &mut Flow, ending: Ending, stats: &mut WorkerStats) -> Option<SessionFacts> {
    let inspection = std::mem::replace(&mut flow.inspection, Inspection::Over);
    let mut tls = match inspection {
        Inspection::Active(tls) => tls,
        Inspection::Quic(quic) => return datagram::with_ending(quic.finish(flow.last_seen, stats), ending),
        Inspection::Dtls(dtls) => return datagram::with_ending(dtls.finish(flow.last_seen, stats), ending),
        Inspection::NotStarted | Inspection::Over => {
            release(flow, stats);
            return None;
        }
    };
    for dir in 0..2 {
        let mut progress = Progress::Inspecting;
        flow.reassembly[dir].flush(&mut |ev| {
            if progress == Progress::Inspecting {
                progress = tls.on_stream(dir, ev, stats);
            }
        });
    }
    let overlap_conflicts: u64 = flow.reassembly.iter().map(|r| r.counters.overlap_inconsistent).sum();
    let buffer_cap_hit = flow.reassembly.iter().any(|r| r.counters.buffer_cap_hits > 0);
    release(flow, stats);
    let mut facts = tls.finish(flow.last_seen, stats)?;
    facts.tcp_overlap_conflicts = overlap_conflicts;
    if buffer_cap_hit {
        facts.limits_hit.insert(CapHit::ReassemblyBuffer);
    }
    ending.mark(&mut facts);
    Some(facts)
}

/// Frees the reassembly buffers and books their counters.
fn release(flow: &mut Flow, stats: &mut WorkerStats) {
    for r in &mut flow.reassembly {
        r.counters.add_to(stats);
        r.counters = Default::default();
        r.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn ep(ip: [u8; 4], port: u16) -> Endpoint {
        Endpoint { ip: IpAddr::from(ip), port }
    }

    #[test]
    fn memory_cap_ends_the_quietest_flows_and_marks_them_partial() {
        let max_memory = 64 * 1024;
        let mut table = FlowTable::new(FlowLimits { max_memory, ..FlowLimits::default() });
        // The first 200 bytes of a ClientHello that announces 16 KB: each flow
        // holds a partial record until the memory cap ends the quietest.
        let mut hello = vec![0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x3f, 0xfc, 0x03, 0x03];
        hello.resize(200, 0xab);
        for i in 0..2_000u32 {
            let client = ep([10, 0, (i >> 8) as u8, i as u8], 40_000);
            let server = ep([10, 9, 9, 9], 443);
            let base = Segment { ts: i64::from(i), src: client, dst: server, vlan: None, transport: Transport::Tcp, seq: 1000, ack: 0, flags: tcp_flags::SYN, payload: &[], missing: 0 };
            table.process(&base);
            table.process(&Segment { seq: 1001, flags: tcp_flags::ACK, payload: &hello, ..base });
            assert!(table.memory() <= max_memory, "flow {i}: {} bytes held", table.memory());
        }
        assert!(table.stats.flows_evicted_memory > 1_000, "{} evicted", table.stats.flows_evicted_memory);
        let sessions = table.take_sessions();
        assert_eq!(sessions.len() as u64, table.stats.flows_evicted_memory);
        assert!(sessions.iter().all(|s| s.limits_hit.contains(CapHit::FlowMemory)));
        // The flows left are the most recent ones.
        table.finish_all();
        let rest = table.take_sessions();
        assert!(!rest.is_empty() && rest.iter().all(|s| s.limits_hit.is_empty()));
        assert!(rest.iter().all(|s| s.client.ip > sessions.last().unwrap().client.ip));
    }

    #[test]
    fn dispatch_hash_is_symmetric_and_spreads_flows_evenly() {
        // Flows as a span port sees them: a few servers, many clients,
        // sequential ephemeral ports; IPv4 and IPv6.
        for workers in [2u64, 3, 16, 64] {
            let mut load = vec![0u32; workers as usize];
            let mut flows = 0;
            for client in 0..40u8 {
                for server in 0..5u8 {
                    for port in 0..50u16 {
                        let c = ep([10, 20, 0, client], 32768 + port);
                        let s = ep([10, 10, 0, server], 443);
                        let key = FlowKey::new(c, s, None);
                        assert_eq!(key.dispatch_hash(), FlowKey::new(s, c, None).dispatch_hash());
                        load[(key.dispatch_hash() % workers) as usize] += 1;
                        let c6 = Endpoint { ip: IpAddr::from([0xfd20, 0, 0, 0, 0, 0, 0, u16::from(client)]), port: 32768 + port };
                        let s6 = Endpoint { ip: IpAddr::from([0xfd10, 0, 0, 0, 0, 0, 0, u16::from(server)]), port: 443 };
                        let key6 = FlowKey::new(c6, s6, Some(7));
                        assert_eq!(key6.dispatch_hash(), FlowKey::new(s6, c6, Some(7)).dispatch_hash());
                        load[(key6.dispatch_hash() % workers) as usize] += 1;
                        flows += 2;
                    }
                }
            }
            // Within four standard deviations of a uniform random choice.
            let fair = flows as f64 / workers as f64;
            let tolerance = 4.0 * (fair * (1.0 - 1.0 / workers as f64)).sqrt();
            for (w, &n) in load.iter().enumerate() {
                assert!(
                    (f64::from(n) - fair).abs() < tolerance,
                    "{workers} workers: worker {w} has {n} flows, fair share {fair:.0}"
                );
            }
        }
    }
}
