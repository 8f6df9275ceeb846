//! Records to a Redis Stream (`-o redis://host:port/stream`), as Suricata's
//! eve output does: each JSON line becomes one entry (`XADD stream MAXLEN ~
//! N * record LINE`), so that many sensors feed one place. Writing never
//! blocks the analysis: lines go into a bounded queue that a thread of its
//! own empties into Redis; while Redis is away that thread reconnects with
//! backoff and the queue holds what it can, counting what it must drop.
//! At the end the queue is given a bounded time to drain.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

/// Entries sent in one round trip.
const BATCH: usize = 256;
/// Waits between reconnection attempts: doubling from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_LAST: Duration = Duration::from_secs(5);
/// How long the end of a run waits for Redis to take what is queued,
/// unless `?wait=SECONDS` says otherwise.
const DRAIN_FOR: Duration = Duration::from_secs(15);

/// Where the records go and how much is held for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTarget {
    /// `redis://host:port/`, what the client connects to.
    pub server: String,
    pub stream: String,
    /// The stream is trimmed to about this many entries.
    pub max_len: u64,
    /// Records held while Redis is away.
    pub buffer: usize,
    /// How long the end of a run waits for Redis to take what is queued.
    pub drain: Duration,
}

impl StreamTarget {
    /// Reads `redis://host[:port]/stream[?maxlen=N&buffer=N&wait=SECONDS]`.
    pub fn parse(url: &str) -> Result<StreamTarget, String> {
        let bad = |why: &str| format!("{url}: {why} (expected redis://host:port/stream, optionally ?maxlen=N&buffer=N&wait=SECONDS)");
        let rest = url.strip_prefix("redis://").ok_or_else(|| bad("not a redis:// address"))?;
        let (address, path) = rest.split_once('/').ok_or_else(|| bad("no stream name"))?;
        let (stream, query) = path.split_once('?').unwrap_or((path, ""));
        if address.is_empty() || stream.is_empty() || stream.contains('/') {
            return Err(bad("no host or no stream name"));
        }
        let mut target = StreamTarget { server: format!("redis://{address}/"), stream: stream.to_string(), max_len: 1_000_000, buffer: 100_000, drain: DRAIN_FOR };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(|| bad("a query parameter without a value"))?;
            let n: u64 = value.parse().map_err(|_| bad("maxlen and buffer are numbers"))?;
            match key {
                "maxlen" if n > 0 => target.max_len = n,
                "buffer" if n > 0 => target.buffer = usize::try_from(n).unwrap_or(usize::MAX),
                "wait" => target.drain = Duration::from_secs(n),
                _ => return Err(bad("only maxlen and buffer (each above 0) and wait can be given")),
            }
        }
        Ok(target)
    }
}

/// What the sink did, for the end of the run.
#[derive(Debug, Default)]
pub struct SinkCounters {
    pub sent: AtomicU64,
    /// Records not sent: the queue was full while Redis was away, or Redis
    /// was still away when the run ended.
    pub dropped: AtomicU64,
    pub reconnects: AtomicU64,
    /// The run has written its last record.
    finished: AtomicBool,
}

/// The output a run writes its lines to.
pub struct StreamSink {
    queue: Option<Sender<Vec<u8>>>,
    partial: Vec<u8>,
    counters: Arc<SinkCounters>,
    sender: Option<JoinHandle<()>>,
    target: StreamTarget,
}

impl StreamSink {
    /// Starts the thread that sends; connecting waits for the first record,
    /// so a Redis that is not up yet is not an error.
    pub fn start(target: StreamTarget) -> Result<StreamSink, String> {
        let client = redis::Client::open(target.server.as_str()).map_err(|e| format!("{}: {e}", target.server))?;
        let (tx, rx) = bounded(target.buffer);
        let counters = Arc::new(SinkCounters::default());
        let (t, c) = (target.clone(), Arc::clone(&counters));
        let sender = std::thread::Builder::new()
            .name("tlsaudit-redis".into())
            .spawn(move || send_all(client, &t, rx, &c))
            .map_err(|e| format!("cannot start the Redis thread: {e}"))?;
        Ok(StreamSink { queue: Some(tx), partial: Vec::new(), counters, sender: Some(sender), target })
    }

    pub fn counters(&self) -> Arc<SinkCounters> {
        Arc::clone(&self.counters)
    }
}

impl Write for StreamSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(end) = memchr::memchr(b'\n', &self.partial) {
            let rest = self.partial.split_off(end + 1);
            let mut line = std::mem::replace(&mut self.partial, rest);
            line.pop();
            let queued = self.queue.as_ref().map(|q| q.try_send(line));
            // Full: Redis has been away longer than the buffer lasts.
            if !matches!(queued, Some(Ok(()))) && self.counters.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!(
                    "tlsaudit: warning: {}{}: {} records held and Redis still away; dropping records (counted) until it takes them",
                    self.target.server, self.target.stream, self.target.buffer
                );
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for StreamSink {
    /// Lets the queue drain (for at most DRAIN_FOR), then says what was
    /// sent and what was not.
    fn drop(&mut self) {
        self.counters.finished.store(true, Ordering::Relaxed);
        self.queue = None;
        if let Some(t) = self.sender.take() {
            let _ = t.join();
        }
        let c = &self.counters;
        eprintln!(
            "tlsaudit: {}{}: {} records sent, {} dropped, {} reconnections",
            self.target.server,
            self.target.stream,
            c.sent.load(Ordering::Relaxed),
            c.dropped.load(Ordering::Relaxed),
            c.reconnects.load(Ordering::Relaxed)
        );
    }
}

/// The sending thread: batches from the queue into XADDs, reconnecting
/// with backoff; a batch that failed is sent again whole (Redis may then
/// hold a few entries twice, never fewer).
fn send_all(client: redis::Client, target: &StreamTarget, rx: Receiver<Vec<u8>>, counters: &SinkCounters) {
    let mut connection: Option<redis::Connection> = None;
    let mut backoff = BACKOFF_FIRST;
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut closed_at: Option<Instant> = None;
    let mut warned = false;
    loop {
        if batch.is_empty() {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => batch.push(line),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
            batch.extend(rx.try_iter().take(BATCH - 1));
        }
        // The run has finished writing: from now on Redis gets `drain`.
        if closed_at.is_none() && counters.finished.load(Ordering::Relaxed) {
            closed_at = Some(Instant::now());
        }
        if connection.is_none() {
            match client.get_connection_with_timeout(Duration::from_secs(2)) {
                Ok(c) => {
                    if warned {
                        eprintln!("tlsaudit: {}: connected again", target.server);
                        counters.reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    connection = Some(c);
                    backoff = BACKOFF_FIRST;
                    warned = false;
                }
                Err(e) => {
                    if !warned {
                        eprintln!("tlsaudit: warning: {}: {e}; holding up to {} records and trying again", target.server, target.buffer);
                        warned = true;
                    }
                    if closed_at.is_some_and(|t| t.elapsed() >= target.drain) {
                        let left = batch.len() + rx.len();
                        counters.dropped.fetch_add(left as u64, Ordering::Relaxed);
                        eprintln!("tlsaudit: warning: {}: still away at the end; {left} records not sent", target.server);
                        return;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(BACKOFF_LAST);
                    continue;
                }
            }
        }
        let Some(conn) = connection.as_mut() else { continue };
        let mut pipe = redis::pipe();
        for line in &batch {
            pipe.cmd("XADD").arg(&target.stream).arg("MAXLEN").arg("~").arg(target.max_len).arg("*").arg("record").arg(line.as_slice()).ignore();
        }
        match pipe.query::<()>(conn) {
            Ok(()) => {
                counters.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
                batch.clear();
            }
            Err(e) => {
                eprintln!("tlsaudit: warning: {}: {e}; reconnecting", target.server);
                warned = true;
                connection = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_with_their_limits() {
        let t = StreamTarget::parse("redis://10.0.0.5:6380/tlsaudit?maxlen=5000&buffer=20").unwrap();
        assert_eq!(t, StreamTarget { server: "redis://10.0.0.5:6380/".into(), stream: "tlsaudit".into(), max_len: 5000, buffer: 20, drain: DRAIN_FOR });
        assert_eq!(StreamTarget::parse("redis://h/s?wait=0").unwrap().drain, Duration::ZERO);
        assert_eq!(StreamTarget::parse("redis://localhost/s").unwrap().max_len, 1_000_000);
        for bad in ["redis://host", "redis:///s", "http://h/s", "redis://h/s?maxlen=0", "redis://h/s?depth=3", "redis://h/a/b"] {
            assert!(StreamTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
