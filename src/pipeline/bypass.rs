//! The bypass protocol between the workers' flow tables and the reader.
//!
//! Once a connection's handshake is over (or it turned out not to be TLS),
//! its worker only counts its packets; copying their payload into batches
//! would be wasted work. So:
//!
//! 1. **Worker.** The flow table marks the flow bypassed and keeps it, so that
//!    its later packets are recognised and skipped. After each batch the
//!    worker sends a [`BypassNotice`]: the flows bypassed while it processed
//!    that batch and still bypassed at its end, each with the time of its last
//!    packet, and the batch's number. A notice that does not fit the channel
//!    is dropped: the reader then simply goes on copying that payload.
//! 2. **Reader.** Before it sends a batch, the reader takes in the notices
//!    ([`ReaderBypass::learn`]). From then on, a segment with payload of a
//!    bypassed flow goes to the worker without its bytes: its length is added
//!    to the segment's `missing` count, which the flow table counts as
//!    bypassed bytes exactly as it would have counted the bytes.
//! 3. **Reuse of a 5-tuple.** A SYN starts a new connection, which the worker
//!    inspects again: the reader forgets the 5-tuple at once and remembers the
//!    number of the batch the SYN went into. A notice that arrives later but
//!    was written for an earlier batch speaks of the connection before that
//!    SYN and is ignored for that flow. When the memory of SYNs overflows, the
//!    notices of a worker from before the forgotten SYNs cannot be checked and
//!    are ignored whole.
//! 4. **Absorbing.** Most packets of a bypassed flow do not reach the worker
//!    at all: the reader counts them (packets and bytes, added to the
//!    workers' bypass counters at the end) and sends on only a SYN, and one
//!    packet (without its payload) a quarter of the idle timeout after the
//!    last one it sent, so that the worker's entry never times out while the
//!    connection goes on, and a packet the reader no longer absorbs finds it.
//! 5. **Time.** A flow quiet for half the idle timeout may have ended in the
//!    worker, which would start a fresh one: its payload is copied again. When
//!    packet time goes back (an older capture file), the workers end every
//!    flow; the reader forgets every bypassed flow and every notice still on
//!    its way.
//!
//! Every rule errs towards copying: a wrong decision costs speed, never a
//! byte of analysis.

use crossbeam_channel::Receiver;
use hashlink::{LinkedHashMap, LruCache};

use crate::flow::{FlowKey, FlowLimits, FlowTable};
use crate::stats::ReaderStats;
use crate::util::keyed_hash::KeyedHash;

/// SYNs the reader remembers at most, to tell a bypass notice that arrives
/// after the 5-tuple was reused from one that still holds.
const RECENT_SYNS: usize = 65_536;

/// Memory one entry of either table takes: key, two times (or a batch
/// number), the two links of the recency list, and the hash table's slot
/// and allocation header.
const BYPASS_ENTRY_BYTES: usize = std::mem::size_of::<FlowKey>() + std::mem::size_of::<Seen>() + 4 * 8 + 16;

/// A bypassed flow as the reader knows it: when its last packet came, and
/// when the last one went on to its worker.
#[derive(Debug, Clone, Copy)]
struct Seen {
    last: i64,
    forwarded: i64,
}

/// The flow `ReaderBypass::check` looked at last.
#[derive(Debug, Clone, Copy)]
struct LastChecked {
    key: FlowKey,
    /// Its entry now; None when the table holds none, or when it was just
    /// dropped (quiet too long).
    entry: Option<Seen>,
    /// The table held an entry for it when it was looked up.
    in_table: bool,
}

/// What the reader does with a segment (not a SYN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Not bypassed: it goes to the worker whole.
    Inspect,
    /// Bypassed: it goes to the worker without its payload (a keepalive).
    Forward,
    /// Bypassed: counted here, not sent.
    Absorb,
}

/// Flows a worker bypassed while it processed one batch (and that were still
/// bypassed at its end).
pub(super) struct BypassNotice {
    worker: usize,
    batch: u64,
    flows: Vec<(FlowKey, i64)>,
}

impl BypassNotice {
    /// The worker's side: the notice for the batch just processed, if any
    /// flow was bypassed during it.
    pub(super) fn after_batch(table: &mut FlowTable, worker: usize, batch: u64) -> Option<BypassNotice> {
        let flows = table.take_bypassed();
        (!flows.is_empty()).then_some(BypassNotice { worker, batch, flows })
    }
}

#[cfg(test)]
impl BypassNotice {
    /// A notice as a worker would send it.
    pub(super) fn new(worker: usize, batch: u64, flows: Vec<(FlowKey, i64)>) -> BypassNotice {
        BypassNotice { worker, batch, flows }
    }
}

/// The reader's side: the flows whose payload is not copied any more.
pub(super) struct ReaderBypass {
    /// Bypassed flows with the time of their last packet. Bounded; when full,
    /// the flow bypassed longest ago is forgotten and its payload copied
    /// again, which loses nothing.
    bypassed: LruCache<FlowKey, Seen, KeyedHash>,
    /// The flow `check` looked at last, with its entry as it now stands (the
    /// table's copy is brought up to date by `settle`, before anything else
    /// reads or changes the table): a bulk transfer comes as runs of
    /// segments of one flow, and these skip the table.
    last_checked: Option<LastChecked>,
    /// The flows' idle timeout in microseconds.
    idle_timeout: i64,
    workers: usize,
    notices: Receiver<BypassNotice>,
    /// The 5-tuples of recent SYNs and the number of the batch each went into.
    recent_syns: LinkedHashMap<FlowKey, u64, KeyedHash>,
    /// How many SYNs it remembers: RECENT_SYNS, or fewer in a small budget.
    recent_syns_max: usize,
    /// Per worker, the highest batch number among forgotten SYNs: notices
    /// from before it cannot be checked and are ignored.
    syns_forgotten_up_to: Vec<Option<u64>>,
    /// Per worker, the first batch after the last clock reset.
    notices_valid_from: Vec<u64>,
}

impl ReaderBypass {
    /// The two tables share `max_memory` bytes: the bypassed connections
    /// (at most `limits.max_flows`) and the recent SYNs (at most
    /// RECENT_SYNS) get half each.
    pub(super) fn new(workers: usize, notices: Receiver<BypassNotice>, limits: &FlowLimits, max_memory: usize) -> ReaderBypass {
        ReaderBypass {
            bypassed: LruCache::with_hasher(limits.max_flows.min(max_memory / 2 / BYPASS_ENTRY_BYTES).max(1), KeyedHash::default()),
            last_checked: None,
            recent_syns_max: RECENT_SYNS.min(max_memory / 2 / BYPASS_ENTRY_BYTES).max(1),
            idle_timeout: limits.idle_timeout_micros,
            workers,
            notices,
            recent_syns: LinkedHashMap::default(),
            syns_forgotten_up_to: vec![None; workers],
            notices_valid_from: vec![0; workers],
        }
    }

    /// A SYN on `key`, going into batch number `batch` of its worker: a new
    /// connection, which the worker inspects again.
    pub(super) fn on_syn(&mut self, key: FlowKey, batch: u64) {
        self.settle();
        self.bypassed.remove(&key);
        self.recent_syns.remove(&key);
        if self.recent_syns.len() >= self.recent_syns_max {
            if let Some((old, old_batch)) = self.recent_syns.pop_front() {
                let forgotten = &mut self.syns_forgotten_up_to[old.owner(self.workers)];
                *forgotten = Some(forgotten.map_or(old_batch, |f| f.max(old_batch)));
            }
        }
        self.recent_syns.insert(key, batch);
    }

    /// What becomes of a segment (not a SYN) at packet time `ts`. A hit
    /// does not reorder the table.
    pub(super) fn check(&mut self, key: &FlowKey, ts: i64) -> Verdict {
        if self.last_checked.as_ref().is_none_or(|last| last.key != *key) {
            self.settle();
            let entry = self.bypassed.peek(key).copied();
            self.last_checked = Some(LastChecked { key: *key, entry, in_table: entry.is_some() });
        }
        let Some(last) = self.last_checked.as_mut() else { return Verdict::Inspect };
        let Some(seen) = last.entry.as_mut() else { return Verdict::Inspect };
        if ts.saturating_sub(seen.last) >= self.idle_timeout / 2 {
            last.entry = None;
            return Verdict::Inspect;
        }
        seen.last = seen.last.max(ts);
        if ts.saturating_sub(seen.forwarded) >= self.idle_timeout / 4 {
            seen.forwarded = ts;
            return Verdict::Forward;
        }
        Verdict::Absorb
    }

    /// Writes what `check` changed of the last flow it looked at back into
    /// the table (its entry, or its removal), as `check` would have done in
    /// place; the table's recency order is untouched either way.
    fn settle(&mut self) {
        let Some(last) = self.last_checked.take() else { return };
        if !last.in_table {
            return;
        }
        match last.entry {
            Some(now) => {
                if let Some(entry) = self.bypassed.peek_mut(&last.key) {
                    *entry = now;
                }
            }
            None => {
                self.bypassed.remove(&last.key);
            }
        }
    }

    /// Takes in the notices the workers sent since the last call.
    pub(super) fn learn(&mut self, stats: &mut ReaderStats) {
        self.settle();
        while let Ok(notice) = self.notices.try_recv() {
            let before_reset = notice.batch < self.notices_valid_from[notice.worker];
            if before_reset || self.syns_forgotten_up_to[notice.worker].is_some_and(|f| f > notice.batch) {
                stats.bypass_notices_ignored += notice.flows.len() as u64;
                continue;
            }
            for (key, last_seen) in notice.flows {
                if self.recent_syns.get(&key).is_some_and(|&syn_batch| syn_batch > notice.batch) {
                    stats.bypass_notices_ignored += 1;
                    continue;
                }
                if self.bypassed.len() >= self.bypassed.capacity() && !self.bypassed.contains_key(&key) {
                    stats.bypass_table_evictions += 1;
                }
                self.bypassed.insert(key, Seen { last: last_seen, forwarded: last_seen });
            }
        }
    }

    /// Packet time went back and the workers end every flow before their
    /// next batch (`next_batches`, per worker): forget the bypassed flows,
    /// and the notices still on their way.
    pub(super) fn forget_all(&mut self, next_batches: &[u64]) {
        self.last_checked = None;
        self.bypassed.clear();
        self.notices_valid_from.clear();
        self.notices_valid_from.extend_from_slice(next_batches);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Endpoint;
    use crossbeam_channel::bounded;
    use std::collections::HashMap;
    use std::net::{IpAddr, Ipv4Addr};

    /// `check` as the table alone answers it, entry changed in place.
    fn check_in_place(table: &mut HashMap<FlowKey, Seen>, key: &FlowKey, ts: i64, idle: i64) -> Verdict {
        let Some(seen) = table.get_mut(key) else { return Verdict::Inspect };
        if ts.saturating_sub(seen.last) >= idle / 2 {
            table.remove(key);
            return Verdict::Inspect;
        }
        seen.last = seen.last.max(ts);
        if ts.saturating_sub(seen.forwarded) >= idle / 4 {
            seen.forwarded = ts;
            return Verdict::Forward;
        }
        Verdict::Absorb
    }

    #[test]
    fn the_last_flow_checked_is_answered_as_the_table_would_answer_it() {
        // Runs of segments of one flow and single segments of others, SYNs,
        // notices that bypass flows again and quiet spells longer than half
        // the idle timeout, drawn at random: every verdict is the one the
        // table alone gives.
        let limits = FlowLimits::default();
        let idle = limits.idle_timeout_micros;
        let (notice_tx, notice_rx) = bounded(4);
        let mut bypass = ReaderBypass::new(1, notice_rx, &limits, 1 << 20);
        let mut model: HashMap<FlowKey, Seen> = HashMap::new();
        let keys: Vec<FlowKey> = (0..4u8)
            .map(|i| {
                let client = Endpoint { ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, i + 1)), port: 40_000 };
                let server = Endpoint { ip: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)), port: 443 };
                FlowKey::new(client, server, None)
            })
            .collect();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        let mut stats = ReaderStats::default();
        let (mut ts, mut batch, mut key) = (0i64, 0u64, 0usize);
        let mut verdicts = [0usize; 3];
        for _ in 0..20_000 {
            // Mostly a step of up to a sixteenth of the timeout, now and
            // then one past half of it.
            ts += if next(50) == 0 { idle / 2 + 1 } else { next(idle as u64 / 16) as i64 };
            if next(4) == 0 {
                key = next(keys.len() as u64) as usize;
            }
            let k = keys[key];
            match next(40) {
                0 => {
                    bypass.on_syn(k, batch);
                    model.remove(&k);
                }
                1 => {
                    batch += 1;
                    notice_tx.send(BypassNotice::new(0, batch, vec![(k, ts)])).expect("room for a notice");
                    bypass.learn(&mut stats);
                    model.insert(k, Seen { last: ts, forwarded: ts });
                }
                _ => {
                    let verdict = bypass.check(&k, ts);
                    assert_eq!(verdict, check_in_place(&mut model, &k, ts, idle), "flow {key} at {ts}");
                    verdicts[verdict as usize] += 1;
                }
            }
            if next(8) == 0 {
                // What the table holds, once brought up to date, is the model's.
                bypass.settle();
                let held = |k: &FlowKey| bypass.bypassed.peek(k).map(|s| (s.last, s.forwarded));
                assert!(keys.iter().all(|k| held(k) == model.get(k).map(|s| (s.last, s.forwarded))), "at {ts}");
            }
        }
        assert!(verdicts.iter().all(|&n| n > 100), "each verdict given often: {verdicts:?}");
    }
}
