//! Capture files: pcap (micro- and nanosecond, either byte order) and pcapng
//! (several sections and interfaces, per-interface link type and timestamp
//! resolution), read as a stream with pcap-parser, so that gzip- and
//! zstd-compressed files and standard input work the same way. Compression is
//! recognised by its magic bytes, not the file name.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError};

use super::{CaptureError, RawPacket};

/// Largest frame accepted from a file; a larger captured length means a
/// corrupt record.
pub const MAX_FRAME: u32 = 256 * 1024;
const READ_BUFFER: usize = 1 << 20;
/// Bytes read first to recognise the file's format.
const HEAD_BYTES: usize = 64 * 1024;

/// Counts bytes read from the underlying file (before decompression), for the
/// progress bar.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens a capture file (or "-" for standard input), undoing gzip or zstd
/// compression when the first bytes say so. `progress` counts raw bytes read.
pub fn open(path: &Path, progress: Arc<AtomicU64>) -> Result<Box<dyn Read + Send>, CaptureError> {
    let raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        let file = File::open(path).map_err(CaptureError::Open)?;
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(CaptureError::IsDirectory);
        }
        Box::new(file)
    };
    // Sniff the magic from the first bytes and put them back in front, so
    // that an uncompressed file is then read straight into the parser's
    // buffer, with no copy through an intermediate one. The head is large
    // enough for the parser's first look at the file header.
    let mut counted = CountingReader { inner: raw, count: progress };
    let mut head = Vec::with_capacity(HEAD_BYTES);
    (&mut counted).take(HEAD_BYTES as u64).read_to_end(&mut head).map_err(CaptureError::Open)?;
    if head.is_empty() {
        return Err(CaptureError::Empty);
    }
    let compressed = match head.as_slice() {
        [0x1f, 0x8b, ..] => Some(false),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(true),
        _ => None,
    };
    let stream = io::Cursor::new(head).chain(counted);
    Ok(match compressed {
        Some(false) => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(READ_BUFFER, stream)),
        )),
        Some(true) => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            zstd::stream::read::Decoder::new(stream).map_err(CaptureError::Open)?,
        )),
        None => Box::new(stream),
    })
}

/// Keeps the first read error of a stream, which the capture parser turns
/// into a bare "read error": the user is told what went wrong.
struct KeepFirstError<R> {
    inner: R,
    first: Arc<OnceLock<String>>,
}

impl<R: Read> Read for KeepFirstError<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            let _ = self.first.set(e.to_string());
        })
    }
}

/// Length of a legacy pcap record header, and the most a packet block's
/// header and trailer add to a pcapng packet.
const RECORD_OVERHEAD: usize = 64;

/// The length a packet record at the start of `data` claims, when its header
/// is there: legacy pcap (caplen), or a pcapng packet block (block length).
/// Other pcapng blocks may legitimately be large and are not judged here.
fn claimed_packet_length(data: &[u8], legacy: Option<bool>) -> Option<u64> {
    let word = |at: usize, big_endian: bool| {
        let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
        Some(u64::from(if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }))
    };
    match legacy {
        Some(big_endian) => word(8, big_endian),
        None => {
            // Block type and length in the section's byte order: try both,
            // packet blocks are types 2, 3 and 6.
            let big_endian = !matches!(word(0, false)?, 2 | 3 | 6);
            matches!(word(0, big_endian)?, 2 | 3 | 6).then(|| word(4, big_endian)).flatten()
        }
    }
}

/// Whether the stream starts with a pcap or pcapng magic number but ends
/// before its file header does (the parser would only say it does not
/// recognise the format). Gives the stream back whole.
fn file_header_cut(mut input: Box<dyn Read + Send>) -> io::Result<(bool, Box<dyn Read + Send>)> {
    const PCAP_HEADER: usize = 24;
    let mut head = Vec::with_capacity(PCAP_HEADER);
    (&mut input).take(8).read_to_end(&mut head)?;
    let magic = head.get(..4).map(|m| [m[0], m[1], m[2], m[3]]);
    let needed = match magic {
        Some([0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4] | [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d]) => {
            PCAP_HEADER
        }
        // pcapng: the section header block's length, in either byte order.
        Some([0x0a, 0x0d, 0x0d, 0x0a]) if head.len() == 8 => {
            let le = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            let be = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
            le.min(be).clamp(28, 64 * 1024) as usize
        }
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => 28,
        _ => 0,
    };
    if head.len() < needed {
        (&mut input).take((needed - head.len()) as u64).read_to_end(&mut head)?;
    }
    let cut = head.len() < needed;
    Ok((cut, Box::new(io::Cursor::new(head).chain(input))))
}

struct Interface {
    linktype: u32,
    /// Timestamp units per second.
    resolution: u64,
    offset_secs: i64,
}

/// Reads every packet of a capture stream and hands it to `on_packet`, which
/// returns false to stop early. Returns the number of packets read.
pub fn read_packets(
    input: Box<dyn Read + Send>,
    on_packet: &mut dyn FnMut(RawPacket<'_>) -> bool,
) -> Result<u64, CaptureError> {
    let first_error = Arc::new(OnceLock::new());
    let input = KeepFirstError { inner: input, first: Arc::clone(&first_error) };
    let read_error = |offset: u64| CaptureError::Read {
        offset,
        detail: first_error.get().cloned().unwrap_or_else(|| "the stream could not be read".to_string()),
    };
    let (head_cut, input) = file_header_cut(Box::new(input)).map_err(|e| CaptureError::Read { offset: 0, detail: e.to_string() })?;
    let mut reader = match pcap_parser::create_reader(READ_BUFFER, input) {
        Ok(r) => r,
        Err(PcapError::HeaderNotRecognized) if head_cut => return Err(CaptureError::TruncatedHeader),
        Err(PcapError::HeaderNotRecognized) => return Err(CaptureError::NotACapture),
        Err(PcapError::Eof) => return Err(CaptureError::Empty),
        Err(PcapError::ReadError) => return Err(read_error(0)),
        Err(_) => return Err(CaptureError::TruncatedHeader),
    };
    let mut legacy_linktype = None;
    // Legacy pcap: whether its records are big-endian (None for pcapng).
    let mut legacy_big_endian = None;
    let mut nanos = false;
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut last_ts = 0i64;
    let mut packets = 0u64;
    loop {
        let offset = reader.consumed() as u64;
        match reader.next() {
            Ok((used, block)) => {
                let packet = match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy_linktype = Some(h.network.0 as u32);
                        legacy_big_endian = Some(h.is_bigendian());
                        nanos = h.is_nanosecond_precision();
                        None
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let frac = if nanos { b.ts_usec as i64 / 1000 } else { b.ts_usec as i64 };
                        let ts = b.ts_sec as i64 * 1_000_000 + frac;
                        Some((legacy_linktype.unwrap_or(1), ts, b.caplen, b.origlen, b.data))
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        interfaces.clear();
                        None
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        interfaces.push(Interface {
                            linktype: idb.linktype.0 as u32,
                            resolution: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                            offset_secs: idb.ts_offset(),
                        });
                        None
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let Some(iface) = interfaces.get(epb.if_id as usize) else {
                            return Err(CaptureError::Corrupt { offset, detail: "packet names an interface that was never described" });
                        };
                        let units = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                        let micros = (units as u128 * 1_000_000 / iface.resolution as u128) as i64;
                        let ts = micros.saturating_add(iface.offset_secs.saturating_mul(1_000_000));
                        Some((iface.linktype, ts, epb.caplen, epb.origlen, epb.data))
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let Some(iface) = interfaces.first() else {
                            return Err(CaptureError::Corrupt { offset, detail: "packet before any interface description" });
                        };
                        Some((iface.linktype, last_ts, spb.data.len() as u32, spb.origlen, spb.data))
                    }
                    PcapBlockOwned::NG(_) => None,
                };
                if let Some((linktype, ts, caplen, origlen, data)) = packet {
                    if caplen > MAX_FRAME {
                        return Err(CaptureError::Corrupt { offset, detail: "captured length over 256 KiB" });
                    }
                    let data = &data[..(caplen as usize).min(data.len())];
                    last_ts = ts;
                    packets += 1;
                    if !on_packet(RawPacket { ts, linktype, data, orig_len: origlen }) {
                        return Ok(packets);
                    }
                }
                reader.consume(used);
            }
            Err(PcapError::Eof) => return Ok(packets),
            Err(PcapError::Incomplete(_)) => {
                // A record that claims more than any frame may have is
                // corrupt: say so now rather than read on to the end.
                let claimed = claimed_packet_length(reader.data(), legacy_big_endian);
                if let Some(claimed) = claimed.filter(|&c| c > u64::from(MAX_FRAME) + RECORD_OVERHEAD as u64) {
                    return Err(CaptureError::Oversized { offset, claimed });
                }
                if reader.reader_exhausted() {
                    return Err(CaptureError::Truncated { offset });
                }
                if let Err(e) = reader.refill() {
                    return Err(match e {
                        PcapError::ReadError => read_error(offset),
                        _ => CaptureError::Truncated { offset },
                    });
                }
            }
            Err(PcapError::UnexpectedEof) => return Err(CaptureError::Truncated { offset }),
            Err(PcapError::BufferTooSmall) => {
                return Err(CaptureError::Corrupt { offset, detail: "record larger than any valid packet" })
            }
            Err(PcapError::ReadError) => return Err(read_error(offset)),
            Err(_) => return Err(CaptureError::Corrupt { offset, detail: "malformed record" }),
        }
    }
}
