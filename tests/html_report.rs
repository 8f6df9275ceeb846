//! The HTML report in a real browser: Debian's Chromium, headless, loads the
//! page written from every bundled capture; the test reads the DOM it
//! rendered and checks it against the JSON Lines records and the CSV
//! certificate inventory of the same captures, proves that the page asked
//! the network for nothing (every request of the browser is routed to a
//! listener of the test, and a control page that does fetch is seen there),
//! and saves a screenshot and a print (PDF) under the test's output.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{captures_dir, completed, run_jsonl, tlsaudit, Scratch};
use scraper::{ElementRef, Html, Selector};
use serde_json::Value;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Where screenshots and prints are kept after the test.
fn output_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("html_report");
    std::fs::create_dir_all(&dir).expect("test output directory");
    dir
}

/// Every connection the browser makes lands here; the first line each one
/// sends is kept as a request. A connection that closes without sending a
/// line (a speculative preconnect to the proxy) carries nothing and is not a
/// request; it is counted apart.
struct Sink {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    silent: Arc<AtomicUsize>,
    readers: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>,
    passes: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The most connections one test hands to reader threads.
const SINK_MAX_CONNECTIONS: usize = 256;
/// How long a reader waits for a connection's first line before it gives up
/// on it (the browser has long exited by then).
const SINK_LINE_WAIT: Duration = Duration::from_secs(30);

/// Reads `conn` until its first line, its end, or `SINK_LINE_WAIT`; returns
/// the line if one came.
fn first_line(mut conn: std::net::TcpStream) -> Option<String> {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    let deadline = Instant::now() + SINK_LINE_WAIT;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while Instant::now() < deadline && head.len() < 4096 && !head.contains(&b'\n') {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted) => {}
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&head);
    text.lines().next().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string)
}

impl Sink {
    fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let port = listener.local_addr().expect("local address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let silent = Arc::new(AtomicUsize::new(0));
        let readers = Arc::new(Mutex::new(Vec::new()));
        let passes = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, quiet, spawned, pass, done) =
            (Arc::clone(&requests), Arc::clone(&silent), Arc::clone(&readers), Arc::clone(&passes), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut accepted = 0usize;
            while !done.load(Ordering::Relaxed) {
                // One pass: everything queued now is taken, then the pass is counted.
                loop {
                    match listener.accept() {
                        Ok((conn, _)) if accepted < SINK_MAX_CONNECTIONS => {
                            accepted += 1;
                            let (seen, quiet) = (Arc::clone(&seen), Arc::clone(&quiet));
                            let reader = std::thread::spawn(move || match first_line(conn) {
                                Some(line) => seen.lock().expect("sink lock").push(line),
                                None => {
                                    quiet.fetch_add(1, Ordering::Relaxed);
                                }
                            });
                            spawned.lock().expect("sink lock").push(reader);
                        }
                        Ok((_, _)) => seen.lock().expect("sink lock").push("(connection over the sink's limit)".into()),
                        Err(_) => break,
                    }
                }
                pass.fetch_add(1, Ordering::Release);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Sink { port, requests, silent, readers, passes, stop, thread: Some(thread) }
    }

    /// Waits until every connection made so far has been accepted and read.
    fn settle(&self) {
        let start = self.passes.load(Ordering::Acquire);
        let deadline = Instant::now() + SINK_LINE_WAIT;
        while self.passes.load(Ordering::Acquire) < start + 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let readers = std::mem::take(&mut *self.readers.lock().expect("sink lock"));
        for r in readers {
            let _ = r.join();
        }
    }

    /// The requests a page made: all but those of the browser itself to its
    /// vendor's service hosts (component updates, sign-in, network time),
    /// which headless Chromium sends whatever it loads, a blank page too.
    fn requests(&self) -> Vec<String> {
        const BROWSER_OWN: [&str; 3] = ["google.com", "googleapis.com", "gvt1.com"];
        self.settle();
        let host = |line: &str| {
            let target = line.split_whitespace().nth(1).unwrap_or_default();
            let rest = target.strip_prefix("http://").or(target.strip_prefix("https://")).unwrap_or(target);
            rest.split(['/', ':']).next().unwrap_or_default().to_string()
        };
        let all = self.requests.lock().expect("sink lock").clone();
        all.into_iter().filter(|r| !BROWSER_OWN.iter().any(|d| host(r) == *d || host(r).ends_with(&format!(".{d}")))).collect()
    }

    /// Connections that closed without sending a line.
    fn silent_connections(&self) -> usize {
        self.settle();
        self.silent.load(Ordering::Relaxed)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for r in std::mem::take(&mut *self.readers.lock().expect("sink lock")) {
            let _ = r.join();
        }
    }
}

/// Runs headless Chromium on `page` with `extra` arguments, every request
/// it makes sent to `sink` (as its proxy, and every host name resolved to
/// it); returns what it printed. Ends the browser by its PID after 120 s.
fn chromium(page: &Path, sink: &Sink, profile: &Path, extra: &[&str]) -> String {
    let proxy = format!("--proxy-server=http://127.0.0.1:{}", sink.port);
    let resolve = format!("--host-resolver-rules=MAP * 127.0.0.1:{}", sink.port);
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--hide-scrollbars",
            "--proxy-bypass-list=<-loopback>",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(proxy)
        .arg(resolve)
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {CHROMIUM} ({e}); .ci/run installs Debian's chromium"));
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().expect("wait for chromium").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s on {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().expect("stdout reader")
}

fn select<'a>(doc: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    let s = Selector::parse(css).unwrap_or_else(|e| panic!("bad selector {css}: {e:?}"));
    doc.select(&s).collect()
}

fn text_of(e: &ElementRef<'_>) -> String {
    e.text().collect::<Vec<_>>().join(" ").split_whitespace().collect::<Vec<_>>().join(" ")
}

fn endpoint_of(service: &Value) -> String {
    let ip = service["server"]["ip"].as_str().or(service["destination"]["ip"].as_str()).expect("service address");
    let port = service["server"]["port"].as_u64().or(service["destination"]["port"].as_u64()).expect("service port");
    let at = if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") };
    if service["network"]["transport"] == "udp" {
        format!("{at}/udp")
    } else {
        at
    }
}

#[test]
fn the_report_renders_in_chromium_offline_and_agrees_with_the_records() {
    let scratch = Scratch::new("html-report");
    let captures = captures_dir();
    let ca = captures.join("test-ca.pem");
    let args = ["-r", captures.to_str().unwrap(), "--ca-file", ca.to_str().unwrap(), "--as-of", "2026-12-01"];
    let page = scratch.path("report.html");
    let csv_dir = scratch.path("csv");
    let mut html_args = args.to_vec();
    html_args.extend(["--format", "html", "-o", page.to_str().unwrap(), "--csv", csv_dir.to_str().unwrap()]);
    let out = tlsaudit(&html_args);
    assert!(completed(out.status.code()), "{}", String::from_utf8_lossy(&out.stderr));
    let run = run_jsonl(&args);
    assert!(completed(run.code), "{}", run.stderr);
    assert_eq!(out.status.code(), run.code, "the HTML run and the JSON Lines run end alike");
    assert!(run.services.len() > 50 && run.sessions.len() > 100, "the bundled captures hold many services");

    let sink = Sink::start();
    let dom = chromium(&page, &sink, &scratch.path("profile"), &["--dump-dom"]);
    let requests = sink.requests();
    assert!(requests.is_empty(), "the report made network requests: {requests:?} ({} silent connections besides)", sink.silent_connections());
    let doc = Html::parse_document(&dom);

    for id in ["verdict", "scope", "coverage", "charts", "services", "certificates", "rules"] {
        assert_eq!(select(&doc, &format!("#{id}")).len(), 1, "no #{id} in the rendered page");
    }

    // The verdict and the counts are the stats record's.
    let stats = &run.stats["tlsaudit"]["stats"];
    let verdict = select(&doc, "[data-verdict]");
    assert_eq!(verdict[0].value().attr("data-verdict"), stats["verdict"].as_str(), "{}", text_of(&verdict[0]));
    for e in select(&doc, "[data-severity]") {
        let severity = e.value().attr("data-severity").unwrap();
        assert_eq!(text_of(&e), stats["findings"][severity].to_string(), "findings of severity {severity}");
    }
    let scope = text_of(&select(&doc, "#scope table")[0]);
    assert!(scope.contains(&format!("{} (", stats["reader"]["packets"])), "packets in the scope: {scope}");

    // One row per service record, each with its assessment.
    let rows = select(&doc, "#services-table tbody tr");
    assert_eq!(rows.len(), run.services.len(), "a row per service record");
    let th = Selector::parse("th").unwrap();
    let shown: BTreeMap<String, String> = rows
        .iter()
        .map(|r| {
            let head = text_of(&r.select(&th).next().expect("a row header"));
            let endpoint = head.split_whitespace().next().unwrap_or_default().to_string();
            (endpoint, r.value().attr("data-assessment").unwrap_or_default().to_string())
        })
        .collect();
    for s in &run.services {
        let endpoint = endpoint_of(s);
        let assessment = s["tlsaudit"]["service"]["assessment"].as_str().or(s["tlsaudit"]["assessment"].as_str());
        assert_eq!(shown.get(&endpoint).map(String::as_str), assessment, "service {endpoint}");
    }
    // Every non-compliant service has its findings written out.
    let failing = run.services.iter().filter(|s| shown.get(&endpoint_of(s)).is_some_and(|a| a == "non_compliant")).count();
    assert!(select(&doc, "article.service.non_compliant").len() == failing && failing > 20, "{failing} failing services");

    // Six charts, each an accessible SVG with its numbers beside it.
    let figures = select(&doc, "#charts figure");
    assert_eq!(figures.len(), 6);
    let svg = Selector::parse("svg").unwrap();
    let rect = Selector::parse("rect").unwrap();
    let title = Selector::parse("svg > title").unwrap();
    for f in &figures {
        let id = f.value().attr("id").unwrap();
        let svgs: Vec<_> = f.select(&svg).collect();
        assert_eq!(svgs.len(), 1, "one SVG in {id}");
        assert_eq!(svgs[0].value().attr("role"), Some("img"), "{id}");
        let t = f.select(&title).next().map(|t| text_of(&t)).unwrap_or_default();
        assert!(!t.is_empty() && text_of(f).contains(&t), "{id}: the caption names the chart");
        assert!(svgs[0].select(&rect).count() > 5, "{id} draws something");
    }
    // The versions chart counts every session once.
    let cell = Selector::parse("td").unwrap();
    let version_rows = select(&doc, "#chart-versions tbody tr");
    let counted: u64 = version_rows.iter().flat_map(|r| r.select(&cell).skip(1).map(|c| text_of(&c).parse::<u64>().unwrap()).collect::<Vec<_>>()).sum();
    assert_eq!(counted, run.sessions.len() as u64, "sessions in the versions chart");
    // The heatmap's table lists the findings of the 40 worst services that
    // raise any: as many as their records hold.
    let findings_of = |s: &Value| s["tlsaudit"]["findings"].as_array().map_or(0, Vec::len);
    let raised: usize = run.services.iter().map(findings_of).filter(|n| *n > 0).take(40).sum();
    assert!(run.services.iter().filter(|s| findings_of(s) > 0).count() > 40, "more services raise findings than the heatmap draws");
    assert_eq!(select(&doc, "#chart-heatmap tbody tr").len(), raised, "findings in the heatmap's table");

    // The certificate inventory is the CSV's, in the same order.
    let csv = std::fs::read_to_string(csv_dir.join("certificates.csv")).expect("certificates.csv");
    let digests: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    let shown: Vec<String> =
        select(&doc, "#certificates-table tbody tr").iter().map(|r| r.value().attr("data-sha256").unwrap_or_default().to_string()).collect();
    assert!(digests.len() > 10);
    assert_eq!(shown, digests);
    assert!(!select(&doc, "#certificates-table .badge.expired").is_empty(), "an expired certificate is marked");

    // Attacker-chosen strings (hostile-strings.pcap) arrive as text, not markup
    // or control characters; nothing from the wire ran or loaded.
    assert!(select(&doc, "script, iframe, object, embed, link, img").is_empty());
    let raw = std::fs::read_to_string(&page).expect("the page");
    assert!(!raw.contains("google"), "the page names a host the sink counts as the browser's own");
    assert!(!raw.chars().any(|c| c.is_control() && c != '\n'), "control character in the page");
    assert!(text_of(&select(&doc, "body")[0]).contains(r"x\x1b]0;pwned\x07\x1b[2J.test"));
    // No payload: the values planted in the clear-text captures stay out.
    for planted in ["PLANTEDSURNAME", "PLANTED-MRN-4711", "PLANTED-PASSWORD", "PLANTED-MESSAGE-BODY", "PLANTED-COMMUNITY"] {
        assert!(!raw.contains(planted), "{planted} reached the report");
    }

    // The control: the same page without its policy, fetching an image and a
    // style sheet, is seen by the sink; the check above can fail.
    let control = raw
        .replacen("<meta http-equiv=\"Content-Security-Policy\"", "<meta name=\"x-removed\"", 1)
        .replacen("</body>", "<img src=\"http://tracker.example/pixel.png\" alt=\"\"><link rel=\"stylesheet\" href=\"http://203.0.113.7/x.css\"></body>", 1);
    let control_page = scratch.path("control.html");
    std::fs::write(&control_page, control).expect("control page");
    chromium(&control_page, &sink, &scratch.path("profile-control"), &["--dump-dom"]);
    let seen = sink.requests();
    assert!(seen.iter().any(|r| r.contains("tracker.example")), "the sink saw no request of the control page: {seen:?}");

    // A screenshot and a print, kept with the test's output.
    let shot = output_dir().join("report.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&page, &sink, &scratch.path("profile-shot"), &["--window-size=1280,2400", &format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert_eq!(&png[1..4], b"PNG");
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 1280, "screenshot width");
    assert!(png.len() > 60_000, "the screenshot is nearly empty ({} bytes)", png.len());
    let pdf = output_dir().join("report.pdf");
    let _ = std::fs::remove_file(&pdf);
    chromium(&page, &sink, &scratch.path("profile-print"), &["--no-pdf-header-footer", &format!("--print-to-pdf={}", pdf.display())]);
    let printed = std::fs::read(&pdf).expect("the print was written");
    assert!(printed.starts_with(b"%PDF"));
    let pages = printed.windows(b"/Type /Page\n".len()).filter(|w| w.starts_with(b"/Type /Page") && !w.starts_with(b"/Type /Pages")).count();
    assert!(pages > 3, "the print has {pages} pages");
    assert!(sink.requests().len() == seen.len(), "screenshot or print made requests: {:?}", sink.requests());
}

/// The page's parts that need more than captures: an exception and its
/// justification (written as text, not markup), the changes since a
/// baseline with the records' verdict, and services grouped by subnet.
/// Read with an HTML5 parser (the browser's rules) straight from the file.
#[test]
fn exceptions_changes_and_groups_are_on_the_page() {
    let scratch = Scratch::new("html-sections");
    let matrix = captures_dir().join("matrix");
    let cleartext = captures_dir().join("cleartext");
    let ca = captures_dir().join("test-ca.pem");
    let inventory = scratch.path("inventory.json");
    let policy = scratch.path("policy.toml");
    let justification = "lab analyser <b>until</b> change 4711 & \"friends\"";
    std::fs::write(
        &policy,
        format!("base = \"hipaa\"\n\n[[exception]]\nserver = \"127.0.0.0/8\"\nport = 4450\nrule = \"proto.tls11\"\njustification = {justification:?}\nexpires = \"2099-12-31\"\n"),
    )
    .unwrap();
    let base = tlsaudit(&["-r", matrix.to_str().unwrap(), "--ca-file", ca.to_str().unwrap(), "--inventory-out", inventory.to_str().unwrap(), "-o", "/dev/null"]);
    assert!(completed(base.status.code()), "{}", String::from_utf8_lossy(&base.stderr));
    let args = [
        "-r", matrix.to_str().unwrap(), "-r", cleartext.to_str().unwrap(), "--ca-file", ca.to_str().unwrap(), "--as-of", "2026-12-01",
        "--policy-file", policy.to_str().unwrap(), "--baseline", inventory.to_str().unwrap(), "--group-by", "subnet/24",
    ];
    let page = scratch.path("report.html");
    let mut html_args = args.to_vec();
    html_args.extend(["--format", "html", "-o", page.to_str().unwrap()]);
    let out = tlsaudit(&html_args);
    assert!(completed(out.status.code()), "{}", String::from_utf8_lossy(&out.stderr));
    let jsonl = tlsaudit(&[&args[..], &["--format", "jsonl"]].concat());
    let records: Vec<Value> = String::from_utf8(jsonl.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let of = |kind: &str| records.iter().filter(|r| r["event"]["dataset"] == kind).collect::<Vec<_>>();
    let stats = &of("tlsaudit.stats")[0]["tlsaudit"]["stats"];
    let changes = of("tlsaudit.change");
    assert!(changes.len() > 10, "the clear-text services are new: {}", changes.len());

    let raw = std::fs::read_to_string(&page).unwrap();
    let doc = Html::parse_document(&raw);
    // The exception, its justification as text.
    let exemptions = select(&doc, "table.exemptions tbody tr");
    assert_eq!(exemptions.len(), 1);
    let row = text_of(&exemptions[0]);
    assert!(row.contains("proto.tls11") && row.contains(justification) && row.contains("2099-12-31"), "{row}");
    assert!(select(&doc, "table.exemptions b").is_empty(), "the justification became markup");
    // The changes, as the records have them.
    let verdict = select(&doc, "[data-change-verdict]");
    assert_eq!(verdict[0].value().attr("data-change-verdict"), stats["changes"]["verdict"].as_str());
    assert_eq!(select(&doc, "#changes tbody tr").len(), changes.len());
    // Groups: a column of the services table, and the chart's rows.
    let services = of("tlsaudit.service");
    let groups: Vec<String> = select(&doc, "#services-table tbody tr").iter().map(|r| text_of(&r.select(&Selector::parse("td").unwrap()).last().unwrap())).collect();
    assert_eq!(groups.len(), services.len());
    for (shown, record) in groups.iter().zip(&services) {
        assert_eq!(Some(shown.as_str()), record["tlsaudit"]["service"]["group"].as_str());
    }
    assert!(text_of(&select(&doc, "#chart-groups figcaption")[0]).contains("subnet (/24"));
    let scope = text_of(&select(&doc, "#scope table")[0]);
    assert!(scope.contains("Dropped packets none"), "{scope}");
}
