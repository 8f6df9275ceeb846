//! A fleet of two sensors and one report (`tlsaudit report --from`): one
//! sensor writes JSON Lines to a file, the other to a Redis Stream on a
//! real redis-server this test starts on a free loopback port (and stops
//! by its PID). The report merges their service records into one
//! inventory: each service with the sensors that saw it, its sessions
//! summed, the worst assessment any sensor gave it, one verdict.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{captures_dir, completed, tlsaudit, Scratch};
use serde_json::Value;

/// A redis-server of this test's, stopped by its PID when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (apt-get install redis-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pong = Command::new("redis-cli").args(["-p", &port.to_string(), "ping"]).output().expect("redis-cli runs (apt-get install redis-tools)");
            if String::from_utf8_lossy(&pong.stdout).contains("PONG") {
                break;
            }
            assert!(Instant::now() < deadline, "redis-server did not answer on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Redis { child, port }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect()
}

fn key(r: &Value) -> (String, u64, String) {
    (r["destination"]["ip"].as_str().unwrap().to_string(), r["destination"]["port"].as_u64().unwrap(), r["network"]["transport"].as_str().unwrap().to_string())
}

#[test]
fn two_sensors_one_file_one_redis_stream_make_one_report() {
    let scratch = Scratch::new("fleet");
    let redis = Redis::start();
    let ca = captures_dir().join("test-ca.pem");
    let ward_a = scratch.path("ward-a.jsonl");
    let stream = format!("redis://127.0.0.1:{}/ward-b", redis.port);
    let a = tlsaudit(&["-r", captures_dir().join("matrix").to_str().unwrap(), "--ca-file", ca.to_str().unwrap(), "--observer-name", "ward-a", "--format", "jsonl", "-o", ward_a.to_str().unwrap()]);
    assert!(completed(a.status.code()), "{}", String::from_utf8_lossy(&a.stderr));
    let b = tlsaudit(&[
        "-r", captures_dir().join("matrix/tls11.pcap").to_str().unwrap(), "-r", captures_dir().join("cleartext").to_str().unwrap(),
        "--ca-file", ca.to_str().unwrap(), "--observer-name", "ward-b", "-o", &stream,
    ]);
    assert!(completed(b.status.code()), "{}", String::from_utf8_lossy(&b.stderr));
    assert!(String::from_utf8_lossy(&b.stderr).contains("dropped 0") || String::from_utf8_lossy(&b.stderr).contains(", 0 dropped"), "{}", String::from_utf8_lossy(&b.stderr));

    // What each sensor wrote, every record named by its sensor.
    let a_records = lines(&std::fs::read_to_string(&ward_a).unwrap());
    assert!(a_records.iter().all(|r| r["observer"]["name"] == "ward-a"));
    let listed = Command::new("redis-cli").args(["-p", &redis.port.to_string(), "--raw", "XRANGE", "ward-b", "-", "+"]).output().unwrap();
    let b_records: Vec<Value> = String::from_utf8(listed.stdout).unwrap().lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!b_records.is_empty() && b_records.iter().all(|r| r["observer"]["name"] == "ward-b"));
    let services = |records: &[Value]| -> BTreeMap<(String, u64, String), Value> {
        records.iter().filter(|r| r["event"]["dataset"] == "tlsaudit.service").map(|r| (key(r), r.clone())).collect()
    };
    let (sa, sb) = (services(&a_records), services(&b_records));
    let both: BTreeSet<_> = sa.keys().filter(|k| sb.contains_key(*k)).cloned().collect();
    assert!(!both.is_empty(), "a service both sensors saw");

    // The report, from the file and the stream.
    let out = tlsaudit(&["report", "--from", ward_a.to_str().unwrap(), &stream, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "the fleet holds non-compliant services: {}", String::from_utf8_lossy(&out.stderr));
    let report = lines(&String::from_utf8(out.stdout).unwrap());
    let stats = &report.last().unwrap()["tlsaudit"]["stats"];
    assert_eq!(stats["verdict"], "non_compliant");
    assert_eq!(stats["sensors"], serde_json::json!(["ward-a", "ward-b"]));
    let merged = services(&report);
    let all: BTreeSet<_> = sa.keys().chain(sb.keys()).cloned().collect();
    assert_eq!(merged.keys().cloned().collect::<BTreeSet<_>>(), all, "one record per service of either sensor");
    for (k, m) in &merged {
        let seen: Vec<&str> = [("ward-a", &sa), ("ward-b", &sb)].iter().filter(|(_, s)| s.contains_key(k)).map(|(n, _)| *n).collect();
        assert_eq!(m["tlsaudit"]["service"]["observers"], serde_json::json!(seen), "{k:?}");
        let sessions: u64 = [&sa, &sb].iter().filter_map(|s| s.get(k)).map(|r| r["tlsaudit"]["service"]["sessions"].as_u64().unwrap()).sum();
        assert_eq!(m["tlsaudit"]["service"]["sessions"], sessions, "{k:?}");
        let judged: Vec<&str> = [&sa, &sb].iter().filter_map(|s| s.get(k)).map(|r| r["tlsaudit"]["assessment"].as_str().unwrap()).collect();
        let worst = if judged.contains(&"non_compliant") { "non_compliant" } else if judged.contains(&"compliant") { "compliant" } else { "not_assessed" };
        assert_eq!(m["tlsaudit"]["assessment"], worst, "{k:?}");
    }
    // The text report names the sensors.
    let text = tlsaudit(&["report", "--from", ward_a.to_str().unwrap(), &stream]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.starts_with(&format!("Fleet verdict: NON-COMPLIANT: {} of {} services non-compliant, seen by 2 sensors (ward-a, ward-b)", stats["services_non_compliant"], merged.len())), "{text}");
    // A source that cannot be read is one error naming it.
    let missing = tlsaudit(&["report", "--from", scratch.path("nope.jsonl").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.jsonl: cannot open"));
}

/// Redis away for the whole run: the queue holds what fits (`buffer=5`),
/// the rest is dropped and counted, said once as it starts and at the end;
/// the run itself is not held up beyond `wait`.
#[test]
fn records_that_do_not_fit_while_redis_is_away_are_counted() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let capture = captures_dir().join("matrix");
    let records = String::from_utf8(tlsaudit(&["-r", capture.to_str().unwrap(), "--format", "jsonl", "--fail-on", "never"]).stdout).unwrap().lines().count();
    let started = Instant::now();
    let out = tlsaudit(&["-r", capture.to_str().unwrap(), "--fail-on", "never", "-o", &format!("redis://127.0.0.1:{port}/away?buffer=5&wait=1")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(30), "the run waited {:?}", started.elapsed());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("records held and Redis still away; dropping records"), "{said}");
    // The 5 held are given up at the end, with the rest.
    assert!(said.contains(&format!("0 records sent, {records} dropped, 0 reconnections")), "{records} records: {said}");
}
