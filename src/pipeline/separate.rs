//! Capture files that each stand alone (`--independent-files`): captures of
//! different links, sensors or days, read several at once. Each thread reads
//! its share of the files (file i goes to thread i mod N), decodes them and
//! runs its own worker inline, with no dispatcher between them; with one
//! worker, the usual reader and worker threads read them one by one. Every file
//! starts with no connection, no IP fragment held and the packet clock
//! unset, and its clock ticks fall where they would if it were read first:
//! a file's records do not depend on the files its thread read before, so
//! they are the same for any number of threads, and the same as reading the
//! files one after the other with the option.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::bounded;

use super::bypass::ReaderBypass;
use super::dispatch::{Batch, Dispatcher, Workers};
use super::files::{self, FrameConsumer};
use super::gauge::MemoryGauge;
use super::reader::{FileFilter, Reader};
use super::worker::{inline_worker, WorkerContext};
use crate::capture::{CaptureError, RawPacket};
use crate::decode::Decoder;
use crate::stats::{ReaderStats, WorkerStats};
use crate::Config;

/// What the file threads share.
pub(super) struct Shared<'a> {
    pub config: &'a Config,
    pub stop: &'a AtomicBool,
    pub sessions_reported: Arc<AtomicU64>,
    pub memory: Arc<MemoryGauge>,
}

/// What the threads read and their workers found, added up, and the files
/// that could not be read, in the order of the inputs.
pub(super) struct SeparateDone {
    pub reader: ReaderStats,
    pub workers: WorkerStats,
    pub errors: Vec<String>,
    pub fatal: Option<String>,
}

/// Reads `files` on one thread per worker context, each file on its own.
pub(super) fn run(files: &[PathBuf], workers: Vec<WorkerContext>, progress: bool, shared: &Shared<'_>) -> SeparateDone {
    let threads = workers.len().max(1);
    let bar = progress.then(|| files::progress_bar(files));
    let mut done = SeparateDone { reader: ReaderStats::default(), workers: WorkerStats::default(), errors: Vec::new(), fatal: None };
    let mut errors = Vec::new();
    thread::scope(|scope| {
        let bar = bar.as_ref();
        let handles: Vec<_> = workers
            .into_iter()
            .enumerate()
            .map(|(t, cx)| {
                let share = files.iter().enumerate().skip(t).step_by(threads);
                thread::Builder::new()
                    .name(format!("tlsaudit-files-{t}"))
                    .spawn_scoped(scope, move || read_share(share, cx, threads, bar, shared))
            })
            .collect();
        for handle in handles {
            match handle.map_err(|e| format!("cannot start a file thread: {e}")).and_then(|h| {
                h.join().map_err(|_| "a file thread panicked".to_string())
            }) {
                Ok(Ok((reader, workers, failed))) => {
                    done.reader.add(&reader);
                    done.workers.add(&workers);
                    errors.extend(failed);
                }
                Ok(Err(e)) | Err(e) => done.fatal = done.fatal.take().or(Some(e)),
            }
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    errors.sort_by_key(|(index, _)| *index);
    done.errors = errors.into_iter().map(|(_, e)| e).collect();
    done
}

/// Files that failed, each with its index among the inputs.
type FailedFiles = Vec<(usize, String)>;

/// With one worker: the files one after the other, each on its own, through
/// the usual reader into its worker thread, so that decoding and analysis
/// run side by side as they do for one capture.
pub(super) fn read_one_by_one(reader: &mut Reader<'_>, files: &[PathBuf], progress: bool, errors: &mut Vec<String>) {
    let bar = progress.then(|| files::progress_bar(files));
    let stop = reader.stop;
    let mut consumer = SeparateFiles { reader, index: 0, failed: Vec::new() };
    files::read_file_frames(files.iter().enumerate(), bar.as_ref(), stop, &mut consumer);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    errors.extend(consumer.failed.into_iter().map(|(_, message)| message));
}

/// One thread: its files, one after the other, each on its own, through its
/// reader into its worker.
fn read_share<'p>(
    share: impl Iterator<Item = (usize, &'p PathBuf)>,
    mut cx: WorkerContext,
    threads: usize,
    bar: Option<&indicatif::ProgressBar>,
    shared: &Shared<'_>,
) -> Result<(ReaderStats, WorkerStats, FailedFiles), String> {
    let config = shared.config;
    // The worker's bypass notices come back to this thread's reader alone.
    let (notice_tx, notice_rx) = bounded(64);
    cx.bypass_notices = notice_tx;
    // Batches are handed over in place: the pool stays empty.
    let (_pool_tx, pool_rx) = bounded::<Batch>(1);
    let bypass = ReaderBypass::new(1, notice_rx, &config.limits, config.bypass_memory / threads);
    let filter = config.filter.as_deref().map(FileFilter::new).transpose().map_err(|e| e.to_string())?;
    let mut reader = Reader {
        decoder: Decoder::new((config.max_ip_fragments / threads).max(64), 30_000_000),
        idle_timeout: config.limits.idle_timeout_micros,
        dispatch: Dispatcher::new(Workers::Inline(inline_worker(cx)), pool_rx, bypass, None),
        stats: ReaderStats::default(),
        filter,
        stop: shared.stop,
        sessions_reported: Arc::clone(&shared.sessions_reported),
        memory: Arc::clone(&shared.memory),
        metrics: None,
        board: None,
        packets_at_file_start: 0,
    };
    let mut consumer = SeparateFiles { reader: &mut reader, index: 0, failed: Vec::new() };
    files::read_file_frames(share, bar, shared.stop, &mut consumer);
    let failed = consumer.failed;
    reader.finish_counters();
    let Reader { dispatch, mut stats, .. } = reader;
    let workers = dispatch.finish(&mut stats).unwrap_or_default();
    Ok((stats, workers, failed))
}

/// Frames of files that each stand alone, into one reader.
struct SeparateFiles<'r, 'a> {
    reader: &'r mut Reader<'a>,
    /// The file being read, by its index among the inputs.
    index: usize,
    failed: FailedFiles,
}

impl FrameConsumer for SeparateFiles<'_, '_> {
    fn file_start(&mut self, index: usize) {
        self.index = index;
        self.reader.start_separate_file(index);
    }

    fn frame(&mut self, p: RawPacket<'_>) -> bool {
        self.reader.packet(p);
        true
    }

    fn file_done(&mut self, path: &Path, result: Result<u64, CaptureError>) -> bool {
        let reader = &mut *self.reader;
        if let Some(message) = files::count_file(&mut reader.stats, path, result) {
            self.failed.push((self.index, message));
        }
        reader.end_separate_file();
        true
    }
}
