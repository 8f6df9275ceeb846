//! The command line end to end: inputs (files in order, directories,
//! compressed files, standard input), the trailing BPF filter, exit codes,
//! thread-count independence and live capture on the loopback interface.

mod common;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tlsaudit-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Sessions as sorted JSON lines, for comparing runs.
fn canonical(sessions: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = sessions.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Sessions without the name of the file they were read from, for the
/// same bytes read from several files.
fn unfiled(sessions: Vec<Value>) -> Vec<Value> {
    sessions
        .into_iter()
        .map(|mut s| {
            if let Some(o) = s.as_object_mut() {
                o.remove("log");
            }
            s
        })
        .collect()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn thread_count_does_not_change_the_records() {
    let dir = thirdparty_dir();
    let inputs = [dir, captures_dir()];
    let mut args: Vec<&str> = vec!["-r"];
    args.extend(inputs.iter().map(|p| path_str(p)));
    let mut one = args.clone();
    one.extend(["--threads", "1"]);
    let mut four = args.clone();
    four.extend(["--threads", "4"]);
    let a = run_jsonl(&one);
    let b = run_jsonl(&four);
    assert!(completed(a.code), "{}", a.stderr);
    assert!(completed(b.code), "{}", b.stderr);
    assert!(a.sessions.len() > 300, "only {} sessions", a.sessions.len());
    assert_eq!(a.stats["tlsaudit"]["stats"]["threads"], 1);
    assert_eq!(b.stats["tlsaudit"]["stats"]["threads"], 4);
    assert_eq!(canonical(&a.sessions), canonical(&b.sessions));
    // Services too: their examples and capped sets do not depend on the
    // order in which the workers delivered the sessions.
    assert_eq!(canonical(&a.services), canonical(&b.services));
    let counters = |r: &common::Run| {
        let mut flows = r.stats["tlsaudit"]["stats"]["flows"].clone();
        if let Some(m) = flows.as_object_mut() {
            m.retain(|k, _| k.starts_with("tcp_") || k.starts_with("tls_"));
        }
        flows
    };
    assert_eq!(counters(&a), counters(&b), "reassembly and TLS counters differ");
}

/// Reading files in a thread of their own changes nothing: the same
/// sessions, services and counters, and the same errors in the same order.
#[test]
fn read_ahead_does_not_change_the_records() {
    let dir = temp_dir("read-ahead");
    let broken = dir.join("broken.pcap");
    let whole = std::fs::read(captures_dir().join("tls12-resumption.pcap")).unwrap();
    std::fs::write(&broken, &whole[..whole.len() / 2]).unwrap();
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let third = thirdparty_dir();
    let captures = captures_dir();
    let base = ["-r", path_str(&captures), path_str(&broken), path_str(&third), path_str(&empty), "--threads", "2"];
    let run = |mode: &str| {
        let mut args = base.to_vec();
        args.extend(["--read-ahead", mode]);
        run_jsonl(&args)
    };
    let (on, off) = (run("on"), run("off"));
    assert_eq!(on.code, Some(2), "{}", on.stderr);
    assert_eq!(off.code, Some(2), "{}", off.stderr);
    assert!(on.sessions.len() > 300, "only {} sessions", on.sessions.len());
    assert_eq!(canonical(&on.sessions), canonical(&off.sessions));
    assert_eq!(canonical(&on.services), canonical(&off.services));
    let errors = |r: &common::Run| r.stderr.lines().filter(|l| l.contains(".pcap:")).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(errors(&on).len(), 2, "{}", on.stderr);
    assert_eq!(errors(&on), errors(&off));
    let counters = |r: &common::Run| {
        let mut stats = r.stats["tlsaudit"]["stats"].clone();
        stats.as_object_mut().map(|m| m.remove("wall_time_seconds"));
        stats["reader"].as_object_mut().map(|m| m.remove("payload_bytes_not_copied"));
        stats["reader"].as_object_mut().map(|m| m.remove("bypass_notices_ignored"));
        stats
    };
    assert_eq!(counters(&on), counters(&off));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn files_are_read_in_order_and_directories_recursively() {
    let a = captures_dir().join("tls13-x25519.pcap");
    let b = captures_dir().join("tls10-rsa-3des.pcap");
    let single_a = sessions_of(&a, &[]);
    let single_b = sessions_of(&b, &[]);
    let run = run_jsonl(&["-r", path_str(&a), path_str(&b), "--threads", "1"]);
    assert!(completed(run.code));
    assert_eq!(canonical(&run.sessions), canonical(&[single_a, single_b].concat()));
    assert_eq!(run.stats["tlsaudit"]["stats"]["reader"]["files_read"], 2);

    // A directory holding a copy of the bundled captures in a subdirectory.
    let dir = temp_dir("tree");
    let sub = dir.join("site-a");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(&a, sub.join("x.pcap")).unwrap();
    std::fs::copy(&b, dir.join("y.pcap")).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a capture").unwrap();
    let run = run_jsonl(&["-r", path_str(&dir)]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(completed(run.code), "{}", run.stderr);
    assert_eq!(run.sessions.len(), 2);
    assert_eq!(run.stats["tlsaudit"]["stats"]["reader"]["files_read"], 2, "the text file is skipped");
}

#[test]
fn compressed_captures_and_standard_input() {
    let original = captures_dir().join("tls12-mutual-auth.pcap");
    let want = canonical(&unfiled(sessions_of(&original, &[])));
    let bytes = std::fs::read(&original).unwrap();
    let dir = temp_dir("compressed");

    let gz = dir.join("c.pcap.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&bytes).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let zst = dir.join("c.pcap.zst");
    std::fs::write(&zst, zstd::encode_all(&bytes[..], 3).unwrap()).unwrap();
    // The pcapng bundled by a third party, gzip-compressed under a name that says nothing.
    let ng = thirdparty_dir().join("ja4/latest.pcapng");
    let ng_gz = dir.join("capture.bin");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&std::fs::read(&ng).unwrap()).unwrap();
    std::fs::write(&ng_gz, enc.finish().unwrap()).unwrap();

    assert_eq!(canonical(&unfiled(sessions_of(&gz, &[]))), want, "gzip");
    assert_eq!(canonical(&unfiled(sessions_of(&zst, &[]))), want, "zstd");
    assert_eq!(canonical(&unfiled(sessions_of(&ng_gz, &[]))), canonical(&unfiled(sessions_of(&ng, &[]))), "gzip pcapng");
    let _ = std::fs::remove_dir_all(&dir);

    let mut child = Command::new(env!("CARGO_BIN_EXE_tlsaudit"))
        .args(["-r", "-", "--format", "jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(completed(out.status.code()));
    let sessions: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["event"]["dataset"] == "tlsaudit.session")
        .collect();
    assert_eq!(canonical(&sessions), want, "standard input");
}

#[test]
fn a_trailing_filter_selects_packets_as_in_tcpdump() {
    let dir = captures_dir();
    let files = [dir.join("tls13-x25519.pcap"), dir.join("tls10-rsa-3des.pcap"), dir.join("tls13-ipv6.pcap")];
    let f: Vec<&str> = files.iter().map(|p| path_str(p)).collect();
    // Quoted, as one argument.
    let run = run_jsonl(&["-r", f[0], f[1], f[2], "tcp port 4439"]);
    assert!(completed(run.code), "{}", run.stderr);
    assert_eq!(run.sessions.len(), 1);
    assert_eq!(run.sessions[0]["tls"]["cipher"], "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
    assert!(run.stats["tlsaudit"]["stats"]["reader"]["packets_filtered_out"].as_u64().unwrap() > 0);
    // Unquoted words, as tcpdump users type them.
    let run = run_jsonl(&["-r", f[0], f[1], f[2], "ip6", "and", "tcp"]);
    assert_eq!(run.sessions.len(), 1);
    assert_eq!(run.sessions[0]["source"]["ip"], "::1");
    // A filter that does not compile is a usage error.
    let run = run_jsonl(&["-r", f[0], "tcp port banana"]);
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("filter"), "{}", run.stderr);
}

#[test]
fn unreadable_inputs_are_named_and_exit_with_2_after_reading_the_rest() {
    let dir = temp_dir("bad");
    let bad = dir.join("bad.pcap");
    std::fs::write(&bad, b"this is not a capture file at all").unwrap();
    let missing = dir.join("missing.pcap");
    let good = captures_dir().join("tls13-x25519.pcap");
    let run = run_jsonl(&["-r", path_str(&bad), path_str(&good), path_str(&missing)]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(run.code, Some(2));
    assert_eq!(run.sessions.len(), 1, "the readable file is still processed");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "one line per unreadable file: {lines:?}");
    assert!(lines[0].contains("bad.pcap") && lines[0].contains("not a pcap"), "{}", lines[0]);
    assert!(lines[1].contains("missing.pcap") && lines[1].contains("No such file"), "{}", lines[1]);

    let out = tlsaudit(&[]);
    assert_eq!(out.status.code(), Some(2), "no input is a usage error");
    let out = tlsaudit(&["-r", path_str(&good), "--threads", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn text_output_reports_each_session_and_a_summary() {
    let out = tlsaudit(&["-r", path_str(&captures_dir().join("tls10-rsa-3des.pcap")), "--format", "text", "--sessions"]);
    assert!(completed(out.status.code()));
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.lines().next().unwrap();
    assert!(first.contains("TLS 1.0") && first.contains("TLS_RSA_WITH_3DES_EDE_CBC_SHA"), "{first}");
    assert!(first.contains("sni=legacy.tlsaudit.test"), "{first}");
    assert!(text.contains("1 TLS session (1 established)"), "{text}");
}

/// A TCP port on loopback for one live test, distinct per test (`offset`)
/// and per test run.
fn loopback_port(offset: u32) -> u16 {
    20000 + ((std::process::id() + offset) % 20000) as u16
}

/// Starts tlsaudit capturing on `lo` with `args` and a filter for `port`,
/// and waits for its first line on stderr, which must say it listens.
/// Returns it, that line, and the rest of its stderr.
fn capture_on_loopback(port: u16, args: &[&OsStr], stdout: Stdio) -> (Child, String, BufReader<ChildStderr>) {
    capture_on_loopback_through(&[], port, args, stdout)
}

/// The same, started through `wrapper` (a program that execs tlsaudit, so
/// that the child's PID is tlsaudit's).
fn capture_on_loopback_through(wrapper: &[&str], port: u16, args: &[&OsStr], stdout: Stdio) -> (Child, String, BufReader<ChildStderr>) {
    let mut command = match wrapper.split_first() {
        Some((program, wrapper_args)) => {
            let mut c = Command::new(program);
            c.args(wrapper_args).arg(env!("CARGO_BIN_EXE_tlsaudit"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_tlsaudit")),
    };
    let mut capture = command
        .args(["-i", "lo"])
        .args(args)
        .arg(format!("tcp port {port}"))
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("tlsaudit starts");
    let mut stderr = BufReader::new(capture.stderr.take().expect("stderr is piped"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("tlsaudit writes to stderr");
    assert!(line.contains("listening on lo"), "tlsaudit could not capture: {line}");
    (capture, line, stderr)
}

/// One openssl handshake on 127.0.0.1:`port` (TLS 1.2, the given SNI and
/// certificate); true when the client got through.
fn openssl_handshake(port: u16, sni: &str, cert: &Path, key: &Path) -> bool {
    let mut server = Command::new("openssl")
        .args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-naccept", "1", "-www", "-tls1_2"])
        .arg("-cert")
        .arg(cert)
        .arg("-key")
        .arg(key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut client_ok = false;
    while Instant::now() < deadline && !client_ok {
        std::thread::sleep(Duration::from_millis(200));
        let mut client = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", sni, "-quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_client starts");
        let _ = client.stdin.take().unwrap().write_all(b"GET / HTTP/1.0\r\n\r\n");
        client_ok = client.wait().map(|s| s.success()).unwrap_or(false);
    }
    let _ = server.kill();
    let _ = server.wait();
    client_ok
}

/// A self-signed certificate and key for `cn` in `dir`.
fn test_certificate(dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", &format!("/CN={cn}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
    (cert, key)
}

/// logrotate's way: the output file is renamed, then SIGHUP makes tlsaudit
/// open a new one by the old name; nothing is lost or written twice.
#[test]
fn sighup_reopens_the_output_file_for_logrotate() {
    let dir = temp_dir("sighup");
    let (cert, key) = test_certificate(&dir, "rotate.tlsaudit.test");
    let output = dir.join("tlsaudit.jsonl");
    let rotated = dir.join("tlsaudit.jsonl.1");
    let port = loopback_port(7);
    let args = ["--duration".as_ref(), "40".as_ref(), "--format".as_ref(), "jsonl".as_ref(), "-o".as_ref(), output.as_os_str()];
    let (mut capture, _, stderr) = capture_on_loopback(port, &args, Stdio::null());
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let wait_for = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(100)) {
                if line.contains(what) {
                    return true;
                }
            }
        }
        false
    };
    let sessions_in = |path: &Path| -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("whole JSON lines"))
            .filter(|r| r["event"]["dataset"] == "tlsaudit.session")
            .collect()
    };
    let wait_for_sessions = |path: &Path, n: usize| {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline && sessions_in(path).len() < n {
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    assert!(openssl_handshake(port, "first.tlsaudit.test", &cert, &key));
    wait_for_sessions(&output, 1);
    std::fs::rename(&output, &rotated).unwrap();
    let pid = capture.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    assert!(wait_for("reopened the output file"), "no reopen reported");
    assert!(openssl_handshake(port, "second.tlsaudit.test", &cert, &key));
    wait_for_sessions(&output, 1);
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let status = capture.wait().expect("tlsaudit ends");
    reader.join().unwrap();
    assert!(completed(status.code()), "tlsaudit failed: {status:?}");

    let names = |v: Vec<Value>| v.iter().map(|s| s["tls"]["client"]["server_name"].to_string()).collect::<Vec<_>>();
    assert_eq!(names(sessions_in(&rotated)), vec!["\"first.tlsaudit.test\""]);
    assert_eq!(names(sessions_in(&output)), vec!["\"second.tlsaudit.test\""]);
    // The run's closing records go to the new file.
    let closing = std::fs::read_to_string(&output).unwrap();
    assert!(closing.contains("\"tlsaudit.stats\""), "{closing}");
    assert!(!std::fs::read_to_string(&rotated).unwrap().contains("\"tlsaudit.stats\""));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Capabilities of a capturing tlsaudit (PID `pid`) that gave up root or
/// started unprivileged with capabilities: the capture thread keeps
/// CAP_NET_RAW and CAP_NET_ADMIN permitted, not effective, to open the
/// interface again after a failure; the threads that analyse packets and
/// write records keep none.
fn assert_capabilities_kept_for_reopening_only(pid: u32) {
    let capability = |status: &str, set: &str| -> u64 {
        let hex = status.lines().find_map(|l| l.strip_prefix(set)).unwrap_or_else(|| panic!("no {set} line"));
        u64::from_str_radix(hex.trim(), 16).expect("a hex capability set")
    };
    const NET_ADMIN: u64 = 1 << 12;
    const NET_RAW: u64 = 1 << 13;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!((capability(&status, "CapPrm:"), capability(&status, "CapEff:")), (NET_RAW | NET_ADMIN, 0), "{status}");
    assert_eq!(capability(&status, "CapAmb:"), 0, "{status}");
    // The other threads start just after the interface is open, and give
    // their capabilities up first thing.
    let tasks = format!("/proc/{pid}/task");
    let others = || -> Vec<(u64, u64)> {
        std::fs::read_dir(&tasks)
            .unwrap()
            .map(|t| t.unwrap().path())
            .filter(|t| t.file_name().unwrap().to_str() != Some(&pid.to_string()))
            .filter_map(|t| std::fs::read_to_string(t.join("status")).ok())
            .map(|status| (capability(&status, "CapPrm:"), capability(&status, "CapEff:")))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = others();
    while (seen.len() < 2 || seen.iter().any(|c| *c != (0, 0))) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        seen = others();
    }
    assert!(seen.len() >= 2, "a worker and the output thread expected: {seen:?}");
    assert!(seen.iter().all(|c| *c == (0, 0)), "threads kept capabilities: {seen:x?}");
}

/// --user: root is given up once the interface is open, and capture goes on.
#[test]
fn user_gives_up_root_once_the_interface_is_open() {
    let id = Command::new("id").args(["-u", "nobody"]).output().expect("id runs");
    let nobody: u32 = String::from_utf8_lossy(&id.stdout).trim().parse().expect("a user called nobody");
    let dir = temp_dir("user");
    let (cert, key) = test_certificate(&dir, "user.tlsaudit.test");
    let output = dir.join("sessions.jsonl");
    let port = loopback_port(13);
    let args = ["--user", "nobody", "--duration", "20", "--format", "jsonl", "-o"].map(OsStr::new);
    let args: Vec<&OsStr> = args.into_iter().chain([output.as_os_str()]).collect();
    let (mut capture, line, _stderr) = capture_on_loopback(port, &args, Stdio::null());
    assert!(line.contains("running as nobody"), "{line}");
    // Real, effective, saved and file-system user ids: all nobody's.
    let status = std::fs::read_to_string(format!("/proc/{}/status", capture.id())).unwrap();
    let uids: Vec<u32> = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .expect("a Uid line")
        .split_whitespace()
        .map(|u| u.parse().unwrap())
        .collect();
    assert_eq!(uids, vec![nobody; 4], "{status}");
    assert_capabilities_kept_for_reopening_only(capture.id());
    assert!(openssl_handshake(port, "user.tlsaudit.test", &cert, &key));
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill").args(["-TERM", &capture.id().to_string()]).status();
    assert!(completed(capture.wait().expect("tlsaudit ends").code()));
    let written = std::fs::read_to_string(&output).unwrap();
    assert!(written.contains("\"server_name\":\"user.tlsaudit.test\""), "{written}");
    assert!(written.contains("\"tlsaudit.stats\""), "{written}");
    let _ = std::fs::remove_dir_all(&dir);

    let unknown = tlsaudit(&["-i", "lo", "--user", "no-such-user-here", "--duration", "1"]);
    assert_eq!(unknown.status.code(), Some(2));
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("--user no-such-user-here: no such user"), "{err}");
}

/// Started unprivileged with capabilities, as the systemd unit does
/// (AmbientCapabilities): once the interface is open the same narrowing as
/// after --user applies, and capture goes on.
#[test]
fn an_unprivileged_start_with_capabilities_keeps_them_for_reopening_only() {
    let dir = temp_dir("ambient");
    let (cert, key) = test_certificate(&dir, "ambient.tlsaudit.test");
    let port = loopback_port(17);
    let setpriv = [
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        "--inh-caps=+net_raw,+net_admin",
        "--ambient-caps=+net_raw,+net_admin",
    ];
    let args = ["--duration", "20", "--format", "jsonl"].map(OsStr::new);
    let (capture, line, _stderr) = capture_on_loopback_through(&setpriv, port, &args, Stdio::piped());
    assert!(!line.contains("running as"), "{line}");
    assert_capabilities_kept_for_reopening_only(capture.id());
    assert!(openssl_handshake(port, "ambient.tlsaudit.test", &cert, &key));
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill").args(["-TERM", &capture.id().to_string()]).status();
    let out = capture.wait_with_output().expect("tlsaudit ends");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(completed(out.status.code()), "tlsaudit failed");
    let written = String::from_utf8(out.stdout).unwrap();
    assert!(written.contains("\"server_name\":\"ambient.tlsaudit.test\""), "{written}");
}

/// Starts an openssl server and client on loopback while tlsaudit captures
/// on `lo`, and checks that the handshake is reported.
#[test]
fn live_capture_on_loopback_reports_a_handshake() {
    let dir = temp_dir("live");
    let (cert, key) = test_certificate(&dir, "live.tlsaudit.test");
    let port = loopback_port(0);
    let args = ["--duration", "20", "--format", "jsonl"].map(OsStr::new);
    let (capture, _, _stderr) = capture_on_loopback(port, &args, Stdio::piped());

    assert!(openssl_handshake(port, "live.tlsaudit.test", &cert, &key), "openssl could not connect on loopback");
    // tlsaudit stops by itself after --duration; a SIGTERM ends it sooner,
    // flushing open sessions.
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill").args(["-TERM", &capture.id().to_string()]).status();
    let out = capture.wait_with_output().expect("tlsaudit ends");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(completed(out.status.code()), "tlsaudit failed");
    let records: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let sessions: Vec<&Value> = records.iter().filter(|r| r["event"]["dataset"] == "tlsaudit.session").collect();
    let handshake = sessions
        .iter()
        .find(|s| s["tls"]["client"]["server_name"] == "live.tlsaudit.test")
        .unwrap_or_else(|| panic!("handshake not reported: {records:?}"));
    assert_eq!(handshake["destination"]["port"], port);
    assert_eq!(handshake["tls"]["version"], "1.2");
    assert_eq!(handshake["tls"]["established"], true);
    assert_eq!(handshake["tls"]["server"]["x509"]["subject"]["common_name"], "live.tlsaudit.test");
    let stats = records.iter().find(|r| r["event"]["dataset"] == "tlsaudit.stats").expect("stats record");
    assert_eq!(stats["tlsaudit"]["stats"]["reader"]["dropped_by_analyzer"], 0);
}

/// Replaces every occurrence of `from` with `to` (same length) in a file.
fn patch_bytes(data: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut count = 0;
    let mut i = 0;
    while i + from.len() <= data.len() {
        if &data[i..i + from.len()] == from {
            data[i..i + from.len()].copy_from_slice(to);
            count += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    count
}

#[test]
fn hostile_server_names_are_escaped_on_the_terminal_and_valid_in_json() {
    // A real handshake whose SNI is replaced, byte for byte, by an ANSI
    // escape sequence, a bell and a byte that is not UTF-8.
    let mut bytes = std::fs::read(captures_dir().join("tls10-rsa-3des.pcap")).unwrap();
    let hostile = b"\x1b[31mEVIL\x07\xff\x1b]0;\x07\x00x.t";
    let original = b"legacy.tlsaudit.test";
    assert_eq!(hostile.len(), original.len());
    assert_eq!(patch_bytes(&mut bytes, original, hostile), 1, "the SNI appears once");
    let dir = temp_dir("hostile");
    let path = dir.join("hostile.pcap");
    std::fs::write(&path, &bytes).unwrap();

    let out = tlsaudit(&["-r", path_str(&path), "--format", "text", "--sessions"]);
    assert!(completed(out.status.code()));
    assert!(!out.stdout.iter().any(|b| *b == 0x1b || *b == 0x07 || *b == 0), "control bytes reached the terminal");
    let text = String::from_utf8(out.stdout).expect("text output is UTF-8");
    assert!(text.contains(r"sni=\x1b[31mEVIL\x07\xff\x1b]0;\x07\x00x.t"), "{text}");

    let run = run_jsonl(&["-r", path_str(&path)]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(run.sessions.len(), 1);
    let client = &run.sessions[0]["tls"]["client"];
    // Not UTF-8: the lossy string for search, and the exact bytes in hex.
    assert_eq!(client["server_name"], "\u{1b}[31mEVIL\u{7}\u{fffd}\u{1b}]0;\u{7}\u{0}x.t");
    let hex: String = hostile.iter().map(|b| format!("{b:02x}")).collect();
    let exact = &run.sessions[0]["tlsaudit"]["client"]["server_name_hex"];
    assert_eq!(exact.as_str().map(str::to_ascii_lowercase), Some(hex));
}

/// README.md opens with a command and the report it prints: the report must
/// be what this build prints (but for the seconds of the run).
#[test]
fn readme_sample_output_is_what_the_first_command_prints() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let command = readme.lines().find(|l| l.contains("cargo run --release --")).expect("the first command");
    let args: Vec<&str> = command.split("cargo run --release -- ").nth(1).unwrap().split_whitespace().collect();
    let start = readme.find("The first prints this report").expect("the sample output");
    let sample: Vec<&str> = readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with("    "))
        .take_while(|l| *l != "---")
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_tlsaudit"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(&args)
        .args(["--format", "text"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "the sample is non-compliant");
    let seconds = |l: &str| match l.rfind("; ") {
        Some(at) if l.contains(" TLS session") && l.contains(" established) in ") => l[..at].to_string(),
        _ => l.to_string(),
    };
    let printed: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(seconds).collect();
    let mut sample: Vec<String> = sample.iter().map(|l| seconds(l)).collect();
    while sample.last().is_some_and(|l| l.is_empty()) {
        sample.pop();
    }
    assert!(sample.len() > 5, "the sample output is in README.md");
    assert_eq!(printed, sample);
}

/// `-o` appends, so a restarted service keeps the records it wrote before;
/// `--truncate` starts the file afresh.
#[test]
fn output_file_is_appended_to_unless_truncated() {
    let dir = temp_dir("append");
    let out = dir.join("sessions.jsonl");
    let capture = captures_dir().join("tls12-ecdhe-rsa-aes128gcm.pcap");
    let run = |extra: &[&str]| {
        let mut args = vec!["-r", path_str(&capture), "--format", "jsonl", "-o", path_str(&out)];
        args.extend_from_slice(extra);
        assert!(completed(tlsaudit(&args).status.code()));
        let text = std::fs::read_to_string(&out).unwrap();
        let datasets: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("whole JSON lines")["event"]["dataset"].to_string())
            .collect();
        (datasets.iter().filter(|d| d.contains("session")).count(), datasets.iter().filter(|d| d.contains("stats")).count())
    };
    let (sessions, stats) = run(&[]);
    assert!(sessions >= 1 && stats == 1);
    assert_eq!(run(&[]), (2 * sessions, 2), "the second run appends");
    assert_eq!(run(&["--truncate"]), (sessions, 1), "--truncate starts afresh");
    let _ = std::fs::remove_dir_all(&dir);
}
