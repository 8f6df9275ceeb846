//! What changed since the baseline (`--baseline`): a `tlsaudit.change`
//! record per service that changed and the stats' `changes` summary, or a
//! section of the text report.

use serde_json::{json, Value};

use crate::baseline::{Change, Changes};
use crate::policy::change::ChangeKind;
use crate::util::rfc3339::rfc3339_micros;

const KINDS: [ChangeKind; 5] = [ChangeKind::New, ChangeKind::NewlyFailing, ChangeKind::RulesChanged, ChangeKind::Fixed, ChangeKind::Gone];

/// The `tlsaudit.change` record of one service.
pub fn record(c: &Change, now_micros: i64) -> Value {
    json!({
        "@timestamp": rfc3339_micros(now_micros),
        "ecs": {"version": super::json::ECS_VERSION},
        "event": {"kind": "event", "category": ["configuration"], "type": ["change"], "dataset": "tlsaudit.change"},
        "destination": {"ip": c.ip.to_string(), "port": c.port},
        "related": {"ip": [c.ip.to_string()]},
        "network": {"transport": c.transport},
        "tlsaudit": {"change": {
            "kind": c.kind.as_str(),
            "was": c.was,
            "now": c.now,
            "rules_added": c.rules_added,
            "rules_removed": c.rules_removed,
        }},
    })
}

/// The stats record's `changes` object.
pub fn summary(changes: &Changes) -> Value {
    let mut counts = serde_json::Map::new();
    for kind in KINDS {
        counts.insert(kind.as_str().to_string(), json!(changes.count(kind)));
    }
    json!({
        "verdict": changes.verdict.as_str(),
        "baseline": changes.baseline.display().to_string(),
        "baseline_written": changes.written,
        "counts": counts,
    })
}

pub(crate) fn endpoint(c: &Change) -> String {
    crate::util::endpoint::service(c.ip, c.port, c.transport == "udp")
}

/// The text report's section.
pub fn text(changes: &Changes) -> String {
    let mut out = format!(
        "\nChanges since the baseline {} (written {}): {}\n",
        crate::util::escape::escape_terminal(changes.baseline.display().to_string().as_bytes()),
        crate::util::escape::escape_terminal(changes.written.as_bytes()),
        changes.verdict.as_str()
    );
    if changes.list.is_empty() {
        out.push_str("  no service changed\n");
    }
    for c in &changes.list {
        let label = match c.kind {
            ChangeKind::New => "new",
            ChangeKind::NewlyFailing => "newly failing",
            ChangeKind::RulesChanged => "other rules",
            ChangeKind::Fixed => "fixed",
            ChangeKind::Gone => "gone",
        };
        let state = match (&c.was, &c.now) {
            (Some(was), Some(now)) => format!("{was} -> {now}"),
            (None, Some(now)) => now.clone(),
            (Some(was), None) => format!("was {was}"),
            (None, None) => String::new(),
        };
        out.push_str(&format!("  {label:<14} {}  {state}", endpoint(c)));
        if !c.rules_added.is_empty() {
            out.push_str(&format!("; raised: {}", c.rules_added.join(", ")));
        }
        if !c.rules_removed.is_empty() {
            out.push_str(&format!("; no longer: {}", c.rules_removed.join(", ")));
        }
        out.push('\n');
    }
    out
}
