//! tlsaudit: a passive TLS compliance analyzer. Reads pcap/pcapng captures or
//! a live interface, reassembles TCP streams, parses every TLS handshake and
//! reports one record per TLS session.

// No unsafe code, but for the two socket-option calls that make capture
// rings share an interface (capture/fanout.rs, which says why).
#![deny(unsafe_code)]

pub mod baseline;
pub mod capture;
pub mod cleartext;
pub mod cert;
pub mod cli;
pub mod decode;
pub mod dtls;
pub mod fleet;
pub mod flow;
pub mod inventory;
pub mod memory;
pub mod metrics;
pub mod output;
pub mod pipeline;
pub mod policy;
pub mod quic;
pub mod stats;
pub mod stream;
pub mod timeline;
pub mod tls;
pub mod util;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use capture::live::LiveOptions;
use flow::FlowLimits;
use stats::{DecodeErrors, ReaderStats, WorkerStats};

/// Empties what this thread remembers from one connection for the next
/// (parsed certificates, chain verdicts, JA4 fingerprints, the last date
/// and second written): the fuzz targets call it before each input, so
/// that what an input covers does not depend on the inputs run before it.
pub fn forget_thread_caches() {
    cert::forget_parsed_certificates();
    cert::trust::forget_chain_verdicts();
    tls::fingerprint::forget_fingerprints();
    util::rfc3339::forget_last_date();
}

/// Where packets come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Capture files and directories, read in the order given (`-` is stdin).
    Files(Vec<PathBuf>),
    Live(LiveOptions),
}

/// How session records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One readable line per session and a summary.
    Text,
    /// One JSON object per line (docs/SCHEMA.md).
    Jsonl,
    /// One self-contained HTML page at the end of the run.
    Html,
}

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Source,
    /// BPF filter expression applied to every frame.
    pub filter: Option<String>,
    pub format: OutputFormat,
    /// Worker threads (flows are spread over them by 5-tuple hash).
    pub threads: usize,
    /// Caps of each worker's flow table (`max_memory` is per worker).
    pub limits: FlowLimits,
    /// Memory the service inventory holds at most, in bytes.
    pub inventory_memory: usize,
    /// Memory for the reader's table of connections whose payload it
    /// leaves out (bypassed), in bytes.
    pub bypass_memory: usize,
    /// Capture files read several at once: the sessions of files read
    /// ahead of the one being written, held back to keep the output in the
    /// order of the files, in bytes (shared by the file threads).
    pub order_memory: usize,
    /// IP datagrams held for reassembly at once.
    pub max_ip_fragments: usize,
    /// Show a progress bar on stderr while reading files.
    pub progress: bool,
    /// Read capture files in a thread of their own, ahead of decoding.
    pub read_ahead: bool,
    /// Each capture file stands alone: no connection carries over from one
    /// file to the next, and files are read several at once.
    pub independent_files: bool,
    /// The policy sessions are judged against.
    pub profile: policy::Profile,
    /// Text format: print each session as it is found, before the report.
    pub session_lines: bool,
    /// Colour the text output (a terminal, and NO_COLOR unset).
    pub color: bool,
    /// Write the CSV tables (services, findings, certificates) here.
    pub csv_dir: Option<std::path::PathBuf>,
    /// Write the inventory here, for a later run's `--baseline`.
    pub inventory_out: Option<std::path::PathBuf>,
    /// A previous run's inventory to compare this run with.
    pub baseline: Option<std::sync::Arc<baseline::Baseline>>,
    /// Group services in the report and the records (`--group-by`).
    pub group_by: Option<policy::assets::GroupBy>,
    /// Findings below this are left out of the text report and the CSV
    /// findings (`--min-severity`); the records keep them all.
    pub min_severity: Option<policy::Severity>,
    /// Also write the HTML report here (`--html`).
    pub html_out: Option<std::path::PathBuf>,
    /// Text report: add the certificate inventory (`--certificates`).
    pub certificate_section: bool,
    /// JSON Lines: an alert record per finding (off with `--no-alerts`).
    pub alerts: bool,
    /// Live: serve Prometheus metrics on this address (`--metrics`).
    pub metrics_addr: Option<String>,
    /// `observer.name` on every record (`--observer-name`).
    pub observer: Option<String>,
}

/// Why a run could not go on.
#[derive(Debug)]
pub enum RunError {
    /// The command line asked for something impossible (exit code 2).
    Usage(String),
    /// The run could not continue (exit code 2).
    Fatal(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Usage(m) | RunError::Fatal(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RunError {}

/// What a finished run counted.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub reader: ReaderStats,
    pub workers: WorkerStats,
    pub sessions: u64,
    /// Sessions judged, without a finding at or above the profile's failing severity.
    pub sessions_compliant: u64,
    /// Sessions that did not get far enough to be judged.
    pub sessions_not_assessed: u64,
    /// Findings of sessions by severity, Info to Critical.
    pub findings_by_severity: [u64; 5],
    /// The worst finding judged across a service's sessions (`kex.dh_reuse`).
    pub worst_service_finding: Option<policy::Severity>,
    /// The run's verdict (`policy::run_assessment`).
    pub verdict: policy::Assessment,
    pub threads: usize,
    pub wall_time: Duration,
    /// One line per input that could not be read in full: "path: reason".
    pub input_errors: Vec<String>,
    /// What changed since the baseline, when one was given.
    pub changes: Option<baseline::Changes>,
}

impl RunSummary {
    /// Whether any finding raised, of a session or a service, is at or
    /// above `severity`.
    pub fn has_finding_at_least(&self, severity: policy::Severity) -> bool {
        self.findings_by_severity[severity as usize..].iter().any(|n| *n > 0)
            || self.worst_service_finding.is_some_and(|w| w >= severity)
    }

    /// Sessions judged non-compliant.
    pub fn sessions_non_compliant(&self) -> u64 {
        self.sessions - self.sessions_compliant - self.sessions_not_assessed
    }

    /// Decode errors of the reader and all workers together.
    pub fn decode_errors(&self) -> DecodeErrors {
        let mut all = self.reader.decode_errors.clone();
        all.add(&self.workers.decode_errors);
        all
    }
}
