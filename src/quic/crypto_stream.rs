//! The CRYPTO stream of one direction's Initial packets (RFC 9001 §4.1.3):
//! frames may arrive out of order, repeat, or split one handshake message
//! over several packets (a ClientHello with post-quantum key shares spans
//! two or three Initials). Bytes are placed at their offsets (first copy
//! wins), and whole handshake messages are handed on from the start of the
//! stream as they complete. Bounded: a stream past the cap is given up.

use crate::tls::fragments::Fragments;

/// Stream bytes kept at most: the Initial packets carry only a ClientHello
/// or a ServerHello.
pub const MAX_INITIAL_CRYPTO: usize = 64 * 1024;

pub struct CryptoStream {
    bytes: Fragments,
    /// Offset of the next handshake message to hand on.
    next_message: usize,
}

impl Default for CryptoStream {
    fn default() -> Self {
        CryptoStream { bytes: Fragments::new(MAX_INITIAL_CRYPTO), next_message: 0 }
    }
}

impl CryptoStream {
    /// Places a CRYPTO frame's data at its offset.
    pub fn add(&mut self, offset: u64, data: &[u8]) {
        self.bytes.add(offset, data);
    }

    /// The stream went past the cap or out of bounds; nothing more is read.
    pub fn given_up(&self) -> bool {
        self.bytes.given_up
    }

    /// Hands on every handshake message now whole from the start of the
    /// stream: its type and body.
    pub fn drain(&mut self, mut f: impl FnMut(u8, &[u8])) {
        let contiguous = self.bytes.contiguous();
        while let Some(header) = contiguous.get(self.next_message..self.next_message + 4) {
            let len = usize::from(header[1]) << 16 | usize::from(header[2]) << 8 | usize::from(header[3]);
            let body_at = self.next_message + 4;
            let Some(body) = contiguous.get(body_at..body_at + len) else {
                if body_at + len > MAX_INITIAL_CRYPTO {
                    self.bytes.give_up();
                }
                return;
            };
            f(header[0], body);
            self.next_message = body_at + len;
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.bytes.heap_bytes()
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
    fn a_message_longer_than_the_cap_gives_the_stream_up() {
        let mut t = CryptoStream::default();
        t.add(0, &[1, 0xff, 0xff, 0xff]);
        assert!(messages(&mut t).is_empty());
        assert!(t.given_up());
    }
}
