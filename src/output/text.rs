//! The text report: one line per TLS session, then a summary of the run.
//! Attacker-controlled strings pass through `escape_terminal`.

use std::collections::BTreeMap;

use super::{escape_terminal, rfc3339_micros};
use crate::policy::{Severity, Verdict};
use crate::tls::facts::SessionFacts;
use crate::tls::names::{self, cipher_name, group_name};

fn endpoint(ip: std::net::IpAddr, port: u16) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
        std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// One line describing a session.
pub fn session_line(f: &SessionFacts, verdict: &Verdict) -> String {
    let mut parts = vec![
        rfc3339_micros(f.first_seen),
        format!("{} -> {}", endpoint(f.client.ip, f.client.port), endpoint(f.server.ip, f.server.port)),
    ];
    parts.push(version_label(f));
    if let Some(sh) = &f.server_hello {
        parts.push(cipher_name(sh.cipher));
    }
    if let Some(g) = f.group() {
        parts.push(group_name(g));
    }
    if let Some(bits) = f.key_exchange.as_ref().and_then(|k| k.dh_bits) {
        parts.push(format!("DH {bits} bits"));
    }
    if let Some(sni) = f.client_hello.as_ref().and_then(|c| c.server_name.as_ref()) {
        parts.push(format!("sni={}", escape_terminal(sni)));
    }
    if let Some(leaf) = f.server_certificates.first() {
        let cn = leaf.subject_cn.as_deref().unwrap_or("(no CN)");
        parts.push(format!("cert={}", escape_terminal(cn.as_bytes())));
    }
    if let Some(p) = f.outer_protocol {
        parts.push(format!("via {p}"));
    }
    let state = if f.established {
        if f.resumed() { "established (resumed)" } else { "established" }
    } else if let Some(a) = &f.alert {
        &format!("failed: {} alert {} from {}", names::alert_level(a.level), names::alert_description(a.description), a.from.as_str())
    } else {
        "not established"
    };
    parts.push(state.to_string());
    let mut line = parts.join("  ");
    if !verdict.compliant {
        line.push_str("  NON-COMPLIANT");
    }
    for finding in &verdict.findings {
        if finding.severity >= Severity::Low {
            line.push_str(&format!(
                "\n    [{}] {} ({}): {}",
                finding.severity,
                finding.rule,
                finding.party.as_str(),
                escape_terminal(finding.message.as_bytes())
            ));
        }
    }
    line
}

/// The closing summary of a run.
pub fn summary(by_version: &BTreeMap<String, u64>, run: &crate::RunSummary) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "\n{} TLS sessions ({} established) in {} packets, {} TCP flows; {:.2}s\n",
        run.sessions,
        run.workers.tls_established,
        run.reader.packets,
        run.workers.flows,
        run.wall_time.as_secs_f64()
    ));
    for (v, n) in by_version {
        out.push_str(&format!("  {v}: {n}\n"));
    }
    let failing = run.sessions - run.sessions_compliant;
    let [_, low, medium, high, critical] = run.findings_by_severity;
    out.push_str(&format!(
        "  {failing} of {} sessions non-compliant; findings: {critical} critical, {high} high, {medium} medium, {low} low\n",
        run.sessions
    ));
    let errors = run.decode_errors().total();
    if errors > 0 {
        out.push_str(&format!("  decode errors: {errors} (details in the jsonl stats record)\n"));
    }
    let drops = run.reader.dropped_by_kernel + run.reader.dropped_by_interface + run.reader.dropped_by_analyzer;
    if drops > 0 {
        out.push_str(&format!(
            "  dropped packets: {} by the kernel, {} by the interface, {} by the analyzer\n",
            run.reader.dropped_by_kernel, run.reader.dropped_by_interface, run.reader.dropped_by_analyzer
        ));
    }
    out
}

/// The label a session is counted under in the summary, e.g. "TLS 1.2".
pub fn version_label(f: &SessionFacts) -> String {
    match f.version() {
        Some(v) => format!(
            "{} {}",
            if names::version_protocol(v) == "ssl" { "SSL" } else { "TLS" },
            names::version_name(v).unwrap_or("?")
        ),
        None => "no ServerHello".to_string(),
    }
}
