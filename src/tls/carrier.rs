//! What carried a TLS handshake, and the facts of that carrier: TLS records
//! over TCP, QUIC's Initial packets, or DTLS records over UDP.

use super::side::Side;

/// What carried the handshake: TLS records over TCP, or QUIC's Initial
/// packets over UDP.
#[derive(Debug, Clone, Default)]
pub enum Carrier {
    #[default]
    Tcp,
    /// Plain UDP: a session in clear (SNMP, syslog), no TLS at all.
    Udp,
    Quic(Box<QuicFacts>),
    Dtls(Box<DtlsFacts>),
}

impl Carrier {
    pub fn transport(&self) -> crate::decode::Transport {
        match self {
            Carrier::Tcp => crate::decode::Transport::Tcp,
            Carrier::Udp | Carrier::Quic(_) | Carrier::Dtls(_) => crate::decode::Transport::Udp,
        }
    }

    /// The protocol that carries TLS itself, when it is not TLS records.
    pub fn protocol(&self) -> Option<&'static str> {
        match self {
            Carrier::Tcp | Carrier::Udp => None,
            Carrier::Quic(_) => Some("quic"),
            Carrier::Dtls(_) => Some("dtls"),
        }
    }

    /// The first character of a JA4 fingerprint: 't' TCP, 'q' QUIC.
    pub fn ja4_prefix(&self) -> char {
        match self {
            Carrier::Tcp | Carrier::Udp => 't',
            Carrier::Quic(_) => 'q',
            Carrier::Dtls(_) => 'd',
        }
    }

    pub fn quic(&self) -> Option<&QuicFacts> {
        match self {
            Carrier::Quic(q) => Some(q),
            _ => None,
        }
    }

    pub fn dtls(&self) -> Option<&DtlsFacts> {
        match self {
            Carrier::Dtls(d) => Some(d),
            _ => None,
        }
    }
}

/// What DTLS's record and message layers showed (RFC 6347, RFC 9147).
#[derive(Debug, Clone, Default)]
pub struct DtlsFacts {
    /// The server asked the client to prove its address (HelloVerifyRequest).
    pub hello_verify_request: bool,
    /// Handshake messages sent again (a flight retransmitted after a loss).
    pub retransmitted_messages: u32,
    /// Handshake messages that came in more than one fragment.
    pub fragmented_messages: u32,
}

/// What a QUIC connection's long-header packets showed (RFC 9000, 9369).
#[derive(Debug, Clone, Default)]
pub struct QuicFacts {
    /// The version of the client's first Initial packet.
    pub client_version: u32,
    /// The version of the server's Initial packets (compatible version
    /// negotiation may switch it, RFC 9368), when any was seen.
    pub server_version: Option<u32>,
    /// Versions a Version Negotiation packet from the server listed.
    pub version_negotiation: Vec<u32>,
    /// The server asked for address validation with a Retry packet.
    pub retry: bool,
    /// The client sent 0-RTT packets (early data, replayable).
    pub zero_rtt: bool,
    /// Initial packets from the client and from the server.
    pub initial_packets: [u32; 2],
    /// Handshake packets from the client and from the server.
    pub handshake_packets: [u32; 2],
    /// Initial packets that did not open with the keys of the connection.
    pub undecryptable_initials: u32,
    /// A CONNECTION_CLOSE in an Initial packet: its error code and sender.
    pub close: Option<(u64, Side)>,
}

impl QuicFacts {
    /// The version the connection settled on.
    pub fn version(&self) -> u32 {
        self.server_version.unwrap_or(self.client_version)
    }
}

/// The QUIC transport parameters of a ClientHello (RFC 9000 §18) that say
/// something about the client; the others are listed by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuicTransportParameters {
    /// Parameter ids in the order sent, GREASE included.
    pub ids: Vec<u64>,
    pub max_idle_timeout_ms: Option<u64>,
    pub max_udp_payload_size: Option<u64>,
    pub initial_max_data: Option<u64>,
    pub disable_active_migration: bool,
    /// version_information (RFC 9368): the versions the client can switch to.
    pub available_versions: Vec<u32>,
}

