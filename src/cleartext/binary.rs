//! Framed protocols in clear: HL7 v2 over MLLP, the DICOM Upper Layer's
//! association and LDAP's bind. Each is recognised by its first message's
//! framing, strictly enough that another protocol's bytes are not taken
//! for it.

use super::dimse::{dimse_name, service};
use super::follow::Followed;
use super::{ClearTextFacts, DicomAssociation, ShortText};

pub(super) fn read(client: &[u8], server: &[u8], followed: [Followed; 2]) -> Option<ClearTextFacts> {
    hl7(client)
        .or_else(|| hl7(server))
        .or_else(|| dicom(client, server, followed))
        .or_else(|| ldap(client))
}

/// MLLP: a vertical tab, then an HL7 v2 message whose first segment is MSH;
/// MSH-9 (the message type) is taken when it is made of letters, digits,
/// '^' and '_' only.
fn hl7(b: &[u8]) -> Option<ClearTextFacts> {
    let message = b.strip_prefix(b"\x0bMSH")?;
    let separator = *message.first()?;
    if separator.is_ascii_alphanumeric() || separator.is_ascii_whitespace() {
        return None;
    }
    let mut facts = ClearTextFacts::new("hl7");
    // MSH-1 is the separator itself: MSH-9 is the eighth field after it.
    let segment = &message[1..message.iter().position(|&c| c == b'\r').unwrap_or(message.len())];
    if let Some(field) = segment.split(|&c| c == separator).nth(7) {
        let plain = field.iter().all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'^' || c == b'_');
        facts.hl7_message_type = if plain { ShortText::from_wire(field) } else { None };
    }
    // A message was seen even where its type could not be read.
    facts.hl7_message_type.get_or_insert(ShortText::from_wire(b"unreadable").expect("a plain identifier"));
    Some(facts)
}

/// The DICOM Upper Layer's A-ASSOCIATE-RQ (PS3.8 §9.3.2): its AE titles and
/// the abstract syntax of the first presentation context; the acceptor's
/// A-ASSOCIATE-AC or -RJ when seen; the first command, from the walk over
/// the PDUs after them (the requester's first, else the acceptor's).
fn dicom(client: &[u8], server: &[u8], followed: [Followed; 2]) -> Option<ClearTextFacts> {
    let h = client.get(..74)?;
    let length = u32::from_be_bytes([h[2], h[3], h[4], h[5]]);
    if h[0] != 0x01 || h[1] != 0 || h[6..8] != [0, 1] || !(68..=1 << 20).contains(&length) {
        return None;
    }
    let mut association = DicomAssociation {
        called_ae: ShortText::from_wire(&h[10..26]),
        calling_ae: ShortText::from_wire(&h[26..42]),
        service: None,
        command: None,
        answer: match server.first() {
            Some(0x02) => Some("accepted"),
            Some(0x03) => Some("rejected"),
            _ => None,
        },
    };
    // Variable items: type, reserved, 2-byte length. A presentation context
    // (0x20) holds an id, three reserved bytes, then sub-items, the first
    // being its abstract syntax (0x30).
    let mut items = &client[74..];
    while let [kind, _, hi, lo, rest @ ..] = items {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if *kind == 0x20 {
            if let Some([0x30, _, hi, lo, uid @ ..]) = rest.get(4..) {
                association.service = uid.get(..usize::from(u16::from_be_bytes([*hi, *lo]))).map(service);
            }
            break;
        }
        // Items past the kept bytes are not read; the association stands.
        let Some(next) = rest.get(len..) else { break };
        items = next;
    }
    if let Some(first) = followed.iter().find(|f| f.dicom_command.is_some()) {
        association.command = first.dicom_command.and_then(dimse_name);
        association.service = first.dicom_service.or(association.service);
    }
    let mut facts = ClearTextFacts::new("dicom");
    facts.dicom = Some(association);
    Some(facts)
}

/// A BER tag and its length: (tag, length, bytes after the header).
pub(super) fn ber(b: &[u8]) -> Option<(u8, usize, &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    if first < 0x80 {
        return Some((tag, usize::from(first), rest));
    }
    let n = usize::from(first & 0x7f);
    if !(1..=4).contains(&n) {
        return None;
    }
    let len = rest.get(..n)?.iter().fold(0usize, |acc, &x| acc << 8 | usize::from(x));
    Some((tag, len, &rest[n..]))
}

/// An LDAP message (RFC 4511 §4.1.1) from the client; a BindRequest with a
/// non-empty simple password is a login in clear.
fn ldap(client: &[u8]) -> Option<ClearTextFacts> {
    let (0x30, _, body) = ber(client)? else { return None };
    let (0x02, id_len, body) = ber(body)? else { return None };
    if !(1..=4).contains(&id_len) {
        return None;
    }
    let (op, _, op_body) = ber(body.get(id_len..)?)?;
    // Protocol operations are [APPLICATION n] tags, n at most 25.
    if !(0x60..=0x79).contains(&op) && !(0x40..=0x59).contains(&op) {
        return None;
    }
    let mut facts = ClearTextFacts::new("ldap");
    if op == 0x60 {
        // BindRequest: version, name, then the authentication choice.
        let (0x02, v_len, rest) = ber(op_body)? else { return Some(facts) };
        let (0x04, n_len, rest) = ber(rest.get(v_len..)?)? else { return Some(facts) };
        if let Some((0x80, password_len, _)) = rest.get(n_len..).and_then(ber) {
            if password_len > 0 {
                facts.credentials = Some("LDAP simple bind");
            }
        }
    }
    Some(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hl7_message_type_is_read_and_nothing_else() {
        let msg = b"\x0bMSH|^~\\&|A|B|C|D|20260101||ORU^R01|1|P|2.5\rPID|1||SECRET\r\x1c\r";
        let f = hl7(msg).expect("HL7");
        assert_eq!(f.hl7_message_type.map(|t| t.as_str().to_string()), Some("ORU^R01".into()));
        let odd = b"\x0bMSH|^~\\&|A|B|C|D|20260101||<script>|1|P|2.5\r";
        assert_eq!(hl7(odd).and_then(|f| f.hl7_message_type).map(|t| t.as_str().to_string()), Some("unreadable".into()));
        assert!(hl7(b"\x0bMSHa").is_none() && hl7(b"MSH|^~\\&|").is_none());
    }

    #[test]
    fn ber_lengths_long_and_short() {
        assert_eq!(ber(&[0x30, 0x05, 1]).map(|(t, l, _)| (t, l)), Some((0x30, 5)));
        assert_eq!(ber(&[0x30, 0x82, 0x01, 0x00]).map(|(t, l, _)| (t, l)), Some((0x30, 256)));
        assert!(ber(&[0x30, 0x85, 0, 0, 0, 0, 0]).is_none());
    }

    #[test]
    fn anonymous_ldap_bind_is_no_login() {
        // messageID 1, BindRequest: version 3, empty name, empty simple password.
        let anonymous = [0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00];
        let f = ldap(&anonymous).expect("LDAP");
        assert_eq!(f.credentials, None);
        let mut with_password = anonymous.to_vec();
        with_password[1] += 1;
        with_password[6] += 1;
        with_password[13] = 1;
        with_password.push(b'x');
        assert_eq!(ldap(&with_password).and_then(|f| f.credentials), Some("LDAP simple bind"));
    }
}
