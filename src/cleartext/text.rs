//! Line-oriented protocols in clear: HTTP/1.x (FHIR among it), FTP, SMTP
//! and LMTP, IMAP, POP3, and telnet. Each is recognised by its greeting or
//! first command; the client's later command lines say whether a login or
//! a message went across, read only as far as their command words.

use super::{ClearTextFacts, HttpRequest};

pub(super) fn read(client: &[u8], server: &[u8], server_words: bool, server_port: u16) -> Option<ClearTextFacts> {
    http(client, server)
        .or_else(|| telnet(client, server))
        .or_else(|| mail_or_file(client, server, server_words, server_port))
}

/// Whether `b` starts with `p`, ASCII case ignored.
pub fn starts(b: &[u8], p: &[u8]) -> bool {
    b.len() >= p.len() && b[..p.len()].eq_ignore_ascii_case(p)
}

/// Whether `b` holds `p`, ASCII case ignored. Only where the first byte of
/// `p` (in either case) is found by a byte search is the rest compared: a
/// clear-text preamble is searched for a dozen media types and words.
fn contains_ignore_case(b: &[u8], p: &[u8]) -> bool {
    let Some((&first, rest)) = p.split_first() else {
        return true;
    };
    memchr::memchr2_iter(first.to_ascii_lowercase(), first.to_ascii_uppercase(), b)
        .any(|at| b.len() - at > rest.len() && b[at + 1..at + 1 + rest.len()].eq_ignore_ascii_case(rest))
}

/// The lines of `b`, without their line ends.
fn lines(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    b.split(|&c| c == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// A client line that starts with one of `commands` (case-insensitive).
fn client_sent(client: &[u8], commands: &[&[u8]]) -> bool {
    lines(client).any(|l| commands.iter().any(|c| starts(l, c)))
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"];

/// FHIR R4 resource types seen most often in REST paths.
const FHIR_RESOURCES: [&[u8]; 16] = [
    b"Patient", b"Observation", b"Encounter", b"Condition", b"MedicationRequest", b"DiagnosticReport", b"Bundle",
    b"Practitioner", b"Organization", b"AllergyIntolerance", b"Immunization", b"Procedure", b"DocumentReference",
    b"ServiceRequest", b"Appointment", b"ImagingStudy",
];

/// Media types of the signed, public objects HTTP carries for PKI.
const PKI_MEDIA_TYPES: [&[u8]; 5] =
    [b"application/ocsp-request", b"application/ocsp-response", b"application/pkix-crl", b"application/pkix-cert", b"application/pkcs7-mime"];

/// An HTTP/1.x request line ("GET /path HTTP/1.1"): its method, whether the
/// exchange is FHIR, and whether the client sent an Authorization header.
fn http(client: &[u8], server: &[u8]) -> Option<ClearTextFacts> {
    let request_line = lines(client).next()?;
    let method = METHODS.into_iter().find(|m| request_line.starts_with(m.as_bytes()) && request_line.get(m.len()) == Some(&b' '))?;
    let mut words = request_line.split(|&c| c == b' ');
    let target = words.nth(1)?;
    if !words.next().is_some_and(|v| v.starts_with(b"HTTP/1.")) {
        return None;
    }
    let path = target.strip_prefix(b"http://").map_or(target, |rest| rest.iter().position(|&c| c == b'/').map_or(&b"/"[..], |at| &rest[at..]));
    let path_only = path.split(|&c| c == b'?').next().unwrap_or_default();
    let fhir = contains_ignore_case(path, b"/fhir")
        || path_only.split(|&c| c == b'/').any(|segment| FHIR_RESOURCES.contains(&segment))
        || contains_ignore_case(client, b"application/fhir+")
        || contains_ignore_case(server, b"application/fhir+");
    // OCSP (RFC 6960 App. A), CRLs and CA certificates (RFC 5280 §4.2.2.1).
    let pki = PKI_MEDIA_TYPES.iter().any(|t| contains_ignore_case(client, t) || contains_ignore_case(server, t));
    let mut facts = ClearTextFacts::new("http");
    facts.http = Some(HttpRequest { method, fhir, pki: pki && !fhir });
    let header = |name: &[u8]| lines(client).skip(1).take_while(|l| !l.is_empty()).find(|l| starts(l, name));
    facts.credentials = header(b"Authorization:").map(|l| {
        let scheme = l[b"Authorization:".len()..].trim_ascii_start();
        if starts(scheme, b"Basic ") {
            "HTTP Basic"
        } else if starts(scheme, b"Bearer ") {
            "HTTP bearer token"
        } else {
            "HTTP Authorization header"
        }
    });
    Some(facts)
}

/// Telnet (RFC 854): option negotiation (IAC WILL/WONT/DO/DONT) opens the
/// session; a server that asks for a password gets one in clear.
fn telnet(client: &[u8], server: &[u8]) -> Option<ClearTextFacts> {
    let negotiates = |b: &[u8]| matches!(b, [0xff, 0xfb..=0xfe, ..]);
    if !negotiates(client) && !negotiates(server) {
        return None;
    }
    let mut facts = ClearTextFacts::new("telnet");
    if contains_ignore_case(server, b"password:") && !client.is_empty() {
        facts.credentials = Some("telnet login");
    }
    Some(facts)
}

/// The line protocols whose login or upgrade is read here, named from the
/// first bytes of each side: SMTP (submission on port 587) and LMTP by the
/// client's EHLO, HELO or LHLO; IMAP and POP3 by the server's greeting; FTP
/// by the server's 220 and a client's first command of FTP's own. The
/// STARTTLS reader names the clear-text phase before TLS with it too.
pub fn line_protocol(client: &[u8], server: &[u8], server_port: u16) -> Option<&'static str> {
    if starts(client, b"LHLO") {
        Some("lmtp")
    } else if starts(client, b"EHLO") || starts(client, b"HELO") {
        Some(if server_port == 587 { "submission" } else { "smtp" })
    } else if starts(server, b"* OK") || starts(server, b"* PREAUTH") {
        Some("imap")
    } else if starts(server, b"+OK") {
        Some("pop3")
    } else if starts(server, b"220") && [&b"USER "[..], b"FEAT", b"SYST", b"OPTS ", b"AUTH "].iter().any(|c| starts(client, c)) {
        Some("ftp")
    } else {
        None
    }
}

/// SMTP, LMTP, FTP, IMAP and POP3: whether a login, a message, or the
/// server's upgrade offer went across.
fn mail_or_file(client: &[u8], server: &[u8], server_words: bool, server_port: u16) -> Option<ClearTextFacts> {
    let protocol = line_protocol(client, server, server_port)?;
    let mut facts = ClearTextFacts::new(protocol);
    match protocol {
        "smtp" | "submission" | "lmtp" => {
            // EHLO and LHLO ask for the extensions, STARTTLS among them.
            facts.upgrade_offered = (!starts(client, b"HELO")).then_some(server_words);
            facts.message_sent = client_sent(client, &[b"DATA", b"BDAT"]);
            if client_sent(client, &[b"AUTH "]) {
                facts.credentials = Some("SMTP AUTH");
            }
        }
        "ftp" => {
            facts.upgrade_offered = client_sent(client, &[b"FEAT"]).then_some(server_words);
            if client_sent(client, &[b"PASS "]) {
                facts.credentials = Some("FTP USER/PASS");
            }
        }
        "imap" => {
            facts.upgrade_offered = contains_ignore_case(server, b"CAPABILITY").then_some(server_words);
            let login = lines(client).any(|l| {
                let mut words = l.split(|&c| c == b' ');
                let _tag = words.next();
                words.next().is_some_and(|w| w.eq_ignore_ascii_case(b"LOGIN") || w.eq_ignore_ascii_case(b"AUTHENTICATE"))
            });
            if login {
                facts.credentials = Some("IMAP LOGIN");
            }
        }
        _ => {
            // POP3.
            facts.upgrade_offered = client_sent(client, &[b"CAPA"]).then_some(server_words);
            if client_sent(client, &[b"PASS ", b"APOP ", b"AUTH "]) {
                facts.credentials = Some("POP3 USER/PASS");
            }
        }
    }
    Some(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_request_lines_and_fhir() {
        let f = http(b"GET /fhir/Patient/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Basic eDp5\r\n\r\n", b"").expect("HTTP");
        assert_eq!(f.http, Some(HttpRequest { method: "GET", fhir: true, pki: false }));
        let ocsp = http(b"GET /MFMwUTBP HTTP/1.1\r\nHost: ocsp.example\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n").expect("HTTP");
        assert_eq!(ocsp.http.map(|h| (h.fhir, h.pki)), Some((false, true)));
        assert_eq!(f.credentials, Some("HTTP Basic"));
        let plain = http(b"POST /upload HTTP/1.0\r\n\r\n", b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n").expect("HTTP");
        assert_eq!((plain.http.map(|h| h.fhir), plain.credentials), (Some(false), None));
        let by_type = http(b"GET /api/Observation?code=x HTTP/1.1\r\n\r\n", b"").expect("HTTP");
        assert_eq!(by_type.http.map(|h| h.fhir), Some(true));
        // An Authorization header after the headers ended is body text.
        let body = http(b"POST /x HTTP/1.1\r\n\r\nAuthorization: Basic eDp5\r\n", b"").expect("HTTP");
        assert_eq!(body.credentials, None);
        assert!(http(b"GETTER / HTTP/1.1\r\n", b"").is_none() && http(b"GET / SIP/2.0\r\n", b"").is_none());
    }

    #[test]
    fn mail_commands_name_the_protocol_and_the_login() {
        let f = mail_or_file(b"EHLO a\r\nAUTH PLAIN xyz\r\nMAIL FROM:<a@b>\r\nDATA\r\n", b"220 mx\r\n", false, 25).expect("SMTP");
        assert_eq!((f.protocol, f.upgrade_offered, f.message_sent, f.credentials), ("smtp", Some(false), true, Some("SMTP AUTH")));
        let ftp = mail_or_file(b"USER u\r\nPASS p\r\n", b"220 ftp\r\n", false, 21).expect("FTP");
        assert_eq!((ftp.protocol, ftp.upgrade_offered, ftp.credentials), ("ftp", None, Some("FTP USER/PASS")));
        let imap = mail_or_file(b"a1 login u p\r\n", b"* OK [CAPABILITY IMAP4rev1] ready\r\n", false, 143).expect("IMAP");
        assert_eq!((imap.upgrade_offered, imap.credentials), (Some(false), Some("IMAP LOGIN")));
        assert!(mail_or_file(b"hello", b"welcome", true, 25).is_none());
    }

    #[test]
    fn search_ignoring_case_finds_what_every_window_would() {
        let texts: [&[u8]; 6] = [
            b"Content-Type: APPLICATION/FHIR+json\r\n",
            b"application/fhir",
            b"aapplication/ocsp-requestt",
            b"/FHIR",
            b"/fhi",
            b"",
        ];
        let patterns: [&[u8]; 5] = [b"application/fhir+", b"/fhir", b"application/ocsp-request", b"A", b"t"];
        for text in texts {
            for pattern in patterns {
                let every_window = text.windows(pattern.len()).any(|w| w.eq_ignore_ascii_case(pattern));
                assert_eq!(contains_ignore_case(text, pattern), every_window, "{:?} in {:?}", pattern, text);
            }
        }
    }

    #[test]
    fn telnet_negotiation_and_password_prompt() {
        let f = telnet(b"\xff\xfd\x18", b"\xff\xfb\x01login: x\r\nPassword: ").expect("telnet");
        assert_eq!(f.credentials, Some("telnet login"));
        assert!(telnet(b"\xff\x00", b"").is_none());
    }
}
