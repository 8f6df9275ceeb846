//! Custom policy files (TOML): start from a built-in profile, turn rules on
//! or off, change severities, extend allow-lists, and grant exceptions for a
//! rule on the sessions they select (server IP or CIDR and port, client IP or
//! CIDR, server name exact or `*.domain`), with a justification and an
//! expiry date. Every error names the file and, where it can, the line.
//!
//! ```toml
//! base = "hipaa"
//! failing = "medium"
//!
//! [rules]
//! "cipher.cbc" = "off"
//! "proto.tls11" = "high"
//!
//! [allow]
//! suites = ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "0xC027"]
//! groups = ["x25519"]
//!
//! [[exception]]
//! server = "10.20.0.0/16"
//! port = 443
//! rule = "proto.tls10"
//! justification = "legacy PACS, replacement ordered (change 4711)"
//! expires = "2027-03-31"
//!
//! [[exception]]
//! client = "10.30.4.0/24"
//! sni = "*.lab.example.org"
//! rule = "cipher.cbc"
//! justification = "analysers in the lab network; vendor fix due in Q2"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::exception::{Exception, NamePattern, Network};
use super::profile::Profile;
use super::rules::RuleId;
use super::Severity;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    base: Option<String>,
    failing: Option<String>,
    #[serde(default)]
    rules: BTreeMap<String, String>,
    #[serde(default)]
    allow: Allow,
    #[serde(default, rename = "exception")]
    exceptions: Vec<ExceptionEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Allow {
    #[serde(default)]
    suites: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExceptionEntry {
    server: Option<toml::Spanned<String>>,
    port: Option<u16>,
    client: Option<toml::Spanned<String>>,
    sni: Option<toml::Spanned<String>>,
    rule: toml::Spanned<String>,
    justification: String,
    expires: Option<toml::Spanned<String>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

/// The line where `needle` first appears, for errors about values serde does not locate.
fn line_with(text: &str, needle: &str) -> usize {
    text.find(needle).map(|o| line_of(text, o)).unwrap_or(1)
}

fn parse_suite(s: &str) -> Option<u16> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u16::from_str_radix(hex, 16).ok();
    }
    tls_parser::TlsCipherSuite::from_name(s).map(|c| c.id.0)
}

fn parse_group(s: &str) -> Option<u16> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u16::from_str_radix(hex, 16).ok();
    }
    (0..=u16::MAX).find(|g| crate::tls::names::group_name(*g).eq_ignore_ascii_case(s) && !crate::tls::names::group_name(*g).starts_with("0x"))
}

/// The end of a date (YYYY-MM-DD) in Unix seconds, UTC.
fn end_of_day(date: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(date, &format).ok()?;
    Some(day.midnight().assume_utc().unix_timestamp() + 86_399)
}

/// Reads a policy file; `default_base` is used when the file names no base.
pub fn load(path: &Path, default_base: &str) -> Result<Profile, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read the policy file: {e}"))?;
    let file: PolicyFile = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| line_of(&text, s.start)).unwrap_or(1);
        format!("{shown}:{line}: {}", e.message().trim().replace('\n', "; "))
    })?;
    let base = file.base.as_deref().unwrap_or(default_base);
    let mut profile = Profile::builtin(base).ok_or_else(|| {
        format!(
            "{shown}:{}: unknown base profile {base:?}; one of {}",
            line_with(&text, "base"),
            Profile::builtin_names().join(", ")
        )
    })?;
    profile.name = format!("{base}+{}", path.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default());
    if let Some(f) = &file.failing {
        profile.failing = Severity::from_name(f)
            .ok_or_else(|| format!("{shown}:{}: unknown severity {f:?} (info, low, medium, high, critical)", line_with(&text, "failing")))?;
    }
    for (rule, value) in &file.rules {
        let line = line_with(&text, rule);
        let severity = match value.to_ascii_lowercase().as_str() {
            "off" => None,
            other => Some(Severity::from_name(other).ok_or_else(|| {
                format!("{shown}:{line}: rule {rule}: unknown severity {value:?} (off, info, low, medium, high, critical)")
            })?),
        };
        let id = RuleId::parse(rule).map_err(|e| format!("{shown}:{line}: {e}"))?;
        profile.set_severity(id, severity);
    }
    for s in &file.allow.suites {
        let id = parse_suite(s)
            .ok_or_else(|| format!("{shown}:{}: unknown cipher suite {s:?} (an IANA name or 0xHHHH)", line_with(&text, s)))?;
        match profile.allowed_suites.as_mut() {
            Some(list) => list.push(id),
            None => profile.allowed_suites = None, // no closed list: every suite is judged by its properties
        }
    }
    for g in &file.allow.groups {
        let id = parse_group(g)
            .ok_or_else(|| format!("{shown}:{}: unknown group {g:?} (a name such as x25519, or 0xHHHH)", line_with(&text, g)))?;
        profile.groups.push(id);
    }
    for e in &file.exceptions {
        profile.exceptions.push(exception(e, &text, &shown.to_string())?);
    }
    Ok(profile)
}

/// One `[[exception]]` table, its selectors checked.
fn exception(e: &ExceptionEntry, text: &str, shown: &str) -> Result<Exception, String> {
    let rule_line = line_of(text, e.rule.span().start);
    let network = |field: &str, value: &toml::Spanned<String>| {
        Network::parse(value.get_ref()).ok_or_else(|| {
            format!("{shown}:{}: {field} {:?} is not an IP address or CIDR network", line_of(text, value.span().start), value.get_ref())
        })
    };
    let server = e.server.as_ref().map(|v| network("server", v)).transpose()?;
    let client = e.client.as_ref().map(|v| network("client", v)).transpose()?;
    let server_name = match &e.sni {
        Some(v) => Some(NamePattern::parse(v.get_ref()).ok_or_else(|| {
            format!(
                "{shown}:{}: sni {:?} is not a host name or *.domain",
                line_of(text, v.span().start),
                v.get_ref()
            )
        })?),
        None => None,
    };
    if server.is_none() && client.is_none() && server_name.is_none() {
        return Err(format!(
            "{shown}:{rule_line}: the exception selects no sessions: give server, client or sni \
             (to turn {} off everywhere, set it to \"off\" under [rules])",
            e.rule.get_ref()
        ));
    }
    let rule = RuleId::parse(e.rule.get_ref()).map_err(|err| format!("{shown}:{rule_line}: {err}"))?;
    let expires = match &e.expires {
        Some(d) => Some(end_of_day(d.get_ref()).ok_or_else(|| {
            format!("{shown}:{}: expiry {:?} is not a date (YYYY-MM-DD)", line_of(text, d.span().start), d.get_ref())
        })?),
        None => None,
    };
    let mut selects = Vec::new();
    if let Some(v) = &e.server {
        selects.push(format!("server {}", v.get_ref()));
    }
    if let Some(p) = e.port {
        selects.push(format!("port {p}"));
    }
    if let Some(v) = &e.client {
        selects.push(format!("client {}", v.get_ref()));
    }
    if let Some(v) = &e.sni {
        selects.push(format!("sni {}", v.get_ref()));
    }
    // The table's first key is the line people look for.
    let first = [e.server.as_ref(), e.client.as_ref(), e.sni.as_ref()]
        .into_iter()
        .flatten()
        .map(|v| line_of(text, v.span().start))
        .fold(rule_line, usize::min);
    Ok(Exception {
        server,
        port: e.port,
        client,
        server_name,
        rule,
        justification: e.justification.clone(),
        expires,
        expires_text: e.expires.as_ref().map(|d| d.get_ref().clone()),
        selects: selects.join(", "),
        line: first,
    })
}

/// The end of a date given on the command line (`--as-of`), in Unix seconds.
pub fn as_of(date: &str) -> Result<i64, String> {
    end_of_day(date).ok_or_else(|| format!("--as-of {date:?} is not a date (YYYY-MM-DD)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_end_at_midnight_utc() {
        assert_eq!(end_of_day("2021-01-01"), Some(1_609_545_599));
        assert_eq!(end_of_day("2021-02-30"), None);
    }
}
