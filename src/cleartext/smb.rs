//! SMB over direct TCP: the dialect and cipher the NEGOTIATE exchange
//! settled on (read from the kept bytes), and, from the walk over the
//! messages after it, whether they travelled encrypted. SMB 3 encrypts
//! with AES (MS-SMB2 §3.1.4.3) when the server or the share asks for it;
//! earlier dialects and SMB1 cannot.

use super::follow::Followed;
use super::ClearTextFacts;

/// What an SMB session showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmbSession {
    /// The SMB2 dialect the server chose (0x0202 to 0x0311); None for
    /// SMB1 or when the answer was not seen.
    pub dialect: Option<u16>,
    /// The server answered in SMB1 (MS-CIFS).
    pub smb1: bool,
    /// The cipher for encrypted messages the NEGOTIATE settled on (SMB
    /// 3.1.1's encryption context; 3.0 and 3.0.2 have AES-128-CCM when the
    /// server announces encryption), when one was.
    pub cipher: Option<&'static str>,
    /// Messages seen behind a TRANSFORM header.
    pub encrypted_messages: u32,
    /// The first file operation seen in clear.
    pub plain_operation: Option<&'static str>,
}

impl SmbSession {
    /// Whether the session was encrypted: no when a file operation crossed
    /// in clear or the dialect cannot encrypt; yes when encrypted messages
    /// came and nothing in clear; None when neither was seen.
    pub fn encrypted(&self) -> Option<bool> {
        if self.plain_operation.is_some() || self.smb1 || self.dialect.is_some_and(|d| d < 0x0300) {
            return Some(false);
        }
        (self.encrypted_messages > 0).then_some(true)
    }

    /// The dialect for people: "3.1.1", "2.1", "1" (SMB1).
    pub fn dialect_name(&self) -> Option<&'static str> {
        if self.smb1 {
            return Some("1");
        }
        Some(match self.dialect? {
            0x0202 => "2.0.2",
            0x0210 => "2.1",
            0x0300 => "3.0",
            0x0302 => "3.0.2",
            0x0311 => "3.1.1",
            _ => "2 (unknown dialect)",
        })
    }
}

/// The messages of a direction's kept bytes: each message's bytes after
/// its 4-byte length, as far as they were kept.
fn messages(mut b: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let h = b.get(..4).filter(|h| h[0] == 0)?;
        let len = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
        let end = (4 + len).min(b.len());
        let message = &b[4..end];
        b = &b[end..];
        Some(message)
    })
}

/// An SMB session: the client's first message is an SMB1 or SMB2
/// NEGOTIATE over direct TCP.
pub(super) fn read(client: &[u8], server: &[u8], followed: [Followed; 2]) -> Option<ClearTextFacts> {
    let first = messages(client).next()?;
    let negotiate = match first.get(..4)? {
        [0xff, b'S', b'M', b'B'] => first.get(4) == Some(&0x72),
        [0xfe, b'S', b'M', b'B'] => first.get(12..14) == Some(&[0, 0]),
        _ => false,
    };
    if !negotiate {
        return None;
    }
    let mut session = SmbSession {
        dialect: None,
        smb1: false,
        cipher: None,
        encrypted_messages: followed[0].smb_encrypted_messages.saturating_add(followed[1].smb_encrypted_messages),
        plain_operation: followed[0].smb_plain_operation.or(followed[1].smb_plain_operation),
    };
    // The last NEGOTIATE answer settles it (an SMB1 multi-protocol request
    // is answered with the wildcard dialect 0x02FF, then negotiated again).
    for m in messages(server) {
        match m.get(..4) {
            Some([0xff, b'S', b'M', b'B']) if m.get(4) == Some(&0x72) => session.smb1 = true,
            Some([0xfe, b'S', b'M', b'B']) if m.get(12..14) == Some(&[0, 0]) => negotiate_response(m, &mut session),
            _ => {}
        }
    }
    let mut facts = ClearTextFacts::new("smb");
    facts.smb = Some(session);
    Some(facts)
}

/// An SMB2 NEGOTIATE response (MS-SMB2 §2.2.4): its dialect, and the
/// cipher from its capabilities (3.0, 3.0.2) or its encryption context
/// (3.1.1, §2.2.3.1.2).
fn negotiate_response(m: &[u8], session: &mut SmbSession) {
    let Some(body) = m.get(64..) else { return };
    let u16_at = |at: usize| body.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let Some(dialect) = u16_at(4).filter(|d| *d != 0x02ff) else { return };
    session.dialect = Some(dialect);
    session.smb1 = false;
    let capabilities = body.get(24..28).map_or(0, |c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    session.cipher = match dialect {
        0x0300 | 0x0302 if capabilities & 0x40 != 0 => Some("AES-128-CCM"),
        0x0311 => encryption_context(m, u16_at(6).unwrap_or(0), body.get(60..64)),
        _ => None,
    };
}

/// The cipher of an SMB 3.1.1 NEGOTIATE response's encryption context,
/// when the contexts were kept.
fn encryption_context(m: &[u8], count: u16, offset: Option<&[u8]>) -> Option<&'static str> {
    let offset = offset.map(|o| u32::from_le_bytes([o[0], o[1], o[2], o[3]]) as usize)?;
    let mut at = offset;
    for _ in 0..count.min(16) {
        let c = m.get(at..at + 8)?;
        let (kind, len) = (u16::from_le_bytes([c[0], c[1]]), usize::from(u16::from_le_bytes([c[2], c[3]])));
        if kind == 2 {
            // CipherCount, then the chosen cipher.
            let cipher = m.get(at + 10..at + 12)?;
            return match u16::from_le_bytes([cipher[0], cipher[1]]) {
                1 => Some("AES-128-CCM"),
                2 => Some("AES-128-GCM"),
                3 => Some("AES-256-CCM"),
                4 => Some("AES-256-GCM"),
                _ => None,
            };
        }
        // Contexts are 8-byte aligned.
        at = (at + 8 + len).next_multiple_of(8);
    }
    None
}
