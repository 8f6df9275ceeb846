//! Live capture under load: a generated capture is replayed at top speed
//! (`tcpreplay`) into one end of a veth pair inside a network namespace this
//! test creates, while tlsaudit listens on the other end. tlsaudit must
//! account for every packet (received, or dropped by the kernel or the
//! interface), print periodic status lines, and report every handshake it
//! received whole, just as reading the same file offline does.
//!
//! Needs root (CAP_NET_ADMIN and CAP_NET_RAW), `ip` and `tcpreplay`, as CI has.

mod common;
mod live_support;

#[allow(dead_code)]
#[path = "../benches/e2e/generate.rs"]
mod generate;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{by_connection, captures_dir, completed, session_essentials, session_key, Scratch};
use live_support::{is_stopped, signal, Namespace, Started, Watched};
use serde_json::Value;

/// What a live run printed.
struct LiveRun {
    records: Vec<Value>,
    /// With `--metrics`: what `/metrics` answered once the replay was over.
    scrape: Option<String>,
    status_lines: Vec<String>,
    stderr: Vec<String>,
}

/// The facts compared when packets were lost: a field a live session has
/// must match the capture; a field it lacks may have been in a lost packet.
const FACTS: &[&[&str]] = &[
    &["tls", "version"],
    &["tls", "cipher"],
    &["tls", "client", "server_name"],
    &["tlsaudit", "client", "ja4"],
    &["tls", "server", "ja3s"],
    &["tls", "server", "hash", "sha256"],
];

fn field<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, p| &v[*p])
}

/// True when everything `live` reports agrees with `whole`.
fn consistent_with(live: &Value, whole: &Value) -> bool {
    FACTS.iter().all(|path| {
        let l = field(live, path);
        l.is_null() || l == field(whole, path)
    })
}

fn sessions(records: &[Value]) -> Vec<Value> {
    records.iter().filter(|r| r["event"]["dataset"] == "tlsaudit.session").cloned().collect()
}

fn stats(records: &[Value]) -> &Value {
    let all: Vec<&Value> = records.iter().filter(|r| r["event"]["dataset"] == "tlsaudit.stats").collect();
    assert_eq!(all.len(), 1, "one tlsaudit.stats record expected");
    &all[0]["tlsaudit"]["stats"]
}

fn counter(stats: &Value, path: &[&str]) -> u64 {
    field(stats, path)
        .as_u64().unwrap_or_else(|| panic!("stats field {} missing: {stats}", path.join(".")))
}

/// Reads the capture offline: the reference.
fn offline(capture: &Path) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_tlsaudit"))
        .arg("-r")
        .arg(capture)
        .args(["--format", "jsonl"])
        .output()
        .expect("tlsaudit runs");
    assert!(completed(out.status.code()), "offline run failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// What happens to a live run besides the replay.
#[derive(PartialEq)]
enum Disturbance {
    None,
    /// The veth pair is deleted once tlsaudit listens, and made again once
    /// tlsaudit has said that its interface failed; the replay starts when
    /// tlsaudit captures again.
    InterfaceFlap,
    /// tlsaudit is stopped (SIGSTOP) for the whole replay and continued
    /// after it: every packet waits in the kernel's ring and comes to it in
    /// one burst, faster than its workers take them.
    StoppedDuringReplay,
}

/// Starts tlsaudit on `listen0`, replays the capture into `replay0` at top
/// speed, and stops tlsaudit with SIGTERM once the replay is over.
/// Returns the run's output and the number of packets tcpreplay sent.
fn replay(ns: &Namespace, capture: &Path, scratch: &Scratch, extra: &[&str], disturbance: Disturbance) -> (LiveRun, u64) {
    // One output file per set of arguments (-o appends).
    let output = scratch.path(&format!("live{}.jsonl", extra.join("").replace(|c: char| !c.is_ascii_alphanumeric(), "_")));
    // `ip netns exec` execs the program, so the PID is tlsaudit's own.
    let mut tlsaudit = Watched::spawn(
        ns.command(env!("CARGO_BIN_EXE_tlsaudit"))
            .args(["-i", "listen0", "--duration", "120", "--status-interval", "0.3", "--format", "jsonl", "-o"])
            .arg(&output)
            .args(extra),
    );
    let quiet = Duration::from_secs(20);
    assert!(tlsaudit.wait_for("listening on listen0", quiet), "tlsaudit did not start listening");
    let pid = tlsaudit.child.0.id();
    if disturbance == Disturbance::InterfaceFlap {
        ns.run(&["ip", "link", "del", "replay0"]);
        assert!(tlsaudit.wait_for("capture failed", quiet), "tlsaudit did not notice its interface disappear");
        // Gone long enough for an attempt to open it again to fail first.
        std::thread::sleep(Duration::from_millis(1_500));
        ns.add_veth_pair();
        // Every capture ring opens it again before the replay starts.
        let rings = extra.iter().position(|a| *a == "--capture-threads").map_or(1, |i| extra[i + 1].parse().unwrap());
        for _ in 0..rings {
            assert!(tlsaudit.wait_for("capturing again", quiet), "tlsaudit did not open its interface again");
        }
    }

    if disturbance == Disturbance::StoppedDuringReplay {
        signal(pid, "STOP");
        let asked = Instant::now();
        while !is_stopped(pid) {
            assert!(asked.elapsed() < quiet, "tlsaudit did not stop");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let replayed = ns.run(&["tcpreplay", "--topspeed", "-i", "replay0", capture.to_str().unwrap()]);
    if disturbance == Disturbance::StoppedDuringReplay {
        // The kernel hands over its last partly filled block within 100 ms.
        std::thread::sleep(Duration::from_millis(300));
        signal(pid, "CONT");
    }
    let sent: u64 = replayed
        .lines()
        .find_map(|l| l.trim().strip_prefix("Successful packets:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no packet count in tcpreplay's report: {replayed}"));
    // Let the last packets through and at least two status lines out.
    std::thread::sleep(Duration::from_millis(1500));
    // With --metrics, scrape it before the run ends (bash's /dev/tcp, in
    // the namespace tlsaudit listens in).
    let scrape = extra.iter().position(|a| *a == "--metrics").map(|i| {
        let (host, port) = extra[i + 1].split_once(':').expect("ADDR:PORT");
        let script = format!("exec 3<>/dev/tcp/{host}/{port}; printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3");
        ns.run(&["bash", "-c", &script])
    });
    let (code, stderr_lines) = tlsaudit.stop(Duration::from_secs(30));
    assert!(completed(code), "tlsaudit failed ({code:?}): {stderr_lines:?}");
    let records = std::fs::read_to_string(&output)
        .expect("tlsaudit wrote its output file")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON line {l:?}: {e}")))
        .collect();
    let status_lines = stderr_lines.iter().filter(|l| l.starts_with("tlsaudit: status: ")).cloned().collect();
    (LiveRun { records, scrape, status_lines, stderr: stderr_lines }, sent)
}

/// Checks one live run against the offline reference; returns the drops.
fn check_run(label: &str, run: &LiveRun, sent: u64, reference: &[Value]) -> u64 {
    let st = stats(&run.records);
    let received = counter(st, &["reader", "packets"]);
    let by_kernel = counter(st, &["reader", "dropped_by_kernel"]);
    let by_interface = counter(st, &["reader", "dropped_by_interface"]);
    let by_analyzer = counter(st, &["reader", "dropped_by_analyzer"]);
    eprintln!(
        "{label}: tcpreplay sent {sent}; tlsaudit received {received}, dropped {by_kernel} in the kernel, \
         {by_interface} at the interface, {by_analyzer} segments in the analyzer; {} sessions",
        sessions(&run.records).len()
    );
    assert_eq!(
        received + by_kernel + by_interface,
        sent,
        "{label}: every packet sent must be received or counted as dropped"
    );
    assert!(received > 0, "{label}: nothing received");

    // Periodic status lines, with the same counters, growing.
    assert!(run.status_lines.len() >= 2, "{label}: status lines expected: {:?}", run.stderr);
    let packets_in = |l: &str| -> u64 {
        l.strip_prefix("tlsaudit: status: ")
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unreadable status line {l:?}"))
    };
    let counts: Vec<u64> = run.status_lines.iter().map(|l| packets_in(l)).collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{label}: status counts go backwards: {counts:?}");
    assert!(counts.last().is_some_and(|&n| n <= received && n > 0), "{label}: status {counts:?} vs {received}");
    assert!(run.status_lines.iter().all(|l| l.contains(" by the kernel") && l.contains(" segments by the analyzer")));
    // Memory in use, under the (default) limit.
    for l in &run.status_lines {
        let memory = l.split("; memory: ").nth(1).unwrap_or_else(|| panic!("{label}: no memory in {l:?}"));
        let numbers: Vec<usize> = memory.split(' ').filter_map(|w| w.parse().ok()).collect();
        let [connections, inventory, limit] = numbers[..] else { panic!("{label}: unreadable memory in {l:?}") };
        assert_eq!(limit, 1024, "{label}: {l}");
        assert!(connections + inventory <= limit, "{label}: {l}");
    }

    let live = sessions(&run.records);
    let reference_sessions = sessions(reference);
    if by_kernel + by_interface + by_analyzer == 0 {
        // Nothing lost: exactly the handshakes of the offline run.
        assert_eq!(
            session_essentials(&live),
            session_essentials(&reference_sessions),
            "{label}: live sessions differ from the offline run although nothing was dropped"
        );
        assert_eq!(counter(st, &["sessions"]), counter(stats(reference), &["sessions"]));
    } else {
        // Some packets lost: every session reported is one of the capture's,
        // oriented the same way, with no fact the capture does not hold.
        let by_connection = by_connection(&reference_sessions);
        for s in &live {
            let candidates = by_connection.get(&session_key(s)).map(Vec::as_slice).unwrap_or_default();
            assert!(
                candidates.iter().any(|whole| consistent_with(s, whole)),
                "{label}: session not in the capture: {:?} {:?}",
                session_key(s),
                FACTS.iter().map(|path| field(s, path)).collect::<Vec<_>>()
            );
        }
    }
    by_kernel + by_interface + by_analyzer
}

/// The scrape: valid for Prometheus' own checker (`promtool check
/// metrics`, which also lints names and help), and its counters those of
/// the run's stats record.
fn check_metrics(run: &LiveRun) {
    let scrape = run.scrape.as_deref().expect("a scrape");
    let (head, body) = scrape.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.") && head.contains(" 200 "), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{head}");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (apt-get install prometheus)");
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), body.as_bytes()).unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(checked.status.success(), "promtool: {}{}", String::from_utf8_lossy(&checked.stdout), String::from_utf8_lossy(&checked.stderr));
    let value = |series: &str| -> u64 {
        let line = body.lines().find(|l| l.starts_with(series) && l[series.len()..].starts_with(' ')).unwrap_or_else(|| panic!("no {series} in {body}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let st = stats(&run.records);
    assert_eq!(value("tlsaudit_packets_received_total"), counter(st, &["reader", "packets"]));
    assert_eq!(value("tlsaudit_received_bytes_total"), counter(st, &["reader", "bytes"]));
    assert_eq!(value("tlsaudit_packets_dropped_total{by=\"kernel\"}"), counter(st, &["reader", "dropped_by_kernel"]));
    // Sessions still open when the scrape came are judged at the end.
    let sessions_scraped: u64 = ["compliant", "non_compliant", "not_assessed"].iter().map(|a| value(&format!("tlsaudit_sessions_total{{assessment=\"{a}\"}}"))).sum();
    let sessions_run = sessions(&run.records).len() as u64;
    assert!(sessions_scraped > 0 && sessions_scraped <= sessions_run, "{sessions_scraped} of {sessions_run}");
    let findings_scraped: u64 = body.lines().filter(|l| l.starts_with("tlsaudit_findings_total{")).map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap()).sum();
    let findings_run: usize = sessions(&run.records).iter().map(|s| s["tlsaudit"]["findings"].as_array().map_or(0, Vec::len)).sum();
    assert!(findings_scraped > 0 && findings_scraped <= findings_run as u64, "{findings_scraped} of {findings_run}");
    assert!(value("tlsaudit_memory_limit_bytes") > 0);
}

/// A capture generated from the bundled ones into the scratch directory:
/// `bytes` of it, `concurrent` connections at a time, bulk transfers of up
/// to `max_bulk` bytes (None: the generator's default).
fn generated(scratch: &Scratch, name: &str, seed: u64, bytes: u64, concurrent: usize, max_bulk: Option<u64>) -> (PathBuf, generate::Summary) {
    let capture = scratch.path(name);
    let captures = captures_dir();
    let templates = generate::load_templates(&[&captures, &captures.join("matrix")]);
    let summary = generate::Generator::new(&capture, seed, templates)
        .and_then(|mut g| {
            if let Some(b) = max_bulk {
                g.max_bulk = b;
            }
            g.run(bytes, concurrent)
        })
        .expect("generate the capture");
    (capture, summary)
}

#[test]
fn replay_at_top_speed_into_a_veth_pair() {
    let scratch = Scratch::new("live-replay");
    let (capture, summary) = generated(&scratch, "replay.pcap", 7, 8 << 20, 256, None);
    let reference = offline(&capture);
    let reference_sessions = sessions(&reference).len() as u64;
    assert!(reference_sessions > 100, "the generated capture holds few handshakes: {summary:?}");
    assert_eq!(counter(stats(&reference), &["reader", "packets"]), summary.packets);

    let ns = Namespace::create("replay");
    // Default settings: the handshakes must come through whole.
    // Default settings: the handshakes must come through whole; the
    // metrics endpoint is scraped once the replay is over.
    let (run, sent) = replay(&ns, &capture, &scratch, &["--metrics", "127.0.0.1:9110"], Disturbance::None);
    assert_eq!(sent, summary.packets, "tcpreplay did not send the whole capture");
    check_run("default buffer", &run, sent, &reference);
    check_metrics(&run);

    // The interface disappears and comes back (a NIC reset, a VM's link
    // re-plugged): tlsaudit says so, opens it again, and misses nothing sent
    // after. It runs as nobody, having given up root once the interface was
    // open: reopening needs the capabilities it kept for that.
    let (run, sent) = replay(&ns, &capture, &scratch, &["--user", "nobody"], Disturbance::InterfaceFlap);
    assert_eq!(sent, summary.packets, "tcpreplay did not send the whole capture");
    let warning = run.stderr.iter().find(|l| l.contains("capture failed")).expect("a warning");
    assert!(warning.starts_with("tlsaudit: warning: listen0: capture failed ("), "{warning}");
    let retry = run.stderr.iter().find(|l| l.contains("still trying")).expect("a failed attempt to open it again");
    assert!(retry.starts_with("tlsaudit: warning: ") && retry.contains("listen0"), "{retry}");
    check_run("interface gone and back", &run, sent, &reference);

    // A 64 KiB capture buffer and one worker: the kernel may drop, and
    // whatever it drops must be counted.
    let (run, sent) = replay(&ns, &capture, &scratch, &["--buffer-size", "64", "--threads", "1"], Disturbance::None);
    let dropped = check_run("64 KiB buffer", &run, sent, &reference);
    eprintln!("64 KiB buffer: {dropped} dropped");
}

/// A burst larger than the workers' queues: tlsaudit (one capture thread,
/// worker threads behind it, the default) is stopped while a capture of
/// handshakes only is replayed, so every packet waits in its kernel ring,
/// and then continued. The reader takes them faster than the workers judge
/// them; it must wait for the workers, letting the ring hold the rest,
/// not drop what they cannot take yet: nothing lost, every session of the
/// offline run.
#[test]
fn a_burst_waits_in_the_kernel_ring_instead_of_being_dropped() {
    let scratch = Scratch::new("live-burst");
    // Handshakes only, enough that the reader is more than the workers'
    // queues (16 batches of 256 segments each) ahead of them.
    let (capture, summary) = generated(&scratch, "handshakes.pcap", 11, 24 << 20, 256, Some(0));
    assert!(summary.packets > 40_000, "the generated capture is small: {summary:?}");
    let reference = offline(&capture);
    let ns = Namespace::create("burst");
    let (run, sent) = replay(&ns, &capture, &scratch, &["--buffer-size", "131072"], Disturbance::StoppedDuringReplay);
    assert_eq!(sent, summary.packets, "tcpreplay did not send the whole capture");
    let dropped = check_run("burst after SIGSTOP", &run, sent, &reference);
    assert_eq!(dropped, 0, "a burst the kernel's ring held was dropped");
}

/// Two capture rings in one PACKET_FANOUT group share the veth pair: every
/// connection reaches one ring whole (both directions), so the sessions are
/// exactly those of the offline run; each ring counts what it received and
/// lost, and the rings' counters add up to the run's. The interface then
/// disappears and comes back: both rings open it again, into a new group,
/// having given up root.
#[test]
fn capture_rings_share_a_veth_pair_by_flow() {
    let scratch = Scratch::new("live-rings");
    let (capture, summary) = generated(&scratch, "replay.pcap", 13, 8 << 20, 256, None);
    let reference = offline(&capture);
    assert!(sessions(&reference).len() > 100, "the generated capture holds few handshakes: {summary:?}");

    let ns = Namespace::create("rings");
    let check_rings = |label: &str, run: &LiveRun| {
        let st = stats(&run.records);
        let rings = st["reader"]["rings"].as_array().unwrap_or_else(|| panic!("{label}: no per-ring counters: {st}"));
        assert_eq!(rings.iter().map(|r| r["ring"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 1], "{label}");
        for key in ["packets", "bytes", "dropped_by_kernel", "dropped_by_interface", "dropped_by_analyzer"] {
            let sum: u64 = rings.iter().map(|r| r[key].as_u64().unwrap()).sum();
            assert_eq!(sum, counter(st, &["reader", key]), "{label}: the rings' {key} add up to the run's");
        }
        // Fanout by flow hash: with 256 connections, both rings get some.
        assert!(rings.iter().all(|r| r["packets"].as_u64().unwrap() > 100), "{label}: {rings:?}");
        assert_eq!(counter(st, &["reader", "dropped_by_analyzer"]), 0, "{label}: no queue between a ring and its worker");
        let listening = run.stderr.iter().find(|l| l.contains("listening on listen0")).expect("a listening line");
        assert!(listening.contains(", 2 capture rings (fanout by flow)"), "{listening}");
    };

    let (run, sent) = replay(&ns, &capture, &scratch, &["--capture-threads", "2", "--metrics", "127.0.0.1:9111"], Disturbance::None);
    assert_eq!(sent, summary.packets, "tcpreplay did not send the whole capture");
    let dropped = check_run("two rings", &run, sent, &reference);
    assert_eq!(dropped, 0, "two rings with the default buffer keep up with this replay");
    check_rings("two rings", &run);
    check_metrics(&run);
    // Each ring's own series, as its stats say.
    let scrape = run.scrape.as_deref().expect("a scrape");
    let series = |name: &str| -> u64 {
        let line = scrape.lines().find(|l| l.starts_with(name) && l[name.len()..].starts_with(' ')).unwrap_or_else(|| panic!("no {name} in {scrape}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    for ring in stats(&run.records)["reader"]["rings"].as_array().unwrap() {
        let n = ring["ring"].as_u64().unwrap();
        assert_eq!(series(&format!("tlsaudit_ring_packets_received_total{{ring=\"{n}\"}}")), ring["packets"].as_u64().unwrap());
        assert_eq!(series(&format!("tlsaudit_ring_packets_dropped_total{{by=\"kernel\",ring=\"{n}\"}}")), ring["dropped_by_kernel"].as_u64().unwrap());
    }
    check_schemas("two rings", &run.records);

    let (run, sent) = replay(&ns, &capture, &scratch, &["--capture-threads", "2", "--user", "nobody"], Disturbance::InterfaceFlap);
    for ring in 0..2 {
        let again = format!("tlsaudit: listen0 (capture ring {ring}): capturing again");
        assert!(run.stderr.iter().any(|l| l == &again), "ring {ring} did not reopen: {:?}", run.stderr);
        // Each ring's failed attempts say which ring they are.
        let retry = format!("tlsaudit: warning: capture ring {ring}: ");
        assert!(
            run.stderr.iter().any(|l| l.starts_with(&retry) && l.contains("still trying")),
            "ring {ring}: no failed attempt named: {:?}",
            run.stderr
        );
    }
    assert!(
        run.stderr.iter().filter(|l| l.contains("still trying")).all(|l| l.starts_with("tlsaudit: warning: capture ring ")),
        "{:?}",
        run.stderr
    );
    check_run("two rings, interface gone and back", &run, sent, &reference);
    check_rings("two rings, interface gone and back", &run);
}

/// Every record passes the JSON Schema of its kind (docs/schema/), which
/// admits no field docs/fields.tsv does not list.
fn check_schemas(label: &str, records: &[Value]) {
    let mut validators = std::collections::BTreeMap::new();
    for record in records {
        let kind = record["event"]["dataset"].as_str().and_then(|d| d.strip_prefix("tlsaudit.")).expect("a dataset").to_string();
        let validator = validators.entry(kind.clone()).or_insert_with(|| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("docs/schema/{kind}.schema.json"));
            let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("the schema")).unwrap();
            jsonschema::validator_for(&schema).unwrap()
        });
        let errors: Vec<String> = validator.iter_errors(record).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{label}: a {kind} record fails its schema: {errors:?}");
    }
}

/// Records to a Redis Stream while Redis goes away and comes back in the
/// middle of a live capture: a real redis-server (appending to its own file,
/// so that what it took before the restart stays) runs in the namespace;
/// the capture is replayed once, Redis is stopped, replayed again, and
/// Redis started again. Nothing may be lost that fit in tlsaudit's buffer:
/// every record tlsaudit made is in the stream, and every session of both
/// replays is among them.
#[test]
fn records_reach_redis_across_a_restart_mid_replay() {
    let scratch = Scratch::new("live-redis");
    let (capture, _) = generated(&scratch, "replay.pcap", 11, 2 << 20, 64, None);
    let reference = sessions(&offline(&capture)).len();
    assert!(reference > 20, "the generated capture holds few handshakes: {reference}");

    let ns = Namespace::create("redis");
    let data = scratch.path("redis");
    std::fs::create_dir_all(&data).unwrap();
    let start_redis = || {
        let mut c = ns.command("redis-server");
        c.args(["--port", "6379", "--bind", "127.0.0.1", "--appendonly", "yes", "--appendfsync", "always", "--save", ""])
            .arg("--dir")
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let redis = Started(c.spawn().expect("redis-server starts (apt-get install redis-server)"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while ns.command("redis-cli").args(["-p", "6379", "ping"]).output().map(|o| !String::from_utf8_lossy(&o.stdout).contains("PONG")).unwrap_or(true) {
            assert!(Instant::now() < deadline, "redis-server did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    };
    let mut redis = start_redis();

    let mut tlsaudit = Watched::spawn(ns.command(env!("CARGO_BIN_EXE_tlsaudit")).args([
        "-i",
        "listen0",
        "--duration",
        "120",
        "--status-interval",
        "0",
        "-o",
        "redis://127.0.0.1:6379/tlsaudit?buffer=100000",
    ]));
    assert!(tlsaudit.wait_for("listening on listen0", Duration::from_secs(20)), "tlsaudit did not start listening");
    let replay = || ns.run(&["tcpreplay", "--pps", "4000", "-i", "replay0", capture.to_str().unwrap()]);
    replay();
    std::thread::sleep(Duration::from_millis(500));
    // Redis goes away (stopped by its PID), the second replay goes on.
    let _ = redis.0.kill();
    let _ = redis.0.wait();
    replay();
    std::thread::sleep(Duration::from_millis(500));
    redis = start_redis();
    assert!(tlsaudit.wait_for("connected again", Duration::from_secs(30)), "tlsaudit did not reconnect: {:?}", tlsaudit.said);
    let (code, said) = tlsaudit.stop(Duration::from_secs(40));
    assert!(completed(code), "tlsaudit failed ({code:?}): {said:?}");
    let summary = said.iter().find(|l| l.contains("records sent")).unwrap_or_else(|| panic!("no summary: {said:?}"));
    let sent: usize = summary.split(": ").last().unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(summary.ends_with(&format!("{sent} records sent, 0 dropped, 1 reconnections")), "{summary}");

    // What the stream holds: every record tlsaudit sent, each whole.
    let listed = ns.run(&["redis-cli", "-p", "6379", "--raw", "XRANGE", "tlsaudit", "-", "+"]);
    let records: Vec<Value> = listed.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).expect("whole JSON")).collect();
    assert_eq!(records.len(), sent, "the stream holds every record sent");
    let st = stats(&records);
    let kernel_drops = counter(st, &["reader", "dropped_by_kernel"]);
    assert_eq!(kernel_drops, 0, "the replays were slow enough to capture whole");
    assert_eq!(sessions(&records).len(), 2 * reference, "both replays' sessions");
    drop(redis);
}
