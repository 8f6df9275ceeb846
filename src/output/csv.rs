//! Tables for spreadsheets (`--csv DIR`): `services.csv` (one row per
//! service), `findings.csv` (one row per rule raised or set aside, for each
//! service and each client whose own offers fail), and `certificates.csv`
//! (one row per server certificate, soonest expiry first, with where it was
//! served). Quoting follows RFC 4180 (the `csv` crate writes it). Text that
//! came off the wire has its control characters made visible, and a cell
//! that a spreadsheet would take for a formula (starting with = + - @, a
//! tab or a carriage return) is prefixed with an apostrophe.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use crate::policy::assets::GroupBy;
use super::certificates;
use crate::inventory::{Inventory, Service};
use crate::policy::{Profile, Severity};
use crate::util::escape::escape_terminal;
use crate::util::rfc3339::rfc3339_micros;
use crate::util::sorted_vec_map::SortedVecMap;

/// A cell of text from the wire or from a capture's certificates.
fn cell(text: &str) -> String {
    let visible = escape_terminal(text.as_bytes());
    if visible.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{visible}")
    } else {
        visible
    }
}

/// Values joined for one cell.
fn joined<'a>(values: impl IntoIterator<Item = &'a String>) -> String {
    values.into_iter().map(|v| cell(v)).collect::<Vec<_>>().join("; ")
}

/// Counts by name: "1.2=3; 1.3=1".
fn counted<K: AsRef<str> + Ord>(counts: &SortedVecMap<K, u64>) -> String {
    counts.iter().map(|(k, n)| format!("{}={n}", k.as_ref())).collect::<Vec<_>>().join("; ")
}

/// Writes the three tables into `dir` (made if missing): the findings from
/// `min` up, the services with their group when `group_by` is given; an
/// error names the file.
pub fn write(dir: &Path, inventory: &Inventory, profile: &Profile, min: Severity, group_by: Option<GroupBy>) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make the directory {}: {e}", dir.display()))?;
    let services = inventory.services();
    let group = |s: &Service| group_by.map(|by| by.group_of(s.ip, &profile.assets)).unwrap_or_default();
    table(&dir.join("services.csv"), |w| services_table(w, &services, &group))?;
    table(&dir.join("findings.csv"), |w| findings_table(w, &services, inventory, profile, min))?;
    table(&dir.join("certificates.csv"), |w| certificates_table(w, inventory, profile.now()))
}

type Writer = csv::Writer<BufWriter<File>>;

fn table(path: &Path, fill: impl FnOnce(&mut Writer) -> csv::Result<()>) -> Result<(), String> {
    let file = File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut w = csv::Writer::from_writer(BufWriter::new(file));
    fill(&mut w).and_then(|_| w.flush().map_err(csv::Error::from)).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn services_table(w: &mut Writer, services: &[&Service], group: &dyn Fn(&Service) -> String) -> csv::Result<()> {
    w.write_record([
        "ip", "port", "transport", "group", "assessment", "grade", "worst_severity", "sessions", "sessions_in_clear", "protocols", "versions",
        "ciphers", "distinct_clients", "server_names", "certificates", "rules_raised", "rules_exempted", "first_seen", "last_seen",
    ])?;
    for s in services {
        let clients = if s.clients_overflow { format!("{}+", s.distinct_clients()) } else { s.distinct_clients().to_string() };
        w.write_record([
            s.ip.to_string(),
            s.port.to_string(),
            s.transport.as_str().to_string(),
            cell(&group(s)),
            s.assessment().as_str().to_string(),
            s.grade().map_or(String::new(), |(g, _)| g.as_str().to_string()),
            s.worst().map_or(String::new(), |w| w.as_str().to_string()),
            s.sessions.to_string(),
            s.cleartext_sessions.to_string(),
            counted(&s.protocols),
            counted(&s.versions),
            counted(&s.ciphers),
            clients,
            joined(&s.server_names),
            s.certificates.keys().cloned().collect::<Vec<_>>().join("; "),
            s.findings.keys().map(|r| r.as_str()).collect::<Vec<_>>().join("; "),
            s.exempted.keys().map(|r| r.as_str()).collect::<Vec<_>>().join("; "),
            rfc3339_micros(s.first_seen),
            rfc3339_micros(s.last_seen),
        ])?;
    }
    Ok(())
}

fn findings_table(w: &mut Writer, services: &[&Service], inventory: &Inventory, profile: &Profile, min: Severity) -> csv::Result<()> {
    w.write_record(["scope", "ip", "port", "transport", "rule", "severity", "status", "count", "message", "justification", "expires"])?;
    for s in services {
        let mut raised: Vec<_> = s.findings.values().filter(|f| f.severity >= min).collect();
        raised.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(&b.rule)));
        let (ip, port, transport) = (s.ip.to_string(), s.port.to_string(), s.transport.as_str());
        for f in raised {
            let row = ["service", &ip, &port, transport, f.rule.as_str(), f.severity.as_str(), "raised", &f.count.to_string(), &cell(&f.example), "", ""];
            w.write_record(row)?;
        }
        for e in s.exempted.values().filter(|e| e.severity >= min) {
            let expires = e.expires.clone().unwrap_or_default();
            let row = ["service", &ip, &port, transport, e.rule.as_str(), e.severity.as_str(), "exempted", &e.count.to_string(), "", &cell(&e.justification), &expires];
            w.write_record(row)?;
        }
    }
    for c in inventory.failing_clients(profile) {
        let mut raised: Vec<_> = c.findings.values().filter(|f| f.severity >= min).collect();
        raised.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(&b.rule)));
        let ip = c.ip.to_string();
        for f in raised {
            let row = ["client", &ip, "", "", f.rule.as_str(), f.severity.as_str(), "raised", &f.count.to_string(), &cell(&f.example), "", ""];
            w.write_record(row)?;
        }
    }
    Ok(())
}

/// Every leaf certificate of the inventory once, soonest expiry first, with
/// the services that served it; days to expiry counted from `now` (the
/// run's clock or --as-of), negative once expired.
fn certificates_table(w: &mut Writer, inventory: &Inventory, now: i64) -> csv::Result<()> {
    w.write_record([
        "sha256", "subject", "issuer", "subject_alt_names", "key", "signature", "not_before", "not_after", "days_to_expiry", "served_by",
    ])?;
    for c in certificates::inventory(inventory) {
        let leaf = c.leaf;
        let mut sans = joined(&leaf.sans);
        if leaf.sans_capped {
            sans.push_str("; ...");
        }
        w.write_record([
            c.sha256.to_string(),
            cell(&leaf.subject),
            cell(&leaf.issuer),
            sans,
            cell(&leaf.key),
            cell(&leaf.signature),
            rfc3339_micros(leaf.not_before.saturating_mul(1_000_000)),
            rfc3339_micros(leaf.not_after.saturating_mul(1_000_000)),
            c.days_to_expiry(now).to_string(),
            c.served_by.join("; "),
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_become_formulas_or_hide_controls() {
        assert_eq!(cell("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
        assert_eq!(cell("-1+2"), "'-1+2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("a\x1b[31mb"), "a\\x1b[31mb");
        assert_eq!(cell("pacs.example.test"), "pacs.example.test");
    }
}
