//! How fast a live listener empties its capture rings, measured without the
//! sender in the way: the listener is stopped (SIGSTOP, by its PID) while
//! the capture is replayed at top speed into the veth pair, so that the
//! kernel queues every packet in the listener's rings; then it is continued
//! and timed until its threads have done 98% of the work they do before
//! falling idle. On a machine whose sender is slower than the listener,
//! this is the rate at which the listener's curve would bend: the most
//! packets per second it can take off its rings with the cores it has. A
//! run counts only when the rings held everything (nothing sent was lost)
//! and, for tlsaudit, every session of the offline run was reported.
//!
//!   cargo bench --bench e2e -- drain --file CAPTURE [--threads 1,2] [--buffer KIB] [--repeat N] [--pin]
//!
//! With `--pin`, each listener runs on as many cores as it has rings
//! (`taskset`; tcpdump on one), and tlsaudit starts as many workers as it
//! has cores: the curve over cores.
//!
//! The buffer must hold the whole capture (with a few dozen bytes of ring
//! header per packet). Needs root, `ip`, `tcpreplay` and `tcpdump`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::live::{counts, number_after, parse, prepare, start, Bench, Contender, Namespace};

/// CPU time (nanoseconds, every thread) a process has run: the first field
/// of each thread's schedstat, which the kernel keeps in nanoseconds (the
/// clock ticks of /proc/PID/stat are 10 ms, longer than a drain's end).
fn cpu_nanos(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()))
        .sum()
}

/// Whether the process is stopped (state T in /proc/PID/stat).
fn stopped(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) == Some("T")
}

fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status().is_ok_and(|s| s.success());
    assert!(ok, "kill -{name} {pid} failed");
}

/// One drain: what was sent, what the listener received and counted as
/// dropped, how long it took from SIGCONT until 98% of its work was done,
/// and the CPU it spent from SIGCONT until it fell idle.
struct Drain {
    sent: u64,
    /// Bytes of the packets sent.
    bytes: u64,
    received: u64,
    drops: u64,
    seconds: f64,
    cpu: f64,
    sessions: Option<u64>,
}

/// Sampling period while draining, and how long the threads must stay
/// (nearly) idle for the drain to be over.
const SAMPLE: Duration = Duration::from_millis(2);
const QUIET: Duration = Duration::from_millis(300);
/// A sample is busy when the threads ran for at least this share of it.
const BUSY_SHARE: f64 = 0.25;
/// The share of the CPU time spent after SIGCONT at which the drain is over.
const DONE_SHARE: f64 = 0.98;

fn drain_once(ns: &Namespace, who: &Contender, capture: &Path, buffer_kib: u32, out: &Path, cores: Option<usize>) -> Drain {
    let listener = start(ns, who, buffer_kib, out, cores);
    let pid = listener.child.id();
    signal(pid, "STOP");
    let asked = Instant::now();
    while !stopped(pid) {
        assert!(asked.elapsed() < Duration::from_secs(5), "the listener did not stop");
        std::thread::sleep(Duration::from_millis(1));
    }
    let report = ns.command("tcpreplay").args(["-K", "-i", "replay0", "--topspeed"]).arg(capture).output().expect("tcpreplay runs");
    assert!(report.status.success(), "tcpreplay failed: {}", String::from_utf8_lossy(&report.stderr));
    let report = String::from_utf8_lossy(&report.stdout).into_owned();
    let sent = number_after(&report, "Successful packets:").unwrap_or_else(|| panic!("tcpreplay said: {report}")) as u64;
    let bytes = report.split("Actual:").nth(1).and_then(|r| number_after(r, "packets (")).unwrap_or(0.0) as u64;
    // The kernel hands the last partly filled block over once the ring's
    // block timeout has passed: 100 ms for tlsaudit's rings, 1 s for
    // tcpdump's (libpcap's default). Until then a listener cannot see it,
    // and a drain would end without its packets.
    std::thread::sleep(Duration::from_millis(1_200));
    let cpu_before = cpu_nanos(pid);
    let resumed = Instant::now();
    signal(pid, "CONT");
    let mut samples = vec![(Duration::ZERO, cpu_before)];
    let mut last_busy = Duration::ZERO;
    loop {
        std::thread::sleep(SAMPLE);
        let t = resumed.elapsed();
        let cpu = cpu_nanos(pid);
        let &(prev_t, prev_cpu) = samples.last().unwrap_or(&(Duration::ZERO, cpu_before));
        if cpu.saturating_sub(prev_cpu) as f64 >= BUSY_SHARE * (t - prev_t).as_nanos() as f64 {
            last_busy = t;
        }
        samples.push((t, cpu));
        if t - last_busy >= QUIET || t > Duration::from_secs(120) {
            break;
        }
    }
    // The drain ends when the threads have done all but the last sliver of
    // the work they did after SIGCONT: a timer's work afterwards (idle
    // flows, a poll timeout) would otherwise stretch it.
    let spent = samples.last().map_or(0, |&(_, c)| c.saturating_sub(cpu_before));
    let end = samples.iter().find(|&&(_, c)| c.saturating_sub(cpu_before) as f64 >= DONE_SHARE * spent as f64).map_or(last_busy, |&(t, _)| t);
    let said = listener.stop().join("\n");
    let (received, drops, sessions) = counts(who, &said, out);
    Drain { sent, bytes, received, drops, seconds: end.as_secs_f64(), cpu: spent as f64 / 1e9, sessions }
}

pub fn main(args: &[String]) {
    let asked = parse(args, 524_288, true);
    let Bench { out, offline_sessions: offline, ns, contenders } = prepare(&asked, "drain.jsonl");
    let (capture, buffer_kib, repeat) = (&asked.capture, asked.buffer_kib, asked.repeat);
    println!(
        "rings drained: {} replayed into a veth pair while the listener was stopped, kernel buffer {buffer_kib} KiB{}; {offline} sessions offline",
        capture.display(),
        if asked.pin { ", each listener on as many cores as it has rings" } else { "" }
    );
    println!("| listener | run | sent | received | lost | drain s | packets/s | Gbit/s | CPU s | CPU µs/packet | sessions |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for who in &contenders {
        let mut rates: Vec<(f64, f64)> = Vec::new();
        for run in 1..=repeat {
            let cores = asked.pin.then_some(match who {
                Contender::Tcpdump => 1,
                Contender::Tlsaudit { rings } => *rings,
            });
            let d = drain_once(&ns, who, capture, buffer_kib, &out, cores);
            let lost = d.sent.saturating_sub(d.received);
            let pps = d.received as f64 / d.seconds.max(1e-9);
            println!(
                "| {} | {run} | {} | {} | {lost} ({} counted) | {:.3} | {pps:.0} | {:.1} | {:.3} | {:.2} | {} |",
                who.label(),
                d.sent,
                d.received,
                d.drops,
                d.seconds,
                d.bytes as f64 * 8.0 / d.seconds.max(1e-9) / 1e9,
                d.cpu,
                d.cpu * 1e6 / d.received.max(1) as f64,
                d.sessions.map_or("-".into(), |s| format!("{s} of {offline}")),
            );
            let complete = lost == 0 && d.sessions.is_none_or(|s| s == offline);
            if complete {
                rates.push((pps, d.bytes as f64 * 8.0 / d.seconds.max(1e-9) / 1e9));
            }
        }
        rates.sort_by(|a, b| a.0.total_cmp(&b.0));
        match rates.get(rates.len() / 2) {
            Some((pps, gbps)) => println!("|   {}: median of {} complete drains: {pps:.0} packets/s, {gbps:.1} Gbit/s | | | | | | | | | | |", who.label(), rates.len()),
            None => println!("|   {}: no complete drain (packets lost: raise --buffer) | | | | | | | | | | |", who.label()),
        }
    }
}
