//! Memory in use as charged against `--memory-limit`, written by the
//! workers and the output thread and read by the status line.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Memory in use, for the status line: each worker's connections (one
/// slot each) and the inventory (the last slot), in bytes as charged
/// against `--memory-limit`.
pub(super) struct MemoryGauge {
    in_use: Vec<AtomicUsize>,
    /// Connections in each worker's flow table.
    flows: Vec<AtomicUsize>,
    pub limit: usize,
}

impl MemoryGauge {
    pub(super) fn new(workers: usize, limit: usize) -> Self {
        MemoryGauge { in_use: (0..=workers).map(|_| AtomicUsize::new(0)).collect(), flows: (0..workers).map(|_| AtomicUsize::new(0)).collect(), limit }
    }

    pub(super) fn set(&self, slot: usize, bytes: usize) {
        if let Some(s) = self.in_use.get(slot) {
            s.store(bytes, Ordering::Relaxed);
        }
    }

    pub(super) fn set_flows(&self, worker: usize, flows: usize) {
        if let Some(s) = self.flows.get(worker) {
            s.store(flows, Ordering::Relaxed);
        }
    }

    /// Connections in all flow tables.
    pub(super) fn flows(&self) -> usize {
        self.flows.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }

    pub(super) fn set_inventory(&self, bytes: usize) {
        self.set(self.in_use.len() - 1, bytes);
    }

    /// (connections, inventory), in bytes.
    pub(super) fn read(&self) -> (usize, usize) {
        let (workers, inventory) = self.in_use.split_at(self.in_use.len() - 1);
        (workers.iter().map(|s| s.load(Ordering::Relaxed)).sum(), inventory[0].load(Ordering::Relaxed))
    }
}
