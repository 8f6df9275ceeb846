//! IPv6 addresses in their text form (RFC 5952: lowercase hexadecimal, no
//! leading zeros, the longest run of two or more zero groups as "::", the
//! first of equal runs; IPv4-mapped addresses as "::ffff:a.b.c.d"), byte
//! for byte as the standard library's `Display` writes them, but straight
//! into a buffer: the records carry an address per endpoint, and the
//! formatting machinery costs several times the writing.

use std::net::Ipv6Addr;

use crate::util::hex::LOWER;

/// Appends the text of `addr` to `out`.
pub fn write_ipv6(out: &mut Vec<u8>, addr: &Ipv6Addr) {
    if let Some(v4) = addr.to_ipv4_mapped() {
        out.extend_from_slice(b"::ffff:");
        for (i, octet) in v4.octets().iter().enumerate() {
            if i > 0 {
                out.push(b'.');
            }
            write_decimal(out, *octet);
        }
        return;
    }
    let groups = addr.segments();
    // A single zero group is written as "0", not shortened.
    let (run_start, run_len) = match longest_zero_run(&groups) {
        (start, len) if len > 1 => (start, len),
        _ => (usize::MAX, 0),
    };
    let mut i = 0;
    while i < groups.len() {
        if i == run_start {
            out.extend_from_slice(b"::");
            i += run_len;
            continue;
        }
        if i > 0 && i != run_start.wrapping_add(run_len) {
            out.push(b':');
        }
        write_group(out, groups[i]);
        i += 1;
    }
}

/// Where the longest run of zero groups starts and how long it is (the
/// first of runs of equal length); a length of 0 when there is none.
fn longest_zero_run(groups: &[u16; 8]) -> (usize, usize) {
    let (mut best_start, mut best_len) = (0, 0);
    let mut at = 0;
    while at < groups.len() {
        if groups[at] != 0 {
            at += 1;
            continue;
        }
        let start = at;
        while at < groups.len() && groups[at] == 0 {
            at += 1;
        }
        if at - start > best_len {
            (best_start, best_len) = (start, at - start);
        }
    }
    (best_start, best_len)
}

/// A group in hexadecimal without leading zeros.
fn write_group(out: &mut Vec<u8>, group: u16) {
    let digits = [(group >> 12) as usize, (group >> 8 & 15) as usize, (group >> 4 & 15) as usize, (group & 15) as usize];
    let first = digits.iter().position(|&d| d != 0).unwrap_or(3);
    for &d in &digits[first..] {
        out.push(LOWER[d]);
    }
}

fn write_decimal(out: &mut Vec<u8>, n: u8) {
    if n >= 100 {
        out.push(b'0' + n / 100);
    }
    if n >= 10 {
        out.push(b'0' + n / 10 % 10);
    }
    out.push(b'0' + n % 10);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(addr: Ipv6Addr) -> String {
        let mut out = Vec::new();
        write_ipv6(&mut out, &addr);
        String::from_utf8(out).expect("ASCII")
    }

    #[test]
    fn the_same_text_as_the_standard_library_for_every_shape_of_address() {
        // Every pattern of zero and non-zero groups (256 of them), each
        // with small, large and single-digit values, and the mapped and
        // compatible IPv4 forms.
        let mut checked = 0;
        for pattern in 0u32..256 {
            for fill in [1u16, 0x0a, 0xbeef, 0x100, 0xffff] {
                let mut groups = [0u16; 8];
                for (i, g) in groups.iter_mut().enumerate() {
                    if pattern >> i & 1 == 1 {
                        *g = fill.wrapping_add(i as u16 * 0x1111).max(1);
                    }
                }
                let addr = Ipv6Addr::from(groups);
                assert_eq!(text(addr), addr.to_string(), "{groups:x?}");
                checked += 1;
            }
        }
        for addr in ["::ffff:192.0.2.1", "::ffff:0.0.0.0", "::1.2.3.4", "::ffff:0:1.2.3.4", "64:ff9b::192.0.2.33", "fe80::1%0"] {
            let Ok(addr) = addr.split('%').next().unwrap_or_default().parse::<Ipv6Addr>() else { panic!("{addr}") };
            assert_eq!(text(addr), addr.to_string());
            checked += 1;
        }
        // Pseudo-random addresses, many with runs of zeros.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut groups = [0u16; 8];
            for (i, g) in groups.iter_mut().enumerate() {
                let bits = (x >> (i * 8)) as u16;
                *g = if bits & 3 == 0 { 0 } else { bits.rotate_left(i as u32 * 3) };
            }
            let addr = Ipv6Addr::from(groups);
            assert_eq!(text(addr), addr.to_string(), "{groups:x?}");
            checked += 1;
        }
        assert_eq!(checked, 256 * 5 + 6 + 20_000);
    }
}
