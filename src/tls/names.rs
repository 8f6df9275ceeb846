//! Names for TLS code points in the spelling of the output contract: protocol
//! versions, cipher suites (from tls-parser's IANA table), key-exchange groups
//! and alert descriptions. GREASE values (RFC 8701) are recognised here.

use std::borrow::Cow;

/// Whether a 16-bit code point is a GREASE value (0x0A0A, 0x1A1A, ... 0xFAFA).
pub fn is_grease(v: u16) -> bool {
    (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// The negotiated version of an early TLS 1.3 draft whose ServerHello said
/// 0x0304 in its version field and carried no draft number (before draft 16,
/// whose code points name the draft). Never on the wire: the ServerHello
/// parser gives this code to that layout so it is not judged as RFC 8446.
pub const TLS13_EARLY_DRAFT: u16 = 0x7F00;

/// Whether a version code is a pre-standard TLS 1.3: a draft (0x7F0E..0x7F1C,
/// and TLS13_EARLY_DRAFT), a Facebook draft variant (0xFB17, 0xFB1A) or a
/// Chrome/BoringSSL experiment (0x7E01..0x7E03). All negotiate TLS 1.3
/// semantics; none is RFC 8446.
pub fn is_tls13_draft(v: u16) -> bool {
    (v & 0xff00) == 0x7f00 || (v & 0xff00) == 0xfb00 || matches!(v, 0x7E01..=0x7E03)
}

/// The draft number a pre-standard TLS 1.3 version code carries.
pub fn tls13_draft_number(v: u16) -> Option<u8> {
    match v {
        0x7F0E..=0x7F1C | 0xFB17 | 0xFB1A => Some((v & 0xff) as u8),
        _ => None,
    }
}

/// The spelling of the numbered drafts, draft 14 first.
const DRAFTS: [&str; 15] = [
    "1.3-draft-14", "1.3-draft-15", "1.3-draft-16", "1.3-draft-17", "1.3-draft-18", "1.3-draft-19", "1.3-draft-20",
    "1.3-draft-21", "1.3-draft-22", "1.3-draft-23", "1.3-draft-24", "1.3-draft-25", "1.3-draft-26", "1.3-draft-27",
    "1.3-draft-28",
];

/// `tls.version` spelling of a version code: "1.3", "1.2", ..., "3.0", "2.0",
/// and a pre-standard TLS 1.3 as negotiated: "1.3-draft-18",
/// "1.3-facebook-draft-23", "1.3-experiment-1", "1.3-draft-pre16".
pub fn version_name(v: u16) -> Option<&'static str> {
    Some(match v {
        0x0304 => "1.3",
        0x0303 => "1.2",
        0x0302 => "1.1",
        0x0301 => "1.0",
        0x0300 => "3.0",
        0x0002 | 0x0200 => "2.0",
        DTLS10 => "1.0",
        DTLS12 => "1.2",
        DTLS13 => "1.3",
        DTLS_PRE_STANDARD => "1.0-pre-standard",
        0x7F0E..=0x7F1C => DRAFTS[usize::from(v - 0x7F0E)],
        TLS13_EARLY_DRAFT => "1.3-draft-pre16",
        0xFB17 => "1.3-facebook-draft-23",
        0xFB1A => "1.3-facebook-draft-26",
        0x7E01 => "1.3-experiment-1",
        0x7E02 => "1.3-experiment-2",
        0x7E03 => "1.3-experiment-3",
        v if (v & 0xff00) == 0xfb00 => "1.3-facebook-draft",
        v if is_tls13_draft(v) => "1.3-draft",
        _ => return None,
    })
}

/// `tls.version_protocol` of a version code.
pub fn version_protocol(v: u16) -> &'static str {
    match v {
        0x0300 | 0x0002 | 0x0200 => "ssl",
        v if is_dtls(v) => "dtls",
        _ => "tls",
    }
}

/// DTLS 1.0 (RFC 4347), 1.2 (RFC 6347) and 1.3 (RFC 9147) on the wire.
pub const DTLS10: u16 = 0xFEFF;
pub const DTLS12: u16 = 0xFEFD;
pub const DTLS13: u16 = 0xFEFC;
/// OpenSSL's DTLS from before RFC 4347 (DTLS1_BAD_VER), still spoken by
/// old VPN gateways.
pub const DTLS_PRE_STANDARD: u16 = 0x0100;

pub fn is_dtls(v: u16) -> bool {
    matches!(v, DTLS10 | DTLS12 | DTLS13 | DTLS_PRE_STANDARD)
}

/// The TLS version a DTLS version is built on, by which it is judged
/// (RFC 6347 §1: DTLS 1.0 is TLS 1.1's, DTLS 1.2 is TLS 1.2's; RFC 9147:
/// DTLS 1.3 is TLS 1.3's); a TLS version is itself.
pub fn tls_equivalent(v: u16) -> u16 {
    match v {
        DTLS10 | DTLS_PRE_STANDARD => 0x0302,
        DTLS12 => 0x0303,
        DTLS13 => 0x0304,
        v => v,
    }
}

/// The name of an SRTP protection profile (RFC 5764 §4.1.2, RFC 7714 §14.2),
/// or "0x0001" for one not in the registry.
pub fn srtp_profile_name(id: u16) -> Cow<'static, str> {
    Cow::Borrowed(match id {
        0x0001 => "SRTP_AES128_CM_HMAC_SHA1_80",
        0x0002 => "SRTP_AES128_CM_HMAC_SHA1_32",
        0x0005 => "SRTP_NULL_HMAC_SHA1_80",
        0x0006 => "SRTP_NULL_HMAC_SHA1_32",
        0x0007 => "SRTP_AEAD_AES_128_GCM",
        0x0008 => "SRTP_AEAD_AES_256_GCM",
        _ => return Cow::Owned(format!("0x{id:04X}")),
    })
}

/// IANA name of a cipher suite, or "0x1A2B" for a code tls-parser does not know.
pub fn cipher_name(id: u16) -> Cow<'static, str> {
    match tls_parser::TlsCipherSuite::from_id(id) {
        Some(cs) => Cow::Borrowed(cs.name),
        None => Cow::Owned(format!("0x{id:04X}")),
    }
}

/// IANA name of a supported group (TLS Supported Groups registry), or "0x1A2B".
pub fn group_name(id: u16) -> Cow<'static, str> {
    let name = match id {
        1 => "sect163k1",
        2 => "sect163r1",
        3 => "sect163r2",
        4 => "sect193r1",
        5 => "sect193r2",
        6 => "sect233k1",
        7 => "sect233r1",
        8 => "sect239k1",
        9 => "sect283k1",
        10 => "sect283r1",
        11 => "sect409k1",
        12 => "sect409r1",
        13 => "sect571k1",
        14 => "sect571r1",
        15 => "secp160k1",
        16 => "secp160r1",
        17 => "secp160r2",
        18 => "secp192k1",
        19 => "secp192r1",
        20 => "secp224k1",
        21 => "secp224r1",
        22 => "secp256k1",
        23 => "secp256r1",
        24 => "secp384r1",
        25 => "secp521r1",
        26 => "brainpoolP256r1",
        27 => "brainpoolP384r1",
        28 => "brainpoolP512r1",
        29 => "x25519",
        30 => "x448",
        31 => "brainpoolP256r1tls13",
        32 => "brainpoolP384r1tls13",
        33 => "brainpoolP512r1tls13",
        34 => "GC256A",
        35 => "GC256B",
        36 => "GC256C",
        37 => "GC256D",
        38 => "GC512A",
        39 => "GC512B",
        40 => "GC512C",
        41 => "curveSM2",
        256 => "ffdhe2048",
        257 => "ffdhe3072",
        258 => "ffdhe4096",
        259 => "ffdhe6144",
        260 => "ffdhe8192",
        512 => "MLKEM512",
        513 => "MLKEM768",
        514 => "MLKEM1024",
        0x11EB => "SecP256r1MLKEM768",
        0x11EC => "X25519MLKEM768",
        0x11ED => "SecP384r1MLKEM1024",
        0x6399 => "X25519Kyber768Draft00",
        0x639A => "SecP256r1Kyber768Draft00",
        0xFF01 => "arbitrary_explicit_prime_curves",
        0xFF02 => "arbitrary_explicit_char2_curves",
        _ => return Cow::Owned(format!("0x{id:04X}")),
    };
    Cow::Borrowed(name)
}

/// Alert description names (TLS Alerts registry).
pub fn alert_description(code: u8) -> String {
    let name = match code {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        121 => "ech_required",
        _ => return format!("unknown_{code}"),
    };
    name.to_string()
}

/// Alert level names.
pub fn alert_level(level: u8) -> String {
    match level {
        1 => "warning".to_string(),
        2 => "fatal".to_string(),
        other => format!("unknown_{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease_values() {
        for hi in 0..16u16 {
            let v = (hi << 12) | 0x0a00 | (hi << 4) | 0x0a;
            assert!(is_grease(v), "{v:#06x}");
        }
        assert!(!is_grease(0x1301));
        assert!(!is_grease(0x0a1a));
    }

    #[test]
    fn cipher_names_come_from_the_iana_table() {
        assert_eq!(cipher_name(0xc02f), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(cipher_name(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(cipher_name(0x000a), "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
        assert_eq!(cipher_name(0x1a2b), "0x1A2B");
    }
}
