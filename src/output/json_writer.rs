//! A streaming JSON object writer for the per-session records: fields go
//! straight into a byte buffer, with no tree of values in between. Nested
//! objects are opened lazily, so an object none of whose fields is written
//! never appears (as with the omitted-when-unobserved rule of docs/SCHEMA.md).
//! Values are encoded here (`JsonValue`): a string is tested sixteen bytes
//! at a time and copied whole when it holds nothing to escape (the common
//! case); otherwise every control character, quote and backslash is escaped
//! as serde_json escapes them. Numbers go through itoa.

use std::borrow::Cow;
use std::fmt::{self, Display};

use serde::Serialize;

use crate::util::json_escape::{byte_needs_escape, write_escaped};
use crate::util::rfc3339::{self, Rfc3339Micros, Rfc3339Secs};

/// A value the writer can encode as JSON.
pub trait JsonValue {
    fn write_json(&self, buf: &mut Vec<u8>);
}

/// Encodes a `Display` value as a JSON string, formatted straight into the
/// output (no intermediate String) and escaped as it goes.
pub struct Text<T>(pub T);

impl<T: Display> JsonValue for Text<T> {
    fn write_json(&self, buf: &mut Vec<u8>) {
        use fmt::Write as _;
        buf.push(b'"');
        // Writing into a Vec cannot fail; a Display that fails leaves what
        // it wrote, still a valid string once closed.
        let _ = write!(Escaping(buf), "{}", self.0);
        buf.push(b'"');
    }
}

/// Encodes any serde value through serde_json (records of several fields,
/// floating-point numbers).
pub struct Serde<T>(pub T);

impl<T: Serialize> JsonValue for Serde<T> {
    fn write_json(&self, buf: &mut Vec<u8>) {
        // Writing into a Vec cannot fail, and the values written here
        // (records of strings, numbers, booleans) always serialize.
        let _ = serde_json::to_writer(&mut *buf, &self.0);
    }
}

/// An `fmt::Write` that escapes what is written for a JSON string.
struct Escaping<'a>(&'a mut Vec<u8>);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_escaped(self.0, s.as_bytes());
        Ok(())
    }
}

/// Appends one of the program's own strings (a registry name, a keyword),
/// which never holds anything to escape, as a JSON string.
pub fn write_plain(buf: &mut Vec<u8>, s: &'static str) {
    debug_assert!(!s.bytes().any(byte_needs_escape), "{s:?} needs escaping");
    buf.push(b'"');
    buf.extend_from_slice(s.as_bytes());
    buf.push(b'"');
}

/// One of the program's own strings (a registry name, a keyword, an
/// enumeration's label; never text from the wire or the user), written
/// without the escaping test. A name formatted by the program (`Cow::Owned`,
/// such as "0x1A2B" for a code no registry names) is escaped as any text.
#[derive(Clone, Copy)]
pub struct Plain<S = &'static str>(pub S);

impl JsonValue for Plain<&'static str> {
    fn write_json(&self, buf: &mut Vec<u8>) {
        write_plain(buf, self.0);
    }
}

impl JsonValue for Plain<Cow<'static, str>> {
    fn write_json(&self, buf: &mut Vec<u8>) {
        match &self.0 {
            Cow::Borrowed(s) => write_plain(buf, s),
            Cow::Owned(s) => write_str(buf, s),
        }
    }
}

/// Appends a JSON string whose inside was escaped before (`json_escape::escaped`).
pub fn write_escaped_before(buf: &mut Vec<u8>, inside: &str) {
    buf.push(b'"');
    buf.extend_from_slice(inside.as_bytes());
    buf.push(b'"');
}

/// Appends `s` as a JSON string.
pub fn write_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    write_escaped(buf, s.as_bytes());
    buf.push(b'"');
}

impl JsonValue for str {
    fn write_json(&self, buf: &mut Vec<u8>) {
        write_str(buf, self);
    }
}

impl JsonValue for String {
    fn write_json(&self, buf: &mut Vec<u8>) {
        write_str(buf, self);
    }
}

impl JsonValue for std::sync::Arc<str> {
    fn write_json(&self, buf: &mut Vec<u8>) {
        write_str(buf, self);
    }
}

impl JsonValue for Cow<'_, str> {
    fn write_json(&self, buf: &mut Vec<u8>) {
        write_str(buf, self);
    }
}

impl JsonValue for bool {
    fn write_json(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

macro_rules! integers {
    ($($t:ty)*) => {$(
        impl JsonValue for $t {
            fn write_json(&self, buf: &mut Vec<u8>) {
                buf.extend_from_slice(itoa::Buffer::new().format(*self).as_bytes());
            }
        }
    )*};
}
integers!(u8 u16 u32 u64 usize i8 i16 i32 i64);

impl JsonValue for f64 {
    fn write_json(&self, buf: &mut Vec<u8>) {
        Serde(self).write_json(buf);
    }
}

impl<T: JsonValue + ?Sized> JsonValue for &T {
    fn write_json(&self, buf: &mut Vec<u8>) {
        (**self).write_json(buf);
    }
}

impl<T: JsonValue> JsonValue for Option<T> {
    fn write_json(&self, buf: &mut Vec<u8>) {
        match self {
            Some(v) => v.write_json(buf),
            None => buf.extend_from_slice(b"null"),
        }
    }
}

/// Writes a JSON array of `items`, each written by `each`.
pub fn write_array<T>(buf: &mut Vec<u8>, items: impl IntoIterator<Item = T>, mut each: impl FnMut(&mut Vec<u8>, T)) {
    buf.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        each(buf, item);
    }
    buf.push(b']');
}

impl<T: JsonValue> JsonValue for [T] {
    fn write_json(&self, buf: &mut Vec<u8>) {
        write_array(buf, self, |buf, v| v.write_json(buf));
    }
}

impl<T: JsonValue, const N: usize> JsonValue for [T; N] {
    fn write_json(&self, buf: &mut Vec<u8>) {
        self.as_slice().write_json(buf);
    }
}

impl<T: JsonValue> JsonValue for Vec<T> {
    fn write_json(&self, buf: &mut Vec<u8>) {
        self.as_slice().write_json(buf);
    }
}

impl JsonValue for Rfc3339Micros {
    fn write_json(&self, buf: &mut Vec<u8>) {
        match rfc3339::date_time_bytes(self.0.div_euclid(1_000_000)) {
            Some(date_time) => {
                // Assembled on the stack and appended in one copy of a known
                // length, which the compiler makes a few moves.
                let mut quoted = [b'"'; 29];
                quoted[1..20].copy_from_slice(&date_time);
                quoted[20..28].copy_from_slice(&rfc3339::micros_suffix(self.0));
                buf.extend_from_slice(&quoted);
            }
            None => Text(self).write_json(buf),
        }
    }
}

impl JsonValue for Rfc3339Secs {
    fn write_json(&self, buf: &mut Vec<u8>) {
        match rfc3339::date_time_bytes(self.0) {
            Some(date_time) => {
                buf.push(b'"');
                buf.extend_from_slice(&date_time);
                buf.extend_from_slice(b"Z\"");
            }
            None => Text(self).write_json(buf),
        }
    }
}

/// An IPv4 address in dotted decimal between quotes, in the first `len`
/// bytes of the array.
fn quoted_ipv4(octets: [u8; 4]) -> ([u8; 17], usize) {
    let mut out = [0u8; 17];
    out[0] = b'"';
    let mut len = 1;
    for (i, octet) in octets.into_iter().enumerate() {
        if i > 0 {
            out[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            out[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            out[len] = b'0' + octet / 10 % 10;
            len += 1;
        }
        out[len] = b'0' + octet % 10;
        len += 1;
    }
    out[len] = b'"';
    (out, len + 1)
}

/// IPv4 addresses digit by digit (most addresses written are); IPv6 by
/// `util::ipv6_text`, which shortens as the standard library's Display does.
impl JsonValue for std::net::IpAddr {
    fn write_json(&self, buf: &mut Vec<u8>) {
        match self {
            std::net::IpAddr::V4(v4) => {
                // The longest form ("255.255.255.255" quoted, 17 bytes) is
                // appended whole, in a copy of a known length, and cut back
                // to the address's own length.
                let (quoted, len) = quoted_ipv4(v4.octets());
                let end = buf.len() + len;
                buf.extend_from_slice(&quoted);
                buf.truncate(end);
            }
            std::net::IpAddr::V6(v6) => {
                // Hexadecimal digits, colons and dots: nothing to escape.
                buf.push(b'"');
                crate::util::ipv6_text::write_ipv6(buf, v6);
                buf.push(b'"');
            }
        }
    }
}

impl JsonValue for serde_json::Value {
    fn write_json(&self, buf: &mut Vec<u8>) {
        Serde(self).write_json(buf);
    }
}

struct Level {
    /// `None` for an element of an array.
    key: Option<&'static str>,
    array: bool,
    /// Its opening bracket has been written.
    open: bool,
    /// Something has been written inside it (a comma goes before the next).
    nonempty: bool,
}

/// Levels of nesting a writer's stack has room for from the start.
const STACK_ROOM: usize = 8;

/// Writes one JSON object into a buffer.
pub struct JsonWriter<'a> {
    buf: &'a mut Vec<u8>,
    stack: Vec<Level>,
    /// Levels `0..open` of the stack have been written out.
    open: usize,
}

impl<'a> JsonWriter<'a> {
    /// Starts the top-level object.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        buf.push(b'{');
        JsonWriter::inside(buf)
    }

    /// Starts the top-level object with fields already written
    /// (`"key":value,` each, commas included), such as the stamp every
    /// record of a run carries.
    pub fn stamped(buf: &'a mut Vec<u8>, fields: &[u8]) -> Self {
        debug_assert!(fields.is_empty() || fields.ends_with(b","));
        let w = JsonWriter::new(buf);
        w.buf.extend_from_slice(fields);
        w
    }

    /// Writes the fields of an object whose opening brace is already in
    /// `buf` (or is not wanted: fields to copy into other objects, see
    /// `raw_fields`); `finish_inside` leaves it open.
    pub fn inside(buf: &'a mut Vec<u8>) -> Self {
        let root = Level { key: None, array: false, open: true, nonempty: false };
        // Room for the deepest nesting of the records, so that opening an
        // object does not move the stack (it would, at the second level).
        let mut stack = Vec::with_capacity(STACK_ROOM);
        stack.push(root);
        JsonWriter { buf, stack, open: 1 }
    }

    /// Writes the opening brackets of every level not yet open (there is
    /// none, almost always: the test is inlined, the writing is not).
    #[inline]
    fn materialize(&mut self) {
        if self.open < self.stack.len() {
            self.open_levels();
        }
    }

    #[inline(never)]
    fn open_levels(&mut self) {
        for i in self.open..self.stack.len() {
            self.separator(i - 1);
            let level = &self.stack[i];
            if let Some(key) = level.key {
                write_key(self.buf, key);
            }
            self.buf.push(if level.array { b'[' } else { b'{' });
            self.stack[i].open = true;
        }
        self.open = self.stack.len();
    }

    /// A comma if level `i` already holds something; marks it non-empty.
    fn separator(&mut self, i: usize) {
        if self.stack[i].nonempty {
            self.buf.push(b',');
        }
        self.stack[i].nonempty = true;
    }

    /// A field of the innermost object.
    pub fn field<T: JsonValue + ?Sized>(&mut self, key: &'static str, value: &T) {
        self.materialize();
        self.separator(self.stack.len() - 1);
        write_key(self.buf, key);
        value.write_json(self.buf);
    }

    /// Fields already written as JSON (`"key":value,...`, as between the
    /// braces of an object), put into the innermost object.
    pub fn raw_fields(&mut self, fields: &[u8]) {
        if fields.is_empty() {
            return;
        }
        self.materialize();
        self.separator(self.stack.len() - 1);
        self.buf.extend_from_slice(fields);
    }

    /// A field written only when the value is there.
    pub fn field_opt<T: JsonValue>(&mut self, key: &'static str, value: Option<T>) {
        if let Some(v) = value {
            self.field(key, &v);
        }
    }

    /// An element of the innermost array.
    pub fn element<T: JsonValue + ?Sized>(&mut self, value: &T) {
        self.materialize();
        self.separator(self.stack.len() - 1);
        value.write_json(self.buf);
    }

    /// Opens a nested object (written only if a field is put in it).
    pub fn object(&mut self, key: &'static str) {
        self.stack.push(Level { key: Some(key), array: false, open: false, nonempty: false });
    }

    /// Opens a nested array (written only if an element is put in it).
    pub fn array(&mut self, key: &'static str) {
        self.stack.push(Level { key: Some(key), array: true, open: false, nonempty: false });
    }

    /// Opens an object as the next element of the innermost array.
    pub fn element_object(&mut self) {
        self.stack.push(Level { key: None, array: false, open: false, nonempty: false });
    }

    /// Closes the innermost object or array.
    pub fn close(&mut self) {
        if self.stack.len() <= 1 {
            return;
        }
        if let Some(level) = self.stack.pop() {
            self.open = self.open.min(self.stack.len());
            if level.open {
                self.buf.push(if level.array { b']' } else { b'}' });
            }
        }
    }

    /// Closes everything, the top-level object last.
    pub fn finish(mut self) {
        self.finish_inside();
        self.buf.push(b'}');
    }

    /// Closes everything but the top-level object (see `inside`).
    pub fn finish_inside(&mut self) {
        while self.stack.len() > 1 {
            self.close();
        }
    }
}

/// Keys are the program's own names, never taken from the wire: plain ASCII
/// that needs no escaping.
fn write_key(buf: &mut Vec<u8>, key: &'static str) {
    debug_assert!(key.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'));
    buf.push(b'"');
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(b"\":");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_objects_and_escaping() {
        let mut buf = Vec::new();
        let mut w = JsonWriter::new(&mut buf);
        w.field("a", &1);
        w.object("empty");
        w.object("inner");
        w.close();
        w.close();
        w.object("b");
        w.field("s", "x\u{1b}[31m\"");
        w.object("c");
        w.field("t", &true);
        w.close();
        w.array("list");
        w.element_object();
        w.field("k", &[1, 2]);
        w.close();
        w.element("e");
        w.close();
        w.close();
        w.finish();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text, r#"{"a":1,"b":{"s":"x\u001b[31m\"","c":{"t":true},"list":[{"k":[1,2]},"e"]}}"#);
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["b"]["c"]["t"], true);
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        // Every ASCII byte and some multi-byte characters, at every offset
        // of strings of every length up to past two sixteen-byte steps.
        let mut specials: Vec<String> = (0u8..0x80).map(|b| (b as char).to_string()).collect();
        specials.extend(["é", "\u{2028}", "\u{1F600}", "\u{7f}"].map(String::from));
        for special in &specials {
            for at in 0..36 {
                for len in [at, at + 1, 24, 40] {
                    let mut s = "a".repeat(at);
                    s.push_str(special);
                    s.push_str(&"b".repeat(len.saturating_sub(at)));
                    let mut ours = Vec::new();
                    write_str(&mut ours, &s);
                    assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&s).unwrap(), "{s:?}");
                }
            }
        }
        let mut text = Vec::new();
        Text(format_args!("{}\u{1b}{}", "x\"", 7)).write_json(&mut text);
        assert_eq!(text, br#""x\"\u001b7""#);
    }

    #[test]
    fn addresses_are_written_as_their_display() {
        for ip in ["0.0.0.0", "10.1.200.255", "255.255.255.255", "::1", "fe80::1:2", "::ffff:10.0.0.1", "2001:db8::"] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            let mut ours = Vec::new();
            ip.write_json(&mut ours);
            assert_eq!(String::from_utf8(ours).unwrap(), format!("\"{ip}\""));
        }
        // Every octet value in every place, after text already in the buffer.
        for octet in 0..=255u8 {
            for place in 0..4 {
                let mut octets = [7, 80, 100, 255];
                octets[place] = octet;
                let ip = std::net::IpAddr::from(octets);
                let mut ours = b"x".to_vec();
                ip.write_json(&mut ours);
                assert_eq!(String::from_utf8(ours).unwrap(), format!("x\"{ip}\""));
            }
        }
    }

    #[test]
    fn times_are_written_as_their_display() {
        for micros in [0, 1, 999_999, 1_700_000_000_123_456, -1, 253_402_300_799_999_999, 253_402_300_800_000_000, i64::MIN] {
            let mut ours = b"x".to_vec();
            Rfc3339Micros(micros).write_json(&mut ours);
            assert_eq!(String::from_utf8(ours).unwrap(), format!("x\"{}\"", Rfc3339Micros(micros)));
        }
    }
}
