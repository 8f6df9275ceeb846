//! The rule catalogue: every rule's stable id, what it flags, the standards
//! that require it, how to fix it, and its severity in each built-in profile
//! (docs/COMPLIANCE.md). `tlsaudit rules` and `tlsaudit explain` print from here.
//!
//! One table below generates the `RuleId` enum and the catalogue together,
//! so a rule the code names but the catalogue lacks, or a misspelled one, is
//! a compile error. Severity letters are read at compile time as well: a
//! malformed cell stops the build.

use std::cmp::Ordering;
use std::fmt;

use super::Severity;

/// The built-in profiles, in the order of the severity columns below.
pub const PROFILES: [&str; 8] =
    ["hipaa", "nist-800-52r2", "pci-dss-4", "mozilla-modern", "mozilla-intermediate", "mozilla-old", "bcp195", "cleartext"];

/// A rule's severity in each built-in profile, for each of its causes (most
/// rules have one; `cipher.no_fs` tells RSA key transport from static DH).
pub type ProfileSeverities = [[Option<Severity>; 2]; PROFILES.len()];

/// One rule of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub id: RuleId,
    /// What the rule flags, in one line.
    pub flags: &'static str,
    /// The standards that require it, with sections.
    pub required_by: &'static str,
    /// What a passive observer can and cannot see of it.
    pub observable: &'static str,
    pub remediation: &'static str,
    /// Per built-in profile (in `PROFILES` order) and cause; None: off.
    pub severities: ProfileSeverities,
    /// Whether this version of tlsaudit evaluates the rule.
    pub evaluated: bool,
}

impl Rule {
    /// The rule's severity in a built-in profile (its first cause); None
    /// when the profile turns it off.
    pub fn severity(&self, profile: usize) -> Option<Severity> {
        self.severities.get(profile).and_then(|causes| causes[0])
    }
}

/// A severity letter of docs/COMPLIANCE.md's tables: C H M L I, or '-' for off (shown there as '–').
const fn severity_letter(letter: u8) -> Option<Severity> {
    match letter {
        b'C' => Some(Severity::Critical),
        b'H' => Some(Severity::High),
        b'M' => Some(Severity::Medium),
        b'L' => Some(Severity::Low),
        b'I' => Some(Severity::Info),
        b'-' => None,
        _ => panic!("a severity letter is one of C H M L I -"),
    }
}

/// Reads one row of severity cells, one per profile separated by spaces;
/// a cell is a letter, or two letters "X/Y" for a rule with two causes.
const fn parse_severities(row: &str) -> ProfileSeverities {
    let bytes = row.as_bytes();
    let mut cells = [[None; 2]; PROFILES.len()];
    let (mut at, mut cell) = (0, 0);
    while at < bytes.len() {
        if bytes[at] == b' ' {
            at += 1;
            continue;
        }
        assert!(cell < PROFILES.len(), "more severity cells than profiles");
        let first = severity_letter(bytes[at]);
        let mut second = first;
        at += 1;
        if at < bytes.len() && bytes[at] == b'/' {
            assert!(at + 1 < bytes.len(), "a cell ends in '/'");
            second = severity_letter(bytes[at + 1]);
            at += 2;
        }
        assert!(at == bytes.len() || bytes[at] == b' ', "cells are one letter or two separated by '/'");
        cells[cell] = [first, second];
        cell += 1;
    }
    assert!(cell == PROFILES.len(), "fewer severity cells than profiles");
    cells
}

macro_rules! rules {
    ($( $variant:ident $id:literal, $sev:literal, $eval:literal, $flags:literal, $req:literal, $obs:literal, $fix:literal; )*) => {
        /// A rule of the catalogue. Its text form is the stable id of the
        /// output contract (`cipher.3des`); ordered by that id.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum RuleId {
            $( #[doc = $flags] $variant, )*
        }

        impl RuleId {
            /// The stable id, e.g. "cipher.3des".
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( RuleId::$variant => $id, )*
                }
            }
        }

        /// Every rule, in catalogue order (the order of `RuleId`).
        /// Severities: hipaa nist pci moz-modern moz-int moz-old bcp195.
        pub const RULES: &[Rule] = &[
            $( Rule {
                id: RuleId::$variant,
                severities: parse_severities($sev),
                evaluated: $eval,
                flags: $flags,
                required_by: $req,
                observable: $obs,
                remediation: $fix,
            }, )*
        ];
    };
}

rules! {
    ProtoSslv2 "proto.sslv2", "C C C C C C C -", true,
    "SSL 2.0 negotiated",
    "RFC 6176 §3; NIST SP 800-52r2 §3.1, §4.1; RFC 9325 §3.1.1; PCI DSS 4 App. A2",
    "the SSLv2 ServerHello", "Disable SSL 2.0 on the server.";
    ProtoSslv2Hello "proto.sslv2_hello", "M M M M M L M -", true,
    "the client sent its ClientHello in the SSLv2-compatible format",
    "RFC 6176 §3; NIST SP 800-52r2 §4.1 (no SSL 2.0); RFC 8446 App. D.5",
    "the record header of the client's first flight", "Disable the SSLv2-compatible hello in the client.";
    ProtoSslv3 "proto.sslv3", "C C C C C C C -", true,
    "SSL 3.0 negotiated",
    "RFC 7568 §4; NIST SP 800-52r2 §3.1; RFC 9325 §3.1.1; PCI DSS 4 App. A2",
    "the ServerHello version 0x0300", "Disable SSL 3.0; require TLS 1.2 or later.";
    ProtoTls10 "proto.tls10", "H H H H H - H -", true,
    "TLS 1.0 negotiated (or the only version a refused client offered)",
    "RFC 8996 §4; NIST SP 800-52r2 §3.1; RFC 9325 §3.1.1; PCI DSS 4 App. A2",
    "the ServerHello version; the ClientHello's offer", "Require TLS 1.2 or later on both sides.";
    ProtoTls11 "proto.tls11", "M M H H H - H -", true,
    "TLS 1.1 or DTLS 1.0 negotiated (or the best a refused client offered)",
    "RFC 8996 §5; NIST SP 800-52r2 §3.1; RFC 9325 §3.1.1; PCI DSS FAQ (defers to NIST)",
    "the ServerHello version; the ClientHello's offer", "Require TLS 1.2 or later on both sides.";
    ProtoTls12 "proto.tls12", "- - - M - - - -", true,
    "TLS 1.2 negotiated where the profile allows only TLS 1.3",
    "Mozilla Server Side TLS 6.0 (modern)",
    "the ServerHello's supported_versions", "Offer TLS 1.3 only.";
    ProtoTls13Draft "proto.tls13_draft", "M M M M M L M -", true,
    "a pre-standard TLS 1.3 negotiated: a draft, a Facebook draft or a Chrome experiment, not RFC 8446",
    "NIST SP 800-52r2 §3.1 (TLS 1.3 is RFC 8446); RFC 8446 §4.2.1; RFC 9325 §3.1.1",
    "the ServerHello's version (supported_versions, or the layout of drafts before 16)",
    "Update the TLS stack on both sides: every draft implementation predates RFC 8446 (2018).";
    ProtoNoTls13 "proto.no_tls13", "L M - - I - L -", true,
    "the client offered TLS 1.3 and the server chose an older version",
    "NIST SP 800-52r2 §3.1 (TLS 1.3 shall be supported since 2024-01-01); RFC 9325 §3.1.1",
    "both hellos; invisible when no client offers TLS 1.3", "Enable TLS 1.3 on the server.";
    ProtoDowngrade "proto.downgrade", "H H H H H H H -", true,
    "the server answered a TLS 1.3 offer with an older version carrying the downgrade sentinel, and the handshake went on",
    "RFC 8446 §4.1.3",
    "the last 8 bytes of ServerHello.random", "Find the middlebox that strips TLS 1.3; fix the client that ignores the sentinel.";
    ProtoFalseStart "proto.false_start", "L M - - - - - -", true,
    "a TLS 1.2 client sent application data before the server's Finished",
    "NIST SP 800-52r2 §4.6",
    "the order of records", "Disable False Start in the client.";
    CipherNull "cipher.null", "C C C C C C C -", true,
    "a cipher suite without encryption",
    "RFC 9325 §4.1; NIST SP 800-52r2 §3.3.1; PCI DSS 4 Req. 4.2.1",
    "the suite's properties", "Remove NULL suites.";
    CipherAnon "cipher.anon", "C C C C C C C -", true,
    "anonymous key exchange: the server is not authenticated",
    "NIST SP 800-52r2 §3.3.1; PCI DSS 4 Req. 4.2.1",
    "the suite's properties", "Remove anonymous (ADH/AECDH) suites.";
    CipherExport "cipher.export", "C C C C C C C -", true,
    "an export-grade suite (40-bit keys)",
    "NIST SP 800-52r2 §3.3.1 (not an approved suite); RFC 9325 §4.1; RFC 8446 App. D.5",
    "the suite's properties", "Remove export suites.";
    CipherDes "cipher.des", "C C C C C C C -", true,
    "single DES (56-bit keys)",
    "NIST SP 800-52r2 §3.3.1 (not an approved suite); NIST SP 800-131A r2; RFC 9325 §4.1",
    "the suite's properties", "Remove DES suites.";
    CipherRc4 "cipher.rc4", "C C C C C C C -", true,
    "RC4",
    "NIST SP 800-52r2 §3.3.1 (not an approved suite); RFC 7465 §2; RFC 9325 §4.1; RFC 8446 App. D.5",
    "the suite's properties", "Remove RC4 suites.";
    Cipher3des "cipher.3des", "H H H H H L M -", true,
    "3DES: a 64-bit block (Sweet32) and 112-bit effective strength",
    "NIST SP 800-52r2 §3.3.1.1; NIST SP 800-131A r2 Table 1; RFC 9325 §4.1",
    "the suite's properties", "Remove 3DES suites; use AES-GCM.";
    CipherWeakMac "cipher.weak_mac", "H H H H H H H -", true,
    "an MD5 record MAC",
    "NIST SP 800-52r2 §3.3.1",
    "the suite's properties", "Use AEAD suites.";
    CipherNoFs "cipher.no_fs", "M/L M/L I/I -/- M/M L/L M/M -", true,
    "no forward secrecy: key transport (RSA, RSA_PSK, plain PSK, Kerberos), or static (EC)DH",
    "NIST SP 800-52r2 §3.3.1.1, App. D; NIST SP 800-131A r2 §6; RFC 9325 §4.1, §7.3",
    "the suite's properties", "Use ECDHE suites.";
    CipherDhe "cipher.dhe", "- - - - - - M -", true,
    "a TLS 1.2 TLS_DHE_* suite",
    "RFC 9325 §4.1 (Raccoon)",
    "the suite's properties", "Use ECDHE instead of finite-field DHE.";
    CipherCbc "cipher.cbc", "L L I - L I L -", true,
    "CBC mode, with or without forward secrecy (cipher.no_fs flags the latter too)",
    "NIST SP 800-52r2 §3.3.1.1 (AEAD preferred); RFC 9325 §4.2",
    "the suite's properties", "Prefer AES-GCM, AES-CCM or ChaCha20-Poly1305.";
    CipherNotFips "cipher.not_fips", "L M - - - - - -", true,
    "an algorithm NIST does not approve (ChaCha20, Camellia, ARIA, SEED, IDEA, GOST, SM4; SRP, Kerberos, ECCPWD key exchange)",
    "NIST SP 800-52r2 §3.3.1, §3.3.3",
    "the suite's properties; FIPS 140 validation of the module is never visible", "Use AES-GCM or AES-CCM.";
    CipherNotApproved "cipher.not_approved", "- M - M M M - -", true,
    "a suite outside the profile's allow-list",
    "the profile's list (docs/COMPLIANCE.md)",
    "the suite id", "Configure the profile's suites.";
    CipherClientOffersWeak "cipher.client_offers_weak", "I I I L L I L -", true,
    "the ClientHello offers NULL, anonymous, export, DES or RC4 suites",
    "RFC 7465 §2; RFC 8446 App. D.5; NIST SP 800-52r2 §4.3.1",
    "the ClientHello", "Trim the client's suite list.";
    KexDhLt2048 "kex.dh_lt_2048", "H H H H H H H -", true,
    "a finite-field DH (or SRP) prime shorter than 2048 bits (critical below 1024)",
    "NIST SP 800-52r2 §3.3.1; NIST SP 800-131A r2 Table 4; RFC 9325 §4.5",
    "the ServerKeyExchange's prime, read by the suite's key exchange (DHE, DHE_PSK, DH_anon, SRP)", "Use 2048-bit or larger DH parameters, or ffdhe groups, or ECDHE.";
    KexEcCurveWeak "kex.ec_curve_weak", "H H H H H H H -", true,
    "a named curve under 224 bits, or explicit curve parameters",
    "RFC 9325 §4.5; NIST SP 800-52r2 §3.3.1",
    "the ServerKeyExchange curve or the key_share group", "Use P-256, P-384 or X25519.";
    KexGroupNotListed "kex.group_not_listed", "I L - L L L - -", true,
    "a key-exchange group outside the profile's list",
    "NIST SP 800-52r2 §3.4.2.2; Mozilla tls_curves",
    "the ServerKeyExchange curve (≤ 1.2), the key_share or HelloRetryRequest group (1.3)", "Prefer the profile's groups.";
    KexSigSha1 "kex.sig_sha1", "M M H M M L H -", true,
    "a TLS 1.2 ServerKeyExchange signed with SHA-1",
    "RFC 9155; NIST SP 800-52r2 §3.3.3",
    "the ServerKeyExchange signature scheme", "Sign with SHA-256 or stronger schemes.";
    KexSigMd5 "kex.sig_md5", "H H H H H H H -", true,
    "a TLS 1.2 ServerKeyExchange signed with MD5",
    "RFC 9155; NIST SP 800-52r2 §3.3.3",
    "the ServerKeyExchange signature scheme", "Sign with SHA-256 or stronger schemes.";
    KexDhReuse "kex.dh_reuse", "L L I L L L M/L -", true,
    "the same server (EC)DH public value in several sessions (judged per service)",
    "RFC 9325 §7.4",
    "the ServerKeyExchange values across sessions", "Generate fresh ephemeral keys.";
    KexPqHybrid "kex.pq_hybrid", "I I I I I I I -", true,
    "a post-quantum hybrid group (ML-KEM) was negotiated",
    "Mozilla Server Side TLS 5.8/6.0 (X25519MLKEM768 first)",
    "the key_share group", "Nothing: this is good.";
    CertRsaLt2048 "cert.rsa_lt_2048", "H H H H H H H -", true,
    "an RSA key shorter than 2048 bits (critical below 1024)",
    "NIST SP 800-52r2 §3.2.1, §3.3.3; RFC 9325 §4.5; CA/B BR §6.1.5; PCI DSS glossary",
    "the Certificate (TLS ≤ 1.2)", "Reissue with RSA 2048+ or ECDSA P-256.";
    CertEcLt224 "cert.ec_lt_224", "H H H H H H H -", true,
    "an EC key under 224 bits",
    "NIST SP 800-52r2 §3.3.3; NIST SP 800-131A r2 Table 2",
    "the Certificate", "Reissue with P-256 or P-384.";
    CertKeyNotListed "cert.key_not_listed", "I L - M L L - -", true,
    "a key type or curve outside the profile's list",
    "NIST SP 800-52r2 §3.2; Mozilla certificate_types; CA/B BR §6.1.5",
    "the Certificate", "Reissue with a key the profile lists.";
    CertSigMd5 "cert.sig_md5", "C C C C C C C -", true,
    "a certificate of the chain (not the trust anchor) signed with MD5",
    "NIST SP 800-52r2 §3.3.3; RFC 9325 §4.5; CA/B BR §7.1.3",
    "the Certificate chain", "Reissue signed with SHA-256 or stronger.";
    CertSigSha1 "cert.sig_sha1", "H H H H H H H -", true,
    "a certificate of the chain (not the trust anchor) signed with SHA-1",
    "NIST SP 800-52r2 §3.3.3; RFC 9325 §4.5; CA/B BR §7.1.3",
    "the Certificate chain", "Reissue signed with SHA-256 or stronger.";
    CertExpired "cert.expired", "H H H H H H H -", true,
    "the certificate had expired at the time of the session",
    "NIST SP 800-52r2 §4.5.1; PCI DSS 4 Req. 4.2.1",
    "the Certificate and the capture's clock", "Renew the certificate.";
    CertNotYetValid "cert.not_yet_valid", "H H H H H H H -", true,
    "the certificate was not yet valid at the time of the session",
    "NIST SP 800-52r2 §4.5.1; PCI DSS 4 Req. 4.2.1",
    "the Certificate and the capture's clock", "Fix the issuance date or the server's clock.";
    CertExpiringSoon "cert.expiring_soon", "L L I L L L I -", true,
    "the certificate expires within --cert-expiry-warn days (30 by default)",
    "operational",
    "the Certificate and the capture's clock", "Renew the certificate.";
    CertSelfSigned "cert.self_signed", "H H H H H H H -", true,
    "the leaf certificate is self-signed and not a configured trust anchor",
    "NIST SP 800-52r2 §3.2.3, §4.5.1; PCI DSS 4 Req. 4.2.1",
    "the Certificate", "Use a certificate issued by a trusted CA.";
    CertUntrustedChain "cert.untrusted_chain", "H H H H H H H -", true,
    "no path from the chain to a configured trust anchor, or a bad signature",
    "NIST SP 800-52r2 §4.5.1; PCI DSS 4 Req. 4.2.1",
    "the chain as sent; the client's real trust store is unknown", "Send the full chain from a trusted CA.";
    CertHostnameMismatch "cert.hostname_mismatch", "H H H H H H H -", true,
    "the SNI host name matches no name of the certificate",
    "NIST SP 800-52r2 §4.5.1; RFC 9325 §3.7, §7.1; RFC 6125",
    "the SNI and the leaf; without SNI only IP names can be checked", "Use a certificate for the name clients ask for.";
    CertNoSan "cert.no_san", "M M M M M M M -", true,
    "the leaf certificate has no subjectAltName",
    "NIST SP 800-52r2 Table 3-1; CA/B BR",
    "the leaf", "Reissue with a subjectAltName.";
    CertEkuNotServerAuth "cert.eku_not_server_auth", "M M M M M M M -", true,
    "the leaf lacks extendedKeyUsage serverAuth, allows any usage, or is a CA certificate",
    "NIST SP 800-52r2 Table 3-1",
    "the leaf", "Reissue with EKU serverAuth and CA:FALSE.";
    CertLifetimeTooLong "cert.lifetime_too_long", "L L I L L L I -", true,
    "the certificate's validity period is longer than the profile allows",
    "NIST SP 800-52r2 Table 3-1 (3 years); Mozilla maximum_certificate_lifespan; CA/B BR §6.3.2",
    "the leaf's dates", "Use shorter-lived certificates (ACME).";
    CertNoRevocationInfo "cert.no_revocation_info", "L L I I I I I -", true,
    "no OCSP URL (nist) or neither OCSP nor CRL distribution point (others)",
    "NIST SP 800-52r2 §3.2, Table 3-1; RFC 9325 §7.5",
    "the leaf's extensions", "Use a CA that publishes revocation information.";
    CertNotObservable "cert.not_observable", "I I I I I I I -", true,
    "TLS 1.3, QUIC and DTLS 1.3: the certificate is encrypted and was not judged",
    "-",
    "the version", "Nothing to fix: judge the certificate by connecting to the server.";
    ExtNoSecureRenegotiation "ext.no_secure_renegotiation", "M M H M M M H -", true,
    "renegotiation_info (or its SCSV) missing on either side (TLS ≤ 1.2)",
    "NIST SP 800-52r2 §3.4.1.1, §4.4.1.1; RFC 5746 §3; RFC 9325 §3.5",
    "extension 0xFF01 or SCSV 0x00FF", "Update the TLS stack.";
    ExtNoEms "ext.no_ems", "M M M L L L H -", true,
    "extended master secret not in both hellos (TLS ≤ 1.2)",
    "NIST SP 800-52r2 §3.4.1.3, §4.4.1.3; RFC 7627 §5.2; RFC 9325 §3.5",
    "extension 0x0017 in both hellos", "Enable extended master secret.";
    ExtNoEtmCbc "ext.no_etm_cbc", "M M I - - L I -", true,
    "a CBC suite without encrypt-then-MAC",
    "NIST SP 800-52r2 §3.4.2.7, §4.4.2.7",
    "extension 0x0016 echoed by the server", "Enable encrypt-then-MAC or use AEAD suites.";
    ExtCompression "ext.compression", "H H H H H H M -", true,
    "TLS compression negotiated (CRIME)",
    "NIST SP 800-52r2 §3.7; RFC 9325 §3.3; RFC 8446 §4.1.2",
    "the ServerHello's compression method", "Disable TLS compression.";
    ExtHeartbeat "ext.heartbeat", "L L L L L L L -", true,
    "the heartbeat extension negotiated",
    "NIST SP 800-52r2 §3.4 (unneeded extensions off; Heartbleed)",
    "both hellos", "Disable heartbeat.";
    ExtTruncatedHmac "ext.truncated_hmac", "L L M M M M H -", true,
    "truncated_hmac negotiated",
    "RFC 9325 §4.6; RFC 8446 App. D.5; NIST SP 800-52r2 §3.4.2.8",
    "the ServerHello's extensions", "Disable truncated HMAC.";
    ExtNoOcspStaple "ext.no_ocsp_staple", "L M - L L L L -", true,
    "the client asked for OCSP stapling, the leaf names an OCSP responder, and no CertificateStatus came",
    "NIST SP 800-52r2 §3.4.1.5, §4.4.1.5; RFC 9325 §7.5",
    "the hellos and CertificateStatus (TLS ≤ 1.2)", "Enable OCSP stapling.";
    ExtEarlyData "ext.early_data", "L L I I I I L -", true,
    "the client sent early data (0-RTT)",
    "NIST SP 800-52r2 §3.4.3.2, §3.6, §4.6; RFC 9325 §3.10",
    "the ClientHello's early_data extension; acceptance is invisible", "Disable 0-RTT.";
    ExtRawPublicKey "ext.raw_public_key", "M M - - - - - -", true,
    "a raw public key certificate type negotiated",
    "NIST SP 800-52r2 §3.4.3.3",
    "server_certificate_type in the ServerHello (TLS ≤ 1.2)", "Use X.509 certificates.";
    ExtNoSigAlgs "ext.no_sig_algs", "L L I L L I M -", true,
    "a TLS 1.2 ClientHello without signature_algorithms",
    "NIST SP 800-52r2 §4.4.1.4; RFC 9155; RFC 9325 §4.5",
    "the ClientHello", "Update the client.";
    ExtSigAlgsSha1 "ext.sig_algs_sha1", "I I I I I I I -", true,
    "the client offers SHA-1 or MD5 signature schemes",
    "RFC 9155",
    "the ClientHello's signature_algorithms", "Drop SHA-1 and MD5 schemes from the client.";
    ExtNoSni "ext.no_sni", "I I I I I I I -", true,
    "the client sent no SNI",
    "NIST SP 800-52r2 §4.4.1.2; RFC 9325 §3.7",
    "the ClientHello", "Send SNI.";
    ExtRenegotiationSeen "ext.renegotiation_seen", "I I I I I I I -", false,
    "a handshake record after ChangeCipherSpec (TLS ≤ 1.2): renegotiation",
    "NIST SP 800-52r2 §3.4.1.1",
    "record types", "Disable client-initiated renegotiation.";
    ExtTicketLifetimeLong "ext.ticket_lifetime_long", "I I I I I I I -", true,
    "a TLS 1.2 session ticket lifetime hint over 7 days",
    "NIST SP 800-52r2 §3.6; RFC 9325 §3.4",
    "the NewSessionTicket (in clear in TLS 1.2)", "Use short ticket lifetimes and rotate ticket keys.";
    PlaintextPhiProtocol "plaintext.phi_protocol", "C C C C C C C C", true,
    "a health-data protocol without TLS: HL7 v2 over MLLP, DICOM, FHIR over plain HTTP",
    "45 CFR 164.312(e)(1), (e)(2)(ii); DICOM PS3.15 Annex B (secure transport profiles); HL7 FHIR R4 Security (TLS for every exchange)",
    "MLLP framing and the MSH segment; the DICOM A-ASSOCIATE-RQ; a FHIR path or media type in clear HTTP",
    "Carry the interface over TLS (MLLP over TLS, DICOM TLS, HTTPS) or through an encrypted tunnel.";
    PlaintextCredentials "plaintext.credentials", "C H H H H H H C", true,
    "a login without TLS: a password, a password hash exchange, a token or a community string crossed in clear",
    "45 CFR 164.312(d), 164.312(e)(1); RFC 8314 §3; RFC 4513 §5.1.2; RFC 9325 §3.2",
    "the login command or message (never its value)",
    "Require TLS before authentication (implicit TLS, or an upgrade the server requires); refuse logins in clear.";
    PlaintextHttp "plaintext.http", "H M M M M M M H", true,
    "HTTP without TLS",
    "45 CFR 164.312(e)(1); RFC 9325 §3.2",
    "the request line", "Serve HTTPS only (redirect, then HSTS).";
    PlaintextProtocol "plaintext.protocol", "M M M M M M M M", true,
    "a protocol that can carry sensitive data (telnet, FTP, mail, LDAP, databases) in clear, with nothing more specific found",
    "45 CFR 164.312(e)(1)",
    "the protocol's greeting or first command",
    "Use the protocol's TLS form, or replace it (SSH for telnet, SFTP or FTPS for FTP).";
    StarttlsNotOffered "starttls.not_offered", "H H H H H H H H", true,
    "the server did not offer its protocol's upgrade to TLS (STARTTLS, STLS, AUTH TLS, MySQL's SSL capability)",
    "45 CFR 164.312(e)(1); RFC 3207 §4; RFC 2595 §3; RFC 4217 §4; RFC 8314 §3",
    "the server's capability list, read by keyword",
    "Enable TLS on the server and advertise it; prefer implicit TLS ports (RFC 8314).";
    StarttlsNotUsed "starttls.not_used", "H H H H H H H H", true,
    "the server offered the upgrade to TLS and the client went on in clear",
    "45 CFR 164.312(e)(1); RFC 8314 §3",
    "the server's offer and the client's commands after it",
    "Configure the client to require TLS, and the server to refuse commands in clear.";
    StarttlsStripped "starttls.stripped", "H H H H H H H H", true,
    "a server that offered the upgrade in one session shows no offer in a later one (an attacker may strip it)",
    "45 CFR 164.312(e)(1); RFC 3207 §6; RFC 8314 §3",
    "the offer across sessions of one service: a session whose server named it (TLS followed, or the client went on in clear) and a later one whose server's capabilities did not",
    "Require TLS on the client side (MTA-STS or DANE for mail), so a stripped offer fails.";
    InventoryUnlistedService "inventory.unlisted_service", "M M M - - - - M", true,
    "a service on an address of the home network that the asset file does not list (a rogue or forgotten service)",
    "45 CFR 164.308(a)(1)(ii)(A) (risk analysis: know where ePHI travels); 45 CFR 164.310(d)(1); PCI DSS 4 Req. 12.5.1 (inventory of system components)",
    "the service's address and port, against --home-net and the asset file (judged per service, only with --assets)",
    "List the service in the asset file with its owner, or take it down.";
    PolicyExceptionExpired "policy.exception_expired", "L L L L L L L L", true,
    "an exception of the policy file has expired and no longer applies",
    "the policy file",
    "the session time against the exception's expiry date", "Fix the finding, or renew the exception with a new justification.";
}

impl RuleId {
    /// The rule's entry in the catalogue.
    pub fn rule(self) -> &'static Rule {
        &RULES[self as usize]
    }

    /// The rule with this stable id.
    pub fn from_name(name: &str) -> Option<RuleId> {
        RULES.iter().map(|r| r.id).find(|id| id.as_str() == name)
    }

    /// The rule with this stable id, or an error that names the rules it
    /// may have meant.
    pub fn parse(name: &str) -> Result<RuleId, String> {
        RuleId::from_name(name).ok_or_else(|| {
            let near = near_matches(name);
            if near.is_empty() {
                format!("unknown rule {name:?}; `tlsaudit rules` lists them")
            } else {
                format!("unknown rule {name:?}; did you mean {}? (`tlsaudit rules` lists them)", near.join(", "))
            }
        })
    }
}

/// Ids close to `name`: a small edit away, or the same rule name under
/// another prefix ("tls10" for "proto.tls10"); the closest ones, at most three.
fn near_matches(name: &str) -> Vec<&'static str> {
    let wanted = name.to_ascii_lowercase();
    let tail = |id: &str| id.split_once('.').map_or(id, |(_, t)| t).to_string();
    let wanted_tail = tail(&wanted);
    let mut scored: Vec<(usize, &'static str)> = RULES
        .iter()
        .map(|r| r.id.as_str())
        .filter_map(|id| {
            let distance = strsim::levenshtein(&wanted, id).min(strsim::levenshtein(&wanted_tail, &tail(id)));
            (distance <= 2 + id.len() / 8).then_some((distance, id))
        })
        .collect();
    scored.sort();
    let best = scored.first().map_or(0, |(distance, _)| *distance);
    scored.into_iter().take_while(|(distance, _)| *distance == best).take(3).map(|(_, id)| id).collect()
}

/// Whether `a` sorts before `b`, byte by byte (what `str`'s order is), in a
/// form the compiler can run.
const fn id_before(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

/// Each rule's place in the order of the ids, by catalogue index, worked
/// out by the compiler: comparing two rules (the findings of a record, the
/// keys of a service's findings) is then comparing two numbers, not two
/// strings.
const PLACE_AMONG_IDS: [u16; RULES.len()] = {
    let mut place = [0u16; RULES.len()];
    let mut i = 0;
    while i < RULES.len() {
        let mut before = 0;
        let mut j = 0;
        while j < RULES.len() {
            if id_before(RULES[j].id.as_str(), RULES[i].id.as_str()) {
                before += 1;
            }
            j += 1;
        }
        place[i] = before;
        i += 1;
    }
    place
};

impl Ord for RuleId {
    fn cmp(&self, other: &Self) -> Ordering {
        PLACE_AMONG_IDS[*self as usize].cmp(&PLACE_AMONG_IDS[*other as usize])
    }
}

impl PartialOrd for RuleId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_order_is_the_order_of_the_ids() {
        for (index, rule) in RULES.iter().enumerate() {
            assert_eq!(rule.id as usize, index, "{}", rule.id);
            assert_eq!(RuleId::from_name(rule.id.as_str()), Some(rule.id));
        }
    }

    #[test]
    fn rules_are_ordered_by_their_ids() {
        for a in RULES {
            for b in RULES {
                assert_eq!(a.id.cmp(&b.id), a.id.as_str().cmp(b.id.as_str()), "{} and {}", a.id, b.id);
            }
        }
    }

    #[test]
    fn severity_cells_with_two_causes() {
        let no_fs = RuleId::CipherNoFs.rule();
        assert_eq!(no_fs.severities[0], [Some(Severity::Medium), Some(Severity::Low)]);
        assert_eq!(no_fs.severities[3], [None, None]);
        assert_eq!(RuleId::ProtoTls10.rule().severities[5], [None, None]);
        assert_eq!(RuleId::ProtoSslv2.rule().severities[6], [Some(Severity::Critical); 2]);
    }

    #[test]
    fn unknown_ids_name_the_rules_meant() {
        assert_eq!(RuleId::parse("cipher.3des"), Ok(RuleId::Cipher3des));
        let typo = RuleId::parse("cipher.3de").unwrap_err();
        assert!(typo.contains("did you mean cipher.3des?"), "{typo}");
        let bare = RuleId::parse("tls10").unwrap_err();
        assert!(bare.contains("proto.tls10"), "{bare}");
        let nothing = RuleId::parse("completely.different").unwrap_err();
        assert!(!nothing.contains("did you mean"), "{nothing}");
    }
}
