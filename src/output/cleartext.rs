//! What a session without TLS showed: `tlsaudit.encrypted`, the
//! `tlsaudit.cleartext` object of a session that stayed in clear, and the
//! `tlsaudit.smb` object of an SMB session. Facts only; identifiers only
//! where the cleartext module took them character by character (the JSON
//! writer escapes them all the same).

use super::json_writer::JsonWriter;
use crate::cleartext::{ClearTextFacts, ShortText};

pub(super) fn detail(w: &mut JsonWriter<'_>, c: &ClearTextFacts) {
    // Absent when it could not be seen.
    w.field_opt("encrypted", c.encrypted());
    if let Some(smb) = c.smb {
        w.object("smb");
        w.field_opt("dialect", smb.dialect_name());
        w.field_opt("cipher", smb.cipher);
        w.field("encrypted_messages", &smb.encrypted_messages);
        w.field_opt("plain_operation", smb.plain_operation);
        w.close();
    }
    if c.in_clear() {
        in_clear(w, c);
    }
}

fn in_clear(w: &mut JsonWriter<'_>, c: &ClearTextFacts) {
    w.object("cleartext");
    w.field("seen", &c.seen());
    w.field_opt("credentials", c.credentials);
    w.field_opt("upgrade_offered", c.upgrade_offered);
    if c.message_sent {
        w.field("message_sent", &true);
    }
    if let Some(t) = c.hl7_message_type {
        w.object("hl7");
        w.field("message_type", t.as_str());
        w.close();
    }
    if let Some(d) = c.dicom {
        let text = |t: Option<ShortText>| t.map(|t| t.as_str().to_string());
        w.object("dicom");
        w.field_opt("calling_ae_title", text(d.calling_ae));
        w.field_opt("called_ae_title", text(d.called_ae));
        w.field_opt("service", d.service);
        w.field_opt("command", d.command);
        w.field_opt("answer", d.answer);
        w.close();
    }
    if let Some(v) = c.snmp_version {
        w.object("snmp");
        w.field("version", v.as_str());
        w.close();
    }
    if let Some(h) = c.http {
        w.object("http");
        w.field("method", h.method);
        w.field("fhir", &h.fhir);
        if h.pki {
            w.field("pki", &true);
        }
        w.close();
    }
    w.close();
}
