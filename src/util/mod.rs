//! Small text helpers shared by every layer: hexadecimal, escaping of
//! attacker-controlled bytes, and RFC 3339 timestamps.

pub mod escape;
pub mod hex;
pub mod rfc3339;
