//! The certificate inventory: every server leaf certificate of the run once,
//! soonest expiry first, with the services that served it; read by the CSV
//! table, the HTML report and the text report's certificate section
//! (`--certificates`).

use std::collections::BTreeMap;

use crate::inventory::{Inventory, LeafSummary, Service};
use crate::util::escape::escape_terminal;
use crate::util::rfc3339::rfc3339_micros;

const SECONDS_PER_DAY: i64 = 86_400;

/// One certificate and where it was served.
pub struct Served<'a> {
    /// Hex SHA-256 of the DER certificate.
    pub sha256: &'a str,
    pub leaf: &'a LeafSummary,
    /// "ip:port" of each service that served it, sorted.
    pub served_by: Vec<String>,
}

impl Served<'_> {
    /// Whole days from `now` (seconds since the epoch) to the end of
    /// validity, negative once expired.
    pub fn days_to_expiry(&self, now: i64) -> i64 {
        self.leaf.not_after.saturating_sub(now).div_euclid(SECONDS_PER_DAY)
    }
}

/// "ip:port", IPv6 addresses in brackets.
pub fn endpoint(s: &Service) -> String {
    crate::util::endpoint::address_port(s.ip, s.port)
}

/// Every leaf certificate once, soonest expiry first (ties by digest).
pub fn inventory(inventory: &Inventory) -> Vec<Served<'_>> {
    let mut by_digest: BTreeMap<&str, Served<'_>> = BTreeMap::new();
    for s in inventory.each_service() {
        for (hash, leaf) in &s.certificates {
            by_digest.entry(hash.as_str()).or_insert_with(|| Served { sha256: hash, leaf, served_by: Vec::new() }).served_by.push(endpoint(s));
        }
    }
    let mut all: Vec<Served<'_>> = by_digest.into_values().collect();
    all.iter_mut().for_each(|c| c.served_by.sort());
    all.sort_by(|a, b| a.leaf.not_after.cmp(&b.leaf.not_after).then(a.sha256.cmp(b.sha256)));
    all
}

/// The text report's certificate section: one block per certificate,
/// soonest expiry first, days counted from `now`.
pub fn text(inventory_: &Inventory, now: i64) -> String {
    let all = inventory(inventory_);
    if all.is_empty() {
        return "\nCertificates: none seen (TLS 1.3 encrypts them; sessions in clear have none).\n".to_string();
    }
    let as_of = &rfc3339_micros(now.saturating_mul(1_000_000))[..10];
    let mut out = format!("\nCertificates, soonest expiry first (days counted from {as_of}):\n");
    for c in &all {
        let days = c.days_to_expiry(now);
        let when = if days < 0 { format!("EXPIRED {} days ago", -days) } else { format!("{days} days left") };
        let l = c.leaf;
        out.push_str(&format!(
            "  {}  {when}, valid {} .. {}\n",
            escape_terminal(l.subject.as_bytes()),
            &rfc3339_micros(l.not_before.saturating_mul(1_000_000))[..10],
            &rfc3339_micros(l.not_after.saturating_mul(1_000_000))[..10],
        ));
        out.push_str(&format!("    issued by {}; {}, {}\n", escape_terminal(l.issuer.as_bytes()), escape_terminal(l.key.as_bytes()), escape_terminal(l.signature.as_bytes())));
        if !l.sans.is_empty() {
            let more = if l.sans_capped { " ..." } else { "" };
            let sans: Vec<String> = l.sans.iter().map(|n| escape_terminal(n.as_bytes())).collect();
            out.push_str(&format!("    names: {}{more}\n", sans.join(", ")));
        }
        out.push_str(&format!("    served by {}; sha256 {}\n", c.served_by.join(", "), c.sha256));
    }
    out
}
