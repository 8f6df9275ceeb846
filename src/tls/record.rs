//! The TLS record layer for one direction of a TCP stream.
//!
//! Finds where TLS starts (by its bytes, on any port, also after a STARTTLS
//! exchange or a proxy handshake), frames records across TCP segments,
//! reassembles handshake messages across records (and splits several messages
//! out of one record), and hands each message, alert and record kind to a
//! callback. After a gap in the stream it searches for the next record header.
//! Every buffer is capped: a record is at most 5 + 18,432 bytes, a handshake
//! message at most `max_handshake` bytes (larger ones are skipped and reported).

use super::detect::{
    content, looks_like_hello_inside, looks_like_tls_start, resync_point, sslv2_record, valid_header,
};
use crate::memory::vec_bytes;

/// Non-TLS chunks a direction may carry before TLS starts (STARTTLS, proxies).
const DETECT_MAX_CHUNKS: u32 = 32;
/// Non-TLS bytes a direction may carry before TLS starts.
const DETECT_MAX_BYTES: usize = 64 * 1024;
use super::preamble::{UpgradeWords, PREAMBLE_KEEP};
use super::wrapped::{self, TdsUnwrap};
use crate::cleartext::Follow;


/// What the record layer reports.
#[derive(Debug)]
pub enum RecordEvent<'a> {
    Handshake { msg_type: u8, body: &'a [u8] },
    /// A handshake message over the size cap; its bytes are skipped.
    HandshakeTooLarge { msg_type: u8, len: usize },
    ChangeCipherSpec,
    Alert { level: u8, description: u8 },
    /// An alert after the keys changed: its content is encrypted.
    EncryptedAlert,
    /// An application_data record (in TLS 1.3 also encrypted handshake messages).
    ApplicationData,
    /// A handshake record after ChangeCipherSpec (the encrypted Finished).
    EncryptedHandshake,
    Heartbeat,
    /// An SSLv2-format ClientHello, from the message type byte on.
    SslV2ClientHello(&'a [u8]),
    SslV2ServerHello,
}

/// What the consumer tells the record layer after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// TLS 1.3 was negotiated: ChangeCipherSpec no longer switches to encrypted
    /// handshake records (it is only a compatibility message).
    Tls13,
    /// This ChangeCipherSpec does not switch the direction to encrypted
    /// records (a TLS 1.3 compatibility message sent before the version is known).
    StayClear,
    /// Stop parsing this direction.
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseState {
    /// Looking for the first TLS record.
    Detect,
    /// Collecting an SSLv2 record of this total length (header included).
    SslV2 { total: usize },
    Records,
    /// Lost alignment after a gap or a bad header: looking for the next record.
    Resync,
    /// The start of the stream was lost before any TLS was seen: looking for
    /// a first record header; the stream is not TLS until one is found.
    Hunt,
    NotTls,
    Stopped,
}

/// Counters the record layer reports to its owner.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecordCounters {
    pub resyncs: u64,
    pub bad_records: u64,
    pub handshake_cap_hits: u64,
}

#[derive(Debug)]
pub struct RecordStream {
    mode: ParseState,
    partial: Vec<u8>,
    handshake: Vec<u8>,
    skip_handshake: usize,
    encrypted: bool,
    pub tls13: bool,
    detect_chunks: u32,
    /// Chunks and bytes searched for a first record after a lost start.
    hunted_chunks: u32,
    hunted_bytes: usize,
    detect_bytes: usize,
    /// First bytes sent in clear before TLS started (to name STARTTLS protocols).
    pub preamble: Vec<u8>,
    /// Whether the clear text named the upgrade (STARTTLS, STLS, ...).
    pub upgrade_words: UpgradeWords,
    /// The walk over a framed protocol's messages in clear (DICOM, SMB),
    /// past the kept bytes; only for streams that start as one.
    pub follow: Option<Box<Follow>>,
    /// The handshake comes inside TDS packets (MS-SQL): their headers are
    /// taken out before the records are read.
    tds: Option<TdsUnwrap>,
    pub bytes_seen: usize,
    max_handshake: usize,
    pub counters: RecordCounters,
}

impl RecordStream {
    pub fn new(max_handshake: usize) -> Self {
        RecordStream {
            mode: ParseState::Detect,
            partial: Vec::new(),
            handshake: Vec::new(),
            skip_handshake: 0,
            encrypted: false,
            tls13: false,
            detect_chunks: 0,
            hunted_chunks: 0,
            hunted_bytes: 0,
            detect_bytes: 0,
            preamble: Vec::new(),
            upgrade_words: UpgradeWords::default(),
            follow: None,
            tds: None,
            bytes_seen: 0,
            max_handshake,
            counters: RecordCounters::default(),
        }
    }

    pub fn mode(&self) -> ParseState {
        self.mode
    }

    /// Whether TLS was found in this direction.
    pub fn found_tls(&self) -> bool {
        matches!(self.mode, ParseState::Records | ParseState::Resync | ParseState::Stopped | ParseState::SslV2 { .. })
    }

    /// Whether non-TLS bytes came before TLS in this direction.
    pub fn had_preamble(&self) -> bool {
        self.detect_chunks > 0
    }

    /// Heap memory held by the buffers, for the flow table's memory account.
    pub fn heap_bytes(&self) -> usize {
        let follow = if self.follow.is_some() { std::mem::size_of::<Follow>() } else { 0 };
        vec_bytes(&self.partial) + vec_bytes(&self.handshake) + vec_bytes(&self.preamble) + follow
    }

    /// Frees buffers once the direction is no longer parsed.
    pub fn stop(&mut self) {
        if self.mode != ParseState::NotTls {
            self.mode = ParseState::Stopped;
        }
        self.partial = Vec::new();
        self.handshake = Vec::new();
    }

    /// Bytes of the stream were lost.
    pub fn gap(&mut self) {
        if let Some(follow) = self.follow.as_mut() {
            follow.lose();
        }
        self.partial.clear();
        self.handshake.clear();
        self.skip_handshake = 0;
        match self.mode {
            ParseState::Records | ParseState::SslV2 { .. } => {
                self.counters.resyncs += 1;
                self.mode = ParseState::Resync;
            }
            // The start of the stream was lost: what follows is not a
            // clear-text preamble but the middle of something; look for the
            // next record header.
            ParseState::Detect => self.mode = ParseState::Hunt,
            _ => {}
        }
    }

    /// Takes the next chunk of the stream (chunks start at TCP segment boundaries).
    pub fn feed(&mut self, chunk: &[u8], on_event: &mut dyn FnMut(RecordEvent<'_>) -> Control) {
        self.bytes_seen += chunk.len();
        match self.mode {
            ParseState::NotTls | ParseState::Stopped => {}
            ParseState::Detect => self.detect(chunk, on_event),
            ParseState::Resync | ParseState::Hunt if resync_point(chunk) => {
                self.mode = ParseState::Records;
                self.records(chunk, on_event);
            }
            ParseState::Resync => {}
            ParseState::Hunt => {
                self.hunted_chunks += 1;
                self.hunted_bytes += chunk.len();
                if self.hunted_chunks >= DETECT_MAX_CHUNKS || self.hunted_bytes >= DETECT_MAX_BYTES {
                    self.mode = ParseState::NotTls;
                }
            }
            ParseState::SslV2 { total } => self.sslv2(total, chunk, on_event),
            ParseState::Records if self.tds.is_some() => self.unwrapped_records(chunk, on_event),
            ParseState::Records => self.records(chunk, on_event),
        }
    }

    fn detect(&mut self, chunk: &[u8], on_event: &mut dyn FnMut(RecordEvent<'_>) -> Control) {
        // Judge on at least 6 bytes, even when segments are tiny.
        let mut joined;
        let head: &[u8] = if self.partial.is_empty() {
            chunk
        } else {
            joined = std::mem::take(&mut self.partial);
            joined.extend_from_slice(chunk);
            &joined
        };
        if head.len() < 6 {
            self.partial = head.to_vec();
            return;
        }
        if looks_like_tls_start(head) {
            self.mode = ParseState::Records;
            let bytes = head.to_vec();
            self.records(&bytes, on_event);
            return;
        }
        // TLS may start inside the chunk, right after a short clear-text
        // answer (PostgreSQL's 'S', an SMTP "220 ready" in the same segment).
        // Only offsets holding the handshake content type can start one:
        // memchr finds them at memory speed in a bulk transfer.
        let scanned = head.get(1..head.len().saturating_sub(9)).unwrap_or_default();
        let hello_at = memchr::memchr_iter(content::HANDSHAKE, scanned).map(|i| i + 1).find(|&i| looks_like_hello_inside(&head[i..]));
        if let Some(at) = hello_at {
            self.keep_preamble(&head[..at]);
            self.detect_chunks += 1;
            self.mode = ParseState::Records;
            let bytes = head[at..].to_vec();
            // A TDS PRELOGIN header right before the hello: MS-SQL wraps the handshake.
            if let Some(left) = at.checked_sub(8).and_then(|h| wrapped::tds_prelogin_before(&head[h..at])) {
                self.tds = Some(TdsUnwrap::within_packet(left));
                return self.unwrapped_records(&bytes, on_event);
            }
            self.records(&bytes, on_event);
            return;
        }
        if let Some((total, _)) = sslv2_record(head) {
            self.mode = ParseState::SslV2 { total };
            let bytes = head.to_vec();
            self.sslv2(total, &bytes, on_event);
            return;
        }
        self.keep_preamble(head);
        self.detect_chunks += 1;
        self.detect_bytes += head.len();
        if self.detect_chunks >= DETECT_MAX_CHUNKS || self.detect_bytes >= DETECT_MAX_BYTES {
            self.mode = ParseState::NotTls;
        }
    }

    /// Records read from a chunk once the TDS headers are out of it.
    fn unwrapped_records(&mut self, chunk: &[u8], on_event: &mut dyn FnMut(RecordEvent<'_>) -> Control) {
        let Some(tds) = self.tds.as_mut() else { return self.records(chunk, on_event) };
        let mut bare = Vec::with_capacity(chunk.len());
        tds.unwrap(chunk, &mut bare);
        if tds.done {
            self.tds = None;
        }
        self.records(&bare, on_event);
    }

    fn keep_preamble(&mut self, bytes: &[u8]) {
        if self.preamble.is_empty() && self.follow.is_none() {
            self.follow = Follow::start(bytes).map(Box::new);
        }
        if let Some(follow) = self.follow.as_mut() {
            follow.feed(bytes);
        }
        self.upgrade_words.feed(bytes);
        if self.preamble.len() < PREAMBLE_KEEP {
            let take = (PREAMBLE_KEEP - self.preamble.len()).min(bytes.len());
            if self.preamble.capacity() == 0 && take < PREAMBLE_KEEP {
                // More is likely to come: room for all that is kept, at once.
                self.preamble.reserve_exact(PREAMBLE_KEEP);
            }
            self.preamble.extend_from_slice(&bytes[..take]);
        }
    }

    fn sslv2(&mut self, total: usize, chunk: &[u8], on_event: &mut dyn FnMut(RecordEvent<'_>) -> Control) {
        let need = total - self.partial.len();
        let take = need.min(chunk.len());
        self.partial.extend_from_slice(&chunk[..take]);
        if self.partial.len() < total {
            return;
        }
        let record = std::mem::take(&mut self.partial);
        self.mode = ParseState::Records;
        let control = if record[2] == 1 {
            on_event(RecordEvent::SslV2ClientHello(&record[2..]))
        } else {
            on_event(RecordEvent::SslV2ServerHello)
        };
        self.apply(control);
        if self.mode == ParseState::Records && take < chunk.len() {
            self.records(&chunk[take..], on_event);
        }
    }

    fn apply(&mut self, control: Control) {
        match control {
            Control::Continue => {}
            Control::Tls13 => self.tls13 = true,
            Control::StayClear => {}
            Control::Stop => self.stop(),
        }
    }

    fn records(&mut self, mut data: &[u8], on_event: &mut dyn FnMut(RecordEvent<'_>) -> Control) {
        loop {
            if self.mode != ParseState::Records {
                return;
            }
            if !self.partial.is_empty() {
                if self.partial.len() < 5 {
                    let take = (5 - self.partial.len()).min(data.len());
                    self.partial.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.partial.len() < 5 {
                        return;
                    }
                }
                let Some((_, len)) = valid_header(&self.partial) else {
                    self.bad_record();
                    return;
                };
                let take = (5 + len - self.partial.len()).min(data.len());
                reserve_record(&mut self.partial, 5 + len, take);
                self.partial.extend_from_slice(&data[..take]);
                data = &data[take..];
                if self.partial.len() < 5 + len {
                    return;
                }
                let mut record = std::mem::take(&mut self.partial);
                self.record(&record, on_event);
                record.clear();
                if self.partial.is_empty() && self.mode == ParseState::Records {
                    self.partial = record; // keep the allocation
                }
                continue;
            }
            if data.is_empty() {
                return;
            }
            if data.len() < 5 {
                self.partial.extend_from_slice(data);
                return;
            }
            let Some((_, len)) = valid_header(data) else {
                self.bad_record();
                return;
            };
            if data.len() < 5 + len {
                reserve_record(&mut self.partial, 5 + len, data.len());
                self.partial.extend_from_slice(data);
                return;
            }
            self.record(&data[..5 + len], on_event);
            data = &data[5 + len..];
        }
    }

    fn bad_record(&mut self) {
        self.counters.bad_records += 1;
        self.counters.resyncs += 1;
        self.partial.clear();
        self.handshake.clear();
        self.skip_handshake = 0;
        self.mode = ParseState::Resync;
    }

    /// One whole record, header included.
    fn record(&mut self, record: &[u8], on_event: &mut dyn FnMut(RecordEvent<'_>) -> Control) {
        let body = &record[5..];
        let control = match record[0] {
            content::CHANGE_CIPHER_SPEC => {
                let c = on_event(RecordEvent::ChangeCipherSpec);
                if !self.tls13 && !matches!(c, Control::Tls13 | Control::StayClear) {
                    self.encrypted = true;
                }
                c
            }
            content::ALERT if !self.encrypted && body.len() == 2 => {
                on_event(RecordEvent::Alert { level: body[0], description: body[1] })
            }
            content::ALERT => on_event(RecordEvent::EncryptedAlert),
            content::HANDSHAKE if self.encrypted => on_event(RecordEvent::EncryptedHandshake),
            content::HANDSHAKE => {
                self.handshake_bytes(body, on_event);
                Control::Continue
            }
            content::APPLICATION_DATA => on_event(RecordEvent::ApplicationData),
            _ => on_event(RecordEvent::Heartbeat),
        };
        self.apply(control);
    }

    fn handshake_bytes(&mut self, mut data: &[u8], on_event: &mut dyn FnMut(RecordEvent<'_>) -> Control) {
        if self.skip_handshake > 0 {
            let n = self.skip_handshake.min(data.len());
            self.skip_handshake -= n;
            data = &data[n..];
        }
        if self.handshake.is_empty() {
            let used = self.messages(data, on_event);
            if self.mode == ParseState::Records {
                let rest = &data[used.min(data.len())..];
                reserve_message(&mut self.handshake, rest, self.max_handshake);
                self.handshake.extend_from_slice(rest);
            }
        } else {
            let mut buf = std::mem::take(&mut self.handshake);
            reserve_message(&mut buf, data, self.max_handshake);
            buf.extend_from_slice(data);
            let used = self.messages(&buf, on_event);
            if self.mode == ParseState::Records {
                buf.drain(..used.min(buf.len()));
                self.handshake = buf;
            }
        }
    }

    /// Hands out every complete message in `buf`; returns the bytes used.
    fn messages(&mut self, buf: &[u8], on_event: &mut dyn FnMut(RecordEvent<'_>) -> Control) -> usize {
        let mut pos = 0;
        while buf.len() - pos >= 4 {
            let msg_type = buf[pos];
            let len = u32::from_be_bytes([0, buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
            if len > self.max_handshake {
                self.counters.handshake_cap_hits += 1;
                let control = on_event(RecordEvent::HandshakeTooLarge { msg_type, len });
                let available = buf.len() - pos - 4;
                self.skip_handshake = len.saturating_sub(available);
                pos = buf.len().min(pos + 4 + len);
                self.apply(control);
                if self.mode != ParseState::Records {
                    return pos;
                }
                continue;
            }
            if buf.len() - pos - 4 < len {
                break;
            }
            let control = on_event(RecordEvent::Handshake { msg_type, body: &buf[pos + 4..pos + 4 + len] });
            pos += 4 + len;
            self.apply(control);
            if self.mode != ParseState::Records {
                return pos;
            }
        }
        pos
    }
}

/// Makes room in `partial` for the whole record of `total` bytes when the
/// bytes it holds with the `arriving` ones are a quarter of it or more: a
/// record spread over segments is then not moved at each one, and a header
/// alone (as a flood sends) does not claim the room of its record.
fn reserve_record(partial: &mut Vec<u8>, total: usize, arriving: usize) {
    let held = partial.len() + arriving;
    if held < total && held * 4 >= total {
        partial.reserve_exact(total - partial.len());
    }
}

/// `reserve_record` for a handshake message spread over records, once its
/// header (its first four bytes, held or arriving) gives its length.
fn reserve_message(held: &mut Vec<u8>, arriving: &[u8], max: usize) {
    let head = if held.len() >= 4 { [held[1], held[2], held[3]] } else if held.is_empty() && arriving.len() >= 4 { [arriving[1], arriving[2], arriving[3]] } else { return };
    let total = 4 + (u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize).min(max);
    reserve_record(held, total, arriving.len());
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
