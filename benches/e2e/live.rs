//! Live capture at line rate: the capture is replayed with `tcpreplay` into
//! one end of a veth pair inside a network namespace made for the run, while
//! a contender listens on the other end: `tcpdump -w /dev/null` (the floor of
//! live capture), and tlsaudit with 1, 2, ... capture rings. For each, the
//! harness replays at top speed; when anything is lost it searches the
//! highest rate with nothing lost (five halvings between zero and top speed).
//! It prints what was sent, received and dropped, and the CPU time each
//! contender spent per packet, and checks that tlsaudit reported as many
//! sessions as reading the same file offline.
//!
//!   cargo bench --bench e2e -- live --file CAPTURE [--threads 1,2] [--buffer KIB]
//!
//! Needs root (a network namespace), `ip`, `tcpreplay` and `tcpdump`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// The namespace of the run with its veth pair; deleted when dropped.
pub(crate) struct Namespace(String);

impl Namespace {
    pub(crate) fn create() -> Namespace {
        let ns = Namespace(format!("tlsaudit-bench-{}", std::process::id()));
        let made = Command::new("ip").args(["netns", "add", &ns.0]).status().expect("`ip` runs");
        assert!(made.success(), "cannot create network namespace {} (run as root)", ns.0);
        for args in [
            &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"][..],
            &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
            &["ip", "link", "add", "replay0", "mtu", "9000", "type", "veth", "peer", "name", "listen0", "mtu", "9000"],
            &["ip", "link", "set", "replay0", "up"],
            &["ip", "link", "set", "listen0", "up"],
        ] {
            let ok = ns.command(args[0]).args(&args[1..]).status().expect("ip netns exec").success();
            assert!(ok, "in {}: {args:?} failed", ns.0);
        }
        ns
    }

    pub(crate) fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A listener started by the harness, ended by its PID.
pub(crate) struct Listener {
    pub(crate) child: Child,
    stderr: mpsc::Receiver<String>,
}

impl Listener {
    fn start(mut command: Command) -> Listener {
        let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start the listener");
        let (tx, stderr) = mpsc::channel();
        let pipe = BufReader::new(child.stderr.take().expect("piped stderr"));
        std::thread::spawn(move || {
            for line in pipe.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut l = Listener { child, stderr };
        let ready = l.lines_until(|line| line.contains("listening on"), Duration::from_secs(20));
        assert!(ready.last().is_some_and(|line| line.contains("listening on")), "listener did not start: {ready:?}");
        l
    }

    fn lines_until(&mut self, done: impl Fn(&str) -> bool, within: Duration) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(line) = self.stderr.recv_timeout(within) {
            let last = done(&line);
            lines.push(line);
            if last {
                break;
            }
        }
        lines
    }

    /// CPU seconds (user and system, every thread) spent so far.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // The fields after the command name in parentheses; utime and stime
        // are the 14th and 15th of the line.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64;
        (ticks(11) + ticks(12)) / hz
    }

    /// Ends it (SIGINT, by its PID) and returns what it printed on the way out.
    pub(crate) fn stop(mut self) -> Vec<String> {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let status = self.child.wait().expect("wait for the listener");
        let lines = self.lines_until(|_| false, Duration::from_millis(500));
        assert!(status.code().is_some_and(|c| c <= 3), "listener failed ({status}): {lines:?}");
        lines
    }
}

/// What one replay at one rate gave.
struct Trial {
    /// Asked of tcpreplay, in Mbit/s; None: top speed.
    rate: Option<f64>,
    sent: u64,
    pps: f64,
    mbps: f64,
    received: u64,
    kernel_drops: u64,
    cpu: f64,
    sessions: Option<u64>,
}

impl Trial {
    fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received)
    }
}

/// A listener under test.
#[derive(Clone)]
pub(crate) enum Contender {
    Tcpdump,
    Tlsaudit { rings: usize },
}

impl Contender {
    pub(crate) fn label(&self) -> String {
        match self {
            Contender::Tcpdump => "tcpdump -w /dev/null".into(),
            Contender::Tlsaudit { rings } => format!("tlsaudit --capture-threads {rings}"),
        }
    }
}

pub(crate) fn number_after(text: &str, label: &str) -> Option<f64> {
    let at = text.find(label)? + label.len();
    text[at..].split_whitespace().next()?.trim_end_matches(',').parse().ok()
}

/// Starts `who` listening on the namespace's veth end, its records (for
/// tlsaudit) going to `out`; with `cores`, on that many cores only (the
/// first ones, by `taskset`, which execs it: the PID is the listener's).
pub(crate) fn start(ns: &Namespace, who: &Contender, buffer_kib: u32, out: &Path, cores: Option<usize>) -> Listener {
    let buffer = buffer_kib.to_string();
    let program = |name: &str| match cores {
        None => ns.command(name),
        Some(n) => {
            let mut c = ns.command("taskset");
            c.args(["-c", &format!("0-{}", n.max(1) - 1), name]);
            c
        }
    };
    match who {
        Contender::Tcpdump => {
            let mut c = program("tcpdump");
            c.args(["-i", "listen0", "-w", "/dev/null", "-n", "-s", "262144", "-B", &buffer]);
            Listener::start(c)
        }
        Contender::Tlsaudit { rings } => {
            let _ = std::fs::remove_file(out);
            let mut c = program(env!("CARGO_BIN_EXE_tlsaudit"));
            c.args(["-i", "listen0", "--status-interval", "0", "--format", "jsonl", "-B", &buffer])
                .args(["--capture-threads", &rings.to_string(), "-o"])
                .arg(out);
            Listener::start(c)
        }
    }
}

/// What a stopped listener received, the drops it counted, and (tlsaudit)
/// the sessions it reported: from what it printed on the way out and its
/// stats record.
pub(crate) fn counts(who: &Contender, said: &str, out: &Path) -> (u64, u64, Option<u64>) {
    match who {
        Contender::Tcpdump => (captured(said, "packets captured"), captured(said, "packets dropped by kernel"), None),
        Contender::Tlsaudit { .. } => {
            let text = std::fs::read_to_string(out).expect("tlsaudit's output");
            let stats: Value = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|r| r["event"]["dataset"] == "tlsaudit.stats")
                .expect("a stats record");
            let st = &stats["tlsaudit"]["stats"];
            let reader = &st["reader"];
            let n = |k: &str| reader[k].as_u64().unwrap_or(0);
            (n("packets"), n("dropped_by_kernel") + n("dropped_by_interface") + n("dropped_by_analyzer"), st["sessions"].as_u64())
        }
    }
}

fn replay_once(ns: &Namespace, who: &Contender, capture: &Path, buffer_kib: u32, rate: Option<f64>, out: &Path) -> Trial {
    let listener = start(ns, who, buffer_kib, out, None);
    let idle_cpu = listener.cpu_seconds();
    let mut replay = ns.command("tcpreplay");
    replay.args(["-K", "-i", "replay0"]);
    match rate {
        None => replay.arg("--topspeed"),
        Some(mbps) => replay.arg(format!("--mbps={mbps:.1}")),
    };
    let report = replay.arg(capture).output().expect("tcpreplay runs");
    assert!(report.status.success(), "tcpreplay failed: {}", String::from_utf8_lossy(&report.stderr));
    let report = String::from_utf8_lossy(&report.stdout).into_owned();
    // Let the last packets and blocks through.
    std::thread::sleep(Duration::from_millis(1500));
    let cpu = listener.cpu_seconds() - idle_cpu;
    let said = listener.stop().join("\n");
    let sent = number_after(&report, "Successful packets:").unwrap_or_else(|| panic!("tcpreplay said: {report}")) as u64;
    let pps = number_after(&report, "Mbps,").unwrap_or(0.0);
    let mbps = report.split("Rated:").nth(1).and_then(|r| number_after(r, "Bps,")).unwrap_or(0.0);
    let (received, kernel_drops, sessions) = counts(who, &said, out);
    Trial { rate, sent, pps, mbps, received, kernel_drops, cpu, sessions }
}

/// tcpdump's closing count on the line that ends with `label`.
fn captured(said: &str, label: &str) -> u64 {
    said.lines().find(|l| l.ends_with(label)).and_then(|l| l.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Top speed, then (when something was lost) the highest rate that loses
/// nothing, by halving the interval between zero and top speed.
fn trials(ns: &Namespace, who: &Contender, capture: &Path, buffer_kib: u32, out: &Path) -> Vec<Trial> {
    let top = replay_once(ns, who, capture, buffer_kib, None, out);
    let (mut low, mut high) = (0.0, top.mbps);
    let lossy = top.lost() > 0;
    let mut all = vec![top];
    if lossy {
        for _ in 0..5 {
            let rate = (low + high) / 2.0;
            let t = replay_once(ns, who, capture, buffer_kib, Some(rate), out);
            if t.lost() == 0 {
                low = rate;
            } else {
                high = rate;
            }
            all.push(t);
        }
    }
    all
}

/// The sessions tlsaudit reports reading `capture` offline.
fn offline_sessions(capture: &Path) -> u64 {
    let offline = Command::new(env!("CARGO_BIN_EXE_tlsaudit"))
        .arg("-r")
        .arg(capture)
        .args(["--format", "jsonl"])
        .output()
        .expect("tlsaudit runs");
    String::from_utf8_lossy(&offline.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|r| r["event"]["dataset"] == "tlsaudit.stats")
        .and_then(|r| r["tlsaudit"]["stats"]["sessions"].as_u64())
        .expect("offline stats")
}

/// What `live` and `drain` are asked for.
pub(crate) struct Asked {
    pub capture: PathBuf,
    pub rings: Vec<usize>,
    pub buffer_kib: u32,
    /// Drains per listener (`drain --repeat`).
    pub repeat: usize,
    /// Each listener on as many cores as it has rings (`drain --pin`).
    pub pin: bool,
}

/// Reads the arguments; `drain` admits that mode's own options
/// (`--repeat`, `--pin`).
pub(crate) fn parse(args: &[String], buffer_kib: u32, drain: bool) -> Asked {
    let mut asked = Asked { capture: PathBuf::new(), rings: vec![1, 2], buffer_kib, repeat: 3, pin: false };
    let mut file = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_else(|| super::usage());
        match a.as_str() {
            "--bench" => {}
            "--file" => file = Some(PathBuf::from(value())),
            "--threads" => asked.rings = value().split(',').map(|t| t.parse().unwrap_or_else(|_| super::usage())).collect(),
            "--buffer" => asked.buffer_kib = value().parse().unwrap_or_else(|_| super::usage()),
            "--repeat" if drain => asked.repeat = value().parse().unwrap_or_else(|_| super::usage()),
            "--pin" if drain => asked.pin = true,
            _ => super::usage(),
        }
    }
    asked.capture = file.unwrap_or_else(|| super::usage());
    asked
}

/// What a run of `live` or `drain` works with: tlsaudit's output file, the
/// sessions of the offline run, the namespace, and the listeners in order.
pub(crate) struct Bench {
    pub out: PathBuf,
    pub offline_sessions: u64,
    pub ns: Namespace,
    pub contenders: Vec<Contender>,
}

pub(crate) fn prepare(asked: &Asked, output_name: &str) -> Bench {
    let work = super::repo().join("target/bench-captures/run");
    std::fs::create_dir_all(&work).expect("work dir");
    let offline_sessions = offline_sessions(&asked.capture);
    let contenders = std::iter::once(Contender::Tcpdump).chain(asked.rings.iter().map(|&r| Contender::Tlsaudit { rings: r })).collect();
    Bench { out: work.join(output_name), offline_sessions, ns: Namespace::create(), contenders }
}

pub fn main(args: &[String]) {
    let asked = parse(args, 65_536, false);
    let Bench { out, offline_sessions, ns, contenders } = prepare(&asked, "live.jsonl");
    let (capture, buffer_kib) = (&asked.capture, asked.buffer_kib);
    println!("live capture of {} into a veth pair, kernel buffer {buffer_kib} KiB; {offline_sessions} sessions offline", capture.display());
    println!("| listener | tcpreplay asked | sent | Mbit/s | packets/s | received | lost | dropped (counted) | CPU s | CPU µs/packet | sessions |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut floor_cpu = None;
    for who in &contenders {
        let all = trials(&ns, who, capture, buffer_kib, &out);
        for t in &all {
            let per_packet = t.cpu * 1e6 / t.received.max(1) as f64;
            println!(
                "| {} | {} | {} | {:.0} | {:.0} | {} | {} | {} | {:.2} | {:.2}{} | {} |",
                who.label(),
                t.rate.map_or("top speed".into(), |r| format!("{r:.0} Mbit/s")),
                t.sent,
                t.mbps,
                t.pps,
                t.received,
                t.lost(),
                t.kernel_drops,
                t.cpu,
                per_packet,
                match (floor_cpu, t.rate) {
                    (Some(f), None) => format!(" ({:.1}x tcpdump)", per_packet / f),
                    _ => String::new(),
                },
                t.sessions.map_or("-".into(), |s| format!("{s} of {offline_sessions}")),
            );
            if matches!(who, Contender::Tcpdump) && t.rate.is_none() {
                floor_cpu = Some(per_packet.max(1e-9));
            }
            if let (Some(s), 0) = (t.sessions, t.lost()) {
                assert_eq!(s, offline_sessions, "{}: nothing lost, yet not every session reported", who.label());
            }
        }
        let best = all.iter().filter(|t| t.lost() == 0).map(|t| t.mbps).fold(0.0, f64::max);
        println!("|   {}: highest rate with nothing lost: {best:.0} Mbit/s | | | | | | | | | | |", who.label());
    }
}
