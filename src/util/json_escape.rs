//! Escaping for the inside of a JSON string (control characters, the quote
//! and the backslash), tested eight bytes at a time: for the JSON writer,
//! and for text worked out once and written into many records (a finding's
//! message), escaped once.

use std::sync::Arc;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight bytes of `w` is a control character, a quote or
/// a backslash (exact: the borrow tricks below have no false negatives, and a
/// false positive only sends the word to the byte loop).
pub fn word_needs_escape(w: u64) -> bool {
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    let quote = w ^ (ONES * b'"' as u64);
    let backslash = w ^ (ONES * b'\\' as u64);
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    (below_space | zero(quote) | zero(backslash)) & HIGHS != 0
}

pub fn byte_needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The eight bytes of `bytes` from `at` (which must be in bounds) as a word.
pub fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Whether any byte of `bytes` must be escaped in a JSON string. Sixteen
/// bytes are tested per step; the tail is tested as the last whole word(s),
/// overlapping bytes already tested, so no byte is looked at one by one.
pub fn any_needs_escape(bytes: &[u8]) -> bool {
    let len = bytes.len();
    if len < 8 {
        // Padding with a byte that needs no escape.
        let mut padded = [b'a'; 8];
        padded[..len].copy_from_slice(bytes);
        return word_needs_escape(u64::from_le_bytes(padded));
    }
    let mut at = 0;
    while at + 16 <= len {
        if word_needs_escape(word_at(bytes, at)) || word_needs_escape(word_at(bytes, at + 8)) {
            return true;
        }
        at += 16;
    }
    // Up to 15 bytes left: the last one or two words cover them.
    (at < len && word_needs_escape(word_at(bytes, len - 8))) || (len - at > 8 && word_needs_escape(word_at(bytes, at)))
}

/// Appends `bytes` (UTF-8) escaped for the inside of a JSON string. Almost
/// every string has nothing to escape and is copied whole after a word-wise
/// test. One that holds something is walked a word at a time, and only a
/// word that holds something byte by byte.
pub fn write_escaped(buf: &mut Vec<u8>, bytes: &[u8]) {
    if !any_needs_escape(bytes) {
        buf.extend_from_slice(bytes);
        return;
    }
    buf.reserve(bytes.len() + 8);
    let mut start = 0;
    for (word, chunk) in bytes.chunks(8).enumerate() {
        if chunk.len() == 8 && !word_needs_escape(word_at(chunk, 0)) {
            continue;
        }
        for (i, &b) in chunk.iter().enumerate() {
            if byte_needs_escape(b) {
                let at = word * 8 + i;
                buf.extend_from_slice(&bytes[start..at]);
                write_escape(buf, b);
                start = at + 1;
            }
        }
    }
    buf.extend_from_slice(&bytes[start..]);
}

/// The escape of one byte that must not appear raw in a JSON string.
fn write_escape(buf: &mut Vec<u8>, b: u8) {
    match b {
        b'"' => buf.extend_from_slice(b"\\\""),
        b'\\' => buf.extend_from_slice(b"\\\\"),
        b'\n' => buf.extend_from_slice(b"\\n"),
        b'\r' => buf.extend_from_slice(b"\\r"),
        b'\t' => buf.extend_from_slice(b"\\t"),
        0x08 => buf.extend_from_slice(b"\\b"),
        0x0c => buf.extend_from_slice(b"\\f"),
        _ => {
            const HEX: &[u8; 16] = super::hex::LOWER;
            buf.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        }
    }
}

/// `text` escaped for the inside of a JSON string, made once for text
/// written into many records; the same `Arc` when nothing needed escaping.
pub fn escaped(text: &Arc<str>) -> Arc<str> {
    if !any_needs_escape(text.as_bytes()) {
        return Arc::clone(text);
    }
    let mut inside = Vec::with_capacity(text.len() + 16);
    write_escaped(&mut inside, text.as_bytes());
    // Escaping UTF-8 text leaves it UTF-8 (only ASCII bytes are replaced),
    // so the lossy conversion copies it as it is.
    Arc::from(String::from_utf8_lossy(&inside))
}

/// The bytes a text and its escaped copy (`escaped`) take, the copy
/// counted only when it is one.
pub fn text_and_escaped_bytes(text: &Arc<str>, escaped: &Arc<str>) -> usize {
    let copy = if Arc::ptr_eq(text, escaped) { 0 } else { escaped.len() };
    crate::memory::alloc_bytes(text.len()) + crate::memory::alloc_bytes(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length up to 40 and every position of each byte that must be
    /// escaped (and of the bytes next to them), against a byte-by-byte test.
    #[test]
    fn the_word_test_agrees_with_the_byte_test() {
        for len in 0..40 {
            for at in 0..len {
                for b in [0x00, 0x1f, 0x20, b'"', b'!', b'#', b'\\', b'[', b']', 0x7f, 0x80, 0xff] {
                    let mut text = vec![b'a'; len];
                    text[at] = b;
                    assert_eq!(any_needs_escape(&text), text.iter().any(|&c| byte_needs_escape(c)), "{text:?}");
                }
            }
            assert!(!any_needs_escape(&vec![b'z'; len]));
        }
    }
}
