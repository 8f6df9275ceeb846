//! Run counters: every packet, cap hit and decode error is counted here and
//! reported in the `tlsaudit.stats` record. Each thread keeps its own copy;
//! the copies are added up at the end of the run.

use serde::Serialize;

/// Why a frame, segment or message could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// A header was cut short (snap length or a malformed length field).
    Truncated,
    /// An IP fragment whose bytes were cut short by the snap length.
    TruncatedFragment,
    /// A reassembled datagram would exceed 65,535 bytes.
    OversizedFragment,
    BadIpHeader,
    BadTcpHeader,
    UnsupportedLinkType,
    /// A TLS record header with an impossible type, version or length.
    TlsRecord,
    /// A handshake message that tls-parser rejected.
    TlsHandshake,
    /// A certificate that x509-parser rejected.
    Certificate,
    /// A QUIC Initial packet that did not open with its connection's keys.
    QuicPacket,
    /// A decrypted QUIC Initial packet whose frames did not parse.
    QuicFrame,
}

/// Decode errors, by kind.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct DecodeErrors {
    pub truncated: u64,
    pub truncated_fragment: u64,
    pub oversized_fragment: u64,
    pub bad_ip_header: u64,
    pub bad_tcp_header: u64,
    pub unsupported_link_type: u64,
    pub tls_record: u64,
    pub tls_handshake: u64,
    pub certificate: u64,
    pub quic_packet: u64,
    pub quic_frame: u64,
}

impl DecodeErrors {
    pub fn count(&mut self, kind: DecodeErrorKind) {
        let slot = match kind {
            DecodeErrorKind::Truncated => &mut self.truncated,
            DecodeErrorKind::TruncatedFragment => &mut self.truncated_fragment,
            DecodeErrorKind::OversizedFragment => &mut self.oversized_fragment,
            DecodeErrorKind::BadIpHeader => &mut self.bad_ip_header,
            DecodeErrorKind::BadTcpHeader => &mut self.bad_tcp_header,
            DecodeErrorKind::UnsupportedLinkType => &mut self.unsupported_link_type,
            DecodeErrorKind::TlsRecord => &mut self.tls_record,
            DecodeErrorKind::TlsHandshake => &mut self.tls_handshake,
            DecodeErrorKind::Certificate => &mut self.certificate,
            DecodeErrorKind::QuicPacket => &mut self.quic_packet,
            DecodeErrorKind::QuicFrame => &mut self.quic_frame,
        };
        *slot += 1;
    }

    /// Each kind's count, by the name the stats record gives it.
    pub fn by_kind(&self) -> [(&'static str, u64); 11] {
        [
            ("truncated", self.truncated),
            ("truncated_fragment", self.truncated_fragment),
            ("oversized_fragment", self.oversized_fragment),
            ("bad_ip_header", self.bad_ip_header),
            ("bad_tcp_header", self.bad_tcp_header),
            ("unsupported_link_type", self.unsupported_link_type),
            ("tls_record", self.tls_record),
            ("tls_handshake", self.tls_handshake),
            ("certificate", self.certificate),
            ("quic_packet", self.quic_packet),
            ("quic_frame", self.quic_frame),
        ]
    }

    pub fn total(&self) -> u64 {
        self.truncated
            + self.truncated_fragment
            + self.oversized_fragment
            + self.bad_ip_header
            + self.bad_tcp_header
            + self.unsupported_link_type
            + self.tls_record
            + self.tls_handshake
            + self.certificate
            + self.quic_packet
            + self.quic_frame
    }

    pub fn add(&mut self, o: &DecodeErrors) {
        self.truncated += o.truncated;
        self.truncated_fragment += o.truncated_fragment;
        self.oversized_fragment += o.oversized_fragment;
        self.bad_ip_header += o.bad_ip_header;
        self.bad_tcp_header += o.bad_tcp_header;
        self.unsupported_link_type += o.unsupported_link_type;
        self.tls_record += o.tls_record;
        self.tls_handshake += o.tls_handshake;
        self.certificate += o.certificate;
        self.quic_packet += o.quic_packet;
        self.quic_frame += o.quic_frame;
    }
}

/// Counters of the reader thread: capture and decoding.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ReaderStats {
    pub files_read: u64,
    pub files_failed: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Frames whose captured length is shorter than their length on the wire.
    pub packets_truncated_by_snaplen: u64,
    pub packets_filtered_out: u64,
    pub tcp_segments: u64,
    /// TCP segments and handshake datagrams that came inside a tunnel (GRE,
    /// VXLAN, ...); counted in `tcp_segments` or `udp_handshake_datagrams` too.
    pub tunnelled_segments: u64,
    /// UDP datagrams that may carry a handshake (QUIC long-header packets,
    /// DTLS records), handed to the workers.
    pub udp_handshake_datagrams: u64,
    pub not_tcp: u64,
    pub ip_fragments: u64,
    pub ip_datagrams_reassembled: u64,
    pub ip_fragments_evicted: u64,
    pub ip_fragments_expired: u64,
    pub ip_fragments_overlapping: u64,
    /// Packets the kernel dropped (live capture).
    pub dropped_by_kernel: u64,
    /// Packets the interface or driver dropped (live capture).
    pub dropped_by_interface: u64,
    /// TCP segments the analyzer dropped because a worker took nothing for
    /// the whole wait (live capture; `pipeline::dispatch`).
    pub dropped_by_analyzer: u64,
    /// Payload bytes of bypassed flows passed to the workers as a length only.
    pub payload_bytes_not_copied: u64,
    /// Bypassed flows the reader forgot because its table of them was full
    /// (their payload is copied again; nothing is lost).
    pub bypass_table_evictions: u64,
    /// Bypass notices about a connection that had already given way to a
    /// new one on the same 5-tuple (or that could not be checked): ignored.
    pub bypass_notices_ignored: u64,
    /// Packets (and their bytes) of bypassed flows the reader counted
    /// instead of sending them to their worker; added to the workers'
    /// `bypassed_packets` and `bypassed_bytes` in the stats record.
    #[serde(skip)]
    pub bypassed_packets_absorbed: u64,
    #[serde(skip)]
    pub bypassed_bytes_absorbed: u64,
    /// Frames the decoder could not read, by kind (TLS kinds are counted by the workers).
    pub decode_errors: DecodeErrors,
    /// Live capture: what each capture ring received and lost.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rings: Vec<RingStats>,
}

/// What one capture ring received and lost (live capture).
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct RingStats {
    pub ring: usize,
    pub packets: u64,
    pub bytes: u64,
    pub dropped_by_kernel: u64,
    pub dropped_by_interface: u64,
    pub dropped_by_analyzer: u64,
}

impl ReaderStats {
    /// Adds another reader's counters (another capture ring's).
    pub fn add(&mut self, o: &ReaderStats) {
        self.files_read += o.files_read;
        self.files_failed += o.files_failed;
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.packets_truncated_by_snaplen += o.packets_truncated_by_snaplen;
        self.packets_filtered_out += o.packets_filtered_out;
        self.tcp_segments += o.tcp_segments;
        self.tunnelled_segments += o.tunnelled_segments;
        self.udp_handshake_datagrams += o.udp_handshake_datagrams;
        self.not_tcp += o.not_tcp;
        self.ip_fragments += o.ip_fragments;
        self.ip_datagrams_reassembled += o.ip_datagrams_reassembled;
        self.ip_fragments_evicted += o.ip_fragments_evicted;
        self.ip_fragments_expired += o.ip_fragments_expired;
        self.ip_fragments_overlapping += o.ip_fragments_overlapping;
        self.dropped_by_kernel += o.dropped_by_kernel;
        self.dropped_by_interface += o.dropped_by_interface;
        self.dropped_by_analyzer += o.dropped_by_analyzer;
        self.payload_bytes_not_copied += o.payload_bytes_not_copied;
        self.bypass_table_evictions += o.bypass_table_evictions;
        self.bypass_notices_ignored += o.bypass_notices_ignored;
        self.bypassed_packets_absorbed += o.bypassed_packets_absorbed;
        self.bypassed_bytes_absorbed += o.bypassed_bytes_absorbed;
        self.decode_errors.add(&o.decode_errors);
        self.rings.extend_from_slice(&o.rings);
    }

    /// This reader's counters as one capture ring's.
    pub fn ring(&self, ring: usize) -> RingStats {
        RingStats {
            ring,
            packets: self.packets,
            bytes: self.bytes,
            dropped_by_kernel: self.dropped_by_kernel,
            dropped_by_interface: self.dropped_by_interface,
            dropped_by_analyzer: self.dropped_by_analyzer,
        }
    }
}

/// Counters of one worker thread: flows, reassembly and TLS parsing.
#[derive(Debug, Default, Clone, Serialize)]
pub struct WorkerStats {
    pub flows: u64,
    /// Flows evicted because the flow table was full.
    pub flows_evicted: u64,
    /// Flows ended early because the flows' memory cap was reached.
    pub flows_evicted_memory: u64,
    pub flows_timed_out: u64,
    /// New connections started by a SYN on a 5-tuple already in use.
    pub flows_port_reused: u64,
    /// Flows seen without their SYN (picked up mid-stream).
    pub flows_midstream: u64,
    pub tcp_retransmitted_bytes: u64,
    /// Bytes that overlapped earlier data and were dropped (first copy kept).
    pub tcp_overlap_bytes: u64,
    /// Overlapping bytes that differed from the first copy.
    pub tcp_overlap_inconsistent: u64,
    pub tcp_gaps: u64,
    pub tcp_gap_bytes: u64,
    /// Times the per-direction reassembly buffer cap was hit.
    pub tcp_buffer_cap_hits: u64,
    pub tls_sessions: u64,
    /// Sessions that never became TLS, of a protocol recognised in clear.
    pub cleartext_sessions: u64,
    /// Sessions of a recognised protocol without TLS that were not seen in
    /// clear: encrypted by the protocol itself (SMB 3), or with their
    /// encryption not seen.
    pub other_sessions: u64,
    pub tls_established: u64,
    /// Handshake messages larger than the cap, skipped.
    pub tls_handshake_cap_hits: u64,
    /// Certificate chains longer than the cap (the rest was not parsed).
    pub tls_chain_cap_hits: u64,
    /// Handshakes still going after the bytes inspected per direction.
    pub tls_inspect_cap_hits: u64,
    /// Times a stream lost record alignment and searched for the next record.
    pub tls_resyncs: u64,
    /// Packets of flows whose handshake was over, counted but not parsed.
    pub bypassed_packets: u64,
    pub bypassed_bytes: u64,
    /// Certificates whose facts came from the per-thread cache of parsed ones.
    pub certificate_cache_hits: u64,
    /// Sessions whose findings (but for the certificate's validity at the
    /// time and the server's address) were those of an earlier session with
    /// the same facts, remembered by the worker.
    pub verdict_cache_hits: u64,
    /// Capture files read several at once: bytes of the records of files
    /// read ahead that waited for their turn in a temporary file, their
    /// memory spent (`pipeline/order.rs`).
    pub order_spilled_bytes: u64,
    /// Handshake datagrams that neither started a flow (a QUIC client's
    /// first Initial) nor belonged to one.
    pub udp_datagrams_without_flow: u64,
    pub decode_errors: DecodeErrors,
}

impl WorkerStats {
    pub fn add(&mut self, o: &WorkerStats) {
        self.flows += o.flows;
        self.flows_evicted += o.flows_evicted;
        self.flows_evicted_memory += o.flows_evicted_memory;
        self.flows_timed_out += o.flows_timed_out;
        self.flows_port_reused += o.flows_port_reused;
        self.flows_midstream += o.flows_midstream;
        self.tcp_retransmitted_bytes += o.tcp_retransmitted_bytes;
        self.tcp_overlap_bytes += o.tcp_overlap_bytes;
        self.tcp_overlap_inconsistent += o.tcp_overlap_inconsistent;
        self.tcp_gaps += o.tcp_gaps;
        self.tcp_gap_bytes += o.tcp_gap_bytes;
        self.tcp_buffer_cap_hits += o.tcp_buffer_cap_hits;
        self.tls_sessions += o.tls_sessions;
        self.cleartext_sessions += o.cleartext_sessions;
        self.other_sessions += o.other_sessions;
        self.tls_established += o.tls_established;
        self.tls_handshake_cap_hits += o.tls_handshake_cap_hits;
        self.tls_chain_cap_hits += o.tls_chain_cap_hits;
        self.tls_inspect_cap_hits += o.tls_inspect_cap_hits;
        self.tls_resyncs += o.tls_resyncs;
        self.bypassed_packets += o.bypassed_packets;
        self.bypassed_bytes += o.bypassed_bytes;
        self.certificate_cache_hits += o.certificate_cache_hits;
        self.verdict_cache_hits += o.verdict_cache_hits;
        self.order_spilled_bytes += o.order_spilled_bytes;
        self.udp_datagrams_without_flow += o.udp_datagrams_without_flow;
        self.decode_errors.add(&o.decode_errors);
    }
}
