//! Bounded IPv4/IPv6 fragment reassembly.
//!
//! Holds at most `max_datagrams` datagrams in progress, each at most 65,535
//! bytes, and at most `MAX_HELD_BYTES` of memory for all of them (a single
//! fragment at a high offset would otherwise make 64 KiB of one packet);
//! when either is full the oldest datagram is dropped and counted.
//! Datagrams that do not complete within the timeout are dropped and counted.
//! Overlapping fragments keep the bytes that arrived first.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::stats::DecodeErrorKind;
use crate::util::keyed_hash::KeyedHash;

const MAX_DATAGRAM: usize = 65_535;
/// Memory all datagrams in progress may hold.
pub const MAX_HELD_BYTES: usize = 16 * 1024 * 1024;

/// Identifies the datagram a fragment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub id: u32,
    pub vlan: Option<u16>,
}

impl FragmentKey {
    pub fn v4(src: IpAddr, dst: IpAddr, protocol: u8, id: u16, vlan: Option<u16>) -> Self {
        FragmentKey { src, dst, protocol, id: id as u32, vlan }
    }
    pub fn v6(src: IpAddr, dst: IpAddr, protocol: u8, id: u32, vlan: Option<u16>) -> Self {
        FragmentKey { src, dst, protocol, id, vlan }
    }
}

/// Counters of the defragmenter, reported in `tlsaudit.stats`.
#[derive(Debug, Default, Clone)]
pub struct DefragStats {
    pub fragments: u64,
    pub datagrams_reassembled: u64,
    pub evicted_table_full: u64,
    pub expired: u64,
    pub overlapping_fragments: u64,
    pub oversized: u64,
}

pub enum FragmentOutcome {
    Held,
    Complete(Vec<u8>),
    Dropped(DecodeErrorKind),
}

struct Pending {
    first_seen: i64,
    data: Vec<u8>,
    /// Sorted, non-overlapping byte ranges received so far.
    covered: Vec<(usize, usize)>,
    /// Known once the last fragment (more-fragments clear) arrived.
    total_len: Option<usize>,
}

impl Pending {
    /// Memory the datagram holds, as charged against `MAX_HELD_BYTES`.
    fn memory(&self) -> usize {
        std::mem::size_of::<(FragmentKey, Pending)>()
            + self.data.capacity()
            + self.covered.capacity() * std::mem::size_of::<(usize, usize)>()
    }
}

pub struct Defragmenter {
    /// Keyed by foldhash with a random seed (as the flow tables are): the
    /// keys come off the wire, and SipHash cost more than the rest of a
    /// fragment's handling.
    table: HashMap<FragmentKey, Pending, KeyedHash>,
    /// Memory held by the datagrams in progress.
    held: usize,
    max_datagrams: usize,
    timeout_micros: i64,
    stats: DefragStats,
}

impl Defragmenter {
    pub fn new(max_datagrams: usize, timeout_micros: i64) -> Self {
        Defragmenter {
            table: HashMap::default(),
            held: 0,
            max_datagrams: max_datagrams.max(1),
            timeout_micros,
            stats: DefragStats::default(),
        }
    }

    fn remove(&mut self, key: &FragmentKey) -> Option<Pending> {
        let p = self.table.remove(key)?;
        self.held -= p.memory();
        Some(p)
    }

    /// Drops the oldest datagram other than `keep`; false when there is none.
    fn evict_oldest(&mut self, keep: &FragmentKey) -> bool {
        let oldest = self.table.iter().filter(|(k, _)| *k != keep).min_by_key(|(_, p)| p.first_seen).map(|(k, _)| *k);
        match oldest {
            Some(k) => {
                self.remove(&k);
                self.stats.evicted_table_full += 1;
                true
            }
            None => false,
        }
    }

    pub fn stats(&self) -> &DefragStats {
        &self.stats
    }

    pub fn add(&mut self, key: FragmentKey, offset: usize, more: bool, bytes: &[u8], ts: i64) -> FragmentOutcome {
        self.stats.fragments += 1;
        let end = offset + bytes.len();
        if end > MAX_DATAGRAM {
            self.stats.oversized += 1;
            self.remove(&key);
            return FragmentOutcome::Dropped(DecodeErrorKind::OversizedFragment);
        }
        let known = self.table.contains_key(&key);
        if !known && self.table.len() >= self.max_datagrams {
            self.evict_oldest(&key);
        }
        let pending = self.table.entry(key).or_insert_with(|| Pending {
            first_seen: ts,
            data: Vec::new(),
            covered: Vec::new(),
            total_len: None,
        });
        let before = if known { pending.memory() } else { 0 };
        if !more {
            pending.total_len = Some(end);
        }
        if pending.data.len() < end {
            pending.data.resize(end, 0);
        }
        // Copy only the parts not covered yet: the first copy wins.
        let mut cursor = offset;
        let mut overlapped = false;
        let mut gaps = Vec::new();
        for &(s, e) in &pending.covered {
            if e <= cursor || s >= end {
                continue;
            }
            overlapped = true;
            if s > cursor {
                gaps.push((cursor, s));
            }
            cursor = cursor.max(e);
        }
        if cursor < end {
            gaps.push((cursor, end));
        }
        for (s, e) in gaps {
            pending.data[s..e].copy_from_slice(&bytes[s - offset..e - offset]);
        }
        if overlapped {
            self.stats.overlapping_fragments += 1;
        }
        insert_range(&mut pending.covered, offset, end);
        let complete = match pending.total_len {
            Some(total) => pending.covered.first() == Some(&(0, total)) || (total == 0 && !pending.covered.is_empty()),
            None => false,
        };
        self.held = self.held + pending.memory() - before;
        while self.held > MAX_HELD_BYTES && self.evict_oldest(&key) {}
        if self.held > MAX_HELD_BYTES {
            // This datagram alone is over the budget (never with 64 KiB datagrams).
            self.remove(&key);
            self.stats.evicted_table_full += 1;
            return FragmentOutcome::Held;
        }
        if complete {
            let mut done = self.remove(&key).map(|p| (p.data, p.total_len)).unwrap_or_default();
            if let Some(total) = done.1 {
                done.0.truncate(total);
            }
            self.stats.datagrams_reassembled += 1;
            return FragmentOutcome::Complete(done.0);
        }
        FragmentOutcome::Held
    }

    pub fn expire(&mut self, now: i64) {
        let timeout = self.timeout_micros;
        let before = self.table.len();
        let mut freed = 0;
        self.table.retain(|_, p| {
            let keep = now.saturating_sub(p.first_seen) <= timeout;
            if !keep {
                freed += p.memory();
            }
            keep
        });
        self.held -= freed;
        self.stats.expired += (before - self.table.len()) as u64;
    }
}

/// Inserts [start, end) into a sorted list of disjoint ranges, merging neighbours.
fn insert_range(ranges: &mut Vec<(usize, usize)>, start: usize, end: usize) {
    if start >= end {
        return;
    }
    let mut merged = (start, end);
    ranges.retain(|&(s, e)| {
        if e < merged.0 || s > merged.1 {
            true
        } else {
            merged = (merged.0.min(s), merged.1.max(e));
            false
        }
    });
    let pos = ranges.partition_point(|&(s, _)| s < merged.0);
    ranges.insert(pos, merged);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FragmentKey {
        FragmentKey::v4("10.0.0.1".parse().expect("ip"), "10.0.0.2".parse().expect("ip"), 6, 7, None)
    }

    #[test]
    fn reassembles_out_of_order_with_overlap_first_copy_wins() {
        let mut d = Defragmenter::new(4, 1_000_000);
        assert!(matches!(d.add(key(), 8, false, b"BBBBBBBB", 0), FragmentOutcome::Held));
        assert!(matches!(d.add(key(), 4, true, b"xxxxxxxx", 0), FragmentOutcome::Held));
        match d.add(key(), 0, true, b"AAAAAAAA", 0) {
            FragmentOutcome::Complete(bytes) => assert_eq!(bytes, b"AAAAxxxxBBBBBBBB"),
            _ => panic!("expected completion"),
        }
        assert_eq!(d.stats().overlapping_fragments, 2);
    }

    #[test]
    fn memory_is_bounded_when_single_fragments_claim_high_offsets() {
        // One 8-byte fragment at offset 65,000 per datagram makes 64 KiB each.
        let mut d = Defragmenter::new(4096, 1_000_000);
        for id in 0..1_000u32 {
            let k = FragmentKey { id, ..key() };
            let _ = d.add(k, 65_000, true, b"12345678", i64::from(id));
            // Empty fragments change nothing.
            let _ = d.add(k, 0, true, b"", i64::from(id));
            assert!(d.held <= MAX_HELD_BYTES);
            assert_eq!(d.held, d.table.values().map(Pending::memory).sum::<usize>());
        }
        assert!(d.table.len() < 300, "{} datagrams held", d.table.len());
        assert!(d.stats().evicted_table_full > 700);
        d.expire(10_000_000);
        assert_eq!((d.table.len(), d.held), (0, 0));
    }

    #[test]
    fn table_is_bounded_and_evicts_oldest() {
        let mut d = Defragmenter::new(2, 1_000_000);
        for id in 0..5u16 {
            let k = FragmentKey { id: id as u32, ..key() };
            let _ = d.add(k, 0, true, b"12345678", id as i64);
        }
        assert_eq!(d.table.len(), 2);
        assert_eq!(d.stats().evicted_table_full, 3);
        d.expire(10_000_000);
        assert_eq!(d.table.len(), 0);
        assert_eq!(d.stats().expired, 2);
    }
}
