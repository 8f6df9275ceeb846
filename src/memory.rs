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

/// A value that can say how much heap memory it holds.
pub trait HeapSize {
    fn heap_bytes(&self) -> usize;
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
}
