//! Bytes that arrive as fragments at offsets, in any order and possibly
//! more than once: QUIC's CRYPTO frames and DTLS's handshake message
//! fragments. Each byte keeps its first copy; the buffer is bounded and
//! gives up (rather than grow) past its cap or past too many holes.

use crate::memory::vec_bytes;

/// Received ranges kept at most before the buffer gives up (a peer that
/// sends thousands of one-byte fragments is not a TLS stack).
const MAX_RANGES: usize = 64;

pub struct Fragments {
    /// Bytes from offset 0, with holes where nothing arrived yet.
    buf: Vec<u8>,
    /// Received ranges of `buf`, sorted and merged.
    have: Vec<(usize, usize)>,
    cap: usize,
    /// The bytes went past the cap or split into too many pieces; nothing
    /// more is kept.
    pub given_up: bool,
}

impl Fragments {
    /// An empty buffer that holds at most `cap` bytes.
    pub fn new(cap: usize) -> Fragments {
        Fragments { buf: Vec::new(), have: Vec::new(), cap, given_up: false }
    }

    /// Places `data` at `offset`; bytes already held are kept as they were.
    pub fn add(&mut self, offset: u64, data: &[u8]) {
        let Ok(start) = usize::try_from(offset) else { return self.give_up() };
        let end = start.saturating_add(data.len());
        if self.given_up || data.is_empty() {
            return;
        }
        if end > self.cap || self.have.len() >= MAX_RANGES {
            return self.give_up();
        }
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        // Copy only into the holes, so the first copy of every byte wins.
        let mut at = start;
        for &(s, e) in self.have.iter().filter(|(s, e)| *e > start && *s < end) {
            if s > at {
                self.buf[at..s].copy_from_slice(&data[at - start..s - start]);
            }
            at = at.max(e);
        }
        if at < end {
            self.buf[at..end].copy_from_slice(&data[at - start..]);
        }
        self.have.push((start, end));
        self.have.sort_unstable();
        self.have.dedup_by(|later, earlier| {
            let touches = later.0 <= earlier.1;
            if touches {
                earlier.1 = earlier.1.max(later.1);
            }
            touches
        });
    }

    /// Gives the bytes up: the cap, or too many pieces.
    pub fn give_up(&mut self) {
        self.given_up = true;
        self.buf = Vec::new();
        self.have = Vec::new();
    }

    /// The bytes received without a hole from offset 0.
    pub fn contiguous(&self) -> &[u8] {
        match self.have.first() {
            Some(&(0, end)) => &self.buf[..end],
            _ => &[],
        }
    }

    pub fn heap_bytes(&self) -> usize {
        vec_bytes(&self.buf) + vec_bytes(&self.have)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_copy_wins_and_holes_stop_the_contiguous_prefix() {
        let mut f = Fragments::new(100);
        f.add(4, &[4, 5, 6]);
        assert_eq!(f.contiguous(), b"");
        f.add(0, &[0, 1]);
        assert_eq!(f.contiguous(), [0, 1]);
        f.add(1, &[9, 2, 3, 9]);
        assert_eq!(f.contiguous(), [0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn the_cap_and_too_many_holes_give_up() {
        let mut f = Fragments::new(10);
        f.add(8, &[1, 2, 3]);
        assert!(f.given_up && f.contiguous().is_empty());
        let mut g = Fragments::new(1000);
        for i in 0..200u64 {
            g.add(i * 2, &[0]);
        }
        assert!(g.given_up);
        let mut h = Fragments::new(10);
        h.add(u64::MAX, &[1]);
        assert!(h.given_up);
    }
}
