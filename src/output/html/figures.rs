//! The numbers behind each chart of the HTML report, read from the
//! timeline, the inventory and the certificate inventory, and handed to
//! `charts` to draw.

use plotters::style::RGBColor;

use super::charts::{self, Chart, Grid, SEVERITY_COLOURS};
use crate::inventory::{Inventory, Service};
use crate::output::certificates::{self, Served};
use crate::policy::assets::GroupBy;
use crate::policy::{Profile, RuleId, Severity};
use crate::timeline::{Era, SuiteKind, Timeline};
use crate::util::escape::escape_terminal;
use crate::util::rfc3339::rfc3339_micros;

/// Services and rules the heatmap shows at most; the table has them all.
const HEATMAP_SERVICES: usize = 40;
const HEATMAP_RULES: usize = 30;
/// Groups and certificates drawn at most.
const BARS: usize = 25;

fn era_colour(e: Era) -> RGBColor {
    match e {
        Era::Ssl2 | Era::Ssl3 => RGBColor(0x7f, 0x00, 0x00),
        Era::Tls10 => RGBColor(0xd7, 0x30, 0x1f),
        Era::Tls11 => RGBColor(0xfc, 0x8d, 0x59),
        Era::Tls12 => RGBColor(0x6b, 0xae, 0xd6),
        Era::Tls13 => RGBColor(0x21, 0x66, 0xac),
        Era::Dtls => RGBColor(0x80, 0x73, 0xac),
        Era::Cleartext => RGBColor(0x25, 0x25, 0x25),
        Era::Unseen => RGBColor(0xcc, 0xcc, 0xcc),
    }
}

fn suite_colour(k: SuiteKind) -> RGBColor {
    match k {
        SuiteKind::Tls13 => RGBColor(0x21, 0x66, 0xac),
        SuiteKind::ForwardSecretAead => RGBColor(0x6b, 0xae, 0xd6),
        SuiteKind::ForwardSecretCbc => RGBColor(0xfd, 0xd4, 0x9e),
        SuiteKind::NotForwardSecret => RGBColor(0xfc, 0x8d, 0x59),
        SuiteKind::Broken => RGBColor(0x7f, 0x00, 0x00),
        SuiteKind::Unknown => RGBColor(0xcc, 0xcc, 0xcc),
    }
}

/// A chart whose drawing failed keeps its table and says so.
fn finish(id: &'static str, title: &str, description: String, size: (u32, u32), headers: Vec<String>, rows: Vec<Vec<String>>, paint: impl FnOnce(&charts::Area<'_>) -> Result<(), String>) -> Chart {
    let svg = if rows.is_empty() {
        String::new()
    } else {
        charts::draw(id, title, &description, size, paint).unwrap_or_else(|e| format!("<p class=\"note\">The chart could not be drawn ({}); its numbers are in the table.</p>", super::escape(&e)))
    };
    Chart { id, title: title.to_string(), description, svg, headers, rows }
}

/// A time bucket's label: the date and time of its start, to the day,
/// the minute or the second as the buckets are wide.
fn bucket_label(start: i64, width: i64) -> String {
    let t = rfc3339_micros(start);
    match width {
        w if w >= 86_400_000_000 => t[..10].to_string(),
        w if w >= 60_000_000 => t[..16].replace('T', " "),
        _ => t[..19].replace('T', " "),
    }
}

/// Sessions per version, then per kind of suite, over time.
pub fn over_time(timeline: &Timeline) -> [Chart; 2] {
    let buckets = timeline.buckets();
    let width = timeline.bucket_width();
    let minutes = width as f64 / 60e6;
    let span = if minutes >= 1.0 { format!("{minutes:.0} min") } else { format!("{:.0} s", width as f64 / 1e6) };
    let eras: Vec<Era> = Era::ALL.into_iter().filter(|e| buckets.iter().any(|(_, b)| b.by_era[*e as usize] > 0)).collect();
    let rows_era: Vec<(String, Vec<u64>)> =
        buckets.iter().map(|(t, b)| (bucket_label(*t, width), eras.iter().map(|e| b.by_era[*e as usize]).collect())).collect();
    let series_era: Vec<(&str, RGBColor)> = eras.iter().map(|e| (e.label(), era_colour(*e))).collect();
    let mut headers = vec![format!("From (UTC, {span} each)")];
    headers.extend(eras.iter().map(|e| e.label().to_string()));
    let table = |rows: &[(String, Vec<u64>)]| rows.iter().map(|(l, c)| std::iter::once(l.clone()).chain(c.iter().map(u64::to_string)).collect()).collect();
    let versions = finish(
        "chart-versions",
        "Protocol versions over time",
        format!("Sessions per negotiated version in {} time slices of {span}; sessions in clear and those no server answered are shown too.", rows_era.len()),
        (900, 340),
        headers,
        table(&rows_era),
        |a| charts::stacked_over_time(a, &rows_era, &series_era, "sessions"),
    );
    let kinds: Vec<SuiteKind> = SuiteKind::ALL.into_iter().filter(|k| buckets.iter().any(|(_, b)| b.by_suite[*k as usize] > 0)).collect();
    let rows_suite: Vec<(String, Vec<u64>)> = buckets
        .iter()
        .map(|(t, b)| (bucket_label(*t, width), kinds.iter().map(|k| b.by_suite[*k as usize]).collect()))
        .collect();
    let series_suite: Vec<(&str, RGBColor)> = kinds.iter().map(|k| (k.label(), suite_colour(*k))).collect();
    let mut headers = vec![format!("From (UTC, {span} each)")];
    headers.extend(kinds.iter().map(|k| k.label().to_string()));
    let suites = finish(
        "chart-suites",
        "Cipher suites over time",
        format!("Sessions with a ServerHello per kind of negotiated cipher suite, in time slices of {span}."),
        (900, 340),
        headers,
        table(&rows_suite),
        |a| charts::stacked_over_time(a, &rows_suite, &series_suite, "sessions"),
    );
    [versions, suites]
}

/// Which rules each service raised, worst services first, coloured by the
/// severity the profile gives them, with the sessions each was raised in.
pub fn heatmap(services: &[&Service]) -> Chart {
    let raising: Vec<&&Service> = services.iter().filter(|s| !s.findings.is_empty()).collect();
    let mut rules: Vec<(RuleId, Severity, u64)> = Vec::new();
    for s in &raising {
        for f in s.findings.values() {
            match rules.iter_mut().find(|r| r.0 == f.rule) {
                Some(r) => r.2 += 1,
                None => rules.push((f.rule, f.severity, 1)),
            }
        }
    }
    rules.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    let shown_rules: Vec<RuleId> = rules.iter().take(HEATMAP_RULES).map(|r| r.0).collect();
    let row_names: Vec<String> = raising.iter().take(HEATMAP_SERVICES).map(|s| certificates::endpoint(s)).collect();
    let column_names: Vec<String> = shown_rules.iter().map(|r| r.as_str().to_string()).collect();
    let cells: Vec<Vec<Option<(u64, RGBColor)>>> = raising
        .iter()
        .take(HEATMAP_SERVICES)
        .map(|s| shown_rules.iter().map(|r| s.findings.get(r).map(|f| (f.count, SEVERITY_COLOURS[f.severity as usize]))).collect())
        .collect();
    let grid = Grid { row_names: &row_names, column_names: &column_names, cells: &cells, cell: 24, left: 190, header: 190 };
    let rows: Vec<Vec<String>> = raising
        .iter()
        .take(HEATMAP_SERVICES)
        .flat_map(|s| {
            let mut raised: Vec<_> = s.findings.values().collect();
            raised.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(&b.rule)));
            raised.into_iter().map(move |f| vec![certificates::endpoint(s), f.rule.as_str().to_string(), f.severity.as_str().to_string(), f.count.to_string()])
        })
        .collect();
    let cut = if raising.len() > HEATMAP_SERVICES || rules.len() > HEATMAP_RULES {
        format!(" The chart shows the {} worst services and {} most severe rules; the table lists those services' findings, the services section and findings.csv all of them.", row_names.len(), column_names.len())
    } else {
        String::new()
    };
    finish(
        "chart-heatmap",
        "Services and the rules they raise",
        format!("{} services raised {} rules; each cell is coloured by severity and holds the sessions that raised the rule.{cut}", raising.len(), rules.len()),
        grid.size(),
        ["Service", "Rule", "Severity", "Sessions"].map(String::from).to_vec(),
        rows,
        |a| grid.paint(a),
    )
}

/// Rules raised per subnet (or per --group-by group), by severity.
pub fn per_group(inventory: &Inventory, profile: &Profile, by: Option<GroupBy>) -> Chart {
    let by = by.unwrap_or(GroupBy::Subnet { v4: 24, v6: 64 });
    let mut groups: std::collections::BTreeMap<String, [u64; 5]> = Default::default();
    for s in inventory.each_service() {
        let counts = groups.entry(by.group_of(s.ip, &profile.assets)).or_default();
        for f in s.findings.values() {
            counts[f.severity as usize] += 1;
        }
    }
    let mut rows: Vec<(String, Vec<u64>)> =
        groups.into_iter().filter(|(_, c)| c.iter().sum::<u64>() > 0).map(|(name, c)| (name, c.iter().rev().copied().collect())).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let what = match by {
        GroupBy::Asset => "asset group".to_string(),
        GroupBy::Subnet { v4, v6 } => format!("subnet (/{v4}, IPv6 /{v6})"),
    };
    let names = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];
    let series: Vec<(&str, RGBColor)> = names.iter().map(|s| (s.as_str(), SEVERITY_COLOURS[*s as usize])).collect();
    let shown: Vec<(String, Vec<u64>)> = rows.iter().take(BARS).cloned().collect();
    let mut headers = vec![format!("Servers' {what}")];
    headers.extend(names.iter().map(|s| s.as_str().to_string()));
    let table = rows.iter().map(|(n, c)| std::iter::once(escape_terminal(n.as_bytes())).chain(c.iter().map(u64::to_string)).collect()).collect();
    let cut = if rows.len() > BARS { format!(" The {BARS} with most findings are drawn; the table has all {}.", rows.len()) } else { String::new() };
    finish(
        "chart-groups",
        &format!("Findings per {what}"),
        format!("Rules raised by the services of each {what}, by severity.{cut}"),
        (900, 80 + 26 * shown.len().max(1) as u32),
        headers,
        table,
        |a| charts::horizontal_bars(a, &shown, &series, "rules raised (one per service and rule)"),
    )
}

/// Each server certificate's validity on a time line, soonest expiry
/// first, with today (or --as-of) marked.
pub fn expiry(all: &[Served<'_>], now: i64) -> Chart {
    const SOON_DAYS: i64 = 30;
    let colour = |c: &Served<'_>| match c.days_to_expiry(now) {
        d if d < 0 => SEVERITY_COLOURS[4],
        d if d < SOON_DAYS => SEVERITY_COLOURS[2],
        _ => RGBColor(0x6b, 0xae, 0xd6),
    };
    let spans: Vec<(String, i64, i64, RGBColor)> = all.iter().take(BARS).map(|c| (c.leaf.subject.clone(), c.leaf.not_before, c.leaf.not_after, colour(c))).collect();
    let day = |t: i64| rfc3339_micros(t.saturating_mul(1_000_000))[..10].to_string();
    let rows = all
        .iter()
        .take(2_000)
        .map(|c| vec![escape_terminal(c.leaf.subject.as_bytes()), day(c.leaf.not_before), day(c.leaf.not_after), c.days_to_expiry(now).to_string(), c.served_by.join(", ")])
        .collect();
    let expired = all.iter().filter(|c| c.days_to_expiry(now) < 0).count();
    let cut = if all.len() > BARS { format!(" The {BARS} that expire first are drawn.") } else { String::new() };
    finish(
        "chart-expiry",
        "Certificate validity",
        format!(
            "{} server certificates, {expired} expired as of {} (the vertical line); red: expired, orange: under {SOON_DAYS} days left.{cut}",
            all.len(),
            day(now)
        ),
        (900, 80 + 26 * spans.len().max(1) as u32),
        ["Subject", "Valid from", "Valid until", "Days to expiry", "Served by"].map(String::from).to_vec(),
        rows,
        |a| charts::spans(a, &spans, now),
    )
}

/// The highest version each client offered against the version the server
/// chose.
pub fn offered_negotiated(timeline: &Timeline) -> Chart {
    let m = &timeline.offered_negotiated;
    let offered: Vec<Era> = Era::ALL.into_iter().filter(|o| m[*o as usize].iter().sum::<u64>() > 0).collect();
    let chosen: Vec<Era> = Era::ALL.into_iter().filter(|n| m.iter().any(|row| row[*n as usize] > 0)).collect();
    let top = m.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let shade = |n: u64| {
        // Darker blue with more sessions, on a log scale.
        let t = ((n as f64).ln_1p() / top.ln_1p()).clamp(0.0, 1.0);
        let mix = |lo: u8, hi: u8| (lo as f64 + (hi as f64 - lo as f64) * t) as u8;
        RGBColor(mix(0xde, 0x08), mix(0xeb, 0x45), mix(0xf7, 0x94))
    };
    let row_names: Vec<String> = offered.iter().map(|e| format!("offered {}", e.label())).collect();
    let column_names: Vec<String> = chosen.iter().map(|e| e.label().to_string()).collect();
    let cells: Vec<Vec<Option<(u64, RGBColor)>>> =
        offered.iter().map(|o| chosen.iter().map(|n| Some(m[*o as usize][*n as usize]).filter(|v| *v > 0).map(|v| (v, shade(v)))).collect()).collect();
    let grid = Grid { row_names: &row_names, column_names: &column_names, cells: &cells, cell: 44, left: 150, header: 120 };
    let rows = offered
        .iter()
        .flat_map(|o| chosen.iter().filter(|n| m[*o as usize][**n as usize] > 0).map(move |n| vec![o.label().to_string(), n.label().to_string(), m[*o as usize][*n as usize].to_string()]))
        .collect();
    finish(
        "chart-offered",
        "Offered and negotiated versions",
        "Sessions by the highest version the client offered (rows) and what the server chose (columns); a session below the diagonal was negotiated down.".to_string(),
        grid.size(),
        ["Highest offered", "Negotiated", "Sessions"].map(String::from).to_vec(),
        rows,
        |a| grid.paint(a),
    )
}
