//! A map kept as a vector sorted by its keys, for the inventory's small
//! per-service maps (a service's leaf certificates, its findings by rule).
//! A B-tree map allocates a leaf with room for eleven entries for its first
//! one, and most services have one to three: thousands of services then
//! took several kilobytes each, mostly empty slots, and the page faults of
//! touching them. The same order of iteration as a `BTreeMap`.

use std::borrow::Borrow;

use crate::memory::alloc_bytes;

#[derive(Debug, Clone)]
pub struct SortedVecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SortedVecMap<K, V> {
    fn default() -> Self {
        SortedVecMap { entries: Vec::new() }
    }
}

impl<K: Ord, V> SortedVecMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &mut self.entries[i].1)
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Puts `value` under `key`; the value it replaces, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                // Grown as the budget was told (`entry_bytes`): doubling, four at first.
                if self.entries.len() == self.entries.capacity() {
                    self.entries.reserve_exact(self.entries.capacity().max(4));
                }
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Takes out the entry with the largest key.
    pub fn pop_last(&mut self) -> Option<(K, V)> {
        self.entries.pop()
    }

    pub fn last_key_value(&self) -> Option<(&K, &V)> {
        self.entries.last().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Bytes one more entry costs now: the vector's growth when it is full
    /// (four entries first, then double), else nothing.
    pub fn entry_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(K, V)>();
        let capacity = self.entries.capacity();
        if self.entries.len() < capacity {
            0
        } else {
            alloc_bytes(2 * capacity.max(2) * slot) - alloc_bytes(capacity * slot)
        }
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a SortedVecMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The same answers and order as a BTreeMap fed the same operations,
    /// and room grown only as `entry_bytes` said.
    #[test]
    fn behaves_as_a_btree_map() {
        let mut ours = SortedVecMap::new();
        let mut model = BTreeMap::new();
        let mut x: u32 = 7;
        for step in 0..2_000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let key = (x >> 16) % 40;
            match step % 5 {
                0..=2 => {
                    let grows = ours.entry_bytes() > 0;
                    let capacity = ours.entries.capacity();
                    assert_eq!(ours.insert(key, step), model.insert(key, step));
                    if !grows {
                        assert_eq!(ours.entries.capacity(), capacity, "grew without saying so");
                    }
                }
                3 => assert_eq!(ours.pop_last(), model.pop_last()),
                _ => {
                    if let (Some(a), Some(b)) = (ours.get_mut(&key), model.get_mut(&key)) {
                        *a += 1;
                        *b += 1;
                    }
                }
            }
            assert_eq!(ours.len(), model.len());
            assert_eq!(ours.get(&key), model.get(&key));
            assert_eq!(ours.contains_key(&key), model.contains_key(&key));
            assert_eq!(ours.last_key_value(), model.last_key_value());
            assert!(ours.iter().eq(model.iter()));
            assert!(ours.keys().eq(model.keys()) && ours.values().eq(model.values()));
        }
        assert!(!ours.is_empty() || model.is_empty());
    }
}
