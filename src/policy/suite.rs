//! What a cipher suite is made of, as the compliance rules judge it: key
//! exchange, authentication, bulk cipher, mode, key size and MAC, taken from
//! tls-parser's table of the IANA registry rather than from suite names.
//! GREASE values and signalling suites (SCSVs) are told apart from suites.

use tls_parser::{TlsCipherAu, TlsCipherEnc, TlsCipherEncMode, TlsCipherKx, TlsCipherMac, TlsCipherSuite};

use crate::tls::names::is_grease;

/// How the premaster secret is agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyExchange {
    /// No key exchange (TLS_NULL_WITH_NULL_NULL).
    Null,
    /// RSA key transport (also RSA_PSK).
    Rsa,
    /// Static finite-field Diffie-Hellman from a certificate, or anonymous DH.
    Dh,
    /// Ephemeral finite-field Diffie-Hellman.
    Dhe,
    /// Static elliptic-curve Diffie-Hellman from a certificate, or anonymous ECDH.
    Ecdh,
    /// Ephemeral elliptic-curve Diffie-Hellman.
    Ecdhe,
    /// Pre-shared key alone.
    Psk,
    Krb5,
    Srp,
    Eccpwd,
    /// TLS 1.3: the key exchange is negotiated separately (key_share).
    Tls13,
    /// GOST R 34.10-2012 key agreement (RFC 9189).
    Gost,
}

/// How the server (or both sides) authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    /// None: anonymous key exchange.
    Anonymous,
    Rsa,
    Dss,
    Ecdsa,
    Psk,
    Krb5,
    Srp,
    Eccpwd,
    /// TLS 1.3: by the certificate's key, negotiated separately.
    Tls13,
    Gost,
}

/// The bulk cipher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    /// No encryption at all.
    Null,
    Des,
    TripleDes,
    Rc2,
    Rc4,
    Idea,
    Seed,
    Aes,
    Camellia,
    Aria,
    ChaCha20,
    Sm4,
    Aegis,
    /// Kuznyechik or Magma (GOST R 34.12-2015), or GOST 28147-89.
    Gost,
}

/// How the bulk cipher is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No encryption.
    None,
    /// A stream cipher (RC4).
    Stream,
    Cbc,
    Gcm,
    Ccm,
    /// CCM with an 8-byte tag.
    Ccm8,
    /// Another AEAD construction (ChaCha20-Poly1305, AEGIS, GOST MGM).
    OtherAead,
    /// Counter mode with a separate MAC (GOST CTR-OMAC, CNT-IMIT).
    Ctr,
}

/// The record MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mac {
    /// No MAC (NULL_WITH_NULL_NULL).
    Null,
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    /// Integrity comes from the AEAD mode.
    Aead,
    Gost,
}

/// The makeup of one cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuiteTraits {
    pub id: u16,
    pub name: &'static str,
    pub kx: KeyExchange,
    pub auth: Authentication,
    pub cipher: Cipher,
    pub mode: Mode,
    /// Key size of the bulk cipher in bits (0 without encryption).
    pub key_bits: u16,
    pub mac: Mac,
}

/// What a value in a cipher suite list is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuiteClass {
    Suite(SuiteTraits),
    /// A signalling value, not a suite: TLS_EMPTY_RENEGOTIATION_INFO_SCSV or TLS_FALLBACK_SCSV.
    Signal(&'static str),
    /// A GREASE value (RFC 8701): ignored.
    Grease,
    /// A code the registry does not assign.
    Unknown,
}

pub const EMPTY_RENEGOTIATION_INFO_SCSV: u16 = 0x00FF;
pub const FALLBACK_SCSV: u16 = 0x5600;

impl SuiteTraits {
    /// The session key cannot be recovered later from a long-term key.
    pub fn forward_secret(&self) -> bool {
        matches!(self.kx, KeyExchange::Dhe | KeyExchange::Ecdhe | KeyExchange::Tls13 | KeyExchange::Eccpwd)
    }

    /// No authentication of the server: anyone in the middle can pose as it.
    pub fn anonymous(&self) -> bool {
        self.auth == Authentication::Anonymous && self.kx != KeyExchange::Null
    }

    /// Export-grade: a 40-bit bulk key (every EXPORT suite of the registry).
    /// Single DES (56 bits) is judged by its cipher, not as export.
    pub fn export(&self) -> bool {
        self.cipher != Cipher::Null && self.key_bits <= 40
    }

    /// The record layer encrypts nothing.
    pub fn no_encryption(&self) -> bool {
        self.cipher == Cipher::Null
    }

    /// Authenticated encryption (GCM, CCM, ChaCha20-Poly1305, ...).
    pub fn aead(&self) -> bool {
        matches!(self.mode, Mode::Gcm | Mode::Ccm | Mode::Ccm8 | Mode::OtherAead)
    }

    /// Built only from algorithms NIST approves for TLS (SP 800-52r2 §3.3.1):
    /// AES and SHA-1/SHA-2, with RSA, (EC)DH(E), PSK or TLS 1.3 key exchange.
    pub fn nist_algorithms(&self) -> bool {
        let kx = matches!(
            self.kx,
            KeyExchange::Rsa
                | KeyExchange::Dh
                | KeyExchange::Dhe
                | KeyExchange::Ecdh
                | KeyExchange::Ecdhe
                | KeyExchange::Psk
                | KeyExchange::Tls13
        );
        let auth = matches!(
            self.auth,
            Authentication::Rsa | Authentication::Dss | Authentication::Ecdsa | Authentication::Psk | Authentication::Tls13
        );
        let mac = matches!(self.mac, Mac::Sha1 | Mac::Sha256 | Mac::Sha384 | Mac::Aead);
        kx && auth && mac && self.cipher == Cipher::Aes
    }
}

/// Classifies one value of a cipher suite list.
pub fn classify(id: u16) -> SuiteClass {
    if is_grease(id) {
        return SuiteClass::Grease;
    }
    let (index, classes) = known_values();
    match index[usize::from(id)] {
        0 => SuiteClass::Unknown,
        at => classes[usize::from(at) - 1],
    }
}

/// Every assigned value of the registry with its class, worked out once
/// per run: policy reads every suite a client offers, and working one out
/// takes a hash lookup in tls-parser's table, a dozen matches and, for CCM,
/// a look at its name. The index (128 KiB) holds, per value, its place in
/// the classes plus one (0: not assigned).
fn known_values() -> &'static (Vec<u16>, Vec<SuiteClass>) {
    static TABLE: std::sync::OnceLock<(Vec<u16>, Vec<SuiteClass>)> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut index = vec![0u16; 1 << 16];
        let mut classes = Vec::new();
        // tls-parser's table, and the GOST suites it lacks (`gost_suite`).
        let ids = tls_parser::CIPHERS.keys().copied().chain(0xC100..=0xC106);
        for id in ids.filter(|id| !is_grease(*id)) {
            let class = classify_uncached(id);
            if class != SuiteClass::Unknown {
                classes.push(class);
                index[usize::from(id)] = classes.len() as u16;
            }
        }
        (index, classes)
    })
}

/// `classify` from the tables, for a value that is not GREASE.
fn classify_uncached(id: u16) -> SuiteClass {
    if let Some(gost) = gost_suite(id) {
        return SuiteClass::Suite(gost);
    }
    let Some(s) = TlsCipherSuite::from_id(id) else { return SuiteClass::Unknown };
    if matches!(id, EMPTY_RENEGOTIATION_INFO_SCSV | FALLBACK_SCSV) {
        return SuiteClass::Signal(s.name);
    }
    SuiteClass::Suite(from_table(s))
}

/// The traits of a suite, when `id` is one.
pub fn traits(id: u16) -> Option<SuiteTraits> {
    match classify(id) {
        SuiteClass::Suite(t) => Some(t),
        _ => None,
    }
}

fn from_table(s: &'static TlsCipherSuite) -> SuiteTraits {
    let kx = match s.kx {
        TlsCipherKx::Null => KeyExchange::Null,
        TlsCipherKx::Psk => KeyExchange::Psk,
        TlsCipherKx::Krb5 => KeyExchange::Krb5,
        TlsCipherKx::Srp => KeyExchange::Srp,
        TlsCipherKx::Rsa => KeyExchange::Rsa,
        TlsCipherKx::Dh => KeyExchange::Dh,
        TlsCipherKx::Dhe => KeyExchange::Dhe,
        // AECDH is anonymous ECDH: ephemeral in practice, but unauthenticated.
        TlsCipherKx::Ecdh | TlsCipherKx::Aecdh => KeyExchange::Ecdh,
        TlsCipherKx::Ecdhe => KeyExchange::Ecdhe,
        TlsCipherKx::Eccpwd => KeyExchange::Eccpwd,
        TlsCipherKx::Tls13 => KeyExchange::Tls13,
    };
    // tls-parser lists TLS_PSK_DHE_WITH_AES_{128,256}_CCM_8 with plain PSK key
    // exchange; RFC 6655 §4 defines them with DHE_PSK.
    let kx = if matches!(s.id.0, 0xC0AA | 0xC0AB) { KeyExchange::Dhe } else { kx };
    let auth = match s.au {
        TlsCipherAu::Null => Authentication::Anonymous,
        TlsCipherAu::Psk => Authentication::Psk,
        TlsCipherAu::Krb5 => Authentication::Krb5,
        TlsCipherAu::Srp | TlsCipherAu::Srp_Dss | TlsCipherAu::Srp_Rsa => Authentication::Srp,
        TlsCipherAu::Dss => Authentication::Dss,
        TlsCipherAu::Rsa | TlsCipherAu::Dhe => Authentication::Rsa,
        TlsCipherAu::Ecdsa => Authentication::Ecdsa,
        TlsCipherAu::Eccpwd => Authentication::Eccpwd,
        TlsCipherAu::Tls13 => Authentication::Tls13,
    };
    let cipher = match s.enc {
        TlsCipherEnc::Null => Cipher::Null,
        TlsCipherEnc::Des => Cipher::Des,
        TlsCipherEnc::TripleDes => Cipher::TripleDes,
        TlsCipherEnc::Rc2 => Cipher::Rc2,
        TlsCipherEnc::Rc4 => Cipher::Rc4,
        TlsCipherEnc::Aria => Cipher::Aria,
        TlsCipherEnc::Idea => Cipher::Idea,
        TlsCipherEnc::Seed => Cipher::Seed,
        TlsCipherEnc::Aes => Cipher::Aes,
        TlsCipherEnc::Camellia => Cipher::Camellia,
        TlsCipherEnc::Chacha20_Poly1305 => Cipher::ChaCha20,
        TlsCipherEnc::Sm4 => Cipher::Sm4,
        TlsCipherEnc::Aegis => Cipher::Aegis,
    };
    let mode = match (cipher, s.enc_mode) {
        (Cipher::Null, _) => Mode::None,
        (Cipher::Rc4, _) => Mode::Stream,
        (Cipher::ChaCha20 | Cipher::Aegis, _) => Mode::OtherAead,
        (_, TlsCipherEncMode::Cbc) => Mode::Cbc,
        (_, TlsCipherEncMode::Gcm) => Mode::Gcm,
        // The table does not tell the 8-byte-tag variant apart; its IANA
        // name does, and only for this distinction is the name read.
        (_, TlsCipherEncMode::Ccm) if s.name.contains("CCM_8") => Mode::Ccm8,
        (_, TlsCipherEncMode::Ccm) => Mode::Ccm,
        (_, TlsCipherEncMode::Null) => Mode::OtherAead,
    };
    let aead_mode = matches!(mode, Mode::Gcm | Mode::Ccm | Mode::Ccm8 | Mode::OtherAead);
    let mac = match s.mac {
        // The hash named with an AEAD suite is its PRF/HKDF hash, not a MAC.
        _ if aead_mode => Mac::Aead,
        TlsCipherMac::Null if cipher == Cipher::Null => Mac::Null,
        TlsCipherMac::Null => Mac::Aead,
        TlsCipherMac::HmacMd5 => Mac::Md5,
        TlsCipherMac::HmacSha1 => Mac::Sha1,
        TlsCipherMac::HmacSha256 => Mac::Sha256,
        TlsCipherMac::HmacSha384 => Mac::Sha384,
        TlsCipherMac::HmacSha512 => Mac::Sha512,
        TlsCipherMac::Aead => Mac::Aead,
    };
    SuiteTraits { id: s.id.0, name: s.name, kx, auth, cipher, mode, key_bits: s.enc_size, mac }
}

/// The GOST suites of RFC 9189 and draft-smyshlyaev-tls13-gost-suites, which
/// tls-parser's table does not carry.
fn gost_suite(id: u16) -> Option<SuiteTraits> {
    let (name, cipher_bits, mode) = match id {
        0xC100 => ("TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC", 256, Mode::Ctr),
        0xC101 => ("TLS_GOSTR341112_256_WITH_MAGMA_CTR_OMAC", 256, Mode::Ctr),
        0xC102 => ("TLS_GOSTR341112_256_WITH_28147_CNT_IMIT", 256, Mode::Ctr),
        0xC103 => ("TLS_GOSTR341112_256_WITH_KUZNYECHIK_MGM_L", 256, Mode::OtherAead),
        0xC104 => ("TLS_GOSTR341112_256_WITH_MAGMA_MGM_L", 256, Mode::OtherAead),
        0xC105 => ("TLS_GOSTR341112_256_WITH_KUZNYECHIK_MGM_S", 256, Mode::OtherAead),
        0xC106 => ("TLS_GOSTR341112_256_WITH_MAGMA_MGM_S", 256, Mode::OtherAead),
        _ => return None,
    };
    let tls13 = id >= 0xC103;
    Some(SuiteTraits {
        id,
        name,
        kx: if tls13 { KeyExchange::Tls13 } else { KeyExchange::Gost },
        auth: if tls13 { Authentication::Tls13 } else { Authentication::Gost },
        cipher: Cipher::Gost,
        mode,
        key_bits: cipher_bits,
        mac: if mode == Mode::Ctr { Mac::Gost } else { Mac::Aead },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_classifies_every_value_as_the_registry_does() {
        for id in 0..=u16::MAX {
            let expected = if is_grease(id) { SuiteClass::Grease } else { classify_uncached(id) };
            assert_eq!(classify(id), expected, "0x{id:04X}");
        }
        assert!(matches!(classify(0xC02F), SuiteClass::Suite(t) if t.mode == Mode::Gcm && t.kx == KeyExchange::Ecdhe));
        assert!(matches!(classify(0xC101), SuiteClass::Suite(t) if t.cipher == Cipher::Gost));
        assert_eq!(classify(FALLBACK_SCSV), SuiteClass::Signal("TLS_FALLBACK_SCSV"));
    }
}
