//! `--independent-files`: capture files that each stand alone, read several
//! at once. Every file must give the records it gives read alone, whatever
//! the number of threads, and the output is in the order of the files, the
//! same to the byte; a connection split between two consecutive files is
//! whole only without the option.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tlsaudit-independent-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Records as sorted JSON lines, for comparing runs.
fn canonical(records: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = records.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// The run's counters, but for those that depend on how work was spread
/// over threads (the certificate and verdict caches are a worker's, the payload the
/// reader skips depends on when it learnt of a bypass) or on the clock.
fn counters(run: &Run) -> Value {
    let mut stats = run.stats["tlsaudit"]["stats"].clone();
    for key in ["wall_time_seconds", "threads"] {
        stats.as_object_mut().map(|m| m.remove(key));
    }
    for key in ["certificate_cache_hits", "verdict_cache_hits", "order_spilled_bytes"] {
        stats["flows"].as_object_mut().map(|m| m.remove(key));
    }
    for key in ["payload_bytes_not_copied", "bypass_notices_ignored"] {
        stats["reader"].as_object_mut().map(|m| m.remove(key));
    }
    stats
}

#[test]
fn each_file_gives_the_records_it_gives_alone_whatever_the_threads() {
    let captures = captures_dir();
    let third = thirdparty_dir();
    let run = |threads: &str| {
        let r = run_jsonl(&["-r", path_str(&captures), path_str(&third), "--independent-files", "--threads", threads, "--no-system-ca"]);
        assert!(completed(r.code), "{}", r.stderr);
        r
    };
    let (one, three) = (run("1"), run("3"));
    assert!(one.sessions.len() > 500, "only {} sessions", one.sessions.len());
    assert_eq!(canonical(&one.sessions), canonical(&three.sessions));
    assert_eq!(canonical(&one.alerts), canonical(&three.alerts));
    assert_eq!(canonical(&one.services), canonical(&three.services));
    assert_eq!(counters(&one), counters(&three));
    assert_eq!(three.stats["tlsaudit"]["stats"]["threads"], 3);

    // Every file that has sessions, read on its own: the same sessions
    // and alerts, to the byte.
    let files: BTreeSet<&str> = one.sessions.iter().filter_map(|s| s["log"]["file"]["path"].as_str()).collect();
    assert!(files.len() > 100, "sessions from only {} files", files.len());
    let (mut sessions, mut alerts) = (Vec::new(), Vec::new());
    for f in &files {
        let alone = run_jsonl(&["-r", f, "--no-system-ca"]);
        assert!(completed(alone.code), "{f}: {}", alone.stderr);
        sessions.extend(alone.sessions);
        alerts.extend(alone.alerts);
    }
    assert_eq!(canonical(&one.sessions), canonical(&sessions));
    assert_eq!(canonical(&one.alerts), canonical(&alerts));
}

/// The records of a run but its stats, as written, and the bytes of records
/// of files read ahead that waited in a temporary file.
fn records_as_written(args: &[&str]) -> (Vec<String>, u64) {
    let mut all = vec!["--format", "jsonl"];
    all.extend_from_slice(args);
    let out = tlsaudit(&all);
    assert!(completed(out.status.code()), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    let (stats, records): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.contains("\"dataset\":\"tlsaudit.stats\""));
    assert_eq!(stats.len(), 1, "one stats record");
    let stats: Value = serde_json::from_str(stats[0]).expect("stats JSON");
    let spilled = stats["tlsaudit"]["stats"]["flows"]["order_spilled_bytes"].as_u64().expect("order_spilled_bytes counted");
    (records.into_iter().map(str::to_string).collect(), spilled)
}

#[test]
fn the_output_is_in_the_order_of_the_files_to_the_byte_whatever_the_threads() {
    let (captures, third) = (captures_dir(), thirdparty_dir());
    let inputs = ["-r", path_str(&captures), path_str(&third), "--independent-files", "--no-system-ca"];
    let run = |extra: &[&str]| records_as_written(&[&inputs[..], extra].concat());
    // One worker says when each file is done, so its lines never wait, even
    // with the least memory.
    let (one, spilled_one) = run(&["--threads", "1", "--memory-limit", "16"]);
    let (three, _) = run(&["--threads", "3"]);
    assert!(one.len() > 1000, "only {} records", one.len());
    assert!(one == three, "three threads wrote the records in another order than one");
    assert_eq!(spilled_one, 0, "one worker never gets ahead of itself");
    // The least memory there is (0.75 MiB for the records of files read
    // ahead, of the 4 MB written): what is read ahead beyond it waits in
    // temporary files. How far the threads get ahead depends on the
    // scheduler, so up to five runs, each in the same order as one thread.
    let mut spilled = Vec::new();
    while spilled.len() < 5 && spilled.iter().all(|s| *s == 0) {
        let (squeezed, bytes) = run(&["--threads", "3", "--memory-limit", "16"]);
        assert!(one == squeezed, "with the least memory, three threads wrote another order");
        spilled.push(bytes);
    }
    assert!(spilled.iter().any(|s| *s > 0), "nothing waited in a temporary file in {} runs", spilled.len());

    // The sessions come file by file, in the order the files are read: the
    // inputs in the order given, each directory by path.
    let root_of = |path: &str| if Path::new(path).starts_with(&captures) { 0 } else { 1 };
    let mut files: Vec<String> = Vec::new();
    for line in &one {
        let v: Value = serde_json::from_str(line).expect("JSON record");
        if v["event"]["dataset"] != "tlsaudit.session" {
            continue;
        }
        let path = v["log"]["file"]["path"].as_str().expect("a session names its file").to_string();
        if files.last() != Some(&path) {
            assert!(!files.contains(&path), "the sessions of {path} are not together");
            files.push(path);
        }
    }
    assert!(files.len() > 100, "sessions of only {} files", files.len());
    let mut in_order = files.clone();
    in_order.sort_by(|a, b| (root_of(a), Path::new(a)).cmp(&(root_of(b), Path::new(b))));
    assert_eq!(files, in_order, "files written out of the order they are read");
}

/// Records of files read ahead that cannot wait on disk (TMPDIR is not a
/// directory) end the output with a message that says what to do.
#[test]
fn a_temporary_file_that_cannot_be_made_is_an_error_naming_tmpdir() {
    let (captures, third) = (captures_dir(), thirdparty_dir());
    let missing = temp_dir("no-tmpdir").join("missing");
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tlsaudit"))
            .args(["--format", "jsonl", "-o", "/dev/null", "-r", path_str(&captures), path_str(&third)])
            .args(["--independent-files", "--no-system-ca", "--threads", "3", "--memory-limit", "16"])
            .env("TMPDIR", &missing)
            .output()
            .expect("tlsaudit runs")
    };
    // As above: whether anything must wait on disk depends on how far the
    // threads get ahead, so up to five runs; a run that needed no
    // temporary file ends as usual.
    let mut codes = Vec::new();
    let mut failed = None;
    while failed.is_none() && codes.len() < 5 {
        let out = run();
        codes.push(out.status.code());
        failed = (out.status.code() == Some(2)).then_some(out);
    }
    let _ = std::fs::remove_dir_all(missing.parent().expect("temp dir"));
    let out = failed.unwrap_or_else(|| panic!("no run failed for want of a temporary file: exit codes {codes:?}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("temporary file") && stderr.contains(path_str(&missing)) && stderr.contains("set TMPDIR"), "{stderr}");
}

#[test]
fn a_filter_applies_to_every_file_on_every_thread() {
    let captures = captures_dir();
    let run = |threads: &str| {
        let r = run_jsonl(&["-r", path_str(&captures), "--independent-files", "--threads", threads, "--no-system-ca", "tcp"]);
        assert!(completed(r.code), "{}", r.stderr);
        r
    };
    let (one, three) = (run("1"), run("3"));
    assert!(one.sessions.len() > 20, "only {} sessions", one.sessions.len());
    // The QUIC and DTLS captures' datagrams are filtered out.
    assert!(one.sessions.iter().all(|s| s["network"]["transport"] == "tcp"), "a session not over TCP");
    assert!(one.stats["tlsaudit"]["stats"]["reader"]["packets_filtered_out"].as_u64() > Some(0));
    assert_eq!(canonical(&one.sessions), canonical(&three.sessions));
    assert_eq!(counters(&one), counters(&three));
}

/// A classic pcap file cut in two after `first` records: the header, then
/// each record whole, in one file or the other.
fn split_pcap(bytes: &[u8], first: usize, out: [&Path; 2]) {
    let little = match bytes[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("not a classic pcap file"),
    };
    let (header, mut rest) = bytes.split_at(24);
    let mut parts = [header.to_vec(), header.to_vec()];
    let mut n = 0;
    while rest.len() >= 16 {
        let len_bytes = [rest[8], rest[9], rest[10], rest[11]];
        let len = if little { u32::from_le_bytes(len_bytes) } else { u32::from_be_bytes(len_bytes) } as usize;
        let (record, after) = rest.split_at(16 + len);
        parts[usize::from(n >= first)].extend_from_slice(record);
        rest = after;
        n += 1;
    }
    assert!(n > first, "the capture has {n} records");
    for (part, path) in parts.iter().zip(out) {
        std::fs::write(path, part).expect("write part");
    }
}

#[test]
fn a_connection_split_between_files_is_whole_only_when_the_files_are_one_capture() {
    let whole = captures_dir().join("tls12-resumption.pcap");
    let dir = temp_dir("split");
    let parts = [dir.join("a.pcap"), dir.join("b.pcap")];
    // After the first connection's first five packets: its handshake goes
    // on in the second file.
    split_pcap(&std::fs::read(&whole).expect("capture"), 5, [&parts[0], &parts[1]]);
    let run = |extra: &[&str]| {
        let mut args = vec!["-r", path_str(&dir), "--no-system-ca"];
        args.extend_from_slice(extra);
        let r = run_jsonl(&args);
        assert!(completed(r.code), "{}", r.stderr);
        r
    };
    let one_capture = run(&["--threads", "2"]);
    // Two threads each read a file with its worker inline; one worker
    // thread takes both files from the usual reader, one after the other.
    let apart_runs = [run(&["--threads", "2", "--independent-files"]), run(&["--threads", "1", "--independent-files"])];
    let _ = std::fs::remove_dir_all(&dir);
    let versions = |sessions: &[Value]| {
        let mut v: Vec<String> = sessions.iter().map(|s| s["tls"]["version"].to_string()).collect();
        v.sort();
        v
    };
    let alone = sessions_of(&whole, &["--no-system-ca"]);
    let established = |sessions: &[Value]| sessions.iter().filter(|s| s["tls"]["established"] == true).count();
    // Read as one capture: the sessions of the file before it was cut.
    assert_eq!(one_capture.sessions.len(), alone.len());
    assert_eq!(established(&one_capture.sessions), established(&alone));
    assert_eq!(versions(&one_capture.sessions), versions(&alone));
    // Apart: the first connection ends with the first file, and its rest
    // in the second is a connection seen from the middle.
    for apart in &apart_runs {
        assert_eq!(established(&apart.sessions), established(&alone) - 1, "{:#?}", apart.sessions);
        assert!(apart.stats["tlsaudit"]["stats"]["flows"]["flows_midstream"].as_u64() > one_capture.stats["tlsaudit"]["stats"]["flows"]["flows_midstream"].as_u64());
    }
    assert_eq!(canonical(&apart_runs[0].sessions), canonical(&apart_runs[1].sessions));
}
