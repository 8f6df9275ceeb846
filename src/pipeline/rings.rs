//! Live capture through several rings (`--capture-threads N`): one thread per
//! ring reads it, decodes, and runs its own worker inline. The kernel's
//! fanout has already put every connection on one ring, so no dispatcher
//! stands between capture and analysis, and a ring that falls behind loses
//! packets in its own kernel buffer, counted per ring. The status line and
//! the metrics add up every ring's counters (`RingBoard`).

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::bounded;

use super::bypass::ReaderBypass;
use super::dispatch::{Batch, Dispatcher, Workers, LIVE_FULL_QUEUE_WAIT};
use super::gauge::MemoryGauge;
use super::reader::{Reader, RingBoard};
use super::worker::{inline_worker, WorkerContext};
use crate::capture::live::{self, LiveCapture, LiveOptions};
use crate::decode::Decoder;
use crate::stats::{ReaderStats, WorkerStats};
use crate::Config;

/// What the ring threads share.
pub(super) struct Shared<'a> {
    pub config: &'a Config,
    pub opts: &'a LiveOptions,
    pub stop: &'a AtomicBool,
    pub sessions_reported: Arc<AtomicU64>,
    pub memory: Arc<MemoryGauge>,
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// What the rings read and their workers found, added up; the first error
/// that stopped a ring, if any.
pub(super) struct RingsDone {
    pub reader: ReaderStats,
    pub workers: WorkerStats,
    pub fatal: Option<String>,
}

/// Runs one thread per ring, each with the worker of the same number, until
/// the capture stops.
pub(super) fn run(rings: Vec<LiveCapture>, workers: Vec<WorkerContext>, shared: &Shared<'_>) -> RingsDone {
    let board = Arc::new(RingBoard::new(rings.len()));
    let count = rings.len();
    let mut done = RingsDone { reader: ReaderStats::default(), workers: WorkerStats::default(), fatal: None };
    thread::scope(|scope| {
        let handles: Vec<_> = rings
            .into_iter()
            .zip(workers)
            .map(|(ring, cx)| {
                let board = Arc::clone(&board);
                thread::Builder::new()
                    .name(format!("tlsaudit-capture-{}", ring.ring))
                    .spawn_scoped(scope, move || run_ring(ring, cx, count, board, shared))
            })
            .collect();
        for handle in handles {
            match handle.map_err(|e| format!("cannot start a capture thread: {e}")).and_then(|h| {
                h.join().map_err(|_| "a capture thread panicked".to_string())
            }) {
                Ok((reader, workers, fatal)) => {
                    done.reader.add(&reader);
                    done.workers.add(&workers);
                    done.fatal = done.fatal.take().or(fatal);
                }
                Err(e) => done.fatal = done.fatal.take().or(Some(e)),
            }
        }
    });
    done.reader.rings.sort_by_key(|r| r.ring);
    done
}

/// One ring's thread: its reader, feeding its own worker in place.
fn run_ring(
    ring: LiveCapture,
    mut cx: WorkerContext,
    rings: usize,
    board: Arc<RingBoard>,
    shared: &Shared<'_>,
) -> (ReaderStats, WorkerStats, Option<String>) {
    let config = shared.config;
    let index = ring.ring;
    // The worker's bypass notices come back to this ring's reader alone.
    let (notice_tx, notice_rx) = bounded(64);
    cx.bypass_notices = notice_tx;
    // Batches are handed over in place: the pool stays empty.
    let (_pool_tx, pool_rx) = bounded::<Batch>(1);
    let bypass = ReaderBypass::new(1, notice_rx, &config.limits, config.bypass_memory / rings);
    let mut reader = Reader {
        decoder: Decoder::new((config.max_ip_fragments / rings).max(64), 30_000_000),
        idle_timeout: config.limits.idle_timeout_micros,
        dispatch: Dispatcher::new(Workers::Inline(inline_worker(cx)), pool_rx, bypass, Some(LIVE_FULL_QUEUE_WAIT)),
        stats: ReaderStats::default(),
        filter: None,
        stop: shared.stop,
        sessions_reported: Arc::clone(&shared.sessions_reported),
        memory: Arc::clone(&shared.memory),
        metrics: shared.metrics.clone(),
        board: Some((board, index)),
        packets_at_file_start: 0,
    };
    let fatal = match live::capture(ring, shared.opts, shared.stop, &mut reader) {
        Ok(s) => {
            reader.stats.dropped_by_kernel = s.dropped_by_kernel;
            reader.stats.dropped_by_interface = s.dropped_by_interface;
            None
        }
        Err(e) => Some(e),
    };
    reader.finish_counters();
    let Reader { dispatch, mut stats, .. } = reader;
    let workers = dispatch.finish(&mut stats).unwrap_or_default();
    stats.rings = vec![stats.ring(index)];
    (stats, workers, fatal)
}
