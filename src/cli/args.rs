//! The command line as clap reads it: every option with its help text, and
//! tcpdump's habit of a filter after the file names.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::policy::rules::PROFILES;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReadAheadArg {
    /// When the machine has a core to spare beyond the workers.
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// One line per session and a summary, for people.
    Text,
    /// One JSON object per line (the docs/SCHEMA.md contract), for machines.
    Jsonl,
    /// One self-contained HTML page (charts, tables, print layout), for an
    /// auditor; written whole at the end of the run.
    Html,
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
  0  compliant: sessions were judged and none failed the policy
  1  a finding at or above --fail-on (by default the policy's failing severity)
  2  bad usage, or an input that could not be read (one line per file on stderr)
  3  not assessed: no TLS handshake got far enough to be judged")]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Read packets from pcap/pcapng files (also .gz and .zst compressed), in
    /// the order given; a directory reads the captures inside it; '-' reads
    /// standard input.
    #[arg(short = 'r', long = "read", value_name = "FILE", num_args = 1.., conflicts_with = "interface")]
    pub read: Vec<PathBuf>,

    /// Capture live from this interface (needs root or CAP_NET_RAW).
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interface: Option<String>,

    /// List the interfaces available for live capture and exit.
    #[arg(short = 'D', long = "list-interfaces")]
    pub list_interfaces: bool,

    /// Bytes captured per packet in live mode.
    #[arg(short = 's', long, value_name = "BYTES", default_value_t = 262_144,
          value_parser = clap::value_parser!(i32).range(64..=262_144))]
    pub snaplen: i32,

    /// Kernel capture buffer in KiB in live mode (as tcpdump -B).
    #[arg(short = 'B', long, value_name = "KIB", default_value_t = 65_536,
          value_parser = clap::value_parser!(i32).range(64..=4_194_304))]
    pub buffer_size: i32,

    /// Live capture: read the interface through this many capture rings,
    /// each with its own thread and worker; the kernel hands each
    /// connection whole to one ring (PACKET_FANOUT by flow hash). The
    /// kernel buffer (-B) is shared by the rings, each getting at least 2 MiB.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub capture_threads: u16,

    /// Do not put the interface into promiscuous mode.
    #[arg(short = 'p', long = "no-promiscuous-mode")]
    pub no_promiscuous: bool,

    /// Stop a live capture after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,

    /// Live capture: run as this user once the interface is open, giving up
    /// root (tlsaudit must be started as root).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Live capture: print a status line (packets, sessions, drops) on
    /// standard error this often; 0 turns it off.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub status_interval: f64,

    /// Output format [default: text on a terminal, jsonl otherwise].
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Append records to this file instead of writing them to standard
    /// output (SIGHUP opens it again, for logrotate); or, as
    /// redis://host:port/stream[?maxlen=N&buffer=N], add each record to a
    /// Redis Stream.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// With -o: empty the file first instead of appending to it.
    #[arg(long, requires = "output")]
    pub truncate: bool,

    /// Also write services.csv, findings.csv and certificates.csv into this
    /// directory at the end of the run (made if missing; files replaced).
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,

    /// Also write the HTML report to FILE at the end of the run (replaced;
    /// the same page as --format html).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Name this sensor in every record (observer.name), for a fleet's
    /// report (`tlsaudit report`).
    #[arg(long, value_name = "NAME")]
    pub observer_name: Option<String>,

    /// Live capture: serve Prometheus metrics at http://ADDR/metrics
    /// (e.g. 127.0.0.1:9110).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,

    /// JSON Lines: leave out the tlsaudit.alert records (one per finding).
    #[arg(long)]
    pub no_alerts: bool,

    /// Text report: add the certificate inventory (every server certificate,
    /// soonest expiry first, with where it was served).
    #[arg(long)]
    pub certificates: bool,

    /// Write this run's inventory (its service records) to FILE, for a later
    /// run's --baseline.
    #[arg(long, value_name = "FILE")]
    pub inventory_out: Option<PathBuf>,

    /// Compare with a previous run's inventory (--inventory-out): report the
    /// services new, newly failing, fixed, failing with other rules, and
    /// gone; the exit status is then 1 only when something got worse.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// Worker threads [default: the number of available cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,

    /// Read capture files in a thread of their own, ahead of decoding
    /// (auto: when there are at least two cores more than worker threads).
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    pub read_ahead: ReadAheadArg,

    /// Each capture file stands alone (captures of different links, sensors
    /// or days): no connection carries over from one file to the next, and
    /// the files are read several at once, one per worker thread (with one
    /// worker, one after the other). Leave it out for a capture split into
    /// consecutive files (tcpdump -C or -G).
    #[arg(long)]
    pub independent_files: bool,

    /// Never show a progress bar (it is shown on stderr when stderr is a terminal).
    #[arg(long)]
    pub no_progress: bool,

    /// Text format: also print every session as it is found, before the report.
    #[arg(long)]
    pub sessions: bool,

    /// End a connection after this many seconds without a packet.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub idle_timeout: u32,

    /// Connections tracked at once per worker thread; the quietest is evicted beyond it.
    #[arg(long, value_name = "N", default_value_t = 262_144)]
    pub max_flows: usize,

    /// Memory for connection state and the service inventory, in MiB.
    /// Connections get three quarters (shared evenly by the worker threads;
    /// with --independent-files, several files and several threads a
    /// sixteenth of it holds the records of files read ahead, the rest
    /// waiting in temporary files), the inventory a
    /// quarter. When connections reach theirs, the quietest
    /// are ended early and reported as partial; when the inventory reaches
    /// its, new entries are refused. Both are counted in the stats.
    #[arg(long, value_name = "MIB", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(16..=1_048_576))]
    pub memory_limit: u64,

    /// Out-of-order bytes buffered per connection direction.
    #[arg(long, value_name = "BYTES", default_value_t = 262_144)]
    pub max_buffered: usize,

    /// IP datagrams held for fragment reassembly at once.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_ip_fragments: usize,

    /// Policy profile the sessions are judged against.
    #[arg(long, value_name = "PROFILE", default_value = "hipaa", value_parser = clap::builder::PossibleValuesParser::new(PROFILES))]
    pub policy: String,

    /// A TOML policy file: a base profile with rules changed, allow-lists
    /// extended and exceptions granted (README.md shows the format).
    #[arg(long, value_name = "FILE")]
    pub policy_file: Option<PathBuf>,

    /// Judge whether the policy file's exceptions have expired as of this
    /// day (YYYY-MM-DD) instead of today, to reproduce an earlier audit.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,

    /// Exit with status 1 when a finding at or above this severity was
    /// raised [default: the policy's failing severity]; never: not for findings.
    #[arg(long, value_name = "SEVERITY", value_parser = clap::builder::PossibleValuesParser::new(["info", "low", "medium", "high", "critical", "never"]))]
    pub fail_on: Option<String>,

    /// Flag certificates that expire within this many days of the session.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub cert_expiry_warn: u32,

    /// Accept the PSK suites of NIST SP 800-52r2 App. C (closed networks only).
    #[arg(long)]
    pub allow_psk: bool,

    /// The asset file (CSV: network,name,owner,criticality,services): names
    /// groups of addresses and the services approved on them; a service on
    /// the home network it does not list raises inventory.unlisted_service.
    #[arg(long, value_name = "FILE")]
    pub assets: Option<PathBuf>,

    /// Group services by subnet or asset in the report, the service records
    /// and the CSV tables: subnet/N (IPv4 by /N, IPv6 by /64; N over 32 is
    /// IPv6's prefix) or asset (the asset file's names).
    #[arg(long, value_name = "HOW")]
    pub group_by: Option<String>,

    /// Leave findings below this severity out of the text report and the
    /// CSV findings (the JSON records keep them all) [default: low in
    /// text, info in CSV].
    #[arg(long, value_name = "SEVERITY", value_parser = clap::builder::PossibleValuesParser::new(["info", "low", "medium", "high", "critical"]))]
    pub min_severity: Option<String>,

    /// An internal network (CIDR, as Zeek's local nets); repeatable
    /// [default: the asset file's networks].
    #[arg(long, value_name = "CIDR")]
    pub home_net: Vec<String>,

    /// Trust the CA certificates in this PEM file too (an internal PKI); repeatable.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Vec<PathBuf>,

    /// Trust the CA certificates (.pem, .crt, .cer) in this directory too; repeatable.
    #[arg(long, value_name = "DIR")]
    pub ca_dir: Vec<PathBuf>,

    /// Do not trust the system's CA bundle (only --ca-file/--ca-dir).
    #[arg(long)]
    pub no_system_ca: bool,

    /// BPF filter expression, as in tcpdump (e.g. 'tcp port 443').
    #[arg(value_name = "FILTER", trailing_var_arg = true)]
    pub filter: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CatalogueFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every rule with its severity in each profile.
    Rules {
        /// text for people, json for tools (one array of rule objects).
        #[arg(long, value_enum, default_value = "text")]
        format: CatalogueFormat,
    },
    /// Explain a rule: what it flags, which standards require it, how to fix it.
    Explain {
        /// A rule id, e.g. cipher.3des (see `tlsaudit rules`).
        rule: String,
    },
    /// One inventory and verdict for a fleet of sensors: the service records
    /// of their JSON Lines files or Redis Streams, merged.
    Report {
        /// JSON Lines files, or redis://host:port/stream.
        #[arg(long, required = true, num_args = 1.., value_name = "SOURCE")]
        from: Vec<String>,
        /// text for people, json for machines (merged service records and a
        /// stats record, one per line).
        #[arg(long, value_enum, default_value = "text")]
        format: CatalogueFormat,
    },
    /// Print what a SIEM needs for the JSON Lines records: the Elasticsearch
    /// index template, or the JSON Schema of one kind of record.
    Schema {
        /// The composable index template for data streams tlsaudit-*.
        #[arg(long, conflicts_with = "json_schema")]
        elasticsearch: bool,
        /// The JSON Schema of a record: session, alert, service, change or stats.
        #[arg(long, value_name = "RECORD")]
        json_schema: Option<String>,
    },
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
pub fn split_trailing_filter(values: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
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

