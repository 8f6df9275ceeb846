//! Small helpers shared by every layer: hexadecimal, escaping of
//! attacker-controlled bytes, RFC 3339 timestamps, and QUIC's
//! variable-length integers.

pub mod escape;
pub mod hex;
pub mod rfc3339;
pub mod varint;
