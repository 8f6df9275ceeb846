//! The worker thread: owns the flows whose 5-tuple hash maps to it, feeds
//! them the segments of each batch, judges every session that ends and
//! renders its output line, so that the one output thread only writes.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::bypass::BypassNotice;
use super::dispatch::Batch;
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

fn judge(sessions: Vec<SessionFacts>, profile: &Profile, render: &RenderOptions) -> Vec<Judged> {
    sessions
        .into_iter()
        .map(|facts| {
            let verdict = policy::evaluate(&facts, profile);
            let mut line = Vec::new();
            match render.format {
                OutputFormat::Jsonl => {
                    // Room for a record and its alerts, so that it is not
                    // copied as it grows.
                    let alerts = if render.alerts { verdict.findings.len() } else { 0 };
                    line.reserve(2048 + 1280 * alerts);
                    let stamp = render.stamp(facts.source_file);
                    json::session_stamped(&facts, &verdict, &render.policy_name, stamp, &mut line);
                    line.push(b'\n');
                    if render.alerts {
                        json::session_alerts(&facts, &verdict.findings, &render.policy_name, stamp, &mut line);
                    }
                }
                OutputFormat::Text if render.session_lines => {
                    line.extend_from_slice(text::session_line(&facts, &verdict, render.color).as_bytes());
                    line.push(b'\n');
                }
                OutputFormat::Text | OutputFormat::Html => {}
            }
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

/// The worker thread's loop, until the reader hangs up; returns its counters.
pub(super) fn worker(rx: Receiver<Batch>, cx: WorkerContext) -> WorkerStats {
    live::renounce_capabilities();
    let WorkerContext { index: worker_index, judged, spent, bypass_notices, pool, limits, profile, render, memory } = cx;
    crate::cert::set_parsed_cache_share(limits.max_memory);
    let mut table = FlowTable::new(limits);
    for mut batch in rx {
        spent.try_iter().for_each(drop);
        if batch.clock_reset {
            table.finish_all();
        }
        table.source_file = batch.file;
        for (seg, tunnel) in batch.segments() {
            table.process_tunnelled(&seg, tunnel);
        }
        table.expire(batch.now);
        memory.set(worker_index, table.memory());
        memory.set_flows(worker_index, table.len());
        if let Some(notice) = BypassNotice::after_batch(&mut table, worker_index, batch.number) {
            // A lost notice only means the reader keeps copying that payload.
            let _ = bypass_notices.try_send(notice);
        }
        let done = table.take_sessions();
        if !done.is_empty() {
            let _ = judged.send(JudgedBatch { worker: worker_index, sessions: judge(done, &profile, &render) });
        }
        batch.clear();
        let _ = pool.try_send(batch);
    }
    table.finish_all();
    let done = table.take_sessions();
    if !done.is_empty() {
        let _ = judged.send(JudgedBatch { worker: worker_index, sessions: judge(done, &profile, &render) });
    }
    table.stats
}
