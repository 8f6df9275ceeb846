//! The TLS record and handshake layers, on both directions of one
//! connection: [chunk size][client length u16][client bytes][server bytes],
//! delivered in order, alternating, in chunks of the given size.
#![no_main]

mod common;

use common::{finish, table, Sender, ACK, SYN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});
