//! The threads of a run: one reader that decodes frames and dispatches TCP
//! segments in batches, N workers that each own the flows whose symmetric
//! 5-tuple hash maps to them (no locks on the per-packet path), and one sink
//! that owns the output. Channels are bounded; batches are recycled.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::time::Duration;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use hashlink::{LinkedHashMap, LruCache};

use crate::capture::{self, live, RawPacket};
use crate::decode::{linktype, Decoded, Decoder};
use crate::flow::{FlowKey, FlowLimits, FlowTable, Segment};
use crate::inventory::Inventory;
use crate::output::{json, text};
use crate::stats::{DecodeErrorKind, ReaderStats, WorkerStats};
use crate::policy::{self, Profile, Verdict};
use crate::tls::facts::{Endpoint, SessionFacts};
use crate::{Config, OutputFormat, RunError, Source};

/// Segments per batch before it is sent to its worker.
const BATCH_SEGMENTS: usize = 256;
/// Payload bytes per batch before it is sent.
const BATCH_BYTES: usize = 256 * 1024;
/// Packets between clock ticks sent to every worker.
const TICK_PACKETS: u64 = 65_536;
/// SYNs the reader remembers, to tell a bypass notice that arrives after
/// the 5-tuple was reused from one that still holds.
const RECENT_SYNS: usize = 65_536;

struct SegmentMeta {
    ts: i64,
    src: Endpoint,
    dst: Endpoint,
    vlan: Option<u16>,
    seq: u32,
    ack: u32,
    flags: u8,
    start: usize,
    len: usize,
    missing: u32,
}

/// Segments for one worker, with their payloads in one buffer, and the
/// reader's packet clock.
#[derive(Default)]
struct Batch {
    /// The batch's place in its worker's sequence.
    number: u64,
    now: i64,
    /// Packet time went back by more than the idle timeout (the next file
    /// is older than the last one): end every flow before these segments.
    clock_reset: bool,
    segments: Vec<SegmentMeta>,
    data: Vec<u8>,
}

impl Batch {
    /// An empty batch with room for a full one (a typical frame past the
    /// byte limit included), so that filling it never reallocates.
    fn with_capacity() -> Batch {
        Batch {
            segments: Vec::with_capacity(BATCH_SEGMENTS),
            data: Vec::with_capacity(BATCH_BYTES + 2048),
            ..Batch::default()
        }
    }
}

struct Dispatcher {
    workers: Vec<Sender<Batch>>,
    /// Flows the workers have bypassed, with the time of their last packet:
    /// their payload is not copied into batches any more (only its length is
    /// passed on). Bounded; a SYN on the 5-tuple removes the entry, since it
    /// starts a new connection.
    bypassed: LruCache<FlowKey, i64>,
    /// The flows' idle timeout in microseconds.
    idle_timeout: i64,
    /// Bypass notices from the workers.
    bypass_notices: Receiver<BypassNotice>,
    /// Batches handed to each worker so far (the number of its pending batch).
    batches_sent: Vec<u64>,
    /// The 5-tuples of recent SYNs and the number of the batch each went
    /// into: a notice about a flow whose 5-tuple saw a SYN in a later batch
    /// speaks of the connection before it and is ignored.
    recent_syns: LinkedHashMap<FlowKey, u64>,
    /// Per worker, the highest batch number among forgotten SYNs: notices
    /// from before it cannot be checked and are ignored.
    syns_forgotten_up_to: Vec<Option<u64>>,
    /// Per worker, the first batch after the last clock reset.
    notices_valid_from: Vec<u64>,
    pending: Vec<Batch>,
    pool: Receiver<Batch>,
    /// Live capture: drop rather than wait when a worker falls behind.
    drop_when_full: bool,
    now: i64,
}

impl Dispatcher {
    /// A dispatcher to `workers`, taking emptied batches back from `pool`
    /// and bypass notices from `bypass_notices`.
    fn new(
        workers: Vec<Sender<Batch>>,
        pool: Receiver<Batch>,
        bypass_notices: Receiver<BypassNotice>,
        limits: &FlowLimits,
        drop_when_full: bool,
    ) -> Dispatcher {
        let n = workers.len();
        Dispatcher {
            workers,
            bypassed: LruCache::new(limits.max_flows.max(1)),
            idle_timeout: limits.idle_timeout_micros,
            bypass_notices,
            batches_sent: vec![0; n],
            recent_syns: LinkedHashMap::new(),
            syns_forgotten_up_to: vec![None; n],
            notices_valid_from: vec![0; n],
            pending: (0..n).map(|_| Batch::with_capacity()).collect(),
            pool,
            drop_when_full,
            now: 0,
        }
    }

    fn push(&mut self, seg: &crate::decode::TcpSegment<'_>, ts: i64, stats: &mut ReaderStats) {
        let src = Endpoint { ip: seg.src, port: seg.src_port };
        let dst = Endpoint { ip: seg.dst, port: seg.dst_port };
        let key = FlowKey::new(src, dst, seg.vlan);
        let w = (key.dispatch_hash() % self.workers.len() as u64) as usize;
        let mut skip_payload = false;
        if seg.flags & crate::decode::tcp_flags::SYN != 0 {
            // A new connection on the 5-tuple: the worker looks again.
            self.bypassed.remove(&key);
            self.remember_syn(key, w);
        } else if !seg.payload.is_empty() {
            // Only segments with payload are looked up (a pure ACK has
            // nothing to copy), and a hit does not reorder the table: when
            // it is full, the flow bypassed longest ago is forgotten and
            // its payload copied again, which loses nothing.
            if let Some(last_seen) = self.bypassed.peek_mut(&key) {
                // A flow quiet for half the idle timeout may have ended in
                // the worker (which then starts a fresh one): copy again.
                if ts.saturating_sub(*last_seen) >= self.idle_timeout / 2 {
                    self.bypassed.remove(&key);
                } else {
                    *last_seen = (*last_seen).max(ts);
                    skip_payload = true;
                }
            }
        }
        let batch = &mut self.pending[w];
        let start = batch.data.len();
        let (len, missing) = if skip_payload {
            stats.payload_bytes_not_copied += seg.payload.len() as u64;
            (0, seg.missing.saturating_add(seg.payload.len() as u32))
        } else {
            batch.data.extend_from_slice(seg.payload);
            (seg.payload.len(), seg.missing)
        };
        batch.segments.push(SegmentMeta {
            ts,
            src,
            dst,
            vlan: seg.vlan,
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            start,
            len,
            missing,
        });
        if batch.segments.len() >= BATCH_SEGMENTS || batch.data.len() >= BATCH_BYTES {
            self.send(w, stats);
        }
    }

    fn remember_syn(&mut self, key: FlowKey, worker: usize) {
        let number = self.batches_sent[worker];
        self.recent_syns.remove(&key);
        if self.recent_syns.len() >= RECENT_SYNS {
            if let Some((old, old_number)) = self.recent_syns.pop_front() {
                let w = (old.dispatch_hash() % self.workers.len() as u64) as usize;
                let forgotten = &mut self.syns_forgotten_up_to[w];
                *forgotten = Some(forgotten.map_or(old_number, |f| f.max(old_number)));
            }
        }
        self.recent_syns.insert(key, number);
    }

    /// Takes in the flows the workers have bypassed since the last call.
    fn learn_bypassed(&mut self, stats: &mut ReaderStats) {
        while let Ok(notice) = self.bypass_notices.try_recv() {
            // SYNs that went into later batches than the notice's cannot be
            // ruled out: ignore the notice (the payload is copied as before).
            let before_reset = notice.batch < self.notices_valid_from[notice.worker];
            if before_reset || self.syns_forgotten_up_to[notice.worker].is_some_and(|f| f > notice.batch) {
                stats.bypass_notices_ignored += notice.flows.len() as u64;
                continue;
            }
            for (key, last_seen) in notice.flows {
                if self.recent_syns.get(&key).is_some_and(|&syn_batch| syn_batch > notice.batch) {
                    stats.bypass_notices_ignored += 1;
                    continue;
                }
                if self.bypassed.len() >= self.bypassed.capacity() && !self.bypassed.contains_key(&key) {
                    stats.bypass_table_evictions += 1;
                }
                self.bypassed.insert(key, last_seen);
            }
        }
    }

    /// The clock went back and the workers end every flow before their next
    /// batch: forget the bypassed flows, and the notices still on their way.
    fn forget_bypassed(&mut self) {
        self.bypassed.clear();
        self.notices_valid_from.clone_from(&self.batches_sent);
    }

    fn send(&mut self, w: usize, stats: &mut ReaderStats) {
        self.learn_bypassed(stats);
        let mut fresh = self.pool.try_recv().unwrap_or_else(|_| Batch::with_capacity());
        fresh.clock_reset = false;
        let mut batch = std::mem::replace(&mut self.pending[w], fresh);
        batch.now = self.now;
        batch.number = self.batches_sent[w];
        self.batches_sent[w] += 1;
        if self.drop_when_full {
            match self.workers[w].try_send(batch) {
                Ok(()) => {}
                Err(TrySendError::Full(b)) => stats.dropped_by_analyzer += b.segments.len() as u64,
                Err(TrySendError::Disconnected(_)) => {}
            }
        } else {
            let _ = self.workers[w].send(batch);
        }
    }

    /// Sends every pending batch (even empty ones, as clock ticks).
    fn flush_all(&mut self, stats: &mut ReaderStats) {
        for w in 0..self.workers.len() {
            self.send(w, stats);
        }
    }
}

/// Flows a worker bypassed while it processed one batch (and that were still
/// bypassed at its end).
struct BypassNotice {
    worker: usize,
    batch: u64,
    flows: Vec<(FlowKey, i64)>,
}

/// A finished session and its judgement.
pub struct Judged {
    pub facts: SessionFacts,
    pub verdict: Verdict,
    /// The session's output line (newline included), or nothing when the
    /// output has no line per session. Rendered by the worker, so that the
    /// one sink thread only writes.
    pub line: Vec<u8>,
}

/// How the workers render each session's line.
#[derive(Clone)]
struct RenderOptions {
    format: OutputFormat,
    /// Text format: one line per session as it is found.
    session_lines: bool,
    color: bool,
    policy_name: String,
}

fn judge(sessions: Vec<SessionFacts>, profile: &Profile, render: &RenderOptions) -> Vec<Judged> {
    sessions
        .into_iter()
        .map(|facts| {
            let verdict = policy::evaluate(&facts, profile);
            let mut line = Vec::new();
            match render.format {
                OutputFormat::Jsonl => {
                    json::session(&facts, &verdict, &render.policy_name, &mut line);
                    line.push(b'\n');
                }
                OutputFormat::Text if render.session_lines => {
                    line.extend_from_slice(text::session_line(&facts, &verdict, render.color).as_bytes());
                    line.push(b'\n');
                }
                OutputFormat::Text => {}
            }
            Judged { facts, verdict, line }
        })
        .collect()
}

/// Sessions judged by one worker, on their way to the sink.
struct JudgedBatch {
    worker: usize,
    sessions: Vec<Judged>,
}

/// What a worker thread is given besides its batches.
struct WorkerContext {
    index: usize,
    sink: Sender<JudgedBatch>,
    /// Sessions the sink is done with, back to be freed here: memory is
    /// best freed by the thread that allocated it (the system allocator
    /// takes a lock to free another thread's memory).
    spent: Receiver<Vec<Judged>>,
    bypass_notices: Sender<BypassNotice>,
    /// Where emptied batches go back to the reader.
    pool: Sender<Batch>,
    limits: FlowLimits,
    profile: Arc<Profile>,
    render: Arc<RenderOptions>,
    memory: Arc<MemoryGauge>,
}

fn worker(rx: Receiver<Batch>, cx: WorkerContext) -> WorkerStats {
    live::renounce_capabilities();
    let WorkerContext { index: worker_index, sink, spent, bypass_notices, pool, limits, profile, render, memory } = cx;
    let mut table = FlowTable::new(limits);
    for mut batch in rx {
        spent.try_iter().for_each(drop);
        if batch.clock_reset {
            table.finish_all();
        }
        for m in &batch.segments {
            let seg = Segment {
                ts: m.ts,
                src: m.src,
                dst: m.dst,
                vlan: m.vlan,
                seq: m.seq,
                ack: m.ack,
                flags: m.flags,
                payload: &batch.data[m.start..m.start + m.len],
                missing: m.missing,
            };
            table.process(&seg);
        }
        table.expire(batch.now);
        memory.set(worker_index, table.memory());
        let flows = table.take_bypassed();
        if !flows.is_empty() {
            // A lost notice only means the reader keeps copying that payload.
            let _ = bypass_notices.try_send(BypassNotice { worker: worker_index, batch: batch.number, flows });
        }
        let done = table.take_sessions();
        if !done.is_empty() {
            let _ = sink.send(JudgedBatch { worker: worker_index, sessions: judge(done, &profile, &render) });
        }
        batch.segments.clear();
        batch.data.clear();
        let _ = pool.try_send(batch);
    }
    table.finish_all();
    let done = table.take_sessions();
    if !done.is_empty() {
        let _ = sink.send(JudgedBatch { worker: worker_index, sessions: judge(done, &profile, &render) });
    }
    table.stats
}

/// What the sink thread hands back.
struct SinkResult {
    out: Box<dyn Write + Send>,
    sessions: u64,
    compliant: u64,
    /// Findings by severity (Info..Critical).
    findings: [u64; 5],
    by_version: BTreeMap<String, u64>,
    inventory: Inventory,
    error: Option<io::Error>,
}

/// What the sink needs to know besides the records.
struct SinkOptions {
    flush_each: bool,
    failing: policy::Severity,
    /// Counts the sessions taken in, for whoever reports progress.
    sessions_reported: Arc<AtomicU64>,
    /// Per worker, where its sessions go back to be freed.
    spent: Vec<Sender<Vec<Judged>>>,
    reopen: Option<OutputReopen>,
    inventory_memory: usize,
    memory: Arc<MemoryGauge>,
}

/// Opens the output file again on request (SIGHUP, after logrotate renamed
/// it): what is written afterwards goes to a file by the old name.
pub struct OutputReopen {
    pub requested: Arc<AtomicBool>,
    pub open: Box<dyn FnMut() -> io::Result<Box<dyn Write + Send>> + Send>,
}

impl OutputReopen {
    /// Reopens if asked to since the last call; on failure keeps writing to
    /// the old file, with a warning.
    fn check(&mut self, out: &mut Box<dyn Write + Send>) {
        if !self.requested.swap(false, Ordering::Relaxed) {
            return;
        }
        if let Err(e) = out.flush() {
            eprintln!("tlsaudit: warning: cannot flush the output file before reopening it: {e}");
        }
        match (self.open)() {
            Ok(fresh) => {
                *out = fresh;
                eprintln!("tlsaudit: reopened the output file");
            }
            Err(e) => eprintln!("tlsaudit: warning: cannot reopen the output file ({e}); writing on to the old one"),
        }
    }
}

fn sink(rx: Receiver<JudgedBatch>, mut out: Box<dyn Write + Send>, mut opts: SinkOptions) -> SinkResult {
    live::renounce_capabilities();
    let mut sessions = 0;
    let mut compliant = 0;
    let mut findings = [0u64; 5];
    let mut by_version = BTreeMap::new();
    let mut inventory = Inventory::with_memory_limit(opts.inventory_memory);
    let mut error = None;
    loop {
        if let Some(reopen) = opts.reopen.as_mut() {
            reopen.check(&mut out);
        }
        // Wake now and then to see whether the output is to be reopened.
        let JudgedBatch { worker, sessions: batch } = match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(b) => b,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        opts.sessions_reported.fetch_add(batch.len() as u64, Ordering::Relaxed);
        for judged in &batch {
            let Judged { facts: f, verdict, line } = judged;
            sessions += 1;
            compliant += u64::from(verdict.compliant);
            for finding in &verdict.findings {
                findings[finding.severity as usize] += 1;
            }
            *by_version.entry(text::version_label(f)).or_insert(0) += 1;
            inventory.add(judged, opts.failing);
            if error.is_some() {
                continue; // keep draining so that workers never block
            }
            if let Err(e) = out.write_all(line) {
                error = Some(e);
            }
        }
        opts.memory.set_inventory(inventory.memory());
        if opts.flush_each && error.is_none() {
            if let Err(e) = out.flush() {
                error = Some(e);
            }
        }
        // Freed here only when the worker's queue for them is full or gone.
        if let Some(back) = opts.spent.get(worker) {
            let _ = back.try_send(batch);
        }
    }
    SinkResult { out, sessions, compliant, findings, by_version, inventory, error }
}

/// Compiled BPF programs for file input, one per link type met.
struct FileFilter {
    expr: String,
    programs: HashMap<u32, pcap::BpfProgram>,
}

impl FileFilter {
    fn new(expr: &str) -> Result<Self, RunError> {
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

/// Memory in use, for the status line: each worker's connections (one
/// slot each) and the inventory (the last slot), in bytes as charged
/// against `--memory-limit`.
struct MemoryGauge {
    in_use: Vec<AtomicUsize>,
    limit: usize,
}

impl MemoryGauge {
    fn new(workers: usize, limit: usize) -> Self {
        MemoryGauge { in_use: (0..=workers).map(|_| AtomicUsize::new(0)).collect(), limit }
    }

    fn set(&self, slot: usize, bytes: usize) {
        if let Some(s) = self.in_use.get(slot) {
            s.store(bytes, Ordering::Relaxed);
        }
    }

    fn set_inventory(&self, bytes: usize) {
        self.set(self.in_use.len() - 1, bytes);
    }

    /// (connections, inventory), in bytes.
    fn read(&self) -> (usize, usize) {
        let (workers, inventory) = self.in_use.split_at(self.in_use.len() - 1);
        (workers.iter().map(|s| s.load(Ordering::Relaxed)).sum(), inventory[0].load(Ordering::Relaxed))
    }
}

struct Reader<'a> {
    decoder: Decoder,
    /// Flow idle timeout in microseconds (packet time).
    idle_timeout: i64,
    dispatch: Dispatcher,
    stats: ReaderStats,
    filter: Option<FileFilter>,
    stop: &'a AtomicBool,
    /// Sessions the sink has taken in so far (for the status line).
    sessions_reported: Arc<AtomicU64>,
    memory: Arc<MemoryGauge>,
}

impl Reader<'_> {
    fn packet(&mut self, p: RawPacket<'_>) {
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
                self.dispatch.push(&seg, p.ts, &mut self.stats);
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
        self.dispatch.flush_all(&mut self.stats);
        self.dispatch.now = ts;
        for batch in &mut self.dispatch.pending {
            batch.clock_reset = true;
        }
        self.dispatch.forget_bypassed();
        self.decoder.expire(i64::MAX);
    }

    /// Advances every worker's clock (flows and fragments time out).
    fn tick(&mut self, now: i64) {
        self.dispatch.now = self.dispatch.now.max(now);
        self.decoder.expire(self.dispatch.now);
        self.dispatch.flush_all(&mut self.stats);
    }

    fn finish_counters(&mut self) {
        let d = self.decoder.defrag_stats();
        self.stats.ip_fragments = d.fragments;
        self.stats.ip_datagrams_reassembled = d.datagrams_reassembled;
        self.stats.ip_fragments_evicted = d.evicted_table_full;
        self.stats.ip_fragments_expired = d.expired;
        self.stats.ip_fragments_overlapping = d.overlapping_fragments;
    }
}

/// Runs the whole pipeline; session records go to `out` as they are found.
pub fn run(
    config: &Config,
    out: Box<dyn Write + Send>,
    stop: Arc<AtomicBool>,
    reopen: Option<OutputReopen>,
) -> Result<crate::RunSummary, RunError> {
    let started = std::time::Instant::now();
    let threads = config.threads.max(1);
    let filter = match (&config.source, &config.filter) {
        (Source::Files(_), Some(expr)) => Some(FileFilter::new(expr)?),
        _ => None,
    };
    let live = matches!(config.source, Source::Live(_));
    // Open the interface first: a missing device or a missing privilege is
    // reported before any output is written.
    let mut live_capture = match &config.source {
        Source::Live(opts) => Some(live::open(opts).map_err(RunError::Fatal)?),
        Source::Files(_) => None,
    };
    let (sink_tx, sink_rx) = bounded::<JudgedBatch>(1024);
    let profile = Arc::new(config.profile.clone());
    let render = Arc::new(RenderOptions {
        format: config.format,
        session_lines: config.session_lines,
        color: config.color,
        policy_name: config.profile.name.clone(),
    });
    let (pool_tx, pool_rx) = bounded::<Batch>(threads * 8);
    let (bypass_tx, bypass_rx) = bounded::<BypassNotice>(threads * 64);
    let mut worker_txs = Vec::new();
    let mut worker_handles = Vec::new();
    let mut spent_txs = Vec::new();
    let memory = Arc::new(MemoryGauge::new(threads, config.limits.max_memory * threads + config.inventory_memory));
    for i in 0..threads {
        let (spent_tx, spent_rx) = bounded::<Vec<Judged>>(64);
        spent_txs.push(spent_tx);
        // 16 batches of at most 256 KiB: 4 MiB in flight per worker.
        let (tx, rx) = bounded::<Batch>(16);
        let cx = WorkerContext {
            index: i,
            sink: sink_tx.clone(),
            spent: spent_rx,
            bypass_notices: bypass_tx.clone(),
            pool: pool_tx.clone(),
            limits: config.limits,
            profile: Arc::clone(&profile),
            render: Arc::clone(&render),
            memory: Arc::clone(&memory),
        };
        let handle = thread::Builder::new()
            .name(format!("tlsaudit-worker-{i}"))
            .spawn(move || worker(rx, cx))
            .map_err(|e| RunError::Fatal(format!("cannot start a worker thread: {e}")))?;
        worker_txs.push(tx);
        worker_handles.push(handle);
    }
    drop(sink_tx);
    drop(pool_tx);
    drop(bypass_tx);
    let sessions_reported = Arc::new(AtomicU64::new(0));
    let sink_opts = SinkOptions {
        flush_each: live,
        failing: config.profile.failing,
        sessions_reported: Arc::clone(&sessions_reported),
        spent: spent_txs,
        reopen,
        inventory_memory: config.inventory_memory,
        memory: Arc::clone(&memory),
    };
    let sink_handle = thread::Builder::new()
        .name("tlsaudit-sink".into())
        .spawn(move || sink(sink_rx, out, sink_opts))
        .map_err(|e| RunError::Fatal(format!("cannot start the output thread: {e}")))?;

    let mut reader = Reader {
        decoder: Decoder::new(config.max_ip_fragments, 30_000_000),
        idle_timeout: config.limits.idle_timeout_micros,
        dispatch: Dispatcher::new(worker_txs, pool_rx, bypass_rx, &config.limits, live),
        stats: ReaderStats::default(),
        filter,
        stop: &stop,
        sessions_reported,
        memory,
    };
    let mut input_errors = Vec::new();
    let mut fatal = None;
    match &config.source {
        Source::Files(paths) => read_files(&mut reader, paths, config.progress, config.read_ahead, &mut input_errors),
        Source::Live(opts) => {
            let stop = reader.stop;
            let opened = live_capture.take().ok_or_else(|| RunError::Fatal("live capture not opened".into()))?;
            match live::capture(opened, opts, stop, &mut reader) {
                Ok(s) => {
                    reader.stats.dropped_by_kernel = s.dropped_by_kernel;
                    reader.stats.dropped_by_interface = s.dropped_by_interface;
                }
                Err(e) => fatal = Some(e),
            }
        }
    }
    reader.finish_counters();
    reader.dispatch.flush_all(&mut reader.stats);
    let Reader { dispatch, stats: reader_stats, .. } = reader;
    drop(dispatch);
    let mut workers = WorkerStats::default();
    for h in worker_handles {
        match h.join() {
            Ok(s) => workers.add(&s),
            Err(_) => return Err(RunError::Fatal("a worker thread panicked".into())),
        }
    }
    let result = sink_handle.join().map_err(|_| RunError::Fatal("the output thread panicked".into()))?;
    let mut summary = crate::RunSummary {
        reader: reader_stats,
        workers,
        sessions: result.sessions,
        sessions_compliant: result.compliant,
        findings_by_severity: result.findings,
        threads,
        wall_time: started.elapsed(),
        input_errors,
    };
    summary.wall_time = started.elapsed();
    let mut out = result.out;
    let mut inventory = result.inventory;
    inventory.finish(&config.profile);
    let write_error = result.error.or_else(|| {
        let r = match config.format {
            OutputFormat::Jsonl => {
                // One record at a time: the inventory can hold tens of
                // thousands of services.
                let mut write_line = |v: &serde_json::Value| {
                    serde_json::to_writer(&mut out, v).map_err(io::Error::from).and_then(|_| out.write_all(b"\n"))
                };
                inventory
                    .services()
                    .iter()
                    .try_for_each(|service| write_line(&json::service(service, &config.profile.name)))
                    .and_then(|_| write_line(&json::stats(&summary, &inventory)))
            }
            OutputFormat::Text => {
                let report = text::report(&inventory, &summary, &config.profile, config.color);
                out.write_all(report.as_bytes())
                    .and_then(|_| out.write_all(text::summary(&result.by_version, &summary).as_bytes()))
            }
        };
        r.and_then(|_| out.flush()).err()
    });
    if let Some(e) = fatal {
        return Err(RunError::Fatal(e));
    }
    if let Some(e) = write_error {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(RunError::Fatal(format!("cannot write the output: {e}")));
        }
    }
    Ok(summary)
}

impl live::PacketHandler for Reader<'_> {
    fn packet(&mut self, p: RawPacket<'_>) {
        Reader::packet(self, p);
    }

    fn idle(&mut self, now: i64) {
        self.tick(now);
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

/// Where the frames of capture files go, file after file.
trait FrameSink {
    /// One frame; false stops reading.
    fn frame(&mut self, p: RawPacket<'_>) -> bool;
    /// A file is over; false stops reading.
    fn file_done(&mut self, path: &std::path::Path, result: Result<u64, capture::CaptureError>) -> bool;
}

impl FrameSink for (&mut Reader<'_>, &mut Vec<String>) {
    fn frame(&mut self, p: RawPacket<'_>) -> bool {
        self.0.packet(p);
        true
    }

    fn file_done(&mut self, path: &std::path::Path, result: Result<u64, capture::CaptureError>) -> bool {
        let (reader, errors) = self;
        match result {
            Ok(_) => reader.stats.files_read += 1,
            Err(e) => {
                reader.stats.files_failed += 1;
                errors.push(format!("{}: {e}", path.display()));
            }
        }
        // Hand this file's last packets to the workers.
        reader.tick(reader.dispatch.now);
        true
    }
}

/// Frames copied out of a capture file, in file order, for the reader.
struct FrameBlock {
    data: Vec<u8>,
    frames: Vec<FrameMeta>,
}

struct FrameMeta {
    ts: i64,
    linktype: u32,
    start: usize,
    len: usize,
    orig_len: u32,
}

/// Frames per block, and frame bytes, before a block is handed over.
const BLOCK_FRAMES: usize = 4096;
const BLOCK_BYTES: usize = 1 << 20;
/// Blocks on their way from the file thread to the reader.
const BLOCKS_IN_FLIGHT: usize = 4;

/// What the file thread tells the reader.
enum FileEvent {
    Frames(FrameBlock),
    /// A file is over (all of its frames were sent before this).
    Done { path: std::path::PathBuf, result: Result<u64, capture::CaptureError> },
}

/// The file thread's side of read-ahead: frames gathered into blocks.
struct BlockSender<'a> {
    events: Sender<FileEvent>,
    spare: &'a Receiver<FrameBlock>,
    block: FrameBlock,
}

/// An empty block: one the reader is done with, or a new one.
fn fresh_block(spare: &Receiver<FrameBlock>) -> FrameBlock {
    match spare.try_recv() {
        Ok(mut used) => {
            used.data.clear();
            used.frames.clear();
            used
        }
        Err(_) => FrameBlock {
            data: Vec::with_capacity(BLOCK_BYTES + capture::file::MAX_FRAME as usize),
            frames: Vec::with_capacity(BLOCK_FRAMES),
        },
    }
}

impl BlockSender<'_> {
    /// Sends the frames gathered so far; false when the reader is gone.
    fn send_block(&mut self) -> bool {
        if self.block.frames.is_empty() {
            return true;
        }
        let full = std::mem::replace(&mut self.block, fresh_block(self.spare));
        self.events.send(FileEvent::Frames(full)).is_ok()
    }
}

impl FrameSink for BlockSender<'_> {
    fn frame(&mut self, p: RawPacket<'_>) -> bool {
        let start = self.block.data.len();
        self.block.data.extend_from_slice(p.data);
        self.block.frames.push(FrameMeta { ts: p.ts, linktype: p.linktype, start, len: p.data.len(), orig_len: p.orig_len });
        if self.block.frames.len() < BLOCK_FRAMES && self.block.data.len() < BLOCK_BYTES {
            return true;
        }
        self.send_block()
    }

    fn file_done(&mut self, path: &std::path::Path, result: Result<u64, capture::CaptureError>) -> bool {
        self.send_block() && self.events.send(FileEvent::Done { path: path.to_path_buf(), result }).is_ok()
    }
}

/// Reads the capture files in order. With `read_ahead`, a thread of its
/// own reads and parses the files (what a libpcap-only reader also does)
/// and hands over blocks of frames, while this thread decodes and
/// dispatches them: two cores share the work, and the frames are taken in
/// the same order as by one thread.
fn read_files(
    reader: &mut Reader<'_>,
    paths: &[std::path::PathBuf],
    progress: bool,
    read_ahead: bool,
    errors: &mut Vec<String>,
) {
    let (files, dir_errors) = capture::expand_inputs(paths);
    for (p, e) in dir_errors {
        errors.push(format!("{}: {e}", p.display()));
        reader.stats.files_failed += 1;
    }
    let stop = reader.stop;
    if !read_ahead {
        read_file_frames(&files, progress, stop, &mut (reader, errors));
        return;
    }
    let (events_tx, events_rx) = bounded::<FileEvent>(BLOCKS_IN_FLIGHT);
    let (spare_tx, spare_rx) = bounded::<FrameBlock>(BLOCKS_IN_FLIGHT + 2);
    let files = &files;
    thread::scope(|scope| {
        let spare = &spare_rx;
        let file_thread = thread::Builder::new().name("tlsaudit-file".into()).spawn_scoped(scope, move || {
            let mut sender = BlockSender { events: events_tx, spare, block: fresh_block(spare) };
            read_file_frames(files, progress, stop, &mut sender);
        });
        if let Err(e) = file_thread {
            errors.push(format!("cannot start the file reading thread: {e}"));
            return;
        }
        let mut direct = (reader, errors);
        for event in &events_rx {
            match event {
                FileEvent::Frames(block) => {
                    for f in &block.frames {
                        direct.frame(RawPacket {
                            ts: f.ts,
                            linktype: f.linktype,
                            data: &block.data[f.start..f.start + f.len],
                            orig_len: f.orig_len,
                        });
                    }
                    let _ = spare_tx.try_send(block);
                }
                FileEvent::Done { path, result } => {
                    direct.file_done(&path, result);
                }
            }
        }
    });
}

/// Reads every file in turn into `sink`, with a progress bar when asked.
fn read_file_frames(files: &[std::path::PathBuf], progress: bool, stop: &AtomicBool, sink: &mut dyn FrameSink) {
    let total: u64 = files.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new(total.max(1));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {bar:40} {eta} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut done_before = 0;
    for path in files {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let counter = Arc::new(AtomicU64::new(0));
        if let Some(b) = &bar {
            b.set_message(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        }
        let mut sink_gone = false;
        let result = capture::file::open(path, counter.clone()).and_then(|input| {
            let mut n = 0u64;
            capture::file::read_packets(input, &mut |p| {
                if !sink.frame(p) {
                    sink_gone = true;
                    return false;
                }
                n += 1;
                if n % 4096 == 0 {
                    if let Some(b) = &bar {
                        b.set_position(done_before + counter.load(Ordering::Relaxed));
                    }
                    return !stop.load(Ordering::Relaxed);
                }
                true
            })
        });
        done_before += counter.load(Ordering::Relaxed);
        if sink_gone || !sink.file_done(path, result) {
            break;
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    /// A dispatcher for one worker whose queue holds `queue` batches.
    fn dispatcher(queue: usize, drop_when_full: bool) -> (Dispatcher, Receiver<Batch>) {
        let (tx, rx) = bounded::<Batch>(queue);
        let (_pool_tx, pool_rx) = bounded::<Batch>(1);
        let (_notice_tx, notice_rx) = bounded::<BypassNotice>(1);
        (Dispatcher::new(vec![tx], pool_rx, notice_rx, &FlowLimits::default(), drop_when_full), rx)
    }

    fn segment(payload: &[u8], seq: u32) -> crate::decode::TcpSegment<'_> {
        crate::decode::TcpSegment {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            src_port: 40000,
            dst_port: 443,
            vlan: None,
            seq,
            ack: 1,
            flags: crate::decode::tcp_flags::ACK,
            payload,
            missing: 0,
        }
    }

    #[test]
    fn live_reader_drops_and_counts_batches_a_full_worker_cannot_take() {
        let (mut d, rx) = dispatcher(1, true);
        let mut stats = ReaderStats::default();
        let payload = [0x17u8; 100];
        // Three full batches for a worker whose queue holds one and who
        // never reads: the first is queued, the other two are dropped.
        for i in 0..3 * BATCH_SEGMENTS as u32 {
            d.push(&segment(&payload, i * 100), 0, &mut stats);
        }
        assert_eq!(stats.dropped_by_analyzer, 2 * BATCH_SEGMENTS as u64);
        let queued = rx.try_recv().expect("the first batch is queued");
        assert_eq!(queued.segments.len(), BATCH_SEGMENTS);
        assert!(rx.try_recv().is_err(), "dropped batches must not be queued");
        // Batch numbers go on counting the dropped ones.
        assert_eq!(d.batches_sent[0], 3);
    }

    #[test]
    fn file_reader_waits_instead_of_dropping() {
        let (mut d, rx) = dispatcher(1, false);
        let reader = std::thread::spawn(move || rx.iter().map(|b| b.segments.len()).sum::<usize>());
        let mut stats = ReaderStats::default();
        let payload = [0x17u8; 100];
        for i in 0..3 * BATCH_SEGMENTS as u32 {
            d.push(&segment(&payload, i * 100), 0, &mut stats);
        }
        drop(d);
        assert_eq!(reader.join().unwrap(), 3 * BATCH_SEGMENTS);
        assert_eq!(stats.dropped_by_analyzer, 0);
    }
}
