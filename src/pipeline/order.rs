//! The order of the records when capture files are read several at once
//! (`--independent-files`): the output thread writes every file's session
//! lines in the order of the inputs, whatever thread read them and whenever
//! it finished, so that the same files give the same output, byte for byte,
//! with any number of threads.
//!
//! The lines of the file being written (the first not yet ended) go
//! straight out; those of files read ahead of it wait until their turn, in
//! memory up to a budget (`--memory-limit`'s share for it), beyond it in an
//! unnamed temporary file per file (in `TMPDIR`), so that no thread ever
//! waits for another and memory stays bounded. The sessions themselves are
//! counted and added to the inventory as they come.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

/// Lines of one file read ahead, waiting for its turn.
#[derive(Default)]
struct Held {
    /// In memory, in the order they came.
    lines: Vec<Vec<u8>>,
    /// Those that came once the budget was spent (and every later one of
    /// the file, to keep them in order).
    spilled: Option<File>,
}

/// The output thread's side: where each file's lines go, and when.
pub(super) struct FileOrder {
    /// The file being written: every earlier one has ended.
    writing: usize,
    held: BTreeMap<usize, Held>,
    /// Files after `writing` that have ended.
    ended: BTreeSet<usize>,
    /// Bytes of lines held in memory at most.
    budget: usize,
    in_memory: usize,
    /// The most bytes held in memory at once.
    pub peak_in_memory: usize,
    /// Bytes that went through temporary files.
    pub spilled_bytes: u64,
}

impl FileOrder {
    pub(super) fn new(budget: usize) -> Self {
        FileOrder { writing: 0, held: BTreeMap::new(), ended: BTreeSet::new(), budget, in_memory: 0, peak_in_memory: 0, spilled_bytes: 0 }
    }

    /// Takes the lines of a batch of `file` (none: not read apart), or the
    /// news that `file` has ended; writes to `out` whatever may be written
    /// now, in order.
    pub(super) fn admit(&mut self, file: Option<usize>, ends_file: bool, lines: &[u8], out: &mut dyn Write) -> io::Result<()> {
        let Some(file) = file else { return out.write_all(lines) };
        if file < self.writing || (file == self.writing && !ends_file) {
            return out.write_all(lines);
        }
        if ends_file {
            self.ended.insert(file);
        } else if !lines.is_empty() {
            self.hold(file, lines)?;
        }
        self.release(out)
    }

    fn hold(&mut self, file: usize, lines: &[u8]) -> io::Result<()> {
        let held = self.held.entry(file).or_default();
        if held.spilled.is_none() && self.in_memory + lines.len() <= self.budget {
            self.in_memory += lines.len();
            self.peak_in_memory = self.peak_in_memory.max(self.in_memory);
            held.lines.push(lines.to_vec());
            return Ok(());
        }
        let spill = match &mut held.spilled {
            Some(f) => f,
            None => held.spilled.insert(tempfile::tempfile().map_err(spill_error)?),
        };
        spill.write_all(lines).map_err(spill_error)?;
        self.spilled_bytes += lines.len() as u64;
        Ok(())
    }

    /// Moves past every ended file, writing the held lines of each file
    /// that comes up.
    fn release(&mut self, out: &mut dyn Write) -> io::Result<()> {
        while self.ended.remove(&self.writing) {
            self.writing += 1;
            if let Some(held) = self.held.remove(&self.writing) {
                self.write_held(held, out)?;
            }
        }
        Ok(())
    }

    fn write_held(&mut self, held: Held, out: &mut dyn Write) -> io::Result<()> {
        for lines in held.lines {
            self.in_memory -= lines.len();
            out.write_all(&lines)?;
        }
        if let Some(mut spill) = held.spilled {
            spill.seek(SeekFrom::Start(0)).map_err(spill_error)?;
            io::copy(&mut spill, out)?;
        }
        Ok(())
    }

    /// Every line still held, in the order of their files (the workers have
    /// hung up; a stopped run may not have ended every file).
    pub(super) fn drain(&mut self, out: &mut dyn Write) -> io::Result<()> {
        for (_, held) in std::mem::take(&mut self.held) {
            self.write_held(held, out)?;
        }
        self.ended.clear();
        Ok(())
    }
}

/// A temporary file for the lines of files read ahead failed.
fn spill_error(e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!(
            "cannot keep the records of files read ahead in a temporary file in {} ({e}): set TMPDIR to a directory with room, or raise --memory-limit",
            std::env::temp_dir().display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Admits (file, ends, tag) in turn; returns what was written.
    fn feed(order: &mut FileOrder, steps: &[(usize, bool, &str)]) -> String {
        let mut out = Vec::new();
        for (file, ends, tag) in steps {
            order.admit(Some(*file), *ends, tag.as_bytes(), &mut out).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_come_out_in_file_order_whatever_the_arrival() {
        let mut order = FileOrder::new(1 << 20);
        // Files 2 and 1 before file 0 ends, file 2 ending first.
        let early = feed(&mut order, &[(2, false, "c1 "), (1, false, "b1 "), (0, false, "a1 "), (2, true, ""), (1, false, "b2 ")]);
        assert_eq!(early, "a1 ");
        assert_eq!(order.peak_in_memory, 9);
        let rest = feed(&mut order, &[(0, true, ""), (1, false, "b3 "), (1, true, "")]);
        assert_eq!(rest, "b1 b2 b3 c1 ", "file 1 as it came, then file 2, which had ended");
        assert_eq!((order.in_memory, order.writing, order.spilled_bytes), (0, 3, 0));
    }

    #[test]
    fn beyond_the_budget_lines_wait_in_a_temporary_file_and_keep_their_order() {
        let mut order = FileOrder::new(6);
        let early = feed(&mut order, &[(1, false, "b1 "), (2, false, "c1 "), (1, false, "b2 "), (2, false, "c2 "), (0, false, "a1 ")]);
        assert_eq!(early, "a1 ");
        // b1 and c1 fill the budget; b2 and c2 went to files.
        assert_eq!((order.in_memory, order.spilled_bytes), (6, 6));
        // Once file 1 spills, its later lines follow on disk even with room.
        let more = feed(&mut order, &[(0, true, ""), (2, true, "")]);
        assert_eq!(more, "b1 b2 ");
        let last = feed(&mut order, &[(1, false, "b3 "), (1, true, "")]);
        assert_eq!(last, "b3 c1 c2 ");
        assert_eq!(order.in_memory, 0);
    }

    #[test]
    fn a_stopped_run_writes_what_it_holds_in_file_order() {
        let mut order = FileOrder::new(4);
        let early = feed(&mut order, &[(3, false, "d1 "), (1, false, "b1 "), (2, false, "c1 ")]);
        assert_eq!(early, "");
        let mut out = Vec::new();
        order.drain(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "b1 c1 d1 ");
    }

    #[test]
    fn lines_not_read_apart_go_straight_out() {
        let mut order = FileOrder::new(0);
        let mut out = Vec::new();
        order.admit(None, false, b"x ", &mut out).unwrap();
        order.admit(Some(0), false, b"a ", &mut out).unwrap();
        assert_eq!(out, b"x a ");
    }
}
