//! The certificate rules of one session: the leaf's key, the signatures
//! of the chain, validity at the time of the session, the path to a trust
//! anchor, subjectAltName, key usage, revocation information and the host
//! name the client asked for.

use std::net::IpAddr;

use super::judge::{Judge, SECONDS_PER_DAY};
use super::profile::CertKeys;
use super::rules::RuleId;
use super::Party;
use crate::cert::trust::ChainStatus;
use crate::cert::CertificateFacts;
use crate::tls::facts::SessionFacts;

/// DNS name matching of RFC 6125 §6.4: case-insensitive, a wildcard only as
/// the whole left-most label, matching exactly one label.
pub fn name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(rest) => match host.split_once('.') {
            Some((first, host_rest)) => !first.is_empty() && host_rest == rest && rest.contains('.'),
            None => false,
        },
        None => pattern == host,
    }
}

/// The leaf certificate's validity at the time of the session: judged for
/// every session, never remembered.
pub(super) fn validity(j: &mut Judge<'_>, f: &SessionFacts) {
    let Some(leaf) = f.server_certificates.first() else { return };
    let now = f.first_seen.div_euclid(1_000_000);
    let date = crate::util::rfc3339::Rfc3339Secs;
    if leaf.not_after < now {
        j.flag(RuleId::CertExpired, Party::Server, format!("the certificate expired on {} ({} days before the session)", date(leaf.not_after), (now - leaf.not_after) / SECONDS_PER_DAY));
    } else if leaf.not_before > now {
        j.flag(RuleId::CertNotYetValid, Party::Server, format!("the certificate is valid only from {}", date(leaf.not_before)));
    } else if leaf.not_after - now < j.profile.thresholds.cert_expiry_warn_days * SECONDS_PER_DAY {
        j.flag(RuleId::CertExpiringSoon, Party::Server, format!("the certificate expires on {} ({} days after the session)", date(leaf.not_after), (leaf.not_after - now) / SECONDS_PER_DAY));
    }
}

/// The server's chain: keys, signatures, lifetime, trust, names.
pub(super) fn certificates(j: &mut Judge<'_>, f: &SessionFacts) {
    let chain = &f.server_certificates;
    let Some(leaf) = chain.first() else { return };
    key(j, leaf);
    for (i, c) in chain.iter().enumerate() {
        // A trust anchor's self-signature is never judged.
        if i > 0 && c.self_issued {
            continue;
        }
        let sig = c.signature_algorithm.to_ascii_lowercase();
        let who = if i == 0 { "the leaf certificate".to_string() } else { format!("chain certificate {} ({})", i, display_name(c)) };
        if sig.contains("md5") {
            j.flag(RuleId::CertSigMd5, Party::Server, format!("{who} is signed with {}", c.signature_algorithm));
        } else if sig.contains("sha1") || sig == "dsawithsha1" {
            j.flag(RuleId::CertSigSha1, Party::Server, format!("{who} is signed with {}", c.signature_algorithm));
        }
    }
    if let Some(max) = j.profile.thresholds.max_cert_lifetime_days {
        let days = (leaf.not_after - leaf.not_before) / SECONDS_PER_DAY;
        if days > max {
            j.flag(RuleId::CertLifetimeTooLong, Party::Server, format!("the certificate is valid for {days} days; the {} profile allows {max}", j.profile.name));
        }
    }
    match j.profile.trust.check(chain) {
        ChainStatus::Trusted | ChainStatus::LeafIsAnchor => {}
        ChainStatus::Untrusted(why) => {
            // A self-signed leaf that is no trust anchor is both: each
            // weakness is its own finding, so per-rule counts are true.
            if leaf.self_issued {
                j.flag(RuleId::CertSelfSigned, Party::Server, format!("the certificate of {} is self-signed", display_name(leaf)));
            }
            j.flag(RuleId::CertUntrustedChain, Party::Server, why);
        }
    }
    if leaf.dns_names.is_empty() && leaf.ip_addresses.is_empty() {
        j.flag(RuleId::CertNoSan, Party::Server, "the certificate has no subjectAltName".into());
    }
    let eku_ok = leaf.extended_key_usage.iter().any(|e| e == "serverAuth");
    let any_eku = leaf.extended_key_usage.iter().any(|e| e == "anyExtendedKeyUsage");
    if leaf.is_ca == Some(true) {
        j.flag(RuleId::CertEkuNotServerAuth, Party::Server, "the server's certificate is a CA certificate (CA:TRUE)".into());
    } else if any_eku {
        j.flag(RuleId::CertEkuNotServerAuth, Party::Server, "the certificate allows any extended key usage".into());
    } else if !eku_ok {
        let have = if leaf.extended_key_usage.is_empty() { "none".to_string() } else { leaf.extended_key_usage.join(", ") };
        j.flag(RuleId::CertEkuNotServerAuth, Party::Server, format!("the certificate's extended key usage lacks serverAuth (has {have})"));
    }
    let revocation_missing = if j.profile.revocation_needs_ocsp {
        leaf.ocsp_urls.is_empty()
    } else {
        leaf.ocsp_urls.is_empty() && leaf.crl_urls.is_empty()
    };
    if revocation_missing {
        let what = if j.profile.revocation_needs_ocsp { "no OCSP responder URL" } else { "neither an OCSP URL nor a CRL distribution point" };
        j.flag(RuleId::CertNoRevocationInfo, Party::Server, format!("the certificate has {what}"));
    }
    hostname(j, f, leaf);
}

fn display_name(c: &CertificateFacts) -> String {
    let name = c.subject_cn.clone().unwrap_or_else(|| c.subject_dn.clone());
    crate::util::escape::escape_terminal(name.as_bytes())
}

fn key(j: &mut Judge<'_>, leaf: &CertificateFacts) {
    let bits = leaf.public_key_bits;
    let limits = j.profile.thresholds;
    match leaf.public_key_algorithm.as_str() {
        "RSA" if bits < limits.critical_rsa_bits => j.flag_critical(RuleId::CertRsaLt2048, Party::Server, format!("RSA key of {bits} bits")),
        "RSA" if bits < limits.min_rsa_bits => j.flag(RuleId::CertRsaLt2048, Party::Server, format!("RSA key of {bits} bits")),
        "EC" if bits < limits.min_ec_key_bits => j.flag(RuleId::CertEcLt224, Party::Server, format!("EC key of {bits} bits")),
        _ => {}
    }
    let curve = leaf.public_key_curve.as_deref();
    let p256_p384 = leaf.public_key_algorithm == "EC" && matches!(curve, Some("secp256r1" | "secp384r1"));
    let rsa = leaf.public_key_algorithm == "RSA";
    let listed = match j.profile.cert_keys {
        CertKeys::Any => true,
        CertKeys::Rsa => rsa,
        CertKeys::EcdsaP256P384 => p256_p384,
        CertKeys::RsaOrEcdsaP256P384 => rsa || p256_p384,
    };
    if !listed {
        let what = match curve {
            Some(c) => format!("{} key on {c}", leaf.public_key_algorithm),
            None => format!("{} key", leaf.public_key_algorithm),
        };
        j.flag(RuleId::CertKeyNotListed, Party::Server, format!("{what}, which the {} profile does not list", j.profile.name));
    }
}

fn hostname(j: &mut Judge<'_>, f: &SessionFacts, leaf: &CertificateFacts) {
    // Without SNI only an IP address name can be checked: `address`.
    let Some(raw) = f.client_hello.as_ref().and_then(|c| c.server_name.as_ref()) else { return };
    let Ok(name) = std::str::from_utf8(raw) else {
        j.flag(RuleId::CertHostnameMismatch, Party::Server, "the SNI is not a valid host name".into());
        return;
    };
    let names: Vec<&str> = if leaf.dns_names.is_empty() {
        leaf.subject_cn.as_deref().into_iter().collect()
    } else {
        leaf.dns_names.iter().map(String::as_str).collect()
    };
    let ip_match = name.parse::<IpAddr>().is_ok_and(|ip| leaf.ip_addresses.iter().any(|a| a.parse::<IpAddr>().ok() == Some(ip)));
    if !ip_match && !names.iter().any(|p| name_matches(p, name)) {
        j.flag(
            RuleId::CertHostnameMismatch,
            Party::Server,
            format!(
                "the client asked for {} but the certificate names {}",
                crate::util::escape::escape_terminal(name.as_bytes()),
                if names.is_empty() { "nothing".to_string() } else { crate::util::escape::escape_terminal(names.join(", ").as_bytes()) }
            ),
        );
    }
}

/// Without SNI, whether a leaf certificate that names only IP addresses
/// names the server's: judged for every session, since it reads the
/// server's address.
pub(super) fn address(j: &mut Judge<'_>, f: &SessionFacts) {
    let Some(leaf) = f.server_certificates.first() else { return };
    if f.client_hello.as_ref().is_some_and(|ch| ch.server_name.is_some()) {
        return;
    }
    if !leaf.ip_addresses.is_empty() && leaf.dns_names.is_empty() {
        let server = f.server.ip;
        if !leaf.ip_addresses.iter().any(|a| a.parse::<IpAddr>().ok() == Some(server)) {
            j.flag(RuleId::CertHostnameMismatch, Party::Server, format!("the certificate does not name the server's address {server}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_one_left_most_label() {
        assert!(name_matches("*.example.com", "www.example.com"));
        assert!(name_matches("*.Example.com", "WWW.example.COM."));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.com", "example.com"));
        assert!(!name_matches("w*.example.com", "www.example.com"));
        assert!(name_matches("tlsaudit.test", "tlsaudit.test"));
    }
}
