//! Policy profiles: per rule the severity (or off), the failing severity,
//! and the parameters some rules check (allow-lists, key-exchange groups,
//! certificate keys and lifetimes), for the built-in profiles of
//! docs/COMPLIANCE.md.

use std::sync::Arc;

use crate::cert::trust::TrustStore;

use super::exception::Exception;
use super::rules::{RuleId, PROFILES, RULES};
use super::Severity;

/// Which certificate keys a profile lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKeys {
    /// RSA (2048+) or ECDSA on P-256/P-384.
    RsaOrEcdsaP256P384,
    /// ECDSA on P-256/P-384 only.
    EcdsaP256P384,
    /// RSA (2048+) only.
    Rsa,
    /// Any key (only the size rules apply).
    Any,
}

/// The sizes and durations rules compare facts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// A finite-field DH prime shorter than this is flagged (`kex.dh_lt_2048`)...
    pub min_dh_bits: u32,
    /// ...and is critical when shorter than this.
    pub critical_dh_bits: u32,
    /// A named curve of fewer bits is weak (`kex.ec_curve_weak`).
    pub min_curve_bits: u32,
    /// An RSA certificate key shorter than this is flagged (`cert.rsa_lt_2048`)...
    pub min_rsa_bits: u32,
    /// ...and is critical when shorter than this.
    pub critical_rsa_bits: u32,
    /// An EC certificate key of fewer bits is flagged (`cert.ec_lt_224`).
    pub min_ec_key_bits: u32,
    /// Warn this many days before a certificate expires (`cert.expiring_soon`).
    pub cert_expiry_warn_days: i64,
    /// Longest certificate validity allowed, in days (`cert.lifetime_too_long`).
    pub max_cert_lifetime_days: Option<i64>,
    /// A TLS 1.2 session ticket lifetime hint over this many days is
    /// flagged (`ext.ticket_lifetime_long`).
    pub max_ticket_lifetime_days: i64,
}

impl Thresholds {
    /// NIST SP 800-52r2 and SP 800-131A r2: 2048-bit DH and RSA (1024 and
    /// below critical), 224-bit curves and EC keys, a week for tickets, 30
    /// days of warning before expiry; the lifetime is the profile's.
    const fn standard(max_cert_lifetime_days: Option<i64>) -> Thresholds {
        Thresholds {
            min_dh_bits: 2048,
            critical_dh_bits: 1024,
            min_curve_bits: 224,
            min_rsa_bits: 2048,
            critical_rsa_bits: 1024,
            min_ec_key_bits: 224,
            cert_expiry_warn_days: 30,
            max_cert_lifetime_days,
            max_ticket_lifetime_days: 7,
        }
    }
}

/// A profile ready to judge sessions.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    /// A session with a finding at or above this severity is non-compliant.
    pub failing: Severity,
    /// Per rule (indexed by `RuleId`) and cause, the severity; None: off.
    /// Resolved once, from the built-in profile and any policy file.
    severities: Vec<[Option<Severity>; 2]>,
    /// Suites allowed, when the profile has a closed list.
    pub allowed_suites: Option<Vec<u16>>,
    /// Key-exchange groups the profile lists (empty: the rule is not applied).
    pub groups: Vec<u16>,
    pub cert_keys: CertKeys,
    /// Sizes and durations the rules compare against.
    pub thresholds: Thresholds,
    /// PSK suites are allowed (SP 800-52r2 App. C, closed networks only).
    pub allow_psk: bool,
    /// The CA certificates chains must lead to.
    pub trust: Arc<TrustStore>,
    /// Revocation information means an OCSP URL (NIST); otherwise OCSP or a CRL will do.
    pub revocation_needs_ocsp: bool,
    /// Exceptions granted by a policy file.
    pub exceptions: Vec<Exception>,
    /// The asset file and the home networks (`--assets`, `--home-net`).
    pub assets: Arc<super::assets::Assets>,
    /// The moment (Unix seconds) exceptions' expiry is judged at: `--as-of`;
    /// None: the wall clock when the session is judged.
    pub as_of: Option<i64>,
}

/// SP 800-52r2 §3.3.1 suites (TLS 1.3 and 1.2 with ECDSA, RSA, DSA and static DH/ECDH certificates).
const NIST_SUITES: &[u16] = &[
    0x1301, 0x1302, 0x1304, 0x1305, // TLS 1.3
    0xC02B, 0xC02C, 0xC0AC, 0xC0AD, 0xC0AE, 0xC0AF, 0xC023, 0xC024, 0xC009, 0xC00A, // ECDSA
    0xC02F, 0xC030, 0x009E, 0x009F, 0xC09E, 0xC09F, 0xC0A2, 0xC0A3, 0xC027, 0xC028, 0x0067, 0x006B, 0xC013, 0xC014,
    0x0033, 0x0039, // RSA
    0x00A2, 0x00A3, 0x0040, 0x006A, 0x0032, 0x0038, // DSA
    0x00A4, 0x00A5, 0x003E, 0x0068, 0x0030, 0x0036, 0x00A0, 0x00A1, 0x003F, 0x0069, 0x0031, 0x0037, // static DH
    0xC02D, 0xC02E, 0xC025, 0xC026, 0xC004, 0xC005, 0xC031, 0xC032, 0xC029, 0xC02A, 0xC00E, 0xC00F, // static ECDH
];

/// SP 800-52r2 App. C PSK suites, allowed only with --allow-psk.
pub const NIST_PSK_SUITES: &[u16] = &[
    0x00AA, 0x00AB, 0xC037, 0xC038, 0xC0A6, 0xC0A7, 0xC0AA, 0xC0AB, 0x00B2, 0x00B3, 0x00A8, 0x00A9, 0xC0A4, 0xC0A5,
    0xC0A8, 0xC0A9, 0x00AE, 0x00AF, 0xC035, 0xC036, 0x0090, 0x0091, 0x008C, 0x008D,
];

const MOZILLA_MODERN_SUITES: &[u16] = &[0x1301, 0x1302, 0x1303];
const MOZILLA_INTERMEDIATE_SUITES: &[u16] = &[0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8];
const MOZILLA_OLD_SUITES: &[u16] = &[
    0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC023, 0xC027, 0xC009, 0xC013, 0xC024,
    0xC028, 0xC00A, 0xC014, 0x009C, 0x009D, 0x003C, 0x003D, 0x002F, 0x0035, 0x000A,
];

/// secp256r1, secp384r1, secp521r1, secp224r1, ffdhe2048..ffdhe8192.
const NIST_GROUPS: &[u16] = &[0x0017, 0x0018, 0x0019, 0x0015, 0x0100, 0x0101, 0x0102, 0x0103, 0x0104];
/// X25519MLKEM768, x25519, secp256r1, secp384r1.
const MOZILLA_GROUPS: &[u16] = &[0x11EC, 0x001D, 0x0017, 0x0018];

impl Profile {
    /// The time exceptions are judged at: `--as-of`, else the clock of the
    /// run (not the capture's).
    pub fn now(&self) -> i64 {
        self.as_of.unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
        })
    }

    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Option<Profile> {
        let base = PROFILES.iter().position(|p| *p == name)?;
        let (failing, allowed, groups, cert_keys, lifetime): (Severity, Option<&[u16]>, &[u16], CertKeys, Option<i64>) =
            match name {
                "hipaa" => (Severity::Medium, None, NIST_GROUPS, CertKeys::RsaOrEcdsaP256P384, Some(3 * 365 + 1)),
                "nist-800-52r2" => {
                    (Severity::Medium, Some(NIST_SUITES), NIST_GROUPS, CertKeys::RsaOrEcdsaP256P384, Some(3 * 365 + 1))
                }
                "pci-dss-4" => (Severity::High, None, &[], CertKeys::Any, None),
                "mozilla-modern" => {
                    (Severity::Medium, Some(MOZILLA_MODERN_SUITES), MOZILLA_GROUPS, CertKeys::EcdsaP256P384, Some(90))
                }
                "mozilla-intermediate" => (
                    Severity::Medium,
                    Some(MOZILLA_INTERMEDIATE_SUITES),
                    MOZILLA_GROUPS,
                    CertKeys::RsaOrEcdsaP256P384,
                    Some(366),
                ),
                "mozilla-old" => (Severity::Medium, Some(MOZILLA_OLD_SUITES), MOZILLA_GROUPS, CertKeys::Rsa, Some(366)),
                // Only the rules of sessions in clear: is everything encrypted?
                "cleartext" => (Severity::Medium, None, &[], CertKeys::Any, None),
                _ => (Severity::Medium, None, &[], CertKeys::Any, None), // bcp195
            };
        Some(Profile {
            name: name.to_string(),
            failing,
            severities: RULES.iter().map(|r| r.severities[base]).collect(),
            allowed_suites: allowed.map(<[u16]>::to_vec),
            groups: groups.to_vec(),
            cert_keys,
            thresholds: Thresholds::standard(lifetime),
            allow_psk: false,
            trust: Arc::new(TrustStore::default()),
            revocation_needs_ocsp: matches!(name, "hipaa" | "nist-800-52r2"),
            exceptions: Vec::new(),
            assets: Arc::default(),
            as_of: None,
        })
    }

    /// The names of the built-in profiles.
    pub fn builtin_names() -> &'static [&'static str] {
        &PROFILES
    }

    /// The severity of a rule for a given cause (0: the first or only one;
    /// 1: the second, where the rule has two), or None when the profile
    /// turns the rule off.
    pub fn severity(&self, rule: RuleId, cause: usize) -> Option<Severity> {
        self.severities[rule as usize][cause.min(1)]
    }

    /// Changes a rule's severity for all its causes (None turns it off).
    pub fn set_severity(&mut self, rule: RuleId, severity: Option<Severity>) {
        self.severities[rule as usize] = [severity; 2];
    }

    /// Whether a finding of this severity makes a session or service
    /// non-compliant.
    pub fn fails(&self, severity: Severity) -> bool {
        severity >= self.failing
    }

    /// Whether a suite is on the profile's allow-list (true without a list).
    pub fn suite_allowed(&self, id: u16) -> bool {
        if self.allow_psk && NIST_PSK_SUITES.contains(&id) {
            return true;
        }
        self.allowed_suites.as_ref().is_none_or(|list| list.contains(&id))
    }
}
