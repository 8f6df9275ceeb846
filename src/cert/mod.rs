//! X.509 certificate facts: the fields of one DER certificate that the output
//! contract and the certificate rules need, read with x509-parser. Strings
//! taken from certificates are attacker-controlled and kept as data.

pub mod trust;

use sha2::{Digest as _, Sha256};
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::oid_registry::{self, Oid};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use std::sync::Arc;

use crate::memory::{alloc_bytes, string_bytes, strings_bytes, vec_bytes, HeapSize};
use crate::util::bounded_lru::BoundedLru;

/// Facts about one certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateFacts {
    /// SHA-256 of the DER encoding, upper-case hex.
    pub sha256: String,
    /// The same digest as bytes.
    pub digest: [u8; 32],
    pub version: u32,
    pub serial_hex: String,
    pub subject_cn: Option<String>,
    pub subject_dn: String,
    pub issuer_cn: Option<String>,
    pub issuer_dn: String,
    /// Seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<String>,
    /// "RSA", "EC", "Ed25519", "Ed448", "DSA", or the algorithm's OID.
    pub public_key_algorithm: String,
    pub public_key_bits: u32,
    /// Named curve of an EC key, spelled as in `tls.curve` ("secp256r1", "secp384r1", ...).
    pub public_key_curve: Option<String>,
    /// Signature algorithm name, e.g. "sha256WithRSAEncryption".
    pub signature_algorithm: String,
    pub signature_algorithm_oid: String,
    pub is_ca: Option<bool>,
    pub path_len: Option<u32>,
    pub key_usage: Vec<&'static str>,
    pub extended_key_usage: Vec<String>,
    /// Subject and issuer names are identical.
    pub self_issued: bool,
    /// OCSP responder URLs (authorityInfoAccess id-ad-ocsp).
    pub ocsp_urls: Vec<String>,
    /// CRL distribution point URLs.
    pub crl_urls: Vec<String>,
    /// The DER, kept so chains can be verified later.
    pub der: Vec<u8>,
}

fn oid_name(oid: &Oid<'_>) -> String {
    match x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry()) {
        Ok(sn) => sn.to_string(),
        Err(_) => oid.to_id_string(),
    }
}

/// Certificates each worker thread keeps parsed, by their DER: a server
/// sends the same chain in every handshake. A lookup hashes the DER with the
/// table's hasher and compares it whole, so no digest is computed for a
/// certificate seen before and no two certificates can be taken for one
/// another. Typically 3 KB each; the cache is bounded by entries and by
/// bytes, and a certificate too big to be worth keeping is parsed every time.
const PARSED_CACHE_ENTRIES: usize = 1024;
/// The most the cache of one thread holds; less when the memory limit is
/// small (`set_parsed_cache_share`).
const PARSED_CACHE_BYTES: usize = 16 * 1024 * 1024;
const PARSED_CACHE_LARGEST: usize = 64 * 1024;

/// Facts of one certificate, shared by every session that sent it.
pub type SharedCertificate = Arc<CertificateFacts>;

struct ParsedCache {
    entries: BoundedLru<Box<[u8]>, Option<SharedCertificate>>,
}

impl ParsedCache {
    fn insert(&mut self, der: &[u8], facts: &Option<SharedCertificate>) {
        let size = facts.as_deref().map_or(0, HeapSize::heap_bytes)
            + alloc_bytes(der.len())
            + alloc_bytes(std::mem::size_of::<CertificateFacts>())
            + std::mem::size_of::<(Box<[u8]>, Option<SharedCertificate>, usize)>();
        if size > PARSED_CACHE_LARGEST {
            return;
        }
        self.entries.insert(der.into(), facts.clone(), size);
    }
}

thread_local! {
    static PARSED: std::cell::RefCell<ParsedCache> = std::cell::RefCell::new(ParsedCache {
        entries: BoundedLru::new(PARSED_CACHE_ENTRIES, PARSED_CACHE_BYTES),
    });
}

/// Empties this thread's cache of parsed certificates.
pub fn forget_parsed_certificates() {
    PARSED.with(|c| c.borrow_mut().entries.clear());
}

/// Bounds this thread's cache of parsed certificates by the memory its
/// connections may hold: a sixteenth of it, and never more than 16 MiB, so
/// that a small `--memory-limit` bounds the cache too.
pub fn set_parsed_cache_share(connection_memory: usize) {
    PARSED.with(|c| {
        c.borrow_mut().entries.set_max_bytes((connection_memory / 16).min(PARSED_CACHE_BYTES));
    });
}

/// Parses one DER certificate, or takes the facts of an identical one this
/// thread parsed before. The flag says whether it came from the cache.
pub fn parse_certificate_cached(der: &[u8]) -> (Option<SharedCertificate>, bool) {
    if let Some(hit) = PARSED.with(|c| c.borrow_mut().entries.get(der).cloned()) {
        return (hit, true);
    }
    let facts = parse_certificate(der).map(Arc::new);
    PARSED.with(|c| c.borrow_mut().insert(der, &facts));
    (facts, false)
}

/// Parses one DER certificate. Returns None when x509-parser rejects it.
pub fn parse_certificate(der: &[u8]) -> Option<CertificateFacts> {
    let digest: [u8; 32] = Sha256::digest(der).into();
    parse_with_digest(der, &digest)
}

fn parse_with_digest(der: &[u8], digest: &[u8; 32]) -> Option<CertificateFacts> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let tbs = &cert.tbs_certificate;
    let first_cn = |name: &x509_parser::x509::X509Name<'_>| {
        name.iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string)
    };
    let mut f = CertificateFacts {
        sha256: crate::util::hex::upper(digest.as_slice()),
        digest: *digest,
        version: tbs.version.0 + 1,
        serial_hex: crate::util::hex::upper(tbs.raw_serial()),
        subject_cn: first_cn(tbs.subject()),
        subject_dn: tbs.subject().to_string(),
        issuer_cn: first_cn(tbs.issuer()),
        issuer_dn: tbs.issuer().to_string(),
        not_before: tbs.validity().not_before.timestamp(),
        not_after: tbs.validity().not_after.timestamp(),
        signature_algorithm: oid_name(&cert.signature_algorithm.algorithm),
        signature_algorithm_oid: cert.signature_algorithm.algorithm.to_id_string(),
        self_issued: tbs.subject().as_raw() == tbs.issuer().as_raw(),
        der: der.to_vec(),
        ..Default::default()
    };
    let spki = tbs.public_key();
    let alg = &spki.algorithm.algorithm;
    let (name, bits, curve) = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => ("RSA".to_string(), rsa.key_size() as u32, None),
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| sec_curve_name(oid_name(&oid)));
            ("EC".to_string(), ec_bits(curve.as_deref(), point.key_size() as u32), curve)
        }
        Ok(PublicKey::DSA(y)) => ("DSA".to_string(), (y.len() * 8) as u32, None),
        _ if *alg == oid_registry::OID_SIG_ED25519 => ("Ed25519".to_string(), 256, None),
        _ if *alg == oid_registry::OID_SIG_ED448 => ("Ed448".to_string(), 456, None),
        _ => (oid_name(alg), (spki.subject_public_key.data.len() * 8) as u32, None),
    };
    f.public_key_algorithm = name;
    f.public_key_bits = bits;
    f.public_key_curve = curve;
    if let Ok(Some(bc)) = tbs.basic_constraints() {
        f.is_ca = Some(bc.value.ca);
        f.path_len = bc.value.path_len_constraint;
    }
    if let Ok(Some(ku)) = tbs.key_usage() {
        let k = ku.value;
        let pairs = [
            (k.digital_signature(), "digitalSignature"),
            (k.non_repudiation(), "nonRepudiation"),
            (k.key_encipherment(), "keyEncipherment"),
            (k.data_encipherment(), "dataEncipherment"),
            (k.key_agreement(), "keyAgreement"),
            (k.key_cert_sign(), "keyCertSign"),
            (k.crl_sign(), "cRLSign"),
            (k.encipher_only(), "encipherOnly"),
            (k.decipher_only(), "decipherOnly"),
        ];
        f.key_usage = pairs.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect();
    }
    if let Ok(Some(eku)) = tbs.extended_key_usage() {
        let e = eku.value;
        let pairs = [
            (e.any, "anyExtendedKeyUsage"),
            (e.server_auth, "serverAuth"),
            (e.client_auth, "clientAuth"),
            (e.code_signing, "codeSigning"),
            (e.email_protection, "emailProtection"),
            (e.time_stamping, "timeStamping"),
            (e.ocsp_signing, "OCSPSigning"),
        ];
        f.extended_key_usage = pairs.iter().filter(|(on, _)| *on).map(|(_, n)| n.to_string()).collect();
        f.extended_key_usage.extend(e.other.iter().map(|o| o.to_id_string()));
    }
    for ext in tbs.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => {
                for desc in &aia.accessdescs {
                    if desc.access_method == oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP {
                        if let GeneralName::URI(uri) = &desc.access_location {
                            f.ocsp_urls.push(uri.to_string());
                        }
                    }
                }
            }
            ParsedExtension::CRLDistributionPoints(points) => {
                for point in points.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &point.distribution_point {
                        f.crl_urls.extend(names.iter().filter_map(|n| match n {
                            GeneralName::URI(uri) => Some(uri.to_string()),
                            _ => None,
                        }));
                    }
                }
            }
            _ => {}
        }
    }
    if let Ok(Some(san)) = tbs.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => f.dns_names.push(d.to_string()),
                GeneralName::IPAddress(ip) => {
                    let text = match ip.len() {
                        4 => std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string(),
                        16 => {
                            let mut b = [0u8; 16];
                            b.copy_from_slice(ip);
                            std::net::Ipv6Addr::from(b).to_string()
                        }
                        _ => crate::util::hex::lower(ip),
                    };
                    f.ip_addresses.push(text);
                }
                _ => {}
            }
        }
    }
    Some(f)
}

/// The SEC 2 name of a curve that the OID registry knows by its X9.62 name,
/// so that certificates and key exchange spell curves alike.
fn sec_curve_name(name: String) -> String {
    match name.as_str() {
        "prime256v1" => "secp256r1".to_string(),
        "prime192v1" => "secp192r1".to_string(),
        _ => name,
    }
}

/// Bits of an EC key: the curve's size when the curve is known, else from the point.
fn ec_bits(curve: Option<&str>, from_point: u32) -> u32 {
    match curve {
        Some("prime256v1") | Some("secp256r1") | Some("secp256k1") | Some("brainpoolP256r1") => 256,
        Some("secp384r1") | Some("brainpoolP384r1") => 384,
        Some("secp521r1") => 521,
        Some("secp224r1") => 224,
        Some("prime192v1") | Some("secp192r1") => 192,
        _ => from_point,
    }
}
impl HeapSize for CertificateFacts {
    fn heap_bytes(&self) -> usize {
        string_bytes(&self.sha256)
            + string_bytes(&self.serial_hex)
            + self.subject_cn.as_deref().map_or(0, string_bytes)
            + string_bytes(&self.subject_dn)
            + self.issuer_cn.as_deref().map_or(0, string_bytes)
            + string_bytes(&self.issuer_dn)
            + strings_bytes(&self.dns_names)
            + strings_bytes(&self.ip_addresses)
            + string_bytes(&self.public_key_algorithm)
            + self.public_key_curve.as_deref().map_or(0, string_bytes)
            + string_bytes(&self.signature_algorithm)
            + string_bytes(&self.signature_algorithm_oid)
            + vec_bytes(&self.key_usage)
            + strings_bytes(&self.extended_key_usage)
            + strings_bytes(&self.ocsp_urls)
            + strings_bytes(&self.crl_urls)
            + vec_bytes(&self.der)
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    fn test_ca_der() -> Vec<u8> {
        let pem = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/captures/test-ca.pem")).unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
        pem.contents
    }

    #[test]
    fn a_certificate_seen_before_is_shared_and_another_one_is_parsed() {
        let der = test_ca_der();
        let (first, cached) = parse_certificate_cached(&der);
        let first = first.expect("the test CA parses");
        assert!(!cached);
        assert_eq!(first.digest.as_slice(), Sha256::digest(&der).as_slice());
        let (again, cached) = parse_certificate_cached(&der);
        assert!(cached);
        assert!(Arc::ptr_eq(&first, &again.unwrap()), "the facts are shared, not copied");
        // One byte changed in the signature: the same length, another
        // certificate; never the cached facts.
        let mut other = der.clone();
        let last = other.len() - 1;
        other[last] ^= 1;
        let (changed, cached) = parse_certificate_cached(&other);
        assert!(!cached);
        let changed = changed.expect("still parses");
        assert_ne!(changed.sha256, first.sha256);
        assert_eq!(changed.der, other);
    }

    #[test]
    fn a_certificate_is_parsed_again_once_the_thread_forgets_its_caches() {
        let der = test_ca_der();
        assert!(!parse_certificate_cached(&der).1);
        assert!(parse_certificate_cached(&der).1);
        crate::forget_thread_caches();
        let (facts, cached) = parse_certificate_cached(&der);
        assert!(!cached, "forgotten, parsed again");
        assert!(facts.is_some());
        assert!(parse_certificate_cached(&der).1);
    }
}
