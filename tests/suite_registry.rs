//! Every cipher suite of the IANA registry (tests/data/iana-tls-cipher-suites.txt)
//! is classified, and the classification, which comes from tls-parser's
//! table, agrees with what the registry's own suite name says: key exchange,
//! anonymity, export grade, bulk cipher, mode and MAC. GREASE values are not
//! suites; the two SCSVs are signals.

mod common;

use common::iana_suites as registry;
use tlsaudit::policy::suite::{classify, Authentication, Cipher, KeyExchange, Mac, Mode, SuiteClass};

/// What the registry name says about the key exchange.
fn kx_from_name(name: &str) -> Option<KeyExchange> {
    let body = name.strip_prefix("TLS_")?;
    let kx = body.split("_WITH_").next()?;
    // TLS 1.3 suites name no key exchange; the TLS 1.3 GOST suites (MGM
    // mode) name their hash before _WITH_.
    if !name.contains("_WITH_") || name.contains("_MGM_") {
        return None;
    }
    Some(match kx {
        k if k.starts_with("ECDHE") => KeyExchange::Ecdhe,
        k if k.starts_with("ECDH_") => KeyExchange::Ecdh,
        k if k.starts_with("DHE") => KeyExchange::Dhe,
        k if k.starts_with("DH_") => KeyExchange::Dh,
        k if k.starts_with("RSA") => KeyExchange::Rsa,
        "PSK" => KeyExchange::Psk,
        k if k.starts_with("PSK_DHE") => KeyExchange::Dhe,
        k if k.starts_with("KRB5") => KeyExchange::Krb5,
        k if k.starts_with("SRP") => KeyExchange::Srp,
        "ECCPWD" => KeyExchange::Eccpwd,
        "NULL" => KeyExchange::Null,
        k if k.starts_with("GOSTR") => KeyExchange::Gost,
        other => panic!("unexpected key exchange {other} in {name}"),
    })
}

fn cipher_from_name(name: &str) -> Cipher {
    let bulk = name.split("_WITH_").nth(1).unwrap_or(name);
    let has = |s: &str| bulk.contains(s);
    if has("3DES") {
        Cipher::TripleDes
    } else if has("DES") {
        Cipher::Des
    } else if has("RC4") {
        Cipher::Rc4
    } else if has("RC2") {
        Cipher::Rc2
    } else if has("IDEA") {
        Cipher::Idea
    } else if has("SEED") {
        Cipher::Seed
    } else if has("CAMELLIA") {
        Cipher::Camellia
    } else if has("ARIA") {
        Cipher::Aria
    } else if has("CHACHA20") {
        Cipher::ChaCha20
    } else if has("SM4") {
        Cipher::Sm4
    } else if has("AEGIS") {
        Cipher::Aegis
    } else if has("KUZNYECHIK") || has("MAGMA") || has("28147") {
        Cipher::Gost
    } else if has("AES") {
        Cipher::Aes
    } else if has("NULL") || name == "TLS_SHA256_SHA256" || name == "TLS_SHA384_SHA384" {
        Cipher::Null
    } else {
        panic!("no cipher in {name}")
    }
}

#[test]
fn every_registry_suite_is_classified_consistently_with_its_name() {
    let suites = registry();
    assert!(suites.len() > 340, "registry file too short: {}", suites.len());
    let mut checked = 0;
    for (id, name) in &suites {
        let t = match classify(*id) {
            SuiteClass::Suite(t) => t,
            SuiteClass::Signal(n) => {
                assert!(name.ends_with("_SCSV"), "{name} classified as a signal");
                assert_eq!(n, name);
                continue;
            }
            other => panic!("{name} (0x{id:04X}) not classified: {other:?}"),
        };
        assert!(!name.ends_with("_SCSV"), "{name} is a signal, not a suite");
        // The registry and tls-parser name 0x1306 differently (…_SHA384 vs …_SHA512).
        if *id != 0x1306 {
            assert_eq!(t.name, name, "0x{id:04X}");
        }
        if let Some(kx) = kx_from_name(name) {
            assert_eq!(t.kx, kx, "{name}: key exchange");
        } else {
            assert!(matches!(t.kx, KeyExchange::Tls13 | KeyExchange::Null), "{name}: {:?}", t.kx);
        }
        assert_eq!(t.cipher, cipher_from_name(name), "{name}: cipher");
        assert_eq!(t.anonymous(), name.contains("_anon_"), "{name}: anonymous");
        assert_eq!(t.export(), name.contains("EXPORT"), "{name}: export grade");
        assert_eq!(t.no_encryption(), t.cipher == Cipher::Null, "{name}");
        let tls13 = !name.contains("_WITH_") || name.contains("_MGM_");
        let fs = name.contains("DHE_") || name.contains("_DHE") || name.contains("ECCPWD") || tls13;
        // Integrity-only TLS 1.3 suites and GOST suites of TLS 1.2 name no key exchange.
        let tls12_gost = name.starts_with("TLS_GOSTR") && t.kx == KeyExchange::Gost;
        if !tls12_gost && t.kx != KeyExchange::Null {
            assert_eq!(t.forward_secret(), fs, "{name}: forward secrecy");
        }
        let mode = if t.cipher == Cipher::Null {
            Mode::None
        } else if name.contains("_CBC") {
            Mode::Cbc
        } else if name.contains("_GCM") {
            Mode::Gcm
        } else if name.contains("CCM_8") {
            Mode::Ccm8
        } else if name.contains("_CCM") {
            Mode::Ccm
        } else if name.contains("RC4") {
            Mode::Stream
        } else if name.contains("_CTR_") || name.contains("_CNT_") {
            Mode::Ctr
        } else {
            Mode::OtherAead
        };
        assert_eq!(t.mode, mode, "{name}: mode");
        let mac = if t.aead() {
            Mac::Aead
        } else if name.ends_with("_MD5") {
            Mac::Md5
        } else if name.ends_with("_SHA") {
            Mac::Sha1
        } else if name.ends_with("_SHA256") {
            Mac::Sha256
        } else if name.ends_with("_SHA384") {
            Mac::Sha384
        } else if name.ends_with("_OMAC") || name.ends_with("_IMIT") {
            Mac::Gost
        } else {
            Mac::Null
        };
        assert_eq!(t.mac, mac, "{name}: MAC");
        checked += 1;
    }
    assert!(checked > 340, "{checked}");
}

#[test]
fn grease_and_unassigned_values_are_not_suites() {
    for g in [0x0A0A, 0x1A1A, 0x2A2A, 0xDADA, 0xFAFA] {
        assert_eq!(classify(g), SuiteClass::Grease);
    }
    for unassigned in [0x0047, 0x00C8, 0x1308, 0xC0B6, 0xFF00] {
        assert_eq!(classify(unassigned), SuiteClass::Unknown, "0x{unassigned:04X}");
    }
}

#[test]
fn the_nist_allow_list_is_built_from_nist_algorithms() {
    // SP 800-52r2 §3.3.1 lists these; ChaCha20 (0x1303, 0xCCA8) is not approved.
    for id in [0x1301, 0x1302, 0x1304, 0x1305, 0xC02B, 0xC02F, 0xC0AC, 0x009E, 0xC027, 0x0033, 0x00A2, 0xC031] {
        let t = tlsaudit::policy::suite::traits(id).unwrap();
        assert!(t.nist_algorithms(), "{}", t.name);
    }
    for id in [0x1303, 0xCCA8, 0x0041, 0xC050, 0x0096, 0x00C6, 0x000A, 0x0005, 0x0007] {
        let t = tlsaudit::policy::suite::traits(id).unwrap();
        assert!(!t.nist_algorithms(), "{}", t.name);
    }
    let rsa = tlsaudit::policy::suite::traits(0x002F).unwrap();
    assert_eq!((rsa.kx, rsa.auth, rsa.forward_secret()), (KeyExchange::Rsa, Authentication::Rsa, false));
}
