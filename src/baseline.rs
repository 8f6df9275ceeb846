//! A previous run's inventory, written with `--inventory-out` and read back
//! with `--baseline`, and what changed against it service by service: new,
//! gone, newly failing, fixed, or failing with other rules. The verdict on
//! the changes is the policy's (`policy::change`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::inventory::Inventory;
use crate::policy::change::{self, ChangeKind, ChangeVerdict, Weighed};
use crate::policy::Assessment;

/// The format version of an inventory file.
const FORMAT: u64 = 1;

/// A service by address, port and transport ("tcp", "udp").
type Key = (IpAddr, u16, String);

/// What the baseline knew of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    assessment: String,
    rules: BTreeSet<String>,
}

/// A previous run's services.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub path: PathBuf,
    /// When the inventory was written (RFC 3339), as the file says.
    pub written: String,
    /// The policy it was judged under.
    pub policy: String,
    services: BTreeMap<Key, Known>,
}

/// The inventory file of this run around its service records: the text
/// before the first record and after the last. The file is
/// `{"tlsaudit_inventory": 1, "written": ..., "policy": ..., "services": [...]}`.
pub fn inventory_frame(written: &str, policy: &str) -> (String, String) {
    let head = json!({"tlsaudit_inventory": FORMAT, "written": written, "policy": policy}).to_string();
    // The object without its closing brace, then the services list.
    (format!("{},\"services\":[", &head[..head.len() - 1]), "]}\n".to_string())
}

impl Baseline {
    /// Reads an inventory file; the error names the file and what is wrong.
    pub fn read(path: &Path) -> Result<Baseline, String> {
        let bad = |what: &str| format!("{}: not a tlsaudit inventory ({what}); write one with --inventory-out", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the baseline {}: {e}", path.display()))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
        if v["tlsaudit_inventory"].as_u64() != Some(FORMAT) {
            return Err(bad("no tlsaudit_inventory: 1"));
        }
        let mut services = BTreeMap::new();
        for s in v["services"].as_array().ok_or_else(|| bad("no services list"))? {
            let ip = s["destination"]["ip"].as_str().and_then(|ip| ip.parse().ok()).ok_or_else(|| bad("a service without an address"))?;
            let port = s["destination"]["port"].as_u64().and_then(|p| u16::try_from(p).ok()).ok_or_else(|| bad("a service without a port"))?;
            let transport = s["network"]["transport"].as_str().unwrap_or("tcp").to_string();
            let assessment = s["tlsaudit"]["assessment"].as_str().ok_or_else(|| bad("a service without an assessment"))?.to_string();
            let rules = s["tlsaudit"]["findings"].as_array().into_iter().flatten().filter_map(|f| f["rule"].as_str()).map(str::to_string).collect();
            services.insert((ip, port, transport), Known { assessment, rules });
        }
        Ok(Baseline {
            path: path.to_path_buf(),
            written: v["written"].as_str().unwrap_or("?").to_string(),
            policy: v["policy"].as_str().unwrap_or("?").to_string(),
            services,
        })
    }
}

/// One service that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub ip: IpAddr,
    pub port: u16,
    pub transport: String,
    pub kind: ChangeKind,
    /// Its assessment in the baseline and now (None where it was not seen).
    pub was: Option<String>,
    pub now: Option<String>,
    pub rules_added: Vec<String>,
    pub rules_removed: Vec<String>,
}

/// What changed, and the verdict on it.
#[derive(Debug, Clone)]
pub struct Changes {
    pub baseline: PathBuf,
    pub written: String,
    pub list: Vec<Change>,
    pub verdict: ChangeVerdict,
}

impl Changes {
    pub fn count(&self, kind: ChangeKind) -> usize {
        self.list.iter().filter(|c| c.kind == kind).count()
    }
}

const NON_COMPLIANT: &str = "non_compliant";

/// Compares this run's inventory with the baseline.
pub fn compare(baseline: &Baseline, inventory: &Inventory) -> Changes {
    let mut list = Vec::new();
    let mut seen = BTreeSet::new();
    for s in inventory.each_service() {
        let key = (s.ip, s.port, s.transport.as_str().to_string());
        let now = s.assessment().as_str().to_string();
        let rules: BTreeSet<String> = s.findings.keys().map(|r| r.as_str().to_string()).collect();
        let change = |kind, was: Option<&Known>| Change {
            ip: s.ip,
            port: s.port,
            transport: key.2.clone(),
            kind,
            was: was.map(|k| k.assessment.clone()),
            now: Some(now.clone()),
            rules_added: rules.difference(was.map_or(&BTreeSet::new(), |k| &k.rules)).cloned().collect(),
            rules_removed: was.map_or(Vec::new(), |k| k.rules.difference(&rules).cloned().collect()),
        };
        match baseline.services.get(&key) {
            None => list.push(change(ChangeKind::New, None)),
            Some(known) => {
                let (failing_before, failing_now) = (known.assessment == NON_COMPLIANT, s.assessment() == Assessment::NonCompliant);
                let kind = match (failing_before, failing_now) {
                    (false, true) => Some(ChangeKind::NewlyFailing),
                    (true, false) if s.assessment() == Assessment::Compliant => Some(ChangeKind::Fixed),
                    (true, true) if known.rules != rules => Some(ChangeKind::RulesChanged),
                    _ => None,
                };
                if let Some(kind) = kind {
                    list.push(change(kind, Some(known)));
                }
            }
        }
        seen.insert(key);
    }
    for (key, known) in &baseline.services {
        if !seen.contains(key) {
            list.push(Change {
                ip: key.0,
                port: key.1,
                transport: key.2.clone(),
                kind: ChangeKind::Gone,
                was: Some(known.assessment.clone()),
                now: None,
                rules_added: Vec::new(),
                rules_removed: Vec::new(),
            });
        }
    }
    list.sort_by(|a, b| a.kind.cmp(&b.kind).then((a.ip, a.port, &a.transport).cmp(&(b.ip, b.port, &b.transport))));
    let verdict = change::verdict(list.iter().map(|c| Weighed {
        kind: c.kind,
        failing_now: c.now.as_deref() == Some(NON_COMPLIANT),
        failing_before: c.was.as_deref() == Some(NON_COMPLIANT),
        rules_added: !c.rules_added.is_empty(),
        rules_removed: !c.rules_removed.is_empty(),
    }));
    Changes { baseline: baseline.path.clone(), written: baseline.written.clone(), list, verdict }
}
