//! The threads of a run, wired together here:
//!
//! - the **reader** (`reader`) counts, filters and decodes every frame and
//!   hands TCP segments to the **dispatcher** (`dispatch`), which batches them
//!   per worker by the flows' symmetric 5-tuple hash;
//! - N **workers** (`worker`) each own their flows outright (no locks on the
//!   per-packet path), reassemble and analyse them, and judge and render each
//!   session that ends;
//! - one **output thread** (`collector`) counts the sessions, keeps the
//!   inventory and writes every record;
//! - with read-ahead, a **file thread** (`files`) reads the capture files
//!   ahead of the reader;
//! - live with several capture rings (`rings`), one thread per ring is
//!   reader and worker at once: the kernel has already spread the
//!   connections over the rings;
//! - with capture files that each stand alone (`separate`), one thread per
//!   worker is reader and worker at once, each reading its share of the
//!   files.
//!
//! Workers tell the reader which flows need no more payload (`bypass`, where
//! the protocol is stated). Channels are bounded; batches are recycled.

mod bypass;
mod collector;
mod dispatch;
mod files;
mod gauge;
mod order;
mod placement;
mod reader;
mod rings;
mod separate;
mod services;
mod worker;

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::bounded;

use crate::capture::live;
use crate::decode::Decoder;
use crate::output::{groups, html, json, text};
use crate::policy::{service, Assessment, Severity};
use crate::stats::{ReaderStats, WorkerStats};
use crate::{Config, OutputFormat, RunError, Source};
use bypass::{BypassNotice, ReaderBypass};
use collector::CollectorOptions;
pub use collector::OutputReopen;
use dispatch::{Batch, Dispatcher, Workers};
use gauge::MemoryGauge;
use order::FileOrder;
use reader::{FileFilter, Reader};
use worker::{JudgedBatch, RenderOptions, WorkerContext};

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
    let mut live_rings = match &config.source {
        Source::Live(opts) => live::open(opts).map_err(RunError::Fatal)?,
        Source::Files(_) => Vec::new(),
    };
    // The capture files in the order they are read: sessions name theirs.
    let inputs = match &config.source {
        Source::Files(paths) => Some(crate::capture::expand_inputs(paths)),
        Source::Live(_) => None,
    };
    // Files that each stand alone are read several at once, when there are
    // several.
    let separate_files = config.independent_files && inputs.as_ref().is_some_and(|(files, _)| files.len() > 1);
    // Several rings, or files read apart by several threads: each thread runs
    // its worker itself. Files read apart by one worker go through the usual
    // reader and worker threads.
    let inline_workers = live_rings.len() > 1 || (separate_files && threads > 1);
    // The memory set aside for the order of files read apart goes to the
    // connections when there is only one file to read (or none), or one
    // worker (whose files end in the order they are read: nothing waits).
    let (limits, order_memory) = if separate_files && inline_workers {
        (config.limits, config.order_memory)
    } else {
        let mut limits = config.limits;
        limits.max_memory += config.order_memory / threads;
        (limits, 0)
    };
    let observer = config.observer.as_deref().map(json::observer_prefix).unwrap_or_default();
    // Judged sessions wait here, rendered, for the output thread: a few
    // batches per worker, so that a slow output holds the workers back
    // instead of filling memory no budget counts.
    let (judged_tx, judged_rx) = bounded::<JudgedBatch>(4 * config.threads.max(1));
    let profile = Arc::new(config.profile.clone());
    let render = Arc::new(RenderOptions {
        format: config.format,
        session_lines: config.session_lines,
        color: config.color,
        policy_name: config.profile.name.clone(),
        alerts: config.alerts,
        stamps: inputs.as_ref().map_or(Vec::new(), |(files, _)| {
            files
                .iter()
                .map(|p| {
                    let mut stamp = observer.clone();
                    // Standard input is no file.
                    if p.as_os_str() != "-" {
                        stamp.extend(json::file_prefix(&p.display().to_string()));
                    }
                    stamp
                })
                .collect()
        }),
        live_stamp: observer,
    });
    let (pool_tx, pool_rx) = bounded::<Batch>(threads * 8);
    let (bypass_tx, bypass_rx) = bounded::<BypassNotice>(threads * 64);
    let mut worker_txs = Vec::new();
    let mut worker_handles = Vec::new();
    let mut ring_workers = Vec::new();
    let mut spent_txs = Vec::new();
    let memory = Arc::new(MemoryGauge::new(threads, limits.max_memory * threads + config.inventory_memory + config.bypass_memory + order_memory));
    for i in 0..threads {
        let (spent_tx, spent_rx) = bounded::<JudgedBatch>(64);
        spent_txs.push(spent_tx);
        // Live, 16 batches of at most 256 KiB (4 MiB in flight per worker)
        // ride out a burst. Reading files the reader waits instead of
        // dropping, and a short queue keeps it near the workers: it learns
        // sooner which connections' payload it need not copy (a quarter of
        // the bytes it copied on bulk transfers with 16).
        let (tx, rx) = bounded::<Batch>(if live { 16 } else { 4 });
        let cx = WorkerContext {
            index: i,
            judged: judged_tx.clone(),
            spent: spent_rx,
            bypass_notices: bypass_tx.clone(),
            pool: pool_tx.clone(),
            limits,
            profile: Arc::clone(&profile),
            render: Arc::clone(&render),
            memory: Arc::clone(&memory),
        };
        if inline_workers {
            ring_workers.push(cx);
            continue;
        }
        let handle = thread::Builder::new()
            .name(format!("tlsaudit-worker-{i}"))
            .spawn(move || worker::worker(rx, cx))
            .map_err(|e| RunError::Fatal(format!("cannot start a worker thread: {e}")))?;
        worker_txs.push(tx);
        worker_handles.push(handle);
    }
    drop(judged_tx);
    drop(pool_tx);
    drop(bypass_tx);
    let metrics = match (&config.metrics_addr, live) {
        (Some(addr), true) => {
            let m = Arc::new(crate::metrics::Metrics::new().map_err(RunError::Fatal)?);
            crate::metrics::serve(addr, Arc::clone(&m)).map_err(RunError::Fatal)?;
            Some(m)
        }
        _ => None,
    };
    let sessions_reported = Arc::new(AtomicU64::new(0));
    let collector_opts = CollectorOptions {
        flush_each: live,
        profile: Arc::clone(&profile),
        sessions_reported: Arc::clone(&sessions_reported),
        spent: spent_txs,
        reopen,
        inventory_memory: config.inventory_memory,
        memory: Arc::clone(&memory),
        metrics: metrics.clone(),
        // Files read several at once: their lines written in the order of
        // the files, those of files read ahead held back meanwhile.
        order: separate_files.then(|| FileOrder::new(order_memory)),
    };
    let collector_handle = thread::Builder::new()
        .name("tlsaudit-output".into())
        .spawn(move || collector::collect(judged_rx, out, collector_opts))
        .map_err(|e| RunError::Fatal(format!("cannot start the output thread: {e}")))?;

    let mut input_errors = Vec::new();
    let (reader_stats, workers, fatal) = if separate_files && inline_workers {
        let (list, unreadable) = inputs.unwrap_or_default();
        let mut reader = ReaderStats::default();
        files::count_unreadable(&mut reader, unreadable, &mut input_errors);
        let shared = separate::Shared { config, stop: &stop, sessions_reported, memory };
        let done = separate::run(&list, ring_workers, config.progress, &shared);
        reader.add(&done.reader);
        input_errors.extend(done.errors);
        (reader, done.workers, done.fatal)
    } else if inline_workers {
        let Source::Live(opts) = &config.source else { unreachable!("capture rings are live") };
        let shared = rings::Shared { config, opts, stop: &stop, sessions_reported, memory, metrics };
        let done = rings::run(std::mem::take(&mut live_rings), ring_workers, &shared);
        (done.reader, done.workers, done.fatal)
    } else {
        let mut reader = Reader {
            decoder: Decoder::new(config.max_ip_fragments, 30_000_000),
            idle_timeout: config.limits.idle_timeout_micros,
            dispatch: Dispatcher::new(
                Workers::Queues(worker_txs),
                pool_rx,
                ReaderBypass::new(threads, bypass_rx, &config.limits, config.bypass_memory),
                live.then_some(dispatch::LIVE_FULL_QUEUE_WAIT),
            ),
            stats: ReaderStats::default(),
            filter,
            stop: &stop,
            sessions_reported,
            memory,
            metrics,
            board: None,
            packets_at_file_start: 0,
        };
        let mut fatal = None;
        match &config.source {
            Source::Files(_) if separate_files => {
                let (list, unreadable) = inputs.unwrap_or_default();
                files::count_unreadable(&mut reader.stats, unreadable, &mut input_errors);
                separate::read_one_by_one(&mut reader, &list, config.progress, &mut input_errors);
            }
            Source::Files(_) => {
                let (list, unreadable) = inputs.unwrap_or_default();
                files::read_files(&mut reader, &list, unreadable, config.progress, config.read_ahead, &mut input_errors)
            }
            Source::Live(opts) => {
                let stop = reader.stop;
                let opened = live_rings.pop().ok_or_else(|| RunError::Fatal("live capture not opened".into()))?;
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
        let Reader { dispatch, stats: mut reader_stats, .. } = reader;
        dispatch.finish(&mut reader_stats);
        if live {
            reader_stats.rings = vec![reader_stats.ring(0)];
        }
        let mut workers = WorkerStats::default();
        for h in worker_handles {
            match h.join() {
                Ok(s) => workers.add(&s),
                Err(_) => return Err(RunError::Fatal("a worker thread panicked".into())),
            }
        }
        (reader_stats, workers, fatal)
    };
    let mut workers = workers;
    // Packets of bypassed flows the reader kept from the workers (bypass.rs).
    workers.bypassed_packets += reader_stats.bypassed_packets_absorbed;
    workers.bypassed_bytes += reader_stats.bypassed_bytes_absorbed;
    let result = collector_handle.join().map_err(|_| RunError::Fatal("the output thread panicked".into()))?;
    workers.order_spilled_bytes = result.order_spilled_bytes;
    let mut summary = crate::RunSummary {
        reader: reader_stats,
        workers,
        sessions: result.sessions,
        sessions_compliant: result.compliant,
        sessions_not_assessed: result.not_assessed,
        findings_by_severity: result.findings,
        worst_service_finding: None,
        verdict: Assessment::NotAssessed,
        threads,
        wall_time: started.elapsed(),
        input_errors,
        changes: None,
    };
    let mut out = result.out;
    let mut inventory = result.inventory;
    let timeline = result.timeline;
    summary.worst_service_finding = inventory.finish(&config.profile);
    summary.changes = config.baseline.as_deref().map(|b| crate::baseline::compare(b, &inventory));
    // A failing finding of a service or a client is one of a session's,
    // which is then non-compliant; only what is judged across a service's
    // sessions (kex.dh_reuse) can fail a run on its own.
    let failed = summary.sessions_non_compliant() > 0
        || summary.worst_service_finding.is_some_and(|s| config.profile.fails(s));
    let judged = summary.sessions - summary.sessions_not_assessed;
    summary.verdict = service::run_assessment(failed, judged, summary.input_errors.len());
    summary.wall_time = started.elapsed();
    let group = |s: &crate::inventory::Service| config.group_by.map(|by| by.group_of(s.ip, &config.profile.assets));
    let write_error = result.error.or_else(|| {
        let r = match config.format {
            OutputFormat::Jsonl => {
                let observer = config.observer.as_deref();
                let write_line = |out: &mut dyn Write, v: &serde_json::Value| services::write_value(out, v, observer);
                let now = crate::capture::live::now_micros();
                let changes = summary.changes.iter().flat_map(|c| &c.list);
                let records = services::ServiceRecords {
                    policy: &config.profile.name,
                    observer,
                    group: &group,
                    alerts: config.alerts,
                    // The workers are done by now: what matters is a second
                    // core, whatever the number of workers was.
                    two_threads: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
                };
                records
                    .write(&mut out, &inventory.services())
                    .and_then(|_| changes.clone().try_for_each(|c| write_line(&mut out, &crate::output::change::record(c, now))))
                    .and_then(|_| {
                        let mut stats = json::stats(&summary, &inventory);
                        if let (Some(by), Some(tlsaudit)) = (config.group_by, stats.get_mut("tlsaudit").and_then(|t| t.get_mut("stats"))) {
                            tlsaudit["groups"] = groups::groups_json(&inventory, by, &config.profile);
                        }
                        write_line(&mut out, &stats)
                    })
            }
            OutputFormat::Text => {
                let min_shown = config.min_severity.unwrap_or(Severity::Low);
                let mut report = text::report(&inventory, &summary, &config.profile, min_shown, config.color);
                if let Some(by) = config.group_by {
                    report.push_str(&groups::groups_text(&inventory, by, &config.profile));
                }
                report.push_str(&groups::by_rule_text(&inventory, min_shown));
                if let Some(changes) = &summary.changes {
                    report.push_str(&crate::output::change::text(changes));
                }
                if config.certificate_section {
                    report.push_str(&crate::output::certificates::text(&inventory, config.profile.now()));
                }
                out.write_all(report.as_bytes())
                    .and_then(|_| out.write_all(text::summary(&result.by_version, &summary).as_bytes()))
            }
            OutputFormat::Html => html_page(config, &summary, &inventory, &timeline, &mut out).map_err(io::Error::other),
        };
        r.and_then(|_| out.flush()).err()
    });
    if let Some(e) = fatal {
        return Err(RunError::Fatal(e));
    }
    if let Some(dir) = &config.csv_dir {
        let min = config.min_severity.unwrap_or(Severity::Info);
        crate::output::csv::write(dir, &inventory, &config.profile, min, config.group_by).map_err(RunError::Fatal)?;
    }
    if let Some(path) = &config.inventory_out {
        write_inventory(path, &inventory, &config.profile.name)?;
    }
    if let Some(path) = &config.html_out {
        write_whole(path, |out| html_page(config, &summary, &inventory, &timeline, out).map_err(io::Error::other))
            .map_err(|e| RunError::Fatal(format!("cannot write the HTML report {}: {e}", path.display())))?;
    }
    // The inventory and the timeline are millions of small allocations on
    // a large run: freed on a thread of their own, so that the run's end
    // does not wait for them (and a process that exits then does not).
    // Off this thread's CPU, where it would slow what is left of the run.
    let cpu = placement::current_cpu();
    let _ = thread::Builder::new().name("tlsaudit-free".into()).spawn(move || {
        placement::keep_off(cpu);
        drop((inventory, timeline))
    });
    if let Some(e) = write_error {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(RunError::Fatal(format!("cannot write the output: {e}")));
        }
    }
    Ok(summary)
}

/// The HTML report of the finished run.
fn html_page(
    config: &Config,
    run: &crate::RunSummary,
    inventory: &crate::inventory::Inventory,
    timeline: &crate::timeline::Timeline,
    out: &mut dyn Write,
) -> Result<(), String> {
    html::write(&html::ReportInput { config, run, inventory, timeline, profile: &config.profile }, out)
}

/// Writes a file whole: into a neighbour renamed into place once written.
fn write_whole(path: &std::path::Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let partial = path.with_extension("partial");
    let mut out = io::BufWriter::new(std::fs::File::create(&partial)?);
    fill(&mut out)?;
    out.flush()?;
    drop(out);
    std::fs::rename(&partial, path)
}

/// Writes this run's inventory for a later run's `--baseline`: the service
/// records, when, and under which policy; one record at a time, into a
/// file renamed into place once whole, so a baseline is never half a file.
fn write_inventory(path: &std::path::Path, inventory: &crate::inventory::Inventory, policy: &str) -> Result<(), RunError> {
    let written = crate::util::rfc3339::rfc3339_micros(crate::capture::live::now_micros());
    let partial = path.with_extension("partial");
    let fail = |e: io::Error| RunError::Fatal(format!("cannot write the inventory {}: {e}", path.display()));
    let mut out = io::BufWriter::new(std::fs::File::create(&partial).map_err(fail)?);
    let (head, tail) = crate::baseline::inventory_frame(&written, policy);
    out.write_all(head.as_bytes()).map_err(fail)?;
    let mut line = Vec::new();
    for (i, s) in inventory.services().iter().enumerate() {
        if i > 0 {
            out.write_all(b",").map_err(fail)?;
        }
        line.clear();
        json::write_service(&mut line, s, policy, None, None);
        out.write_all(&line).map_err(fail)?;
    }
    out.write_all(tail.as_bytes()).and_then(|_| out.flush()).map_err(fail)?;
    drop(out);
    std::fs::rename(&partial, path).map_err(fail)
}
