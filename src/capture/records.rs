//! The records of a capture stream, parsed in place: bytes are read from the
//! file (or the decompressor) straight into one large buffer and every
//! record is handed on as a slice of it, so a frame is copied once, by the
//! kernel, and no record is moved unless it straddles the end of the buffer.
//! Legacy pcap records are read here; a pcapng block is framed here (type
//! and length, in its section's byte order) and its contents read by
//! pcap-parser from the complete block.

use std::io::{self, Read};

use pcap_parser::pcapng::{self, Block};

use super::{CaptureError, RawPacket};

/// Largest frame accepted from a file; a larger captured length means a
/// corrupt record.
pub const MAX_FRAME: u32 = 256 * 1024;
/// The most a record header (pcap) or a packet block's header and trailer
/// (pcapng) add to a frame.
const RECORD_OVERHEAD: u32 = 64;
/// The read buffer at most: room for any record that can be a packet. A
/// pcapng block that is no packet and does not fit is skipped.
const BUFFER: usize = 1 << 20;
/// The read buffer while its records fit: it starts at FIRST_BUFFER (a
/// small input, a fuzzer's, costs a small buffer) and grows to this once
/// the stream proves larger, beyond it only for a record that needs more.
/// The kernel copies the file into it and the records are parsed from it at
/// once: small enough to stay in the core's cache, which made the kernel's
/// side of reading a tenth cheaper than with 1 MiB.
const STEADY_BUFFER: usize = 128 << 10;
const FIRST_BUFFER: usize = 64 << 10;

const PCAP_HEADER: usize = 24;
const PCAP_RECORD_HEADER: usize = 16;
const SECTION_HEADER: u32 = 0x0A0D_0D0A;

/// A window on the stream: `buf[start..end]` holds the bytes not yet taken,
/// the first of them at `offset` in the stream.
struct Window<R> {
    input: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
    eof: bool,
    /// The first read error, for the message.
    error: Option<io::Error>,
}

impl<R: Read> Window<R> {
    fn new(input: R) -> Self {
        Window { input, buf: vec![0; FIRST_BUFFER], start: 0, end: 0, offset: 0, eof: false, error: None }
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads until `n` bytes are available or the stream ends (or fails).
    /// `n` must fit the buffer.
    #[inline]
    fn want(&mut self, n: usize) -> bool {
        self.end - self.start >= n || self.fill(n)
    }

    /// `want`'s reading, when the buffer holds fewer than `n` bytes.
    #[inline(never)]
    fn fill(&mut self, n: usize) -> bool {
        while self.end - self.start < n && !self.eof {
            let len = self.buf.len();
            if n > len && len < BUFFER {
                // A record larger than the buffer: four times as large (or
                // as large as the record), so that records of growing sizes
                // cost at most two of these.
                self.buf.resize((len * 4).max(n).min(BUFFER), 0);
            } else if self.end == len && len < STEADY_BUFFER {
                // A full buffer: the stream is large, read it in larger pieces.
                self.buf.resize((len * 4).min(STEADY_BUFFER), 0);
            }
            if self.buf.len() - self.start < n {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(read) => self.end += read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(e);
                    self.eof = true;
                }
            }
        }
        self.end - self.start >= n
    }

    fn take(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Skips `n` bytes, more than the buffer holds: what is there, then
    /// reads that are thrown away. False when the stream ends first.
    fn skip(&mut self, n: u64) -> bool {
        let mut left = n;
        loop {
            let here = left.min((self.end - self.start) as u64);
            self.take(here as usize);
            left -= here;
            if left == 0 {
                return true;
            }
            self.start = 0;
            self.end = 0;
            if !self.want(1) {
                return false;
            }
        }
    }

    /// Why the stream ended before `at`: a read error, or a cut.
    fn ended(&mut self, at: u64, cut: CaptureError) -> CaptureError {
        match self.error.take() {
            Some(e) => CaptureError::Read { offset: at, detail: e.to_string() },
            None => cut,
        }
    }
}

/// Reads every packet of a capture stream and hands it to `on_packet`, which
/// returns false to stop early. Returns the number of packets read.
pub fn read_packets<R: Read>(input: R, on_packet: &mut dyn FnMut(RawPacket<'_>) -> bool) -> Result<u64, CaptureError> {
    let mut w = Window::new(input);
    w.want(PCAP_HEADER);
    let head = w.available();
    if head.is_empty() {
        return Err(w.ended(0, CaptureError::Empty));
    }
    let magic = [head[0], head.get(1).copied().unwrap_or(0), head.get(2).copied().unwrap_or(0), head.get(3).copied().unwrap_or(0)];
    match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4] | [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d] => {
            read_legacy(&mut w, on_packet)
        }
        [0x0a, 0x0d, 0x0d, 0x0a] => read_pcapng(&mut w, on_packet),
        _ if head.len() < 4 => Err(w.ended(0, CaptureError::NotACapture)),
        _ => Err(CaptureError::NotACapture),
    }
}

fn read_legacy<R: Read>(w: &mut Window<R>, on_packet: &mut dyn FnMut(RawPacket<'_>) -> bool) -> Result<u64, CaptureError> {
    if !w.want(PCAP_HEADER) {
        return Err(w.ended(0, CaptureError::TruncatedHeader));
    }
    let header = match pcap_parser::parse_pcap_header(w.available()) {
        Ok((_, h)) => h,
        Err(_) => return Err(CaptureError::NotACapture),
    };
    let big_endian = header.is_bigendian();
    let nanos = header.is_nanosecond_precision();
    let linktype = header.network.0 as u32;
    w.take(PCAP_HEADER);
    // The four words of a record header, read from one fixed-size copy.
    let words = |b: &[u8]| -> [u32; 4] {
        let mut h = [0u8; PCAP_RECORD_HEADER];
        h.copy_from_slice(&b[..PCAP_RECORD_HEADER]);
        let word = |at: usize| {
            let bytes = [h[at], h[at + 1], h[at + 2], h[at + 3]];
            if big_endian {
                u32::from_be_bytes(bytes)
            } else {
                u32::from_le_bytes(bytes)
            }
        };
        [word(0), word(4), word(8), word(12)]
    };
    let mut packets = 0u64;
    loop {
        let offset = w.offset;
        if !w.want(PCAP_RECORD_HEADER) {
            if w.available().is_empty() && w.error.is_none() {
                return Ok(packets);
            }
            return Err(w.ended(offset, CaptureError::Truncated { offset }));
        }
        let record = w.available();
        let [secs, frac, caplen, origlen] = words(record);
        if caplen > MAX_FRAME + RECORD_OVERHEAD {
            return Err(CaptureError::Oversized { offset, claimed: u64::from(caplen) });
        }
        if caplen > MAX_FRAME {
            return Err(CaptureError::Corrupt { offset, detail: "captured length over 256 KiB" });
        }
        let total = PCAP_RECORD_HEADER + caplen as usize;
        if !w.want(total) {
            return Err(w.ended(offset, CaptureError::Truncated { offset }));
        }
        let frac = if nanos { i64::from(frac) / 1000 } else { i64::from(frac) };
        let ts = i64::from(secs) * 1_000_000 + frac;
        let data = &w.available()[PCAP_RECORD_HEADER..total];
        packets += 1;
        if !on_packet(RawPacket { ts, linktype, data, orig_len: origlen }) {
            return Ok(packets);
        }
        w.take(total);
    }
}

struct Interface {
    linktype: u32,
    /// Timestamp units per second.
    resolution: u64,
    offset_secs: i64,
}

fn read_pcapng<R: Read>(w: &mut Window<R>, on_packet: &mut dyn FnMut(RawPacket<'_>) -> bool) -> Result<u64, CaptureError> {
    let mut big_endian = false;
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut last_ts = 0i64;
    let mut packets = 0u64;
    let mut first = true;
    loop {
        let offset = w.offset;
        // Type, length and (in a section header) the byte-order magic.
        if !w.want(12) {
            if w.available().is_empty() && w.error.is_none() && !first {
                return Ok(packets);
            }
            let cut = if first { CaptureError::TruncatedHeader } else { CaptureError::Truncated { offset } };
            return Err(w.ended(offset, cut));
        }
        let head = w.available();
        let block_type = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if block_type == SECTION_HEADER {
            match head.get(8..12) {
                Some([0x4d, 0x3c, 0x2b, 0x1a]) => big_endian = false,
                Some([0x1a, 0x2b, 0x3c, 0x4d]) => big_endian = true,
                _ if first => return Err(CaptureError::NotACapture),
                _ => return Err(CaptureError::Corrupt { offset, detail: "section header with an unknown byte order" }),
            }
        }
        let order = |at: usize| {
            let b = [head[at], head[at + 1], head[at + 2], head[at + 3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let block_type = order(0);
        let length = order(4);
        if length < 12 || length % 4 != 0 {
            return Err(CaptureError::Corrupt { offset, detail: "malformed record" });
        }
        let is_packet = matches!(block_type, 2 | 3 | 6);
        if is_packet && length > MAX_FRAME + RECORD_OVERHEAD {
            return Err(CaptureError::Oversized { offset, claimed: u64::from(length) });
        }
        if length as usize > BUFFER {
            // A block too large to hold that no packet is in: over it.
            if !w.skip(u64::from(length)) {
                return Err(w.ended(offset, CaptureError::Truncated { offset }));
            }
            continue;
        }
        if !w.want(length as usize) {
            let cut = if first { CaptureError::TruncatedHeader } else { CaptureError::Truncated { offset } };
            return Err(w.ended(offset, cut));
        }
        first = false;
        let bytes = &w.available()[..length as usize];
        let parsed = if block_type == SECTION_HEADER {
            pcapng::parse_sectionheaderblock(bytes).map(|(_, shb)| Block::SectionHeader(shb))
        } else if big_endian {
            pcapng::parse_block_be(bytes).map(|(_, b)| b)
        } else {
            pcapng::parse_block_le(bytes).map(|(_, b)| b)
        };
        let packet = match parsed {
            Err(_) => return Err(CaptureError::Corrupt { offset, detail: "malformed record" }),
            Ok(Block::SectionHeader(_)) => {
                interfaces.clear();
                None
            }
            Ok(Block::InterfaceDescription(idb)) => {
                interfaces.push(Interface {
                    linktype: idb.linktype.0 as u32,
                    resolution: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                    offset_secs: idb.ts_offset(),
                });
                None
            }
            Ok(Block::EnhancedPacket(epb)) => {
                let Some(iface) = interfaces.get(epb.if_id as usize) else {
                    return Err(CaptureError::Corrupt { offset, detail: "packet names an interface that was never described" });
                };
                let units = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let micros = (u128::from(units) * 1_000_000 / u128::from(iface.resolution)) as i64;
                let ts = micros.saturating_add(iface.offset_secs.saturating_mul(1_000_000));
                Some((iface.linktype, ts, epb.caplen, epb.origlen, epb.data))
            }
            Ok(Block::SimplePacket(spb)) => {
                let Some(iface) = interfaces.first() else {
                    return Err(CaptureError::Corrupt { offset, detail: "packet before any interface description" });
                };
                Some((iface.linktype, last_ts, spb.data.len() as u32, spb.origlen, spb.data))
            }
            Ok(_) => None,
        };
        if let Some((linktype, ts, caplen, orig_len, data)) = packet {
            if caplen > MAX_FRAME {
                return Err(CaptureError::Corrupt { offset, detail: "captured length over 256 KiB" });
            }
            let data = &data[..(caplen as usize).min(data.len())];
            last_ts = ts;
            packets += 1;
            if !on_packet(RawPacket { ts, linktype, data, orig_len }) {
                return Ok(packets);
            }
        }
        w.take(length as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes a few at a time, as a pipe or a decompressor may.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            self.step = self.step % 7 + 1;
            Ok(n)
        }
    }

    fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&262_144u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        for (i, f) in frames.iter().enumerate() {
            out.extend_from_slice(&(i as u32).to_le_bytes());
            out.extend_from_slice(&7u32.to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32 + 4).to_le_bytes());
            out.extend_from_slice(f);
        }
        out
    }

    #[test]
    fn records_larger_than_the_first_buffer_and_reads_of_a_few_bytes() {
        // After the large ones, frames of a common size that run through
        // the buffer several times, compacted at every turn.
        let sizes = [100usize, 70_000, 250_000, 10, 0, 65_536].into_iter().chain((0..400).map(|i| 1_400 + i % 150));
        let frames: Vec<Vec<u8>> = sizes.enumerate().map(|(i, n)| vec![i as u8; n]).collect();
        let file = pcap(&frames);
        for step in [1, 3, 1 << 20] {
            let mut seen = Vec::new();
            let n = read_packets(Trickle { data: &file, step }, &mut |p| {
                seen.push((p.ts, p.data.to_vec(), p.orig_len));
                true
            })
            .unwrap();
            assert_eq!(n, frames.len() as u64);
            for (i, (ts, data, orig)) in seen.iter().enumerate() {
                assert_eq!(*ts, i as i64 * 1_000_000 + 7);
                assert_eq!(data, &frames[i], "frame {i}, reads of {step}");
                assert_eq!(*orig, frames[i].len() as u32 + 4);
            }
        }
        // Cut inside the large record: the offset of its header.
        let cut = &file[..24 + 16 + 100 + 16 + 1000];
        match read_packets(Trickle { data: cut, step: 5 }, &mut |_| true) {
            Err(CaptureError::Truncated { offset }) => assert_eq!(offset, 24 + 16 + 100),
            other => panic!("{other:?}"),
        }
    }
}
