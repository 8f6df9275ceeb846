//! Database logins in clear: PostgreSQL, MySQL/MariaDB and MS-SQL (TDS).
//! Each is recognised by its first messages' framing; what is taken is
//! whether a login crossed and how, never a name or a password.

use super::ClearTextFacts;

pub(super) fn read(client: &[u8], server: &[u8]) -> Option<ClearTextFacts> {
    postgresql(client, server).or_else(|| mysql(client, server)).or_else(|| mssql(client, server))
}

/// PostgreSQL's StartupMessage (protocol 3.0) and, in the messages after
/// it, the client's PasswordMessage; the server's authentication request
/// says how the password travelled.
fn postgresql(client: &[u8], server: &[u8]) -> Option<ClearTextFacts> {
    let len = u32::from_be_bytes(client.get(..4)?.try_into().ok()?) as usize;
    if client.get(4..8)? != [0, 3, 0, 0] || !(9..=10_000).contains(&len) {
        return None;
    }
    let mut facts = ClearTextFacts::new("postgresql");
    let password_sent = messages(client.get(len..).unwrap_or_default()).any(|t| t == b'p');
    if password_sent {
        // AuthenticationRequest 'R': 3 cleartext, 5 MD5, 10 SASL.
        let method = server.get(..9).filter(|r| r[0] == b'R').map(|r| u32::from_be_bytes([r[5], r[6], r[7], r[8]]));
        facts.credentials = Some(match method {
            Some(3) => "PostgreSQL cleartext password",
            Some(5) => "PostgreSQL MD5 login",
            Some(10) => "PostgreSQL SASL login",
            _ => "PostgreSQL login",
        });
    }
    Some(facts)
}

/// The types of PostgreSQL's typed messages (type byte, 4-byte length).
fn messages(mut b: &[u8]) -> impl Iterator<Item = u8> + '_ {
    std::iter::from_fn(move || {
        let typ = *b.first()?;
        let len = u32::from_be_bytes(b.get(1..5)?.try_into().ok()?) as usize;
        b = b.get(1 + len..).unwrap_or_default();
        (len >= 4).then_some(typ)
    })
}

/// MySQL's CLIENT_SSL capability bit.
pub const MYSQL_CLIENT_SSL: u32 = 0x0800;

/// A MySQL/MariaDB server greeting (protocol 10): its capability flags
/// (the lower 16 bits, which hold CLIENT_SSL).
pub fn mysql_greeting_capabilities(b: &[u8]) -> Option<u32> {
    let len = usize::from(*b.first()?) | usize::from(*b.get(1)?) << 8 | usize::from(*b.get(2)?) << 16;
    if *b.get(3)? != 0 || *b.get(4)? != 10 || len < 40 {
        return None;
    }
    // Version string, NUL-terminated; then thread id (4), auth data (8), filler (1).
    let version_end = 5 + memchr::memchr(0, b.get(5..)?)?;
    let at = version_end + 1 + 4 + 8 + 1;
    Some(u32::from(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?])))
}

/// The capability flags of a MySQL client packet of sequence 1: the short
/// SSLRequest, or the HandshakeResponse that logs in.
pub fn mysql_client_capabilities(b: &[u8]) -> Option<u32> {
    let h = b.get(3..8).filter(|h| h[0] == 1)?;
    Some(u32::from_le_bytes([h[1], h[2], h[3], h[4]]))
}

/// A MySQL/MariaDB server greeting and the client's answer: a
/// HandshakeResponse without CLIENT_SSL is a login in clear.
fn mysql(client: &[u8], server: &[u8]) -> Option<ClearTextFacts> {
    let offered = mysql_greeting_capabilities(server)? & MYSQL_CLIENT_SSL != 0;
    let mut facts = ClearTextFacts::new("mysql");
    facts.upgrade_offered = Some(offered);
    if mysql_client_capabilities(client).is_some_and(|caps| caps & MYSQL_CLIENT_SSL == 0) && client.len() > 36 {
        facts.credentials = Some("MySQL login");
    }
    Some(facts)
}

/// A TDS packet header (MS-TDS 2.2.3): type, status, length (header
/// included), SPID, packet id, window.
pub const TDS_HEADER: usize = 8;
/// The PRELOGIN packet type (which also carries MS-SQL's TLS handshake).
pub const TDS_PRELOGIN: u8 = 0x12;
/// The server's answer to a PRELOGIN (a tabular result).
pub const TDS_RESPONSE: u8 = 0x04;
const TDS_LOGIN7: u8 = 0x10;

/// MS-SQL's PRELOGIN ENCRYPTION values (MS-TDS 2.2.6.5).
pub const TDS_ENCRYPT_OFF: u8 = 0;
pub const TDS_ENCRYPT_NOT_SUP: u8 = 2;

/// The ENCRYPTION option of a TDS PRELOGIN packet (MS-TDS 2.2.6.5): the
/// packet's type (0x12 from the client, 0x04 in the server's answer) and
/// the option's value (0 off: the login only; 1 on; 2 not supported; 3
/// required).
pub fn tds_prelogin_encryption(b: &[u8], packet_type: u8) -> Option<u8> {
    let len = tds_packet(b, packet_type)?;
    let payload = b.get(TDS_HEADER..len.min(b.len()))?;
    let mut tokens = payload;
    loop {
        match *tokens.first()? {
            0xff => return None,
            0x01 => {
                let offset = usize::from(u16::from_be_bytes([*tokens.get(1)?, *tokens.get(2)?]));
                return payload.get(offset).copied();
            }
            _ => tokens = tokens.get(5..)?,
        }
    }
}

/// The length of the TDS packet of `packet_type` that starts `b`.
fn tds_packet(b: &[u8], packet_type: u8) -> Option<usize> {
    let h = b.get(..TDS_HEADER)?;
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    (h[0] == packet_type && h[1] <= 1 && (TDS_HEADER + 1..=32_768).contains(&len) && h[4..6] == [0, 0]).then_some(len)
}

/// MS-SQL without TLS: a PRELOGIN, the server's answer, and the LOGIN7
/// that follows in clear (MS-TDS 2.2.6.4). A SQL login's password in a
/// LOGIN7 is only obfuscated (nibbles swapped, XORed with 0xA5): it is a
/// password in clear. An integrated login (SSPI) carries none.
fn mssql(client: &[u8], server: &[u8]) -> Option<ClearTextFacts> {
    tds_prelogin_encryption(client, TDS_PRELOGIN)?;
    let mut facts = ClearTextFacts::new("mssql");
    // The server could have encrypted unless it said it cannot.
    facts.upgrade_offered = tds_prelogin_encryption(server, TDS_RESPONSE).map(|answer| answer != TDS_ENCRYPT_NOT_SUP);
    let prelogin_len = tds_packet(client, TDS_PRELOGIN)?;
    let login = client.get(prelogin_len..).unwrap_or_default();
    if tds_packet(login, TDS_LOGIN7).is_some() {
        // OptionFlags2 (fIntSecurity 0x80) and cchPassword of the LOGIN7 body.
        let body = &login[TDS_HEADER..];
        let integrated = body.get(25).is_some_and(|f| f & 0x80 != 0);
        let password_chars = body.get(46..48).map_or(0, |c| u16::from_le_bytes([c[0], c[1]]));
        if password_chars > 0 && !integrated {
            facts.credentials = Some("MS-SQL login, password only obfuscated");
        }
    }
    Some(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prelogin(kind: u8, encryption: u8) -> Vec<u8> {
        let mut p = vec![kind, 1, 0, 26, 0, 0, 1, 0, 0, 0, 11, 0, 6, 1, 0, 17, 0, 1, 0xff, 16, 0, 7, 0xd0, 0, 0];
        p.push(encryption);
        p
    }

    /// A LOGIN7 packet: `password_chars` in cchPassword, and fIntSecurity.
    fn login7(password_chars: u8, integrated: bool) -> Vec<u8> {
        let mut p = vec![0u8; 8 + 56];
        p[..4].copy_from_slice(&[0x10, 1, 0, 64]);
        p[8 + 25] = if integrated { 0x80 } else { 0 };
        p[8 + 46] = password_chars;
        p
    }

    #[test]
    fn mssql_login_kinds() {
        let login = |chars, integrated| [prelogin(0x12, TDS_ENCRYPT_NOT_SUP), login7(chars, integrated)].concat();
        let answer = prelogin(0x04, TDS_ENCRYPT_NOT_SUP);
        let sql = mssql(&login(9, false), &answer).expect("TDS");
        assert_eq!((sql.credentials, sql.upgrade_offered), (Some("MS-SQL login, password only obfuscated"), Some(false)));
        assert_eq!(mssql(&login(0, true), &answer).and_then(|f| f.credentials), None, "integrated login: no password");
        // The server could encrypt (off: the login only) and the client went on in clear.
        let offered = mssql(&login(9, false), &prelogin(0x04, TDS_ENCRYPT_OFF)).expect("TDS");
        assert_eq!(offered.upgrade_offered, Some(true));
        assert!(mssql(&prelogin(0x04, 1), &[]).is_none(), "a server's answer does not open a session");
    }
}
