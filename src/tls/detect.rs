//! Recognising TLS in a byte stream: a plausible record header where a
//! stream starts, a hello inside clear text (after STARTTLS or a proxy's
//! greeting), a header to resynchronise on after a gap, and the SSLv2 hello
//! format, strict enough that another protocol's bytes are not taken for TLS.

/// Largest record body allowed on the wire (2^14 + 2048, RFC 5246 §6.2.3).
pub const MAX_RECORD_BODY: usize = 16_384 + 2_048;

/// Record content types.
pub mod content {
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    pub const ALERT: u8 = 21;
    pub const HANDSHAKE: u8 = 22;
    pub const APPLICATION_DATA: u8 = 23;
    pub const HEARTBEAT: u8 = 24;
}

/// Plausible header of a TLS record at the start of a stream.
pub(super) fn looks_like_tls_start(b: &[u8]) -> bool {
    if b.len() < 6 || b[1] != 3 || b[2] > 4 {
        return false;
    }
    let len = u16::from_be_bytes([b[3], b[4]]) as usize;
    match b[0] {
        // A hello may be split over records as small as one byte.
        content::HANDSHAKE => (1..=MAX_RECORD_BODY).contains(&len) && matches!(b[5], 1 | 2),
        content::ALERT => len == 2 && matches!(b[5], 1 | 2),
        _ => false,
    }
}

/// A hello record inside a clear-text chunk: stricter than at a chunk start,
/// since any offset is tried. The hello must be at least as long as the
/// smallest real one and fit the record (or be split over records).
pub(super) fn looks_like_hello_inside(b: &[u8]) -> bool {
    if !looks_like_tls_start(b) || b[0] != content::HANDSHAKE || b.len() < 10 {
        return false;
    }
    let record_len = u16::from_be_bytes([b[3], b[4]]) as usize;
    let hello_len = u32::from_be_bytes([0, b[6], b[7], b[8]]) as usize;
    hello_len >= 38 && b[9] == 3 && (hello_len + 4 <= record_len || record_len >= 512)
}

/// Plausible record header anywhere in a stream (used to resynchronise).
pub(super) fn valid_header(b: &[u8]) -> Option<(u8, usize)> {
    let typ = b[0];
    let len = u16::from_be_bytes([b[3], b[4]]) as usize;
    let ok = (content::CHANGE_CIPHER_SPEC..=content::HEARTBEAT).contains(&typ)
        && b[1] == 3
        && b[2] <= 4
        && len <= MAX_RECORD_BODY;
    ok.then_some((typ, len))
}

/// Whether a chunk (which starts at a TCP segment boundary) starts with a
/// record header trustworthy enough to resynchronise on: a plausible header
/// whose record either runs past the chunk or is followed by another
/// plausible header.
pub(super) fn resync_point(chunk: &[u8]) -> bool {
    let Some((_, len)) = (chunk.len() >= 5).then(|| valid_header(chunk)).flatten() else { return false };
    match chunk.get(5 + len..) {
        None | Some([]) => true,
        Some(rest) if rest.len() < 5 => true,
        Some(rest) => valid_header(rest).is_some(),
    }
}

/// SSLv2 record with a 2-byte header carrying a ClientHello (1) or ServerHello (4).
/// The lengths inside the message must add up to the record length, so that
/// arbitrary bytes of another protocol are not taken for SSL 2.0.
pub(super) fn sslv2_record(b: &[u8]) -> Option<(usize, u8)> {
    if b.len() < 11 || b[0] & 0x80 == 0 {
        return None;
    }
    let len = (((b[0] & 0x7f) as usize) << 8) | b[1] as usize;
    let u16_at = |i: usize| b.get(i..i + 2).map(|x| usize::from(u16::from_be_bytes([x[0], x[1]])));
    match b[2] {
        // CLIENT-HELLO: version, cipher-specs length, session-id length, challenge length.
        1 => {
            let version = u16_at(3)? as u16;
            let (specs, session_id, challenge) = (u16_at(5)?, u16_at(7)?, u16_at(9)?);
            let plausible = matches!(version, 0x0002 | 0x0300..=0x0303)
                && specs > 0
                && specs % 3 == 0
                && matches!(session_id, 0 | 16 | 32)
                && (16..=32).contains(&challenge)
                && len == 9 + specs + session_id + challenge;
            plausible.then_some((2 + len, 1))
        }
        // SERVER-HELLO: session-id-hit, certificate type, version, certificate,
        // cipher-specs and connection-id lengths.
        4 => {
            let (hit, version) = (b[3], u16_at(5)?);
            let (certificate, specs, connection_id) = (u16_at(7)?, u16_at(9)?, u16_at(11)?);
            let plausible = hit <= 1
                && version == 0x0002
                && specs % 3 == 0
                && (16..=32).contains(&connection_id)
                && len == 11 + certificate + specs + connection_id;
            plausible.then_some((2 + len, 4))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslv2_needs_consistent_lengths() {
        // A real SSLv2 SERVER-HELLO header: 1 + 1 + 2 + 2 + 2 + 2 + 2 bytes,
        // then a 100-byte certificate, one cipher spec and a 16-byte connection id.
        let mut hello = vec![0x80, 11 + 100 + 3 + 16, 4, 0, 1, 0x00, 0x02, 0, 100, 0, 3, 0, 16];
        hello.resize(2 + 11 + 100 + 3 + 16, 0xaa);
        assert_eq!(sslv2_record(&hello), Some((hello.len(), 4)));
        // The same first three bytes in the middle of an HTTP body or any
        // other protocol are not SSL 2.0 (random data matched one flow in
        // five hundred before the lengths were checked).
        let mut noise = hello.clone();
        noise[8] = 99;
        assert_eq!(sslv2_record(&noise), None);
        noise = hello.clone();
        noise[6] = 0x03;
        assert_eq!(sslv2_record(&noise), None);
    }
}
