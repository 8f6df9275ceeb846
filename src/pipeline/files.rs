//! Capture files in order: directories expanded, each file opened and its
//! frames handed to the reader, with a progress bar when asked; with
//! read-ahead, a thread of its own reads and parses the files into blocks of
//! frames while the reader decodes the blocks before.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::reader::Reader;
use crate::capture::{self, RawPacket};
use crate::stats::ReaderStats;

/// Where the frames of capture files go, file after file.
pub(super) trait FrameConsumer {
    /// The file with this index among the inputs begins.
    fn file_start(&mut self, _index: usize) {}
    /// One frame; false stops reading.
    fn frame(&mut self, p: RawPacket<'_>) -> bool;
    /// A file is over; false stops reading.
    fn file_done(&mut self, path: &Path, result: Result<u64, capture::CaptureError>) -> bool;
}

impl FrameConsumer for (&mut Reader<'_>, &mut Vec<String>) {
    fn frame(&mut self, p: RawPacket<'_>) -> bool {
        self.0.packet(p);
        true
    }

    fn file_done(&mut self, path: &Path, result: Result<u64, capture::CaptureError>) -> bool {
        let (reader, errors) = self;
        errors.extend(count_file(&mut reader.stats, path, result));
        // Hand this file's last packets to the workers; the next file's
        // segments go in batches of their own.
        reader.tick(reader.dispatch.now);
        reader.dispatch.next_file(&mut reader.stats);
        true
    }
}

/// Counts a capture file read to its end or failed; the message for a
/// failure, naming the file.
pub(super) fn count_file(stats: &mut ReaderStats, path: &Path, result: Result<u64, capture::CaptureError>) -> Option<String> {
    match result {
        Ok(_) => {
            stats.files_read += 1;
            None
        }
        Err(e) => {
            stats.files_failed += 1;
            Some(format!("{}: {e}", path.display()))
        }
    }
}

/// Counts the entries of input directories that could not be opened, with
/// a message for each.
pub(super) fn count_unreadable(stats: &mut ReaderStats, entries: Vec<(PathBuf, String)>, errors: &mut Vec<String>) {
    for (path, e) in entries {
        errors.push(format!("{}: {e}", path.display()));
        stats.files_failed += 1;
    }
}

/// Frames copied out of a capture file, in file order, for the reader.
struct FrameBlock {
    data: Vec<u8>,
    frames: Vec<FrameMeta>,
}

struct FrameMeta {
    ts: i64,
    linktype: u32,
    start: usize,
    len: usize,
    orig_len: u32,
}

/// Frames per block, and frame bytes, before a block is handed over.
const BLOCK_FRAMES: usize = 4096;
const BLOCK_BYTES: usize = 1 << 20;
/// Blocks on their way from the file thread to the reader.
const BLOCKS_IN_FLIGHT: usize = 4;

/// What the file thread tells the reader.
enum FileEvent {
    Frames(FrameBlock),
    /// A file is over (all of its frames were sent before this).
    Done { path: PathBuf, result: Result<u64, capture::CaptureError> },
}

/// The file thread's side of read-ahead: frames gathered into blocks.
struct BlockSender<'a> {
    events: Sender<FileEvent>,
    spare: &'a Receiver<FrameBlock>,
    block: FrameBlock,
}

/// An empty block: one the reader is done with, or a new one.
fn fresh_block(spare: &Receiver<FrameBlock>) -> FrameBlock {
    match spare.try_recv() {
        Ok(mut used) => {
            used.data.clear();
            used.frames.clear();
            used
        }
        Err(_) => FrameBlock {
            data: Vec::with_capacity(BLOCK_BYTES + capture::file::MAX_FRAME as usize),
            frames: Vec::with_capacity(BLOCK_FRAMES),
        },
    }
}

impl BlockSender<'_> {
    /// Sends the frames gathered so far; false when the reader is gone.
    fn send_block(&mut self) -> bool {
        if self.block.frames.is_empty() {
            return true;
        }
        let full = std::mem::replace(&mut self.block, fresh_block(self.spare));
        self.events.send(FileEvent::Frames(full)).is_ok()
    }
}

impl FrameConsumer for BlockSender<'_> {
    fn frame(&mut self, p: RawPacket<'_>) -> bool {
        let start = self.block.data.len();
        self.block.data.extend_from_slice(p.data);
        self.block.frames.push(FrameMeta { ts: p.ts, linktype: p.linktype, start, len: p.data.len(), orig_len: p.orig_len });
        if self.block.frames.len() < BLOCK_FRAMES && self.block.data.len() < BLOCK_BYTES {
            return true;
        }
        self.send_block()
    }

    fn file_done(&mut self, path: &Path, result: Result<u64, capture::CaptureError>) -> bool {
        self.send_block() && self.events.send(FileEvent::Done { path: path.to_path_buf(), result }).is_ok()
    }
}

/// Reads the capture files in order. With `read_ahead`, a thread of its
/// own reads and parses the files (what a libpcap-only reader also does)
/// and hands over blocks of frames, while this thread decodes and
/// dispatches them: two cores share the work, and the frames are taken in
/// the same order as by one thread.
pub(super) fn read_files(
    reader: &mut Reader<'_>,
    files: &[PathBuf],
    dir_errors: Vec<(PathBuf, String)>,
    progress: bool,
    read_ahead: bool,
    errors: &mut Vec<String>,
) {
    count_unreadable(&mut reader.stats, dir_errors, errors);
    let stop = reader.stop;
    let bar = progress.then(|| progress_bar(files));
    let bar = bar.as_ref();
    if !read_ahead {
        read_file_frames(files.iter().enumerate(), bar, stop, &mut (reader, errors));
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        return;
    }
    let (events_tx, events_rx) = bounded::<FileEvent>(BLOCKS_IN_FLIGHT);
    let (spare_tx, spare_rx) = bounded::<FrameBlock>(BLOCKS_IN_FLIGHT + 2);
    thread::scope(|scope| {
        let spare = &spare_rx;
        let file_thread = thread::Builder::new().name("tlsaudit-file".into()).spawn_scoped(scope, move || {
            let mut sender = BlockSender { events: events_tx, spare, block: fresh_block(spare) };
            read_file_frames(files.iter().enumerate(), bar, stop, &mut sender);
        });
        if let Err(e) = file_thread {
            errors.push(format!("cannot start the file reading thread: {e}"));
            return;
        }
        let mut direct = (reader, errors);
        for event in &events_rx {
            match event {
                FileEvent::Frames(block) => {
                    for f in &block.frames {
                        direct.frame(RawPacket {
                            ts: f.ts,
                            linktype: f.linktype,
                            data: &block.data[f.start..f.start + f.len],
                            orig_len: f.orig_len,
                        });
                    }
                    let _ = spare_tx.try_send(block);
                }
                FileEvent::Done { path, result } => {
                    direct.file_done(&path, result);
                }
            }
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

/// A progress bar over the bytes of every file.
pub(super) fn progress_bar(files: &[PathBuf]) -> indicatif::ProgressBar {
    let total: u64 = files.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    let bar = indicatif::ProgressBar::new(total.max(1));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {bar:40} {eta} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Reads every file in turn (each with its index among the inputs) into
/// `consumer`, moving the progress bar if there is one (several threads may
/// share it).
pub(super) fn read_file_frames<'p>(
    files: impl Iterator<Item = (usize, &'p PathBuf)>,
    bar: Option<&indicatif::ProgressBar>,
    stop: &AtomicBool,
    consumer: &mut dyn FrameConsumer,
) {
    for (index, path) in files {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let counter = Arc::new(AtomicU64::new(0));
        if let Some(b) = bar {
            b.set_message(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        }
        // Bytes of this file already shown on the bar.
        let mut shown = 0;
        let mut show = || {
            if let Some(b) = bar {
                let read = counter.load(Ordering::Relaxed);
                b.inc(read.saturating_sub(shown));
                shown = read;
            }
        };
        consumer.file_start(index);
        let mut consumer_gone = false;
        let result = capture::file::open(path, counter.clone()).and_then(|input| {
            let mut n = 0u64;
            capture::file::read_packets(input, &mut |p| {
                if !consumer.frame(p) {
                    consumer_gone = true;
                    return false;
                }
                n += 1;
                if n % 4096 == 0 {
                    show();
                    return !stop.load(Ordering::Relaxed);
                }
                true
            })
        });
        show();
        if consumer_gone || !consumer.file_done(path, result) {
            break;
        }
    }
}
