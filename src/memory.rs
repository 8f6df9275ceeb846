//! Estimates of the heap memory a value holds, for the memory budgets of the
//! flow tables and the inventory. An estimate counts every allocation's
//! capacity rounded up the way the system allocator rounds it, plus its
//! header, so that many small allocations (one-byte ALPN entries, short
//! certificate names) are charged what they really cost.

use crate::cert::CertificateFacts;
use crate::tls::facts::{ClientHelloFacts, KeyExchangeFacts, ServerHelloFacts, SessionFacts};

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

pub fn string_bytes(s: &str) -> usize {
    alloc_bytes(s.len())
}

fn strings_bytes(v: &Vec<String>) -> usize {
    vec_bytes(v) + v.iter().map(|s| alloc_bytes(s.capacity())).sum::<usize>()
}

/// A value that can say how much heap memory it holds.
pub trait HeapSize {
    fn heap_bytes(&self) -> usize;
}

impl HeapSize for ClientHelloFacts {
    fn heap_bytes(&self) -> usize {
        vec_bytes(&self.session_id)
            + vec_bytes(&self.ciphers)
            + vec_bytes(&self.compression_methods)
            + vec_bytes(&self.extensions)
            + self.server_name.as_ref().map_or(0, vec_bytes)
            + vec_bytes(&self.alpn)
            + self.alpn.iter().map(vec_bytes).sum::<usize>()
            + vec_bytes(&self.supported_versions)
            + vec_bytes(&self.supported_groups)
            + vec_bytes(&self.ec_point_formats)
            + vec_bytes(&self.signature_algorithms)
            + vec_bytes(&self.key_share_groups)
            + vec_bytes(&self.psk_key_exchange_modes)
            + vec_bytes(&self.server_certificate_types)
            + vec_bytes(&self.malformed_extensions)
    }
}

impl HeapSize for ServerHelloFacts {
    fn heap_bytes(&self) -> usize {
        vec_bytes(&self.session_id)
            + vec_bytes(&self.extensions)
            + self.alpn.as_ref().map_or(0, vec_bytes)
            + self.key_share_public.as_deref().map_or(0, string_bytes)
            + vec_bytes(&self.ec_point_formats)
    }
}

impl HeapSize for KeyExchangeFacts {
    fn heap_bytes(&self) -> usize {
        self.server_public.as_deref().map_or(0, string_bytes)
    }
}

impl HeapSize for CertificateFacts {
    fn heap_bytes(&self) -> usize {
        string_bytes(&self.sha256)
            + string_bytes(&self.serial_hex)
            + self.subject_cn.as_deref().map_or(0, string_bytes)
            + string_bytes(&self.subject_dn)
            + self.issuer_cn.as_deref().map_or(0, string_bytes)
            + string_bytes(&self.issuer_dn)
            + strings_bytes(&self.dns_names)
            + strings_bytes(&self.ip_addresses)
            + string_bytes(&self.public_key_algorithm)
            + self.public_key_curve.as_deref().map_or(0, string_bytes)
            + string_bytes(&self.signature_algorithm)
            + string_bytes(&self.signature_algorithm_oid)
            + vec_bytes(&self.key_usage)
            + strings_bytes(&self.extended_key_usage)
            + strings_bytes(&self.ocsp_urls)
            + strings_bytes(&self.crl_urls)
            + vec_bytes(&self.der)
    }
}

impl HeapSize for SessionFacts {
    fn heap_bytes(&self) -> usize {
        let certificates = |v: &Vec<CertificateFacts>| vec_bytes(v) + v.iter().map(HeapSize::heap_bytes).sum::<usize>();
        self.client_hello.as_ref().map_or(0, HeapSize::heap_bytes)
            + self.retried_client_hello.as_ref().map_or(0, HeapSize::heap_bytes)
            + self.server_hello.as_ref().map_or(0, HeapSize::heap_bytes)
            + certificates(&self.server_certificates)
            + certificates(&self.client_certificates)
            + self.key_exchange.as_ref().map_or(0, HeapSize::heap_bytes)
            + vec_bytes(&self.malformed_messages)
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
    fn many_tiny_alpn_entries_are_charged_per_allocation() {
        let hello = ClientHelloFacts { alpn: (0..1000).map(|i| vec![i as u8]).collect(), ..Default::default() };
        // Each one-byte entry is a 24-byte vector plus a 32-byte chunk.
        assert!(hello.heap_bytes() >= 1000 * (24 + 32));
    }
}
