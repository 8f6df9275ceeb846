//! Small helpers shared by every layer: a cache bounded by entries and bytes, a small sorted map, the hash of tables
//! keyed by wire data, hexadecimal, escaping of
//! attacker-controlled bytes, what JSON must escape, endpoints as people read them, IPv6 addresses as text, RFC 3339
//! timestamps, and QUIC's variable-length integers.

pub mod bounded_lru;
pub mod endpoint;
pub mod escape;
pub mod hex;
pub mod keyed_hash;
pub mod ipv6_text;
pub mod json_escape;
pub mod rfc3339;
pub mod sorted_vec_map;
pub mod varint;
