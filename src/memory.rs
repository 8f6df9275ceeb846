//! Estimates of the heap memory a value holds, for the memory budgets of the
//! flow tables and the inventory. An estimate counts every allocation's
//! capacity rounded up the way the system allocator rounds it, plus its
//! header, so that many small allocations (one-byte ALPN entries, short
//! certificate names) are charged what they really cost.

/// Bytes one heap allocation of `n` bytes takes: glibc adds an 8-byte header,
/// rounds up to 16 and never hands out less than 32.
pub fn alloc_bytes(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (n + 8).next_multiple_of(16).max(32)
    }
}

/// Heap bytes of a vector's buffer (not of what its elements own).
pub fn vec_bytes<T>(v: &Vec<T>) -> usize {
    alloc_bytes(v.capacity() * std::mem::size_of::<T>())
}

/// Heap bytes of a string's buffer.
pub fn string_bytes(s: &str) -> usize {
    alloc_bytes(s.len())
}

/// Heap bytes of a vector of strings and of the strings.
pub fn strings_bytes(v: &Vec<String>) -> usize {
    vec_bytes(v) + v.iter().map(|s| alloc_bytes(s.capacity())).sum::<usize>()
}

/// Bytes one more entry costs a B-tree map or set that holds `len`: the
/// first allocates a leaf with room for eleven, the next ten fit in it, and
/// past that nodes are two thirds full on average (with their share of the
/// inner nodes). A map of one entry costs its whole leaf.
pub fn btree_entry_bytes<K, V>(len: usize) -> usize {
    let slot = std::mem::size_of::<K>() + std::mem::size_of::<V>();
    match len {
        0 => alloc_bytes(11 * slot + 16),
        1..=10 => 0,
        _ => slot * 3 / 2 + 8,
    }
}

/// Bytes one more entry costs a hash map or set that holds `len`: the first
/// allocates four slots, and as the table doubles when seven eighths full,
/// an entry holds up to two slots, each with its control byte.
pub fn hash_entry_bytes<K, V>(len: usize) -> usize {
    let slot = std::mem::size_of::<K>() + std::mem::size_of::<V>() + 1;
    if len == 0 {
        alloc_bytes(4 * slot + 16)
    } else {
        2 * slot
    }
}

/// A value that can say how much heap memory it holds.
pub trait HeapSize {
    fn heap_bytes(&self) -> usize;
}

/// A boxed value's heap: the box's own allocation, and what the value holds.
impl<T: HeapSize> HeapSize for Box<T> {
    fn heap_bytes(&self) -> usize {
        alloc_bytes(std::mem::size_of::<T>()) + (**self).heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_allocations_cost_at_least_a_chunk() {
        assert_eq!(alloc_bytes(0), 0);
        assert_eq!(alloc_bytes(1), 32);
        assert_eq!(alloc_bytes(24), 32);
        assert_eq!(alloc_bytes(25), 48);
        assert_eq!(alloc_bytes(1000), 1008);
    }

    #[test]
    fn a_container_of_one_entry_costs_its_first_allocation() {
        // A B-tree leaf has room for eleven entries: the first pays for it.
        assert_eq!(btree_entry_bytes::<u64, u64>(0), alloc_bytes(11 * 16 + 16));
        assert_eq!(btree_entry_bytes::<u64, u64>(5), 0);
        assert!(btree_entry_bytes::<u64, u64>(11) > 16);
        assert_eq!(hash_entry_bytes::<u64, ()>(0), alloc_bytes(4 * 9 + 16));
        assert_eq!(hash_entry_bytes::<u64, ()>(100), 18);
    }
}
