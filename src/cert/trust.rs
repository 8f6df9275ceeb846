//! Trust anchors and chain checks: loads CA certificates (the system bundle,
//! `--ca-file`, `--ca-dir`) and tells whether the chain a server sent leads
//! to one of them, verifying every signature on the way (x509-parser with
//! ring). Judges the chain exactly as sent; nothing is fetched.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::SharedCertificate;
use crate::util::keyed_hash::KeyedHash;

/// The usual places of the system CA bundle (Debian/Ubuntu, Fedora/RHEL, Alpine, SUSE).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// Longest chain followed from the leaf.
const MAX_DEPTH: usize = 10;

/// A trusted CA certificate: its DER, and its subject's DER to find it by.
#[derive(Debug, Clone)]
struct Anchor {
    der: Vec<u8>,
    subject: Vec<u8>,
}

/// Chain verdicts each worker thread remembers, by a digest of the store and
/// the chain: a server sends the same chain in every handshake, and checking
/// it means verifying signatures.
const VERDICT_CACHE_ENTRIES: usize = 1024;

thread_local! {
    static VERDICTS: std::cell::RefCell<hashlink::LruCache<Box<[u8]>, ChainStatus, KeyedHash>> =
        std::cell::RefCell::new(hashlink::LruCache::with_hasher(VERDICT_CACHE_ENTRIES, KeyedHash::default()));
}

/// Empties this thread's cache of chain verdicts.
pub fn forget_chain_verdicts() {
    VERDICTS.with(|c| c.borrow_mut().clear());
}

/// Tells stores apart in the verdict cache; a store gets a new id whenever
/// its anchors change.
static NEXT_STORE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn new_store_id() -> u64 {
    NEXT_STORE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// CA certificates trusted as chain anchors, kept as DER.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    id: u64,
    /// The system bundle's, read on a thread of their own.
    system: Option<Arc<SystemAnchors>>,
    /// Those of `--ca-file` and `--ca-dir`.
    anchors: Vec<Anchor>,
    /// Where the anchors came from, for messages.
    pub sources: Vec<PathBuf>,
}

/// How a chain relates to the trust store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainStatus {
    /// A path from the leaf to an anchor, every signature verified.
    Trusted,
    /// The leaf itself is a configured anchor (a pinned certificate).
    LeafIsAnchor,
    /// No path; the reason says where it broke.
    Untrusted(String),
}

/// The system bundle's anchors. Reading and parsing its 150 or so
/// certificates takes a few milliseconds at the start of every run; a
/// thread of its own does it while the capture is opened and read, and the
/// first chain to check waits for it.
#[derive(Debug)]
struct SystemAnchors {
    path: PathBuf,
    loaded: OnceLock<Vec<Anchor>>,
    loader: Mutex<Option<JoinHandle<Vec<Anchor>>>>,
}

/// Every certificate of the system bundle at `path`; none if it is damaged
/// (which does not stop the run).
fn read_bundle(path: &Path) -> Vec<Anchor> {
    let mut store = TrustStore::default();
    let _ = store.add_file(path);
    store.anchors
}

impl SystemAnchors {
    fn start(path: PathBuf) -> SystemAnchors {
        let for_loader = path.clone();
        // Without a thread to be had, the first chain check reads the bundle.
        let loader = std::thread::Builder::new().name("tlsaudit-ca".into()).spawn(move || read_bundle(&for_loader)).ok();
        SystemAnchors { path, loaded: OnceLock::new(), loader: Mutex::new(loader) }
    }

    /// The anchors, once read (waiting for the loading thread the first time).
    fn get(&self) -> &[Anchor] {
        self.loaded.get_or_init(|| {
            let handle = self.loader.lock().ok().and_then(|mut l| l.take());
            match handle.map(JoinHandle::join) {
                Some(Ok(anchors)) => anchors,
                _ => read_bundle(&self.path),
            }
        })
    }
}

impl Anchor {
    fn new(der: Vec<u8>) -> Option<Anchor> {
        let subject = X509Certificate::from_der(&der).ok()?.1.subject().as_raw().to_vec();
        Some(Anchor { der, subject })
    }
}

impl TrustStore {
    /// The system bundle (the first that exists), or an empty store.
    /// Its certificates are read on a thread of their own, from now until
    /// the first chain is checked.
    pub fn system() -> TrustStore {
        let mut store = TrustStore::default();
        if let Some(path) = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file()) {
            store.system = Some(Arc::new(SystemAnchors::start(path.to_path_buf())));
            store.sources.push(path.to_path_buf());
            store.id = new_store_id();
        }
        store
    }

    /// Every anchor: the system bundle's (waiting for them if they are still
    /// being read), then those added.
    fn anchors(&self) -> impl Iterator<Item = &Anchor> + Clone {
        let system = self.system.as_deref().map(SystemAnchors::get).unwrap_or_default();
        system.iter().chain(&self.anchors)
    }

    pub fn len(&self) -> usize {
        self.anchors().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds every certificate of a PEM file (or one DER certificate).
    pub fn add_file(&mut self, path: &Path) -> Result<usize, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let mut added = 0;
        for pem in Pem::iter_from_buffer(&bytes) {
            let pem = pem.map_err(|e| format!("{}: not a PEM certificate file: {e}", path.display()))?;
            if pem.label != "CERTIFICATE" && pem.label != "TRUSTED CERTIFICATE" {
                continue;
            }
            let Some(anchor) = Anchor::new(pem.contents) else {
                return Err(format!("{}: a certificate in the file is not valid X.509", path.display()));
            };
            self.anchors.push(anchor);
            self.id = new_store_id();
            added += 1;
        }
        if added == 0 {
            if let Some(anchor) = Anchor::new(bytes) {
                self.anchors.push(anchor);
                self.id = new_store_id();
                added = 1;
            }
        }
        if added == 0 {
            return Err(format!("{}: no certificate found (PEM or DER expected)", path.display()));
        }
        self.sources.push(path.to_path_buf());
        Ok(added)
    }

    /// Adds the certificates of every .pem, .crt and .cer file in a directory.
    pub fn add_dir(&mut self, dir: &Path) -> Result<usize, String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: cannot read directory: {e}", dir.display()))?;
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| matches!(x.to_str(), Some("pem" | "crt" | "cer"))))
            .collect();
        files.sort();
        let mut added = 0;
        for f in files {
            added += self.add_file(&f)?;
        }
        Ok(added)
    }

    /// Checks the chain as the server sent it, leaf first: each certificate
    /// must be signed by the next one up, every issuer below the anchor must
    /// be a CA allowed to sign certificates (basicConstraints, keyUsage,
    /// pathLenConstraint), and the path must end at a trust anchor.
    pub fn check(&self, chain: &[SharedCertificate]) -> ChainStatus {
        // The key: the store and the chain's certificates by their digests,
        // computed once when each was parsed (copying 32 bytes a certificate
        // here, not hashing the certificates again).
        let mut key = Vec::with_capacity(8 + 32 * chain.len());
        key.extend_from_slice(&self.id.to_be_bytes());
        for c in chain {
            key.extend_from_slice(&c.digest);
        }
        if let Some(hit) = VERDICTS.with(|c| c.borrow_mut().get(key.as_slice()).cloned()) {
            return hit;
        }
        let ders: Vec<&[u8]> = chain.iter().map(|c| c.der.as_slice()).collect();
        let verdict = self.check_uncached(&ders);
        VERDICTS.with(|c| c.borrow_mut().insert(key.into_boxed_slice(), verdict.clone()));
        verdict
    }

    fn check_uncached(&self, chain_der: &[&[u8]]) -> ChainStatus {
        let parsed: Vec<X509Certificate<'_>> =
            chain_der.iter().filter_map(|d| X509Certificate::from_der(d).ok().map(|(_, c)| c)).collect();
        let Some(leaf) = parsed.first() else { return ChainStatus::Untrusted("no certificate could be parsed".into()) };
        let anchors = self.anchors();
        if chain_der.first().is_some_and(|leaf_der| anchors.clone().any(|a| a.der.as_slice() == *leaf_der)) {
            return ChainStatus::LeafIsAnchor;
        }
        let mut current = leaf;
        // Intermediates between the leaf and the certificate being climbed to.
        for depth in 0..MAX_DEPTH {
            let issuer = current.issuer().as_raw();
            // An anchor that issued the current certificate ends the path.
            // Only the anchors named as issuer are parsed.
            for anchor in anchors.clone().filter(|a| a.subject.as_slice() == issuer) {
                let Ok((_, anchor)) = X509Certificate::from_der(&anchor.der) else { continue };
                if current.verify_signature(Some(anchor.public_key())).is_ok() {
                    return ChainStatus::Trusted;
                }
            }
            // Otherwise climb to the certificate of the sent chain that issued it.
            let next = parsed.iter().skip(1).find(|c| {
                c.subject().as_raw() == issuer && !std::ptr::eq(*c, current) && current.verify_signature(Some(c.public_key())).is_ok()
            });
            if let Some(c) = next {
                if let Some(why) = not_an_issuer(c, depth) {
                    return ChainStatus::Untrusted(format!(
                        "\"{}\" signed \"{}\" but {why}",
                        crate::util::escape::escape_terminal(c.subject().to_string().as_bytes()),
                        crate::util::escape::escape_terminal(current.subject().to_string().as_bytes())
                    ));
                }
            }
            match next {
                Some(c) if c.subject().as_raw() == c.issuer().as_raw() => {
                    return ChainStatus::Untrusted(format!(
                        "the chain ends at \"{}\", which is not a trusted root",
                        crate::util::escape::escape_terminal(c.subject().to_string().as_bytes())
                    ))
                }
                Some(c) => current = c,
                None => {
                    let sent = parsed.iter().skip(1).any(|c| c.subject().as_raw() == issuer);
                    let why = if sent { "its signature does not verify" } else { "it was not sent and is not trusted" };
                    return ChainStatus::Untrusted(format!(
                        "no trusted issuer for \"{}\" (issuer \"{}\": {why})",
                        crate::util::escape::escape_terminal(current.subject().to_string().as_bytes()),
                        crate::util::escape::escape_terminal(current.issuer().to_string().as_bytes())
                    ));
                }
            }
        }
        ChainStatus::Untrusted(format!("no trust anchor within {MAX_DEPTH} certificates"))
    }
}

/// Why a certificate of the sent chain may not issue the one below it
/// (RFC 5280 §4.2.1.9, §4.2.1.3), `intermediates_below` being how many
/// intermediate CAs already sit between it and the leaf.
fn not_an_issuer(issuer: &X509Certificate<'_>, intermediates_below: usize) -> Option<String> {
    let constraints = issuer.basic_constraints().ok().flatten().map(|e| e.value.clone());
    match constraints {
        None => return Some("it has no basicConstraints extension, so it is not a CA".into()),
        Some(bc) if !bc.ca => return Some("its basicConstraints say it is not a CA".into()),
        Some(bc) => {
            if let Some(limit) = bc.path_len_constraint {
                if intermediates_below > limit as usize {
                    return Some(format!(
                        "its pathLenConstraint of {limit} allows fewer intermediates than the {intermediates_below} below it"
                    ));
                }
            }
        }
    }
    if let Ok(Some(usage)) = issuer.key_usage() {
        if !usage.value.key_cert_sign() {
            return Some("its keyUsage lacks keyCertSign".into());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The system bundle read on the loading thread, waited for from several
    /// threads at once, holds what reading it in place holds.
    #[test]
    fn system_bundle_read_on_its_thread_is_the_bundle_read_in_place() {
        let path = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file()).expect("a system CA bundle (ca-certificates)");
        let in_place = read_bundle(path);
        assert!(in_place.len() > 50, "{} anchors in {}", in_place.len(), path.display());
        let store = TrustStore::system();
        assert_eq!(store.sources, vec![path.to_path_buf()]);
        let copy = store.clone();
        let counts: Vec<usize> = std::thread::scope(|s| {
            let waiting: Vec<_> = (0..3).map(|_| s.spawn(|| copy.len())).collect();
            waiting.into_iter().map(|t| t.join().expect("no panic")).collect()
        });
        assert_eq!(counts, vec![in_place.len(); 3]);
        let subjects = |anchors: &mut dyn Iterator<Item = &Anchor>| anchors.map(|a| a.subject.clone()).collect::<Vec<_>>();
        assert_eq!(subjects(&mut store.anchors()), subjects(&mut in_place.iter()));
    }
}
