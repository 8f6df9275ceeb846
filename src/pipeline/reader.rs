//! The reader: counts every packet, applies the BPF filter to file input,
//! decodes frames, keeps the packet clock (ticks, and a reset when time goes
//! back) and hands TCP segments to the dispatcher; and the status line of a
//! live capture.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::dispatch::Dispatcher;
use super::gauge::MemoryGauge;
use crate::capture::{live, RawPacket};
use crate::decode::{linktype, Decoded, Decoder, Transport};
use crate::stats::{DecodeErrorKind, ReaderStats};
use crate::RunError;

/// Packets between clock ticks sent to every worker.
const TICK_PACKETS: u64 = 65_536;

/// Compiled BPF programs for file input, one per link type met.
pub(super) struct FileFilter {
    expr: String,
    programs: HashMap<u32, pcap::BpfProgram>,
}

impl FileFilter {
    pub(super) fn new(expr: &str) -> Result<Self, RunError> {
        let mut f = FileFilter { expr: expr.to_string(), programs: HashMap::new() };
        f.program(linktype::ETHERNET)?; // reject a bad expression before reading anything
        Ok(f)
    }

    fn program(&mut self, lt: u32) -> Result<&pcap::BpfProgram, RunError> {
        if !self.programs.contains_key(&lt) {
            // Threads reading files apart compile their own programs; older
            // libpcap's compiler is not safe to run on two threads at once.
            static COMPILING: std::sync::Mutex<()> = std::sync::Mutex::new(());
            let _one_at_a_time = COMPILING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let dead = pcap::Capture::dead(pcap::Linktype(lt as i32))
                .map_err(|e| RunError::Usage(format!("cannot compile filter for link type {lt}: {e}")))?;
            let prog = dead
                .compile(&self.expr, true)
                .map_err(|e| RunError::Usage(format!("invalid filter expression {:?}: {e}", self.expr)))?;
            self.programs.insert(lt, prog);
        }
        self.programs.get(&lt).ok_or_else(|| RunError::Usage("filter unavailable".into()))
    }

    fn matches(&mut self, packet: &RawPacket<'_>) -> bool {
        match self.program(packet.linktype) {
            Ok(p) => p.filter(packet.data),
            Err(_) => true,
        }
    }
}

pub(super) struct Reader<'a> {
    pub decoder: Decoder,
    /// Flow idle timeout in microseconds (packet time).
    pub idle_timeout: i64,
    pub dispatch: Dispatcher,
    pub stats: ReaderStats,
    pub filter: Option<FileFilter>,
    pub stop: &'a AtomicBool,
    /// Sessions the output thread has taken in so far (for the status line).
    pub sessions_reported: Arc<AtomicU64>,
    pub memory: Arc<MemoryGauge>,
    /// Live with `--metrics`: where `publish` puts the counters.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Live with several capture rings: this reader's ring and where every
    /// ring's counters meet for the status line and the metrics.
    pub board: Option<(Arc<RingBoard>, usize)>,
    /// Packets counted when the current file began, if it stands alone
    /// (`--independent-files`): its clock ticks fall where they would if it
    /// were read first. 0 otherwise.
    pub packets_at_file_start: u64,
}

/// Every capture ring's latest counters, so that one ring (the first) can
/// report them all in the status line and the metrics. Written at status
/// and metrics time, never per packet.
pub(super) struct RingBoard {
    rings: Vec<[AtomicU64; 6]>,
}

/// A live reader's counters as reported: its own, or every ring's.
#[derive(Default)]
struct LiveTotals {
    packets: u64,
    bytes: u64,
    dropped_by_kernel: u64,
    dropped_by_interface: u64,
    dropped_by_analyzer: u64,
    decode_errors: u64,
}

impl LiveTotals {
    fn as_array(&self) -> [u64; 6] {
        [self.packets, self.bytes, self.dropped_by_kernel, self.dropped_by_interface, self.dropped_by_analyzer, self.decode_errors]
    }
}

impl RingBoard {
    pub(super) fn new(rings: usize) -> RingBoard {
        RingBoard { rings: (0..rings).map(|_| Default::default()).collect() }
    }

    fn store(&self, ring: usize, t: &LiveTotals) {
        if let Some(slot) = self.rings.get(ring) {
            for (cell, v) in slot.iter().zip(t.as_array()) {
                cell.store(v, Ordering::Relaxed);
            }
        }
    }

    fn sum(&self) -> LiveTotals {
        let mut s = [0u64; 6];
        for slot in &self.rings {
            for (total, cell) in s.iter_mut().zip(slot) {
                *total += cell.load(Ordering::Relaxed);
            }
        }
        let [packets, bytes, dropped_by_kernel, dropped_by_interface, dropped_by_analyzer, decode_errors] = s;
        LiveTotals { packets, bytes, dropped_by_kernel, dropped_by_interface, dropped_by_analyzer, decode_errors }
    }
}

impl Reader<'_> {
    pub(super) fn packet(&mut self, p: RawPacket<'_>) {
        let s = &mut self.stats;
        s.packets += 1;
        s.bytes += p.orig_len as u64;
        if (p.data.len() as u32) < p.orig_len {
            s.packets_truncated_by_snaplen += 1;
        }
        if let Some(f) = self.filter.as_mut() {
            if !f.matches(&p) {
                self.stats.packets_filtered_out += 1;
                return;
            }
        }
        if p.ts.saturating_add(self.idle_timeout) < self.dispatch.now {
            self.clock_reset(p.ts);
        }
        self.dispatch.now = self.dispatch.now.max(p.ts);
        match self.decoder.decode(p.linktype, p.data, p.ts) {
            Decoded::Tcp(seg) => {
                self.stats.tcp_segments += 1;
                self.dispatch.push(&seg, None, &mut self.stats);
            }
            Decoded::Udp(seg) => {
                self.stats.udp_handshake_datagrams += 1;
                self.dispatch.push(&seg, None, &mut self.stats);
            }
            Decoded::Tunnelled(seg, tunnel) => {
                match seg.transport {
                    Transport::Tcp => self.stats.tcp_segments += 1,
                    Transport::Udp => self.stats.udp_handshake_datagrams += 1,
                }
                self.stats.tunnelled_segments += 1;
                self.dispatch.push(&seg, Some(tunnel), &mut self.stats);
            }
            Decoded::FragmentHeld => {}
            Decoded::NotTcp => self.stats.not_tcp += 1,
            Decoded::Error(kind) => {
                if kind == DecodeErrorKind::UnsupportedLinkType {
                    self.stats.not_tcp += 1;
                }
                self.stats.decode_errors.count(kind);
            }
        }
        if (self.stats.packets - self.packets_at_file_start) % TICK_PACKETS == 0 {
            self.tick(self.dispatch.now);
        }
    }

    /// Packet time jumped back (a capture older than the one before): the
    /// flows so far end, and the clock restarts at `ts`.
    fn clock_reset(&mut self, ts: i64) {
        self.dispatch.reset_clock(ts, &mut self.stats);
        self.decoder.expire(i64::MAX);
    }

    /// A capture file that stands alone begins (`--independent-files`):
    /// the flows of the file before end, the IP fragments it left are
    /// dropped, and the clock starts again at this file's first packet, so
    /// that nothing read before shapes this file's records.
    pub(super) fn start_separate_file(&mut self, index: usize) {
        self.dispatch.start_separate_file(index, &mut self.stats);
        self.decoder.expire(i64::MAX);
        self.packets_at_file_start = self.stats.packets;
    }

    /// A capture file that stands alone has been read: its last packets go
    /// to the worker, which ends its flows and says the file is done.
    pub(super) fn end_separate_file(&mut self) {
        self.tick(self.dispatch.now);
        self.dispatch.end_separate_file(&mut self.stats);
    }

    /// Advances every worker's clock (flows and fragments time out).
    pub(super) fn tick(&mut self, now: i64) {
        self.dispatch.now = self.dispatch.now.max(now);
        self.decoder.expire(self.dispatch.now);
        self.dispatch.flush_all(&mut self.stats);
    }

    pub(super) fn finish_counters(&mut self) {
        let d = self.decoder.defrag_stats();
        self.stats.ip_fragments = d.fragments;
        self.stats.ip_datagrams_reassembled = d.datagrams_reassembled;
        self.stats.ip_fragments_evicted = d.evicted_table_full;
        self.stats.ip_fragments_expired = d.expired;
        self.stats.ip_fragments_overlapping = d.overlapping_fragments;
    }
}

impl live::PacketHandler for Reader<'_> {
    fn packet(&mut self, p: RawPacket<'_>) {
        Reader::packet(self, p);
    }

    fn idle(&mut self, now: i64) {
        self.tick(now);
    }

    fn publish(&mut self, pcap: live::LiveStats) {
        let Some(metrics) = &self.metrics else { return };
        // This ring's own series, with libpcap's drops so far.
        let ring = self.board.as_ref().map_or(0, |(_, ring)| *ring);
        metrics.publish_ring(&crate::stats::RingStats {
            dropped_by_kernel: pcap.dropped_by_kernel,
            dropped_by_interface: pcap.dropped_by_interface,
            ..self.stats.ring(ring)
        });
        let Some(t) = self.live_totals(pcap) else { return };
        let (connections, inventory) = self.memory.read();
        metrics.publish_reader(&crate::metrics::ReaderSnapshot {
            packets: t.packets,
            bytes: t.bytes,
            dropped_by_kernel: t.dropped_by_kernel,
            dropped_by_interface: t.dropped_by_interface,
            dropped_by_analyzer: t.dropped_by_analyzer,
            decode_errors: t.decode_errors,
            flows: self.memory.flows(),
            memory_connections: connections,
            memory_inventory: inventory,
            memory_limit: self.memory.limit,
        });
    }

    fn status(&mut self, pcap: live::LiveStats) {
        let Some(t) = self.live_totals(pcap) else { return };
        let (connections, inventory) = self.memory.read();
        let mib = |bytes: usize| bytes.div_ceil(1 << 20);
        eprintln!(
            "tlsaudit: status: {} packets, {} bytes, {} TLS sessions reported; dropped: {} by the kernel, {} by the interface, {} segments by the analyzer; memory: {} MiB for connections, {} MiB for the inventory, of {} MiB",
            t.packets,
            t.bytes,
            self.sessions_reported.load(Ordering::Relaxed),
            t.dropped_by_kernel,
            t.dropped_by_interface,
            t.dropped_by_analyzer,
            mib(connections),
            mib(inventory),
            mib(self.memory.limit),
        );
    }
}

impl Reader<'_> {
    /// This reader's own counters, with libpcap's drops of its capture.
    fn own_totals(&self, pcap: live::LiveStats) -> LiveTotals {
        let s = &self.stats;
        LiveTotals {
            packets: s.packets,
            bytes: s.bytes,
            dropped_by_kernel: pcap.dropped_by_kernel,
            dropped_by_interface: pcap.dropped_by_interface,
            dropped_by_analyzer: s.dropped_by_analyzer,
            decode_errors: s.decode_errors.total(),
        }
    }

    /// The counters to report: this reader's, or with several capture rings
    /// every ring's, from the first ring only (None from the others, which
    /// leave theirs on the board).
    fn live_totals(&self, pcap: live::LiveStats) -> Option<LiveTotals> {
        let own = self.own_totals(pcap);
        match &self.board {
            None => Some(own),
            Some((board, ring)) => {
                board.store(*ring, &own);
                (*ring == 0).then(|| board.sum())
            }
        }
    }
}
