//! TLS code points in the records: "0x1A2B" strings, lists of them and of
//! cipher suite names with GREASE values left out, written digit by digit
//! and without escaping (registry names are the program's own ASCII).

use super::super::json_writer::{self, JsonValue};
use crate::tls::names::is_grease;

/// "0x" and four uppercase hex digits.
pub(super) struct Hex16(pub u16);

impl std::fmt::Display for Hex16 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{:04X}", self.0)
    }
}

/// "0x1A2B", written without formatting machinery.
impl JsonValue for Hex16 {
    fn write_json(&self, buf: &mut Vec<u8>) {
        const HEX: &[u8; 16] = crate::util::hex::UPPER;
        let n = self.0 as usize;
        buf.extend_from_slice(&[b'"', b'0', b'x', HEX[n >> 12], HEX[(n >> 8) & 15], HEX[(n >> 4) & 15], HEX[n & 15], b'"']);
    }
}

/// A list of code points, GREASE left out, each written by `write`.
pub(super) struct CodeList<'a> {
    pub values: &'a [u16],
    pub write: fn(&mut Vec<u8>, u16),
}

impl JsonValue for CodeList<'_> {
    fn write_json(&self, buf: &mut Vec<u8>) {
        json_writer::write_array(buf, without_grease(self.values), self.write);
    }
}

/// A cipher suite's registry name (the program's own ASCII, with nothing to
/// escape), or its code point.
pub(super) fn write_cipher_name(buf: &mut Vec<u8>, c: u16) {
    match tls_parser::TlsCipherSuite::from_id(c) {
        Some(suite) => json_writer::write_plain(buf, suite.name),
        None => Hex16(c).write_json(buf),
    }
}

pub(super) fn write_hex16(buf: &mut Vec<u8>, v: u16) {
    Hex16(v).write_json(buf);
}

pub(super) fn without_grease(v: &[u16]) -> impl Iterator<Item = u16> + '_ {
    v.iter().copied().filter(|x| !is_grease(*x))
}
