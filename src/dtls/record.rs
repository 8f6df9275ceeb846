//! DTLS's record and handshake-fragment layouts (RFC 6347 §4.1, §4.2.2;
//! RFC 9147 §4, §5.2): the 13-byte record header with its epoch and
//! sequence number, several records to a datagram, and handshake messages
//! cut into fragments, each with the message's sequence number, length and
//! the fragment's offset. The DTLS 1.3 unified header (encrypted records)
//! ends a datagram's plaintext records.

use crate::tls::names::is_dtls;

/// One record of a datagram.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub content_type: u8,
    pub version: u16,
    pub epoch: u16,
    pub body: &'a [u8],
}

/// The plaintext-header records at the start of a datagram; stops at the
/// first that does not add up (false then) or at an encrypted DTLS 1.3 one.
pub fn records<'a>(mut datagram: &'a [u8], mut f: impl FnMut(Record<'a>)) -> bool {
    while !datagram.is_empty() {
        // RFC 9147 §4: 001x xxxx starts a unified header (ciphertext).
        if datagram[0] & 0xe0 == 0x20 {
            return true;
        }
        let Some(h) = datagram.get(..13) else { return false };
        let version = u16::from_be_bytes([h[1], h[2]]);
        let len = usize::from(u16::from_be_bytes([h[11], h[12]]));
        let Some(body) = datagram.get(13..13 + len) else { return false };
        if !(20..=25).contains(&h[0]) || !is_dtls(version) {
            return false;
        }
        f(Record { content_type: h[0], version, epoch: u16::from_be_bytes([h[3], h[4]]), body });
        datagram = &datagram[13 + len..];
    }
    true
}

/// One fragment of a handshake message.
#[derive(Debug, PartialEq, Eq)]
pub struct Fragment<'a> {
    pub msg_type: u8,
    /// The whole message's length.
    pub length: usize,
    pub message_seq: u16,
    pub offset: usize,
    pub bytes: &'a [u8],
}

impl Fragment<'_> {
    /// The fragment is the whole message.
    pub fn is_whole(&self) -> bool {
        self.offset == 0 && self.bytes.len() == self.length
    }
}

fn u24(b: &[u8]) -> usize {
    usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2])
}

/// The handshake fragments of a plaintext handshake record; false when
/// one does not add up (its length runs past the record or its end past
/// the message).
pub fn fragments<'a>(mut body: &'a [u8], mut f: impl FnMut(Fragment<'a>)) -> bool {
    while !body.is_empty() {
        let Some(h) = body.get(..12) else { return false };
        let (length, offset, fragment_len) = (u24(&h[1..4]), u24(&h[6..9]), u24(&h[9..12]));
        let Some(bytes) = body.get(12..12 + fragment_len) else { return false };
        if offset + fragment_len > length {
            return false;
        }
        f(Fragment { msg_type: h[0], length, message_seq: u16::from_be_bytes([h[4], h[5]]), offset, bytes });
        body = &body[12 + fragment_len..];
    }
    true
}

/// A DTLS ClientHello in TLS's layout: the cookie (RFC 6347 §4.2.1) taken
/// out from between the session id and the suites, so that the TLS parser
/// reads the rest. None when the lengths do not add up.
pub fn client_hello_without_cookie(body: &[u8]) -> Option<Vec<u8>> {
    let session_id_len = usize::from(*body.get(34)?);
    let cookie_at = 35 + session_id_len;
    let cookie_len = usize::from(*body.get(cookie_at)?);
    let rest = body.get(cookie_at + 1 + cookie_len..)?;
    let mut out = Vec::with_capacity(body.len());
    out.extend_from_slice(&body[..cookie_at]);
    out.extend_from_slice(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_fragments_and_the_cookie() {
        // A handshake record holding two fragments of one 6-byte message, then a CCS record.
        let fragments_body: Vec<u8> = [
            &[1u8, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 2, 0xa, 0xb][..],
            &[1, 0, 0, 6, 0, 0, 0, 0, 2, 0, 0, 4, 0xc, 0xd, 0xe, 0xf],
        ]
        .concat();
        let mut d = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, fragments_body.len() as u8];
        d.extend_from_slice(&fragments_body);
        d.extend_from_slice(&[20, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 2, 0, 1, 1]);
        let mut seen = Vec::new();
        assert!(records(&d, |r| seen.push((r.content_type, r.epoch, r.body.len()))));
        assert_eq!(seen, [(22, 0, 30), (20, 1, 1)]);
        let mut pieces = Vec::new();
        assert!(fragments(&fragments_body, |f| pieces.push((f.offset, f.bytes.to_vec(), f.is_whole()))));
        assert_eq!(pieces, [(0, vec![0xa, 0xb], false), (2, vec![0xc, 0xd, 0xe, 0xf], false)]);
        // A fragment running past its record, and one past its message.
        assert!(!fragments(&fragments_body[..28], |_| {}));
        let mut past = fragments_body.clone();
        past[20] = 3;
        assert!(!fragments(&past, |_| {}));
        // A record whose length runs past the datagram, and a TLS version.
        assert!(!records(&d[..20], |_| {}));
        let mut tls = d.clone();
        tls[1..3].copy_from_slice(&[3, 3]);
        assert!(!records(&tls, |_| {}));
        // A DTLS 1.3 ciphertext record ends the plaintext ones.
        assert!(records(&[0x2c, 1, 2, 3], |_| panic!("no plaintext record")));

        let mut hello = vec![0xfe, 0xfd];
        hello.extend_from_slice(&[7; 32]);
        hello.extend_from_slice(&[0, 3, 0xc, 0xc, 0xc, 0, 2, 0x13, 0x01]);
        assert_eq!(client_hello_without_cookie(&hello).unwrap()[34..], [0, 0, 2, 0x13, 0x01]);
        assert!(client_hello_without_cookie(&hello[..36]).is_none());
    }
}
