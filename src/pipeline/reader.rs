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
        if self.stats.packets % TICK_PACKETS == 0 {
            self.tick(self.dispatch.now);
        }
    }

    /// Packet time jumped back (a capture older than the one before): the
    /// flows so far end, and the clock restarts at `ts`.
    fn clock_reset(&mut self, ts: i64) {
        self.dispatch.reset_clock(ts, &mut self.stats);
        self.decoder.expire(i64::MAX);
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
        let s = &self.stats;
        let (connections, inventory) = self.memory.read();
        metrics.publish_reader(&crate::metrics::ReaderSnapshot {
            packets: s.packets,
            bytes: s.bytes,
            dropped_by_kernel: pcap.dropped_by_kernel,
            dropped_by_interface: pcap.dropped_by_interface,
            dropped_by_analyzer: s.dropped_by_analyzer,
            decode_errors: s.decode_errors.total(),
            flows: self.memory.flows(),
            memory_connections: connections,
            memory_inventory: inventory,
            memory_limit: self.memory.limit,
        });
    }

    fn status(&mut self, pcap: live::LiveStats) {
        let s = &self.stats;
        let (connections, inventory) = self.memory.read();
        let mib = |bytes: usize| bytes.div_ceil(1 << 20);
        eprintln!(
            "tlsaudit: status: {} packets, {} bytes, {} TLS sessions reported; dropped: {} by the kernel, {} by the interface, {} segments by the analyzer; memory: {} MiB for connections, {} MiB for the inventory, of {} MiB",
            s.packets,
            s.bytes,
            self.sessions_reported.load(Ordering::Relaxed),
            pcap.dropped_by_kernel,
            pcap.dropped_by_interface,
            s.dropped_by_analyzer,
            mib(connections),
            mib(inventory),
            mib(self.memory.limit),
        );
    }
}
