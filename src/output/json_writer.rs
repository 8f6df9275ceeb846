//! A streaming JSON object writer for the per-session records: fields go
//! straight into a byte buffer, with no tree of values in between. Nested
//! objects are opened lazily, so an object none of whose fields is written
//! never appears (as with the omitted-when-unobserved rule of docs/SCHEMA.md).
//! Strings and numbers are encoded by serde_json, which escapes every
//! control character.

use std::fmt::Display;

use serde::{Serialize, Serializer};

/// Serializes a `Display` value as a JSON string, formatted straight into
/// the output (no intermediate String).
pub struct Text<T>(pub T);

impl<T: Display> Serialize for Text<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
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
        let root = Level { key: None, array: false, open: true, nonempty: false };
        JsonWriter { buf, stack: vec![root], open: 1 }
    }

    /// Writes the opening brackets of every level not yet open.
    fn materialize(&mut self) {
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
    pub fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) {
        self.materialize();
        self.separator(self.stack.len() - 1);
        write_key(self.buf, key);
        // Writing into a Vec cannot fail, and the values written here
        // (strings, numbers, booleans, sequences of them) always serialize.
        let _ = serde_json::to_writer(&mut *self.buf, value);
    }

    /// A field written only when the value is there.
    pub fn field_opt<T: Serialize>(&mut self, key: &'static str, value: Option<T>) {
        if let Some(v) = value {
            self.field(key, &v);
        }
    }

    /// An element of the innermost array.
    pub fn element<T: Serialize + ?Sized>(&mut self, value: &T) {
        self.materialize();
        self.separator(self.stack.len() - 1);
        let _ = serde_json::to_writer(&mut *self.buf, value);
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
        while self.stack.len() > 1 {
            self.close();
        }
        self.buf.push(b'}');
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
}
