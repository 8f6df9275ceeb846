//! The text report: one line per TLS session, then a summary of the run.
//! Attacker-controlled strings pass through `escape_terminal` (finding messages,
//! built from escaped values, through `escape_message`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::util::escape::{escape_message, escape_terminal};
use crate::util::rfc3339::{rfc3339_micros, rfc3339_secs};
use crate::inventory::{FindingCount, Inventory, Service};
use crate::policy::{Assessment, Profile, RuleId, Severity, Verdict};
use crate::tls::facts::SessionFacts;
use crate::tls::names::{self, cipher_name, group_name};
use crate::util::endpoint::address_port as endpoint;
use crate::util::sorted_vec_map::SortedVecMap;

/// One line describing a session.
pub fn session_line(f: &SessionFacts, verdict: &Verdict, color: bool) -> String {
    let mut parts = vec![
        rfc3339_micros(f.first_seen),
        format!("{} -> {}", endpoint(f.client.ip, f.client.port), endpoint(f.server.ip, f.server.port)),
    ];
    parts.push(version_bucket(f).into_owned());
    if let Some(c) = &f.cleartext {
        // Only facts and identifiers checked character by character.
        parts.push(c.protocol.to_string());
        parts.extend(c.seen().iter().map(|s| escape_terminal(s.as_bytes())));
    }
    if let Some(sh) = &f.server_hello {
        parts.push(cipher_name(sh.cipher).into_owned());
    }
    if let Some(g) = f.group() {
        parts.push(group_name(g).into_owned());
    }
    if let Some(k) = &f.key_exchange {
        if let Some(bits) = k.dh_bits {
            parts.push(format!("DH {bits} bits"));
        }
        if let Some(bits) = k.srp_bits {
            parts.push(format!("SRP {bits} bits"));
        }
    }
    if let Some(sni) = f.client_hello.as_ref().and_then(|c| c.server_name.as_ref()) {
        parts.push(format!("sni={}", escape_terminal(sni)));
    }
    if let Some(leaf) = f.server_certificates.first() {
        let cn = leaf.subject_cn.as_deref().unwrap_or("(no CN)");
        parts.push(format!("cert={}", escape_terminal(cn.as_bytes())));
    }
    if let Some(q) = f.carrier.quic() {
        parts.push(format!("quic={}", crate::quic::version_label(q.version())));
    }
    if let Some(p) = f.preamble {
        parts.push(if p.login_only { format!("via {}, login only", p.protocol) } else { format!("via {}", p.protocol) });
    }
    let state = if let Some(c) = &f.cleartext {
        match c.encrypted() {
            Some(false) => "in clear",
            Some(true) => "encrypted without TLS",
            None => "encryption not seen",
        }
    } else if f.established {
        if f.resumed() { "established (resumed)" } else { "established" }
    } else if let Some(a) = &f.alert {
        &format!("failed: {} alert {} from {}", names::alert_level(a.level), names::alert_description(a.description), a.from.as_str())
    } else {
        "not established"
    };
    parts.push(state.to_string());
    if !f.limits_hit.is_empty() {
        parts.push(format!("partial ({})", f.limits_hit.names().join(", ")));
    }
    if f.tcp_overlap_conflicts > 0 {
        parts.push(format!("{} conflicting TCP retransmissions", f.tcp_overlap_conflicts));
    }
    let mut line = parts.join("  ");
    match verdict.assessment {
        Assessment::NonCompliant => line.push_str(&format!("  {}", paint(color, RED, "NON-COMPLIANT"))),
        Assessment::NotAssessed => line.push_str(&format!("  {}", paint(color, YELLOW, "NOT ASSESSED"))),
        Assessment::Compliant => {}
    }
    for finding in &verdict.findings {
        if finding.severity >= Severity::Low {
            line.push_str(&format!(
                "\n    {} {} ({}): {}",
                severity_tag(finding.severity, color),
                finding.rule,
                finding.party.as_str(),
                escape_message(&finding.message)
            ));
        }
    }
    line
}

const RED: &str = "31";
const YELLOW: &str = "33";
const GREEN: &str = "32";
const BOLD: &str = "1";

/// Wraps text in an ANSI colour when colour is on.
fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn severity_tag(s: Severity, color: bool) -> String {
    let tag = format!("[{s}]");
    match s {
        Severity::Critical | Severity::High => paint(color, RED, &tag),
        Severity::Medium => paint(color, YELLOW, &tag),
        _ => tag,
    }
}

fn counts<'a>(map: impl IntoIterator<Item = (&'a String, &'a u64)>) -> String {
    let mut v: Vec<(&String, &u64)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter().map(|(k, n)| format!("{} ({n})", escape_terminal(k.as_bytes()))).collect::<Vec<_>>().join(", ")
}

fn versions(map: &SortedVecMap<String, u64>) -> String {
    let labelled: BTreeMap<String, u64> = map
        .iter()
        .map(|(v, n)| {
            let label = match v.as_str() {
                "2.0" => "SSL 2.0".to_string(),
                "3.0" => "SSL 3.0".to_string(),
                other => format!("TLS {other}"),
            };
            (label, *n)
        })
        .collect();
    counts(&labelled)
}

/// One line per finding kind at or above `min`, worst first.
fn finding_lines(findings: &SortedVecMap<RuleId, FindingCount>, min: Severity, color: bool) -> String {
    let mut sorted: Vec<&FindingCount> = findings.values().filter(|f| f.severity >= min).collect();
    sorted.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(&b.rule)));
    sorted
        .iter()
        .map(|f| {
            format!(
                "    {} {} x{}: {}\n",
                severity_tag(f.severity, color),
                f.rule,
                f.count,
                escape_message(&f.example)
            )
        })
        .collect()
}

/// The report that closes a text run: the verdict first, then the
/// non-compliant services worst first, the clients whose own offers fail,
/// and the compliant services in brief; a service's findings from
/// `min_shown` up.
pub fn report(inv: &Inventory, run: &crate::RunSummary, profile: &Profile, min_shown: Severity, color: bool) -> String {
    let services = inv.services();
    let in_state = |a: Assessment| services.iter().filter(|s| s.assessment() == a).collect::<Vec<_>>();
    let failing_services = in_state(Assessment::NonCompliant);
    let unassessed_services = in_state(Assessment::NotAssessed);
    let clients = inv.failing_clients(profile);
    let mut out = String::new();
    let verdict = match run.verdict {
        Assessment::Compliant => paint(color, GREEN, "COMPLIANT"),
        Assessment::NonCompliant => paint(color, RED, "NON-COMPLIANT"),
        Assessment::NotAssessed => paint(color, YELLOW, "NOT ASSESSED"),
    };
    let unlisted: Vec<&&Service> = services.iter().filter(|s| s.unlisted()).collect();
    out.push_str(&format!(
        "{} {}\n",
        paint(color, BOLD, &format!("Verdict: {verdict}")),
        verdict_details(&services, run, profile, clients.len())
    ));
    if run.verdict == Assessment::NotAssessed {
        let judged = run.sessions - run.sessions_not_assessed;
        if judged == 0 {
            out.push_str(&format!(
                "  Nothing was judged: {} seen, none answered by a server (no ServerHello, no refusal) or shown encrypted or in clear.\n",
                plural(run.sessions, "session", "sessions")
            ));
        }
        if !run.input_errors.is_empty() {
            out.push_str(&format!(
                "  {} could not be read in full: what {} was not assessed.\n",
                plural(run.input_errors.len() as u64, "input", "inputs"),
                if run.input_errors.len() == 1 { "it holds" } else { "they hold" }
            ));
        }
    }
    if !unlisted.is_empty() {
        out.push_str("\nServices on the home network that the asset file does not list (rogue or forgotten):\n");
        for s in &unlisted {
            let protocols: Vec<&str> = s.protocols.keys().copied().collect();
            let udp = if s.transport == crate::decode::Transport::Udp { "/udp" } else { "" };
            out.push_str(&format!("  {}{udp}  {} ({})\n", endpoint(s.ip, s.port), plural(s.sessions, "session", "sessions"), protocols.join(", ")));
        }
    }
    if !failing_services.is_empty() {
        out.push_str(if unlisted.is_empty() {
            "\nNon-compliant services, those heard in clear first, then worst first:\n"
        } else {
            "\nNon-compliant services, those unlisted and those heard in clear first, then worst first:\n"
        });
        for s in &failing_services {
            out.push_str(&service_block(s, min_shown, color));
        }
    }
    if !clients.is_empty() {
        out.push_str("\nClients whose own offers fail the policy:\n");
        for c in &clients {
            out.push_str(&format!("  {}  {}\n", paint(color, BOLD, &c.ip.to_string()), plural(c.sessions, "session", "sessions")));
            out.push_str(&finding_lines(&c.findings, profile.failing.max(min_shown), color));
        }
    }
    if !unassessed_services.is_empty() {
        out.push_str("\nServices not assessed (no handshake they answered with a ServerHello, or no sign whether a session without TLS was encrypted):\n");
        for s in unassessed_services {
            out.push_str(&format!("  {}  {}\n", endpoint(s.ip, s.port), plural(s.sessions, "session", "sessions")));
            if s.not_tls_sessions > 0 {
                let protocols: Vec<&str> = s.protocols.keys().copied().collect();
                out.push_str(&format!("    without TLS: {} ({})\n", plural(s.not_tls_sessions, "session", "sessions"), protocols.join(", ")));
            }
            if !s.server_names.is_empty() {
                out.push_str(&format!("    names asked for: {}\n", listed(&s.server_names)));
            }
        }
    }
    let good = in_state(Assessment::Compliant);
    if !good.is_empty() {
        out.push_str("\nCompliant services:\n");
        for s in good {
            out.push_str(&service_block(s, min_shown, color));
        }
    }
    if inv.services_dropped + inv.clients_dropped + inv.memory_refusals() > 0 {
        out.push_str(&format!(
            "\nInventory incomplete: {} and {} not tracked (table full), {} refused for memory \
             (raise --memory-limit); sessions were still judged one by one.\n",
            plural(inv.services_dropped, "service", "services"),
            plural(inv.clients_dropped, "client", "clients"),
            plural(inv.memory_refusals(), "entry", "entries")
        ));
    }
    out
}

/// What the verdict rests on, after "Verdict: X": the policy, then the
/// services unlisted and heard in clear, the non-compliant services and
/// sessions, and the clients that offer only weak options.
pub fn verdict_details(services: &[&Service], run: &crate::RunSummary, profile: &Profile, failing_clients: usize) -> String {
    let failing_services = services.iter().filter(|s| s.assessment() == Assessment::NonCompliant).count();
    // Services heard in clear are counted first: they are the worst finding.
    // Some travel in clear by design (OCSP, CRLs): how many of them fail is said.
    let heard = services.iter().filter(|s| s.cleartext_sessions > 0);
    let (in_clear, failing) = heard.fold((0, 0), |(n, f), s| (n + 1, f + u64::from(s.assessment() == Assessment::NonCompliant)));
    let in_clear = match in_clear {
        0 => String::new(),
        n if failing == n => format!("{} heard in clear; ", plural(n, "service", "services")),
        n => format!("{} heard in clear ({failing} non-compliant); ", plural(n, "service", "services")),
    };
    let unlisted = services.iter().filter(|s| s.unlisted()).count();
    let in_clear = if unlisted == 0 {
        in_clear
    } else {
        format!("{} the asset file does not list; {in_clear}", plural(unlisted as u64, "service", "services"))
    };
    format!(
        "({} policy, failing at {} and above): {in_clear}{} of {} and {} of {} non-compliant; {} only weak options",
        profile.name,
        profile.failing,
        failing_services,
        plural(services.len() as u64, "service", "services"),
        run.sessions_non_compliant(),
        plural(run.sessions, "session", "sessions"),
        plural(failing_clients as u64, "client offers", "clients offer")
    )
}

/// Names listed comma-separated and escaped, the first few only.
fn listed<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    const SHOWN: usize = 5;
    let all: Vec<&String> = names.into_iter().collect();
    let mut text = all.iter().take(SHOWN).map(|n| escape_terminal(n.as_bytes())).collect::<Vec<_>>().join(", ");
    if all.len() > SHOWN {
        text.push_str(&format!(" and {} more", all.len() - SHOWN));
    }
    text
}

/// When a certificate expires, said against the service's last session.
fn expiry(not_after: i64, last_seen_micros: i64) -> String {
    let left = not_after - last_seen_micros.div_euclid(1_000_000);
    let days = (left / 86_400).unsigned_abs();
    let date = &rfc3339_secs(not_after)[..10];
    if left < 0 {
        format!("expired {date}, {} before the last session", plural(days, "day", "days"))
    } else {
        format!("expires {date}, {} after the last session", plural(days, "day", "days"))
    }
}

/// A service: its endpoint and traffic, the names clients asked for, its
/// certificates, what it negotiated, its findings worst first and the
/// findings exceptions set aside.
fn service_block(s: &Service, min_shown: Severity, color: bool) -> String {
    let clients = if s.clients_overflow { format!("{}+", s.distinct_clients()) } else { s.distinct_clients().to_string() };
    let udp = if s.transport == crate::decode::Transport::Udp { "/udp" } else { "" };
    let mut out = format!(
        "  {}{udp}  {}, {} {}, {} .. {}\n",
        paint(color, BOLD, &endpoint(s.ip, s.port)),
        plural(s.sessions, "session", "sessions"),
        clients,
        if s.distinct_clients() == 1 && !s.clients_overflow { "client" } else { "clients" },
        rfc3339_micros(s.first_seen),
        rfc3339_micros(s.last_seen)
    );
    if let Some((grade, why)) = s.grade() {
        let why = if why.is_empty() { String::new() } else { format!(" ({})", why.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")) };
        out.push_str(&format!("    passive grade: {}{why}\n", grade.as_str()));
    }
    let tls_seen = s.not_tls_sessions < s.sessions;
    let protocols: Vec<&str> = s.protocols.keys().copied().collect();
    if s.cleartext_sessions > 0 {
        out.push_str(&format!("    in clear: {} ({})\n", plural(s.cleartext_sessions, "session", "sessions"), protocols.join(", ")));
    }
    let other = s.not_tls_sessions - s.cleartext_sessions;
    if other > 0 {
        out.push_str(&format!("    without TLS, not seen in clear: {} ({})\n", plural(other, "session", "sessions"), protocols.join(", ")));
    }
    // A service heard only in clear has no names, certificates or
    // versions to show.
    if tls_seen && s.server_names.is_empty() {
        out.push_str("    names asked for: none (no SNI)\n");
    } else if tls_seen {
        out.push_str(&format!("    names asked for: {}\n", listed(&s.server_names)));
    }
    for leaf in s.certificates.values().take(3) {
        out.push_str(&format!(
            "    certificate: {}, issued by {}, {}\n",
            escape_terminal(leaf.subject.as_bytes()),
            escape_terminal(leaf.issuer.as_bytes()),
            expiry(leaf.not_after, s.last_seen)
        ));
    }
    if s.certificates.is_empty() && tls_seen {
        let encrypted = s.versions.keys().any(|v| v.starts_with("1.3"));
        let why = if encrypted { " (TLS 1.3 encrypts it)" } else { "" };
        out.push_str(&format!("    certificate: none seen{why}\n"));
    }
    if s.certificates.len() > 3 {
        out.push_str(&format!("    and {} more\n", plural(s.certificates.len() as u64 - 3, "certificate", "certificates")));
    }
    if tls_seen {
        out.push_str(&format!("    negotiated {}; {}\n", versions(&s.versions), counts(&s.ciphers)));
    }
    out.push_str(&finding_lines(&s.findings, min_shown, color));
    for e in s.exempted.values() {
        let until = e.expires.as_deref().map(|d| format!(" (until {d})")).unwrap_or_default();
        out.push_str(&format!(
            "    [exempted] {} x{} ({}): {}{until}\n",
            e.rule,
            e.count,
            e.severity,
            escape_terminal(e.justification.as_bytes())
        ));
    }
    out
}

/// "1 session", "2 sessions".
fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The closing summary of a run.
pub fn summary(by_version: &BTreeMap<String, u64>, run: &crate::RunSummary) -> String {
    let mut out = String::new();
    let in_clear = run.workers.cleartext_sessions;
    // Sessions in clear first: they are the worst of what was seen.
    let in_clear_text = if in_clear > 0 { format!("{} in clear, ", plural(in_clear, "session", "sessions")) } else { String::new() };
    let other = run.workers.other_sessions;
    let other_text = if other > 0 { format!("{} without TLS not seen in clear, ", plural(other, "session", "sessions")) } else { String::new() };
    out.push_str(&format!(
        "\n{in_clear_text}{other_text}{} ({} established) in {}, {}; {:.2}s\n",
        plural(run.sessions.saturating_sub(in_clear + other), "TLS session", "TLS sessions"),
        run.workers.tls_established,
        plural(run.reader.packets, "packet", "packets"),
        plural(run.workers.flows, "flow", "flows"),
        run.wall_time.as_secs_f64()
    ));
    for (v, n) in by_version {
        out.push_str(&format!("  {v}: {n}\n"));
    }
    let failing = run.sessions_non_compliant();
    let [_, low, medium, high, critical] = run.findings_by_severity;
    let unjudged = if run.sessions_not_assessed > 0 { format!(", {} not assessed", run.sessions_not_assessed) } else { String::new() };
    out.push_str(&format!(
        "  {failing} of {} non-compliant{unjudged}; findings: {critical} critical, {high} high, {medium} medium, {low} low\n",
        plural(run.sessions, "session", "sessions")
    ));
    for (note, details) in coverage_notes(run) {
        out.push_str(&format!("  {note}\n"));
        for d in details {
            out.push_str(&format!("    {d}\n"));
        }
    }
    out
}

/// What the run could not see in full: decode errors by kind (with what
/// each means), caps hit, inconsistent retransmissions and dropped
/// packets; each note with its details. Empty when nothing was missed.
pub fn coverage_notes(run: &crate::RunSummary) -> Vec<(String, Vec<String>)> {
    let mut notes = Vec::new();
    let errors = run.decode_errors();
    if errors.total() > 0 {
        let kinds = errors.by_kind().into_iter().filter(|(_, n)| *n > 0);
        notes.push((
            format!("decode errors: {} (tlsaudit.stats.decode_errors in JSON Lines):", errors.total()),
            kinds.map(|(kind, n)| format!("{kind} {n}: {}", decode_error_meaning(kind))).collect(),
        ));
    }
    let w = &run.workers;
    let caps = [
        (w.flows_evicted, "flow table full"),
        (w.flows_evicted_memory, "connection memory full"),
        (w.tcp_buffer_cap_hits, "reassembly buffer full"),
        (w.tls_handshake_cap_hits, "handshake message too large"),
        (w.tls_chain_cap_hits, "certificate chain too long"),
        (w.tls_inspect_cap_hits, "handshake too long to inspect"),
        (run.reader.ip_fragments_evicted, "fragment table full"),
    ];
    let hit: Vec<String> = caps.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{what} {n}x")).collect();
    if !hit.is_empty() {
        notes.push((
            format!("caps hit: {}; the sessions they cut are marked partial (tlsaudit.limits_hit in JSON Lines)", hit.join(", ")),
            Vec::new(),
        ));
    }
    if w.tcp_overlap_inconsistent > 0 {
        notes.push((
            format!("TCP segments repeating bytes with other values: {} (the first copy was analysed)", w.tcp_overlap_inconsistent),
            Vec::new(),
        ));
    }
    let drops = run.reader.dropped_by_kernel + run.reader.dropped_by_interface + run.reader.dropped_by_analyzer;
    if drops > 0 {
        notes.push((
            format!(
                "dropped packets: {} by the kernel, {} by the interface, {} by the analyzer",
                run.reader.dropped_by_kernel, run.reader.dropped_by_interface, run.reader.dropped_by_analyzer
            ),
            Vec::new(),
        ));
    }
    notes
}

/// What a kind of decode error means for the report, and where to look.
fn decode_error_meaning(kind: &str) -> &'static str {
    match kind {
        "truncated" => "frames cut short by the snap length or a bad length field; record with tcpdump -s 0",
        "truncated_fragment" => "IP fragments cut short by the snap length; their datagrams were not analysed",
        "oversized_fragment" => "fragments that would reassemble past 65,535 bytes (malformed or hostile); dropped",
        "bad_ip_header" => "malformed IP headers; those packets were skipped",
        "bad_tcp_header" => "malformed TCP headers; those segments were skipped",
        "unsupported_link_type" => "frames of a link type tlsaudit does not decode (802.11, USB, ...); they were not analysed",
        "tls_record" => "impossible TLS record headers: a stream that stopped being TLS, or a gap in it",
        "tls_handshake" => "handshake messages that could not be parsed; sessions list them in tlsaudit.malformed_messages",
        "certificate" => "certificates that could not be parsed; those chains were judged as far as they were read",
        _ => "see the stats record",
    }
}

/// The label a session is counted under in the summary, e.g. "TLS 1.2".
pub fn version_bucket(f: &SessionFacts) -> Cow<'static, str> {
    match f.version() {
        Some(v) => {
            let protocol = match names::version_protocol(v) {
                "ssl" => "SSL",
                "dtls" => "DTLS",
                _ => "TLS",
            };
            match (protocol, names::version_name(v)) {
                // The common ones without allocating: one per session.
                ("TLS", Some("1.2")) => "TLS 1.2".into(),
                ("TLS", Some("1.3")) => "TLS 1.3".into(),
                ("TLS", Some("1.0")) => "TLS 1.0".into(),
                ("TLS", Some("1.1")) => "TLS 1.1".into(),
                (protocol, name) => format!("{protocol} {}", name.unwrap_or("?")).into(),
            }
        }
        None if f.cleartext.as_ref().is_some_and(|c| c.in_clear()) => "cleartext".into(),
        None if f.cleartext.is_some() => "not TLS".into(),
        None => "no ServerHello".into(),
    }
}
