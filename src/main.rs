//! Command line of tlsaudit: parses the options (tcpdump's habits where they
//! fit), builds a run configuration and maps the outcome to an exit code.

#![forbid(unsafe_code)]

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use tlsaudit::capture::live::{self, LiveOptions};
use tlsaudit::cert::trust::TrustStore;
use tlsaudit::flow::FlowLimits;
use tlsaudit::util::escape::escape_terminal;
use tlsaudit::policy::rules::{RuleId, PROFILES, RULES};
use tlsaudit::policy::{Profile, Severity};
use tlsaudit::{pipeline, Config, OutputFormat, RunError, Source};

/// Exit code when --fail-on finds a finding at or above its severity.
const EXIT_FINDINGS: u8 = 1;

/// Exit code for bad usage and unreadable input.
const EXIT_USAGE: u8 = 2;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReadAheadArg {
    /// When the machine has a core to spare beyond the workers.
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    /// One line per session and a summary, for people.
    Text,
    /// One JSON object per line (the SCHEMA.md contract), for machines.
    Jsonl,
}

/// Passive TLS compliance analyzer: reports every TLS session in capture
/// files or on a live interface.
#[derive(Debug, Parser)]
#[command(name = "tlsaudit", version, about, after_help = "\
EXAMPLES:
  tlsaudit -r capture.pcapng
  tlsaudit -r day1.pcap.gz day2.pcap.zst 'tcp port 443'
  tlsaudit -r captures/ --format jsonl -o sessions.jsonl
  tcpdump -i eth0 -w - | tlsaudit -r -
  tlsaudit -i eth1 --format jsonl -o /var/log/tlsaudit.jsonl
  tlsaudit -r weekly.pcap --policy pci-dss-4 --fail-on high
  tlsaudit rules
  tlsaudit explain cipher.3des

EXIT STATUS:
  0  success
  1  --fail-on: a finding at or above the given severity
  2  bad usage, or an input that could not be read (one line per file on stderr)")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Read packets from pcap/pcapng files (also .gz and .zst compressed), in
    /// the order given; a directory reads the captures inside it; '-' reads
    /// standard input.
    #[arg(short = 'r', long = "read", value_name = "FILE", num_args = 1.., conflicts_with = "interface")]
    read: Vec<PathBuf>,

    /// Capture live from this interface (needs root or CAP_NET_RAW).
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    interface: Option<String>,

    /// List the interfaces available for live capture and exit.
    #[arg(short = 'D', long = "list-interfaces")]
    list_interfaces: bool,

    /// Bytes captured per packet in live mode.
    #[arg(short = 's', long, value_name = "BYTES", default_value_t = 262_144,
          value_parser = clap::value_parser!(i32).range(64..=262_144))]
    snaplen: i32,

    /// Kernel capture buffer in KiB in live mode (as tcpdump -B).
    #[arg(short = 'B', long, value_name = "KIB", default_value_t = 65_536,
          value_parser = clap::value_parser!(i32).range(64..=4_194_304))]
    buffer_size: i32,

    /// Do not put the interface into promiscuous mode.
    #[arg(short = 'p', long = "no-promiscuous-mode")]
    no_promiscuous: bool,

    /// Stop a live capture after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,

    /// Live capture: run as this user once the interface is open, giving up
    /// root (tlsaudit must be started as root).
    #[arg(long, value_name = "USER")]
    user: Option<String>,

    /// Live capture: print a status line (packets, sessions, drops) on
    /// standard error this often; 0 turns it off.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    status_interval: f64,

    /// Output format [default: text on a terminal, jsonl otherwise].
    #[arg(long, value_enum)]
    format: Option<FormatArg>,

    /// Write records to this file instead of standard output (SIGHUP opens it
    /// again, for logrotate).
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Worker threads [default: the number of available cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,

    /// Read capture files in a thread of their own, ahead of decoding
    /// (auto: when there are at least two cores more than worker threads).
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    read_ahead: ReadAheadArg,

    /// Never show a progress bar (it is shown on stderr when stderr is a terminal).
    #[arg(long)]
    no_progress: bool,

    /// Text format: also print every session as it is found, before the report.
    #[arg(long)]
    sessions: bool,

    /// End a connection after this many seconds without a packet.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    idle_timeout: u32,

    /// Connections tracked at once per worker thread; the quietest is evicted beyond it.
    #[arg(long, value_name = "N", default_value_t = 262_144)]
    max_flows: usize,

    /// Memory for connection state and the service inventory, in MiB.
    /// Connections get three quarters (shared evenly by the worker threads),
    /// the inventory a quarter. When connections reach theirs, the quietest
    /// are ended early and reported as partial; when the inventory reaches
    /// its, new entries are refused. Both are counted in the stats.
    #[arg(long, value_name = "MIB", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(16..=1_048_576))]
    memory_limit: u64,

    /// Out-of-order bytes buffered per connection direction.
    #[arg(long, value_name = "BYTES", default_value_t = 262_144)]
    max_buffered: usize,

    /// IP datagrams held for fragment reassembly at once.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    max_ip_fragments: usize,

    /// Policy profile the sessions are judged against.
    #[arg(long, value_name = "PROFILE", default_value = "hipaa", value_parser = clap::builder::PossibleValuesParser::new(PROFILES))]
    policy: String,

    /// A TOML policy file: a base profile with rules changed, allow-lists
    /// extended and exceptions granted (README.md shows the format).
    #[arg(long, value_name = "FILE")]
    policy_file: Option<PathBuf>,

    /// Exit with status 1 when any finding is at or above this severity.
    #[arg(long, value_name = "SEVERITY", value_parser = clap::builder::PossibleValuesParser::new(["info", "low", "medium", "high", "critical"]))]
    fail_on: Option<String>,

    /// Flag certificates that expire within this many days of the session.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    cert_expiry_warn: u32,

    /// Accept the PSK suites of NIST SP 800-52r2 App. C (closed networks only).
    #[arg(long)]
    allow_psk: bool,

    /// Trust the CA certificates in this PEM file too (an internal PKI); repeatable.
    #[arg(long, value_name = "FILE")]
    ca_file: Vec<PathBuf>,

    /// Trust the CA certificates (.pem, .crt, .cer) in this directory too; repeatable.
    #[arg(long, value_name = "DIR")]
    ca_dir: Vec<PathBuf>,

    /// Do not trust the system's CA bundle (only --ca-file/--ca-dir).
    #[arg(long)]
    no_system_ca: bool,

    /// BPF filter expression, as in tcpdump (e.g. 'tcp port 443').
    #[arg(value_name = "FILTER", trailing_var_arg = true)]
    filter: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every rule with its severity in each profile.
    Rules,
    /// Explain a rule: what it flags, which standards require it, how to fix it.
    Explain {
        /// A rule id, e.g. cipher.3des (see `tlsaudit rules`).
        rule: String,
    },
}

/// Writes to standard output, ending quietly when the reader has gone away
/// (`tlsaudit rules | head`).
fn print_lines(lines: impl IntoIterator<Item = String>) {
    let mut out = io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}

fn print_rules() {
    let mut lines =
        vec![format!("{:<28} {}", "RULE", PROFILES.iter().map(|p| format!("{:<9}", short_profile(p))).collect::<String>())];
    for r in RULES {
        let cells: String = (0..PROFILES.len())
            .map(|i| format!("{:<9}", r.severity(i).map(|s| s.as_str()).unwrap_or("-")))
            .collect();
        let note = if r.evaluated { "" } else { "  (not evaluated yet)" };
        lines.push(format!("{:<28} {}{note}", r.id, cells.trim_end()));
        lines.push(format!("{:<28} {}", "", r.flags));
    }
    print_lines(lines);
}

fn short_profile(p: &str) -> &str {
    match p {
        "nist-800-52r2" => "nist",
        "pci-dss-4" => "pci",
        "mozilla-modern" => "moz-mod",
        "mozilla-intermediate" => "moz-int",
        "mozilla-old" => "moz-old",
        other => other,
    }
}

fn explain(id: &str) -> ExitCode {
    let Some(r) = RuleId::from_name(id).map(RuleId::rule) else {
        return usage_error(&format!("unknown rule {id:?}; `tlsaudit rules` lists them"));
    };
    let severities = PROFILES
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{p} {}", r.severity(i).map(|s| s.as_str()).unwrap_or("off")))
        .collect::<Vec<_>>()
        .join(", ");
    let mut lines = vec![
        r.id.to_string(),
        String::new(),
        format!("Flags:        {}", r.flags),
        format!("Required by:  {}", r.required_by),
        format!("Observed in:  {}", r.observable),
        format!("Fix:          {}", r.remediation),
        format!("Severity:     {severities}"),
    ];
    if !r.evaluated {
        lines.push(String::new());
        lines.push("This version of tlsaudit does not evaluate this rule yet.".into());
    }
    print_lines(lines);
    ExitCode::SUCCESS
}

/// Words that can start a BPF expression (pcap-filter(7)).
const BPF_WORDS: &[&str] = &[
    "host", "net", "port", "portrange", "src", "dst", "ether", "ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp",
    "icmp6", "sctp", "vlan", "mpls", "not", "less", "greater", "proto", "gateway", "broadcast", "multicast",
    "inbound", "outbound", "ifname", "len", "pppoes", "geneve", "wlan", "link", "fddi", "tr", "decnet", "atalk",
    "igmp", "pim", "vrrp", "carp", "esp", "ah", "iso", "isis", "stp", "ipx", "netbeui",
];

/// `-r` takes several files, so a filter written after them (`-r a.pcap tcp
/// port 443`, quoted or not) lands among the file names. The filter starts at
/// the first value, after at least one file, that is not a path on disk and
/// reads like a BPF expression.
fn split_trailing_filter(values: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let is_filter_start = |v: &Path| {
        if v.exists() || v.as_os_str() == "-" {
            return false;
        }
        let s = v.to_string_lossy();
        let first = s.trim_start().split(|c: char| c.is_whitespace() || c == '(').find(|w| !w.is_empty());
        s.trim_start().starts_with('(')
            || s.trim_start().starts_with('!')
            || first.is_some_and(|w| BPF_WORDS.contains(&w.to_ascii_lowercase().as_str()))
    };
    match values.iter().skip(1).position(|v| is_filter_start(v)) {
        Some(i) => {
            let (files, rest) = values.split_at(i + 1);
            (files.to_vec(), rest.iter().map(|p| p.to_string_lossy().into_owned()).collect())
        }
        None => (values.to_vec(), Vec::new()),
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("tlsaudit: {}", escape_terminal(message.as_bytes()));
    ExitCode::from(EXIT_USAGE)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Rules) => {
            print_rules();
            return ExitCode::SUCCESS;
        }
        Some(Command::Explain { rule }) => return explain(rule),
        None => {}
    }
    if cli.list_interfaces {
        return match live::list_interfaces() {
            Ok(list) => {
                print_lines(list);
                ExitCode::SUCCESS
            }
            Err(e) => usage_error(&format!("cannot list interfaces: {e}")),
        };
    }

    let (files, mut filter_words) = split_trailing_filter(&cli.read);
    filter_words.extend(cli.filter.iter().cloned());
    let filter = (!filter_words.is_empty()).then(|| filter_words.join(" "));

    let source = match (&cli.interface, files.is_empty()) {
        (Some(iface), _) => Source::Live(LiveOptions {
            interface: iface.clone(),
            snaplen: cli.snaplen,
            buffer_size: cli.buffer_size.saturating_mul(1024),
            promiscuous: !cli.no_promiscuous,
            filter: filter.clone(),
            duration: cli.duration.filter(|d| d.is_finite() && *d >= 0.0).map(Duration::from_secs_f64),
            user: cli.user.clone(),
            status_interval: Some(cli.status_interval)
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64),
        }),
        (None, false) => Source::Files(files),
        (None, true) => {
            return usage_error("nothing to read: give capture files with -r FILE... or an interface with -i IFACE (see --help)")
        }
    };

    let out: Box<dyn Write + Send> = match &cli.output {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Box::new(io::BufWriter::with_capacity(1 << 16, f)),
            Err(e) => {
                return usage_error(&format!("{}: cannot create the output file: {e}", path.display()));
            }
        },
        None => Box::new(io::BufWriter::with_capacity(1 << 16, io::stdout())),
    };
    let writes_to_terminal = cli.output.is_none() && io::stdout().is_terminal();
    let format = match cli.format {
        Some(FormatArg::Text) => OutputFormat::Text,
        Some(FormatArg::Jsonl) => OutputFormat::Jsonl,
        None if writes_to_terminal => OutputFormat::Text,
        None => OutputFormat::Jsonl,
    };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads = cli.threads.map(usize::from).unwrap_or(cores);
    // The file thread and the reader each want a core of their own.
    let read_ahead = match cli.read_ahead {
        ReadAheadArg::Auto => cores >= threads + 2,
        ReadAheadArg::On => true,
        ReadAheadArg::Off => false,
    };
    let defaults = FlowLimits::default();
    let loaded = match &cli.policy_file {
        Some(path) => tlsaudit::policy::custom::load(path, &cli.policy),
        None => Profile::builtin(&cli.policy).ok_or_else(|| format!("unknown policy {:?}", cli.policy)),
    };
    let mut profile = match loaded {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    profile.allow_psk = cli.allow_psk;
    let mut trust = if cli.no_system_ca { TrustStore::default() } else { TrustStore::system() };
    for file in &cli.ca_file {
        if let Err(e) = trust.add_file(file) {
            return usage_error(&e);
        }
    }
    for dir in &cli.ca_dir {
        if let Err(e) = trust.add_dir(dir) {
            return usage_error(&e);
        }
    }
    profile.trust = Arc::new(trust);
    profile.thresholds.cert_expiry_warn_days = i64::from(cli.cert_expiry_warn);
    let fail_on = cli.fail_on.as_deref().and_then(Severity::from_name);
    let color = writes_to_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let memory_limit = usize::try_from(cli.memory_limit << 20).unwrap_or(usize::MAX);
    let inventory_memory = memory_limit / 4;
    let flow_memory = memory_limit - inventory_memory;
    let config = Config {
        profile,
        session_lines: cli.sessions,
        color,
        progress: matches!(source, Source::Files(_)) && !cli.no_progress && io::stderr().is_terminal(),
        read_ahead,
        source,
        filter,
        format,
        threads,
        limits: FlowLimits {
            idle_timeout_micros: i64::from(cli.idle_timeout) * 1_000_000,
            max_flows: cli.max_flows.max(1),
            max_buffered: cli.max_buffered,
            max_memory: flow_memory / threads,
            ..defaults
        },
        inventory_memory,
        max_ip_fragments: cli.max_ip_fragments.max(1),
    };

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("tlsaudit: warning: cannot handle signal {signal}: {e}");
        }
    }

    // SIGHUP reopens the output file (logrotate renames it, then signals).
    let reopen_requested = Arc::new(AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reopen_requested)) {
        eprintln!("tlsaudit: warning: cannot handle SIGHUP: {e}");
    }
    let reopen = cli.output.clone().map(|path| pipeline::OutputReopen {
        requested: reopen_requested,
        open: Box::new(move || {
            let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
            Ok(Box::new(io::BufWriter::with_capacity(1 << 16, file)) as Box<dyn Write + Send>)
        }),
    });

    match pipeline::run(&config, out, stop, reopen) {
        Ok(summary) => {
            for line in &summary.input_errors {
                eprintln!("tlsaudit: {}", escape_terminal(line.as_bytes()));
            }
            if !summary.input_errors.is_empty() {
                ExitCode::from(EXIT_USAGE)
            } else if fail_on.is_some_and(|s| summary.has_finding_at_least(s)) {
                ExitCode::from(EXIT_FINDINGS)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e @ (RunError::Usage(_) | RunError::Fatal(_))) => usage_error(&e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_filter_is_split_from_file_names() {
        let v = |s: &[&str]| s.iter().map(PathBuf::from).collect::<Vec<_>>();
        let (files, filter) = split_trailing_filter(&v(&["Cargo.toml", "tcp port 443"]));
        assert_eq!(files, v(&["Cargo.toml"]));
        assert_eq!(filter, vec!["tcp port 443"]);
        let (files, filter) = split_trailing_filter(&v(&["Cargo.toml", "src", "tcp", "port", "443"]));
        assert_eq!(files, v(&["Cargo.toml", "src"]));
        assert_eq!(filter, vec!["tcp", "port", "443"]);
        // A missing capture stays a file, so that it is reported as unreadable.
        let (files, filter) = split_trailing_filter(&v(&["Cargo.toml", "missing.pcap"]));
        assert_eq!(files, v(&["Cargo.toml", "missing.pcap"]));
        assert!(filter.is_empty());
        // The first value is always a file, even when it reads like a filter.
        let (files, _) = split_trailing_filter(&v(&["tcp"]));
        assert_eq!(files, v(&["tcp"]));
    }
}
