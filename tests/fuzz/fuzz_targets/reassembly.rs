//! TCP reassembly, then TLS, from a sequence of segments the fuzzer writes:
//! per segment a control byte (direction, SYN, FIN, RST, a gap, which of two
//! connections), a signed sequence offset, a length, then the payload.
#![no_main]

mod common;

use common::{finish, table, Sender, ACK, FIN, RST, SYN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});
