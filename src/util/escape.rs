//! Escaping of attacker-controlled bytes (names, certificate fields, error
//! texts) for terminals and free-text fields: nothing a terminal would act on
//! or a reader could not see is passed through as it is.

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
