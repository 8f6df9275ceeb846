//! Judgements about a service rather than one session: which of a session's
//! findings a service answers for, and what only shows across its sessions:
//! the same ephemeral (EC)DH public value used again (`kex.dh_reuse`), and
//! an upgrade to TLS offered in some sessions and missing in later ones
//! (`starttls.stripped`). The inventory gathers the facts and asks here.

use std::net::IpAddr;

use super::exception::Subject;
use super::rules::RuleId;
use super::{Assessment, Exempted, Finding, Party, Profile};

/// Rules about what a client offered, never a service's doing.
const CLIENT_OFFER_RULES: &[RuleId] = &[
    RuleId::ProtoSslv2Hello,
    RuleId::CipherClientOffersWeak,
    RuleId::ExtEarlyData,
    RuleId::ExtNoSigAlgs,
    RuleId::ExtSigAlgsSha1,
    RuleId::ExtNoSni,
];

/// Rules judged across a service's sessions, never in one session: their
/// findings exist only on the service.
pub const JUDGED_PER_SERVICE: &[RuleId] = &[RuleId::KexDhReuse, RuleId::StarttlsStripped, RuleId::InventoryUnlistedService];

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
    let message = format!("{} {kind} public value(s) used in {} sessions instead of a fresh one each time", reuse.values, reuse.sessions);
    Some(Finding::new(RuleId::KexDhReuse, severity, Party::Server, message))
}

/// A service's offers of its protocol's upgrade to TLS, across sessions:
/// those that showed the offer (a STARTTLS session whose server named it, a
/// session in clear whose server did) and those whose server's
/// capabilities showed none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpgradeOffers {
    pub protocol: &'static str,
    pub offered: u64,
    /// Start of the earliest session with the offer.
    pub first_offered: i64,
    pub missing: u64,
    /// Start of the latest session without it, and its client.
    pub last_missing: i64,
    pub last_missing_client: Option<IpAddr>,
}

impl UpgradeOffers {
    /// Counts one session: `offered` whether its server offered the upgrade.
    pub fn count(&mut self, protocol: &'static str, offered: bool, at: i64, client: IpAddr) {
        self.protocol = protocol;
        if offered {
            self.first_offered = if self.offered == 0 { at } else { self.first_offered.min(at) };
            self.offered += 1;
        } else {
            if self.missing == 0 || at >= self.last_missing {
                self.last_missing = at;
                self.last_missing_client = Some(client);
            }
            self.missing += 1;
        }
    }
}

/// The `starttls.stripped` finding of a service whose offer went missing
/// in a session after one that had it (an attacker on the path may have
/// taken it out, or a server behind the same address lacks it), unless the
/// profile turns the rule off; set aside when an exception in force covers
/// the service and the client of the latest such session.
pub fn starttls_stripped(offers: &UpgradeOffers, server: IpAddr, port: u16, profile: &Profile) -> Option<Result<Finding, Exempted>> {
    let client = offers.last_missing_client?;
    if offers.offered == 0 || offers.last_missing <= offers.first_offered {
        return None;
    }
    let severity = profile.severity(RuleId::StarttlsStripped, 0)?;
    let message = format!(
        "{}: the upgrade to TLS was offered in {} and missing from {}, the latest after the first offer: it may have been stripped on the path",
        offers.protocol,
        plural(offers.offered, "session"),
        plural(offers.missing, "session")
    );
    let finding = Finding::new(RuleId::StarttlsStripped, severity, Party::Both, message);
    Some(set_aside(finding, &Subject { server, port, client, server_name: None }, profile))
}

/// The finding, or its exemption when an exception in force covers the subject.
fn set_aside(finding: Finding, subject: &Subject<'_>, profile: &Profile) -> Result<Finding, Exempted> {
    let now = profile.now();
    match profile.exceptions.iter().find(|e| e.covers(subject, finding.rule) && !e.expired_at(now)) {
        Some(e) => Err(Exempted { finding, justification: e.justification.clone(), expires: e.expires_text.clone() }),
        None => Ok(finding),
    }
}

/// The `inventory.unlisted_service` finding of a service on the home
/// network that no row of the asset file lists (judged only with an asset
/// file); `protocols` names what it spoke, asked for only when there is a
/// finding. An exception selects it by the server and port (the client is
/// taken to be the server itself).
pub fn unlisted_service(
    server: IpAddr,
    port: u16,
    transport: &str,
    protocols: impl FnOnce() -> String,
    profile: &Profile,
) -> Option<Result<Finding, Exempted>> {
    let assets = &profile.assets;
    if !assets.judged() || !assets.internal(server) || assets.approves(server, port, transport) {
        return None;
    }
    let severity = profile.severity(RuleId::InventoryUnlistedService, 0)?;
    let group = assets.group_of(server).map(|a| format!(" (in {})", a.name)).unwrap_or_default();
    let message = format!("{} on {port}/{transport} of an internal address{group} that the asset file does not list", protocols());
    let finding = Finding::new(RuleId::InventoryUnlistedService, severity, Party::Server, message);
    Some(set_aside(finding, &Subject { server, port, client: server, server_name: None }, profile))
}

fn plural(n: u64, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

/// What a whole run found, as a verdict: non-compliant when any session,
/// service or client failed; not assessed when no session could be judged
/// or an input could not be read (what it held was not seen); otherwise
/// compliant.
pub fn run_assessment(failed: bool, sessions_judged: u64, inputs_unreadable: usize) -> Assessment {
    Assessment::of(failed, sessions_judged > 0 && inputs_unreadable == 0)
}
