//! Prometheus metrics of a live run (`--metrics ADDR`): what was captured
//! and dropped, sessions by assessment, findings by rule, flows and memory
//! against the budget, served at `http://ADDR/metrics` in Prometheus' text
//! format. The reader publishes its counters once a second, the output
//! thread counts each session as it takes it in; a scrape only reads.

use std::sync::Arc;

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::policy::Verdict;
use crate::stats::RingStats;

/// Every metric tlsaudit exposes.
pub struct Metrics {
    registry: Registry,
    packets: IntCounter,
    bytes: IntCounter,
    dropped: IntCounterVec,
    ring_packets: IntCounterVec,
    ring_dropped: IntCounterVec,
    decode_errors: IntCounter,
    sessions: IntCounterVec,
    findings: IntCounterVec,
    flows: IntGauge,
    services: IntGauge,
    memory: IntGaugeVec,
    memory_limit: IntGauge,
}

/// Raises a counter to a running total read elsewhere (counters only go up).
fn raise_to(counter: &IntCounter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The counters the reader holds, as of one moment.
pub struct ReaderSnapshot {
    pub packets: u64,
    pub bytes: u64,
    pub dropped_by_kernel: u64,
    pub dropped_by_interface: u64,
    pub dropped_by_analyzer: u64,
    pub decode_errors: u64,
    pub flows: usize,
    pub memory_connections: usize,
    pub memory_inventory: usize,
    pub memory_limit: usize,
}

impl Metrics {
    pub fn new() -> Result<Metrics, String> {
        let fail = |e: prometheus::Error| format!("cannot set up the metrics: {e}");
        let counter = |name: &str, help: &str| IntCounter::with_opts(Opts::new(name, help)).map_err(fail);
        let counters = |name: &str, help: &str, labels: &[&str]| IntCounterVec::new(Opts::new(name, help), labels).map_err(fail);
        let gauge = |name: &str, help: &str| IntGauge::with_opts(Opts::new(name, help)).map_err(fail);
        let m = Metrics {
            registry: Registry::new(),
            packets: counter("tlsaudit_packets_received_total", "Packets the capture delivered.")?,
            bytes: counter("tlsaudit_received_bytes_total", "Bytes on the wire of the packets delivered.")?,
            dropped: counters(
                "tlsaudit_packets_dropped_total",
                "Packets dropped: by the kernel (buffer full), by the interface, or TCP segments by the analyzer (a worker stalled).",
                &["by"],
            )?,
            ring_packets: counters("tlsaudit_ring_packets_received_total", "Packets each capture ring delivered.", &["ring"])?,
            ring_dropped: counters(
                "tlsaudit_ring_packets_dropped_total",
                "Packets dropped per capture ring: by the kernel (its buffer full), by the interface, or TCP segments by the analyzer.",
                &["ring", "by"],
            )?,
            decode_errors: counter("tlsaudit_decode_errors_total", "Frames the reader could not decode (link, IP and TCP layers).")?,
            sessions: counters("tlsaudit_sessions_total", "Sessions judged, by assessment.", &["assessment"])?,
            findings: counters("tlsaudit_findings_total", "Findings raised in sessions, by rule and severity.", &["rule", "severity"])?,
            flows: gauge("tlsaudit_flows", "Connections in the flow tables.")?,
            services: gauge("tlsaudit_services", "Services in the inventory.")?,
            memory: IntGaugeVec::new(
                Opts::new("tlsaudit_memory_bytes", "Memory charged against --memory-limit: connections or the inventory."),
                &["part"],
            )
            .map_err(fail)?,
            memory_limit: gauge("tlsaudit_memory_limit_bytes", "The --memory-limit budget.")?,
        };
        let r = &m.registry;
        r.register(Box::new(m.packets.clone())).map_err(fail)?;
        r.register(Box::new(m.bytes.clone())).map_err(fail)?;
        r.register(Box::new(m.dropped.clone())).map_err(fail)?;
        r.register(Box::new(m.ring_packets.clone())).map_err(fail)?;
        r.register(Box::new(m.ring_dropped.clone())).map_err(fail)?;
        r.register(Box::new(m.decode_errors.clone())).map_err(fail)?;
        r.register(Box::new(m.sessions.clone())).map_err(fail)?;
        r.register(Box::new(m.findings.clone())).map_err(fail)?;
        r.register(Box::new(m.flows.clone())).map_err(fail)?;
        r.register(Box::new(m.services.clone())).map_err(fail)?;
        r.register(Box::new(m.memory.clone())).map_err(fail)?;
        r.register(Box::new(m.memory_limit.clone())).map_err(fail)?;
        // Every label value that can be known up front is shown from the
        // first scrape, at zero.
        for by in ["kernel", "interface", "analyzer"] {
            m.dropped.with_label_values(&[by]);
        }
        for a in ["compliant", "non_compliant", "not_assessed"] {
            m.sessions.with_label_values(&[a]);
        }
        Ok(m)
    }

    /// One capture ring's own counters, published by its thread once a
    /// second (with one ring, the capture's).
    pub fn publish_ring(&self, s: &RingStats) {
        let ring = s.ring.to_string();
        raise_to(&self.ring_packets.with_label_values(&[ring.as_str()]), s.packets);
        raise_to(&self.ring_dropped.with_label_values(&[ring.as_str(), "kernel"]), s.dropped_by_kernel);
        raise_to(&self.ring_dropped.with_label_values(&[ring.as_str(), "interface"]), s.dropped_by_interface);
        raise_to(&self.ring_dropped.with_label_values(&[ring.as_str(), "analyzer"]), s.dropped_by_analyzer);
    }

    /// The reader's counters, published once a second.
    pub fn publish_reader(&self, s: &ReaderSnapshot) {
        raise_to(&self.packets, s.packets);
        raise_to(&self.bytes, s.bytes);
        raise_to(&self.dropped.with_label_values(&["kernel"]), s.dropped_by_kernel);
        raise_to(&self.dropped.with_label_values(&["interface"]), s.dropped_by_interface);
        raise_to(&self.dropped.with_label_values(&["analyzer"]), s.dropped_by_analyzer);
        raise_to(&self.decode_errors, s.decode_errors);
        self.flows.set(gauge(s.flows));
        self.memory.with_label_values(&["connections"]).set(gauge(s.memory_connections));
        self.memory.with_label_values(&["inventory"]).set(gauge(s.memory_inventory));
        self.memory_limit.set(gauge(s.memory_limit));
    }

    /// One session taken in by the output thread.
    pub fn count_session(&self, verdict: &Verdict) {
        self.sessions.with_label_values(&[verdict.assessment.as_str()]).inc();
        for f in &verdict.findings {
            self.findings.with_label_values(&[f.rule.as_str(), f.severity.as_str()]).inc();
        }
    }

    pub fn set_services(&self, n: usize) {
        self.services.set(gauge(n));
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into memory fails only on a metric without a value,
        // which the registry does not hold.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// Serves `/metrics` on `addr` from a thread of its own; an address that
/// cannot be bound is an error naming it.
pub fn serve(addr: &str, metrics: Arc<Metrics>) -> Result<(), String> {
    let server = tiny_http::Server::http(addr).map_err(|e| format!("cannot serve metrics on {addr}: {e} (give a free address:port, e.g. 127.0.0.1:9110)"))?;
    std::thread::Builder::new()
        .name("tlsaudit-metrics".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let response = if request.url() == "/metrics" {
                    let mut response = tiny_http::Response::from_data(metrics.render());
                    if let Ok(header) = tiny_http::Header::from_bytes("Content-Type", TextEncoder::new().format_type()) {
                        response.add_header(header);
                    }
                    response.boxed()
                } else {
                    tiny_http::Response::from_string("tlsaudit serves /metrics\n").with_status_code(404).boxed()
                };
                let _ = request.respond(response);
            }
        })
        .map_err(|e| format!("cannot start the metrics thread: {e}"))?;
    Ok(())
}
