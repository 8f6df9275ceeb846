//! Judgements about a service rather than one session: which of a session's
//! findings a service answers for, and what only shows across its sessions,
//! the same ephemeral (EC)DH public value used again (`kex.dh_reuse`). The
//! inventory gathers the facts and asks here.

use super::rules::RuleId;
use super::{Assessment, Finding, Party, Profile};

/// Rules about what a client offered, never a service's doing.
const CLIENT_OFFER_RULES: &[RuleId] = &[
    RuleId::ProtoSslv2Hello,
    RuleId::CipherClientOffersWeak,
    RuleId::ExtEarlyData,
    RuleId::ExtNoSigAlgs,
    RuleId::ExtSigAlgsSha1,
    RuleId::ExtNoSni,
];

/// Whether a session's finding counts against the server's service. A
/// service answers for what it negotiated, whoever could have avoided it; a
/// handshake it refused (`negotiated` false), or what a client merely
/// offered, is not held against it.
pub fn held_against_service(finding: &Finding, negotiated: bool) -> bool {
    finding.party != Party::Client || (negotiated && !CLIENT_OFFER_RULES.contains(&finding.rule))
}

/// Whether a finding is the client's own, to be listed under its address.
pub fn held_against_client(finding: &Finding) -> bool {
    finding.party == Party::Client
}

/// Ephemeral public values a service sent in more than one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyReuse {
    /// Distinct values seen in more than one session.
    pub values: usize,
    /// Sessions those values were seen in, together.
    pub sessions: u64,
    /// At least one of them was finite-field DH (the worse case).
    pub finite_field: bool,
}

/// The `kex.dh_reuse` finding for a service's reused values, unless the
/// profile turns the rule off.
pub fn key_reuse(reuse: &KeyReuse, profile: &Profile) -> Option<Finding> {
    let severity = profile.severity(RuleId::KexDhReuse, usize::from(!reuse.finite_field))?;
    let kind = if reuse.finite_field { "finite-field DH" } else { "elliptic-curve DH" };
    Some(Finding {
        rule: RuleId::KexDhReuse,
        severity,
        party: Party::Server,
        message: format!(
            "{} {kind} public value(s) used in {} sessions instead of a fresh one each time",
            reuse.values, reuse.sessions
        ),
    })
}

/// What a whole run found, as a verdict: non-compliant when any session,
/// service or client failed; not assessed when no session could be judged
/// or an input could not be read (what it held was not seen); otherwise
/// compliant.
pub fn run_assessment(failed: bool, sessions_judged: u64, inputs_unreadable: usize) -> Assessment {
    Assessment::of(failed, sessions_judged > 0 && inputs_unreadable == 0)
}
