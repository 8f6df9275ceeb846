//! The collector of one session's findings: applies the profile's severity
//! to each rule flagged, and leaves out the rules the profile turns off.

use super::profile::Profile;
use super::rules::RuleId;
use super::{Finding, Party, Severity};

pub(super) const SECONDS_PER_DAY: i64 = 86_400;

/// Collects findings, applying the profile's severities.
pub(super) struct Judge<'a> {
    pub profile: &'a Profile,
    findings: Vec<Finding>,
}

impl<'a> Judge<'a> {
    pub(super) fn new(profile: &'a Profile) -> Judge<'a> {
        Judge { profile, findings: Vec::new() }
    }

    pub(super) fn into_findings(self) -> Vec<Finding> {
        self.findings
    }

    pub(super) fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Findings flagged for an earlier session with the same facts.
    pub(super) fn extend(&mut self, findings: impl IntoIterator<Item = Finding>) {
        self.findings.extend(findings);
    }

    pub(super) fn flag(&mut self, rule: RuleId, party: Party, message: String) {
        self.flag_variant(rule, 0, party, message);
    }

    pub(super) fn flag_variant(&mut self, rule: RuleId, variant: usize, party: Party, message: String) {
        if let Some(severity) = self.profile.severity(rule, variant) {
            self.findings.push(Finding::new(rule, severity, party, message));
        }
    }

    /// A finding whose severity rises to critical for the worst cases (e.g. a
    /// DH prime under the profile's critical size), unless the profile
    /// turned the rule off.
    pub(super) fn flag_critical(&mut self, rule: RuleId, party: Party, message: String) {
        if self.profile.severity(rule, 0).is_some() {
            self.findings.push(Finding::new(rule, Severity::Critical, party, message));
        }
    }
}
