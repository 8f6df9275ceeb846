//! TLS whose handshake travels wrapped in another protocol's packets:
//! MS-SQL sends its TLS handshake inside TDS PRELOGIN packets (MS-TDS
//! 3.2.5.1), then TLS records bare once the handshake is done. The TDS
//! headers are taken out as the bytes pass, across TCP segment
//! boundaries, so that the record layer sees one TLS byte stream.

use crate::cleartext::{TDS_HEADER, TDS_PRELOGIN};

/// Whether the 8 bytes before a TLS record are a TDS PRELOGIN header;
/// the packet's payload length if so.
pub fn tds_prelogin_before(header: &[u8]) -> Option<usize> {
    let h: &[u8; TDS_HEADER] = header.try_into().ok()?;
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    (h[0] == TDS_PRELOGIN && h[1] <= 1 && len > TDS_HEADER + 5 && h[4..6] == [0, 0]).then(|| len - TDS_HEADER)
}

/// Takes TDS headers out of a stream of PRELOGIN packets until a packet of
/// another kind starts: from there on the bytes are bare TLS records.
#[derive(Debug, Default)]
pub struct TdsUnwrap {
    /// Payload bytes left in the current packet.
    left: usize,
    /// The next packet's header, as far as it came.
    header: [u8; TDS_HEADER],
    have: usize,
    /// A packet of another type came: the rest is passed on as it is.
    pub done: bool,
}

impl TdsUnwrap {
    /// Unwrapping that starts inside a packet with `left` payload bytes to go.
    pub fn within_packet(left: usize) -> TdsUnwrap {
        TdsUnwrap { left, ..TdsUnwrap::default() }
    }

    /// Appends the TLS bytes of `chunk` to `out`.
    pub fn unwrap(&mut self, mut chunk: &[u8], out: &mut Vec<u8>) {
        while !chunk.is_empty() {
            if self.done {
                out.extend_from_slice(chunk);
                return;
            }
            if self.left > 0 {
                let n = self.left.min(chunk.len());
                out.extend_from_slice(&chunk[..n]);
                self.left -= n;
                chunk = &chunk[n..];
                continue;
            }
            let n = (TDS_HEADER - self.have).min(chunk.len());
            self.header[self.have..self.have + n].copy_from_slice(&chunk[..n]);
            self.have += n;
            chunk = &chunk[n..];
            if self.have < TDS_HEADER {
                // A bare TLS record shows at its first byte: stop at once.
                if self.header[0] != TDS_PRELOGIN {
                    self.done = true;
                    out.extend_from_slice(&self.header[..self.have]);
                }
                continue;
            }
            self.have = 0;
            match tds_prelogin_before(&self.header) {
                Some(len) => self.left = len,
                None => {
                    self.done = true;
                    out.extend_from_slice(&self.header);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_come_out_across_any_cut_and_bare_records_pass() {
        let mut wire = Vec::new();
        for payload in [&b"\x16\x03\x03\x00\x05hello"[..], b"\x14\x03\x03\x00\x01\x01"] {
            wire.extend_from_slice(&[0x12, 1, 0, (payload.len() + 8) as u8, 0, 0, 1, 0]);
            wire.extend_from_slice(payload);
        }
        wire.extend_from_slice(b"\x17\x03\x03\x00\x02ok");
        let expected: Vec<u8> = [&b"\x16\x03\x03\x00\x05hello\x14\x03\x03\x00\x01\x01"[..], b"\x17\x03\x03\x00\x02ok"].concat();
        for cut in 0..wire.len() {
            let mut u = TdsUnwrap::default();
            let mut out = Vec::new();
            u.unwrap(&wire[..cut], &mut out);
            u.unwrap(&wire[cut..], &mut out);
            assert_eq!(out, expected, "cut at {cut}");
            assert!(u.done);
        }
        assert_eq!(tds_prelogin_before(&[0x12, 1, 0, 40, 0, 0, 1, 0]), Some(32));
        assert_eq!(tds_prelogin_before(&[0x04, 1, 0, 40, 0, 0, 1, 0]), None);
    }
}
