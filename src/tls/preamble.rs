//! The clear-text phase before TLS (STARTTLS and its kin): which protocol
//! spoke it, whether the server offered the upgrade and whether the client
//! asked for it. Only the first bytes of each direction are kept, in
//! memory and only until the session ends (never written out), and the
//! upgrade keywords are looked for as the bytes pass, so that a long
//! capability list costs no memory.

use std::sync::LazyLock;

use memchr::memmem;

use crate::cleartext::{
    line_protocol, mysql_client_capabilities, starts, mysql_greeting_capabilities, tds_prelogin_encryption, MYSQL_CLIENT_SSL, TDS_ENCRYPT_NOT_SUP,
    TDS_ENCRYPT_OFF, TDS_PRELOGIN, TDS_RESPONSE,
};

/// Bytes of the clear-text preamble kept per direction to name the
/// protocol, and to read a session that never becomes TLS.
pub const PREAMBLE_KEEP: usize = crate::cleartext::KEEP;

/// Words that name the upgrade: SMTP, IMAP, NNTP, ManageSieve, IRC and
/// XMPP's STARTTLS, POP3's STLS, FTP's AUTH TLS/SSL, and the OID of LDAP's
/// StartTLS extended operation (RFC 4511 §4.14.1).
const UPGRADE_WORDS: [&[u8]; 6] = [b"STARTTLS", b"starttls", b"STLS", b"AUTH TLS", b"AUTH SSL", b"1.3.6.1.4.1.1466.20037"];

/// The upgrade words but the OID, each with where its L (or l) is: one
/// pass for the letter finds the places where any of them could stand,
/// instead of a pass per word.
const WORDS_BY_L: [(&[u8], usize); 5] = [(b"STARTTLS", 6), (b"STLS", 2), (b"AUTH TLS", 6), (b"AUTH SSL", 7), (b"starttls", 6)];

/// The LDAP StartTLS OID's searcher, built once: building one costs more
/// than searching the short chunks of a clear-text preamble.
static LDAP_STARTTLS: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(UPGRADE_WORDS[5]));

/// Whether `b` holds one of the upgrade words (`UPGRADE_WORDS`).
fn holds_upgrade_word(b: &[u8]) -> bool {
    let spelled_at = |at: usize| WORDS_BY_L.iter().any(|(word, l)| at >= *l && b[at - l..].starts_with(word));
    memchr::memchr2_iter(b'L', b'l', b).any(spelled_at) || LDAP_STARTTLS.find(b).is_some()
}

/// Longest upgrade word, less one: bytes carried from one chunk to the next.
const CARRY: usize = 21;

/// Looks for the upgrade words across the chunks of one direction.
#[derive(Debug, Default)]
pub struct UpgradeWords {
    carry: [u8; CARRY],
    carry_len: usize,
    pub seen: bool,
}

impl UpgradeWords {
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.seen || chunk.is_empty() {
            return;
        }
        // A word split between chunks: the carried tail and this chunk's head.
        let mut junction = [0u8; 2 * CARRY];
        let head = chunk.len().min(CARRY);
        junction[..self.carry_len].copy_from_slice(&self.carry[..self.carry_len]);
        junction[self.carry_len..self.carry_len + head].copy_from_slice(&chunk[..head]);
        if holds_upgrade_word(&junction[..self.carry_len + head]) || holds_upgrade_word(chunk) {
            self.seen = true;
            return;
        }
        // Carry the last bytes seen for the next chunk.
        if chunk.len() >= CARRY {
            self.carry.copy_from_slice(&chunk[chunk.len() - CARRY..]);
            self.carry_len = CARRY;
        } else {
            let seen = &junction[..self.carry_len + head];
            let keep = seen.len().min(CARRY);
            let mut carry = [0u8; CARRY];
            carry[..keep].copy_from_slice(&seen[seen.len() - keep..]);
            self.carry = carry;
            self.carry_len = keep;
        }
    }
}

/// What the clear-text phase showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upgrade {
    /// `network.protocol`: smtp, submission, lmtp, imap, pop3, ftp, ldap,
    /// xmpp-client, xmpp-server, nntp, sieve, postgresql, mysql, mssql, rdp, irc,
    /// http (a CONNECT proxy), socks, or unknown.
    pub protocol: &'static str,
    /// The server named the upgrade (a capability, a feature, PostgreSQL's
    /// 'S', MySQL's SSL capability flag, MS-SQL's PRELOGIN encryption
    /// answer, RDP's TLS selection).
    pub offered: bool,
    /// The client asked for it (the command, the extended operation,
    /// PostgreSQL's SSLRequest, MySQL's SSL request, RDP's TLS request).
    pub requested: bool,
    /// TLS covers the login only and the session goes on in clear
    /// (MS-SQL's PRELOGIN answer ENCRYPT_OFF, MS-TDS 2.2.6.5).
    pub login_only: bool,
}

fn contains(b: &[u8], p: &[u8]) -> bool {
    memmem::find(b, p).is_some()
}

/// PostgreSQL's SSLRequest (length 8, code 80877103) and GSSENCRequest.
const PG_SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f];

/// RDP's X.224 Connection Request or Confirm (TPKT version 3): the
/// RDP_NEG_REQ/RSP's protocol bits, when present.
fn rdp_negotiation(b: &[u8]) -> Option<u32> {
    if b.len() < 11 || b[0] != 3 || b[1] != 0 || !matches!(b[5], 0xe0 | 0xd0) {
        return None;
    }
    // The negotiation structure ends the TPDU: type, flags, length 8, protocols.
    let end = usize::from(u16::from_be_bytes([b[2], b[3]])).min(b.len());
    let neg = b.get(end.checked_sub(8)?..end)?;
    matches!(neg[0], 1 | 2).then(|| u32::from_le_bytes([neg[4], neg[5], neg[6], neg[7]]))
}

/// Reads the clear-text phase: the first bytes of each side, whether the
/// upgrade words passed by, and the server's port.
pub fn read(client: &[u8], server: &[u8], client_words: bool, server_words: bool, server_port: u16) -> Upgrade {
    let up = |protocol| Upgrade { protocol, offered: server_words, requested: client_words, login_only: false };
    // SMTP, LMTP, IMAP, POP3 and FTP are named as for sessions in clear.
    if let Some(protocol) = line_protocol(client, server, server_port) {
        return up(protocol);
    }
    if starts(client, b"CONNECT ") {
        return up("http");
    }
    if client.starts_with(&PG_SSL_REQUEST) {
        return Upgrade { protocol: "postgresql", offered: server.first() == Some(&b'S'), requested: true, login_only: false };
    }
    if let Some(caps) = mysql_greeting_capabilities(server) {
        let requested = mysql_client_capabilities(client).is_some_and(|c| c & MYSQL_CLIENT_SSL != 0);
        return Upgrade { protocol: "mysql", offered: caps & MYSQL_CLIENT_SSL != 0, requested, login_only: false };
    }
    if let Some(asked) = tds_prelogin_encryption(client, TDS_PRELOGIN) {
        // MS-SQL: the TLS handshake itself then travels inside PRELOGIN
        // packets. Any answer but "not supported" offers TLS; "off" offers
        // it for the login only.
        let answer = tds_prelogin_encryption(server, TDS_RESPONSE);
        return Upgrade {
            protocol: "mssql",
            offered: answer.is_some_and(|a| a != TDS_ENCRYPT_NOT_SUP),
            requested: matches!(asked, 1 | 3),
            login_only: answer == Some(TDS_ENCRYPT_OFF),
        };
    }
    if let Some(requested) = rdp_negotiation(client) {
        // PROTOCOL_SSL 1, PROTOCOL_HYBRID 2 (CredSSP over TLS), HYBRID_EX 8.
        let selected = rdp_negotiation(server).unwrap_or(0);
        return Upgrade { protocol: "rdp", offered: selected & 0x0b != 0, requested: requested & 0x0b != 0, login_only: false };
    }
    if starts(client, b"<?xml") || starts(client, b"<stream") {
        let protocol = if contains(client, b"jabber:server") { "xmpp-server" } else { "xmpp-client" };
        return up(protocol);
    }
    if starts(server, b"\"IMPLEMENTATION\"") || starts(server, b"\"SIEVE\"") {
        return up("sieve");
    }
    // FTP's AUTH TLS where the server's greeting was not seen.
    if starts(client, b"AUTH ") || starts(client, b"FEAT") || starts(client, b"USER ") {
        return up("ftp");
    }
    if (starts(server, b"200 ") || starts(server, b"201 ")) && (starts(client, b"CAPABILITIES") || starts(client, b"STARTTLS")) {
        return up("nntp");
    }
    if starts(client, b"CAP LS") || starts(client, b"NICK ") || starts(server, b":") {
        return up("irc");
    }
    if client.first() == Some(&0x30) {
        return up("ldap");
    }
    if matches!(client.first(), Some(4) | Some(5)) {
        return up("socks");
    }
    if starts(server, b"220") {
        return up(if server_port == 587 { "submission" } else { "smtp" });
    }
    up("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_words_are_found_across_chunk_boundaries() {
        let text = b"250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
        for cut in 1..text.len() {
            let mut w = UpgradeWords::default();
            w.feed(&text[..cut]);
            w.feed(&text[cut..]);
            assert!(w.seen, "cut at {cut}");
        }
        // One byte at a time.
        let mut w = UpgradeWords::default();
        for b in text.iter() {
            w.feed(std::slice::from_ref(b));
        }
        assert!(w.seen);
        let mut none = UpgradeWords::default();
        none.feed(b"250-PIPELINING\r\n250 8BITMIME\r\n");
        assert!(!none.seen);
    }

    #[test]
    fn the_upgrade_words_are_found_wherever_a_search_for_each_finds_them() {
        // Chunks of bytes drawn mostly from the words' own letters, cut at
        // random: the one pass finds a word exactly when one of the six
        // searches over everything fed so far does.
        let alphabet = b"STARTLUH slatr1.3640725\r\n";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % n
        };
        let mut found = 0;
        for _ in 0..20_000 {
            let mut w = UpgradeWords::default();
            let mut fed = Vec::new();
            for _ in 0..1 + next(4) {
                let mut chunk: Vec<u8> = (0..next(40)).map(|_| alphabet[next(alphabet.len())]).collect();
                if next(8) == 0 {
                    let word = UPGRADE_WORDS[next(UPGRADE_WORDS.len())];
                    let at = next(chunk.len() + 1);
                    chunk.splice(at..at, word.iter().copied());
                }
                w.feed(&chunk);
                fed.extend_from_slice(&chunk);
                let expected = UPGRADE_WORDS.iter().any(|word| memmem::find(&fed, word).is_some());
                assert_eq!(w.seen, expected, "{:?}", String::from_utf8_lossy(&fed));
            }
            found += usize::from(w.seen);
        }
        assert!(found > 1_000 && found < 19_000, "{found} of 20,000 with a word");
    }

    #[test]
    fn protocols_are_named_by_their_first_bytes() {
        assert_eq!(read(b"EHLO a\r\n", b"220 mx ESMTP\r\n", true, true, 25).protocol, "smtp");
        assert_eq!(read(b"EHLO a\r\n", b"220 mx ESMTP\r\n", true, true, 587).protocol, "submission");
        assert_eq!(read(b"LHLO a\r\n", b"220 lmtp\r\n", true, true, 24).protocol, "lmtp");
        assert_eq!(read(b"a STARTTLS\r\n", b"* OK [CAPABILITY IMAP4rev1 STARTTLS]", true, true, 143).protocol, "imap");
        assert_eq!(read(b"STLS\r\n", b"+OK Dovecot ready.\r\n", true, false, 110).protocol, "pop3");
        assert_eq!(read(b"AUTH TLS\r\n", b"220 (vsFTPd 3.0.3)\r\n", true, false, 21).protocol, "ftp");
        assert_eq!(read(b"STARTTLS\r\n", b"\"IMPLEMENTATION\" \"Dovecot\"\r\n", true, true, 4190).protocol, "sieve");
        let s2s = b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' to='a'>";
        assert_eq!(read(s2s, b"<?xml", true, true, 5269).protocol, "xmpp-server");
        assert_eq!(read(b"<stream:stream xmlns='jabber:client'>", b"", true, true, 5222).protocol, "xmpp-client");
        assert_eq!(read(b"CAPABILITIES\r\n", b"200 news ready\r\n", false, true, 119).protocol, "nntp");
        let pg = read(&PG_SSL_REQUEST, b"S", false, false, 5432);
        assert_eq!((pg.protocol, pg.offered, pg.requested), ("postgresql", true, true));
        assert_eq!(read(&[0x30, 0x1d, 2, 1, 1, 0x77], b"", true, false, 389).protocol, "ldap");
    }

    #[test]
    fn mysql_and_rdp_negotiations_are_read() {
        // A MariaDB greeting: length, sequence 0, protocol 10, version, thread id,
        // 8 bytes of auth data, filler, capabilities with CLIENT_SSL.
        let mut greeting = vec![0x5a, 0, 0, 0, 10];
        greeting.extend_from_slice(b"10.11.6-MariaDB\0");
        greeting.extend_from_slice(&[1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0xfe, 0xff]);
        greeting.resize(0x5e, 0);
        let ssl_request = [32, 0, 0, 1, 0x8d, 0xaa, 0, 0, 0, 0, 0, 1];
        let m = read(&ssl_request, &greeting, false, false, 3306);
        assert_eq!((m.protocol, m.offered, m.requested), ("mysql", true, true));
        // X.224 Connection Request with RDP_NEG_REQ asking for TLS and CredSSP; the confirm selects TLS.
        let cr = [3, 0, 0, 19, 14, 0xe0, 0, 0, 0, 0, 0, 1, 0, 8, 0, 3, 0, 0, 0];
        let cc = [3, 0, 0, 19, 14, 0xd0, 0, 0, 0x12, 0x34, 0, 2, 0, 8, 0, 1, 0, 0, 0];
        let r = read(&cr, &cc, false, false, 3389);
        assert_eq!((r.protocol, r.offered, r.requested), ("rdp", true, true));
        // TDS PRELOGIN: VERSION and ENCRYPTION tokens, terminator, their data.
        let prelogin = |kind: u8, encryption: u8| {
            let mut p = vec![kind, 1, 0, 26, 0, 0, 1, 0, 0, 0, 11, 0, 6, 1, 0, 17, 0, 1, 0xff];
            p.extend_from_slice(&[16, 0, 7, 0xd0, 0, 0, encryption]);
            p
        };
        let t = read(&prelogin(0x12, 1), &prelogin(0x04, 3), false, false, 1433);
        assert_eq!((t.protocol, t.offered, t.requested), ("mssql", true, true));
        let off = read(&prelogin(0x12, 0), &prelogin(0x04, 2), false, false, 1433);
        assert_eq!((off.protocol, off.offered, off.requested), ("mssql", false, false));
    }
}
