//! The end-to-end harness: on one large generated capture and in one run, it
//! times tlsaudit, the libpcap floor (a program that reads every packet with
//! libpcap and does nothing else) and tshark reading the same handshakes;
//! prints packets/s, Gbit/s, the ratios and peak RSS; and checks that
//! tlsaudit found every handshake tshark found. Besides the ratio of the
//! medians it prints each repetition's ratio to the floor's run in the
//! same repetition (median, quartiles, range), which a slow moment of the
//! machine moves less.
//!
//!   cargo bench --bench e2e -- [--size 1G] [--seed 1] [--bulk 1M] [--repeat 3] [--threads 1,2]
//!                              [--file PATH] [--no-tshark] [--baseline BIN]
//!   cargo bench --bench e2e -- generate --size 4G --seed 1 --out FILE
//!   cargo bench --bench e2e -- live --file FILE [--threads 1,2] [--buffer KIB]   (live.rs)
//!   cargo bench --bench e2e -- drain --file FILE [--threads 1,2] [--buffer KIB]  (drain.rs)
//!   cargo bench --bench e2e -- dir --dir DIR [--repeat 5] [--threads 1,2]         (dir.rs)
//!
//! `--baseline BIN` also times another tlsaudit binary (an earlier build)
//! interleaved with this one, and prints the ratio of the two, of the
//! medians and repetition by repetition.
//!
//! Generated captures are kept under target/bench-captures/ and reused.

mod dir;
mod drain;
mod generate;
mod live;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

fn usage() -> ! {
    eprintln!(
        "usage: e2e [--size N[K|M|G]] [--seed S] [--bulk N[K|M]] [--repeat R] [--threads LIST] [--file PATH] [--no-tshark] [--baseline BIN]\n       \
         e2e generate --size N --seed S [--bulk N] --out FILE\n       \
         e2e live --file FILE [--threads LIST] [--buffer KIB]\n       \
         e2e drain --file FILE [--threads LIST] [--buffer KIB] [--repeat R] [--pin]\n       \
         e2e dir --dir DIR [--repeat R] [--threads LIST]"
    );
    std::process::exit(2)
}

fn parse_size(s: &str) -> u64 {
    let (num, mult) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<f64>().map(|n| (n * mult as f64) as u64).unwrap_or_else(|_| usage())
}

struct Options {
    size: u64,
    size_label: String,
    seed: u64,
    repeat: usize,
    threads: Vec<usize>,
    file: Option<PathBuf>,
    tshark: bool,
    out: Option<PathBuf>,
    max_bulk: u64,
    /// Another tlsaudit binary (an earlier build) timed in the same run.
    baseline: Option<PathBuf>,
}

fn options(args: &[String]) -> Options {
    let mut o = Options {
        size: 1 << 30,
        size_label: "1G".into(),
        seed: 1,
        repeat: 3,
        threads: vec![1, 2],
        file: None,
        tshark: true,
        out: None,
        max_bulk: generate::DEFAULT_MAX_BULK,
        baseline: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_else(|| usage());
        match a.as_str() {
            "--bench" => {}
            "--size" => {
                o.size_label = value();
                o.size = parse_size(&o.size_label);
            }
            "--seed" => o.seed = value().parse().unwrap_or_else(|_| usage()),
            "--repeat" => o.repeat = value().parse().unwrap_or_else(|_| usage()),
            "--threads" => {
                o.threads = value().split(',').map(|t| t.parse().unwrap_or_else(|_| usage())).collect();
            }
            "--file" => o.file = Some(PathBuf::from(value())),
            "--out" => o.out = Some(PathBuf::from(value())),
            "--no-tshark" => o.tshark = false,
            "--bulk" => o.max_bulk = parse_size(&value()),
            "--baseline" => o.baseline = Some(PathBuf::from(value())),
            _ => usage(),
        }
    }
    o
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate(path: &Path, size: u64, seed: u64, max_bulk: u64) {
    let captures = repo().join("captures");
    let templates = generate::load_templates(&[&captures, &captures.join("matrix")]);
    let handshakes: usize = templates.iter().map(|t| t.client_hellos).sum();
    let files: std::collections::BTreeSet<&str> = templates.iter().map(|t| t.source.as_str()).collect();
    eprintln!("{} connection templates ({handshakes} ClientHellos) from {} captures in captures/", templates.len(), files.len());
    let started = Instant::now();
    let tmp = path.with_extension("partial");
    let plain = generate::load_templates(&[&captures.join("cleartext")]);
    eprintln!("{} sessions in clear as templates from captures/cleartext", plain.len());
    let summary = generate::Generator::new(&tmp, seed, templates)
        .and_then(|mut g| {
            g.max_bulk = max_bulk;
            g.plain_templates = plain;
            g.run(size, 256)
        })
        .unwrap_or_else(|e| panic!("writing {}: {e}", tmp.display()));
    std::fs::rename(&tmp, path).expect("rename the finished capture");
    eprintln!("wrote {} in {:.1} s: {summary:?}", path.display(), started.elapsed().as_secs_f64());
    let sidecar = serde_json::json!({
        "packets": summary.packets, "bytes": summary.bytes, "tls_flows": summary.tls_flows,
        "client_hellos": summary.client_hellos, "plain_tcp_flows": summary.plain_tcp_flows,
        "plain_protocol_flows": summary.plain_protocol_flows,
        "udp_flows": summary.udp_flows, "reused_ports": summary.reused_ports,
        "ipv6_flows": summary.ipv6_flows, "vlan_flows": summary.vlan_flows, "seed": seed,
    });
    std::fs::write(path.with_extension("json"), sidecar.to_string()).expect("write the summary");
}

/// One measured run of a command: wall time, CPU time and peak RSS.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    pub(crate) wall: f64,
    pub(crate) cpu: f64,
    pub(crate) max_rss_mb: f64,
}

/// Runs `cmd` through this harness's `measure` mode, which spawns it as its
/// only child and reads the child's peak RSS from getrusage afterwards.
pub(crate) fn measure(stdout_to: &Path, cmd: &[&str]) -> Measured {
    let me = std::env::current_exe().expect("own path");
    let out = Command::new(me)
        .arg("measure")
        .arg(stdout_to)
        .arg("--")
        .args(cmd)
        .stderr(Stdio::inherit())
        .output()
        .expect("run the measuring wrapper");
    assert!(out.status.success(), "{cmd:?} failed");
    let v: Value = serde_json::from_slice(&out.stdout).expect("measurement JSON");
    Measured {
        wall: v["wall"].as_f64().unwrap(),
        cpu: v["cpu"].as_f64().unwrap(),
        max_rss_mb: v["max_rss_kb"].as_f64().unwrap() / 1024.0,
    }
}

fn measure_mode(args: &[String]) -> ! {
    let out_path = &args[0];
    assert_eq!(args[1], "--");
    let out = std::fs::File::create(out_path).expect("output file");
    let started = Instant::now();
    let status = Command::new(&args[2]).args(&args[3..]).stdout(out).status().expect("spawn");
    let wall = started.elapsed().as_secs_f64();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let report = serde_json::json!({
        "wall": wall,
        "cpu": secs(usage.user_time()) + secs(usage.system_time()),
        "max_rss_kb": usage.max_rss(),
    });
    println!("{report}");
    // tlsaudit's exit status is its verdict: 0 compliant, 1 non-compliant,
    // 3 not assessed; only 2 (or a signal) means the run failed.
    if !matches!(status.code(), Some(0 | 1 | 3)) {
        eprintln!("{} exited with {status}", args[2]);
        std::process::exit(1);
    }
    std::process::exit(0)
}

/// The floor: every packet of the files read with libpcap, one file after
/// the other, nothing else done.
fn floor_mode(paths: &[String]) -> ! {
    let (mut packets, mut bytes) = (0u64, 0u64);
    for path in paths {
        let mut cap = pcap::Capture::from_file(path).expect("open the capture");
        while let Ok(p) = cap.next_packet() {
            packets += 1;
            bytes += p.header.caplen as u64;
        }
    }
    println!("{{\"packets\":{packets},\"bytes\":{bytes}}}");
    std::process::exit(0)
}

pub(crate) fn median(mut v: Vec<Measured>) -> Measured {
    v.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    v[v.len() / 2]
}

/// Each repetition's wall time over the other's in the same repetition
/// (run one after the other, so that a slow moment of the machine weighs on
/// both): the ratios sorted.
fn paired(these: &[Measured], those: &[Measured]) -> Vec<f64> {
    let mut ratios: Vec<f64> = these.iter().zip(those).map(|(a, b)| a.wall / b.wall.max(1e-9)).collect();
    ratios.sort_by(f64::total_cmp);
    ratios
}

/// The median of sorted ratios, their quartiles and their range.
fn spread(sorted: &[f64]) -> String {
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    if sorted.is_empty() {
        return String::new();
    }
    format!(
        "median {:.2}, quartiles {:.2}-{:.2}, range {:.2}-{:.2} ({} repetitions)",
        at(0.5),
        at(0.25),
        at(0.75),
        sorted[0],
        sorted[sorted.len() - 1],
        sorted.len()
    )
}

type Tuple = String;

/// ClientHellos per connection 4-tuple, and ServerHellos (not
/// HelloRetryRequests) in all, as tshark reports them.
fn tshark_handshakes(tsv: &Path) -> (BTreeMap<Tuple, u64>, u64) {
    const HRR_RANDOM: &str = "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c";
    let text = std::fs::read_to_string(tsv).expect("tshark output");
    let mut hellos = BTreeMap::new();
    let mut server_hellos = 0;
    for line in text.lines() {
        let c: Vec<&str> = line.split('\t').collect();
        if c.len() < 8 || c[2].is_empty() {
            continue;
        }
        let (src, dst) = if !c[0].is_empty() { (c[0], c[3]) } else { (c[1], c[4]) };
        let (sport, dport) = (c[2], c[5]);
        for (t, random) in c[6].split(',').zip(c[7].split(',').chain(std::iter::repeat(""))) {
            match t {
                "1" => *hellos.entry(format!("{src}:{sport} {dst}:{dport}")).or_insert(0) += 1,
                "2" if random != HRR_RANDOM => server_hellos += 1,
                _ => {}
            }
        }
    }
    (hellos, server_hellos)
}

/// What tlsaudit reported: ClientHellos per connection, negotiated
/// sessions, sessions without TLS (of a protocol it recognised), and its
/// stats record.
fn tlsaudit_handshakes(jsonl: &Path) -> (BTreeMap<Tuple, u64>, u64, u64, Value) {
    let text = std::fs::read_to_string(jsonl).expect("tlsaudit output");
    let mut hellos = BTreeMap::new();
    let mut negotiated = 0;
    let mut without_tls = 0;
    let mut stats = Value::Null;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("JSON line");
        match v["event"]["dataset"].as_str() {
            Some("tlsaudit.session") => {
                let key = format!(
                    "{}:{} {}:{}",
                    v["source"]["ip"].as_str().unwrap_or(""),
                    v["source"]["port"],
                    v["destination"]["ip"].as_str().unwrap_or(""),
                    v["destination"]["port"]
                );
                if v["tlsaudit"]["client"]["ja4"].is_string() {
                    *hellos.entry(key).or_insert(0) += v["tlsaudit"]["client_hello_count"].as_u64().unwrap_or(1);
                }
                if v["tls"]["version"].is_string() {
                    negotiated += 1;
                }
                without_tls += u64::from(v["tls"].is_null());
            }
            Some("tlsaudit.stats") => stats = v,
            _ => {}
        }
    }
    (hellos, negotiated, without_tls, stats)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("measure") => measure_mode(&args[1..]),
        Some("floor") => floor_mode(&args[1..]),
        Some("dir") => {
            dir::main(&args[1..]);
            return;
        }
        Some("live") => {
            live::main(&args[1..]);
            return;
        }
        Some("drain") => {
            drain::main(&args[1..]);
            return;
        }
        Some("generate") => {
            let o = options(&args[1..]);
            let out = o.out.unwrap_or_else(|| usage());
            generate(&out, o.size, o.seed, o.max_bulk);
            return;
        }
        _ => {}
    }
    let o = options(&args);
    let file = o.file.clone().unwrap_or_else(|| {
        let dir = repo().join("target/bench-captures");
        std::fs::create_dir_all(&dir).expect("target/bench-captures");
        let bulk = if o.max_bulk == generate::DEFAULT_MAX_BULK { String::new() } else { format!("-bulk{}", o.max_bulk) };
        let path = dir.join(format!("gen-{}-seed{}{bulk}.pcap", o.size_label, o.seed));
        if !path.is_file() {
            generate(&path, o.size, o.seed, o.max_bulk);
        }
        path
    });
    let work = repo().join("target/bench-captures/run");
    std::fs::create_dir_all(&work).expect("work dir");
    let file_s = file.to_str().expect("UTF-8 path");
    let file_bytes = std::fs::metadata(&file).expect("capture").len();

    // Read the file once so that every tool reads it from the page cache.
    let _ = std::fs::read(&file).map(|b| b.len());

    let me = std::env::current_exe().expect("own path");
    let me_s = me.to_str().expect("UTF-8 path");
    let floor_out = work.join("floor.json");
    let mut floors = Vec::new();
    let mut ours: BTreeMap<usize, Vec<Measured>> = BTreeMap::new();
    let mut baseline: BTreeMap<usize, Vec<Measured>> = BTreeMap::new();
    let tlsaudit = env!("CARGO_BIN_EXE_tlsaudit");
    // Interleaved, so that a slow moment of the machine hits all alike, and
    // in an order that turns by one each repetition: on a 2-core machine a
    // run's place in the sequence moved its time by up to 30% (the same
    // binary as `--baseline` measured 1.26 of itself right after the floor
    // and 0.76 later on), so every run takes every place in turn.
    let mut runs: Vec<(Option<usize>, bool)> = vec![(None, false)];
    for &t in &o.threads {
        runs.push((Some(t), false));
        if o.baseline.is_some() {
            runs.push((Some(t), true));
        }
    }
    for rep in 0..o.repeat {
        for k in 0..runs.len() {
            match runs[(rep + k) % runs.len()] {
                (None, _) => floors.push(measure(&floor_out, &[me_s, "floor", file_s])),
                (Some(t), earlier) => {
                    let (name, binary) = match (earlier, o.baseline.as_ref().and_then(|b| b.to_str())) {
                        (true, Some(b)) => ("baseline", b),
                        _ => ("tlsaudit", tlsaudit),
                    };
                    let out = work.join(format!("{name}-{t}.jsonl"));
                    let threads = t.to_string();
                    let m = measure(&out, &[binary, "-r", file_s, "--format", "jsonl", "--threads", &threads]);
                    if earlier { &mut baseline } else { &mut ours }.entry(t).or_default().push(m);
                }
            }
        }
    }
    let floor_counts: Value = serde_json::from_str(&std::fs::read_to_string(&floor_out).unwrap()).unwrap();
    let packets = floor_counts["packets"].as_u64().unwrap() as f64;
    let floor = median(floors.clone());

    let tshark = o.tshark.then(|| {
        let out = work.join("tshark.tsv");
        let m = measure(
            &out,
            &[
                "tshark", "-r", file_s, "-Y", "tls.handshake.type==1 || tls.handshake.type==2", "-T", "fields",
                "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "ipv6.dst", "-e",
                "tcp.dstport", "-e", "tls.handshake.type", "-e", "tls.handshake.random",
                // Find TLS by its bytes before guessing a protocol from a port number.
                "-o", "tcp.try_heuristic_first:TRUE",
            ],
        );
        (m, out)
    });

    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_default();
    println!(
        "capture: {} ({:.0} MB, {} packets); machine: {} cores, {cpu_model}; median of {} runs",
        file.display(),
        file_bytes as f64 / 1e6,
        packets,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        o.repeat
    );
    println!("{:<22} {:>8} {:>8} {:>10} {:>8} {:>9} {:>9}", "run", "wall s", "cpu s", "Mpkt/s", "Gbit/s", "x floor", "RSS MB");
    let row = |name: &str, m: &Measured| {
        println!(
            "{:<22} {:>8.2} {:>8.2} {:>10.2} {:>8.2} {:>9.2} {:>9.1}",
            name,
            m.wall,
            m.cpu,
            packets / m.wall / 1e6,
            file_bytes as f64 * 8.0 / m.wall / 1e9,
            m.wall / floor.wall,
            m.max_rss_mb
        );
    };
    row("libpcap floor", &floor);
    let mut best = f64::MAX;
    for (t, runs) in &ours {
        let m = median(runs.clone());
        best = best.min(m.wall);
        row(&format!("tlsaudit --threads {t}"), &m);
        println!("{:<22} {}", "  paired x floor", spread(&paired(runs, &floors)));
        if let Some(earlier) = baseline.get(t) {
            let e = median(earlier.clone());
            row(&format!("baseline --threads {t}"), &e);
            println!("{:<22} {}", "  paired x floor", spread(&paired(earlier, &floors)));
            println!("{:<22} {:>8.3}", "  this / baseline", m.wall / e.wall);
            println!("{:<22} {}", "  paired", spread(&paired(runs, earlier)));
        }
    }
    let (our_hellos, our_negotiated, our_without_tls, stats) = tlsaudit_handshakes(&work.join(format!("tlsaudit-{}.jsonl", o.threads[0])));
    let mut failed = false;
    if let Some((m, out)) = tshark {
        row("tshark (hellos only)", &m);
        println!("tshark / tlsaudit (best): {:.1}x", m.wall / best);
        let (theirs, their_negotiated) = tshark_handshakes(&out);
        let total = |m: &BTreeMap<Tuple, u64>| m.values().sum::<u64>();
        let missing: Vec<_> = theirs.iter().filter(|(k, n)| our_hellos.get(*k).copied().unwrap_or(0) < **n).take(10).collect();
        let extra: Vec<_> = our_hellos.iter().filter(|(k, n)| theirs.get(*k).copied().unwrap_or(0) < **n).take(10).collect();
        println!(
            "handshakes: tshark {} ClientHellos on {} connections, {their_negotiated} ServerHellos; \
             tlsaudit {} ClientHellos on {} connections, {our_negotiated} negotiated sessions",
            total(&theirs),
            theirs.len(),
            total(&our_hellos),
            our_hellos.len()
        );
        if !missing.is_empty() || !extra.is_empty() || their_negotiated != our_negotiated {
            println!("MISMATCH: missing {missing:?}; extra {extra:?}");
            failed = true;
        } else {
            println!("tlsaudit found every handshake tshark found, and no other");
        }
    }
    if let Ok(summary) = std::fs::read_to_string(file.with_extension("json")) {
        let s: Value = serde_json::from_str(&summary).unwrap_or(Value::Null);
        println!(
            "generator: {} TLS connections, {} ClientHellos written ({} on reused ports); tlsaudit reported {}",
            s["tls_flows"],
            s["client_hellos"],
            s["reused_ports"],
            our_hellos.values().sum::<u64>()
        );
        if s["client_hellos"].as_u64() != Some(our_hellos.values().sum::<u64>()) {
            println!("MISMATCH with the generator's count");
            failed = true;
        }
        if let Some(replayed) = s["plain_protocol_flows"].as_u64() {
            println!("generator: {replayed} sessions in clear replayed; tlsaudit reported {our_without_tls} sessions without TLS");
            if replayed != our_without_tls {
                println!("MISMATCH with the generator's count of sessions in clear");
                failed = true;
            }
        }
    }
    println!("tlsaudit stats: {}", stats["tlsaudit"]);
    if failed {
        std::process::exit(1);
    }
}
