//! A directory of capture files, timed in one run: read as one capture (one
//! reader feeding the workers) and with `--independent-files` (one thread
//! per worker, each reading its share of the files), side by side, with the
//! libpcap floor over the same files when libpcap can read them all (it
//! cannot read compressed ones). Prints the ratios, and the sessions and
//! ClientHellos each way found, which must agree when the files are
//! unrelated captures.
//!
//!   cargo bench --bench e2e -- dir --dir DIR [--repeat 5] [--threads 1,2]

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::{measure, median, Measured};

pub fn main(args: &[String]) {
    let mut dir = None;
    let mut repeat = 5;
    let mut threads = vec![1, 2];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_else(|| super::usage());
        match a.as_str() {
            "--bench" => {}
            "--dir" => dir = Some(PathBuf::from(value())),
            "--repeat" => repeat = value().parse().unwrap_or_else(|_| super::usage()),
            "--threads" => threads = value().split(',').map(|t| t.parse().unwrap_or_else(|_| super::usage())).collect(),
            _ => super::usage(),
        }
    }
    let dir = dir.unwrap_or_else(|| super::usage());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let names: Vec<&str> = files.iter().map(|p| p.to_str().expect("UTF-8 path")).collect();
    let bytes: u64 = files.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    // Into the page cache first, for every run alike.
    for f in &files {
        let _ = std::fs::read(f).map(|b| b.len());
    }
    let plain = files.iter().all(|p| uncompressed(p));
    let work = super::repo().join("target/bench-captures/run");
    std::fs::create_dir_all(&work).expect("work dir");
    let me = std::env::current_exe().expect("own path");
    let me_s = me.to_str().expect("UTF-8 path");
    let dir_s = dir.to_str().expect("UTF-8 path");
    let tlsaudit = env!("CARGO_BIN_EXE_tlsaudit");
    let mut floors = Vec::new();
    let mut runs: BTreeMap<(usize, bool), Vec<Measured>> = BTreeMap::new();
    for _ in 0..repeat {
        if plain {
            let mut cmd = vec![me_s, "floor"];
            cmd.extend(&names);
            floors.push(measure(&work.join("floor.json"), &cmd));
        }
        for &t in &threads {
            for apart in [false, true] {
                let t_s = t.to_string();
                let mut cmd = vec![tlsaudit, "-r", dir_s, "--format", "jsonl", "--threads", &t_s];
                if apart {
                    cmd.push("--independent-files");
                }
                let out = work.join(format!("dir-{t}-{apart}.jsonl"));
                runs.entry((t, apart)).or_default().push(measure(&out, &cmd));
            }
        }
    }
    println!(
        "directory: {} ({} files, {:.0} MB); machine: {} cores; median of {repeat} runs",
        dir.display(),
        files.len(),
        bytes as f64 / 1e6,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!("{:<40} {:>8} {:>8} {:>9} {:>9} {:>9} {:>12}", "run", "wall s", "cpu s", "x floor", "RSS MB", "sessions", "ClientHellos");
    let floor = (!floors.is_empty()).then(|| median(floors));
    if let Some(f) = &floor {
        println!("{:<40} {:>8.2} {:>8.2} {:>9.2} {:>9.1}", "libpcap floor", f.wall, f.cpu, 1.0, f.max_rss_mb);
    }
    let mut found = BTreeMap::new();
    for ((t, apart), measured) in &runs {
        let m = median(measured.clone());
        let (sessions, hellos) = counts(&work.join(format!("dir-{t}-{apart}.jsonl")));
        found.insert(*apart, (sessions, hellos));
        let name = format!("tlsaudit --threads {t}{}", if *apart { " --independent-files" } else { "" });
        let ratio = floor.map_or(String::from("-"), |f| format!("{:.2}", m.wall / f.wall));
        println!("{name:<40} {:>8.2} {:>8.2} {ratio:>9} {:>9.1} {sessions:>9} {hellos:>12}", m.wall, m.cpu, m.max_rss_mb);
    }
    for &t in &threads {
        if let (Some(one), Some(apart)) = (runs.get(&(t, false)), runs.get(&(t, true))) {
            println!("--threads {t}: independent / one capture {:.3}", median(apart.clone()).wall / median(one.clone()).wall);
        }
    }
    if found.get(&false) != found.get(&true) {
        println!("the two readings differ (expected only when connections cross from one file into the next)");
    }
}

/// Whether a file starts as a pcap or pcapng file does (libpcap reads it).
fn uncompressed(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic));
    read.is_ok() && matches!(magic, [0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4] | [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d] | [0x0a, 0x0d, 0x0d, 0x0a])
}

/// Sessions and ClientHellos in a run's records.
fn counts(jsonl: &std::path::Path) -> (u64, u64) {
    let text = std::fs::read_to_string(jsonl).expect("tlsaudit output");
    let (mut sessions, mut hellos) = (0, 0);
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("JSON line");
        if v["event"]["dataset"] == "tlsaudit.session" {
            sessions += 1;
            if v["tlsaudit"]["client"]["ja4"].is_string() {
                hellos += v["tlsaudit"]["client_hello_count"].as_u64().unwrap_or(1);
            }
        }
    }
    (sessions, hellos)
}
