//! QUIC Initial packet protection (RFC 9001 §5, RFC 9369 §3.3.1): the keys
//! every observer can derive from the client's Destination Connection ID,
//! removal of header protection, and decryption of the payload. The
//! primitives are RustCrypto's HKDF-SHA256, AES-128-GCM and AES-128; only
//! the key schedule's labels and the packet layout are written here.

use aes::cipher::{generic_array::GenericArray, BlockEncrypt};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, KeyInit};
use hkdf::Hkdf;
use sha2::Sha256;

/// Initial salt of QUIC version 1 (RFC 9001 §5.2).
const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f,
    0x0a,
];
/// Initial salt of QUIC version 2 (RFC 9369 §3.3.1).
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e,
    0xd9,
];
/// Initial salt of drafts 29 to 32 (draft-ietf-quic-tls-29 §5.2).
const SALT_DRAFT_29: [u8; 20] = [
    0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8,
    0x99,
];
/// Initial salt of drafts 23 to 28 (draft-ietf-quic-tls-23 §5.2).
const SALT_DRAFT_23: [u8; 20] = [
    0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65, 0xbe, 0xf9, 0xf5,
    0x02,
];

/// QUIC version 2 (RFC 9369).
pub const VERSION_2: u32 = 0x6b33_43cf;

/// The salt and the label prefix of a version's Initial keys.
fn schedule(version: u32) -> Option<(&'static [u8; 20], &'static str)> {
    Some(match version {
        1 => (&SALT_V1, "quic"),
        VERSION_2 => (&SALT_V2, "quicv2"),
        0xff00_001d..=0xff00_0022 => (&SALT_DRAFT_29, "quic"),
        0xff00_0017..=0xff00_001c => (&SALT_DRAFT_23, "quic"),
        _ => return None,
    })
}

/// HKDF-Expand-Label of TLS 1.3 (RFC 8446 §7.1) with an empty context.
fn expand_label(prk: &Hkdf<Sha256>, label: &str, out: &mut [u8]) {
    let length = (out.len() as u16).to_be_bytes();
    let label_len = [(6 + label.len()) as u8];
    let info: [&[u8]; 5] = [&length, &label_len, b"tls13 ", label.as_bytes(), &[0]];
    // Lengths here are at most 32 bytes, far below HKDF's limit.
    prk.expand_multi_info(&info, out).expect("HKDF output of at most 32 bytes");
}

/// The keys that protect one side's Initial packets.
pub struct InitialKeys {
    aead: Aes128Gcm,
    iv: [u8; 12],
    header: aes::Aes128,
}

impl InitialKeys {
    fn from_secret(secret: &[u8; 32], prefix: &str) -> InitialKeys {
        let prk = Hkdf::<Sha256>::from_prk(secret).expect("a 32-byte pseudorandom key");
        let (mut key, mut iv, mut hp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
        expand_label(&prk, &format!("{prefix} key"), &mut key);
        expand_label(&prk, &format!("{prefix} iv"), &mut iv);
        expand_label(&prk, &format!("{prefix} hp"), &mut hp);
        InitialKeys {
            aead: Aes128Gcm::new(GenericArray::from_slice(&key)),
            iv,
            header: aes::Aes128::new(GenericArray::from_slice(&hp)),
        }
    }

    /// The header protection mask for a 16-byte sample of the ciphertext.
    fn mask(&self, sample: &[u8]) -> [u8; 16] {
        let mut block = GenericArray::clone_from_slice(sample);
        self.header.encrypt_block(&mut block);
        block.into()
    }
}

/// The client's and the server's Initial keys of one connection.
pub struct InitialSecrets {
    pub client: InitialKeys,
    pub server: InitialKeys,
}

impl InitialSecrets {
    /// The keys of `version` for the Destination Connection ID of the
    /// client's first Initial packet; None for a version whose Initial
    /// keys are not known.
    pub fn derive(version: u32, client_dcid: &[u8]) -> Option<InitialSecrets> {
        let (salt, prefix) = schedule(version)?;
        let (_, initial) = Hkdf::<Sha256>::extract(Some(salt), client_dcid);
        let (mut client, mut server) = ([0u8; 32], [0u8; 32]);
        expand_label(&initial, "client in", &mut client);
        expand_label(&initial, "server in", &mut server);
        Some(InitialSecrets {
            client: InitialKeys::from_secret(&client, prefix),
            server: InitialKeys::from_secret(&server, prefix),
        })
    }
}

/// The full packet number nearest to the one expected next (RFC 9000
/// Appendix A.3), from its `bits` low bits.
fn decode_packet_number(largest: Option<u64>, truncated: u64, bits: u32) -> u64 {
    let expected = largest.map_or(0, |l| l + 1);
    let window = 1u64 << bits;
    let half = window / 2;
    let candidate = (expected & !(window - 1)) | truncated;
    if candidate + half <= expected && candidate < (1u64 << 62) - window {
        candidate + window
    } else if candidate > expected + half && candidate >= window {
        candidate - window
    } else {
        candidate
    }
}

/// An Initial packet opened: its packet number and where its frames are in
/// the scratch buffer it was decrypted into.
pub struct Opened {
    pub packet_number: u64,
    pub payload: std::ops::Range<usize>,
}

/// Removes header protection from `packet` (one long-header packet whose
/// packet number starts at `pn_offset`) and decrypts it into `scratch`.
/// None when the packet is too short or does not authenticate (other keys,
/// or damaged bytes).
pub fn open(keys: &InitialKeys, packet: &[u8], pn_offset: usize, largest: Option<u64>, scratch: &mut Vec<u8>) -> Option<Opened> {
    let sample = packet.get(pn_offset + 4..pn_offset + 20)?;
    let mask = keys.mask(sample);
    scratch.clear();
    scratch.extend_from_slice(packet);
    scratch[0] ^= mask[0] & 0x0f;
    let pn_len = usize::from(scratch[0] & 0x03) + 1;
    let mut truncated = 0u64;
    for i in 0..pn_len {
        scratch[pn_offset + i] ^= mask[1 + i];
        truncated = (truncated << 8) | u64::from(scratch[pn_offset + i]);
    }
    let packet_number = decode_packet_number(largest, truncated, 8 * pn_len as u32);
    let mut nonce = keys.iv;
    for (n, p) in nonce[4..].iter_mut().zip(packet_number.to_be_bytes()) {
        *n ^= p;
    }
    let header_len = pn_offset + pn_len;
    let tag_at = scratch.len().checked_sub(16).filter(|t| *t >= header_len)?;
    let (header, rest) = scratch.split_at_mut(header_len);
    let (ciphertext, tag) = rest.split_at_mut(tag_at - header_len);
    keys.aead
        .decrypt_in_place_detached(GenericArray::from_slice(&nonce), header, ciphertext, GenericArray::from_slice(tag))
        .ok()?;
    Some(Opened { packet_number, payload: header_len..tag_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reader lets through exactly the versions whose Initials can be opened.
    #[test]
    fn the_reader_passes_the_versions_with_a_key_schedule() {
        let edges = [0, 1, 2, VERSION_2, 0xff00_0016, 0xff00_0017, 0xff00_001c, 0xff00_001d, 0xff00_0022, 0xff00_0023, 0xff00_00ff];
        for version in edges.into_iter().chain(0xff00_0000..=0xff00_0030) {
            assert_eq!(crate::decode::quic_version_with_initial_keys(version), schedule(version).is_some(), "{version:#x}");
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
    }

    /// RFC 9001 Appendix A.2: the client's header protection key masks
    /// the sample of the client Initial to 437b9aec36. Version 2's keys are
    /// checked on real packets (tests/quic.rs).
    #[test]
    fn derived_keys_match_the_rfc_9001_vector() {
        let dcid = hex("8394c8f03e515708");
        let secrets = InitialSecrets::derive(1, &dcid).expect("known version");
        let mask = secrets.client.mask(&hex("d1b1c98dd7689fb8ec11d242b123dc9b"));
        assert_eq!(mask[..5], hex("437b9aec36")[..]);
        let v2 = InitialSecrets::derive(VERSION_2, &dcid).expect("known version");
        assert_ne!(v2.client.mask(&hex("d1b1c98dd7689fb8ec11d242b123dc9b"))[..5], mask[..5]);
        assert!(InitialSecrets::derive(0x1a2a_3a4a, &dcid).is_none());
    }

    /// RFC 9001 Appendix A.3: the server's Initial packet opens to its
    /// ACK and CRYPTO frames (a ServerHello).
    #[test]
    fn opens_the_rfc_9001_server_initial() {
        let packet = hex(concat!(
            "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a",
            "5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3",
            "dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84",
            "022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4",
            "2158407dd074ee"
        ));
        let secrets = InitialSecrets::derive(1, &hex("8394c8f03e515708")).expect("v1");
        let mut scratch = Vec::new();
        // First byte, version, DCID length 0, SCID length 8 and SCID, token length 0, length (2 bytes).
        let pn_offset = 1 + 4 + 1 + 1 + 8 + 1 + 2;
        let opened = open(&secrets.server, &packet, pn_offset, None, &mut scratch).expect("authenticates");
        assert_eq!(opened.packet_number, 1);
        let frames = &scratch[opened.payload];
        assert_eq!(frames[..8], hex("02000000000600405a")[..8]);
        assert!(frames.ends_with(&hex("002b00020304")), "ServerHello with supported_versions 1.3");
        // With the client's keys it does not authenticate.
        assert!(open(&secrets.client, &packet, pn_offset, None, &mut scratch).is_none());
        assert!(open(&secrets.server, &packet[..30], pn_offset, None, &mut scratch).is_none());
    }

    #[test]
    fn packet_numbers_are_recovered_near_the_largest_seen() {
        // RFC 9000 A.3's example: largest 0xa82f30ea, 16 bits 0x9b32.
        assert_eq!(decode_packet_number(Some(0xa82f_30ea), 0x9b32, 16), 0xa82f_9b32);
        assert_eq!(decode_packet_number(None, 0, 8), 0);
        assert_eq!(decode_packet_number(Some(255), 0, 8), 256);
        assert_eq!(decode_packet_number(Some(3), 2, 8), 2);
    }
}
