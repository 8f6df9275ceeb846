//! The rules for sessions without TLS: health-data protocols, logins,
//! HTTP, upgrades to TLS that were not offered or not used, and SMB without
//! its own encryption. Each weakness is one finding; a protocol in clear
//! with nothing more specific found is still one. A session encrypted by
//! its protocol (SMB 3) has nothing to answer for.

use super::judge::Judge;
use super::rules::RuleId;
use super::Party;
use crate::cleartext::ClearTextFacts;

pub(super) fn judge(j: &mut Judge<'_>, c: &ClearTextFacts) {
    if !c.in_clear() {
        return;
    }
    if let Some(t) = c.hl7_message_type {
        j.flag(RuleId::PlaintextPhiProtocol, Party::Both, format!("HL7 {} message over MLLP without TLS", t.as_str()));
    }
    if let Some(d) = c.dicom {
        let ae = |t: Option<crate::cleartext::ShortText>| t.map_or("?".to_string(), |t| t.as_str().to_string());
        let service = d.service.map(|s| format!(" for {s}")).unwrap_or_default();
        let command = d.command.map(|c| format!("{c} ")).unwrap_or_default();
        let message = format!("DICOM {command}association {} to {}{service} without TLS", ae(d.calling_ae), ae(d.called_ae));
        j.flag(RuleId::PlaintextPhiProtocol, Party::Both, message);
    }
    if let Some(h) = c.http {
        if h.fhir {
            j.flag(RuleId::PlaintextPhiProtocol, Party::Both, format!("FHIR request ({}) over plain HTTP", h.method));
        } else if !h.pki {
            j.flag(RuleId::PlaintextHttp, Party::Server, format!("HTTP request ({}) without TLS", h.method));
        }
        // OCSP, CRL and CA certificate fetches travel over HTTP by design:
        // signed, public objects. Nothing to hold against anyone.
    }
    if let Some(how) = c.credentials {
        j.flag(RuleId::PlaintextCredentials, Party::Both, format!("credentials sent in clear ({how})"));
    }
    match c.upgrade_offered {
        Some(false) => j.flag(RuleId::StarttlsNotOffered, Party::Server, format!("{}: the server did not offer TLS", c.protocol)),
        Some(true) => j.flag(RuleId::StarttlsNotUsed, Party::Client, format!("{}: TLS was offered and not used", c.protocol)),
        None => {}
    }
    if let Some(smb) = c.smb {
        let dialect = smb.dialect_name().unwrap_or("?");
        let message = match smb.plain_operation {
            Some(op) => format!("SMB {dialect} without encryption: file operations in clear ({op})"),
            None => format!("SMB {dialect} without encryption: the dialect cannot encrypt"),
        };
        j.flag(RuleId::PlaintextProtocol, Party::Server, message);
        return;
    }
    let specific = c.carries_phi() || c.http.is_some() || c.credentials.is_some() || c.upgrade_offered.is_some();
    if !specific {
        j.flag(RuleId::PlaintextProtocol, Party::Both, format!("{} without TLS", c.protocol));
    }
}
