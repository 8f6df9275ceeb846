//! A cache bounded both by its entries and by the bytes they are charged,
//! the least recently used going first: what the workers' caches of parsed
//! certificates, of certificates' JSON and of remembered findings share.

use std::borrow::Borrow;
use std::hash::Hash;

use hashlink::LruCache;

use super::keyed_hash::KeyedHash;

pub struct BoundedLru<K: Hash + Eq, V> {
    entries: LruCache<K, (V, usize), KeyedHash>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl<K: Hash + Eq, V> BoundedLru<K, V> {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        BoundedLru {
            entries: LruCache::with_hasher(usize::MAX, KeyedHash::default()),
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    /// The value kept for `key`, now the most recently used.
    pub fn get<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.entries.get(key).map(|(v, _)| v)
    }

    /// Whether a value is kept for `key` (its recency unchanged).
    pub fn contains<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.entries.contains_key(key)
    }

    /// Keeps `value`, charged `size` bytes, making room by dropping the
    /// least recently used; a value larger than the whole bound is not kept
    /// and is handed back.
    pub fn insert(&mut self, key: K, value: V, size: usize) -> Option<V> {
        if let Some((_, replaced)) = self.entries.remove(&key) {
            self.bytes -= replaced;
        }
        if size > self.max_bytes {
            return Some(value);
        }
        while self.entries.len() >= self.max_entries || self.bytes + size > self.max_bytes {
            let Some((_, (_, evicted))) = self.entries.remove_lru() else {
                break;
            };
            self.bytes -= evicted;
        }
        self.bytes += size;
        self.entries.insert(key, (value, size));
        None
    }

    /// Lowers (or raises) the bound on bytes, dropping entries to meet it.
    pub fn set_max_bytes(&mut self, max_bytes: usize) {
        self.max_bytes = max_bytes;
        while self.bytes > self.max_bytes {
            let Some((_, (_, evicted))) = self.entries.remove_lru() else {
                break;
            };
            self.bytes -= evicted;
        }
    }

    /// Drops everything kept.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Bytes charged for what is kept now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<V: Clone> BoundedLru<Box<[u8]>, V> {
    /// What a worker wrote once and copies into later records: the value
    /// kept for `key`, else `make`'s (with its size), kept now and lent.
    /// One larger than the whole bound is handed out, not kept; `None` only
    /// if it was not found just after being kept.
    pub fn get_or_make(&mut self, key: &[u8], make: impl FnOnce() -> (V, usize)) -> Option<std::borrow::Cow<'_, V>> {
        if !self.contains(key) {
            let (value, size) = make();
            if let Some(too_large) = self.insert(key.into(), value, size + crate::memory::alloc_bytes(key.len())) {
                return Some(std::borrow::Cow::Owned(too_large));
            }
        }
        self.get(key).map(std::borrow::Cow::Borrowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_within_entries_and_bytes_dropping_the_least_recently_used() {
        fn kept(c: &mut BoundedLru<u32, &'static str>, k: u32) -> Option<&'static str> {
            c.get(&k).copied()
        }
        let mut c: BoundedLru<u32, &'static str> = BoundedLru::new(3, 100);
        c.insert(1, "a", 30);
        c.insert(2, "b", 30);
        c.insert(3, "c", 30);
        assert_eq!(kept(&mut c, 1), Some("a"));
        // Four entries do not fit: 2 was used least recently.
        c.insert(4, "d", 10);
        assert_eq!((c.len(), c.bytes()), (3, 70));
        assert_eq!(kept(&mut c, 2), None);
        // 70 more bytes: 3 and then 1 make room.
        c.insert(5, "e", 70);
        assert_eq!((kept(&mut c, 3), kept(&mut c, 1)), (None, None));
        assert_eq!((c.len(), c.bytes()), (2, 80));
        // Too large for the whole bound: handed back, nothing dropped.
        assert_eq!(c.insert(6, "f", 101), Some("f"));
        assert_eq!((kept(&mut c, 6), c.len()), (None, 2));
        // Replacing an entry charges its new size only and drops no other.
        c.insert(4, "d2", 20);
        assert_eq!(
            (kept(&mut c, 5), kept(&mut c, 4), c.bytes()),
            (Some("e"), Some("d2"), 90)
        );
        // 4 was used last: 5 goes.
        c.set_max_bytes(50);
        assert_eq!(
            (kept(&mut c, 4), kept(&mut c, 5), c.bytes()),
            (Some("d2"), None, 20)
        );
    }
}
