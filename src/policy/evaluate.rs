//! The rules themselves: each reads the facts of one session and, when it is
//! broken, produces a finding with the concrete values and the party who could
//! have avoided it. Nothing here touches bytes.

use std::borrow::Cow;
use super::certificate;
use super::exception::Subject;
use super::judge::{Judge, SECONDS_PER_DAY};
use super::memo::VerdictMemo;
use super::profile::Profile;
use super::suite::{self, Cipher, KeyExchange, Mac, Mode, SuiteTraits};
use super::rules::RuleId;
use super::{Assessment, Exempted, Finding, Party, Verdict};
use crate::tls::facts::{Carrier, ClientHelloFacts, SessionFacts};
use crate::tls::names::{alert_description, group_name, is_tls13_draft, tls_equivalent, version_name, DTLS_PRE_STANDARD, TLS13_EARLY_DRAFT};

const TLS10: u16 = 0x0301;
const TLS12: u16 = 0x0303;
const TLS13: u16 = 0x0304;

/// A version as the messages name it. `v` is what the rules compare: for
/// a DTLS session, the TLS version its DTLS version is built on, named
/// back as the DTLS version.
fn described(f: &SessionFacts, v: u16) -> Cow<'static, str> {
    if f.carrier.dtls().is_none() {
        return described_version(v);
    }
    match v {
        0x0302 if f.version() == Some(DTLS_PRE_STANDARD) => "DTLS before RFC 4347 (0x0100)".into(),
        0x0302 => "DTLS 1.0".into(),
        0x0303 => "DTLS 1.2".into(),
        TLS13 => "DTLS 1.3".into(),
        v => described_version(v),
    }
}

/// A version as the messages name it; the common ones without allocating.
fn described_version(v: u16) -> Cow<'static, str> {
    match v {
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        _ => match version_name(v) {
            Some("2.0") => "SSL 2.0".into(),
            Some("3.0") => "SSL 3.0".into(),
            Some(_) if v == TLS13_EARLY_DRAFT => "TLS 1.3 (a draft before 16)".into(),
            Some(n) if is_tls13_draft(v) => format!("TLS {}", n.replace('-', " ")).into(),
            Some(n) => format!("TLS {n}").into(),
            None => format!("version 0x{v:04X}").into(),
        },
    }
}

/// The versions a client offered, highest first, without GREASE; a DTLS
/// version as the TLS version it is built on.
fn offered_versions(ch: &ClientHelloFacts) -> Vec<u16> {
    let mut v: Vec<u16> = ch.offered_versions().into_iter().map(tls_equivalent).collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v
}

fn max_offered(ch: &ClientHelloFacts) -> Option<u16> {
    offered_versions(ch).into_iter().filter(|v| *v != 0x0002).max().or(if ch.sslv2_format { Some(0x0002) } else { None })
}

/// The traits of the suites a client offered.
fn offered_suites(ch: &ClientHelloFacts) -> Vec<SuiteTraits> {
    let mut traits = Vec::with_capacity(ch.ciphers.len());
    traits.extend(ch.ciphers.iter().filter_map(|c| suite::traits(*c)));
    traits
}

/// Server, when the client offered a suite without the weakness; else client.
fn suite_party(offered: &[SuiteTraits], weak: impl Fn(&SuiteTraits) -> bool) -> Party {
    if offered.iter().any(|s| !weak(s)) {
        Party::Server
    } else {
        Party::Client
    }
}

/// Judges one session under a profile.
pub fn evaluate(f: &SessionFacts, profile: &Profile) -> Verdict {
    judge(f, profile, None)
}

/// Judges one session under a profile, taking the findings of the rules
/// that read neither the session's time nor its parties' addresses from
/// `memo` when an earlier session had the same facts (`memo` serves one
/// profile only).
pub fn evaluate_remembered(f: &SessionFacts, profile: &Profile, memo: &mut VerdictMemo) -> Verdict {
    judge(f, profile, Some(memo))
}

fn judge(f: &SessionFacts, profile: &Profile, memo: Option<&mut VerdictMemo>) -> Verdict {
    let mut j = Judge::new(profile);
    if let Some(c) = &f.cleartext {
        super::cleartext::judge(&mut j, c);
        return verdict(j, f, profile);
    }
    match memo {
        Some(memo) => memo.judge(&mut j, f, handshake),
        None => handshake(&mut j, f),
    }
    // What reads the session's time or the server's address: never
    // remembered.
    if certificates_judged(f) {
        certificate::validity(&mut j, f);
        certificate::address(&mut j, f);
    }
    verdict(j, f, profile)
}

/// Whether the server's certificates are judged: a chain was seen, and the
/// version sends it in clear (before TLS 1.3).
fn certificates_judged(f: &SessionFacts) -> bool {
    match f.version().map(tls_equivalent) {
        Some(v) => v < TLS13 && !is_tls13_draft(v) && !f.server_certificates.is_empty(),
        None => false,
    }
}

/// The rules of a TLS session that read neither its time nor its parties'
/// addresses.
fn handshake(j: &mut Judge<'_>, f: &SessionFacts) {
    // The traits of the suites the client offered, worked out once: three
    // groups of rules read them.
    let offered = f.client_hello.as_ref().map(offered_suites).unwrap_or_default();
    if let Some(ch) = &f.client_hello {
        client_offer(j, f, ch, &offered);
    }
    match f.version().map(tls_equivalent) {
        Some(v) => {
            protocol(j, f, v);
            if let Some(t) = f.server_hello.as_ref().and_then(|sh| suite::traits(sh.cipher)) {
                cipher_suite(j, &t, v, &offered);
                key_exchange(j, f, v);
                if v < TLS13 {
                    extensions(j, f, &t);
                }
            }
            if v >= TLS13 || is_tls13_draft(v) {
                let carried = match &f.carrier {
                    Carrier::Quic(_) => "QUIC (TLS 1.3)",
                    Carrier::Dtls(_) => "DTLS 1.3",
                    Carrier::Tcp | Carrier::Udp => "TLS 1.3",
                };
                j.flag(RuleId::CertNotObservable, Party::Both, format!("{carried}: the certificate is encrypted and was not judged"));
            } else if certificates_judged(f) {
                certificate::certificates(j, f);
            }
        }
        None => refused(j, f, &offered),
    }
    if let Some(p) = f.preamble.filter(|p| p.login_only) {
        let message = format!("{}: TLS protects the login only (the server's PRELOGIN answered encryption off); the session goes on in clear", p.protocol);
        j.flag(RuleId::PlaintextProtocol, Party::Server, message);
    }
}

/// The findings, less those an exception covers, and what they add up to.
fn verdict(j: Judge<'_>, f: &SessionFacts, profile: &Profile) -> Verdict {
    let (mut findings, exempted) = apply_exceptions(j.into_findings(), f, profile);
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(&b.rule)));
    let failed = findings.iter().any(|x| profile.fails(x.severity));
    let assessment = Assessment::of(failed, judged(f));
    Verdict { findings, exempted, assessment }
}

/// Whether a session got far enough to be judged: a session without TLS
/// when whether it was encrypted was seen (always, but for an SMB 3
/// session whose messages after the login were not seen); a handshake when
/// the server answered it, with a ServerHello or by refusing it with an
/// alert.
fn judged(f: &SessionFacts) -> bool {
    if let Some(c) = &f.cleartext {
        return c.encrypted().is_some();
    }
    let refused = f.client_hello.is_some() && f.alert.as_ref().is_some_and(|a| a.from == crate::tls::facts::Side::Server);
    f.version().is_some() || refused
}

/// Sets aside the findings an exception covers at the time of the session;
/// an exception that has expired no longer applies and is reported itself.
fn apply_exceptions(findings: Vec<Finding>, f: &SessionFacts, profile: &Profile) -> (Vec<Finding>, Vec<Exempted>) {
    if profile.exceptions.is_empty() {
        return (findings, Vec::new());
    }
    // Expiry is judged at the time of the run (or --as-of), not of the session.
    let now = profile.now();
    let subject = Subject {
        server: f.server.ip,
        port: f.server.port,
        client: f.client.ip,
        server_name: f.client_hello.as_ref().and_then(|c| c.server_name.as_deref()),
    };
    let mut kept = Vec::new();
    let mut exempted = Vec::new();
    let mut expired_notes = Vec::new();
    for finding in findings {
        let covering = profile.exceptions.iter().find(|e| e.covers(&subject, finding.rule));
        match covering {
            Some(e) if !e.expired_at(now) => exempted.push(Exempted {
                finding,
                justification: e.justification.clone(),
                expires: e.expires_text.clone(),
            }),
            Some(e) => {
                if let Some(severity) = profile.severity(RuleId::PolicyExceptionExpired, 0) {
                    let message = format!(
                        "the exception for {} on {} (policy file line {}) expired on {}: {}",
                        e.rule,
                        e.selects,
                        e.line,
                        e.expires_text.as_deref().unwrap_or("?"),
                        e.justification
                    );
                    expired_notes.push(Finding::new(RuleId::PolicyExceptionExpired, severity, Party::Server, message));
                }
                kept.push(finding);
            }
            None => kept.push(finding),
        }
    }
    kept.extend(expired_notes);
    (kept, exempted)
}

/// Rules about what the client offered, whatever the server answered.
fn client_offer(j: &mut Judge<'_>, f: &SessionFacts, ch: &ClientHelloFacts, offered: &[SuiteTraits]) {
    if ch.sslv2_format {
        j.flag(RuleId::ProtoSslv2Hello, Party::Client, "the ClientHello was sent in the SSLv2-compatible format".into());
    }
    let weak: Vec<String> = offered
        .iter()
        .filter(|s| s.no_encryption() || s.anonymous() || s.export() || matches!(s.cipher, Cipher::Des | Cipher::Rc4))
        .map(|s| s.name.to_string())
        .collect();
    if !weak.is_empty() {
        let shown: Vec<&str> = weak.iter().take(5).map(String::as_str).collect();
        let more = if weak.len() > 5 { format!(" and {} more", weak.len() - 5) } else { String::new() };
        j.flag(
            RuleId::CipherClientOffersWeak,
            Party::Client,
            format!("the client offers {} weak suites: {}{more}", weak.len(), shown.join(", ")),
        );
    }
    if ch.early_data || f.carrier.quic().is_some_and(|q| q.zero_rtt) {
        j.flag(RuleId::ExtEarlyData, Party::Client, "the client sent early data (0-RTT), which can be replayed".into());
    }
    let offers_tls12 = max_offered(ch) == Some(TLS12);
    if offers_tls12 && !ch.extensions.contains(&0x000D) {
        j.flag(RuleId::ExtNoSigAlgs, Party::Client, "TLS 1.2 ClientHello without signature_algorithms".into());
    }
    let weak_sigs: Vec<String> = ch
        .signature_algorithms
        .iter()
        .filter(|s| matches!(**s >> 8, 0x01 | 0x02) && matches!(**s & 0xff, 0x01..=0x03))
        .map(|s| format!("0x{s:04X}"))
        .collect();
    if !weak_sigs.is_empty() {
        j.flag(
            RuleId::ExtSigAlgsSha1,
            Party::Client,
            format!("the client offers SHA-1/MD5 signature schemes {}", weak_sigs.join(", ")),
        );
    }
    if ch.server_name.is_none() && f.version().is_some() {
        j.flag(RuleId::ExtNoSni, Party::Client, "the client sent no server name (SNI)".into());
    }
}

/// A handshake with no ServerHello: when the server refused it with an alert,
/// what the client offered is the client's finding, and the server is fine.
fn refused(j: &mut Judge<'_>, f: &SessionFacts, offered: &[SuiteTraits]) {
    let (Some(ch), Some(alert)) = (&f.client_hello, &f.alert) else { return };
    if alert.from != crate::tls::facts::Side::Server {
        return;
    }
    let Some(best) = max_offered(ch) else { return };
    let why = format!("the server refused it ({} alert)", alert_description(alert.description));
    let message = format!("the client offered at most {}; {why}", described(f, best));
    match best {
        0x0002 => j.flag(RuleId::ProtoSslv2, Party::Client, message),
        0x0300 => j.flag(RuleId::ProtoSslv3, Party::Client, message),
        TLS10 => j.flag(RuleId::ProtoTls10, Party::Client, message),
        0x0302 => j.flag(RuleId::ProtoTls11, Party::Client, message),
        _ => {}
    }
    if !offered.is_empty() && offered.iter().all(|s| s.no_encryption() || s.anonymous() || s.export()) {
        j.flag(RuleId::CipherNull, Party::Client, format!("the client offered only unencrypted, anonymous or export suites; {why}"));
    }
}

fn protocol(j: &mut Judge<'_>, f: &SessionFacts, v: u16) {
    let ch = f.client_hello.as_ref();
    let client_best = ch.and_then(max_offered);
    let party = |better: bool| if better { Party::Server } else { Party::Client };
    let offered_better = client_best.is_some_and(|b| b > v && b != 0x0002);
    // What the client offered is written out only for a finding.
    let detail = |label: Cow<'static, str>| match ch {
        Some(c) => {
            let offered = offered_versions(c).iter().map(|v| described(f, *v)).collect::<Vec<_>>().join(", ");
            format!("negotiated {label}; the client offered {offered}")
        }
        None => format!("negotiated {label}"),
    };
    match v {
        0x0002 => j.flag(RuleId::ProtoSslv2, party(offered_better), detail(described(f, v))),
        0x0300 => j.flag(RuleId::ProtoSslv3, party(offered_better), detail(described(f, v))),
        TLS10 => j.flag(RuleId::ProtoTls10, party(offered_better), detail(described(f, v))),
        0x0302 => j.flag(RuleId::ProtoTls11, party(offered_better), detail(described(f, v))),
        TLS12 => j.flag(RuleId::ProtoTls12, party(offered_better), detail(described(f, v))),
        v if is_tls13_draft(v) => {
            // A client that offered RFC 8446 was answered with a draft by the server.
            let offered_final = ch.is_some_and(|c| offered_versions(c).contains(&TLS13));
            j.flag(RuleId::ProtoTls13Draft, party(offered_final), detail(described_version(v)));
        }
        _ => {}
    }
    let offered_13 = ch.is_some_and(|c| offered_versions(c).contains(&TLS13));
    if offered_13 && v < TLS13 {
        let sentinel = f.server_hello.as_ref().and_then(|sh| sh.downgrade_sentinel);
        match sentinel {
            Some(_) if f.established => j.flag(
                RuleId::ProtoDowngrade,
                Party::Client,
                format!("the client offered {}, the server chose {} with the downgrade sentinel, and the client went on", described(f, TLS13), described(f, v)),
            ),
            Some(_) => {}
            None => j.flag(
                RuleId::ProtoNoTls13,
                Party::Server,
                format!("the client offered {}; the server chose {}", described(f, TLS13), described(f, v)),
            ),
        }
    }
}

fn cipher_suite(j: &mut Judge<'_>, t: &SuiteTraits, v: u16, offered: &[SuiteTraits]) {
    let name = t.name;
    let neg = |what: &str| format!("negotiated {name}: {what}");
    if t.no_encryption() {
        j.flag(RuleId::CipherNull, suite_party(offered, |s| s.no_encryption()), neg("no encryption"));
    }
    if t.anonymous() {
        j.flag(RuleId::CipherAnon, suite_party(offered, |s| s.anonymous()), neg("anonymous key exchange, the server is not authenticated"));
    }
    if t.export() {
        j.flag(RuleId::CipherExport, suite_party(offered, |s| s.export()), neg(&format!("export grade, {}-bit key", t.key_bits)));
    } else if t.cipher == Cipher::Des {
        j.flag(RuleId::CipherDes, suite_party(offered, |s| s.cipher == Cipher::Des), neg("single DES, 56-bit key"));
    }
    if t.cipher == Cipher::Rc4 {
        j.flag(RuleId::CipherRc4, suite_party(offered, |s| s.cipher == Cipher::Rc4), neg("RC4 stream cipher"));
    }
    let no_fs = matches!(t.kx, KeyExchange::Rsa | KeyExchange::Dh | KeyExchange::Ecdh | KeyExchange::Psk | KeyExchange::Krb5)
        && !t.anonymous();
    if t.cipher == Cipher::TripleDes {
        let fs = if no_fs { ", no forward secrecy" } else { "" };
        j.flag(
            RuleId::Cipher3des,
            suite_party(offered, |s| s.cipher == Cipher::TripleDes),
            neg(&format!("3DES with a 64-bit block{fs}")),
        );
    }
    if t.mac == Mac::Md5 {
        j.flag(RuleId::CipherWeakMac, suite_party(offered, |s| s.mac == Mac::Md5), neg("MD5 record MAC"));
    }
    if no_fs {
        let (variant, what) = match t.kx {
            KeyExchange::Rsa => (0, "RSA key transport, no forward secrecy"),
            KeyExchange::Psk => (0, "the pre-shared key alone, no forward secrecy"),
            KeyExchange::Krb5 => (0, "Kerberos key transport, no forward secrecy"),
            _ => (1, "static Diffie-Hellman, no forward secrecy"),
        };
        j.flag_variant(RuleId::CipherNoFs, variant, suite_party(offered, |s| !s.forward_secret()), neg(what));
    }
    if t.kx == KeyExchange::Dhe && v <= TLS12 {
        j.flag(RuleId::CipherDhe, suite_party(offered, |s| s.kx == KeyExchange::Dhe || !s.forward_secret()), neg("finite-field DHE"));
    }
    if t.mode == Mode::Cbc {
        j.flag(RuleId::CipherCbc, suite_party(offered, |s| !s.aead()), neg("CBC mode rather than AEAD"));
    }
    let not_fips = matches!(
        t.cipher,
        Cipher::ChaCha20 | Cipher::Camellia | Cipher::Aria | Cipher::Seed | Cipher::Idea | Cipher::Gost | Cipher::Sm4 | Cipher::Aegis
    ) || matches!(t.kx, KeyExchange::Srp | KeyExchange::Krb5 | KeyExchange::Eccpwd | KeyExchange::Gost);
    if not_fips {
        j.flag(
            RuleId::CipherNotFips,
            suite_party(offered, |s| !s.nist_algorithms()),
            neg("uses an algorithm NIST does not approve"),
        );
    }
    if !j.profile.suite_allowed(t.id) {
        let party = suite_party(offered, |s| !j.profile.suite_allowed(s.id));
        j.flag(RuleId::CipherNotApproved, party, format!("negotiated {name}, which the {} profile does not list", j.profile.name));
    }
}

/// Security of named groups in bits of curve size (RFC 8422 and 7919 registry order).
fn group_bits(group: u16) -> Option<u32> {
    Some(match group {
        1..=3 => 163,
        4 | 5 => 193,
        6 | 7 => 233,
        8 => 239,
        9 | 10 => 283,
        11 | 12 => 409,
        13 | 14 => 571,
        15..=17 => 160,
        18 | 19 => 192,
        20 | 21 => 224,
        22 | 23 | 26 => 256,
        24 | 27 => 384,
        25 => 521,
        28 => 512,
        0x001D => 255,
        0x001E => 448,
        _ => return None,
    })
}

fn key_exchange(j: &mut Judge<'_>, f: &SessionFacts, v: u16) {
    let finite_field = f.key_exchange.as_ref().and_then(|k| match (k.dh_bits, k.srp_bits) {
        (Some(bits), _) => Some((bits, "Diffie-Hellman prime")),
        (None, Some(bits)) => Some((bits, "SRP group prime")),
        _ => None,
    });
    if let Some((bits, what)) = finite_field {
        if bits < j.profile.thresholds.min_dh_bits {
            let message = format!("the server's {what} has {bits} bits");
            if bits < j.profile.thresholds.critical_dh_bits {
                j.flag_critical(RuleId::KexDhLt2048, Party::Server, message);
            } else {
                j.flag(RuleId::KexDhLt2048, Party::Server, message);
            }
        }
    }
    let group = f.group();
    if let Some(g) = group {
        let explicit = matches!(g, 0xFF01 | 0xFF02);
        let small = group_bits(g).is_some_and(|b| b < j.profile.thresholds.min_curve_bits);
        if explicit || small {
            let what = if explicit { "explicit curve parameters".to_string() } else { format!("the curve {}", group_name(g)) };
            j.flag(RuleId::KexEcCurveWeak, Party::Server, format!("key exchange on {what}"));
        }
        let is_ffdhe = (0x0100..=0x01FF).contains(&g);
        if !(j.profile.groups.is_empty() || j.profile.groups.contains(&g) || is_ffdhe && v < TLS13) {
            j.flag(
                RuleId::KexGroupNotListed,
                Party::Server,
                format!("key exchange on {}, which the {} profile does not list", group_name(g), j.profile.name),
            );
        }
        // The ML-KEM hybrids, and the Kyber drafts deployed before them.
        if matches!(g, 0x11EB..=0x11ED | 0x6399 | 0x639A) {
            j.flag(RuleId::KexPqHybrid, Party::Both, format!("post-quantum hybrid key exchange {}", group_name(g)));
        }
    }
    if let Some(scheme) = f.key_exchange.as_ref().and_then(|k| k.signature_scheme) {
        let hash = scheme >> 8;
        let legacy_sig = matches!(scheme & 0xff, 0x01..=0x03);
        if legacy_sig && hash == 0x02 {
            j.flag(RuleId::KexSigSha1, Party::Server, format!("ServerKeyExchange signed with SHA-1 (scheme 0x{scheme:04X})"));
        } else if legacy_sig && hash == 0x01 {
            j.flag(RuleId::KexSigMd5, Party::Server, format!("ServerKeyExchange signed with MD5 (scheme 0x{scheme:04X})"));
        }
    }
}

fn extensions(j: &mut Judge<'_>, f: &SessionFacts, t: &SuiteTraits) {
    let (Some(ch), Some(sh)) = (&f.client_hello, &f.server_hello) else { return };
    let client_reneg = ch.renegotiation_info || ch.ciphers.contains(&suite::EMPTY_RENEGOTIATION_INFO_SCSV);
    if !client_reneg {
        j.flag(RuleId::ExtNoSecureRenegotiation, Party::Client, "the client sent neither renegotiation_info nor its SCSV".into());
    } else if !sh.renegotiation_info {
        j.flag(RuleId::ExtNoSecureRenegotiation, Party::Server, "the server did not answer renegotiation_info".into());
    }
    if !(ch.extended_master_secret && sh.extended_master_secret) {
        let who = match (ch.extended_master_secret, sh.extended_master_secret) {
            (false, _) => "the client did not offer extended master secret",
            _ => "the server did not accept extended master secret",
        };
        j.flag(RuleId::ExtNoEms, Party::Both, who.into());
    }
    if t.mode == Mode::Cbc && !sh.encrypt_then_mac {
        let party = if ch.encrypt_then_mac { Party::Server } else { Party::Client };
        j.flag(RuleId::ExtNoEtmCbc, party, format!("{} (CBC) without encrypt-then-MAC", t.name));
    }
    if sh.compression_method != 0 {
        j.flag(RuleId::ExtCompression, Party::Server, format!("compression method {} negotiated", sh.compression_method));
    }
    if sh.heartbeat_mode.is_some() {
        j.flag(RuleId::ExtHeartbeat, Party::Server, "the heartbeat extension was negotiated".into());
    }
    if sh.extensions.contains(&0x0004) {
        j.flag(RuleId::ExtTruncatedHmac, Party::Server, "truncated_hmac was negotiated".into());
    }
    if sh.server_certificate_type == Some(2) {
        // The client is to blame when it accepted nothing but a raw key.
        let client_only_raw = !ch.server_certificate_types.is_empty() && !ch.server_certificate_types.contains(&0);
        let (party, what) = if client_only_raw {
            (Party::Client, "the client accepted only a raw public key, and the server authenticated with one")
        } else {
            (Party::Server, "the server authenticated with a raw public key, not an X.509 certificate")
        };
        j.flag(RuleId::ExtRawPublicKey, party, what.into());
    }
    if f.client_false_start {
        j.flag(RuleId::ProtoFalseStart, Party::Client, "the client sent application data before the server's Finished (False Start)".into());
    }
    if ch.status_request && !f.ocsp_stapled {
        if let Some(leaf) = f.server_certificates.first().filter(|l| !l.ocsp_urls.is_empty()) {
            j.flag(
                RuleId::ExtNoOcspStaple,
                Party::Server,
                format!("the client asked for a stapled OCSP response and the certificate names {}, but none was sent", crate::util::escape::escape_terminal(leaf.ocsp_urls[0].as_bytes())),
            );
        }
    }
    if let Some(hint) = f.new_session_ticket_lifetime {
        if i64::from(hint) > j.profile.thresholds.max_ticket_lifetime_days * SECONDS_PER_DAY {
            j.flag(RuleId::ExtTicketLifetimeLong, Party::Server, format!("session ticket lifetime hint of {} days", hint / 86_400));
        }
    }
}
