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
use crate::policy::{self, Profile, Verdict};
use crate::stats::WorkerStats;
use crate::tls::facts::SessionFacts;
use crate::OutputFormat;

/// A finished session and its judgement.
pub struct Judged {
    pub facts: SessionFacts,
    pub verdict: Verdict,
    /// The session's output line (newline included), or nothing when the
    /// output has no line per session. Rendered by the worker, so that the
    /// one output thread only writes.
    pub line: Vec<u8>,
}

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

/// Judges and renders sessions. Each record and its alerts are written into
/// `scratch` (which keeps its capacity from one session to the next), then
/// copied out at their exact size: growing each line as it is written
/// copied it up to three times, and reserving room for the largest kept
/// that room while the line waited for the output thread.
fn judge(sessions: Vec<SessionFacts>, profile: &Profile, render: &RenderOptions, scratch: &mut Vec<u8>) -> Vec<Judged> {
    sessions
        .into_iter()
        .map(|facts| {
            let verdict = policy::evaluate(&facts, profile);
            let line = match render.format {
                OutputFormat::Jsonl => {
                    scratch.clear();
                    let stamp = render.stamp(facts.source_file);
                    json::session_stamped(&facts, &verdict, &render.policy_name, stamp, scratch);
                    scratch.push(b'\n');
                    if render.alerts {
                        json::session_alerts(&facts, &verdict.findings, &render.policy_name, stamp, scratch);
                    }
                    scratch.to_vec()
                }
                OutputFormat::Text if render.session_lines => {
                    let mut line = text::session_line(&facts, &verdict, render.color).into_bytes();
                    line.push(b'\n');
                    line
                }
                OutputFormat::Text | OutputFormat::Html => Vec::new(),
            };
            Judged { facts, verdict, line }
        })
        .collect()
}

/// Sessions judged by one worker, on their way to the output thread.
pub(super) struct JudgedBatch {
    pub worker: usize,
    pub sessions: Vec<Judged>,
}

/// What a worker thread is given besides its batches.
pub(super) struct WorkerContext {
    pub index: usize,
    /// Where judged sessions go: the output thread.
    pub judged: Sender<JudgedBatch>,
    /// Sessions the output thread is done with, back to be freed here:
    /// memory is best freed by the thread that allocated it (the system
    /// allocator takes a lock to free another thread's memory).
    pub spent: Receiver<Vec<Judged>>,
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
    spent: Receiver<Vec<Judged>>,
    bypass_notices: Sender<BypassNotice>,
    profile: Arc<Profile>,
    render: Arc<RenderOptions>,
    memory: Arc<MemoryGauge>,
    /// Where each session's record is written before it is copied out.
    scratch: Vec<u8>,
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
            scratch: Vec::with_capacity(64 * 1024),
        };
        (worker, pool)
    }

    /// Feeds a batch's segments to the flows, then judges and sends on the
    /// sessions that ended.
    fn process(&mut self, batch: &Batch) {
        self.spent.try_iter().for_each(drop);
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

    fn send_judged(&mut self) {
        let done = self.table.take_sessions();
        if !done.is_empty() {
            let sessions = judge(done, &self.profile, &self.render, &mut self.scratch);
            let _ = self.judged.send(JudgedBatch { worker: self.index, sessions });
        }
    }

    /// Ends every flow still open; the worker's counters.
    fn finish(mut self) -> WorkerStats {
        self.table.finish_all();
        self.send_judged();
        self.table.stats
    }
}

impl InlineWorker for Worker {
    fn take(&mut self, batch: &Batch) {
        self.process(batch);
    }

    fn finish(self: Box<Self>) -> WorkerStats {
        Worker::finish(*self)
    }
}

/// The worker thread's loop, until the reader hangs up; returns its counters.
pub(super) fn worker(rx: Receiver<Batch>, cx: WorkerContext) -> WorkerStats {
    live::renounce_capabilities();
    let (mut worker, pool) = Worker::new(cx);
    for mut batch in rx {
        worker.process(&batch);
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
