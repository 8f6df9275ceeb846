//! TCP reassembly for one direction of a connection.
//!
//! Delivers the byte stream in order, one chunk per segment, to a callback.
//! Out-of-order segments wait in a buffer capped at `max_buffered` bytes of
//! memory (each segment is charged its allocation, not only its payload);
//! retransmitted and overlapping bytes keep the copy that arrived first, and
//! overlaps that carry different bytes are counted: against buffered
//! segments byte by byte, against bytes already delivered by a digest of the
//! last few chunks delivered. Holes that will never be filled (the peer
//! acknowledged past them, the buffer cap was hit, or the flow ended) are
//! reported as gaps so the consumer can resynchronise.
//!
//! Costs under hostile orders: waiting segments sit sorted in a deque, so a
//! segment that arrives before or after all of them is placed without
//! shifting the others, and delivery takes from the front. The overlap check
//! looks only at segments that start within the longest waiting payload
//! before the new one; a mix of one long and many short waiting segments
//! still makes it look at the short ones the long one spans (at most the
//! buffer cap's worth).

use std::collections::VecDeque;

use crate::memory::alloc_bytes;
use crate::util::keyed_hash::KeyedHash;
use crate::stats::WorkerStats;

/// What the reassembler hands to its consumer.
pub use crate::stream::StreamEvent;

/// Counters of one direction, added to the worker's statistics when the flow ends.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReassemblyCounters {
    pub retransmitted_bytes: u64,
    pub overlap_bytes: u64,
    pub overlap_inconsistent: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    pub buffer_cap_hits: u64,
}

impl ReassemblyCounters {
    pub fn add_to(&self, stats: &mut WorkerStats) {
        stats.tcp_retransmitted_bytes += self.retransmitted_bytes;
        stats.tcp_overlap_bytes += self.overlap_bytes;
        stats.tcp_overlap_inconsistent += self.overlap_inconsistent;
        stats.tcp_gaps += self.gaps;
        stats.tcp_gap_bytes += self.gap_bytes;
        stats.tcp_buffer_cap_hits += self.buffer_cap_hits;
    }
}

#[derive(Debug)]
struct Pending {
    seq: u32,
    data: Vec<u8>,
    /// Bytes after `data` that the segment carried but the capture cut off.
    missing: u32,
}

impl Pending {
    fn end(&self) -> u32 {
        self.seq.wrapping_add(self.data.len() as u32).wrapping_add(self.missing)
    }
}

/// Memory one buffered segment of `len` bytes is charged against the cap:
/// its allocation and its entry in the list.
fn pending_cost(len: usize) -> usize {
    alloc_bytes(len) + std::mem::size_of::<Pending>()
}

/// Signed distance from `b` to `a` in sequence space (valid within 2 GiB).
fn seq_diff(a: u32, b: u32) -> i64 {
    a.wrapping_sub(b) as i32 as i64
}

/// Entries an emptied list of waiting segments may keep allocated.
const PENDING_KEPT_CAPACITY: usize = 8;

/// Chunks delivered whose digests are kept to check retransmissions against.
const DELIVERED_KEPT: usize = 8;

/// A chunk already delivered: where it started, its length and a digest of
/// its bytes.
#[derive(Debug, Default, Clone, Copy)]
struct DeliveredChunk {
    seq: u32,
    len: u32,
    digest: u64,
}

thread_local! {
    /// A keyed hash, its key drawn at random for each worker thread (a
    /// connection's chunks are all digested by the thread that owns it): a
    /// retransmission crafted to match a digest but not the bytes would need
    /// the key. foldhash (through hashlink) reads several gigabytes a second,
    /// against SipHash's one.
    static DIGEST_KEY: KeyedHash = KeyedHash::default();
}

fn digest(bytes: &[u8]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    DIGEST_KEY.with(|key| {
        let mut h = key.build_hasher();
        h.write(bytes);
        h.finish()
    })
}

#[derive(Debug, Default)]
pub struct Reassembler {
    next_seq: Option<u32>,
    /// Segments waiting out of order, by sequence number. A deque, so that
    /// delivering from the front and segments arriving in reverse order (each
    /// one before all the others) cost no shifting.
    pending: VecDeque<Pending>,
    /// The longest captured payload among `pending` since it was last empty:
    /// how far back an overlapping segment can start.
    pending_max_len: u32,
    /// Memory held by `pending`, as charged by `pending_cost`.
    held: usize,
    /// The last chunks delivered (a ring), allocated with the first one.
    delivered: Option<Box<[DeliveredChunk; DELIVERED_KEPT]>>,
    delivered_next: usize,
    pub counters: ReassemblyCounters,
}

impl Reassembler {
    /// Memory held by segments waiting out of order (what the cap bounds).
    pub fn buffered(&self) -> usize {
        self.held
    }

    /// Heap memory held, for the flow table's memory account.
    pub fn heap_bytes(&self) -> usize {
        self.held + alloc_bytes(self.pending.capacity() * std::mem::size_of::<Pending>()) + self.delivered.as_ref().map_or(0, |_| alloc_bytes(std::mem::size_of::<[DeliveredChunk; DELIVERED_KEPT]>()))
    }

    /// Whether the initial sequence number is known.
    pub fn started(&self) -> bool {
        self.next_seq.is_some()
    }

    /// A SYN carries the initial sequence number; data starts one after it.
    pub fn on_syn(&mut self, isn: u32) {
        if self.next_seq.is_none() {
            self.next_seq = Some(isn.wrapping_add(1));
        }
    }

    /// Takes one segment's payload (`missing` bytes after it were not captured).
    pub fn on_segment(
        &mut self,
        seq: u32,
        payload: &[u8],
        missing: u32,
        max_buffered: usize,
        on_event: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        if payload.is_empty() && missing == 0 {
            return;
        }
        let next = *self.next_seq.get_or_insert(seq);
        let offset = seq_diff(seq, next);
        // Overlaps with buffered segments are compared byte by byte here
        // (where they differ, the buffered bytes replace the new ones);
        // those with delivered bytes below, by digest.
        let (conflicts, first_copies) = self.compare_with_waiting(seq, payload);
        self.counters.overlap_inconsistent += conflicts;
        let payload = first_copies.as_deref().unwrap_or(payload);
        if offset <= 0 {
            self.take_from_next(seq, payload, missing, (-offset) as usize, on_event);
            return;
        }
        let cost = pending_cost(payload.len());
        if self.held + cost > max_buffered {
            self.counters.buffer_cap_hits += 1;
            // Give up on the hole: skip to the earliest buffered segment.
            self.skip_to_first_pending(on_event);
            if self.held + cost > max_buffered {
                // Still too much: this segment goes on now. Past a hole, the
                // hole is a gap; the skip may also have taken the stream
                // past its start, and then only its bytes beyond are new.
                let next = self.next_seq.unwrap_or(seq);
                let hole = seq_diff(seq, next);
                if hole > 0 {
                    self.gap(hole as u32, on_event);
                }
                self.take_from_next(seq, payload, missing, (-hole).max(0) as usize, on_event);
                return;
            }
        }
        let pos = self.pending.partition_point(|p| seq_diff(p.seq, seq) <= 0);
        self.held += cost;
        self.pending_max_len = self.pending_max_len.max(payload.len() as u32);
        self.pending.insert(pos, Pending { seq, data: payload.to_vec(), missing });
    }

    /// A segment that starts `already` bytes before the next byte of the
    /// stream (or at it): the bytes past the next one are delivered, and
    /// those before are a retransmission or an overlap.
    fn take_from_next(&mut self, seq: u32, payload: &[u8], missing: u32, already: usize, on_event: &mut dyn FnMut(StreamEvent<'_>)) {
        let total = payload.len() + missing as usize;
        if already >= total {
            self.counters.retransmitted_bytes += total as u64;
            self.check_delivered(seq, payload);
            return;
        }
        // Partly old, partly new: an overlap with delivered bytes.
        self.counters.overlap_bytes += already as u64;
        self.check_delivered(seq, payload);
        let (data, miss) = if already <= payload.len() {
            (&payload[already..], missing)
        } else {
            (&payload[payload.len()..], missing - (already - payload.len()) as u32)
        };
        self.deliver(data, miss, on_event);
        self.drain(on_event);
    }

    /// The peer acknowledged `ack`: a hole it acknowledged past was lost in the
    /// capture and will never be filled.
    pub fn on_peer_ack(&mut self, ack: u32, on_event: &mut dyn FnMut(StreamEvent<'_>)) {
        let Some(first) = self.pending.front() else { return };
        if seq_diff(ack, first.seq) > 0 {
            self.skip_to_first_pending(on_event);
        }
    }

    /// The flow is ending: deliver everything buffered, with gaps for the holes.
    pub fn flush(&mut self, on_event: &mut dyn FnMut(StreamEvent<'_>)) {
        while !self.pending.is_empty() {
            self.skip_to_first_pending(on_event);
        }
    }

    /// Frees buffered data once the stream is no longer inspected.
    pub fn clear(&mut self) {
        self.pending = VecDeque::new();
        self.pending_max_len = 0;
        self.held = 0;
        self.delivered = None;
    }

    fn skip_to_first_pending(&mut self, on_event: &mut dyn FnMut(StreamEvent<'_>)) {
        let (Some(next), Some(first)) = (self.next_seq, self.pending.front()) else { return };
        let hole = seq_diff(first.seq, next);
        if hole > 0 {
            self.gap(hole as u32, on_event);
        }
        self.drain(on_event);
    }

    fn gap(&mut self, len: u32, on_event: &mut dyn FnMut(StreamEvent<'_>)) {
        self.counters.gaps += 1;
        self.counters.gap_bytes += len as u64;
        if let Some(n) = self.next_seq.as_mut() {
            *n = n.wrapping_add(len);
        }
        on_event(StreamEvent::Gap(len));
    }

    fn deliver(&mut self, data: &[u8], missing: u32, on_event: &mut dyn FnMut(StreamEvent<'_>)) {
        if !data.is_empty() {
            if let Some(n) = self.next_seq.as_mut() {
                let chunk = DeliveredChunk { seq: *n, len: data.len() as u32, digest: digest(data) };
                *n = n.wrapping_add(data.len() as u32);
                let ring = self.delivered.get_or_insert_with(Default::default);
                ring[self.delivered_next] = chunk;
                self.delivered_next = (self.delivered_next + 1) % DELIVERED_KEPT;
            }
            on_event(StreamEvent::Data(data));
        }
        if missing > 0 {
            self.gap(missing, on_event);
        }
    }

    /// Delivers buffered segments that have become contiguous.
    fn drain(&mut self, on_event: &mut dyn FnMut(StreamEvent<'_>)) {
        while let (Some(first), Some(next)) = (self.pending.front(), self.next_seq) {
            if seq_diff(first.seq, next) > 0 {
                break;
            }
            let Some(seg) = self.pending.pop_front() else { break };
            self.held -= pending_cost(seg.data.len());
            if seq_diff(seg.end(), next) <= 0 {
                self.counters.overlap_bytes += (seg.data.len() + seg.missing as usize) as u64;
                continue;
            }
            let already = seq_diff(next, seg.seq) as usize;
            self.counters.overlap_bytes += already as u64;
            if already <= seg.data.len() {
                self.deliver(&seg.data[already..], seg.missing, on_event);
            } else {
                let miss = seg.missing - (already - seg.data.len()) as u32;
                self.deliver(&[], miss, on_event);
            }
        }
        if self.pending.is_empty() {
            self.pending_max_len = 0;
        }
        // A burst of reordering should not keep its list for the rest of the
        // connection: a list three-quarters empty is halved (freed when empty).
        let (len, capacity) = (self.pending.len(), self.pending.capacity());
        if capacity > PENDING_KEPT_CAPACITY && len * 4 <= capacity {
            self.pending.shrink_to(len * 2);
        }
    }

    /// Counts a segment that repeats delivered bytes with other values. Only
    /// chunks the segment covers whole, among the last few delivered, can be
    /// compared (a retransmission usually repeats a segment exactly).
    fn check_delivered(&mut self, seq: u32, payload: &[u8]) {
        let Some(ring) = self.delivered.as_ref() else { return };
        let differs = ring.iter().filter(|c| c.len > 0).any(|c| {
            let start = seq_diff(c.seq, seq);
            let end = start + i64::from(c.len);
            start >= 0 && end <= payload.len() as i64 && digest(&payload[start as usize..end as usize]) != c.digest
        });
        if differs {
            self.counters.overlap_inconsistent += 1;
        }
    }

    /// How many buffered segments a new segment overlaps with other values
    /// and, when there are any, the new payload with their bytes in place of
    /// its own there: they arrived first.
    fn compare_with_waiting(&self, seq: u32, payload: &[u8]) -> (u64, Option<Vec<u8>>) {
        if self.pending.is_empty() {
            return (0, None);
        }
        let mut conflicts = 0;
        let mut first_copies: Option<Vec<u8>> = None;
        for p in self.overlap_candidates(seq, payload.len()) {
            let Some((theirs, from)) = overlap(p, seq, payload.len()) else { continue };
            let ours = from..from + theirs.len();
            if payload[ours.clone()] != p.data[theirs.clone()] {
                conflicts += 1;
                first_copies.get_or_insert_with(|| payload.to_vec())[ours].copy_from_slice(&p.data[theirs]);
            }
        }
        debug_assert_eq!(conflicts, self.overlap_conflicts_scanning_all(seq, payload));
        (conflicts, first_copies)
    }

    /// The buffered segments a new one at `seq` of `len` bytes can overlap:
    /// those that start before it ends and at most the longest buffered
    /// payload before it starts, so that segments of similar size cost a
    /// binary search and the few neighbours they touch.
    fn overlap_candidates(&self, seq: u32, len: usize) -> impl Iterator<Item = &Pending> {
        let end = seq.wrapping_add(len as u32);
        let before_end = self.pending.partition_point(|p| seq_diff(p.seq, end) < 0);
        let reach = i64::from(self.pending_max_len);
        self.pending.range(..before_end).rev().take_while(move |p| seq_diff(p.seq, seq) + reach > 0)
    }

    /// Buffered segments whose bytes differ from the new segment's where
    /// they overlap, looking at every one: the reference the search above is
    /// checked against in debug builds and tests.
    fn overlap_conflicts_scanning_all(&self, seq: u32, payload: &[u8]) -> u64 {
        self.pending.iter().map(|p| u64::from(overlap_differs(p, seq, payload))).sum()
    }
}

/// Where a buffered segment's captured bytes and a new segment at `seq` of
/// `len` bytes overlap: the range in the buffered segment's data, and where
/// it starts in the new payload.
fn overlap(p: &Pending, seq: u32, len: usize) -> Option<(std::ops::Range<usize>, usize)> {
    let start = seq_diff(seq, p.seq).max(0);
    let end = seq_diff(seq.wrapping_add(len as u32), p.seq).min(p.data.len() as i64);
    if start >= end {
        return None;
    }
    let from = p.seq.wrapping_add(start as u32).wrapping_sub(seq) as usize;
    // Within 2 GiB of each other the overlap lies inside the new payload;
    // sequence numbers further apart are not compared.
    let taken = (end - start) as usize;
    (from.checked_add(taken)? <= len).then_some((start as usize..end as usize, from))
}

/// Whether a buffered segment and a new one overlap with other bytes.
fn overlap_differs(p: &Pending, seq: u32, payload: &[u8]) -> bool {
    overlap(p, seq, payload.len()).is_some_and(|(theirs, ours)| payload[ours..ours + theirs.len()] != p.data[theirs])
}

#[cfg(test)]
#[path = "reassembly_tests.rs"]
mod tests;
