//! The HTML report (`--format html`, `--html FILE`): one self-contained page
//! for an auditor — verdict and scope, what could not be seen, charts with
//! their numbers, the services worst first with their findings and
//! exceptions, clients, certificates and changes. No script, no fetch: the
//! page's Content-Security-Policy forbids loading anything, its styles
//! are inline and its charts are inline SVG. Every value is escaped by the
//! template engine; only the charts (drawn and escaped by `plotters`) are
//! marked safe.

mod charts;
mod figures;


use minijinja::{Environment, Value};
use serde::Serialize;

use super::certificates;
use super::text;
use crate::inventory::{FindingCount, Inventory, Service};
use crate::policy::{Assessment, Profile, RuleId, Severity};
use crate::timeline::Timeline;
use crate::util::escape::escape_terminal;
use crate::util::rfc3339::rfc3339_micros;
use crate::{Config, RunSummary, Source};
use crate::util::sorted_vec_map::SortedVecMap;

const TEMPLATE: &str = include_str!("report.html");

/// What the page lists at most, worst first, so that it stays readable
/// and its memory small however large the inventory; the page says how
/// many more there are, and the CSV tables and JSON records have them all.
const SERVICES_LISTED: usize = 2_000;
const SERVICES_WRITTEN_OUT: usize = 300;
const CLIENTS_LISTED: usize = 500;
const CERTIFICATES_LISTED: usize = 2_000;

/// Escapes text for HTML element content and quoted attributes (for the
/// few strings built outside the template).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text from the wire, its control characters made visible; the template
/// escapes it for HTML.
fn wire(text: &str) -> String {
    escape_terminal(text.as_bytes())
}

#[derive(Serialize)]
struct FindingView {
    rule: &'static str,
    severity: &'static str,
    count: u64,
    example: String,
}

#[derive(Serialize)]
struct ExemptionView {
    rule: &'static str,
    severity: &'static str,
    count: u64,
    justification: String,
    expires: Option<String>,
}

#[derive(Serialize)]
struct ServiceView {
    anchor: String,
    endpoint: String,
    transport: &'static str,
    protocols: String,
    assessment: &'static str,
    grade: Option<&'static str>,
    grade_capped_by: String,
    worst: Option<&'static str>,
    sessions: u64,
    in_clear: u64,
    clients: String,
    first_seen: String,
    last_seen: String,
    versions: String,
    ciphers: String,
    names: Vec<String>,
    certificates: Vec<String>,
    group: Option<String>,
    unlisted: bool,
    /// Its findings and exceptions are written out below the table.
    detailed: bool,
    findings: Vec<FindingView>,
    exempted: Vec<ExemptionView>,
}

fn findings(map: &SortedVecMap<RuleId, FindingCount>, min: Severity) -> Vec<FindingView> {
    let mut raised: Vec<&FindingCount> = map.values().filter(|f| f.severity >= min).collect();
    raised.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(&b.rule)));
    raised.into_iter().map(|f| FindingView { rule: f.rule.as_str(), severity: f.severity.as_str(), count: f.count, example: wire(&f.example) }).collect()
}

fn counted(map: &SortedVecMap<String, u64>) -> String {
    map.iter().map(|(k, n)| format!("{} ({n})", wire(k))).collect::<Vec<_>>().join(", ")
}

fn service_view(s: &Service, min: Severity, group: Option<String>) -> ServiceView {
    let grade = s.grade();
    let clients = if s.clients_overflow { format!("{}+", s.distinct_clients()) } else { s.distinct_clients().to_string() };
    ServiceView {
        anchor: format!("svc-{}-{}-{}", s.ip, s.port, s.transport.as_str()).replace([':', '.'], "-"),
        endpoint: crate::util::endpoint::service(s.ip, s.port, s.transport == crate::decode::Transport::Udp),
        transport: s.transport.as_str(),
        protocols: s.protocols.keys().copied().collect::<Vec<_>>().join(", "),
        assessment: s.assessment().as_str(),
        grade: grade.as_ref().map(|(g, _)| g.as_str()),
        grade_capped_by: grade.map(|(_, why)| why.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default(),
        worst: s.worst().map(Severity::as_str),
        sessions: s.sessions,
        in_clear: s.cleartext_sessions,
        clients,
        first_seen: rfc3339_micros(s.first_seen),
        last_seen: rfc3339_micros(s.last_seen),
        versions: counted(&s.versions),
        ciphers: counted(&s.ciphers),
        names: s.server_names.iter().take(10).map(|n| wire(n)).collect(),
        certificates: s.certificates.values().take(5).map(|l| format!("{} (issued by {})", wire(&l.subject), wire(&l.issuer))).collect(),
        group,
        unlisted: s.unlisted(),
        detailed: !s.findings.is_empty() || !s.exempted.is_empty(),
        findings: findings(&s.findings, min),
        exempted: s
            .exempted
            .values()
            .map(|e| ExemptionView {
                rule: e.rule.as_str(),
                severity: e.severity.as_str(),
                count: e.count,
                justification: wire(&e.justification),
                expires: e.expires.clone(),
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct Note {
    text: String,
    details: Vec<String>,
}

/// Where the run's packets came from and how much it read.
fn scope(config: &Config, run: &RunSummary, timeline: &Timeline) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    match &config.source {
        Source::Files(paths) => rows.push(("Capture files".into(), paths.iter().map(|p| wire(&p.display().to_string())).collect::<Vec<_>>().join(", "))),
        Source::Live(opts) => rows.push(("Interface".into(), wire(&opts.interface))),
    }
    if let Some(f) = &config.filter {
        rows.push(("Filter".into(), wire(f)));
    }
    if let (Some(first), Some(last)) = (timeline.first_seen, timeline.last_seen) {
        rows.push(("Sessions seen".into(), format!("{} to {}", rfc3339_micros(first), rfc3339_micros(last))));
    }
    rows.push(("Packets".into(), format!("{} ({} bytes)", run.reader.packets, run.reader.bytes)));
    rows.push(("Flows".into(), run.workers.flows.to_string()));
    let w = &run.workers;
    let tls = run.sessions.saturating_sub(w.cleartext_sessions + w.other_sessions);
    rows.push((
        "Sessions".into(),
        format!("{} TLS ({} established), {} in clear, {} without TLS not seen in clear", tls, w.tls_established, w.cleartext_sessions, w.other_sessions),
    ));
    let r = &run.reader;
    let dropped = match (r.dropped_by_kernel, r.dropped_by_interface, r.dropped_by_analyzer) {
        (0, 0, 0) => "none".to_string(),
        (k, i, a) => format!("{k} by the kernel, {i} by the interface, {a} by the analyzer"),
    };
    rows.push(("Dropped packets".into(), dropped));
    rows.push(("Analysis".into(), format!("{} threads, {:.2} s", run.threads, run.wall_time.as_secs_f64())));
    rows
}

/// What the run could not see: inputs not read in full, sessions nobody
/// answered, decode errors, caps, drops, and an incomplete inventory.
fn coverage(run: &RunSummary, inventory: &Inventory) -> Vec<Note> {
    let mut notes = Vec::new();
    if !run.input_errors.is_empty() {
        notes.push(Note {
            text: format!("{} input(s) could not be read in full; what they hold was not assessed:", run.input_errors.len()),
            details: run.input_errors.iter().map(|e| wire(e)).collect(),
        });
    }
    if run.sessions_not_assessed > 0 {
        notes.push(Note {
            text: format!(
                "{} of {} sessions not assessed: no ServerHello or refusal seen, or no sign whether a session without TLS was encrypted.",
                run.sessions_not_assessed, run.sessions
            ),
            details: Vec::new(),
        });
    }
    notes.extend(text::coverage_notes(run).into_iter().map(|(text, details)| Note { text, details }));
    if inventory.services_dropped + inventory.clients_dropped + inventory.memory_refusals() > 0 {
        notes.push(Note {
            text: format!(
                "Inventory incomplete: {} services and {} clients not tracked (table full), {} entries refused for memory (raise --memory-limit); sessions were still judged one by one.",
                inventory.services_dropped,
                inventory.clients_dropped,
                inventory.memory_refusals()
            ),
            details: Vec::new(),
        });
    }
    notes
}

#[derive(Serialize)]
struct CertificateView {
    subject: String,
    issuer: String,
    names: String,
    key: String,
    signature: String,
    not_before: String,
    not_after: String,
    days: i64,
    state: &'static str,
    served_by: String,
    sha256: String,
}

#[derive(Serialize)]
struct ChangeView {
    kind: &'static str,
    endpoint: String,
    was: String,
    now: String,
    rules_added: String,
    rules_removed: String,
}

/// Everything the run's report says; what the template reads.
pub struct ReportInput<'a> {
    pub config: &'a Config,
    pub run: &'a RunSummary,
    pub inventory: &'a Inventory,
    pub timeline: &'a Timeline,
    pub profile: &'a Profile,
}

/// Writes the whole page to `out`, as the template renders it.
pub fn write(input: &ReportInput<'_>, out: &mut dyn std::io::Write) -> Result<(), String> {
    let ReportInput { config, run, inventory, timeline, profile } = *input;
    let min = config.min_severity.unwrap_or(Severity::Low);
    let services = inventory.services();
    let clients = inventory.failing_clients(profile);
    let group = |s: &Service| config.group_by.map(|by| by.group_of(s.ip, &profile.assets));
    let mut written_out = 0;
    let views: Vec<ServiceView> = services
        .iter()
        .take(SERVICES_LISTED)
        .map(|s| {
            let mut v = service_view(s, min, group(s));
            v.detailed &= written_out < SERVICES_WRITTEN_OUT;
            written_out += usize::from(v.detailed);
            v
        })
        .collect();
    let with_findings = services.iter().filter(|s| !s.findings.is_empty() || !s.exempted.is_empty()).count();
    let now = profile.now();
    let all_certificates = certificates::inventory(inventory);
    let day = |t: i64| rfc3339_micros(t.saturating_mul(1_000_000))[..10].to_string();
    let certificate_views: Vec<CertificateView> = all_certificates
        .iter()
        .take(CERTIFICATES_LISTED)
        .map(|c| {
            let days = c.days_to_expiry(now);
            let mut names = c.leaf.sans.iter().map(|n| wire(n)).collect::<Vec<_>>().join(", ");
            if c.leaf.sans_capped {
                names.push_str(", …");
            }
            CertificateView {
                subject: wire(&c.leaf.subject),
                issuer: wire(&c.leaf.issuer),
                names,
                key: wire(&c.leaf.key),
                signature: wire(&c.leaf.signature),
                not_before: day(c.leaf.not_before),
                not_after: day(c.leaf.not_after),
                days,
                state: if days < 0 { "expired" } else if days < 30 { "soon" } else { "valid" },
                served_by: c.served_by.join(", "),
                sha256: c.sha256.to_string(),
            }
        })
        .collect();
    let [versions, suites] = figures::over_time(timeline);
    let charts = vec![
        versions,
        suites,
        figures::offered_negotiated(timeline),
        figures::heatmap(&services),
        figures::per_group(inventory, profile, config.group_by),
        figures::expiry(&all_certificates, now),
    ];
    let chart_values: Vec<Value> = charts
        .into_iter()
        .map(|c| {
            let svg = Value::from_safe_string(c.svg.clone());
            minijinja::context! { id => c.id, title => c.title, description => c.description, svg => svg, headers => c.headers, rows => c.rows }
        })
        .collect();
    let severities: Vec<(&str, u64)> = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low]
        .iter()
        .map(|s| (s.as_str(), run.findings_by_severity[*s as usize]))
        .collect();
    let changes = run.changes.as_ref().map(|c| {
        let list: Vec<ChangeView> = c
            .list
            .iter()
            .map(|ch| ChangeView {
                kind: ch.kind.as_str(),
                endpoint: crate::output::change::endpoint(ch),
                was: ch.was.clone().unwrap_or_default(),
                now: ch.now.clone().unwrap_or_default(),
                rules_added: ch.rules_added.join(", "),
                rules_removed: ch.rules_removed.join(", "),
            })
            .collect();
        minijinja::context! { baseline => wire(&c.baseline.display().to_string()), written => wire(&c.written), verdict => c.verdict.as_str(), list => list }
    });
    let by_rule: Vec<(&str, &str, u64, u64)> =
        super::groups::by_rule(inventory.each_service(), min).into_iter().map(|(r, s, n, c)| (r.as_str(), s.as_str(), n, c)).collect();
    let client_views: Vec<Value> = clients
        .iter()
        .take(CLIENTS_LISTED)
        .map(|c| minijinja::context! { ip => c.ip.to_string(), sessions => c.sessions, findings => findings(&c.findings, profile.failing.max(min)) })
        .collect();
    let (verdict_class, verdict_label) = match run.verdict {
        Assessment::Compliant => ("compliant", "COMPLIANT"),
        Assessment::NonCompliant => ("non_compliant", "NON-COMPLIANT"),
        Assessment::NotAssessed => ("not_assessed", "NOT ASSESSED"),
    };
    let context = minijinja::context! {
        generated => crate::util::rfc3339::rfc3339_secs(now).replace('T', " ").replace('Z', " UTC"),
        version => env!("CARGO_PKG_VERSION"),
        policy => profile.name.clone(),
        verdict_class, verdict_label,
        verdict_details => text::verdict_details(&services, run, profile, clients.len()),
        scope => scope(config, run, timeline),
        coverage => coverage(run, inventory),
        severities,
        service_count => services.len(),
        services_not_listed => services.len().saturating_sub(SERVICES_LISTED),
        details_not_written => with_findings - written_out,
        client_count => clients.len(),
        certificate_count => all_certificates.len(),
        services => views,
        clients => client_views,
        certificates => certificate_views,
        charts => chart_values,
        by_rule,
        changes,
        min_severity => min.as_str(),
        group_by => config.group_by.is_some(),
    };
    let mut env = Environment::new();
    env.add_filter("of", |n: u64, one: String| if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") });
    env.add_template("report.html", TEMPLATE).map_err(|e| format!("the HTML template is broken: {e}"))?;
    let template = env.get_template("report.html").map_err(|e| e.to_string())?;
    template.render_captured_to(context, out).map(|_| ()).map_err(|e| format!("cannot write the HTML report: {e}"))
}
