//! From the command line to what a run does: `action` turns the parsed
//! options into an [`Action`], with the run's [`Config`] fully built
//! (policy file read, trust anchors loaded, memory split), without touching
//! the output or starting anything. The terminal and the machine it sees are
//! passed in, so that every option can be tested without a process.

pub mod args;
pub mod catalogue;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::capture::live::LiveOptions;
use crate::cert::trust::TrustStore;
use crate::flow::FlowLimits;
use crate::policy::assets::Assets;
use crate::policy::exception::Network;
use crate::policy::{custom, Profile, Severity};
use crate::{Config, OutputFormat, Source};
pub use args::Cli;
pub use args::CatalogueFormat;
use args::{split_trailing_filter, Command, FormatArg, ReadAheadArg};

/// What the process finds around it: whether standard output and error are
/// terminals, NO_COLOR, and the number of cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Surroundings {
    pub stdout_is_terminal: bool,
    pub stderr_is_terminal: bool,
    /// NO_COLOR is set to something non-empty.
    pub no_color: bool,
    pub cores: usize,
}

impl Surroundings {
    /// The surroundings of this process.
    pub fn detect() -> Surroundings {
        Surroundings {
            stdout_is_terminal: std::io::stdout().is_terminal(),
            stderr_is_terminal: std::io::stderr().is_terminal(),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        }
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Action {
    /// `tlsaudit rules`, as text or JSON.
    ListRules(CatalogueFormat),
    /// `tlsaudit explain RULE`.
    Explain(String),
    /// `tlsaudit report --from ...`: the fleet's inventory.
    Report(Vec<String>, CatalogueFormat),
    /// `tlsaudit schema`: a document to print as JSON.
    Schema(serde_json::Value),
    /// `tlsaudit -D`.
    ListInterfaces,
    /// Analyse captures or an interface.
    Analyse(Box<Analysis>),
}

/// An analysis run and what surrounds it.
#[derive(Debug)]
pub struct Analysis {
    pub config: Config,
    /// Where records go: this file (appended to, created if need be, and
    /// opened again on SIGHUP), or standard output.
    pub output: Option<PathBuf>,
    /// Empty the output file first instead of appending.
    pub truncate: bool,
    /// Exit with status 1 when a finding at or above this severity was
    /// raised (None: never).
    pub fail_on: Option<Severity>,
}

/// Turns the command line into an action; an error is a one-line message
/// for the user (exit status 2).
pub fn action(cli: &Cli, around: &Surroundings) -> Result<Action, String> {
    match &cli.command {
        Some(Command::Rules { format }) => return Ok(Action::ListRules(*format)),
        Some(Command::Explain { rule }) => return Ok(Action::Explain(rule.clone())),
        Some(Command::Report { from, format }) => return Ok(Action::Report(from.clone(), *format)),
        Some(Command::Schema { elasticsearch: true, .. }) => return Ok(Action::Schema(crate::output::fields::elasticsearch_template())),
        Some(Command::Schema { json_schema: Some(record), .. }) => {
            let kinds: Vec<&str> = crate::output::fields::RECORDS.iter().map(|(r, _)| *r).collect();
            return crate::output::fields::json_schema(record)
                .map(Action::Schema)
                .ok_or_else(|| format!("no record kind {record:?}: give one of {}", kinds.join(", ")));
        }
        Some(Command::Schema { .. }) => return Err("tlsaudit schema needs --elasticsearch or --json-schema RECORD".into()),
        None => {}
    }
    if cli.list_interfaces {
        return Ok(Action::ListInterfaces);
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
            publish_every: cli.metrics.as_ref().map(|_| Duration::from_secs(1)),
            rings: usize::from(cli.capture_threads),
            status_interval: Some(cli.status_interval)
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64),
        }),
        (None, false) if cli.metrics.is_some() => {
            return Err("--metrics serves a live capture's metrics: give an interface with -i".into())
        }
        (None, false) => Source::Files(files),
        (None, true) => {
            return Err(
                "nothing to read: give capture files with -r FILE... or an interface with -i IFACE (see --help)".into()
            )
        }
    };
    let writes_to_terminal = cli.output.is_none() && around.stdout_is_terminal;
    let format = match cli.format {
        Some(FormatArg::Text) => OutputFormat::Text,
        Some(FormatArg::Jsonl) => OutputFormat::Jsonl,
        Some(FormatArg::Html) => OutputFormat::Html,
        None if writes_to_terminal => OutputFormat::Text,
        None => OutputFormat::Jsonl,
    };
    let to_redis = cli.output.as_ref().and_then(|p| p.to_str()).is_some_and(|p| p.starts_with("redis://"));
    if to_redis && format != OutputFormat::Jsonl {
        return Err("-o redis://... takes JSON Lines records: leave out --format or give --format jsonl".into());
    }
    let rings = usize::from(cli.capture_threads);
    if rings > 1 && cli.interface.is_none() {
        return Err("--capture-threads shares a live interface among capture rings: give an interface with -i".into());
    }
    if cli.independent_files && cli.interface.is_some() {
        return Err("--independent-files is for capture files: give them with -r, or leave the option out".into());
    }
    let threads = match cli.threads.map(usize::from) {
        // Each capture ring runs its own worker.
        Some(t) if rings > 1 && t != rings => {
            return Err(format!(
                "--capture-threads {rings} runs one worker per capture ring: leave out --threads or give --threads {rings}"
            ))
        }
        _ if rings > 1 => rings,
        Some(t) => t,
        None => around.cores,
    };
    // The file thread and the reader each want a core of their own.
    let read_ahead = match cli.read_ahead {
        ReadAheadArg::Auto => around.cores >= threads + 2,
        ReadAheadArg::On => true,
        ReadAheadArg::Off => false,
    };
    let memory_limit = usize::try_from(cli.memory_limit << 20).unwrap_or(usize::MAX);
    let inventory_memory = memory_limit / 4;
    // Of the connections' three quarters, a sixteenth is the reader's table
    // of bypassed connections; the workers share the rest.
    let bypass_memory = (memory_limit - inventory_memory) / 16;
    // Files read several at once: a sixteenth more holds the records of
    // files read ahead of the one being written (beyond it they wait on
    // disk).
    let order_memory = if cli.independent_files { (memory_limit - inventory_memory) / 16 } else { 0 };
    let flow_memory = memory_limit - inventory_memory - bypass_memory - order_memory;
    let profile = profile(cli)?;
    let fail_on = match cli.fail_on.as_deref() {
        None => Some(profile.failing),
        Some("never") => None,
        Some(name) => Severity::from_name(name),
    };
    Ok(Action::Analyse(Box::new(Analysis {
        config: Config {
            profile,
            session_lines: cli.sessions,
            csv_dir: cli.csv.clone(),
            inventory_out: cli.inventory_out.clone(),
            html_out: cli.html.clone(),
            certificate_section: cli.certificates,
            alerts: !cli.no_alerts,
            metrics_addr: cli.metrics.clone(),
            observer: cli.observer_name.clone(),
            group_by: cli.group_by.as_deref().map(crate::policy::assets::GroupBy::parse).transpose()?,
            min_severity: cli.min_severity.as_deref().and_then(Severity::from_name),
            baseline: cli.baseline.as_deref().map(crate::baseline::Baseline::read).transpose()?.map(std::sync::Arc::new),
            color: writes_to_terminal && !around.no_color,
            progress: matches!(source, Source::Files(_)) && !cli.no_progress && around.stderr_is_terminal,
            read_ahead,
            independent_files: cli.independent_files,
            source,
            filter,
            format,
            threads,
            limits: FlowLimits {
                idle_timeout_micros: i64::from(cli.idle_timeout) * 1_000_000,
                max_flows: cli.max_flows.max(1),
                max_buffered: cli.max_buffered,
                max_memory: flow_memory / threads,
                ..FlowLimits::default()
            },
            inventory_memory,
            bypass_memory,
            order_memory,
            max_ip_fragments: cli.max_ip_fragments.max(1),
        },
        output: cli.output.clone(),
        // A page is written whole: never appended to an older one.
        truncate: cli.truncate || format == OutputFormat::Html,
        fail_on,
    })))
}

/// The policy profile: built in or from a policy file, with the options that
/// change it and the trust anchors.
fn profile(cli: &Cli) -> Result<Profile, String> {
    let mut profile = match &cli.policy_file {
        Some(path) => custom::load(path, &cli.policy)?,
        None => Profile::builtin(&cli.policy).ok_or_else(|| format!("unknown policy {:?}", cli.policy))?,
    };
    profile.allow_psk = cli.allow_psk;
    let mut trust = if cli.no_system_ca { TrustStore::default() } else { TrustStore::system() };
    for file in &cli.ca_file {
        trust.add_file(file)?;
    }
    for dir in &cli.ca_dir {
        trust.add_dir(dir)?;
    }
    profile.trust = Arc::new(trust);
    profile.thresholds.cert_expiry_warn_days = i64::from(cli.cert_expiry_warn);
    profile.as_of = cli.as_of.as_deref().map(custom::as_of).transpose()?;
    let home = cli
        .home_net
        .iter()
        .map(|n| Network::parse(n).ok_or_else(|| format!("--home-net {n:?} is not an address or a network (CIDR)")))
        .collect::<Result<Vec<_>, _>>()?;
    let listed = cli.assets.as_deref().map(Assets::read).transpose()?.unwrap_or_default();
    profile.assets = Arc::new(Assets::new(listed, home));
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    const PIPE: Surroundings = Surroundings { stdout_is_terminal: false, stderr_is_terminal: false, no_color: false, cores: 2 };
    const TERMINAL: Surroundings = Surroundings { stdout_is_terminal: true, stderr_is_terminal: true, no_color: false, cores: 4 };

    fn analysis(args: &[&str], around: &Surroundings) -> Analysis {
        let cli = Cli::try_parse_from(std::iter::once("tlsaudit").chain(args.iter().copied())).expect("valid command line");
        match action(&cli, around) {
            Ok(Action::Analyse(a)) => *a,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn error(args: &[&str]) -> String {
        let cli = Cli::try_parse_from(std::iter::once("tlsaudit").chain(args.iter().copied())).expect("valid command line");
        action(&cli, &PIPE).expect_err("an error")
    }

    #[test]
    fn format_colour_and_progress_follow_the_terminal() {
        let piped = analysis(&["-r", "Cargo.toml", "--no-system-ca"], &PIPE);
        assert_eq!(piped.config.format, OutputFormat::Jsonl);
        assert!(!piped.config.color && !piped.config.progress);
        let shown = analysis(&["-r", "Cargo.toml", "--no-system-ca"], &TERMINAL);
        assert_eq!(shown.config.format, OutputFormat::Text);
        assert!(shown.config.color && shown.config.progress);
        let no_color = Surroundings { no_color: true, ..TERMINAL };
        assert!(!analysis(&["-r", "Cargo.toml", "--no-system-ca"], &no_color).config.color);
        // Written to a file, the output is JSON Lines without colour.
        let to_file = analysis(&["-r", "Cargo.toml", "-o", "/dev/null", "--no-system-ca"], &TERMINAL);
        assert_eq!(to_file.config.format, OutputFormat::Jsonl);
        assert!(!to_file.config.color);
        assert_eq!(to_file.output, Some(PathBuf::from("/dev/null")));
    }

    #[test]
    fn threads_read_ahead_and_memory_split() {
        let a = analysis(&["-r", "Cargo.toml", "--no-system-ca", "--memory-limit", "64"], &TERMINAL);
        assert_eq!(a.config.threads, 4, "one worker per core by default");
        assert!(!a.config.read_ahead, "no core to spare for the file thread");
        assert_eq!(a.config.inventory_memory, 16 << 20);
        assert_eq!(a.config.bypass_memory, (48 << 20) / 16, "a sixteenth of the connections' share");
        assert_eq!(a.config.limits.max_memory, (45 << 20) / 4);
        let b = analysis(&["-r", "Cargo.toml", "--no-system-ca", "--threads", "2"], &TERMINAL);
        assert!(b.config.read_ahead, "two cores beyond the workers");
        assert_eq!(b.config.limits.max_memory, (720 << 20) / 2);
        let c = analysis(&["-r", "Cargo.toml", "--no-system-ca", "--threads", "2", "--read-ahead", "off"], &TERMINAL);
        assert!(!c.config.read_ahead);
    }

    #[test]
    fn independent_files_are_files() {
        assert!(analysis(&["-r", "Cargo.toml", "--no-system-ca", "--independent-files"], &TERMINAL).config.independent_files);
        assert!(!analysis(&["-r", "Cargo.toml", "--no-system-ca"], &TERMINAL).config.independent_files);
        let err = error(&["-i", "lo", "--independent-files"]);
        assert!(err.contains("-r"), "{err}");
    }

    #[test]
    fn capture_rings_bring_their_workers() {
        let rings = analysis(&["-i", "lo", "--capture-threads", "3", "--no-system-ca"], &PIPE);
        assert_eq!(rings.config.threads, 3, "one worker per capture ring, whatever the cores");
        assert!(matches!(&rings.config.source, Source::Live(o) if o.rings == 3));
        assert_eq!(rings.config.limits.max_memory, (720 << 20) / 3);
        let same = analysis(&["-i", "lo", "--capture-threads", "2", "--threads", "2", "--no-system-ca"], &PIPE);
        assert_eq!(same.config.threads, 2);
        let other = error(&["-i", "lo", "--capture-threads", "2", "--threads", "3", "--no-system-ca"]);
        assert!(other.contains("leave out --threads or give --threads 2"), "{other}");
        let offline = error(&["-r", "Cargo.toml", "--capture-threads", "2", "--no-system-ca"]);
        assert!(offline.contains("give an interface with -i"), "{offline}");
    }

    #[test]
    fn sources_filters_and_policy_options() {
        let a = analysis(
            &["-r", "Cargo.toml", "src", "tcp", "port", "443", "--policy", "pci-dss-4", "--cert-expiry-warn", "10", "--fail-on", "high", "--no-system-ca"],
            &PIPE,
        );
        assert!(matches!(&a.config.source, Source::Files(f) if f == &[PathBuf::from("Cargo.toml"), PathBuf::from("src")]));
        assert_eq!(a.config.filter.as_deref(), Some("tcp port 443"));
        assert_eq!(a.config.profile.name, "pci-dss-4");
        assert_eq!(a.config.profile.thresholds.cert_expiry_warn_days, 10);
        assert_eq!(a.fail_on, Some(Severity::High));
        let default = analysis(&["-r", "Cargo.toml", "--no-system-ca", "--policy", "pci-dss-4"], &PIPE);
        assert_eq!(default.fail_on, Some(Severity::High), "the policy's failing severity");
        let never = analysis(&["-r", "Cargo.toml", "--no-system-ca", "--fail-on", "never"], &PIPE);
        assert_eq!(never.fail_on, None);
        let live = analysis(&["-i", "lo", "--status-interval", "0", "--duration", "5", "--no-system-ca"], &PIPE);
        match &live.config.source {
            Source::Live(o) => {
                assert_eq!(o.interface, "lo");
                assert_eq!(o.status_interval, None);
                assert_eq!(o.duration, Some(Duration::from_secs(5)));
                assert_eq!(o.buffer_size, 65_536 * 1024);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_are_one_line_for_the_user() {
        assert!(error(&[]).starts_with("nothing to read"));
        let missing = error(&["-r", "Cargo.toml", "--policy-file", "/nonexistent/policy.toml"]);
        assert!(missing.starts_with("/nonexistent/policy.toml: cannot read the policy file"), "{missing}");
        let ca = error(&["-r", "Cargo.toml", "--ca-file", "/nonexistent/ca.pem"]);
        assert!(ca.contains("/nonexistent/ca.pem"), "{ca}");
        assert!(!missing.contains('\n') && !ca.contains('\n'));
    }
}
