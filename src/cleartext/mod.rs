//! Sessions that never became TLS: which protocol spoke in clear and what
//! its first bytes show — a login, a health-data protocol, whether the
//! server offered an upgrade to TLS. Only the first bytes of each direction
//! are read (those the TLS detector keeps while it looks for a handshake),
//! and what comes out are facts, never payload: a protocol name, how
//! credentials were sent (never the credentials), and a few identifiers of
//! fixed form (an HL7 message type, DICOM application entity titles, an
//! HTTP method), checked character by character.

mod binary;
mod database;
mod dimse;
pub mod datagram;
mod follow;
mod smb;
mod text;

pub use follow::{Follow, Followed};
pub use smb::SmbSession;
pub use text::{line_protocol, starts};
pub use database::{
    mysql_client_capabilities, mysql_greeting_capabilities, tds_prelogin_encryption, MYSQL_CLIENT_SSL, TDS_ENCRYPT_NOT_SUP, TDS_HEADER, TDS_PRELOGIN,
    TDS_ENCRYPT_OFF, TDS_RESPONSE,
};

/// A short identifier taken from the wire: at most 16 characters, each a
/// printable ASCII character other than quotes and backslashes, trimmed of
/// spaces. Anything else is not taken at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortText {
    bytes: [u8; 16],
    len: u8,
}

impl ShortText {
    /// The identifier in `raw`, when every character is allowed and it is
    /// not empty once trimmed.
    pub fn from_wire(raw: &[u8]) -> Option<ShortText> {
        let trimmed = raw.trim_ascii();
        if trimmed.is_empty() || trimmed.len() > 16 {
            return None;
        }
        if !trimmed.iter().all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\\' || b == b' ') {
            return None;
        }
        let mut bytes = [0u8; 16];
        bytes[..trimmed.len()].copy_from_slice(trimmed);
        Some(ShortText { bytes, len: trimmed.len() as u8 })
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII was taken.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

/// What a DICOM association request showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DicomAssociation {
    pub calling_ae: Option<ShortText>,
    pub called_ae: Option<ShortText>,
    /// The service: that of the first command's SOP class when the command
    /// was seen, else of the first proposed presentation context: storage,
    /// verification, query-retrieve, worklist, or other.
    pub service: Option<&'static str>,
    /// The first DIMSE command (C-STORE, C-FIND, C-ECHO, ...).
    pub command: Option<&'static str>,
    /// The acceptor's answer: accepted, rejected, or None when not seen.
    pub answer: Option<&'static str>,
}

/// What an HTTP request showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    /// The request or the answer is FHIR: a /fhir path, a FHIR resource
    /// type as a path segment, or an application/fhir media type.
    pub fhir: bool,
    /// A certificate-status or PKI fetch (OCSP, CRL, a CA certificate),
    /// which HTTP carries by design: the objects are signed and public.
    pub pki: bool,
}

/// The facts of one session that stayed in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearTextFacts {
    /// `network.protocol`: hl7, dicom, http, ftp, smtp, submission, lmtp,
    /// imap, pop3, ldap, telnet, postgresql, mysql; over UDP snmp, syslog.
    pub protocol: &'static str,
    /// How credentials crossed in clear (e.g. "USER/PASS", "HTTP Basic",
    /// "LDAP simple bind"), when they did.
    pub credentials: Option<&'static str>,
    /// For a protocol with an in-band upgrade to TLS: whether the server
    /// offered it (None where the protocol has no offer to see).
    pub upgrade_offered: Option<bool>,
    /// A mail message went across (SMTP DATA, LMTP DATA).
    pub message_sent: bool,
    /// MSH-9 of the first HL7 message (e.g. "ADT^A01").
    pub hl7_message_type: Option<ShortText>,
    pub dicom: Option<DicomAssociation>,
    pub http: Option<HttpRequest>,
    /// SNMP's version: "1" or "2c".
    pub snmp_version: Option<ShortText>,
    pub smb: Option<SmbSession>,
}

impl ClearTextFacts {
    fn new(protocol: &'static str) -> Self {
        ClearTextFacts {
            protocol,
            credentials: None,
            upgrade_offered: None,
            message_sent: false,
            hl7_message_type: None,
            dicom: None,
            http: None,
            snmp_version: None,
            smb: None,
        }
    }

    /// Whether the session was encrypted by other means than TLS: an SMB 3
    /// session whose messages came behind TRANSFORM headers. None when that
    /// could not be seen (an SMB 3 session whose messages after the login
    /// were not seen); every other session read here is in clear.
    pub fn encrypted(&self) -> Option<bool> {
        match self.smb {
            Some(smb) => smb.encrypted(),
            None => Some(false),
        }
    }

    /// The session was seen to cross in clear.
    pub fn in_clear(&self) -> bool {
        self.encrypted() == Some(false)
    }

    /// Health data travels in this protocol by design: HL7 v2, DICOM, FHIR.
    pub fn carries_phi(&self) -> bool {
        self.hl7_message_type.is_some() || self.dicom.is_some() || self.http.is_some_and(|h| h.fhir)
    }

    /// What was seen, for people: one short sentence per fact.
    pub fn seen(&self) -> Vec<String> {
        let mut seen = Vec::new();
        if let Some(t) = self.hl7_message_type {
            seen.push(format!("HL7 {} message", t.as_str()));
        }
        if let Some(d) = self.dicom {
            let command = d.command.map(|c| format!(" {c}")).unwrap_or_default();
            let service = d.service.map(|s| format!(" for {s}")).unwrap_or_default();
            let answer = d.answer.map(|a| format!(", {a}")).unwrap_or_default();
            seen.push(format!("DICOM{command} association{service}{answer}"));
        }
        if let Some(smb) = self.smb {
            let dialect = smb.dialect_name().map(|d| format!(" {d}")).unwrap_or_default();
            seen.push(match (smb.encrypted(), smb.plain_operation) {
                (Some(true), _) => format!("SMB{dialect} encrypted ({})", smb.cipher.unwrap_or("cipher not seen")),
                (_, Some(op)) => format!("SMB{dialect} file operations in clear ({op})"),
                (Some(false), None) => format!("SMB{dialect}, a dialect without encryption"),
                (None, None) => format!("SMB{dialect}: whether its messages were encrypted was not seen"),
            });
        }
        if let Some(h) = self.http {
            seen.push(match (h.fhir, h.pki) {
                (true, _) => format!("FHIR request ({})", h.method),
                (false, true) => format!("certificate status or PKI fetch ({})", h.method),
                (false, false) => format!("HTTP request ({})", h.method),
            });
        }
        if let Some(how) = self.credentials {
            seen.push(format!("credentials sent in clear ({how})"));
        }
        if self.message_sent {
            seen.push("mail message sent in clear".to_string());
        }
        match self.upgrade_offered {
            Some(true) => seen.push("TLS offered, not used".to_string()),
            Some(false) => seen.push("TLS not offered".to_string()),
            None => {}
        }
        if seen.is_empty() {
            seen.push(format!("{} in clear", self.protocol));
        }
        seen
    }
}

/// What was seen of one direction of a session that never became TLS.
#[derive(Debug, Clone, Copy, Default)]
pub struct Direction<'a> {
    /// Its first bytes (at most `KEEP`).
    pub kept: &'a [u8],
    /// The walk over its framed messages, where there was one.
    pub followed: Followed,
    /// STARTTLS or its kin was named anywhere in it (not only in the kept
    /// bytes).
    pub named_upgrade: bool,
}

/// Reads a session that never became TLS: `client` the side that opened
/// the connection, `server` the other. None when no protocol of interest
/// is recognised.
pub fn read(client: Direction<'_>, server: Direction<'_>, server_port: u16) -> Option<ClearTextFacts> {
    let (c, s) = (client.kept, server.kept);
    binary::read(c, s, [client.followed, server.followed])
        .or_else(|| smb::read(c, s, [client.followed, server.followed]))
        .or_else(|| database::read(c, s))
        .or_else(|| text::read(c, s, server.named_upgrade, server_port))
}

/// The bytes kept per direction for this reading.
pub const KEEP: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_takes_only_plain_identifiers() {
        assert_eq!(ShortText::from_wire(b"SYNTH-PACS      ").map(|t| t.as_str().to_string()), Some("SYNTH-PACS".into()));
        assert_eq!(ShortText::from_wire(b"ADT^A01").map(|t| t.as_str().to_string()), Some("ADT^A01".into()));
        for bad in [&b""[..], b"    ", b"\x1b[31mred", b"a\"b", b"a\\b", b"seventeen-chars-x", b"caf\xc3\xa9"] {
            assert_eq!(ShortText::from_wire(bad), None, "{bad:?}");
        }
    }

    /// Every cut of every protocol's opening bytes, and every byte of them
    /// changed, is read without a panic (the readers index nothing blindly).
    #[test]
    fn cut_and_damaged_openings_are_read_safely() {
        let mut dicom = vec![0x01, 0, 0, 0, 0, 0x80, 0, 1, 0, 0];
        dicom.extend_from_slice(b"SYNTH-PACS      SYNTH-MODALITY  ");
        dicom.resize(74, 0);
        dicom.extend_from_slice(&[0x10, 0, 0, 3, b'1', b'.', b'2', 0x20, 0, 0, 0x17, 1, 0, 0, 0, 0x30, 0, 0, 0x11]);
        dicom.extend_from_slice(b"1.2.840.10008.1.1");
        let prelogin = |kind: u8, encryption: u8| {
            let mut p = vec![kind, 1, 0, 26, 0, 0, 1, 0, 0, 0, 11, 0, 6, 1, 0, 17, 0, 1, 0xff, 16, 0, 7, 0xd0, 0, 0];
            p.push(encryption);
            p
        };
        let mut tds = prelogin(0x12, 2);
        let mut login7 = vec![0u8; 8 + 56];
        login7[..4].copy_from_slice(&[0x10, 1, 0, 64]);
        login7[8 + 46] = 4;
        tds.extend_from_slice(&login7);
        let tds_answer = prelogin(0x04, 2);
        let openings: [(&[u8], &[u8]); 7] = [
            (b"\x0bMSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\r", b""),
            (&dicom, &[0x02, 0, 0, 0, 0, 0x40]),
            (&[0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x01, b'x'], b""),
            (&[0, 0, 0, 9, 0, 3, 0, 0, 0, b'p', 0, 0, 0, 5, 0], &[b'R', 0, 0, 0, 8, 0, 0, 0, 3]),
            (b"GET /fhir/Patient HTTP/1.1\r\nAuthorization: Basic x\r\n\r\n", b"HTTP/1.1 200 OK\r\n"),
            (b"EHLO a\r\nAUTH PLAIN x\r\n", b"220 mx ESMTP\r\n250-STARTTLS\r\n"),
            (&tds, &tds_answer),
        ];
        for (client, server) in openings {
            let read = |client: &[u8], server: &[u8], named_upgrade| {
                let side = |kept| Direction { kept, followed: Followed::default(), named_upgrade };
                read(side(client), side(server), 25)
            };
            assert!(read(client, server, true).is_some(), "{client:?}");
            for cut in 0..client.len() {
                let _ = read(&client[..cut], server, false);
                let mut damaged = client.to_vec();
                damaged[cut] ^= 0xff;
                let _ = read(&damaged, server, false);
            }
            for cut in 0..server.len() {
                let _ = read(client, &server[..cut], false);
            }
        }
    }

    #[test]
    fn seen_lists_each_fact() {
        let mut f = ClearTextFacts::new("smtp");
        f.upgrade_offered = Some(false);
        f.message_sent = true;
        assert_eq!(f.seen(), ["mail message sent in clear", "TLS not offered"]);
        assert!(!f.carries_phi());
    }
}
