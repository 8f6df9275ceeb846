//! Link, IP and TCP decoding of one frame, under every supported link type
//! (the first byte picks it); then frames, each after its length (u16, big
//! endian), so that IP fragments reassemble across the frames of one input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsaudit::decode::{linktype, Decoded, Decoder};

const LINKTYPES: [u32; 10] = [
    linktype::ETHERNET,
    linktype::RAW,
    linktype::NULL,
    linktype::LOOP,
    linktype::LINUX_SLL,
    linktype::LINUX_SLL2,
    linktype::IPV4,
    linktype::IPV6,
    linktype::RAW_OLD_12,
    9999, // unsupported: must be refused, not misread
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, mut rest)) = data.split_first() else { return };
    let lt = LINKTYPES[usize::from(pick) % LINKTYPES.len()];
    let mut decoder = Decoder::new(4, 30_000_000);
    let mut ts = 0;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let frame = &rest[2..(2 + len).min(rest.len())];
        rest = &rest[(2 + len).min(rest.len())..];
        ts += 1_000;
        if let Decoded::Tcp(seg) | Decoded::Udp(seg) | Decoded::Tunnelled(seg, _) = decoder.decode(lt, frame, ts) {
            assert!(seg.payload.len() <= frame.len().max(65_535));
        }
        decoder.expire(ts);
    }
});
