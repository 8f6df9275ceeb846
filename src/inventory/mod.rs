//! The service inventory: what each server ip:port was seen to negotiate,
//! with how many sessions and distinct clients, and the findings that are
//! the server's to fix; and the clients whose own offers broke the rules.
//! Every table and set here is capped, with a counter when a cap is hit, and
//! all of them together by a memory budget: once it is spent, new entries
//! (services, clients, names, certificates, public values, findings) are
//! refused and counted, while the counts of what is known go on.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use crate::memory::{alloc_bytes, btree_entry_bytes, hash_entry_bytes, string_bytes};
use crate::policy::service::{self, UpgradeOffers};
use crate::policy::{Assessment, Exempted, Finding, Profile, RuleId, Severity, Verdict};
use crate::decode::Transport;
use crate::tls::facts::{PublicValueDigest, SessionFacts};
use crate::util::sorted_vec_map::SortedVecMap;
use crate::tls::names::{cipher_name, version_name};

mod across;

/// Hashes the keys that came off the wire, as in the flow tables.
type WireKeys = crate::util::keyed_hash::KeyedHash;

/// Services tracked at most.
pub const MAX_SERVICES: usize = 65_536;
/// Clients with client-side findings tracked at most.
pub const MAX_CLIENTS: usize = 65_536;
/// Distinct client addresses counted per service.
const MAX_CLIENTS_PER_SERVICE: usize = 4_096;
/// Ephemeral public values remembered per service (to notice reuse).
const MAX_PUBLIC_VALUES: usize = 4_096;
/// SNI names and certificates kept per service.
const MAX_NAMES: usize = 64;
const MAX_CERTS: usize = 16;

/// Memory the inventory holds at most by default, in bytes.
pub const DEFAULT_MAX_MEMORY: usize = 256 * 1024 * 1024;

/// The inventory's memory account.
#[derive(Debug)]
struct Budget {
    used: usize,
    max: usize,
    /// Entries refused because the budget was spent.
    refused: u64,
}

impl Budget {
    /// Charges `bytes` for a new entry; false (and counted) when they do not fit.
    fn charge(&mut self, bytes: usize) -> bool {
        if self.used + bytes > self.max {
            self.refused += 1;
            return false;
        }
        self.used += bytes;
        true
    }

    /// Adjusts the account when an entry changes size (it always may).
    fn adjust(&mut self, old: usize, new: usize) {
        self.used = (self.used + new).saturating_sub(old);
    }
}

/// One finding kind seen on a service or client, with how often.
#[derive(Debug, Clone)]
pub struct FindingCount {
    pub rule: RuleId,
    pub severity: Severity,
    pub count: u64,
    /// The message of the earliest occurrence (by session start, then by
    /// text), whatever order the workers delivered the sessions in: the
    /// finding's own text, shared, not copied.
    pub example: Arc<str>,
    /// `example` escaped for a JSON string (`Finding::message_json`).
    pub example_json: Arc<str>,
    pub example_at: i64,
}

impl FindingCount {
    /// What the example's text takes (as `Finding::text_bytes`).
    fn example_bytes(&self) -> usize {
        crate::util::json_escape::text_and_escaped_bytes(&self.example, &self.example_json)
    }
}

/// A finding set aside by an exception, with how often.
#[derive(Debug, Clone)]
pub struct ExemptedCount {
    pub rule: RuleId,
    pub severity: Severity,
    pub count: u64,
    pub justification: String,
    pub expires: Option<String>,
}

/// What the report and the certificate inventory say of a server
/// certificate: whose it is, who issued it, its key and signature, the
/// names it covers, and when it is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafSummary {
    /// The subject's common name, else its distinguished name.
    pub subject: String,
    /// The issuer's common name, else its distinguished name.
    pub issuer: String,
    /// subjectAltName DNS names and IP addresses, at most MAX_SANS.
    pub sans: Vec<String>,
    /// More names than MAX_SANS were in the certificate.
    pub sans_capped: bool,
    /// "RSA 2048", "EC secp256r1", ...
    pub key: String,
    /// e.g. "sha256WithRSAEncryption".
    pub signature: String,
    /// Seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
}

/// subjectAltNames kept per certificate for the inventory.
const MAX_SANS: usize = 16;

impl LeafSummary {
    fn of(leaf: &crate::cert::CertificateFacts) -> Self {
        let all_sans = leaf.dns_names.iter().chain(&leaf.ip_addresses);
        let key = match &leaf.public_key_curve {
            Some(curve) => format!("{} {curve}", leaf.public_key_algorithm),
            None => format!("{} {}", leaf.public_key_algorithm, leaf.public_key_bits),
        };
        LeafSummary {
            subject: leaf.subject_cn.clone().unwrap_or_else(|| leaf.subject_dn.clone()),
            issuer: leaf.issuer_cn.clone().unwrap_or_else(|| leaf.issuer_dn.clone()),
            sans: all_sans.clone().take(MAX_SANS).cloned().collect(),
            sans_capped: all_sans.count() > MAX_SANS,
            key,
            signature: leaf.signature_algorithm.clone(),
            not_before: leaf.not_before,
            not_after: leaf.not_after,
        }
    }

    fn heap_bytes(&self) -> usize {
        string_bytes(&self.subject)
            + string_bytes(&self.issuer)
            + self.sans.iter().map(|n| std::mem::size_of::<String>() + string_bytes(n)).sum::<usize>()
            + string_bytes(&self.key)
            + string_bytes(&self.signature)
    }
}

/// A session by its client address, port and start.
type SessionId = (IpAddr, u16, i64);

/// The sessions an ephemeral public value was seen in (up to 8), and
/// whether it was finite-field DH. Most values are seen once: the first
/// session is kept in place, and only a value seen again allocates.
#[derive(Debug, Clone)]
struct PublicValueUse {
    first: SessionId,
    again: Vec<SessionId>,
    finite_field: bool,
}

impl PublicValueUse {
    fn sessions(&self) -> usize {
        1 + self.again.len()
    }
}

/// What one server endpoint negotiated.
#[derive(Debug, Clone)]
pub struct Service {
    pub ip: IpAddr,
    pub port: u16,
    /// TCP or UDP: a QUIC service and a TCP one on the same port are two services.
    pub transport: Transport,
    /// What its sessions spoke around or under TLS (`network.protocol`:
    /// tls, quic, smtp, ...), with how many sessions each.
    pub protocols: SortedVecMap<&'static str, u64>,
    pub sessions: u64,
    /// Of them, sessions that stayed in clear.
    pub cleartext_sessions: u64,
    /// Of them, sessions that were not TLS (in clear, or encrypted by the
    /// protocol itself, as SMB 3, or with their encryption not seen).
    pub not_tls_sessions: u64,
    pub versions: SortedVecMap<String, u64>,
    pub ciphers: SortedVecMap<String, u64>,
    pub server_names: BTreeSet<String>,
    /// Leaf certificates it sent, by SHA-256 (at most MAX_CERTS, the smallest hashes kept).
    pub certificates: SortedVecMap<String, LeafSummary>,
    clients: HashSet<IpAddr, WireKeys>,
    /// More distinct clients than could be counted.
    pub clients_overflow: bool,
    pub first_seen: i64,
    pub last_seen: i64,
    /// The sessions (client endpoint and start time, at most a few) each
    /// ephemeral public value was seen in, and whether it was finite-field DH.
    /// The same session read twice (one capture given twice) is not reuse.
    public_values: HashMap<PublicValueDigest, PublicValueUse, WireKeys>,
    /// Findings the server could have avoided (party server or both), by rule.
    pub findings: SortedVecMap<RuleId, FindingCount>,
    /// Such findings an exception set aside, by rule.
    pub exempted: BTreeMap<RuleId, ExemptedCount>,
    /// A finding of its fails the policy (see `assessment`).
    pub failed: bool,
    /// Sessions in which it negotiated a version, or spoke in clear: without one, nothing it
    /// does was seen and it is not assessed.
    pub negotiated: u64,
    /// Entries of this service were refused because the inventory's memory
    /// budget was spent: its sets and findings may be incomplete.
    pub memory_capped: bool,
    /// Its offers of the upgrade to TLS, across sessions.
    upgrade_offers: UpgradeOffers,
}

impl Service {
    pub fn distinct_clients(&self) -> usize {
        self.clients.len()
    }

    /// Its passive grade (A to F, T for trust) and the rules that set it;
    /// None when it was not assessed.
    pub fn grade(&self) -> Option<(crate::policy::grade::Grade, Vec<RuleId>)> {
        crate::policy::grade::grade(self.assessment(), self.findings.keys().copied())
    }

    /// A service on the home network that the asset file does not list.
    pub fn unlisted(&self) -> bool {
        self.findings.contains_key(&RuleId::InventoryUnlistedService)
    }

    pub fn worst(&self) -> Option<Severity> {
        self.findings.values().map(|f| f.severity).max()
    }

    /// Non-compliant, not assessed (no handshake it answered with a
    /// ServerHello), or compliant.
    pub fn assessment(&self) -> Assessment {
        Assessment::of(self.failed, self.negotiated > 0)
    }
}

/// A client whose own offers broke the rules.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: IpAddr,
    pub sessions: u64,
    pub findings: SortedVecMap<RuleId, FindingCount>,
}

/// Services and clients over a whole run.
#[derive(Debug)]
pub struct Inventory {
    services: HashMap<(IpAddr, u16, Transport), Service, WireKeys>,
    clients: HashMap<IpAddr, Client, WireKeys>,
    /// Sessions not counted because the service table was full.
    pub services_dropped: u64,
    pub clients_dropped: u64,
    budget: Budget,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory::with_memory_limit(DEFAULT_MAX_MEMORY)
    }
}

/// Counts a finding seen at `at`; a new rule's entry must fit the budget.
/// False when refused.
fn add_finding(map: &mut SortedVecMap<RuleId, FindingCount>, budget: &mut Budget, x: &Finding, at: i64) -> bool {
    if let Some(f) = map.get_mut(&x.rule) {
        f.count += 1;
        f.severity = f.severity.max(x.severity);
        if (at, &*x.message) < (f.example_at, &*f.example) {
            budget.adjust(f.example_bytes(), x.text_bytes());
            f.example = Arc::clone(&x.message);
            f.example_json = Arc::clone(&x.message_json);
            f.example_at = at;
        }
        return true;
    }
    if !budget.charge(map.entry_bytes() + x.text_bytes()) {
        return false;
    }
    let count = FindingCount {
        rule: x.rule,
        severity: x.severity,
        count: 1,
        example: Arc::clone(&x.message),
        example_json: Arc::clone(&x.message_json),
        example_at: at,
    };
    map.insert(x.rule, count);
    true
}

/// Adds to a capped set; when full, keeps the smallest values, so that the
/// set does not depend on the order sessions arrive in. A value that would
/// be kept must fit the budget. False when refused for the budget.
fn insert_capped(set: &mut BTreeSet<String>, budget: &mut Budget, value: &str, cap: usize) -> bool {
    let keep = !set.contains(value) && (set.len() < cap || set.last().is_some_and(|largest| value < largest.as_str()));
    if !keep {
        return true;
    }
    if !budget.charge(btree_entry_bytes::<String, ()>(set.len()) + string_bytes(value)) {
        return false;
    }
    set.insert(value.to_string());
    if set.len() > cap {
        if let Some(dropped) = set.pop_last() {
            budget.adjust(btree_entry_bytes::<String, ()>(set.len()) + string_bytes(&dropped), 0);
        }
    }
    true
}

/// Remembers a service's leaf certificate; when MAX_CERTS are known, keeps
/// those with the smallest hashes, so the choice does not depend on order.
fn insert_leaf(map: &mut SortedVecMap<String, LeafSummary>, budget: &mut Budget, leaf: &crate::cert::CertificateFacts) -> bool {
    let keep = !map.contains_key(&leaf.sha256)
        && (map.len() < MAX_CERTS || map.last_key_value().is_some_and(|(largest, _)| leaf.sha256 < *largest));
    if !keep {
        return true;
    }
    let summary = LeafSummary::of(leaf);
    let text = |hash: &str, summary: &LeafSummary| string_bytes(hash) + summary.heap_bytes();
    if !budget.charge(map.entry_bytes() + text(&leaf.sha256, &summary)) {
        return false;
    }
    map.insert(leaf.sha256.clone(), summary);
    if map.len() > MAX_CERTS {
        // The map's room stays (for the next one); its texts go.
        if let Some((hash, dropped)) = map.pop_last() {
            budget.adjust(text(&hash, &dropped), 0);
        }
    }
    true
}

/// Counts a finding an exception set aside.
fn add_exempted(map: &mut BTreeMap<RuleId, ExemptedCount>, budget: &mut Budget, x: &Exempted) -> bool {
    if let Some(e) = map.get_mut(&x.finding.rule) {
        e.count += 1;
        e.severity = e.severity.max(x.finding.severity);
        return true;
    }
    let cost = btree_entry_bytes::<RuleId, ExemptedCount>(map.len())
        + string_bytes(&x.justification)
        + x.expires.as_deref().map_or(0, string_bytes);
    if !budget.charge(cost) {
        return false;
    }
    let count = ExemptedCount {
        rule: x.finding.rule,
        severity: x.finding.severity,
        count: 1,
        justification: x.justification.clone(),
        expires: x.expires.clone(),
    };
    map.insert(x.finding.rule, count);
    true
}

/// Adds one to a count by name, charging a new name to the budget.
fn count_name(map: &mut SortedVecMap<String, u64>, budget: &mut Budget, name: &str) -> bool {
    if let Some(n) = map.get_mut(name) {
        *n += 1;
        return true;
    }
    if !budget.charge(map.entry_bytes() + string_bytes(name)) {
        return false;
    }
    map.insert(name.to_string(), 1);
    true
}

impl Inventory {
    /// An empty inventory that holds at most `max_memory` bytes (estimated).
    pub fn with_memory_limit(max_memory: usize) -> Self {
        Inventory {
            services: HashMap::default(),
            clients: HashMap::default(),
            services_dropped: 0,
            clients_dropped: 0,
            budget: Budget { used: 0, max: max_memory, refused: 0 },
        }
    }

    /// Entries refused because the memory budget was spent.
    pub fn memory_refusals(&self) -> u64 {
        self.budget.refused
    }

    /// Memory charged to the inventory, in bytes (an estimate).
    pub fn memory(&self) -> usize {
        self.budget.used
    }

    /// Counts one session and its verdict under `profile`.
    pub fn add(&mut self, f: &SessionFacts, verdict: &Verdict, profile: &Profile) {
        let transport = f.carrier.transport();
        let key = (f.server.ip, f.server.port, transport);
        let budget = &mut self.budget;
        let known = self.services.contains_key(&key);
        if !known && self.services.len() >= MAX_SERVICES {
            self.services_dropped += 1;
        } else if known || budget.charge(hash_entry_bytes::<(IpAddr, u16, Transport), Service>(self.services.len())) {
            let s = self.services.entry(key).or_insert_with(|| Service {
                ip: f.server.ip,
                port: f.server.port,
                transport,
                protocols: SortedVecMap::new(),
                sessions: 0,
                cleartext_sessions: 0,
                not_tls_sessions: 0,
                versions: SortedVecMap::new(),
                ciphers: SortedVecMap::new(),
                server_names: BTreeSet::new(),
                certificates: SortedVecMap::new(),
                clients: HashSet::default(),
                clients_overflow: false,
                public_values: HashMap::default(),
                first_seen: f.first_seen,
                last_seen: f.last_seen,
                findings: SortedVecMap::new(),
                exempted: BTreeMap::new(),
                failed: false,
                negotiated: 0,
                memory_capped: false,
                upgrade_offers: UpgradeOffers::default(),
            });
            let mut fits = true;
            s.sessions += 1;
            s.cleartext_sessions += u64::from(f.cleartext.as_ref().is_some_and(|c| c.in_clear()));
            s.not_tls_sessions += u64::from(f.cleartext.is_some());
            // An offer seen (TLS followed, or the client went on in clear), or
            // an offer the server's capabilities showed missing.
            let offer = match (&f.preamble, &f.cleartext) {
                (Some(p), _) if p.offered => Some((p.protocol, true)),
                (_, Some(c)) => c.upgrade_offered.map(|offered| (c.protocol, offered)),
                _ => None,
            };
            if let Some((protocol, offered)) = offer {
                s.upgrade_offers.count(protocol, offered, f.first_seen, f.client.ip);
            }
            let protocol = f.protocol();
            let protocol_bytes = s.protocols.entry_bytes();
            match s.protocols.get_mut(protocol) {
                Some(n) => *n += 1,
                None if budget.charge(protocol_bytes) => {
                    s.protocols.insert(protocol, 1);
                }
                None => fits = false,
            }
            s.first_seen = s.first_seen.min(f.first_seen);
            s.last_seen = s.last_seen.max(f.last_seen);
            if let Some(v) = f.version() {
                let name = version_name(v).map_or_else(|| Cow::Owned(format!("0x{v:04X}")), Cow::Borrowed);
                fits &= count_name(&mut s.versions, budget, &name);
            }
            if let Some(sh) = &f.server_hello {
                fits &= count_name(&mut s.ciphers, budget, &cipher_name(sh.cipher));
            }
            if let Some(sni) = f.client_hello.as_ref().and_then(|c| c.server_name.as_ref()) {
                fits &= insert_capped(&mut s.server_names, budget, &String::from_utf8_lossy(sni), MAX_NAMES);
            }
            if let Some(leaf) = f.server_certificates.first() {
                fits &= insert_leaf(&mut s.certificates, budget, leaf);
            }
            if let Some(public) = f.server_public() {
                let ffdh = f.key_exchange.as_ref().is_some_and(|k| k.dh_bits.is_some())
                    || f.group().is_some_and(|g| (0x0100..=0x01FF).contains(&g));
                let session = (f.client.ip, f.client.port, f.first_seen);
                if let Some(known) = s.public_values.get_mut(&public) {
                    let (count, first) = (known.sessions(), known.first);
                    let again = &mut known.again;
                    if count < 8 && first != session && !again.contains(&session) {
                        // Growing the list must fit the budget as a new entry would.
                        let bytes = |capacity: usize| alloc_bytes(capacity * std::mem::size_of_val(&session));
                        let growth = if again.len() < again.capacity() {
                            0
                        } else {
                            bytes((again.capacity() * 2).max(4)) - bytes(again.capacity())
                        };
                        if budget.charge(growth) {
                            let before = bytes(again.capacity());
                            again.push(session);
                            budget.adjust(before + growth, bytes(again.capacity()));
                        } else {
                            fits = false;
                        }
                    }
                } else if s.public_values.len() < MAX_PUBLIC_VALUES {
                    if budget.charge(hash_entry_bytes::<PublicValueDigest, PublicValueUse>(s.public_values.len())) {
                        let first_use = PublicValueUse { first: session, again: Vec::new(), finite_field: ffdh };
                        s.public_values.insert(public, first_use);
                    } else {
                        fits = false;
                    }
                }
            }
            if !s.clients.contains(&f.client.ip) {
                if s.clients.len() >= MAX_CLIENTS_PER_SERVICE {
                    s.clients_overflow = true;
                } else if budget.charge(hash_entry_bytes::<IpAddr, ()>(s.clients.len())) {
                    s.clients.insert(f.client.ip);
                } else {
                    s.clients_overflow = true;
                    fits = false;
                }
            }
            // A session in clear is judged for what the service accepted.
            let negotiated = f.version().is_some() || f.cleartext.as_ref().is_some_and(|c| c.encrypted().is_some());
            s.negotiated += u64::from(negotiated);
            for x in verdict.findings.iter().filter(|x| service::held_against_service(x, negotiated)) {
                fits &= add_finding(&mut s.findings, budget, x, f.first_seen);
                s.failed |= profile.fails(x.severity);
            }
            for x in verdict.exempted.iter().filter(|x| service::held_against_service(&x.finding, negotiated)) {
                fits &= add_exempted(&mut s.exempted, budget, x);
            }
            s.memory_capped |= !fits;
        }
        let client_findings = || verdict.findings.iter().filter(|x| service::held_against_client(x));
        if client_findings().next().is_none() {
            return;
        }
        let known = self.clients.contains_key(&f.client.ip);
        if !known && self.clients.len() >= MAX_CLIENTS {
            self.clients_dropped += 1;
            return;
        }
        if !known && !self.budget.charge(hash_entry_bytes::<IpAddr, Client>(self.clients.len())) {
            return;
        }
        let c = self.clients.entry(f.client.ip).or_insert_with(|| Client { ip: f.client.ip, sessions: 0, findings: SortedVecMap::new() });
        c.sessions += 1;
        for x in client_findings() {
            add_finding(&mut c.findings, &mut self.budget, x, f.first_seen);
        }
    }

    /// Services tracked.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Every service, in no order: for counting, where `services` sorts for nothing.
    pub fn each_service(&self) -> impl Iterator<Item = &Service> {
        self.services.values()
    }

    /// Services, non-compliant first, then not assessed, then compliant; within each,
    /// those the asset file does not list first (a rogue service), then those heard in
    /// clear (the worst of what can be seen), then worst finding, busiest, by address.
    pub fn services(&self) -> Vec<&Service> {
        use std::cmp::Reverse;
        // Each service's place is worked out once, not at every comparison.
        let mut v: Vec<&Service> = self.services.values().collect();
        v.sort_by_cached_key(|s| {
            let order = (s.ip, s.port, s.transport as u8);
            (s.assessment(), Reverse(s.unlisted()), Reverse(s.cleartext_sessions > 0), Reverse(s.worst()), Reverse(s.sessions), order)
        });
        v
    }

    /// Clients with a finding that fails `profile`, worst first.
    pub fn failing_clients(&self, profile: &Profile) -> Vec<&Client> {
        let worst = |c: &Client| c.findings.values().map(|f| f.severity).max();
        let mut v: Vec<&Client> =
            self.clients.values().filter(|c| worst(c).is_some_and(|w| profile.fails(w))).collect();
        v.sort_by(|a, b| worst(b).cmp(&worst(a)).then(b.sessions.cmp(&a.sessions)).then(a.ip.cmp(&b.ip)));
        v
    }
}
