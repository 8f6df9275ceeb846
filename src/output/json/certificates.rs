//! Certificates in the session record: the ECS `x509` fields of a party's
//! leaf and the `tlsaudit.server.certificates` list. A certificate's JSON
//! depends on its DER alone, and a server sends the same chain to every
//! client, so each worker keeps the JSON of the certificates it wrote last
//! (`RenderedCertificates`, by SHA-256, under a share of the memory limit)
//! and copies it into the next session that carries them.

use super::super::json_writer::{JsonWriter, Text};
use super::fields_of;
use crate::cert::CertificateFacts;
use crate::util::bounded_lru::BoundedLru;
use crate::util::rfc3339::Rfc3339Secs;

/// Certificates kept at most, whatever their size.
const ENTRIES: usize = 1024;
/// The most one worker's rendered certificates take (less when the memory
/// limit is small: `RenderedCertificates::for_connection_memory`).
const MAX_BYTES: usize = 4 * 1024 * 1024;

/// The ECS x509 fields of one certificate, in the innermost object.
fn x509(w: &mut JsonWriter<'_>, c: &CertificateFacts) {
    w.object("subject");
    w.field_opt("common_name", c.subject_cn.as_deref());
    w.field("distinguished_name", &c.subject_dn);
    w.close();
    w.object("issuer");
    w.field_opt("common_name", c.issuer_cn.as_deref());
    w.field("distinguished_name", &c.issuer_dn);
    w.close();
    w.field("not_before", &Rfc3339Secs(c.not_before));
    w.field("not_after", &Rfc3339Secs(c.not_after));
    w.field("serial_number", &c.serial_hex);
    if !c.dns_names.is_empty() || !c.ip_addresses.is_empty() {
        w.array("alternative_names");
        for name in c.dns_names.iter().chain(&c.ip_addresses) {
            w.element(name);
        }
        w.close();
    }
    w.field("public_key_algorithm", &c.public_key_algorithm);
    w.field("public_key_size", &c.public_key_bits);
    w.field_opt("public_key_curve", c.public_key_curve.as_deref());
    w.field("signature_algorithm", &c.signature_algorithm);
    w.field("version_number", &Text(c.version));
}

/// `x509` and `hash.sha256` of a party's leaf certificate, in the innermost
/// object (`tls.server` or `tls.client`).
fn leaf_fields(w: &mut JsonWriter<'_>, leaf: &CertificateFacts) {
    w.object("x509");
    x509(w, leaf);
    w.close();
    w.object("hash");
    w.field("sha256", &leaf.sha256);
    w.close();
}

/// Facts of one certificate beyond the ECS x509 fields (for the chain
/// list), in the innermost object.
fn chain_fields(w: &mut JsonWriter<'_>, c: &CertificateFacts) {
    w.field("sha256", &c.sha256);
    w.object("x509");
    x509(w, c);
    w.close();
    w.field("self_issued", &c.self_issued);
    w.object("basic_constraints");
    w.field_opt("ca", c.is_ca);
    w.field_opt("path_len", c.path_len);
    w.close();
    if !c.key_usage.is_empty() {
        w.field("key_usage", &c.key_usage);
    }
    if !c.extended_key_usage.is_empty() {
        w.field("extended_key_usage", &c.extended_key_usage);
    }
    w.field("signature_algorithm_oid", &c.signature_algorithm_oid);
    if !c.ocsp_urls.is_empty() {
        w.field("ocsp_urls", &c.ocsp_urls);
    }
    if !c.crl_urls.is_empty() {
        w.field("crl_urls", &c.crl_urls);
    }
}

/// One certificate's JSON: the fields of a leaf, and of an element of the
/// chain list.
struct Rendered {
    leaf: Box<[u8]>,
    chain: Box<[u8]>,
}

impl Rendered {
    fn of(c: &CertificateFacts) -> Rendered {
        Rendered { leaf: fields_of(|w| leaf_fields(w, c)).into(), chain: fields_of(|w| chain_fields(w, c)).into() }
    }

    /// What keeping it costs: both buffers and the entry, as allocated.
    fn bytes(&self) -> usize {
        crate::memory::alloc_bytes(self.leaf.len())
            + crate::memory::alloc_bytes(self.chain.len())
            + std::mem::size_of::<([u8; 32], Rendered)>()
    }
}

/// The JSON of the certificates one worker wrote last, by SHA-256.
pub struct RenderedCertificates {
    entries: BoundedLru<[u8; 32], Rendered>,
}

impl RenderedCertificates {
    /// Keeps at most `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        RenderedCertificates { entries: BoundedLru::new(ENTRIES, max_bytes) }
    }

    /// For a worker whose connections may hold `connection_memory`: a
    /// sixty-fourth of it, 4 MiB at most.
    pub fn for_connection_memory(connection_memory: usize) -> Self {
        RenderedCertificates::new((connection_memory / 64).min(MAX_BYTES))
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.entries.bytes()
    }

    /// Writes what `pick` takes of `c`'s JSON into the innermost object,
    /// rendering it first if this worker has not kept it.
    fn write(&mut self, w: &mut JsonWriter<'_>, c: &CertificateFacts, pick: fn(&Rendered) -> &[u8]) {
        if let Some(rendered) = self.entries.get(&c.digest) {
            w.raw_fields(pick(rendered));
            return;
        }
        let rendered = Rendered::of(c);
        w.raw_fields(pick(&rendered));
        let size = rendered.bytes();
        self.entries.insert(c.digest, rendered, size);
    }

    /// `x509` and `hash.sha256` of a party's leaf certificate, in the
    /// innermost object (`tls.server` or `tls.client`).
    pub fn leaf(&mut self, w: &mut JsonWriter<'_>, leaf: &CertificateFacts) {
        self.write(w, leaf, |r| &r.leaf);
    }

    /// The certificate as the next element of the innermost array.
    pub fn chain_element(&mut self, w: &mut JsonWriter<'_>, c: &CertificateFacts) {
        w.element_object();
        self.write(w, c, |r| &r.chain);
        w.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundled test CA, and copies of it with one signature byte
    /// changed: other certificates (other digests) with the same fields.
    fn certificates() -> Vec<CertificateFacts> {
        let pem = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/captures/test-ca.pem")).expect("captures/test-ca.pem");
        let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).expect("PEM");
        (0u8..3)
            .map(|flip| {
                let mut der = pem.contents.clone();
                let last = der.len() - 1;
                der[last] ^= flip;
                crate::cert::parse_certificate(&der).expect("a certificate")
            })
            .collect()
    }

    fn written(certs: &mut RenderedCertificates, c: &CertificateFacts) -> String {
        let mut buf = Vec::new();
        let mut w = JsonWriter::new(&mut buf);
        w.object("server");
        certs.leaf(&mut w, c);
        w.close();
        w.array("certificates");
        certs.chain_element(&mut w, c);
        w.close();
        w.finish();
        String::from_utf8(buf).expect("UTF-8")
    }

    #[test]
    fn kept_json_is_the_json_written_afresh_and_stays_under_its_bytes() {
        let facts = certificates();
        let mut kept = RenderedCertificates::new(1 << 20);
        let first: Vec<String> = facts.iter().map(|c| written(&mut kept, c)).collect();
        let again: Vec<String> = facts.iter().map(|c| written(&mut kept, c)).collect();
        assert_eq!(first, again);
        for (c, text) in facts.iter().zip(&first) {
            let v: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
            assert_eq!(v["server"]["hash"]["sha256"], c.sha256.as_str());
            assert_eq!(v["certificates"][0]["sha256"], c.sha256.as_str());
            assert_eq!(v["certificates"][0]["x509"], v["server"]["x509"]);
        }
        // Room for one certificate: the others evict it, and what is
        // written stays the same.
        let one = Rendered::of(&facts[0]).bytes();
        let mut small = RenderedCertificates::new(one);
        for (c, text) in facts.iter().zip(&first).chain(facts.iter().zip(&first)) {
            assert_eq!(&written(&mut small, c), text);
            assert!(small.bytes() <= one);
        }
        let mut none = RenderedCertificates::new(0);
        assert_eq!(written(&mut none, &facts[0]), first[0]);
        assert_eq!(none.bytes(), 0);
    }
}
