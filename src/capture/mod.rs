//! Packet sources: capture files (pcap, pcapng, gzip/zstd compressed, standard
//! input, directories of captures) and live interfaces through libpcap, one
//! ring or several sharing the interface (PACKET_FANOUT).

mod fanout;
pub mod file;
mod records;
pub mod live;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// One captured frame.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    /// Microseconds since the Unix epoch.
    pub ts: i64,
    /// libpcap LINKTYPE_* value of the frame.
    pub linktype: u32,
    pub data: &'a [u8],
    /// Length of the frame on the wire (the captured data may be shorter).
    pub orig_len: u32,
}

/// Why a capture could not be read (in full).
#[derive(Debug)]
pub enum CaptureError {
    Open(io::Error),
    IsDirectory,
    Empty,
    NotACapture,
    /// Reading or decompressing the stream failed after `offset` bytes
    /// (of the decompressed stream, when the file is compressed).
    Read { offset: u64, detail: String },
    /// The file ends inside its file header.
    TruncatedHeader,
    Truncated { offset: u64 },
    Corrupt { offset: u64, detail: &'static str },
    /// A packet record claims more bytes than any frame may have.
    Oversized { offset: u64, claimed: u64 },
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Open(e) => write!(f, "cannot open: {e}"),
            CaptureError::IsDirectory => write!(f, "is a directory"),
            CaptureError::Empty => write!(f, "empty file, not a capture"),
            CaptureError::NotACapture => {
                write!(f, "not a pcap or pcapng capture (nor a gzip/zstd-compressed one)")
            }
            CaptureError::Read { offset, detail } => {
                write!(f, "read error after byte offset {offset}: {detail} (an I/O error, or a corrupt compressed stream)")
            }
            CaptureError::TruncatedHeader => write!(f, "truncated: the file ends inside its file header"),
            CaptureError::Truncated { offset } => {
                write!(f, "truncated: the capture ends inside the record at byte offset {offset}")
            }
            CaptureError::Corrupt { offset, detail } => write!(f, "corrupt record at byte offset {offset}: {detail}"),
            CaptureError::Oversized { offset, claimed } => write!(
                f,
                "corrupt record at byte offset {offset}: it claims {claimed} bytes, more than the 256 KiB a frame may have"
            ),
        }
    }
}

/// Expands the inputs given on the command line: files in the order given,
/// directories to the capture files inside them (recursively, sorted by name).
/// Files inside a directory that do not start like a capture are skipped.
pub fn expand_inputs(inputs: &[PathBuf]) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        if input.as_os_str() != "-" && input.is_dir() {
            let mut found = Vec::new();
            if let Err(e) = walk_dir(input, &mut found) {
                errors.push((input.clone(), format!("cannot read directory: {e}")));
            }
            found.sort();
            files.extend(found.into_iter().filter(|p| looks_like_capture(p)));
        } else {
            files.push(input.clone());
        }
    }
    (files, errors)
}

fn walk_dir(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk_dir(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// Whether a file in a directory is to be read: it starts with the magic of
/// a pcap, pcapng, gzip or zstd file, or its name says it is a capture (so
/// that a damaged capture is reported rather than skipped in silence).
fn looks_like_capture(path: &Path) -> bool {
    use std::io::Read;
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let named_capture = [".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".pcap.zst", ".pcapng.zst"]
        .iter()
        .any(|ext| name.ends_with(ext));
    if named_capture {
        return true;
    }
    let mut magic = [0u8; 4];
    let Ok(mut f) = std::fs::File::open(path) else { return false };
    if f.read_exact(&mut magic).is_err() {
        return false;
    }
    matches!(
        magic,
        [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d]
            | [0x0a, 0x0d, 0x0d, 0x0a]
            | [0x1f, 0x8b, _, _]
            | [0x28, 0xb5, 0x2f, 0xfd]
    )
}
