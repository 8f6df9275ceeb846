//! Output: JSON Lines records as SCHEMA.md defines them, and the text report
//! for people. Everything taken from the wire is escaped for the terminal.

pub mod json;
pub mod json_writer;
pub mod text;

use std::fmt;

use time::OffsetDateTime;

/// Date and time to the second, "YYYY-MM-DDTHH:MM:SS", of a Unix time;
/// false (nothing written) for a time outside the calendar's range.
fn write_date_time(out: &mut fmt::Formatter<'_>, secs: i64) -> Result<bool, fmt::Error> {
    let Ok(t) = OffsetDateTime::from_unix_timestamp(secs) else { return Ok(false) };
    write!(out, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second())?;
    Ok(true)
}

/// RFC 3339 UTC with microseconds, e.g. "2024-05-01T12:00:00.123456Z";
/// "@<n>us" for a time outside the calendar's range.
pub struct Rfc3339Micros(pub i64);

impl fmt::Display for Rfc3339Micros {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0;
        if write_date_time(out, micros.div_euclid(1_000_000))? {
            write!(out, ".{:06}Z", micros.rem_euclid(1_000_000))
        } else {
            write!(out, "@{micros}us")
        }
    }
}

/// RFC 3339 UTC to the second, for certificate validity dates; "@<n>s" for
/// a time outside the calendar's range.
pub struct Rfc3339Secs(pub i64);

impl fmt::Display for Rfc3339Secs {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        if write_date_time(out, self.0)? {
            out.write_str("Z")
        } else {
            write!(out, "@{}s", self.0)
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
/// text stays (any script), backslash is doubled, control characters
/// (escape sequences among them) and bytes that are not UTF-8 become \xNN,
/// and invisible or reordering characters become \u{NNNN}.
pub fn escape_terminal(bytes: &[u8]) -> String {
    escape(bytes, true)
}

/// Escapes a message that was built from escaped values (a finding's text):
/// control and invisible characters again, but backslashes are left as they
/// are, so that an escaped value is not escaped twice.
pub fn escape_message(text: &str) -> String {
    escape(text.as_bytes(), false)
}

/// Characters a terminal would act on or a reader could not see: C0 and C1
/// controls, DEL, line and paragraph separators, bidirectional overrides
/// and isolates (they reorder what follows on the line), zero-width
/// characters and byte-order marks.
fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

fn escape(bytes: &[u8], escape_backslash: bool) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' if escape_backslash => out.push_str("\\\\"),
                c if !unsafe_char(c) => out.push(c),
                c if u32::from(c) < 0x80 => {
                    let _ = write!(out, "\\x{:02x}", u32::from(c));
                }
                c => {
                    let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
                }
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
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
        // Printable Unicode stays (names of hospitals are not all ASCII);
        // bytes that are not UTF-8, C1 controls and bidi overrides do not.
        assert_eq!(escape_terminal("Universitätsklinikum".as_bytes()), "Universitätsklinikum");
        assert_eq!(escape_terminal(b"a\xffb\xc3"), "a\\xffb\\xc3");
        assert_eq!(escape_terminal("x\u{9b}31m\u{202e}gnp.exe".as_bytes()), "x\\u{009b}31m\\u{202e}gnp.exe");
        assert_eq!(escape_message("the name \\x1b[31m"), "the name \\x1b[31m");
        assert_eq!(escape_message("raw \x1b[31m"), "raw \\x1b[31m");
    }
}
