//! Dispatch: the reader's side of the worker queues. Each TCP segment goes
//! to the worker that owns its flow (by the symmetric 5-tuple hash), copied
//! into that worker's pending batch; a batch is sent when full, at every
//! clock tick, and at the end. Batches come back through a pool to be
//! filled again, so that dispatching allocates nothing. A capture ring's
//! reader has one worker of its own instead, run in its thread: its batch
//! is handed over in place, with no queue between them.

use std::time::Duration;

use crossbeam_channel::{Receiver, SendTimeoutError, Sender};

use super::bypass::{ReaderBypass, Verdict};
use crate::decode::tunnel::Tunnel;
use crate::decode::{tcp_flags, Segment, Transport, TransportSegment};
use crate::flow::FlowKey;
use crate::stats::{ReaderStats, WorkerStats};

/// A worker run in the reader's own thread.
pub(super) trait InlineWorker {
    /// Processes a batch (its segments stay in the batch).
    fn take(&mut self, batch: &Batch);
    /// Ends every flow; the worker's counters.
    fn finish(self: Box<Self>) -> WorkerStats;
    /// A capture file that stands alone begins: its sessions are of it.
    fn begin_file(&mut self, file: usize);
    /// The capture file ends: every flow is ended and its sessions sent.
    fn end_file(&mut self);
}

/// Where the reader's batches go.
pub(super) enum Workers {
    /// Worker threads, each fed through its queue.
    Queues(Vec<Sender<Batch>>),
    /// One worker in the reader's thread (a capture ring's).
    Inline(Box<dyn InlineWorker>),
}

impl Workers {
    fn count(&self) -> usize {
        match self {
            Workers::Queues(q) => q.len(),
            Workers::Inline(_) => 1,
        }
    }
}

/// How long a live reader waits for a worker whose queue is full before it
/// drops the batch (counted in `dropped_by_analyzer`). A busy worker takes
/// its next batch within a few milliseconds (a batch is at most 256
/// segments), so a burst waits in the kernel's ring, which is sized for it,
/// instead of being dropped here; a worker that takes nothing for this long
/// has stopped, and the reader goes on reading (its clock, its status
/// lines, the stop request) without it.
pub(super) const LIVE_FULL_QUEUE_WAIT: Duration = Duration::from_millis(100);

/// Segments per batch before it is sent to its worker.
pub(super) const BATCH_SEGMENTS: usize = 256;
/// Payload bytes per batch before it is sent.
const BATCH_BYTES: usize = 256 * 1024;

/// Where a batched segment's payload is in the batch's buffer.
#[derive(Debug, Clone, Copy)]
pub(super) struct PayloadSpan {
    start: usize,
    len: usize,
}

impl Batch {
    /// The segments with their payloads, in the order they came, each with
    /// the tunnel it arrived in.
    pub(super) fn segments(&self) -> impl Iterator<Item = (Segment<'_>, Option<Tunnel>)> {
        let mut tunnels = self.tunnels.iter().peekable();
        self.segments.iter().enumerate().map(move |(i, s)| {
            let tunnel = tunnels.next_if(|(at, _)| *at as usize == i).map(|(_, t)| *t);
            (s.with_payload(&self.data[s.payload.start..s.payload.start + s.payload.len]), tunnel)
        })
    }

    /// Empties the batch for reuse, keeping its memory.
    pub(super) fn clear(&mut self) {
        self.segments.clear();
        self.tunnels.clear();
        self.data.clear();
    }
}

/// Segments for one worker, with their payloads in one buffer, and the
/// reader's packet clock.
#[derive(Default)]
pub(super) struct Batch {
    /// The batch's place in its worker's sequence.
    pub number: u64,
    pub now: i64,
    /// Packet time went back by more than the idle timeout (the next file
    /// is older than the last one): end every flow before these segments.
    pub clock_reset: bool,
    /// The capture file the segments came from (its index among the
    /// inputs); None for a live capture.
    pub file: Option<u16>,
    /// A capture file read apart (`--independent-files` with one worker
    /// thread): its index among the inputs, which the worker tags the
    /// file's sessions with.
    pub apart_file: Option<usize>,
    /// The file read apart has no segment after these: the worker ends its
    /// flows once it has taken them, and says the file is done.
    pub ends_file: bool,
    segments: Vec<TransportSegment<PayloadSpan>>,
    /// The tunnels of the segments that came in one, by index: most
    /// traffic comes in none, and then this costs nothing.
    tunnels: Vec<(u32, Tunnel)>,
    data: Vec<u8>,
}

impl Batch {
    /// An empty batch with room for a full one (a typical frame past the
    /// byte limit included), so that filling it never reallocates.
    fn with_capacity() -> Batch {
        Batch {
            segments: Vec::with_capacity(BATCH_SEGMENTS),
            data: Vec::with_capacity(BATCH_BYTES + 2048),
            ..Batch::default()
        }
    }
}

/// The reader's side of the worker queues.
pub(super) struct Dispatcher {
    workers: Workers,
    /// Flows whose payload is not copied any more (`bypass`).
    bypass: ReaderBypass,
    /// Batches handed to each worker so far (the number of its pending batch).
    batches_sent: Vec<u64>,
    pending: Vec<Batch>,
    pool: Receiver<Batch>,
    /// Live capture: how long to wait for a worker whose queue is full
    /// before dropping the batch; None (files): as long as it takes.
    full_queue_wait: Option<Duration>,
    /// The reader's packet clock: the latest packet time seen.
    pub now: i64,
    /// The capture file being read (index among the inputs); None live.
    file: Option<u16>,
    /// The capture file being read when files are read apart.
    apart_file: Option<usize>,
    /// The next batch sent ends the file read apart.
    ending_file: bool,
}

impl Dispatcher {
    /// A dispatcher to `workers`, taking emptied batches back from `pool`;
    /// `full_queue_wait` is set for live capture (see the field).
    pub(super) fn new(
        workers: Workers,
        pool: Receiver<Batch>,
        bypass: ReaderBypass,
        full_queue_wait: Option<Duration>,
    ) -> Dispatcher {
        let n = workers.count();
        Dispatcher {
            workers,
            bypass,
            batches_sent: vec![0; n],
            pending: (0..n).map(|_| Batch::with_capacity()).collect(),
            pool,
            full_queue_wait,
            now: 0,
            // Reading files, the first is file 0.
            file: full_queue_wait.is_none().then_some(0),
            apart_file: None,
            ending_file: false,
        }
    }

    pub(super) fn push(&mut self, seg: &Segment<'_>, tunnel: Option<Tunnel>, stats: &mut ReaderStats) {
        let key = FlowKey::of(seg);
        let w = key.owner(self.workers.count());
        let mut skip_payload = false;
        if seg.transport == Transport::Udp {
            // Only handshake datagrams come this far: never skipped.
        } else if seg.flags & tcp_flags::SYN != 0 {
            self.bypass.on_syn(key, self.batches_sent[w]);
        } else {
            match self.bypass.check(&key, seg.ts) {
                Verdict::Inspect => {}
                Verdict::Forward => skip_payload = !seg.payload.is_empty(),
                Verdict::Absorb => {
                    stats.payload_bytes_not_copied += seg.payload.len() as u64;
                    stats.bypassed_packets_absorbed += 1;
                    stats.bypassed_bytes_absorbed += seg.payload.len() as u64 + u64::from(seg.missing);
                    return;
                }
            }
        }
        let batch = &mut self.pending[w];
        let start = batch.data.len();
        let mut batched = seg.with_payload(PayloadSpan { start, len: 0 });
        if skip_payload {
            stats.payload_bytes_not_copied += seg.payload.len() as u64;
            batched.missing = seg.missing.saturating_add(seg.payload.len() as u32);
        } else {
            batch.data.extend_from_slice(seg.payload);
            batched.payload.len = seg.payload.len();
        }
        if let Some(t) = tunnel {
            batch.tunnels.push((batch.segments.len() as u32, t));
        }
        batch.segments.push(batched);
        if batch.segments.len() >= BATCH_SEGMENTS || batch.data.len() >= BATCH_BYTES {
            self.send(w, stats);
        }
    }

    fn send(&mut self, w: usize, stats: &mut ReaderStats) {
        self.bypass.learn(stats);
        let queues = match &mut self.workers {
            Workers::Queues(queues) => queues,
            Workers::Inline(worker) => {
                let batch = &mut self.pending[w];
                batch.now = self.now;
                batch.file = self.file;
                batch.number = self.batches_sent[w];
                self.batches_sent[w] += 1;
                worker.take(batch);
                batch.clear();
                batch.clock_reset = false;
                return;
            }
        };
        let mut fresh = self.pool.try_recv().unwrap_or_else(|_| Batch::with_capacity());
        fresh.clock_reset = false;
        let mut batch = std::mem::replace(&mut self.pending[w], fresh);
        batch.now = self.now;
        batch.file = self.file;
        batch.apart_file = self.apart_file;
        batch.ends_file = std::mem::take(&mut self.ending_file);
        batch.number = self.batches_sent[w];
        self.batches_sent[w] += 1;
        if let Some(wait) = self.full_queue_wait {
            match queues[w].send_timeout(batch, wait) {
                Ok(()) => {}
                Err(SendTimeoutError::Timeout(b)) => stats.dropped_by_analyzer += b.segments.len() as u64,
                Err(SendTimeoutError::Disconnected(_)) => {}
            }
        } else {
            let _ = queues[w].send(batch);
        }
    }

    /// The next capture file begins: what is pending goes out first, so
    /// that a batch holds the segments of one file.
    pub(super) fn next_file(&mut self, stats: &mut ReaderStats) {
        self.flush_all(stats);
        self.file = Some(self.file.map_or(0, |f| f.saturating_add(1)));
    }

    /// A capture file that stands alone begins: what is pending goes out,
    /// the workers end every flow before this file's segments, the clock is
    /// unset until its first packet, and the batches carry its index.
    pub(super) fn start_separate_file(&mut self, index: usize, stats: &mut ReaderStats) {
        self.reset_clock(0, stats);
        self.file = Some(u16::try_from(index).unwrap_or(u16::MAX));
        self.apart_file = Some(index);
        if let Workers::Inline(worker) = &mut self.workers {
            worker.begin_file(index);
        }
    }

    /// A capture file that stands alone has been read (what was pending is
    /// sent, `Reader::end_separate_file`): the worker ends its flows and
    /// says the file is done, an inline one at once, a worker thread once
    /// it takes one more (empty) batch. With worker threads, only one: the
    /// output takes the file as done when a worker says so.
    pub(super) fn end_separate_file(&mut self, stats: &mut ReaderStats) {
        match &mut self.workers {
            Workers::Inline(worker) => worker.end_file(),
            Workers::Queues(queues) => {
                debug_assert_eq!(queues.len(), 1, "files read apart through one worker thread");
                self.ending_file = true;
                self.send(0, stats);
            }
        }
    }

    /// Sends every pending batch (even empty ones, as clock ticks).
    pub(super) fn flush_all(&mut self, stats: &mut ReaderStats) {
        for w in 0..self.workers.count() {
            self.send(w, stats);
        }
    }

    /// Packet time went back to `ts`: every pending batch is sent, and the
    /// workers end every flow before the next ones.
    pub(super) fn reset_clock(&mut self, ts: i64, stats: &mut ReaderStats) {
        self.flush_all(stats);
        self.now = ts;
        for batch in &mut self.pending {
            batch.clock_reset = true;
        }
        self.bypass.forget_all(&self.batches_sent);
    }

    /// Sends what is pending and hangs up; an inline worker's counters,
    /// once it has ended its flows.
    pub(super) fn finish(mut self, stats: &mut ReaderStats) -> Option<WorkerStats> {
        self.flush_all(stats);
        match self.workers {
            Workers::Queues(_) => None,
            Workers::Inline(worker) => Some(worker.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Endpoint;
    use crate::flow::FlowLimits;
    use crossbeam_channel::bounded;
    use std::net::{IpAddr, Ipv4Addr};

    /// A dispatcher for one worker whose queue holds `queue` batches.
    fn dispatcher(queue: usize, full_queue_wait: Option<Duration>) -> (Dispatcher, Receiver<Batch>) {
        let (tx, rx) = bounded::<Batch>(queue);
        let (_pool_tx, pool_rx) = bounded::<Batch>(1);
        let (_notice_tx, notice_rx) = bounded(1);
        let bypass = ReaderBypass::new(1, notice_rx, &FlowLimits::default(), 1 << 20);
        (Dispatcher::new(Workers::Queues(vec![tx]), pool_rx, bypass, full_queue_wait), rx)
    }

    /// Pushes `batches` full batches of one connection's 100-byte segments.
    fn push_full_batches(d: &mut Dispatcher, batches: u32, stats: &mut ReaderStats) {
        let payload = [0x17u8; 100];
        for i in 0..batches * BATCH_SEGMENTS as u32 {
            d.push(&segment(&payload, i * 100), None, stats);
        }
    }

    fn segment(payload: &[u8], seq: u32) -> Segment<'_> {
        TransportSegment {
            ts: 0,
            src: Endpoint { ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), port: 40000 },
            dst: Endpoint { ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), port: 443 },
            vlan: None,
            transport: Transport::Tcp,
            seq,
            ack: 1,
            flags: tcp_flags::ACK,
            payload,
            missing: 0,
        }
    }

    #[test]
    fn live_reader_drops_and_counts_batches_a_stopped_worker_does_not_take() {
        let (mut d, rx) = dispatcher(1, Some(Duration::from_millis(5)));
        let mut stats = ReaderStats::default();
        // Three full batches for a worker whose queue holds one and who
        // never reads: the first is queued, the other two are dropped once
        // the wait is over.
        push_full_batches(&mut d, 3, &mut stats);
        assert_eq!(stats.dropped_by_analyzer, 2 * BATCH_SEGMENTS as u64);
        let queued = rx.try_recv().expect("the first batch is queued");
        assert_eq!(queued.segments.len(), BATCH_SEGMENTS);
        assert!(rx.try_recv().is_err(), "dropped batches must not be queued");
        // Batch numbers go on counting the dropped ones.
        assert_eq!(d.batches_sent[0], 3);
    }

    #[test]
    fn packets_of_bypassed_flows_are_counted_here_but_for_a_keepalive_each_quarter_timeout() {
        use super::super::bypass::BypassNotice;
        let (tx, rx) = bounded::<Batch>(64);
        let (_pool_tx, pool_rx) = bounded::<Batch>(1);
        let (notice_tx, notice_rx) = bounded(4);
        let limits = FlowLimits::default();
        let idle = limits.idle_timeout_micros;
        let mut d = Dispatcher::new(Workers::Queues(vec![tx]), pool_rx, ReaderBypass::new(1, notice_rx, &limits, 1 << 20), None);
        let mut stats = ReaderStats::default();
        let payload = [0x17u8; 100];
        let at = |i: u32, flags: u8| TransportSegment { ts: i64::from(i) * idle / 8, flags, ..segment(&payload, i * 100) };
        // The worker says the connection is bypassed (its last packet at 0);
        // the reader learns it when it next sends a batch.
        notice_tx.send(BypassNotice::new(0, 0, vec![(FlowKey::of(&at(0, tcp_flags::ACK)), 0)])).unwrap();
        d.flush_all(&mut stats);
        // Eight packets an eighth of the idle timeout apart: every second
        // one goes on (a quarter timeout after the last that did), without
        // its payload; the others stay here, counted.
        for i in 1..=8 {
            d.push(&at(i, tcp_flags::ACK), None, &mut stats);
        }
        d.flush_all(&mut stats);
        let sent: Vec<(u32, u32, usize)> =
            rx.try_iter().flat_map(|b| b.segments().map(|(s, _)| (s.seq, s.missing, s.payload.len())).collect::<Vec<_>>()).collect();
        assert_eq!(sent, [(200, 100, 0), (400, 100, 0), (600, 100, 0), (800, 100, 0)]);
        assert_eq!((stats.bypassed_packets_absorbed, stats.bypassed_bytes_absorbed), (4, 400));
        assert_eq!(stats.payload_bytes_not_copied, 800);
        // A SYN on the 5-tuple is a new connection: it and what follows go
        // to the worker whole.
        d.push(&at(9, tcp_flags::SYN), None, &mut stats);
        d.push(&at(10, tcp_flags::ACK), None, &mut stats);
        d.flush_all(&mut stats);
        let sent: Vec<(u32, usize)> = rx.try_iter().flat_map(|b| b.segments().map(|(s, _)| (s.seq, s.payload.len())).collect::<Vec<_>>()).collect();
        assert_eq!(sent, [(900, 100), (1000, 100)]);
        assert_eq!(stats.bypassed_packets_absorbed, 4);
    }

    #[test]
    fn live_reader_waits_for_a_busy_worker_instead_of_dropping() {
        // A worker that takes a batch every 20 ms, slower than the reader
        // fills them, but never stopped for the whole wait: nothing dropped
        // (a burst waits in the kernel's ring, not lost here).
        let (mut d, rx) = dispatcher(1, Some(LIVE_FULL_QUEUE_WAIT));
        let worker = std::thread::spawn(move || {
            let mut taken = 0;
            while let Ok(b) = rx.recv() {
                std::thread::sleep(Duration::from_millis(20));
                taken += b.segments.len();
            }
            taken
        });
        let mut stats = ReaderStats::default();
        push_full_batches(&mut d, 6, &mut stats);
        drop(d);
        assert_eq!(worker.join().unwrap(), 6 * BATCH_SEGMENTS);
        assert_eq!(stats.dropped_by_analyzer, 0);
    }

    #[test]
    fn file_reader_waits_instead_of_dropping() {
        let (mut d, rx) = dispatcher(1, None);
        let reader = std::thread::spawn(move || rx.iter().map(|b| b.segments.len()).sum::<usize>());
        let mut stats = ReaderStats::default();
        push_full_batches(&mut d, 3, &mut stats);
        drop(d);
        assert_eq!(reader.join().unwrap(), 3 * BATCH_SEGMENTS);
        assert_eq!(stats.dropped_by_analyzer, 0);
    }
}
