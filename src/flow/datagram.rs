//! UDP flows in the flow table: a flow starts only on a datagram that can
//! open a handshake (a QUIC client's first Initial packet, a DTLS
//! ClientHello) or a session in clear (SNMP, syslog), lives under the
//! same idle timeout, table size and memory cap as TCP connections, and
//! ends when its handshake is over. UDP has no connection to close, so a
//! flow that goes quiet ends by timeout.

use hashlink::linked_hash_map::Entry;

use super::{conclude, report, Ending, Flow, FlowKey, FlowTable, Inspection, Segment};
use crate::cleartext::ClearTextFacts;
use crate::decode::tunnel::Tunnel;
use crate::dtls::{self, DtlsConnection};
use crate::quic::{self, QuicConnection};
use crate::stats::WorkerStats;
use crate::tls::facts::{Carrier, SessionFacts};
use crate::tls::Progress;

impl Flow {
    /// A new UDP flow: the sender of the datagram that starts it is the client.
    fn start_datagram(seg: &Segment<'_>, stats: &mut WorkerStats, charged: &mut usize) -> Flow {
        Flow::counted(seg.src, seg.dst, seg.ts, stats, charged)
    }
}

/// What a datagram can open: a QUIC connection (a client's first Initial)
/// or a DTLS association (a ClientHello).
enum Opening {
    Quic,
    Dtls,
    /// A session in clear that this one datagram holds whole (SNMP, syslog).
    ClearText(Box<ClearTextFacts>),
}

impl Opening {
    fn of(datagram: &[u8]) -> Option<Opening> {
        if quic::starts_connection(datagram) {
            Some(Opening::Quic)
        } else if dtls::starts_connection(datagram) {
            Some(Opening::Dtls)
        } else {
            crate::cleartext::datagram::read(datagram).map(|facts| Opening::ClearText(Box::new(facts)))
        }
    }
}

impl FlowTable {
    /// Takes one UDP datagram that may carry a handshake.
    pub(super) fn process_datagram(&mut self, seg: &Segment<'_>, tunnel: Option<Tunnel>) {
        let key = FlowKey::of(seg);
        let opens = Opening::of(seg.payload);
        let known = self.flows.contains_key(&key);
        if opens.is_none() && !known {
            self.stats.udp_datagrams_without_flow += 1;
            return;
        }
        if self.flows.len() >= self.limits.max_flows && !known {
            if let Some(oldest) = self.remove_quietest() {
                self.stats.flows_evicted += 1;
                self.finish(oldest, Ending::TableFull);
            }
        }
        let FlowTable { flows, limits, charged, stats, finished, source_file, .. } = self;
        let flow = match flows.entry(key) {
            Entry::Occupied(mut known) => {
                let idle = seg.ts.saturating_sub(known.get().last_seen) > limits.idle_timeout_micros;
                let reused = !idle && matches!(opens, Some(Opening::Quic)) && another_quic_connection(known.get(), seg);
                if !idle && !reused {
                    known.to_back();
                    known.into_mut()
                } else {
                    let mut old = known.remove();
                    *charged -= old.charged;
                    if reused {
                        stats.flows_port_reused += 1;
                    } else if !old.is_over() {
                        stats.flows_timed_out += 1;
                    }
                    if let Some(facts) = conclude(&mut old, Ending::Normal, stats) {
                        report(facts, stats, finished);
                    }
                    if opens.is_none() {
                        stats.udp_datagrams_without_flow += 1;
                        return;
                    }
                    flows.entry(key).or_insert_with(|| Flow::start_datagram(seg, stats, charged))
                }
            }
            Entry::Vacant(new) => new.insert(Flow::start_datagram(seg, stats, charged)),
        };
        flow.last_seen = flow.last_seen.max(seg.ts);
        if flow.file.is_none() {
            flow.file = *source_file;
        }
        if matches!(flow.inspection, Inspection::NotStarted) {
            let (first, client, server, vlan) = (flow.first_seen, flow.initiator, flow.responder, seg.vlan);
            // A new flow started on a datagram that opens one.
            flow.inspection = match opens {
                Some(Opening::Quic) => Inspection::Quic(Box::new(QuicConnection::new(first, client, server, vlan, limits.tls))),
                Some(Opening::ClearText(seen)) => {
                    // The whole session is in this datagram: report it now;
                    // the flow absorbs the rest of the exchange.
                    flow.inspection = Inspection::Over;
                    let mut facts = SessionFacts::new(first, client, server, vlan);
                    facts.carrier = Carrier::Udp;
                    facts.tunnel = tunnel;
                    facts.last_seen = seg.ts;
                    facts.cleartext = Some(seen);
                    facts.source_file = flow.file;
                    report(facts, stats, finished);
                    return;
                }
                _ => Inspection::Dtls(Box::new(DtlsConnection::new(first, client, server, vlan, limits.tls))),
            };
        }
        let dir = usize::from(flow.initiator != seg.src);
        let progress = match &mut flow.inspection {
            Inspection::Quic(quic) => {
                if let Some(t) = tunnel {
                    quic.on_tunnel(dir, t);
                }
                quic.on_datagram(dir, seg.payload, stats)
            }
            Inspection::Dtls(dtls) => {
                if let Some(t) = tunnel {
                    dtls.on_tunnel(dir, t);
                }
                dtls.on_datagram(dir, seg.payload, stats)
            }
            _ => {
                stats.bypassed_packets += 1;
                stats.bypassed_bytes += seg.payload.len() as u64;
                return;
            }
        };
        if progress == Progress::Done {
            // The handshake is over: the session is reported now and the
            // flow stays to absorb the connection's later long-header packets.
            if let Some(facts) = conclude(flow, Ending::Normal, stats) {
                report(facts, stats, finished);
            }
        }
        let now = flow.memory();
        *charged = *charged - flow.charged + now;
        flow.charged = now;
        self.enforce_memory_cap();
    }
}

/// Whether a client's Initial-carrying datagram on a QUIC flow opens a new
/// connection from the same address and port (a client bound to a fixed
/// port, or a NAT that hands out the same one again) rather than going on
/// with this one: during the handshake, when its Source Connection ID is
/// new; after it, always, since a client sends no Initial packet once it
/// has sent a Handshake packet (RFC 9001 §4.9.1).
fn another_quic_connection(flow: &Flow, seg: &Segment<'_>) -> bool {
    seg.src == flow.initiator
        && match &flow.inspection {
            Inspection::Quic(quic) => quic.opens_another_connection(seg.payload),
            Inspection::Over => true,
            _ => false,
        }
}

/// A QUIC or DTLS session that ended, with the cap that ended it early.
pub(super) fn with_ending(facts: Option<SessionFacts>, ending: Ending) -> Option<SessionFacts> {
    let mut facts = facts?;
    ending.mark(&mut facts);
    Some(facts)
}
