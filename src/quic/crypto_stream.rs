//! The CRYPTO stream of one direction's Initial packets (RFC 9001 §4.1.3):
//! frames may arrive out of order, repeat, or split one handshake message
//! over several packets (a ClientHello with post-quantum key shares spans
//! two or three Initials). Bytes are placed at their offsets, the first copy
//! wins, and whole handshake messages are handed on from the start of the
//! stream as they complete. Bounded: a stream past the cap is given up.

use crate::memory::vec_bytes;

/// Stream bytes kept at most: the Initial packets carry only a ClientHello
/// or a ServerHello.
pub const MAX_INITIAL_CRYPTO: usize = 64 * 1024;

/// Received ranges kept at most before the stream is given up (a peer
/// that sends thousands of one-byte frames is not a TLS stack).
const MAX_RANGES: usize = 64;

#[derive(Default)]
pub struct CryptoStream {
    /// Bytes from offset 0, with holes where nothing arrived yet.
    buf: Vec<u8>,
    /// Received ranges of `buf`, sorted and merged.
    have: Vec<(usize, usize)>,
    /// Offset of the next handshake message to hand on.
    next_message: usize,
    /// The stream went past the cap or out of bounds; nothing more is read.
    pub given_up: bool,
}

impl CryptoStream {
    /// Places `data` at `offset`; bytes already held are kept as they were.
    pub fn add(&mut self, offset: u64, data: &[u8]) {
        let Ok(start) = usize::try_from(offset) else { return self.give_up() };
        let end = start.saturating_add(data.len());
        if self.given_up || data.is_empty() {
            return;
        }
        if end > MAX_INITIAL_CRYPTO || self.have.len() >= MAX_RANGES {
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

    fn give_up(&mut self) {
        self.given_up = true;
        self.buf = Vec::new();
        self.have = Vec::new();
    }

    /// Hands on every handshake message now whole from the start of the
    /// stream: its type and body.
    pub fn drain(&mut self, mut f: impl FnMut(u8, &[u8])) {
        let contiguous = match self.have.first() {
            Some(&(0, end)) => end,
            _ => return,
        };
        while let Some(header) = self.buf.get(self.next_message..self.next_message + 4).filter(|_| self.next_message + 4 <= contiguous) {
            let len = usize::from(header[1]) << 16 | usize::from(header[2]) << 8 | usize::from(header[3]);
            let body_at = self.next_message + 4;
            if body_at + len > contiguous {
                if body_at + len > MAX_INITIAL_CRYPTO {
                    self.give_up();
                }
                return;
            }
            f(header[0], &self.buf[body_at..body_at + len]);
            self.next_message = body_at + len;
        }
    }

    pub fn heap_bytes(&self) -> usize {
        vec_bytes(&self.buf) + vec_bytes(&self.have)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(s: &mut CryptoStream) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        s.drain(|t, b| out.push((t, b.to_vec())));
        out
    }

    #[test]
    fn a_message_split_out_of_order_is_handed_on_once_whole() {
        let msg = [1u8, 0, 0, 5, 10, 11, 12, 13, 14, 2, 0, 0, 1, 99];
        let mut s = CryptoStream::default();
        s.add(6, &msg[6..]);
        assert!(messages(&mut s).is_empty());
        s.add(0, &msg[..3]);
        assert!(messages(&mut s).is_empty());
        // A repeat with other bytes does not overwrite what came first.
        s.add(2, &[0xee, 5, 10, 11, 0xee]);
        assert_eq!(messages(&mut s), [(1, vec![10, 11, 12, 13, 14]), (2, vec![99])]);
        assert!(messages(&mut s).is_empty(), "handed on once");
    }

    #[test]
    fn offsets_past_the_cap_give_the_stream_up() {
        let mut s = CryptoStream::default();
        s.add(MAX_INITIAL_CRYPTO as u64, &[1]);
        assert!(s.given_up);
        let mut t = CryptoStream::default();
        t.add(0, &[1, 0xff, 0xff, 0xff]);
        assert!(messages(&mut t).is_empty());
        assert!(t.given_up, "a message longer than the cap");
        let mut u = CryptoStream::default();
        for i in 0..200u64 {
            u.add(i * 2, &[0]);
        }
        assert!(u.given_up, "too many holes");
    }
}
