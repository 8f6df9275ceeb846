//! The output thread: takes the judged sessions of every worker, counts
//! them, adds them to the service inventory and writes their lines, the only
//! thread that writes (capture files read several at once: in the order of
//! the files, `order.rs`); and opens the output file again on SIGHUP.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::gauge::MemoryGauge;
use super::order::FileOrder;
use super::worker::JudgedBatch;
use crate::capture::live;
use crate::inventory::Inventory;
use crate::output::text;
use crate::policy::{Assessment, Profile};
use crate::timeline::Timeline;

/// What the output thread hands back.
pub(super) struct Collected {
    pub out: Box<dyn Write + Send>,
    pub sessions: u64,
    pub compliant: u64,
    pub not_assessed: u64,
    /// Findings by severity (Info..Critical).
    pub findings: [u64; 5],
    pub by_version: BTreeMap<String, u64>,
    pub inventory: Inventory,
    /// Sessions over time, for the HTML report's charts.
    pub timeline: Timeline,
    pub error: Option<io::Error>,
    /// Capture files read several at once: bytes of lines that waited for
    /// their turn in temporary files.
    pub order_spilled_bytes: u64,
}

/// What the output thread needs to know besides the records.
pub(super) struct CollectorOptions {
    pub flush_each: bool,
    /// The policy, for the inventory's judgements.
    pub profile: Arc<Profile>,
    /// Counts the sessions taken in, for whoever reports progress.
    pub sessions_reported: Arc<AtomicU64>,
    /// Per worker, where its batches go back to be freed and reused.
    pub spent: Vec<Sender<JudgedBatch>>,
    pub reopen: Option<OutputReopen>,
    pub inventory_memory: usize,
    pub memory: Arc<MemoryGauge>,
    /// Live with `--metrics`: sessions and findings counted there too.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Capture files read several at once: their sessions written in the
    /// order of the files.
    pub order: Option<FileOrder>,
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

/// The output thread's loop, until every worker has hung up.
pub(super) fn collect(rx: Receiver<JudgedBatch>, out: Box<dyn Write + Send>, mut opts: CollectorOptions) -> Collected {
    live::renounce_capabilities();
    let mut order = opts.order.take();
    let mut c = Collected {
        out,
        sessions: 0,
        compliant: 0,
        not_assessed: 0,
        findings: [0; 5],
        by_version: BTreeMap::new(),
        inventory: Inventory::with_memory_limit(opts.inventory_memory),
        timeline: Timeline::default(),
        error: None,
        order_spilled_bytes: 0,
    };
    loop {
        if let Some(reopen) = opts.reopen.as_mut() {
            reopen.check(&mut c.out);
        }
        // Wake now and then to see whether the output is to be reopened.
        let batch = match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(b) => b,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        opts.sessions_reported.fetch_add(batch.len() as u64, Ordering::Relaxed);
        c.take(batch, &opts, order.as_mut());
    }
    if let Some(order) = order.as_mut() {
        if c.error.is_none() {
            c.error = order.drain(&mut c.out).err();
        }
        c.order_spilled_bytes = order.spilled_bytes;
    }
    c
}

impl Collected {
    /// Counts a batch's sessions, adds them to the inventory and writes
    /// their lines (files read apart: in their turn); then hands the batch
    /// back to its worker.
    fn take(&mut self, batch: JudgedBatch, opts: &CollectorOptions, order: Option<&mut FileOrder>) {
        for (f, verdict) in batch.sessions() {
            self.sessions += 1;
            self.compliant += u64::from(verdict.assessment == Assessment::Compliant);
            self.not_assessed += u64::from(verdict.assessment == Assessment::NotAssessed);
            for finding in &verdict.findings {
                self.findings[finding.severity as usize] += 1;
            }
            let bucket = text::version_bucket(f);
            match self.by_version.get_mut(bucket.as_ref()) {
                Some(n) => *n += 1,
                None => {
                    self.by_version.insert(bucket.into_owned(), 1);
                }
            }
            self.inventory.add(f, verdict, &opts.profile);
            if let Some(m) = &opts.metrics {
                m.count_session(verdict);
            }
            self.timeline.add(f);
        }
        // After an error, batches are still drained so that workers never block.
        if self.error.is_none() {
            let written = match order {
                Some(order) => order.admit(batch.file, batch.ends_file, &batch.lines, &mut self.out),
                None => self.out.write_all(&batch.lines),
            };
            if let Err(e) = written {
                self.error = Some(e);
            }
        }
        opts.memory.set_inventory(self.inventory.memory());
        if let Some(m) = &opts.metrics {
            m.set_services(self.inventory.service_count());
        }
        if opts.flush_each && self.error.is_none() {
            if let Err(e) = self.out.flush() {
                self.error = Some(e);
            }
        }
        // Freed here only when the worker's queue for them is full or gone.
        if let Some(back) = opts.spent.get(batch.worker) {
            let _ = back.try_send(batch);
        }
    }
}
