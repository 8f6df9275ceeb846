//! Capture files: pcap (micro- and nanosecond, either byte order) and pcapng
//! (several sections and interfaces, per-interface link type and timestamp
//! resolution), opened as a stream, so that gzip- and zstd-compressed files
//! and standard input work the same way (`records` reads the stream).
//! Compression is recognised by its magic bytes, not the file name.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::CaptureError;
pub use super::records::{read_packets, MAX_FRAME};

/// The compressed bytes read at a time. The decompressor writes straight
/// into the record parser's buffer, which reads in large pieces itself.
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
        Some(false) => Box::new(flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(READ_BUFFER, stream))),
        Some(true) => Box::new(zstd::stream::read::Decoder::new(stream).map_err(CaptureError::Open)?),
        None => Box::new(stream),
    })
}

