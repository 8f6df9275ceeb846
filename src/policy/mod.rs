//! Compliance judgement: turns the facts of a session into findings under a
//! policy profile. Parsers produce facts; this module only reads them, so one
//! capture can be judged under any profile.

pub mod assets;
mod certificate;
pub mod change;
mod cleartext;
pub mod custom;
pub mod evaluate;
pub mod exception;
pub mod grade;
mod judge;
pub mod memo;
pub mod profile;
pub mod rules;
pub mod service;
pub mod suite;

use std::fmt;

pub use evaluate::{evaluate, evaluate_remembered};
pub use memo::VerdictMemo;
pub use profile::Profile;
pub use rules::RuleId;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Reads a severity letter of docs/COMPLIANCE.md's tables ('-' is none).
    pub fn from_letter(s: &str) -> Option<Severity> {
        match s {
            "I" => Some(Severity::Info),
            "L" => Some(Severity::Low),
            "M" => Some(Severity::Medium),
            "H" => Some(Severity::High),
            "C" => Some(Severity::Critical),
            _ => None,
        }
    }

    /// Reads a severity name as given on the command line or in a policy file.
    pub fn from_name(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "info" | "i" => Some(Severity::Info),
            "low" | "l" => Some(Severity::Low),
            "medium" | "m" => Some(Severity::Medium),
            "high" | "h" => Some(Severity::High),
            "critical" | "c" => Some(Severity::Critical),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who could have avoided a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Party {
    /// The server chose or sent the weak thing although the client offered better.
    Server,
    /// The client offered nothing better (or the server refused it).
    Client,
    /// Either side could have refused.
    Both,
}

impl Party {
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Server => "server",
            Party::Client => "client",
            Party::Both => "both",
        }
    }
}

/// One rule broken by one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: RuleId,
    pub severity: Severity,
    pub party: Party,
    /// The concrete values, e.g. "negotiated TLS_RSA_WITH_3DES_EDE_CBC_SHA: ...".
    /// Shared: a remembered verdict hands the same text to every session
    /// with the same facts.
    pub message: std::sync::Arc<str>,
    /// The message escaped for the inside of a JSON string, once, not in
    /// every record and alert that writes it (the same text as `message`
    /// when nothing needed escaping).
    pub message_json: std::sync::Arc<str>,
}

impl Finding {
    pub fn new(rule: RuleId, severity: Severity, party: Party, message: impl Into<std::sync::Arc<str>>) -> Finding {
        let message = message.into();
        let message_json = crate::util::json_escape::escaped(&message);
        Finding { rule, severity, party, message, message_json }
    }

    /// The bytes its message takes, its escaped copy included when there is one.
    pub fn text_bytes(&self) -> usize {
        crate::util::json_escape::text_and_escaped_bytes(&self.message, &self.message_json)
    }
}

/// A finding set aside by a policy exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exempted {
    pub finding: Finding,
    pub justification: String,
    pub expires: Option<String>,
}

/// What could be said of a session, a service or a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Assessment {
    /// A finding at or above the profile's failing severity.
    NonCompliant,
    /// Too little was seen to judge: no handshake got as far as the
    /// server's answer. Never counted as compliant.
    #[default]
    NotAssessed,
    /// Judged, and no finding at or above the failing severity.
    Compliant,
}

impl Assessment {
    /// The spelling of the output contract.
    pub fn as_str(self) -> &'static str {
        match self {
            Assessment::NonCompliant => "non_compliant",
            Assessment::NotAssessed => "not_assessed",
            Assessment::Compliant => "compliant",
        }
    }

    /// Non-compliant when something failed; otherwise not assessed unless
    /// something was judged.
    pub fn of(failed: bool, judged: bool) -> Assessment {
        match (failed, judged) {
            (true, _) => Assessment::NonCompliant,
            (false, false) => Assessment::NotAssessed,
            (false, true) => Assessment::Compliant,
        }
    }
}

impl fmt::Display for Assessment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Assessment::NonCompliant => "NON-COMPLIANT",
            Assessment::NotAssessed => "NOT ASSESSED",
            Assessment::Compliant => "COMPLIANT",
        })
    }
}

/// The judgement of one session.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub findings: Vec<Finding>,
    /// Findings an exception of the policy file set aside (they do not count).
    pub exempted: Vec<Exempted>,
    pub assessment: Assessment,
}

impl Verdict {
    /// Judged, and no finding at or above the profile's failing severity.
    pub fn is_compliant(&self) -> bool {
        self.assessment == Assessment::Compliant
    }

    /// The most severe finding's severity.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}
