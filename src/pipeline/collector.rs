//! The output thread: takes the judged sessions of every worker, counts
//! them, adds them to the service inventory and writes their lines, the only
//! thread that writes; and opens the output file again on SIGHUP.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::gauge::MemoryGauge;
use super::worker::{Judged, JudgedBatch};
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
pub(super) fn collect(rx: Receiver<JudgedBatch>, mut out: Box<dyn Write + Send>, mut opts: CollectorOptions) -> Collected {
    live::renounce_capabilities();
    let mut sessions = 0;
    let mut compliant = 0;
    let mut not_assessed = 0;
    let mut findings = [0u64; 5];
    let mut by_version = BTreeMap::new();
    let mut inventory = Inventory::with_memory_limit(opts.inventory_memory);
    let mut timeline = Timeline::default();
    let mut error = None;
    loop {
        if let Some(reopen) = opts.reopen.as_mut() {
            reopen.check(&mut out);
        }
        // Wake now and then to see whether the output is to be reopened.
        let batch = match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(b) => b,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        opts.sessions_reported.fetch_add(batch.sessions.len() as u64, Ordering::Relaxed);
        for judged in &batch.sessions {
            let Judged { facts: f, verdict } = judged;
            sessions += 1;
            compliant += u64::from(verdict.assessment == Assessment::Compliant);
            not_assessed += u64::from(verdict.assessment == Assessment::NotAssessed);
            for finding in &verdict.findings {
                findings[finding.severity as usize] += 1;
            }
            let bucket = text::version_bucket(f);
            match by_version.get_mut(bucket.as_ref()) {
                Some(n) => *n += 1,
                None => {
                    by_version.insert(bucket.into_owned(), 1);
                }
            }
            inventory.add(f, verdict, &opts.profile);
            if let Some(m) = &opts.metrics {
                m.count_session(verdict);
            }
            timeline.add(f);
        }
        // After an error, batches are still drained so that workers never block.
        if error.is_none() {
            if let Err(e) = out.write_all(&batch.lines) {
                error = Some(e);
            }
        }
        opts.memory.set_inventory(inventory.memory());
        if let Some(m) = &opts.metrics {
            m.set_services(inventory.service_count());
        }
        if opts.flush_each && error.is_none() {
            if let Err(e) = out.flush() {
                error = Some(e);
            }
        }
        // Freed here only when the worker's queue for them is full or gone.
        if let Some(back) = opts.spent.get(batch.worker) {
            let _ = back.try_send(batch);
        }
    }
    Collected { out, sessions, compliant, not_assessed, findings, by_version, inventory, timeline, error }
}
