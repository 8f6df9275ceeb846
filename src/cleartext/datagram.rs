//! Protocols in clear over UDP that open with one datagram: SNMP v1 and
//! v2c (a community string travels in every message, RFC 1157 §4, RFC 1901)
//! and syslog (RFC 5424, and the BSD format of RFC 3164). The reader hands
//! such a datagram on; its flow is one session, reported at once.

use super::{ClearTextFacts, ShortText};

/// The session a datagram opens, when it is one of these.
pub fn read(b: &[u8]) -> Option<ClearTextFacts> {
    snmp(b).or_else(|| syslog(b))
}

/// An SNMP v1 or v2c message from a manager (a request) or an agent (a
/// trap or an inform): SEQUENCE { version, community, PDU }.
fn snmp(b: &[u8]) -> Option<ClearTextFacts> {
    let (0x30, _, body) = super::binary::ber(b)? else { return None };
    let (0x02, 1, body) = super::binary::ber(body)? else { return None };
    let version = *body.first()?;
    let (0x04, community_len, rest) = super::binary::ber(body.get(1..)?)? else { return None };
    let pdu = *rest.get(community_len)?;
    // GetRequest, GetNextRequest, SetRequest, Trap (v1), GetBulk, Inform, SNMPv2-Trap:
    // messages that start an exchange (a Response, 0xa2, answers one).
    if version > 1 || !matches!(pdu, 0xa0 | 0xa1 | 0xa3..=0xa7) {
        return None;
    }
    let mut facts = ClearTextFacts::new("snmp");
    facts.snmp_version = ShortText::from_wire(if version == 0 { b"1" } else { b"2c" });
    if community_len > 0 {
        facts.credentials = Some("SNMP community string");
    }
    Some(facts)
}

/// A syslog message: "<PRI>" (0 to 191), then RFC 5424's version 1 or an
/// RFC 3164 timestamp ("Mmm dd ").
fn syslog(b: &[u8]) -> Option<ClearTextFacts> {
    let rest = b.strip_prefix(b"<")?;
    let close = rest.iter().take(4).position(|&c| c == b'>')?;
    let pri = std::str::from_utf8(&rest[..close]).ok()?.parse::<u16>().ok()?;
    if close == 0 || pri > 191 || (close > 1 && rest[0] == b'0') {
        return None;
    }
    let after = &rest[close + 1..];
    const MONTHS: [&[u8]; 12] = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    let rfc5424 = after.starts_with(b"1 ");
    let rfc3164 = after.len() > 6 && MONTHS.contains(&&after[..3]) && after[3] == b' ';
    (rfc5424 || rfc3164).then(|| ClearTextFacts::new("syslog"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snmp_requests_and_traps_open_responses_do_not() {
        // v2c GetRequest, community "public".
        let get = [0x30, 0x1a, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', 0xa0, 0x0d, 0x02, 0x01, 0x01];
        let f = snmp(&get).expect("SNMP");
        assert_eq!((f.credentials, f.snmp_version.map(|v| v.as_str().to_string())), (Some("SNMP community string"), Some("2c".into())));
        let mut response = get;
        response[13] = 0xa2;
        assert!(snmp(&response).is_none());
        let mut v3 = get;
        v3[4] = 3;
        assert!(snmp(&v3).is_none());
    }

    #[test]
    fn syslog_headers() {
        assert!(syslog(b"<13>1 2026-12-02T18:00:00Z host app - - - text").is_some());
        assert!(syslog(b"<34>Oct 11 22:14:15 mymachine su: text").is_some());
        assert!(syslog(b"<192>1 x").is_none() && syslog(b"<013>1 x").is_none() && syslog(b"<>1 x").is_none());
        assert!(syslog(b"<html>").is_none());
    }
}
