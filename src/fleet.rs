//! The fleet's report (`tlsaudit report --from SOURCE...`): the service
//! records that many sensors wrote (JSON Lines files, or Redis Streams fed
//! with `-o redis://...`) merged into one inventory and one verdict, each
//! service with the sensors that saw it (`observer.name`, else the source
//! it was read from). A service is non-compliant when any sensor judged it
//! so, compliant when at least one judged it and none failed it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::net::IpAddr;

use serde_json::{json, Value};

use crate::output::json::ECS_VERSION;
use crate::util::escape::escape_terminal;

/// One service, over every sensor.
#[derive(Debug)]
pub struct FleetService {
    pub ip: IpAddr,
    pub port: u16,
    pub transport: String,
    pub observers: BTreeSet<String>,
    pub sessions: u64,
    pub cleartext_sessions: u64,
    pub versions: BTreeMap<String, u64>,
    pub ciphers: BTreeMap<String, u64>,
    pub protocols: BTreeMap<String, u64>,
    pub server_names: BTreeSet<String>,
    pub certificates: BTreeSet<String>,
    /// Rule → (severity, sessions, message).
    pub findings: BTreeMap<String, (String, u64, String)>,
    assessments: BTreeSet<String>,
}

impl FleetService {
    fn new(ip: IpAddr, port: u16, transport: String) -> FleetService {
        FleetService {
            ip,
            port,
            transport,
            observers: BTreeSet::new(),
            sessions: 0,
            cleartext_sessions: 0,
            versions: BTreeMap::new(),
            ciphers: BTreeMap::new(),
            protocols: BTreeMap::new(),
            server_names: BTreeSet::new(),
            certificates: BTreeSet::new(),
            findings: BTreeMap::new(),
            assessments: BTreeSet::new(),
        }
    }

    pub fn assessment(&self) -> &'static str {
        if self.assessments.contains("non_compliant") {
            "non_compliant"
        } else if self.assessments.contains("compliant") {
            "compliant"
        } else {
            "not_assessed"
        }
    }

    fn worst(&self) -> usize {
        self.findings.values().map(|(s, _, _)| severity_rank(s)).max().unwrap_or(0)
    }
}

fn severity_rank(s: &str) -> usize {
    ["info", "low", "medium", "high", "critical"].iter().position(|x| *x == s).map_or(0, |i| i + 1)
}

/// The service records of every source, each with the sensor that wrote it.
pub fn read(sources: &[String]) -> Result<Vec<(String, Value)>, String> {
    let mut records = Vec::new();
    for source in sources {
        let lines = if source.starts_with("redis://") { read_stream(source)? } else { read_file(source)? };
        for (n, line) in lines.iter().enumerate() {
            let v: Value = serde_json::from_str(line).map_err(|e| format!("{source}: record {} is not JSON: {e}", n + 1))?;
            if v["event"]["dataset"] == "tlsaudit.service" {
                let sensor = v["observer"]["name"].as_str().map(str::to_string).unwrap_or_else(|| source.clone());
                records.push((sensor, v));
            }
        }
    }
    Ok(records)
}

fn read_file(path: &str) -> Result<Vec<String>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: cannot open: {e}"))?;
    std::io::BufReader::new(file).lines().collect::<Result<Vec<_>, _>>().map_err(|e| format!("{path}: cannot read: {e}"))
}

/// Every entry of a stream, oldest first, a thousand at a time.
fn read_stream(url: &str) -> Result<Vec<String>, String> {
    let target = crate::output::stream_sink::StreamTarget::parse(url)?;
    let fail = |e: redis::RedisError| format!("{}: {e}", target.server);
    let client = redis::Client::open(target.server.as_str()).map_err(fail)?;
    let mut conn = client.get_connection_with_timeout(std::time::Duration::from_secs(5)).map_err(fail)?;
    let mut lines = Vec::new();
    let mut start = "-".to_string();
    loop {
        type Entry = (String, Vec<(String, String)>);
        let page: Vec<Entry> = redis::cmd("XRANGE").arg(&target.stream).arg(&start).arg("+").arg("COUNT").arg(1000).query(&mut conn).map_err(fail)?;
        let Some((last, _)) = page.last() else { break };
        start = format!("({last}");
        lines.extend(page.into_iter().flat_map(|(_, fields)| fields.into_iter().filter(|(k, _)| k == "record").map(|(_, v)| v)));
    }
    Ok(lines)
}

fn add_counts(into: &mut BTreeMap<String, u64>, counts: &Value) {
    for c in counts.as_array().into_iter().flatten() {
        if let (Some(name), Some(n)) = (c["name"].as_str(), c["count"].as_u64()) {
            *into.entry(name.to_string()).or_insert(0) += n;
        }
    }
}

/// Merges the records by address, port and transport; worst first (non-
/// compliant, then by worst finding), then by address.
pub fn merge(records: &[(String, Value)]) -> Vec<FleetService> {
    let mut services: BTreeMap<(IpAddr, u16, String), FleetService> = BTreeMap::new();
    for (sensor, r) in records {
        // A record without an address and port names no service.
        let Some(ip) = r["destination"]["ip"].as_str().and_then(|ip| ip.parse::<IpAddr>().ok()) else { continue };
        let Some(port) = r["destination"]["port"].as_u64().and_then(|p| u16::try_from(p).ok()) else { continue };
        let transport = r["network"]["transport"].as_str().unwrap_or("tcp").to_string();
        let s = services.entry((ip, port, transport.clone())).or_insert_with(|| FleetService::new(ip, port, transport));
        let svc = &r["tlsaudit"]["service"];
        s.observers.insert(sensor.clone());
        s.sessions += svc["sessions"].as_u64().unwrap_or(0);
        s.cleartext_sessions += svc["cleartext_sessions"].as_u64().unwrap_or(0);
        add_counts(&mut s.versions, &svc["versions"]);
        add_counts(&mut s.ciphers, &svc["ciphers"]);
        add_counts(&mut s.protocols, &svc["protocols"]);
        let strings = |v: &Value| v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect::<Vec<_>>();
        s.server_names.extend(strings(&svc["server_names"]));
        s.certificates.extend(strings(&svc["certificates"]));
        for f in r["tlsaudit"]["findings"].as_array().into_iter().flatten() {
            let (Some(rule), Some(sev)) = (f["rule"].as_str(), f["severity"].as_str()) else { continue };
            let e = s.findings.entry(rule.to_string()).or_insert_with(|| (sev.to_string(), 0, f["message"].as_str().unwrap_or_default().to_string()));
            if severity_rank(sev) > severity_rank(&e.0) {
                e.0 = sev.to_string();
            }
            e.1 += f["count"].as_u64().unwrap_or(0);
        }
        if let Some(a) = r["tlsaudit"]["assessment"].as_str() {
            s.assessments.insert(a.to_string());
        }
    }
    let mut all: Vec<FleetService> = services.into_values().collect();
    all.sort_by(|a, b| {
        (b.assessment() == "non_compliant").cmp(&(a.assessment() == "non_compliant")).then(b.worst().cmp(&a.worst())).then((a.ip, a.port).cmp(&(b.ip, b.port)))
    });
    all
}

/// The fleet's verdict: non-compliant when a service is, not assessed when
/// none was judged.
pub fn verdict(services: &[FleetService]) -> &'static str {
    if services.iter().any(|s| s.assessment() == "non_compliant") {
        "non_compliant"
    } else if services.iter().any(|s| s.assessment() == "compliant") {
        "compliant"
    } else {
        "not_assessed"
    }
}

fn endpoint(s: &FleetService) -> String {
    crate::util::endpoint::service(s.ip, s.port, s.transport == "udp")
}

fn counts(map: &BTreeMap<String, u64>) -> Value {
    Value::Array(map.iter().map(|(name, count)| json!({"name": name, "count": count})).collect())
}

/// The merged service records and a closing stats record, as JSON lines.
pub fn records(services: &[FleetService], sensors: &BTreeSet<String>, now: &str) -> Vec<Value> {
    let mut out: Vec<Value> = services
        .iter()
        .map(|s| {
            let findings: Vec<Value> =
                s.findings.iter().map(|(rule, (sev, n, msg))| json!({"rule": rule, "severity": sev, "count": n, "message": msg})).collect();
            json!({
                "@timestamp": now,
                "ecs": {"version": ECS_VERSION},
                "event": {"kind": "state", "category": ["network"], "type": ["info"], "dataset": "tlsaudit.service"},
                "destination": {"ip": s.ip.to_string(), "port": s.port},
                "network": {"transport": s.transport},
                "related": {"ip": [s.ip.to_string()]},
                "tlsaudit": {
                    "service": {
                        "observers": s.observers, "sessions": s.sessions, "cleartext_sessions": s.cleartext_sessions,
                        "versions": counts(&s.versions), "ciphers": counts(&s.ciphers), "protocols": counts(&s.protocols),
                        "server_names": s.server_names, "certificates": s.certificates,
                    },
                    "findings": findings,
                    "assessment": s.assessment(),
                    "compliant": s.assessment() == "compliant",
                },
            })
        })
        .collect();
    let failing = services.iter().filter(|s| s.assessment() == "non_compliant").count();
    let unjudged = services.iter().filter(|s| s.assessment() == "not_assessed").count();
    out.push(json!({
        "@timestamp": now,
        "ecs": {"version": ECS_VERSION},
        "event": {"kind": "metric", "category": ["network"], "type": ["info"], "dataset": "tlsaudit.stats"},
        "tlsaudit": {"stats": {
            "verdict": verdict(services), "services": services.len(), "services_non_compliant": failing,
            "services_not_assessed": unjudged, "sensors": sensors,
        }},
    }));
    out
}

/// The fleet's text report: the verdict, then each service worst first
/// with the sensors that saw it and its rules.
pub fn text(services: &[FleetService], sensors: &BTreeSet<String>) -> String {
    let failing = services.iter().filter(|s| s.assessment() == "non_compliant").count();
    let label = match verdict(services) {
        "non_compliant" => "NON-COMPLIANT",
        "compliant" => "COMPLIANT",
        _ => "NOT ASSESSED",
    };
    let names: Vec<String> = sensors.iter().map(|s| escape_terminal(s.as_bytes())).collect();
    let mut out = format!(
        "Fleet verdict: {label}: {failing} of {} services non-compliant, seen by {} sensors ({})\n",
        services.len(),
        sensors.len(),
        names.join(", ")
    );
    for s in services {
        let seen: Vec<String> = s.observers.iter().map(|o| escape_terminal(o.as_bytes())).collect();
        let sessions = if s.sessions == 1 { "1 session".to_string() } else { format!("{} sessions", s.sessions) };
        out.push_str(&format!("  {}  {}, {sessions}, seen by {}\n", endpoint(s), s.assessment(), seen.join(", ")));
        let mut rules: Vec<(&String, &(String, u64, String))> = s.findings.iter().collect();
        rules.sort_by(|a, b| severity_rank(&b.1 .0).cmp(&severity_rank(&a.1 .0)).then(a.0.cmp(b.0)));
        for (rule, (sev, n, _)) in rules {
            out.push_str(&format!("    [{sev}] {rule} x{n}\n"));
        }
    }
    out
}
