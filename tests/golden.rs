//! Golden outputs: every capture under `captures/` and the third-party
//! captures, run through tlsaudit under every built-in profile (JSON Lines)
//! and as the text report, compared byte for byte with the outputs committed
//! in `tests/golden/`. A change of any output byte fails here; when the change
//! is meant, regenerate the files with `TLSAUDIT_BLESS=1 cargo test --release
//! --test golden` and commit them with the change that explains them.
//!
//! Only what depends on the moment of the run is taken out: the stats
//! record's `@timestamp` and `wall_time_seconds`, the two reader counters that
//! depend on how fast the workers answer the reader (`bypass_notices_ignored`,
//! `payload_bytes_not_copied`), and the wall time of the text summary. One
//! worker thread and no read-ahead make the order of session records that of
//! the input. Chains are checked against the bundled test CA alone, not the
//! machine's CA bundle, which changes with the machine.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Endings of the capture files among the test data (a `.gz` is a
/// compressed capture; `.pcapng.1` is a rotated file of Wireshark's).
const CAPTURE_ENDINGS: &[&str] = &[".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".pcapng.1"];

/// The built-in profiles, as `tlsaudit --help` lists them.
const PROFILES: &[&str] =
    &["hipaa", "nist-800-52r2", "pci-dss-4", "mozilla-modern", "mozilla-intermediate", "mozilla-old", "bcp195", "cleartext"];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Every capture below `root`, as paths relative to it, sorted.
fn captures_below(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, root: &Path, found: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, found);
            } else if path.to_str().is_some_and(|p| CAPTURE_ENDINGS.iter().any(|end| p.ends_with(end))) {
                found.push(path.strip_prefix(root).expect("below the root").to_path_buf());
            }
        }
    }
    let mut found = Vec::new();
    walk(root, root, &mut found);
    found.sort();
    found
}

/// Every capture as (directory to run in, path relative to it): relative
/// paths keep error messages the same wherever the checkout is.
fn all_captures() -> Vec<(PathBuf, PathBuf)> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let thirdparty = common::thirdparty_dir();
    let mut all: Vec<(PathBuf, PathBuf)> =
        captures_below(&repo.join("captures")).into_iter().map(|p| (repo.clone(), Path::new("captures").join(p))).collect();
    all.extend(captures_below(&thirdparty).into_iter().map(|p| (thirdparty.clone(), p)));
    assert!(all.len() > 100, "only {} captures found", all.len());
    all
}

/// Takes the values that depend on the moment of the run out of a stats record.
fn steady_stats(line: &str) -> String {
    let mut v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("stats record {line:?}: {e}"));
    let record = v.as_object_mut().expect("the stats record is an object");
    record.remove("@timestamp");
    let stats = record["tlsaudit"]["stats"].as_object_mut().expect("tlsaudit.stats");
    stats.remove("wall_time_seconds");
    let reader = stats["reader"].as_object_mut().expect("tlsaudit.stats.reader");
    reader.remove("bypass_notices_ignored");
    reader.remove("payload_bytes_not_copied");
    serde_json::to_string(&v).expect("JSON")
}

/// The summary line's wall time ("…, 12 TCP flows; 0.03s") becomes "<time>".
fn steady_text(text: &str) -> String {
    text.lines()
        .map(|line| match line.rfind("; ") {
            Some(at) if line.contains(" established) in ") && line.ends_with('s') => format!("{}; <time>", &line[..at]),
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One run of tlsaudit on one capture, as the golden file holds it: a
/// header line naming the capture, its exit status and what it said on
/// standard error, then its standard output.
fn golden_run(dir: &Path, capture: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tlsaudit"))
        .current_dir(dir)
        .arg("-r")
        .arg(capture)
        .args(["--threads", "1", "--read-ahead", "off", "--no-progress", "--no-system-ca", "--ca-file"])
        .arg(common::captures_dir().join("test-ca.pem"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the tlsaudit binary runs");
    let stdout = String::from_utf8(out.stdout).expect("output is UTF-8");
    let stderr = String::from_utf8(out.stderr).expect("errors are UTF-8");
    let header = serde_json::json!({
        "capture": capture.to_string_lossy(),
        "args": args.iter().map(|a| Path::new(a).file_name().map_or(*a, |n| n.to_str().unwrap_or(a))).collect::<Vec<_>>(),
        "exit": out.status.code(),
        "stderr": stderr,
    });
    let body = if args.contains(&"jsonl") {
        stdout
            .lines()
            .map(|line| if line.contains(r#""dataset":"tlsaudit.stats""#) { steady_stats(line) } else { line.to_string() })
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        steady_text(&stdout)
    };
    format!("### {header}\n{body}\n")
}

/// The part of `line` around its first difference from `other`.
fn around_difference(line: &str, other: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let at = chars.iter().zip(other.chars()).position(|(a, b)| *a != b).unwrap_or(chars.len().min(other.chars().count()));
    let window: String = chars[at.saturating_sub(80)..(at + 80).min(chars.len())].iter().collect();
    format!("…{window}…")
}

/// The text of the golden file `name` (zstd compressed).
fn read_golden(name: &str) -> String {
    let path = golden_dir().join(format!("{name}.zst"));
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    zstd::Decoder::new(file).expect("zstd").read_to_string(&mut text).expect("golden file is UTF-8 zstd");
    text
}

/// Compares `actual` with the golden file `name`, or writes it there under
/// TLSAUDIT_BLESS=1. A difference leaves both sides in full beside each
/// other and names the first differing line and the run it belongs to.
fn compare_with_golden(name: &str, actual: &str) {
    if std::env::var_os("TLSAUDIT_BLESS").is_some() {
        std::fs::create_dir_all(golden_dir()).expect("tests/golden");
        let mut file = std::fs::File::create(golden_dir().join(format!("{name}.zst"))).expect("golden file");
        let compressed = zstd::encode_all(actual.as_bytes(), 19).expect("zstd");
        file.write_all(&compressed).expect("golden file written");
        return;
    }
    let expected = read_golden(name);
    if actual == expected {
        return;
    }
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("golden");
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    std::fs::write(scratch.join(format!("{name}.expected")), &expected).expect("written");
    std::fs::write(scratch.join(format!("{name}.actual")), actual).expect("written");
    let mut run = "";
    for (number, pair) in expected.lines().zip(actual.lines()).enumerate() {
        if pair.0.starts_with("### ") {
            run = pair.0;
        }
        if pair.0 != pair.1 {
            panic!(
                "{name}: line {} differs (in the run {run}):\n  expected: {}\n  actual:   {}\nboth in full: {}",
                number + 1,
                around_difference(pair.0, pair.1),
                around_difference(pair.1, pair.0),
                scratch.display()
            );
        }
    }
    panic!(
        "{name}: {} lines expected, {} produced; both in full: {}",
        expected.lines().count(),
        actual.lines().count(),
        scratch.display()
    );
}

/// Runs tlsaudit with `args` on every capture and compares with `name`.
fn check(name: &str, runs: &[(PathBuf, PathBuf)], args: &[&str]) {
    let actual: String = runs.iter().map(|(dir, capture)| golden_run(dir, capture, args)).collect();
    compare_with_golden(name, &actual);
}

#[test]
fn jsonl_records_under_every_profile_are_unchanged() {
    let runs = all_captures();
    for profile in PROFILES {
        check(&format!("{profile}.jsonl"), &runs, &["--format", "jsonl", "--policy", profile]);
    }
}

#[test]
fn jsonl_records_under_a_policy_file_are_unchanged() {
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden-policy.toml");
    let policy = policy.to_str().expect("UTF-8 path");
    // Exceptions expire by the clock of the run: fixed here, so the file does not age.
    check("golden-policy.jsonl", &all_captures(), &["--format", "jsonl", "--policy-file", policy, "--as-of", "2026-12-01"]);
}

#[test]
fn text_report_is_unchanged() {
    check("hipaa.txt", &all_captures(), &["--format", "text", "--sessions"]);
}

/// `tlsaudit rules`, then `tlsaudit explain` of every rule it lists and of
/// an unknown one, then `rules --format json`, each with its exit status and
/// standard error.
fn catalogue() -> String {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tlsaudit")).args(args).output().expect("the tlsaudit binary runs");
        let header = serde_json::json!({"args": args, "exit": out.status.code(), "stderr": String::from_utf8_lossy(&out.stderr)});
        (format!("### {header}\n{}", String::from_utf8_lossy(&out.stdout)), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (mut all, rules) = run(&["rules"]);
    let ids: Vec<&str> = rules.lines().skip(1).filter(|l| !l.starts_with(' ')).filter_map(|l| l.split_whitespace().next()).collect();
    assert!(ids.len() > 50, "only {} rules listed", ids.len());
    for id in ids.iter().copied().chain(["cipher.3de"]) {
        all.push_str(&run(&["explain", id]).0);
    }
    all.push_str(&run(&["rules", "--format", "json"]).0);
    all
}

#[test]
fn rule_catalogue_is_unchanged() {
    compare_with_golden("catalogue.txt", &catalogue());
}

#[test]
fn golden_files_hold_every_capture_with_sessions() {
    // A golden file of empty runs would compare equal to a broken tlsaudit
    // that finds nothing: the files must hold the sessions of the captures.
    let text = read_golden("hipaa.jsonl");
    let runs = text.lines().filter(|l| l.starts_with("### ")).count();
    let sessions = text.lines().filter(|l| l.contains(r#""dataset":"tlsaudit.session""#)).count();
    assert_eq!(runs, all_captures().len(), "a capture was added or removed: regenerate the golden files");
    assert!(sessions > 400, "only {sessions} sessions in the golden file");
}
