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

/// One direction of TCP reassembly alone, checked against a model: the
/// input is a buffer cap and a first sequence number (near the wrap when
/// the fuzzer likes), then operations: a segment ([ctl][offset i16, over
/// 8][len]
/// [missing, with ctl bit 0x10][payload]), a peer's acknowledgement (ctl
/// bit 0x01, at an offset) or a flush (ctl bit 0x02). Offsets are from the
/// start of the stream. Whatever the order: the events are contiguous from
/// the start; every byte delivered is the first copy of that position that
/// arrived with data (never a later one, never a byte that did not arrive);
/// the waiting segments never exceed the cap; and once flushed, the stream
/// reaches the end of the furthest segment and nothing waits.
pub fn reassembler(data: &[u8]) {
    use tlsaudit::flow::reassembly::{Reassembler, StreamEvent};
    /// Offsets run from -4,096 to 4,095 (beyond any buffer cap here) plus
    /// two lengths of 255: a small model per input.
    const SPAN: usize = 8_192 + 512;
    const BEFORE: i64 = 4_096;
    let Some((&[cap, base_pick], mut rest)) = data.split_first_chunk::<2>() else { return };
    let max_buffered = 64 + usize::from(cap) * 32;
    let base: u32 = if base_pick & 1 == 0 { 1_000 } else { u32::MAX - u32::from(base_pick) * 64 };
    let mut first_copy: Vec<Option<u8>> = vec![None; SPAN];
    let mut r = Reassembler::default();
    r.on_syn(base.wrapping_sub(1));
    // Where the stream stands after the events so far; the furthest end seen.
    let mut delivered_to: i64 = 0;
    let mut furthest: i64 = 0;
    let mut on_event = |ev: StreamEvent<'_>, first_copy: &[Option<u8>]| match ev {
        StreamEvent::Data(bytes) => {
            for (i, &b) in bytes.iter().enumerate() {
                let at = delivered_to + i as i64;
                let first = usize::try_from(at + BEFORE).ok().and_then(|i| first_copy.get(i).copied().flatten());
                assert_eq!(first, Some(b), "byte {at} delivered is not the first copy that arrived");
            }
            delivered_to += bytes.len() as i64;
        }
        StreamEvent::Gap(n) => delivered_to += i64::from(n),
    };
    while let Some((&ctl, tail)) = rest.split_first() {
        let Some((&[hi, lo], tail)) = tail.split_first_chunk::<2>() else { break };
        let offset = i64::from(i16::from_be_bytes([hi, lo]) >> 3);
        let seq = base.wrapping_add(offset as i32 as u32);
        rest = tail;
        if ctl & 0x02 != 0 {
            r.flush(&mut |ev| on_event(ev, &first_copy));
            continue;
        }
        if ctl & 0x01 != 0 {
            r.on_peer_ack(seq, &mut |ev| on_event(ev, &first_copy));
            continue;
        }
        let Some((&len, tail)) = rest.split_first() else { break };
        rest = tail;
        let mut missing = 0;
        if ctl & 0x10 != 0 {
            let Some((&m, tail)) = rest.split_first() else { break };
            missing = u32::from(m);
            rest = tail;
        }
        let payload = &rest[..usize::from(len).min(rest.len())];
        rest = &rest[payload.len()..];
        for (i, &b) in payload.iter().enumerate() {
            let slot = &mut first_copy[(offset + BEFORE) as usize + i];
            slot.get_or_insert(b);
        }
        if !payload.is_empty() || missing > 0 {
            furthest = furthest.max(offset + payload.len() as i64 + i64::from(missing));
        }
        r.on_segment(seq, payload, missing, max_buffered, &mut |ev| on_event(ev, &first_copy));
        assert!(r.buffered() <= max_buffered, "{} bytes wait, over the cap of {max_buffered}", r.buffered());
    }
    r.flush(&mut |ev| on_event(ev, &first_copy));
    assert_eq!(r.buffered(), 0, "bytes still wait after the flush");
    assert_eq!(delivered_to, furthest, "the stream does not end where the furthest segment does");
}

/// IP fragment reassembly alone, checked against a model: the input is a
/// datagram ([length u16][bytes], up to 1 KiB) and up to 64 fragments of it
/// ([start u16][length u16][ctl]), in any order, repeated or overlapping;
/// ctl bit 0x01 sends the
/// fragment's bytes altered (a conflicting copy). Whatever the order, the
/// datagram completes exactly when its fragments cover it and its last one
/// came, and then holds, at each byte, the first copy that arrived.
pub fn fragments(data: &[u8]) {
    use std::net::{IpAddr, Ipv4Addr};
    use tlsaudit::decode::defrag::{Defragmenter, FragmentKey, FragmentOutcome};
    let Some((&[hi, lo], rest)) = data.split_first_chunk::<2>() else { return };
    // Up to 1 KiB: the paths do not depend on the size, and the time does.
    let len = usize::from(u16::from_be_bytes([hi, lo])) % 1025;
    let (datagram, mut ops) = rest.split_at(len.min(rest.len()));
    let len = datagram.len();
    let key = FragmentKey::v4(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 6, 7, None);
    let mut d = Defragmenter::new(4, 30_000_000);
    // The model: the ranges covered so far, each with whether its first
    // copy was the altered one (sorted, not overlapping), and whether the
    // last fragment came. Ranges, not bytes: a byte loop here would cost
    // more than the code under test.
    let mut first: Vec<(usize, usize, bool)> = Vec::new();
    let mut filled = 0;
    let mut last_came = false;
    let mut ts = 0;
    let mut bytes = Vec::with_capacity(len);
    // At most 64 fragments: every path is reached with fewer, and the time
    // per input grows with their number.
    for _ in 0..64 {
        let Some((&[s_hi, s_lo, l_hi, l_lo, ctl], tail)) = ops.split_first_chunk::<5>() else { break };
        ops = tail;
        ts += 1;
        let start = usize::from(u16::from_be_bytes([s_hi, s_lo])) % (len + 1);
        let end = (start + usize::from(u16::from_be_bytes([l_hi, l_lo]))).min(len);
        let altered = ctl & 1 != 0;
        bytes.clear();
        bytes.extend_from_slice(&datagram[start..end]);
        if altered {
            bytes.iter_mut().for_each(|b| *b ^= 0x55);
        }
        let more = end < len;
        // The parts of [start, end) no earlier fragment covered.
        let mut cursor = start;
        let mut fresh = Vec::new();
        for &(s, e, _) in &first {
            if e > cursor && s < end {
                if s > cursor {
                    fresh.push((cursor, s, altered));
                }
                cursor = cursor.max(e);
            }
        }
        if cursor < end {
            fresh.push((cursor, end, altered));
        }
        filled += fresh.iter().map(|(s, e, _)| e - s).sum::<usize>();
        first.extend(fresh);
        first.sort_unstable();
        last_came |= !more;
        // Empty fragments cover nothing; a datagram of none is not one.
        let complete = last_came && len > 0 && filled == len;
        match d.add(key, start, more, &bytes, ts) {
            FragmentOutcome::Complete(whole) => {
                assert!(complete, "completed with bytes missing or before the last fragment");
                assert_eq!(whole.len(), len, "the completed datagram has another length");
                for &(s, e, was_altered) in &first {
                    let mask = if was_altered { 0x55 } else { 0 };
                    let matches = whole[s..e].iter().zip(&datagram[s..e]).all(|(w, o)| *w == o ^ mask);
                    assert!(matches, "bytes {s}..{e} of the completed datagram are not their first copy");
                }
                first.clear();
                filled = 0;
                last_came = false;
            }
            FragmentOutcome::Held => assert!(!complete, "every byte and the last fragment came, but the datagram is held"),
            FragmentOutcome::Dropped(kind) => panic!("a fragment within 1 KiB was dropped: {kind:?}"),
        }
    }
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
