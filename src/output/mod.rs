//! Output: JSON Lines records as SCHEMA.md defines them, and the text report
//! for people. Everything taken from the wire is escaped for the terminal.

pub mod json;
pub mod json_writer;
pub mod text;

use std::fmt;

use time::OffsetDateTime;

/// RFC 3339 UTC with microseconds, e.g. "2024-05-01T12:00:00.123456Z";
/// "@<n>us" for a time outside the calendar's range.
pub struct Rfc3339Micros(pub i64);

impl fmt::Display for Rfc3339Micros {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0;
        match OffsetDateTime::from_unix_timestamp(micros.div_euclid(1_000_000)) {
            Ok(t) => write!(
                out,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                micros.rem_euclid(1_000_000)
            ),
            Err(_) => write!(out, "@{micros}us"),
        }
    }
}

/// RFC 3339 UTC to the second, for certificate validity dates; "@<n>s" for
/// a time outside the calendar's range.
pub struct Rfc3339Secs(pub i64);

impl fmt::Display for Rfc3339Secs {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0;
        match OffsetDateTime::from_unix_timestamp(secs) {
            Ok(t) => write!(
                out,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            Err(_) => write!(out, "@{secs}s"),
        }
    }
}

pub fn rfc3339_micros(micros: i64) -> String {
    Rfc3339Micros(micros).to_string()
}

pub fn rfc3339_secs(secs: i64) -> String {
    Rfc3339Secs(secs).to_string()
}

/// Makes attacker-controlled bytes safe to print on a terminal: printable
/// ASCII stays, backslash is doubled, everything else (control characters,
/// escape sequences, bytes of other scripts) becomes \xNN.
pub fn escape_terminal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339_micros(1_700_000_000_123_456), "2023-11-14T22:13:20.123456Z");
        assert_eq!(rfc3339_secs(-86_400), "1969-12-31T00:00:00Z");
    }

    #[test]
    fn escapes_control_sequences() {
        assert_eq!(escape_terminal(b"ok.example"), "ok.example");
        assert_eq!(escape_terminal(b"\x1b[31mred\\"), "\\x1b[31mred\\\\");
        assert_eq!(escape_terminal("é".as_bytes()), "\\xc3\\xa9");
    }
}
