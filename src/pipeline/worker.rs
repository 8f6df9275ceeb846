//! A worker: owns the flows whose 5-tuple hash maps to it (or, live with
//! several capture rings, the flows the kernel hands its ring), feeds them
//! the segments of each batch, judges every session that ends and renders
//! its output line, so that the one output thread only writes. It runs in a
//! thread of its own, or inside its capture ring's thread.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::bypass::BypassNotice;
use super::dispatch::{Batch, InlineWorker};
use super::gauge::MemoryGauge;
use crate::capture::live;
use crate::flow::{FlowLimits, FlowTable};
use crate::output::{json, text};
use crate::policy::{self, Profile, Verdict, VerdictMemo};
use crate::stats::WorkerStats;
use crate::tls::facts::SessionFacts;
use crate::OutputFormat;

/// How the workers render each session's line.
#[derive(Clone)]
pub(super) struct RenderOptions {
    pub format: OutputFormat,
    /// Text format: one line per session as it is found.
    pub session_lines: bool,
    pub color: bool,
    pub policy_name: String,
    /// JSON Lines: an alert record per finding after each session's.
    pub alerts: bool,
    /// What goes first in every record of a session: `observer.name` and
    /// `log.file.path` (`json::observer_prefix`, `json::file_prefix`), per
    /// capture file, and for a live capture; empty: nothing.
    pub stamps: Vec<Vec<u8>>,
    pub live_stamp: Vec<u8>,
}

impl RenderOptions {
    fn stamp(&self, file: Option<u16>) -> &[u8] {
        match file {
            Some(i) => self.stamps.get(usize::from(i)).map_or(&[][..], Vec::as_slice),
            None => &self.live_stamp,
        }
    }
}

/// Rendered bytes in one batch before it is sent on: the output thread
/// writes a batch's lines with one call, straight past its buffer.
const LINES_PER_BATCH: usize = 256 * 1024;
/// Sessions in one batch at most (for sessions with no line).
const SESSIONS_PER_BATCH: usize = 1024;
/// Ended sessions whose room the worker keeps from batch to batch (they
/// are about 1 KB each).
const ENDED_ROOM_KEPT: usize = 256;
/// Room for ended sessions when no list came back from the output thread
/// in time, so that the flow table's list does not grow from nothing.
const ENDED_ROOM_NEW: usize = 32;
/// Emptied line buffers, session lists and verdict lists a worker keeps
/// for its next batches.
const SPARE_BUFFERS: usize = 2;

/// Appends the session's output line (newline included), if the output
/// has one per session, to `lines`.
fn render(facts: &SessionFacts, verdict: &Verdict, render: &RenderOptions, caches: &mut json::RenderCaches, lines: &mut Vec<u8>) {
    match render.format {
        OutputFormat::Jsonl => {
            let stamp = render.stamp(facts.source_file);
            let mut endpoints = std::mem::take(&mut caches.endpoints);
            endpoints.clear();
            json::write_endpoint_fields(&mut endpoints, facts);
            json::session_stamped(facts, verdict, &render.policy_name, stamp, &endpoints, caches, lines);
            lines.push(b'\n');
            if render.alerts {
                json::session_alerts(facts, &verdict.findings, &render.policy_name, stamp, &endpoints, lines);
            }
            caches.endpoints = endpoints;
        }
        OutputFormat::Text if render.session_lines => {
            lines.extend_from_slice(text::session_line(facts, verdict, render.color).as_bytes());
            lines.push(b'\n');
        }
        OutputFormat::Text | OutputFormat::Html => {}
    }
}

/// Sessions judged by one worker, on their way to the output thread, with
/// their output lines rendered one after another into one buffer (no line
/// is copied on its own, and the output thread only writes). The sessions
/// are the list the flow table reported them in, passed on whole (a
/// session's facts are about 1 KB: moving each into a pair with its
/// verdict was a copy per session), and their verdicts in the same order.
pub(super) struct JudgedBatch {
    pub worker: usize,
    facts: Vec<SessionFacts>,
    verdicts: Vec<Verdict>,
    pub lines: Vec<u8>,
    /// Capture files read apart: the file the sessions are of, by its
    /// index among the inputs (`order.rs`).
    pub file: Option<usize>,
    /// No session of `file` comes after this batch (which has none).
    pub ends_file: bool,
}

impl JudgedBatch {
    /// The batch's sessions, each with its verdict, in the order they ended.
    pub fn sessions(&self) -> impl Iterator<Item = (&SessionFacts, &Verdict)> {
        self.facts.iter().zip(&self.verdicts)
    }

    pub fn len(&self) -> usize {
        self.facts.len()
    }

    /// Lines or sessions enough for one batch.
    fn is_full(&self) -> bool {
        self.lines.len() >= LINES_PER_BATCH || self.verdicts.len() >= SESSIONS_PER_BATCH
    }
}

/// What a worker thread is given besides its batches.
pub(super) struct WorkerContext {
    pub index: usize,
    /// Where judged sessions go: the output thread.
    pub judged: Sender<JudgedBatch>,
    /// Batches the output thread is done with, back to be freed here
    /// (memory is best freed by the thread that allocated it: the system
    /// allocator takes a lock to free another thread's memory) and their
    /// line buffers used again.
    pub spent: Receiver<JudgedBatch>,
    pub bypass_notices: Sender<BypassNotice>,
    /// Where emptied batches go back to the reader.
    pub pool: Sender<Batch>,
    pub limits: FlowLimits,
    pub profile: Arc<Profile>,
    pub render: Arc<RenderOptions>,
    pub memory: Arc<MemoryGauge>,
}

/// One worker's flows and where their sessions go: fed batches by its own
/// thread (`worker`), or by a capture ring's thread that runs it inline.
pub(super) struct Worker {
    index: usize,
    /// The worker's number among those its reader feeds (its bypass
    /// notices carry it): its index, or 0 inline.
    reader_index: usize,
    table: FlowTable,
    judged: Sender<JudgedBatch>,
    spent: Receiver<JudgedBatch>,
    bypass_notices: Sender<BypassNotice>,
    profile: Arc<Profile>,
    render: Arc<RenderOptions>,
    memory: Arc<MemoryGauge>,
    /// Emptied line buffers, session lists and verdict lists back from the
    /// output thread, for reuse.
    spare_lines: Vec<Vec<u8>>,
    spare_facts: Vec<Vec<SessionFacts>>,
    spare_verdicts: Vec<Vec<Verdict>>,
    /// The JSON of the certificates and ClientHellos this worker wrote last.
    rendered: json::RenderCaches,
    /// Findings of earlier sessions, by the facts they were found in.
    verdicts: VerdictMemo,
    /// An empty list for the flow table to report ended sessions into
    /// (`FlowTable::swap_sessions`).
    ended: Vec<SessionFacts>,
    /// Capture files read apart: the one being read, by its index among
    /// the inputs; its sessions' batches are tagged with it.
    file: Option<usize>,
}

impl Worker {
    /// Made in the thread that will run it: the certificate cache is per
    /// thread.
    fn new(cx: WorkerContext) -> (Worker, Sender<Batch>) {
        let WorkerContext { index, judged, spent, bypass_notices, pool, limits, profile, render, memory } = cx;
        crate::cert::set_parsed_cache_share(limits.max_memory);
        let worker = Worker {
            index,
            reader_index: index,
            table: FlowTable::new(limits),
            judged,
            spent,
            bypass_notices,
            profile,
            render,
            memory,
            spare_lines: Vec::new(),
            spare_facts: Vec::new(),
            spare_verdicts: Vec::new(),
            rendered: json::RenderCaches::for_connection_memory(limits.max_memory),
            verdicts: VerdictMemo::for_connection_memory(limits.max_memory),
            ended: Vec::new(),
            file: None,
        };
        (worker, pool)
    }

    /// Feeds a batch's segments to the flows, then judges and sends on the
    /// sessions that ended.
    fn process(&mut self, batch: &Batch) {
        self.take_back_spent();
        let table = &mut self.table;
        if batch.clock_reset {
            table.finish_all();
        }
        table.source_file = batch.file;
        for (seg, tunnel) in batch.segments() {
            table.process_tunnelled(&seg, tunnel);
        }
        table.expire(batch.now);
        self.memory.set(self.index, table.memory());
        self.memory.set_flows(self.index, table.len());
        if let Some(notice) = BypassNotice::after_batch(table, self.reader_index, batch.number) {
            // A lost notice only means the reader keeps copying that payload.
            let _ = self.bypass_notices.try_send(notice);
        }
        self.send_judged();
    }

    /// Frees the sessions the output thread is done with, and keeps a few
    /// of their buffers (emptied, capacity kept) for the next batches.
    fn take_back_spent(&mut self) {
        for spent in self.spent.try_iter() {
            let JudgedBatch { mut facts, mut verdicts, mut lines, .. } = spent;
            facts.clear();
            verdicts.clear();
            lines.clear();
            if self.spare_facts.len() < SPARE_BUFFERS && facts.capacity() > 0 && facts.capacity() <= ENDED_ROOM_KEPT {
                self.spare_facts.push(facts);
            }
            if self.spare_verdicts.len() < SPARE_BUFFERS && verdicts.capacity() > 0 && verdicts.capacity() <= SESSIONS_PER_BATCH {
                self.spare_verdicts.push(verdicts);
            }
            if self.spare_lines.len() < SPARE_BUFFERS && lines.capacity() <= 2 * LINES_PER_BATCH {
                self.spare_lines.push(lines);
            }
        }
    }

    fn fresh_batch(&mut self, sessions: usize) -> JudgedBatch {
        let lines = self.spare_lines.pop().unwrap_or_else(|| Vec::with_capacity(LINES_PER_BATCH + 16 * 1024));
        let verdicts = self.spare_verdicts.pop().unwrap_or_else(|| Vec::with_capacity(sessions.min(SESSIONS_PER_BATCH)));
        JudgedBatch { worker: self.index, facts: Vec::new(), verdicts, lines, file: None, ends_file: false }
    }

    /// Sends a batch to the output thread, tagged with its file when
    /// files are read apart.
    fn send(&mut self, mut batch: JudgedBatch) {
        batch.file = self.file;
        let _ = self.judged.send(batch);
    }

    /// Judges the sessions that ended and sends them on, rendered, in
    /// batches of a bounded size. The list the table reported them in goes
    /// on whole with them when they fit one batch, and the table is given
    /// an empty one with room.
    fn send_judged(&mut self) {
        let mut done = std::mem::take(&mut self.ended);
        if done.capacity() == 0 {
            done = self.spare_facts.pop().unwrap_or_else(|| Vec::with_capacity(ENDED_ROOM_NEW));
        }
        self.table.swap_sessions(&mut done);
        if done.is_empty() {
            self.ended = done;
            return;
        }
        let mut batch = self.fresh_batch(done.len());
        for next in 0..done.len() {
            self.judge(&done[next], &mut batch);
            if next + 1 < done.len() && batch.is_full() {
                // Many sessions ending at once (the end of a capture): those
                // judged go in a list of their own, the rest one batch at a
                // time (the list's room, which can be large, stays here).
                batch.facts = done.drain(..=next).collect();
                self.take_back_spent();
                let fresh = self.fresh_batch(done.len());
                self.send(std::mem::replace(&mut batch, fresh));
                return self.send_judged_apart(done, batch);
            }
        }
        batch.facts = done;
        self.send(batch);
    }

    /// The rest of a mass ending, each session moved into its batch; what
    /// the output thread has written meanwhile is freed as they go.
    fn send_judged_apart(&mut self, mut rest: Vec<SessionFacts>, mut batch: JudgedBatch) {
        let mut left = rest.len();
        batch.facts = Vec::with_capacity(left.min(ENDED_ROOM_KEPT));
        for facts in rest.drain(..) {
            self.judge(&facts, &mut batch);
            batch.facts.push(facts);
            left -= 1;
            if left > 0 && batch.is_full() {
                self.take_back_spent();
                let mut next = self.fresh_batch(left);
                next.facts = Vec::with_capacity(left.min(ENDED_ROOM_KEPT));
                self.send(std::mem::replace(&mut batch, next));
            }
        }
        self.send(batch);
        if rest.capacity() <= ENDED_ROOM_KEPT {
            self.ended = rest;
        }
    }

    /// Judges a session, and renders its line into the batch.
    fn judge(&mut self, facts: &SessionFacts, batch: &mut JudgedBatch) {
        let verdict = policy::evaluate_remembered(facts, &self.profile, &mut self.verdicts);
        render(facts, &verdict, &self.render, &mut self.rendered, &mut batch.lines);
        batch.verdicts.push(verdict);
    }

    /// The capture file read apart is done: its flows end, their sessions
    /// go out, then a mark that no more of the file's sessions follow.
    fn end_file(&mut self) {
        self.table.finish_all();
        self.send_judged();
        let marker = JudgedBatch { worker: self.index, facts: Vec::new(), verdicts: Vec::new(), lines: Vec::new(), file: self.file, ends_file: true };
        let _ = self.judged.send(marker);
    }

    /// Ends every flow still open; the worker's counters.
    fn finish(mut self) -> WorkerStats {
        self.table.finish_all();
        self.send_judged();
        self.table.stats.verdict_cache_hits = self.verdicts.hits;
        let stats = self.table.stats.clone();
        // Hung up first: the output thread closes the run while this one
        // frees its flows and caches.
        let Worker { judged, .. } = self;
        drop(judged);
        stats
    }
}

impl InlineWorker for Worker {
    fn take(&mut self, batch: &Batch) {
        self.process(batch);
    }

    fn finish(self: Box<Self>) -> WorkerStats {
        Worker::finish(*self)
    }

    fn begin_file(&mut self, file: usize) {
        self.file = Some(file);
    }

    fn end_file(&mut self) {
        Worker::end_file(self);
    }
}

/// The worker thread's loop, until the reader hangs up; returns its counters.
pub(super) fn worker(rx: Receiver<Batch>, cx: WorkerContext) -> WorkerStats {
    live::renounce_capabilities();
    let (mut worker, pool) = Worker::new(cx);
    for mut batch in rx {
        if batch.apart_file.is_some() {
            worker.file = batch.apart_file;
        }
        worker.process(&batch);
        if batch.ends_file {
            worker.end_file();
        }
        batch.clear();
        let _ = pool.try_send(batch);
    }
    worker.finish()
}

/// A worker to run inside a capture ring's thread (which keeps the
/// capabilities it needs to open its interface again).
pub(super) fn inline_worker(cx: WorkerContext) -> Box<dyn InlineWorker> {
    Box::new(Worker { reader_index: 0, ..Worker::new(cx).0 })
}
