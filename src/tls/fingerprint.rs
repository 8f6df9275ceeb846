//! TLS fingerprints: JA3 and JA3S (Salesforce, BSD-3) and JA4 for the client
//! (FoxIO, BSD-3). The other JA4+ methods (JA4S, JA4X, ...) are under a
//! non-commercial license and deliberately not implemented.

use std::fmt::Write as _;

use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::facts::{ClientHelloFacts, ServerHelloFacts};
use super::hello::ext;
use super::names::is_grease;
use crate::util::keyed_hash::KeyedHash;

/// Writes the values, decimal or as four lowercase hex digits, separated by `sep`.
fn push_list(out: &mut String, values: impl IntoIterator<Item = u16>, sep: char, hex4: bool) {
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(sep);
        }
        if hex4 {
            const HEX: &[u8; 16] = crate::util::hex::LOWER;
            for shift in [12, 8, 4, 0] {
                out.push(char::from(HEX[usize::from((v >> shift) & 15)]));
            }
        } else {
            // Without fmt: a ClientHello lists up to a few hundred numbers.
            out.push_str(itoa::Buffer::new().format(v));
        }
    }
}

fn without_grease(v: &[u16]) -> impl Iterator<Item = u16> + '_ {
    v.iter().copied().filter(|x| !is_grease(*x))
}

/// The JA3 string: version,ciphers,extensions,groups,point formats (decimal, GREASE removed).
pub fn ja3_string(ch: &ClientHelloFacts) -> String {
    let mut s = String::with_capacity(16 + 6 * (ch.ciphers.len() + ch.extensions.len() + ch.supported_groups.len()));
    let _ = write!(s, "{},", ch.legacy_version);
    push_list(&mut s, without_grease(&ch.ciphers), '-', false);
    s.push(',');
    push_list(&mut s, without_grease(&ch.extensions), '-', false);
    s.push(',');
    push_list(&mut s, without_grease(&ch.supported_groups), '-', false);
    s.push(',');
    push_list(&mut s, ch.ec_point_formats.iter().map(|f| u16::from(*f)), '-', false);
    s
}

/// The JA3 or JA3S hash of a JA3 or JA3S string.
pub fn ja3_digest(ja3_string: &str) -> String {
    crate::util::hex::lower(&Md5::digest(ja3_string.as_bytes()))
}

pub fn ja3(ch: &ClientHelloFacts) -> String {
    ja3_digest(&ja3_string(ch))
}

/// The JA3S string: version,cipher,extensions.
pub fn ja3s_string(sh: &ServerHelloFacts) -> String {
    let mut s = String::with_capacity(16 + 6 * sh.extensions.len());
    let _ = write!(s, "{},{},", sh.legacy_version, sh.cipher);
    push_list(&mut s, without_grease(&sh.extensions), '-', false);
    s
}

pub fn ja3s(sh: &ServerHelloFacts) -> String {
    ja3_digest(&ja3s_string(sh))
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
    let hex = crate::util::hex::lower(first);
    let bytes = hex.as_bytes();
    format!("{}{}", bytes[0] as char, bytes[bytes.len() - 1] as char)
}

/// The first 12 hex digits of the SHA-256 of `s`.
fn sha256_12(s: &str) -> String {
    crate::util::hex::lower(&Sha256::digest(s.as_bytes())[..6])
}

/// JA4 of a ClientHello; `transport` is the spec's first character: 't'
/// for TCP, 'q' for QUIC, 'd' for DTLS.
/// JA4 fingerprints each worker thread remembers, by everything a
/// fingerprint is made of: clients send the same hello again and again, and
/// a fingerprint costs two sorts and two SHA-256 digests.
const JA4_CACHE_ENTRIES: usize = 1024;

/// Fingerprints by key, and the buffer a key is built in.
type Ja4Cache = (hashlink::LruCache<Vec<u8>, String, KeyedHash>, Vec<u8>);

thread_local! {
    static JA4_CACHE: std::cell::RefCell<Ja4Cache> = std::cell::RefCell::new((hashlink::LruCache::with_hasher(JA4_CACHE_ENTRIES, KeyedHash::default()), Vec::new()));
}

/// Empties this thread's cache of JA4 fingerprints.
pub fn forget_fingerprints() {
    JA4_CACHE.with(|c| c.borrow_mut().0.clear());
}

/// The JA4 fingerprint of a ClientHello carried over `transport` ('t' TCP,
/// 'q' QUIC, 'd' DTLS).
pub fn ja4(ch: &ClientHelloFacts, transport: char) -> String {
    JA4_CACHE.with(|cache| {
        let (cache, key) = &mut *cache.borrow_mut();
        // Every input of the fingerprint, each list after its length.
        key.clear();
        key.extend_from_slice(&(transport as u32).to_le_bytes());
        key.push(u8::from(ch.sslv2_format));
        key.extend_from_slice(&ch.legacy_version.to_le_bytes());
        for list in [&ch.ciphers, &ch.extensions, &ch.supported_versions, &ch.signature_algorithms] {
            key.extend_from_slice(&(list.len() as u32).to_le_bytes());
            list.iter().for_each(|v| key.extend_from_slice(&v.to_le_bytes()));
        }
        match ch.alpn.first() {
            Some(first) if !first.is_empty() => key.extend_from_slice(&[1, first[0], first[first.len() - 1]]),
            Some(_) => key.push(2),
            None => key.push(0),
        }
        if let Some(known) = cache.get(key.as_slice()) {
            return known.clone();
        }
        let fingerprint = ja4_uncached(ch, transport);
        cache.insert(key.clone(), fingerprint.clone());
        fingerprint
    })
}

fn ja4_uncached(ch: &ClientHelloFacts, transport: char) -> String {
    let mut ciphers: Vec<u16> = without_grease(&ch.ciphers).collect();
    let extension_count = without_grease(&ch.extensions).count();
    let version = without_grease(&ch.supported_versions)
        .max()
        .unwrap_or(if ch.sslv2_format { 0x0002 } else { ch.legacy_version });
    let sni = if ch.extensions.contains(&ext::SERVER_NAME) { 'd' } else { 'i' };
    let mut out = String::with_capacity(36);
    let _ = write!(
        out,
        "{}{}{}{:02}{:02}{}_",
        transport,
        ja4_version(version),
        sni,
        ciphers.len().min(99),
        extension_count.min(99),
        ja4_alpn(&ch.alpn)
    );
    let mut text = String::with_capacity(5 * (ch.ciphers.len() + ch.extensions.len() + ch.signature_algorithms.len()));
    ciphers.sort_unstable();
    if ciphers.is_empty() {
        out.push_str("000000000000");
    } else {
        push_list(&mut text, ciphers, ',', true);
        out.push_str(&sha256_12(&text));
    }
    out.push('_');
    let mut sorted_ext: Vec<u16> =
        without_grease(&ch.extensions).filter(|e| *e != ext::SERVER_NAME && *e != ext::ALPN).collect();
    sorted_ext.sort_unstable();
    if sorted_ext.is_empty() {
        out.push_str("000000000000");
    } else {
        text.clear();
        push_list(&mut text, sorted_ext, ',', true);
        if without_grease(&ch.signature_algorithms).next().is_some() {
            text.push('_');
            push_list(&mut text, without_grease(&ch.signature_algorithms), ',', true);
        }
        out.push_str(&sha256_12(&text));
    }
    out
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
        assert_eq!(ja4(&ch, 't'), "t13d1516h2_8daaf6152771_e5627efa2ab1");
        assert_eq!(ja4(&ch, 'q'), "q13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    #[test]
    fn remembered_fingerprints_are_those_computed_afresh() {
        let base = ClientHelloFacts {
            legacy_version: 0x0303,
            ciphers: vec![0x1301, 0xc02f, 0x0a0a],
            extensions: vec![0x0000, 0x0010, 0x000d, 0x002b],
            supported_versions: vec![0x0304, 0x0303],
            alpn: vec![b"h2".to_vec()],
            signature_algorithms: vec![0x0403, 0x0804],
            ..Default::default()
        };
        let variants = [
            base.clone(),
            ClientHelloFacts { ciphers: vec![0x1301, 0xc030], ..base.clone() },
            ClientHelloFacts { extensions: vec![0x0010, 0x000d], ..base.clone() },
            ClientHelloFacts { supported_versions: vec![], ..base.clone() },
            ClientHelloFacts { alpn: vec![b"http/1.1".to_vec()], ..base.clone() },
            ClientHelloFacts { alpn: vec![b"hx".to_vec()], ..base.clone() },
            ClientHelloFacts { alpn: vec![], ..base.clone() },
            ClientHelloFacts { signature_algorithms: vec![0x0403], ..base.clone() },
            ClientHelloFacts { sslv2_format: true, supported_versions: vec![], ..base.clone() },
            ClientHelloFacts { legacy_version: 0x0301, supported_versions: vec![], ..base.clone() },
        ];
        let mut seen = std::collections::BTreeSet::new();
        for round in 0..2 {
            for ch in &variants {
                for transport in ['t', 'q', 'd'] {
                    let fingerprint = ja4(ch, transport);
                    assert_eq!(fingerprint, ja4_uncached(ch, transport), "round {round}");
                    seen.insert(fingerprint);
                }
            }
        }
        assert_eq!(seen.len(), variants.len() * 3, "every variant has a fingerprint of its own");
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
