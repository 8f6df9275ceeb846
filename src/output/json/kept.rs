//! Parts of the session record a worker writes once and copies into later
//! records: kept by the bytes of the facts they are written from
//! (`tls::facts_key`), bounded by entries and by bytes, the least recently
//! used going first. The ClientHello's and the ServerHello's parts use it.

use std::borrow::Cow;

use crate::util::bounded_lru::BoundedLru;

pub struct Kept<V> {
    entries: BoundedLru<Box<[u8]>, V>,
    /// The key of the facts being looked up, built here each time.
    key: Vec<u8>,
}

impl<V: Clone> Kept<V> {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Kept { entries: BoundedLru::new(max_entries, max_bytes), key: Vec::with_capacity(256) }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.entries.bytes()
    }

    /// Parts kept now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The part for the facts `write_key` writes the key of: from an
    /// earlier record with the same facts, or written by `make` now and
    /// kept, charged `size`. One larger than this worker's whole share (a
    /// small memory limit) is used once, not kept.
    pub fn get(&mut self, write_key: impl FnOnce(&mut Vec<u8>), make: impl Fn() -> V, size: impl Fn(&V) -> usize) -> Cow<'_, V> {
        self.key.clear();
        write_key(&mut self.key);
        let made = || {
            let part = make();
            let bytes = size(&part);
            (part, bytes)
        };
        // `None` only if the part just kept were not found: written again.
        self.entries.get_or_make(&self.key, made).unwrap_or_else(|| Cow::Owned(make()))
    }
}
