//! The tlsaudit command: reads the command line into an action (`cli`),
//! carries it out, and maps the outcome to an exit code.

#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;

use tlsaudit::capture::live;
use tlsaudit::cli::{self, catalogue, Action, Analysis, CatalogueFormat, Cli, Surroundings};
use tlsaudit::output::stream_sink::{StreamSink, StreamTarget};
use tlsaudit::pipeline;
use tlsaudit::policy::Assessment;
use tlsaudit::util::escape::escape_terminal;

/// Exit code when --fail-on finds a finding at or above its severity.
const EXIT_FINDINGS: u8 = 1;

/// Exit code for bad usage and unreadable input.
const EXIT_USAGE: u8 = 2;

/// Exit code when nothing could be judged.
const EXIT_NOT_ASSESSED: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let action = match cli::action(&cli, &Surroundings::detect()) {
        Ok(action) => action,
        Err(e) => return usage_error(&e),
    };
    match action {
        Action::ListRules(CatalogueFormat::Text) => print_lines(catalogue::rules_table()),
        Action::ListRules(CatalogueFormat::Json) => print_lines([catalogue::rules_json()]),
        Action::Explain(rule) => match catalogue::explain(&rule) {
            Ok(lines) => print_lines(lines),
            Err(e) => usage_error(&e),
        },
        Action::Report(sources, format) => fleet_report(&sources, format),
        Action::Schema(document) => print_lines([serde_json::to_string_pretty(&document).unwrap_or_default()]),
        Action::ListInterfaces => match live::list_interfaces() {
            Ok(list) => print_lines(list),
            Err(e) => usage_error(&format!("cannot list interfaces: {e}")),
        },
        Action::Analyse(analysis) => analyse(*analysis),
    }
}

/// Runs the analysis with the output opened and the signals handled.
fn analyse(analysis: Analysis) -> ExitCode {
    let Analysis { config, output, truncate, fail_on } = analysis;
    let redis = output.as_ref().and_then(|p| p.to_str()).filter(|p| p.starts_with("redis://")).map(StreamTarget::parse);
    let out: Box<dyn Write + Send> = match (&output, redis) {
        (_, Some(Err(e))) => return usage_error(&e),
        (_, Some(Ok(target))) => match StreamSink::start(target) {
            Ok(sink) => Box::new(sink),
            Err(e) => return usage_error(&e),
        },
        // A restarted service appends to the records it wrote before.
        (Some(path), None) => match std::fs::OpenOptions::new().create(true).write(true).append(!truncate).truncate(truncate).open(path) {
            Ok(f) => Box::new(io::BufWriter::with_capacity(1 << 16, f)),
            Err(e) => return usage_error(&format!("{}: cannot open the output file: {e}", path.display())),
        },
        (None, None) => Box::new(io::BufWriter::with_capacity(1 << 16, io::stdout())),
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
    let to_file = output.filter(|p| !p.to_str().is_some_and(|p| p.starts_with("redis://")));
    let reopen = to_file.map(|path| pipeline::OutputReopen {
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
            } else if let Some(changes) = &summary.changes {
                // Against a baseline, only what got worse is an alarm.
                if changes.verdict.worse() {
                    ExitCode::from(EXIT_FINDINGS)
                } else if summary.verdict == Assessment::NotAssessed {
                    ExitCode::from(EXIT_NOT_ASSESSED)
                } else {
                    ExitCode::SUCCESS
                }
            } else if fail_on.is_some_and(|s| summary.has_finding_at_least(s)) {
                ExitCode::from(EXIT_FINDINGS)
            } else if summary.verdict == Assessment::NotAssessed {
                ExitCode::from(EXIT_NOT_ASSESSED)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => usage_error(&e.to_string()),
    }
}

/// `tlsaudit report`: the fleet's services merged, printed, and the exit
/// status of its verdict.
fn fleet_report(sources: &[String], format: CatalogueFormat) -> ExitCode {
    let records = match tlsaudit::fleet::read(sources) {
        Ok(r) => r,
        Err(e) => return usage_error(&e),
    };
    let sensors: std::collections::BTreeSet<String> = records.iter().map(|(s, _)| s.clone()).collect();
    let services = tlsaudit::fleet::merge(&records);
    let now = tlsaudit::util::rfc3339::rfc3339_micros(live::now_micros());
    let printed = match format {
        CatalogueFormat::Text => print_lines([tlsaudit::fleet::text(&services, &sensors).trim_end().to_string()]),
        CatalogueFormat::Json => print_lines(tlsaudit::fleet::records(&services, &sensors, &now).iter().map(|r| r.to_string())),
    };
    match tlsaudit::fleet::verdict(&services) {
        "non_compliant" => ExitCode::from(EXIT_FINDINGS),
        "not_assessed" => ExitCode::from(EXIT_NOT_ASSESSED),
        _ => printed,
    }
}

/// Writes to standard output, ending quietly when the reader has gone away
/// (`tlsaudit rules | head`).
fn print_lines(lines: impl IntoIterator<Item = String>) -> ExitCode {
    let mut out = io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("tlsaudit: {}", escape_terminal(message.as_bytes()));
    ExitCode::from(EXIT_USAGE)
}
