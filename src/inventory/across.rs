//! What the policy judges across a service's sessions once the last one is
//! in: the same ephemeral public value used again, an upgrade offer that
//! went missing, a service the asset list does not know.

use super::{ExemptedCount, FindingCount, Inventory, Service};
use crate::policy::service::{self, KeyReuse};
use crate::policy::{Exempted, Finding, Profile, Severity};

impl Inventory {
    /// Has the policy judge what only shows across sessions: the same
    /// ephemeral public value used again, an upgrade offer gone missing.
    /// Call once, after the last session.
    ///
    /// Returns the severity of the worst finding it added.
    pub fn finish(&mut self, profile: &Profile) -> Option<Severity> {
        let mut worst = None;
        for s in self.services.values_mut() {
            // Written once per service at the end: not charged, they replace nothing.
            let stripped = service::starttls_stripped(&s.upgrade_offers, s.ip, s.port, profile);
            let (missing, last_missing) = (s.upgrade_offers.missing, s.upgrade_offers.last_missing);
            worst = worst.max(settle(s, stripped, missing, last_missing, profile));
            let protocols = || s.protocols.keys().copied().collect::<Vec<_>>().join(", ");
            let unlisted = service::unlisted_service(s.ip, s.port, s.transport.as_str(), protocols, profile);
            let (sessions, first) = (s.sessions, s.first_seen);
            worst = worst.max(settle(s, unlisted, sessions, first, profile));
            let reused: Vec<(u64, bool)> = s
                .public_values
                .values()
                .filter(|used| used.sessions() > 1)
                .map(|used| (used.sessions() as u64, used.finite_field))
                .collect();
            if reused.is_empty() {
                continue;
            }
            let reuse = KeyReuse {
                values: reused.len(),
                sessions: reused.iter().map(|(n, _)| n).sum(),
                finite_field: reused.iter().any(|(_, ff)| *ff),
            };
            let reused = service::key_reuse(&reuse, profile).map(Ok);
            worst = worst.max(settle(s, reused, reuse.sessions, 0, profile));
        }
        worst
    }
}

/// Writes a finding judged across a service's sessions, or its exemption;
/// the severity of a finding written.
fn settle(s: &mut Service, judged: Option<Result<Finding, Exempted>>, count: u64, at: i64, profile: &Profile) -> Option<Severity> {
    match judged? {
        Ok(finding) => {
            s.failed |= profile.fails(finding.severity);
            let severity = finding.severity;
            let count = FindingCount { rule: finding.rule, severity, count, example: finding.message, example_json: finding.message_json, example_at: at };
            s.findings.insert(count.rule, count);
            Some(severity)
        }
        Err(x) => {
            let count = ExemptedCount { rule: x.finding.rule, severity: x.finding.severity, count, justification: x.justification, expires: x.expires };
            s.exempted.insert(count.rule, count);
            None
        }
    }
}
