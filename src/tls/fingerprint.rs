//! TLS fingerprints: JA3 and JA3S (Salesforce, BSD-3) and JA4 for the client
//! (FoxIO, BSD-3). The other JA4+ methods (JA4S, JA4X, ...) are under a
//! non-commercial license and deliberately not implemented.

use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::facts::{ClientHelloFacts, ServerHelloFacts};
use super::hello::ext;
use super::names::is_grease;

fn join<T: ToString>(items: impl IntoIterator<Item = T>, sep: &str) -> String {
    items.into_iter().map(|v| v.to_string()).collect::<Vec<_>>().join(sep)
}

fn md5_hex(s: &str) -> String {
    hex_lower(&Md5::digest(s.as_bytes()))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The JA3 string: version,ciphers,extensions,groups,point formats (decimal, GREASE removed).
pub fn ja3_string(ch: &ClientHelloFacts) -> String {
    let keep = |v: &&u16| !is_grease(**v);
    format!(
        "{},{},{},{},{}",
        ch.legacy_version,
        join(ch.ciphers.iter().filter(keep), "-"),
        join(ch.extensions.iter().filter(keep), "-"),
        join(ch.supported_groups.iter().filter(keep), "-"),
        join(ch.ec_point_formats.iter(), "-"),
    )
}

pub fn ja3(ch: &ClientHelloFacts) -> String {
    md5_hex(&ja3_string(ch))
}

/// The JA3S string: version,cipher,extensions.
pub fn ja3s_string(sh: &ServerHelloFacts) -> String {
    format!(
        "{},{},{}",
        sh.legacy_version,
        sh.cipher,
        join(sh.extensions.iter().filter(|v| !is_grease(**v)), "-")
    )
}

pub fn ja3s(sh: &ServerHelloFacts) -> String {
    md5_hex(&ja3s_string(sh))
}

fn ja4_version(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// First and last characters of the first ALPN value, per the JA4 rules:
/// "99" when the value starts with a non-ASCII byte (as the reference
/// implementations whose outputs ship with the ja4 captures do), the two
/// characters when both are alphanumeric, else the first and last hex digits
/// of the value (the later specification), which keeps the fingerprint printable.
fn ja4_alpn(alpn: &[Vec<u8>]) -> String {
    let Some(first) = alpn.first().filter(|v| !v.is_empty()) else { return "00".to_string() };
    let (a, z) = (first[0], first[first.len() - 1]);
    if a > 127 {
        return "99".to_string();
    }
    if is_alnum(a) && is_alnum(z) {
        return format!("{}{}", a as char, z as char);
    }
    let hex = hex_lower(first);
    let bytes = hex.as_bytes();
    format!("{}{}", bytes[0] as char, bytes[bytes.len() - 1] as char)
}

fn sha256_12(s: &str) -> String {
    let mut h = hex_lower(&Sha256::digest(s.as_bytes()));
    h.truncate(12);
    h
}

/// JA4 of a ClientHello seen over TCP.
pub fn ja4(ch: &ClientHelloFacts) -> String {
    let ciphers: Vec<u16> = ch.ciphers.iter().copied().filter(|v| !is_grease(*v)).collect();
    let extensions: Vec<u16> = ch.extensions.iter().copied().filter(|v| !is_grease(*v)).collect();
    let version = ch
        .supported_versions
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .max()
        .unwrap_or(if ch.sslv2_format { 0x0002 } else { ch.legacy_version });
    let sni = if ch.extensions.contains(&ext::SERVER_NAME) { 'd' } else { 'i' };
    let a = format!(
        "t{}{}{:02}{:02}{}",
        ja4_version(version),
        sni,
        ciphers.len().min(99),
        extensions.len().min(99),
        ja4_alpn(&ch.alpn)
    );
    let mut sorted_ciphers = ciphers.clone();
    sorted_ciphers.sort_unstable();
    let b = if sorted_ciphers.is_empty() {
        "000000000000".to_string()
    } else {
        sha256_12(&join(sorted_ciphers.iter().map(|c| format!("{c:04x}")), ","))
    };
    let mut sorted_ext: Vec<u16> =
        extensions.iter().copied().filter(|e| *e != ext::SERVER_NAME && *e != ext::ALPN).collect();
    sorted_ext.sort_unstable();
    let c = if sorted_ext.is_empty() {
        "000000000000".to_string()
    } else {
        let mut s = join(sorted_ext.iter().map(|e| format!("{e:04x}")), ",");
        let sigs: Vec<String> =
            ch.signature_algorithms.iter().filter(|v| !is_grease(**v)).map(|v| format!("{v:04x}")).collect();
        if !sigs.is_empty() {
            s.push('_');
            s.push_str(&sigs.join(","));
        }
        sha256_12(&s)
    };
    format!("{a}_{b}_{c}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the JA4 specification.
    #[test]
    fn ja4_specification_example() {
        let ch = ClientHelloFacts {
            legacy_version: 0x0303,
            ciphers: vec![
                0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d,
                0x002f, 0x0035,
            ],
            extensions: vec![
                0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01,
                0x000b, 0x000a, 0x0015,
            ],
            supported_versions: vec![0x0304, 0x0303],
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            signature_algorithms: vec![0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601],
            ..Default::default()
        };
        assert_eq!(ja4(&ch), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    #[test]
    fn ja4_alpn_non_alphanumeric_uses_hex() {
        // A non-ASCII first byte gives "99" (the reference implementations).
        assert_eq!(ja4_alpn(&[vec![0xab]]), "99");
        assert_eq!(ja4_alpn(&[vec![0xef, 0xbf, 0xbd]]), "99");
        assert_eq!(ja4_alpn(&[vec![0x30, 0xab]]), "3b");
        assert_eq!(ja4_alpn(&[b"-x".to_vec()]), "28");
        assert_eq!(ja4_alpn(&[vec![0x30, 0xab, 0xcd, 0x31]]), "01");
        assert_eq!(ja4_alpn(&[b"http/1.1".to_vec()]), "h1");
        assert_eq!(ja4_alpn(&[]), "00");
    }
}
