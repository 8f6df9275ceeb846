//! What every fuzz target shares: a connection built from fuzz bytes, and
//! the end of the line for the sessions found (policy, JSON that must parse).

#![allow(dead_code)]

use std::net::IpAddr;

use tlsaudit::flow::{FlowLimits, FlowTable, Segment};
use tlsaudit::output::json;
use tlsaudit::policy::evaluate::evaluate;
use tlsaudit::policy::profile::Profile;
use tlsaudit::tls::facts::Endpoint;

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const FIN: u8 = 0x01;
pub const RST: u8 = 0x04;

pub fn endpoints(flow: u8) -> (Endpoint, Endpoint) {
    let client = Endpoint { ip: IpAddr::from([10, 0, 0, 1]), port: 40000 + u16::from(flow) };
    let server = Endpoint { ip: IpAddr::from([10, 0, 0, 2]), port: 443 };
    (client, server)
}

/// A table for one input, with small caps so that the fuzzer reaches them.
/// The thread's caches are emptied first: an input must cover the same code
/// whatever inputs ran before it (a certificate cached by an earlier input
/// skipped its parsing, and evicting from a full cache was coverage no input
/// could reproduce), or coverage never stops growing.
pub fn table() -> FlowTable {
    tlsaudit::forget_thread_caches();
    let mut limits = FlowLimits { max_flows: 4, max_buffered: 4096, max_memory: 96 * 1024, ..FlowLimits::default() };
    limits.tls.max_handshake = 16 * 1024;
    FlowTable::new(limits)
}

/// Judges and renders every session the table reported; the JSON must parse
/// whatever bytes the session came from.
pub fn finish(mut table: FlowTable) {
    static PROFILE: std::sync::OnceLock<Profile> = std::sync::OnceLock::new();
    table.finish_all();
    let profile = PROFILE.get_or_init(|| Profile::builtin("hipaa").expect("hipaa profile"));
    let mut line = Vec::new();
    for facts in table.take_sessions() {
        let verdict = evaluate(&facts, profile);
        line.clear();
        json::session(&facts, &verdict, "hipaa", &mut line);
        // UTF-8, and JSON syntax checked without building the document (a
        // tree of allocations per input was a large share of each run).
        if let Err(e) = std::str::from_utf8(&line) {
            panic!("record not UTF-8 ({e}): {}", String::from_utf8_lossy(&line));
        }
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&line) {
            panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(&line));
        }
    }
    // What the input cached is freed within the input: libFuzzer runs an
    // input that ends with more allocations than frees a second time, then
    // scans the heap for leaks.
    tlsaudit::forget_thread_caches();
}

/// One segment of a connection between the two endpoints of `flow`.
pub struct Sender {
    pub next_seq: [u32; 2],
    pub ts: i64,
}

impl Sender {
    pub fn new() -> Self {
        Sender { next_seq: [1_000, 500_000], ts: 1_700_000_000_000_000 }
    }

    /// Sends `payload` in direction `dir` (0: client to server) at
    /// `seq_offset` from where that direction stands.
    // Every field of a segment the fuzzer controls, as the targets pass them.
    #[allow(clippy::too_many_arguments)]
    pub fn send(&mut self, table: &mut FlowTable, flow: u8, dir: usize, flags: u8, seq_offset: i32, payload: &[u8], missing: u32) {
        let (client, server) = endpoints(flow);
        let (src, dst) = if dir == 0 { (client, server) } else { (server, client) };
        let seq = self.next_seq[dir].wrapping_add_signed(seq_offset);
        self.ts += 10;
        table.process(&Segment {
            ts: self.ts,
            src,
            dst,
            vlan: None,
            transport: Default::default(),
            seq,
            ack: self.next_seq[1 - dir],
            flags,
            payload,
            missing,
        });
        let end = seq.wrapping_add(payload.len() as u32).wrapping_add(missing).wrapping_add(u32::from(flags & SYN != 0));
        if end.wrapping_sub(self.next_seq[dir]) < 1 << 30 {
            self.next_seq[dir] = end;
        }
    }
}
