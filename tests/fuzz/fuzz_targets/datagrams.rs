//! QUIC and DTLS over UDP: [direction byte][length u16][datagram]..., each
//! datagram handed to the flow table as UDP between the same two endpoints
//! (direction 0: client to server). The first datagram must open a flow
//! (a QUIC Initial or a DTLS ClientHello) for the rest to be read.
#![no_main]

mod common;

use common::{endpoints, finish, table};
use libfuzzer_sys::fuzz_target;
use tlsaudit::decode::Transport;
use tlsaudit::flow::Segment;

fuzz_target!(|data: &[u8]| {
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
});
