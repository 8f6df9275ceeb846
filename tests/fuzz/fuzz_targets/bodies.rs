//! The bodies of the fuzz targets, one function each: the fuzzer calls them
//! (`fuzz_targets/<name>.rs`), and so does the test that replays the
//! committed corpora on the stable toolchain (`tests/fuzz_corpus.rs`).

#![allow(dead_code)]

use std::io::Cursor;

use tlsaudit::capture::file::read_packets;
use tlsaudit::cert::parse_certificate;
use tlsaudit::decode::{linktype, Decoded, Decoder, Transport};
use tlsaudit::flow::Segment;

use crate::common::{endpoints, finish, table, Sender, ACK, FIN, RST, SYN};

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

/// Link, IP and TCP decoding of one frame, under every supported link type
/// (the first byte picks it); then frames, each after its length (u16, big
/// endian), so that IP fragments reassemble across the frames of one input.
pub fn decode(data: &[u8]) {
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
}

/// TCP reassembly, then TLS, from a sequence of segments the fuzzer writes:
/// per segment a control byte (direction, SYN, FIN, RST, a gap, which of two
/// connections), a signed sequence offset, a length, then the payload.
pub fn reassembly(data: &[u8]) {
    let mut t = table();
    let mut tx = Sender::new();
    let mut rest = data;
    while rest.len() >= 4 {
        let ctl = rest[0];
        let offset = i32::from(i16::from_be_bytes([rest[1], rest[2]]));
        let len = usize::from(rest[3]);
        let payload = &rest[4..(4 + len).min(rest.len())];
        rest = &rest[(4 + len).min(rest.len())..];
        let dir = usize::from(ctl & 1);
        let mut flags = ACK;
        if ctl & 0x02 != 0 {
            flags = if dir == 0 { SYN } else { SYN | ACK };
        }
        if ctl & 0x04 != 0 {
            flags |= FIN;
        }
        if ctl & 0x08 != 0 {
            flags |= RST;
        }
        let missing = if ctl & 0x10 != 0 { u32::from(rest.first().copied().unwrap_or(0)) } else { 0 };
        tx.send(&mut t, ctl >> 6, dir, flags, offset, payload, missing);
    }
    finish(t);
}

/// The TLS record and handshake layers, on both directions of one
/// connection: [chunk size][client length u16][client bytes][server bytes],
/// delivered in order, alternating, in chunks of the given size.
pub fn tls_stream(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let chunk = usize::from(data[0]) * 16 + 1;
    let client_len = usize::from(u16::from_be_bytes([data[1], data[2]])).min(data.len() - 3);
    let (client, server) = data[3..].split_at(client_len);
    let mut t = table();
    let mut tx = Sender::new();
    tx.send(&mut t, 0, 0, SYN, 0, &[], 0);
    tx.send(&mut t, 0, 1, SYN | ACK, 0, &[], 0);
    let mut streams = [client.chunks(chunk), server.chunks(chunk)];
    loop {
        let mut sent = false;
        for (dir, stream) in streams.iter_mut().enumerate() {
            if let Some(piece) = stream.next() {
                tx.send(&mut t, 0, dir, ACK, 0, piece, 0);
                sent = true;
            }
        }
        if !sent {
            break;
        }
    }
    finish(t);
}

/// QUIC and DTLS over UDP: [direction byte][length u16][datagram]..., each
/// datagram handed to the flow table as UDP between the same two endpoints
/// (direction 0: client to server). The first datagram must open a flow
/// (a QUIC Initial or a DTLS ClientHello) for the rest to be read.
pub fn datagrams(data: &[u8]) {
    let mut t = table();
    let (client, server) = endpoints(0);
    let mut rest = data;
    let mut ts = 1_700_000_000_000_000;
    while rest.len() >= 3 {
        let dir = rest[0] & 1;
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let datagram = &rest[3..3 + len];
        rest = &rest[3 + len..];
        ts += 10;
        let (src, dst) = if dir == 0 { (client, server) } else { (server, client) };
        t.process(&Segment { ts, src, dst, vlan: None, transport: Transport::Udp, seq: 0, ack: 0, flags: 0, payload: datagram, missing: 0 });
    }
    finish(t);
}

/// Certificate facts from DER bytes: parsing, and the JSON they end up in.
pub fn certificate(data: &[u8]) {
    if let Some(facts) = parse_certificate(data) {
        let json = serde_json::to_string(&format!("{facts:?}")).expect("debug text serialises");
        assert!(!json.is_empty());
    }
}

/// The capture-file reader (pcap, pcapng, gzip, zstd), and the decoding of
/// every packet it gives.
pub fn capture_file(data: &[u8]) {
    let mut decoder = Decoder::new(16, 30_000_000);
    let _ = read_packets(Box::new(Cursor::new(data.to_vec())), &mut |p| {
        assert!(p.data.len() <= 256 * 1024, "a frame over the cap was passed on");
        let _ = decoder.decode(p.linktype, p.data, p.ts);
        true
    });
}
