//! The service inventory: what each server ip:port was seen to negotiate,
//! with how many sessions and distinct clients, and the findings that are
//! the server's to fix; and the clients whose own offers broke the rules.
//! Every table and set here is capped, with a counter when a cap is hit.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use crate::pipeline::Judged;
use crate::policy::{Party, Severity};
use crate::tls::names::{cipher_name, version_name};

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

/// Rules about what a client offered, never a service's doing.
const CLIENT_OFFER_RULES: &[&str] = &[
    "proto.sslv2_hello",
    "cipher.client_offers_weak",
    "ext.early_data",
    "ext.no_sig_algs",
    "ext.sig_algs_sha1",
    "ext.no_sni",
];

/// One finding kind seen on a service or client, with how often.
#[derive(Debug, Clone)]
pub struct FindingCount {
    pub rule: &'static str,
    pub severity: Severity,
    pub count: u64,
    /// The message of the earliest occurrence (by session start, then by
    /// text), whatever order the workers delivered the sessions in.
    pub example: String,
    example_at: i64,
}

/// What one server endpoint negotiated.
#[derive(Debug, Clone)]
pub struct Service {
    pub ip: IpAddr,
    pub port: u16,
    pub sessions: u64,
    pub versions: BTreeMap<String, u64>,
    pub ciphers: BTreeMap<String, u64>,
    pub server_names: BTreeSet<String>,
    pub certificates: BTreeSet<String>,
    clients: HashSet<IpAddr>,
    /// More distinct clients than could be counted.
    pub clients_overflow: bool,
    pub first_seen: i64,
    pub last_seen: i64,
    /// The sessions (client endpoint and start time, at most a few) each
    /// ephemeral public value was seen in, and whether it was finite-field DH.
    /// The same session read twice (one capture given twice) is not reuse.
    public_values: HashMap<String, (Vec<(IpAddr, u16, i64)>, bool)>,
    /// Findings the server could have avoided (party server or both), by rule.
    pub findings: BTreeMap<&'static str, FindingCount>,
    pub compliant: bool,
}

impl Service {
    pub fn distinct_clients(&self) -> usize {
        self.clients.len()
    }

    pub fn worst(&self) -> Option<Severity> {
        self.findings.values().map(|f| f.severity).max()
    }
}

/// A client whose own offers broke the rules.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: IpAddr,
    pub sessions: u64,
    pub findings: BTreeMap<&'static str, FindingCount>,
}

/// Services and clients over a whole run.
#[derive(Debug, Default)]
pub struct Inventory {
    services: HashMap<(IpAddr, u16), Service>,
    clients: HashMap<IpAddr, Client>,
    /// Sessions not counted because the service table was full.
    pub services_dropped: u64,
    pub clients_dropped: u64,
}

fn add_finding(
    map: &mut BTreeMap<&'static str, FindingCount>,
    rule: &'static str,
    severity: Severity,
    message: &str,
    at: i64,
) {
    map.entry(rule)
        .and_modify(|f| {
            f.count += 1;
            f.severity = f.severity.max(severity);
            if (at, message) < (f.example_at, f.example.as_str()) {
                f.example = message.to_string();
                f.example_at = at;
            }
        })
        .or_insert_with(|| FindingCount { rule, severity, count: 1, example: message.to_string(), example_at: at });
}

/// Adds to a capped set; when full, keeps the smallest values, so that the
/// set does not depend on the order sessions arrive in.
fn insert_capped<T: Ord>(set: &mut BTreeSet<T>, value: T, cap: usize) {
    if set.len() < cap {
        set.insert(value);
    } else if set.last().is_some_and(|largest| value < *largest) && set.insert(value) {
        set.pop_last();
    }
}

impl Inventory {
    /// Counts one judged session.
    pub fn add(&mut self, j: &Judged, failing: Severity) {
        let f = &j.facts;
        let key = (f.server.ip, f.server.port);
        if !self.services.contains_key(&key) && self.services.len() >= MAX_SERVICES {
            self.services_dropped += 1;
        } else {
            let s = self.services.entry(key).or_insert_with(|| Service {
                ip: f.server.ip,
                port: f.server.port,
                sessions: 0,
                versions: BTreeMap::new(),
                ciphers: BTreeMap::new(),
                server_names: BTreeSet::new(),
                certificates: BTreeSet::new(),
                clients: HashSet::new(),
                clients_overflow: false,
                public_values: HashMap::new(),
                first_seen: f.first_seen,
                last_seen: f.last_seen,
                findings: BTreeMap::new(),
                compliant: true,
            });
            s.sessions += 1;
            s.first_seen = s.first_seen.min(f.first_seen);
            s.last_seen = s.last_seen.max(f.last_seen);
            if let Some(v) = f.version() {
                *s.versions.entry(version_name(v).map(str::to_string).unwrap_or_else(|| format!("0x{v:04X}"))).or_insert(0) += 1;
            }
            if let Some(sh) = &f.server_hello {
                *s.ciphers.entry(cipher_name(sh.cipher).into_owned()).or_insert(0) += 1;
            }
            if let Some(sni) = f.client_hello.as_ref().and_then(|c| c.server_name.as_ref()) {
                insert_capped(&mut s.server_names, String::from_utf8_lossy(sni).into_owned(), MAX_NAMES);
            }
            if let Some(leaf) = f.server_certificates.first() {
                insert_capped(&mut s.certificates, leaf.sha256.clone(), MAX_CERTS);
            }
            if let Some(public) = f.server_public() {
                let ffdh = f.key_exchange.as_ref().is_some_and(|k| k.dh_bits.is_some())
                    || f.group().is_some_and(|g| (0x0100..=0x01FF).contains(&g));
                let session = (f.client.ip, f.client.port, f.first_seen);
                if let Some((sessions, _)) = s.public_values.get_mut(public) {
                    if sessions.len() < 8 && !sessions.contains(&session) {
                        sessions.push(session);
                    }
                } else if s.public_values.len() < MAX_PUBLIC_VALUES {
                    s.public_values.insert(public.to_string(), (vec![session], ffdh));
                }
            }
            if s.clients.len() < MAX_CLIENTS_PER_SERVICE {
                s.clients.insert(f.client.ip);
            } else if !s.clients.contains(&f.client.ip) {
                s.clients_overflow = true;
            }
            // A service answers for what it negotiated, whoever could have
            // avoided it; a handshake it refused, or what a client merely
            // offered, is not held against it.
            let negotiated = f.version().is_some();
            let counts_for_service =
                |x: &&crate::policy::Finding| x.party != Party::Client || (negotiated && !CLIENT_OFFER_RULES.contains(&x.rule));
            for x in j.verdict.findings.iter().filter(counts_for_service) {
                add_finding(&mut s.findings, x.rule, x.severity, &x.message, f.first_seen);
                if x.severity >= failing {
                    s.compliant = false;
                }
            }
        }
        let client_findings: Vec<_> = j.verdict.findings.iter().filter(|x| x.party == Party::Client).collect();
        if client_findings.is_empty() {
            return;
        }
        if !self.clients.contains_key(&f.client.ip) && self.clients.len() >= MAX_CLIENTS {
            self.clients_dropped += 1;
            return;
        }
        let c = self.clients.entry(f.client.ip).or_insert_with(|| Client { ip: f.client.ip, sessions: 0, findings: BTreeMap::new() });
        c.sessions += 1;
        for x in client_findings {
            add_finding(&mut c.findings, x.rule, x.severity, &x.message, f.first_seen);
        }
    }

    /// Judges what only shows across sessions: the same ephemeral public
    /// value used again (kex.dh_reuse). Call once, after the last session.
    pub fn finish(&mut self, profile: &crate::policy::Profile) {
        for s in self.services.values_mut() {
            let reused: Vec<(u64, bool)> = s
                .public_values
                .values()
                .filter(|(sessions, _)| sessions.len() > 1)
                .map(|(sessions, ffdh)| (sessions.len() as u64, *ffdh))
                .collect();
            if reused.is_empty() {
                continue;
            }
            let sessions: u64 = reused.iter().map(|(n, _)| n).sum();
            let ffdh = reused.iter().any(|(_, ff)| *ff);
            let Some(severity) = profile.severity("kex.dh_reuse", usize::from(!ffdh)) else { continue };
            let kind = if ffdh { "finite-field DH" } else { "elliptic-curve DH" };
            let message = format!(
                "{} {kind} public value(s) used in {sessions} sessions instead of a fresh one each time",
                reused.len()
            );
            s.findings.insert("kex.dh_reuse", FindingCount { rule: "kex.dh_reuse", severity, count: sessions, example: message, example_at: 0 });
            if severity >= profile.failing {
                s.compliant = false;
            }
        }
    }

    /// Services, worst first (then busiest first, then by address).
    pub fn services(&self) -> Vec<&Service> {
        let mut v: Vec<&Service> = self.services.values().collect();
        v.sort_by(|a, b| {
            a.compliant
                .cmp(&b.compliant)
                .then(b.worst().cmp(&a.worst()))
                .then(b.sessions.cmp(&a.sessions))
                .then((a.ip, a.port).cmp(&(b.ip, b.port)))
        });
        v
    }

    /// Clients with findings at or above `failing`, worst first.
    pub fn failing_clients(&self, failing: Severity) -> Vec<&Client> {
        let worst = |c: &Client| c.findings.values().map(|f| f.severity).max();
        let mut v: Vec<&Client> =
            self.clients.values().filter(|c| worst(c).is_some_and(|w| w >= failing)).collect();
        v.sort_by(|a, b| worst(b).cmp(&worst(a)).then(b.sessions.cmp(&a.sessions)).then(a.ip.cmp(&b.ip)));
        v
    }
}
