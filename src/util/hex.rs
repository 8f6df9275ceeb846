//! Hexadecimal text for bytes: digests, fingerprints, serial numbers and
//! bytes that are not UTF-8. One table-driven encoder instead of a `format!`
//! per byte.

/// The sixteen digits, lower case and upper case, for writers that place
/// digits themselves (JSON escapes, code points, JA3 lists).
pub const LOWER: &[u8; 16] = b"0123456789abcdef";
pub const UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn encode(bytes: &[u8], digits: &[u8; 16]) -> String {
    let mut text = Vec::with_capacity(bytes.len() * 2);
    text.extend(bytes.iter().flat_map(|b| [digits[usize::from(b >> 4)], digits[usize::from(b & 15)]]));
    // Only ASCII digits were written: the check cannot fail (and costs
    // less than encoding each digit as a char did).
    String::from_utf8(text).unwrap_or_default()
}

/// Lower-case hex, two digits a byte (`"0aff"`).
pub fn lower(bytes: &[u8]) -> String {
    encode(bytes, LOWER)
}

/// Upper-case hex, two digits a byte (`"0AFF"`), as certificate tools show
/// fingerprints and serial numbers.
pub fn upper(bytes: &[u8]) -> String {
    encode(bytes, UPPER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_format_for_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let expected_lower: String = all.iter().map(|b| format!("{b:02x}")).collect();
        let expected_upper: String = all.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(lower(&all), expected_lower);
        assert_eq!(upper(&all), expected_upper);
        assert_eq!(lower(&[]), "");
    }
}
