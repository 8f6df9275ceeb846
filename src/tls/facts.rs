//! Plain facts about one TLS connection, as observed on the wire. Parsers fill
//! these in; the output layer and the policy layer read them. Nothing here
//! judges whether a value is weak.

pub use super::carrier::{Carrier, DtlsFacts, QuicFacts, QuicTransportParameters};
pub use super::side::Side;
use crate::cert::SharedCertificate;
use crate::memory::{alloc_bytes, vec_bytes, HeapSize};

/// What the ClientHello offered. Lists keep the client's order and include
/// GREASE values; consumers filter them where a method says so.
#[derive(Debug, Clone, Default)]
pub struct ClientHelloFacts {
    /// The hello arrived in the SSLv2-compatible record format.
    pub sslv2_format: bool,
    pub legacy_version: u16,
    pub session_id: Vec<u8>,
    pub ciphers: Vec<u16>,
    pub compression_methods: Vec<u8>,
    /// Extension types in the order sent.
    pub extensions: Vec<u16>,
    /// Raw SNI host name bytes (attacker-controlled; never interpreted).
    pub server_name: Option<Vec<u8>>,
    pub alpn: Vec<Vec<u8>>,
    pub supported_versions: Vec<u16>,
    pub supported_groups: Vec<u16>,
    pub ec_point_formats: Vec<u8>,
    pub signature_algorithms: Vec<u16>,
    pub key_share_groups: Vec<u16>,
    pub psk_key_exchange_modes: Vec<u8>,
    pub extended_master_secret: bool,
    pub encrypt_then_mac: bool,
    pub renegotiation_info: bool,
    pub session_ticket: Option<usize>,
    pub status_request: bool,
    pub heartbeat_mode: Option<u8>,
    pub pre_shared_key: bool,
    pub early_data: bool,
    /// server_certificate_type (RFC 7250): the kinds of server credential the
    /// client accepts (0 X.509, 2 raw public key); empty when not sent.
    pub server_certificate_types: Vec<u8>,
    /// use_srtp (RFC 5764): the SRTP protection profiles a DTLS client offers.
    pub use_srtp: Vec<u16>,
    /// quic_transport_parameters (RFC 9001 §8.2), in a QUIC ClientHello.
    pub quic_transport_parameters: Option<QuicTransportParameters>,
    /// Extensions whose bodies were malformed.
    pub malformed_extensions: Vec<u16>,
}

impl ClientHelloFacts {
    /// Versions offered: supported_versions when present, else every version
    /// from SSL 3.0 up to the legacy version (what a pre-1.3 client accepts),
    /// led by an early TLS 1.3 draft when the legacy version says 0x0304.
    pub fn offered_versions(&self) -> Vec<u16> {
        let listed: Vec<u16> =
            self.supported_versions.iter().copied().filter(|v| !super::names::is_grease(*v)).collect();
        if !listed.is_empty() {
            return listed;
        }
        if super::names::is_dtls(self.legacy_version) {
            // A DTLS client without supported_versions accepts its version and the older ones.
            use super::names::{DTLS10, DTLS12};
            return match self.legacy_version {
                DTLS12 => vec![DTLS12, DTLS10],
                v => vec![v],
            };
        }
        if self.sslv2_format {
            let mut v = vec![0x0002];
            v.extend((0x0300..=self.legacy_version.min(0x0303)).rev());
            return v;
        }
        let mut v: Vec<u16> = (0x0300..=self.legacy_version.min(0x0303)).rev().collect();
        if self.legacy_version == 0x0304 {
            // A TLS 1.3 draft before 16 offered itself in the version field.
            v.insert(0, super::names::TLS13_EARLY_DRAFT);
        }
        v
    }
}

/// What the ServerHello chose.
#[derive(Debug, Clone, Default)]
pub struct ServerHelloFacts {
    pub legacy_version: u16,
    /// The version from supported_versions (TLS 1.3), when present.
    pub selected_version: Option<u16>,
    pub session_id: Vec<u8>,
    pub cipher: u16,
    pub compression_method: u8,
    pub extensions: Vec<u16>,
    pub alpn: Option<Vec<u8>>,
    pub key_share_group: Option<u16>,
    /// A digest of the server's key share (see KeyExchangeFacts::server_public).
    pub key_share_public: Option<PublicValueDigest>,
    pub extended_master_secret: bool,
    pub encrypt_then_mac: bool,
    pub renegotiation_info: bool,
    pub session_ticket: bool,
    pub status_request: bool,
    pub heartbeat_mode: Option<u8>,
    pub pre_shared_key: bool,
    pub ec_point_formats: Vec<u8>,
    /// The certificate type the server chose (RFC 7250): 0 X.509, 2 raw public key.
    pub server_certificate_type: Option<u8>,
    /// use_srtp (RFC 5764): the SRTP protection profile a DTLS server chose.
    pub use_srtp: Option<u16>,
    /// The random ends with RFC 8446's downgrade sentinel: Some(1) for
    /// "DOWNGRD\x01" (TLS 1.2 chosen), Some(0) for "DOWNGRD\x00" (older).
    pub downgrade_sentinel: Option<u8>,
    /// Laid out as a TLS 1.3 draft before 16: version 0x0304 in the version
    /// field, no session id, no compression method.
    pub early_draft: bool,
}

impl ServerHelloFacts {
    /// The negotiated protocol version; an early draft's is
    /// `names::TLS13_EARLY_DRAFT`, never RFC 8446's 0x0304.
    pub fn version(&self) -> u16 {
        if self.early_draft {
            return super::names::TLS13_EARLY_DRAFT;
        }
        self.selected_version.unwrap_or(self.legacy_version)
    }

    pub fn is_tls13(&self) -> bool {
        let v = self.version();
        v == 0x0304 || v == super::names::DTLS13 || super::names::is_tls13_draft(v)
    }
}

/// A HelloRetryRequest (TLS 1.3): the server asked for another key share.
#[derive(Debug, Clone, Default)]
pub struct HelloRetryFacts {
    /// The version the retry speaks for (0x0304, or a draft's own code).
    pub version: u16,
    pub cipher: u16,
    pub selected_group: Option<u16>,
}

/// How a suite's server proves or agrees the premaster secret, as far as the
/// ServerKeyExchange's layout goes (RFC 5246, 4279, 4492, 5054, 5489, 8422, 8492).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KexMethod {
    /// Ephemeral finite-field DH, signed by the certificate's key.
    Dhe,
    /// Ephemeral elliptic-curve DH, signed by the certificate's key.
    Ecdhe,
    /// DHE mixed with a pre-shared key: hint, then DH parameters, unsigned.
    DhePsk,
    /// ECDHE mixed with a pre-shared key: hint, then EC parameters, unsigned.
    EcdhePsk,
    /// Pre-shared key alone: only an identity hint.
    Psk,
    /// RSA key transport plus a pre-shared key: only an identity hint.
    RsaPsk,
    /// Secure Remote Password: the SRP group, salt and public value.
    Srp,
    /// Anonymous finite-field DH: parameters with no signature.
    DhAnon,
    /// Anonymous elliptic-curve DH: parameters with no signature.
    EcdhAnon,
    /// A temporary RSA key (export suites), signed by the certificate's key.
    RsaExport,
    /// Password-authenticated ECC (ECCPWD, RFC 8492).
    Eccpwd,
}

impl KexMethod {
    /// The method as the suite names spell it.
    pub fn name(self) -> &'static str {
        match self {
            KexMethod::Dhe => "DHE",
            KexMethod::Ecdhe => "ECDHE",
            KexMethod::DhePsk => "DHE_PSK",
            KexMethod::EcdhePsk => "ECDHE_PSK",
            KexMethod::Psk => "PSK",
            KexMethod::RsaPsk => "RSA_PSK",
            KexMethod::Srp => "SRP",
            KexMethod::DhAnon => "DH_anon",
            KexMethod::EcdhAnon => "ECDH_anon",
            KexMethod::RsaExport => "RSA_EXPORT",
            KexMethod::Eccpwd => "ECCPWD",
        }
    }
}

/// What the ServerKeyExchange revealed about the key exchange (TLS ≤ 1.2).
#[derive(Debug, Clone)]
pub struct KeyExchangeFacts {
    /// The layout the message was read by: the negotiated suite's key exchange.
    pub method: KexMethod,
    /// Size of the finite-field DH prime, in bits.
    pub dh_bits: Option<u32>,
    /// Size of the SRP group's prime N, in bits.
    pub srp_bits: Option<u32>,
    /// Size of a temporary RSA modulus (export suites), in bits.
    pub rsa_bits: Option<u32>,
    /// Named curve of ECDHE (0xFF01/0xFF02 for explicit prime/char2 parameters).
    pub curve: Option<u16>,
    /// The server named a PSK identity hint (its value is never reported).
    pub psk_hint: bool,
    /// The parameters carry a signature.
    pub signed: bool,
    /// The signature scheme the server used to sign the parameters (TLS 1.2).
    pub signature_scheme: Option<u16>,
    /// A digest of the server's ephemeral public value, to notice reuse
    /// across sessions (`public_value_digest`).
    pub server_public: Option<PublicValueDigest>,
}

/// A public value's 64-bit keyed hash: what tells two values apart when
/// comparing them across the sessions of one run (never shown, never kept
/// from one run to the next).
pub type PublicValueDigest = [u8; 8];

/// The key of `public_value_digest`: one for the whole process, since the
/// digests of every worker meet in the inventory; drawn at random (but in
/// fuzz builds), so that a sender cannot make two values collide and fake
/// the reuse of a key.
static PUBLIC_VALUE_KEY: std::sync::LazyLock<crate::util::keyed_hash::KeyedHash> =
    std::sync::LazyLock::new(crate::util::keyed_hash::KeyedHash::default);

/// A short digest of a public key value, for comparing values across
/// sessions. A keyed 64-bit hash, not SHA-256: two distinct values of one
/// run collide with a chance of about one in 2^64 per pair, and SHA-256 of
/// every ephemeral value was over a twentieth of a worker's instructions
/// on handshakes (where the CPU has no SHA extensions).
pub fn public_value_digest(value: &[u8]) -> PublicValueDigest {
    use std::hash::BuildHasher as _;
    PUBLIC_VALUE_KEY.hash_one(value).to_le_bytes()
}

#[derive(Debug, Clone)]
pub struct AlertFacts {
    pub level: u8,
    pub description: u8,
    pub from: Side,
}

/// A cap that cut the analysis of a session short; its facts may be partial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapHit {
    /// The worker's flow table was full (`--max-flows`) and this flow was the quietest.
    FlowTable,
    /// The flows' memory was full (`--memory-limit`) and this flow was the quietest.
    FlowMemory,
    /// Out-of-order bytes beyond `--max-buffered` were given up as lost.
    ReassemblyBuffer,
    /// A handshake message over the size cap was skipped.
    HandshakeSize,
    /// A certificate chain longer than the cap: the rest was not parsed.
    ChainLength,
    /// The handshake went on for more bytes than are inspected per direction.
    InspectedBytes,
}

impl CapHit {
    pub const ALL: [CapHit; 6] = [
        CapHit::FlowTable,
        CapHit::FlowMemory,
        CapHit::ReassemblyBuffer,
        CapHit::HandshakeSize,
        CapHit::ChainLength,
        CapHit::InspectedBytes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CapHit::FlowTable => "flow_table",
            CapHit::FlowMemory => "flow_memory",
            CapHit::ReassemblyBuffer => "reassembly_buffer",
            CapHit::HandshakeSize => "handshake_size",
            CapHit::ChainLength => "chain_length",
            CapHit::InspectedBytes => "inspected_bytes",
        }
    }
}

/// The caps a session hit (a set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapsHit(u8);

impl CapsHit {
    pub fn insert(&mut self, cap: CapHit) {
        self.0 |= 1 << cap as u8;
    }

    pub fn contains(self, cap: CapHit) -> bool {
        self.0 & (1 << cap as u8) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Names of the caps hit, in a fixed order.
    pub fn names(self) -> Vec<&'static str> {
        CapHit::ALL.iter().filter(|c| self.contains(**c)).map(|c| c.as_str()).collect()
    }
}

/// The client's and the server's address and port.
pub use crate::decode::Endpoint;

/// Everything known about one TLS connection when it is reported.
#[derive(Debug, Clone)]
pub struct SessionFacts {
    pub first_seen: i64,
    pub last_seen: i64,
    /// The side that sent the ClientHello (or, without one, did not send the ServerHello).
    pub client: Endpoint,
    pub server: Endpoint,
    pub vlan: Option<u16>,
    /// The outermost tunnel the connection came in (GRE, VXLAN, ...),
    /// oriented from the client's side to the server's.
    pub tunnel: Option<crate::decode::tunnel::Tunnel>,
    /// The protocol spoken in clear before TLS started (STARTTLS and
    /// proxies), with whether the upgrade was offered and asked for.
    pub preamble: Option<super::preamble::Upgrade>,
    /// TLS records over TCP, or QUIC.
    pub carrier: Carrier,
    /// The session never became TLS: what its clear text showed.
    pub cleartext: Option<Box<crate::cleartext::ClearTextFacts>>,
    /// The capture file its first packet came from (index among the
    /// inputs); None live.
    pub source_file: Option<u16>,
    pub client_hello: Option<ClientHelloFacts>,
    /// A second ClientHello, sent after a HelloRetryRequest. Boxed: few
    /// sessions have one, and every session's facts are moved from the flow
    /// to the output.
    pub retried_client_hello: Option<Box<ClientHelloFacts>>,
    pub hello_retry: Option<HelloRetryFacts>,
    pub server_hello: Option<ServerHelloFacts>,
    /// An SSLv2 server hello answered the client (SSL 2.0 negotiated).
    pub sslv2_server_hello: bool,
    pub server_certificates: Vec<SharedCertificate>,
    pub client_certificates: Vec<SharedCertificate>,
    /// The chain had more certificates than the cap; the rest were not parsed.
    pub certificate_chain_truncated: bool,
    pub key_exchange: Option<KeyExchangeFacts>,
    pub client_certificate_requested: bool,
    pub ocsp_stapled: bool,
    pub new_session_ticket_lifetime: Option<u32>,
    pub server_hello_done: bool,
    pub alert: Option<AlertFacts>,
    pub change_cipher_spec: [bool; 2],
    /// Encrypted records seen from the client and from the server, after the keys changed.
    pub encrypted_records: [u64; 2],
    pub established: bool,
    /// TLS ≤ 1.2: the client sent application data before the server's
    /// ChangeCipherSpec and Finished (False Start).
    pub client_false_start: bool,
    /// Bytes of the handshake were lost (capture gaps), so facts may be incomplete.
    pub incomplete: bool,
    /// Handshake messages that could not be parsed, by type (the first 32).
    pub malformed_messages: Vec<u8>,
    pub client_hello_count: u32,
    /// Caps that cut the analysis short.
    pub limits_hit: CapsHit,
    /// TCP segments that repeated bytes of the handshake with other values
    /// (the first copy was analysed; a receiver may have taken another).
    pub tcp_overlap_conflicts: u64,
}

impl SessionFacts {
    pub fn new(first_seen: i64, client: Endpoint, server: Endpoint, vlan: Option<u16>) -> Self {
        SessionFacts {
            first_seen,
            last_seen: first_seen,
            client,
            server,
            vlan,
            tunnel: None,
            preamble: None,
            cleartext: None,
            source_file: None,
            carrier: Carrier::Tcp,
            client_hello: None,
            retried_client_hello: None,
            hello_retry: None,
            server_hello: None,
            sslv2_server_hello: false,
            server_certificates: Vec::new(),
            client_certificates: Vec::new(),
            certificate_chain_truncated: false,
            key_exchange: None,
            client_certificate_requested: false,
            ocsp_stapled: false,
            new_session_ticket_lifetime: None,
            server_hello_done: false,
            alert: None,
            change_cipher_spec: [false; 2],
            encrypted_records: [0; 2],
            established: false,
            client_false_start: false,
            incomplete: false,
            malformed_messages: Vec::new(),
            client_hello_count: 0,
            limits_hit: CapsHit::default(),
            tcp_overlap_conflicts: 0,
        }
    }

    /// `network.protocol`: the protocol of a session that stayed in clear,
    /// else the clear-text protocol TLS started in (STARTTLS), else what
    /// carried it (QUIC), else "tls".
    pub fn protocol(&self) -> &'static str {
        if let Some(c) = &self.cleartext {
            return c.protocol;
        }
        self.preamble.map(|p| p.protocol).or(self.carrier.protocol()).unwrap_or("tls")
    }

    /// The negotiated version, when a ServerHello was seen.
    pub fn version(&self) -> Option<u16> {
        if self.sslv2_server_hello {
            return Some(0x0002);
        }
        self.server_hello.as_ref().map(|sh| sh.version())
    }

    pub fn is_tls13(&self) -> bool {
        self.server_hello.as_ref().is_some_and(|sh| sh.is_tls13())
    }

    /// A digest of the server's ephemeral public value, from the
    /// ServerKeyExchange (TLS <= 1.2) or the key share (TLS 1.3).
    pub fn server_public(&self) -> Option<PublicValueDigest> {
        self.key_exchange
            .as_ref()
            .and_then(|k| k.server_public)
            .or_else(|| self.server_hello.as_ref().and_then(|sh| sh.key_share_public))
    }

    /// The negotiated key-exchange group: the 1.3 key share, else the ECDHE curve, else
    /// the ffdhe group a 1.3 HelloRetryRequest asked for.
    pub fn group(&self) -> Option<u16> {
        let sh = self.server_hello.as_ref()?;
        sh.key_share_group
            .or_else(|| self.key_exchange.as_ref().and_then(|k| k.curve))
            .or_else(|| self.hello_retry.as_ref().and_then(|h| h.selected_group))
    }

    /// Whether the session resumed an earlier one instead of a full handshake.
    pub fn resumed(&self) -> bool {
        let Some(sh) = self.server_hello.as_ref() else { return false };
        if sh.is_tls13() {
            return sh.pre_shared_key;
        }
        let echoed_id = self
            .client_hello
            .as_ref()
            .is_some_and(|ch| !sh.session_id.is_empty() && ch.session_id == sh.session_id);
        // An abbreviated handshake: the server changed keys without sending a
        // certificate or finishing a full key exchange.
        let abbreviated = self.change_cipher_spec[1]
            && !self.server_hello_done
            && self.server_certificates.is_empty()
            && self.key_exchange.is_none();
        echoed_id || abbreviated
    }
}

impl HeapSize for ClientHelloFacts {
    fn heap_bytes(&self) -> usize {
        vec_bytes(&self.session_id)
            + vec_bytes(&self.ciphers)
            + vec_bytes(&self.compression_methods)
            + vec_bytes(&self.extensions)
            + self.server_name.as_ref().map_or(0, vec_bytes)
            + vec_bytes(&self.alpn)
            + self.alpn.iter().map(vec_bytes).sum::<usize>()
            + vec_bytes(&self.supported_versions)
            + vec_bytes(&self.supported_groups)
            + vec_bytes(&self.ec_point_formats)
            + vec_bytes(&self.signature_algorithms)
            + vec_bytes(&self.key_share_groups)
            + vec_bytes(&self.psk_key_exchange_modes)
            + vec_bytes(&self.server_certificate_types)
            + vec_bytes(&self.malformed_extensions)
            + vec_bytes(&self.use_srtp)
            + self.quic_transport_parameters.as_ref().map_or(0, |q| vec_bytes(&q.ids) + vec_bytes(&q.available_versions))
    }
}

impl HeapSize for ServerHelloFacts {
    fn heap_bytes(&self) -> usize {
        vec_bytes(&self.session_id)
            + vec_bytes(&self.extensions)
            + self.alpn.as_ref().map_or(0, vec_bytes)
            + vec_bytes(&self.ec_point_formats)
    }
}

impl HeapSize for KeyExchangeFacts {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl HeapSize for SessionFacts {
    fn heap_bytes(&self) -> usize {
        let certificates = |v: &Vec<SharedCertificate>| vec_bytes(v) + v.iter().map(|c| c.heap_bytes()).sum::<usize>();
        self.client_hello.as_ref().map_or(0, HeapSize::heap_bytes)
            + self.retried_client_hello.as_ref().map_or(0, HeapSize::heap_bytes)
            + self.server_hello.as_ref().map_or(0, HeapSize::heap_bytes)
            + certificates(&self.server_certificates)
            + certificates(&self.client_certificates)
            + self.key_exchange.as_ref().map_or(0, HeapSize::heap_bytes)
            + vec_bytes(&self.malformed_messages)
            + match &self.carrier {
                Carrier::Quic(q) => alloc_bytes(std::mem::size_of::<QuicFacts>()) + vec_bytes(&q.version_negotiation),
                Carrier::Dtls(_) => alloc_bytes(std::mem::size_of::<DtlsFacts>()),
                Carrier::Tcp | Carrier::Udp => 0,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_tiny_alpn_entries_are_charged_per_allocation() {
        let hello = ClientHelloFacts { alpn: (0..1000).map(|i| vec![i as u8]).collect(), ..Default::default() };
        // Each one-byte entry is a 24-byte vector plus a 32-byte chunk.
        assert!(hello.heap_bytes() >= 1000 * (24 + 32));
    }

    /// Workers digest values on their own threads and the inventory compares
    /// the digests: one value must give one digest on every thread.
    #[test]
    fn a_public_value_has_one_digest_on_every_thread() {
        let value: Vec<u8> = (0..65u8).collect();
        let here = public_value_digest(&value);
        let there = std::thread::spawn(move || public_value_digest(&value)).join().expect("no panic");
        assert_eq!(here, there);
        let mut other: Vec<u8> = (0..65u8).collect();
        other[64] ^= 1;
        assert_ne!(public_value_digest(&other), here);
        assert_ne!(public_value_digest(&other[..64]), public_value_digest(&other[..63]));
    }
}
