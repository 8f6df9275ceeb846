//! The capture-file reader (pcap, pcapng, gzip, zstd), and the decoding of
//! every packet it gives.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use tlsaudit::capture::file::read_packets;
use tlsaudit::decode::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new(16, 30_000_000);
    let _ = read_packets(Box::new(Cursor::new(data.to_vec())), &mut |p| {
        assert!(p.data.len() <= 256 * 1024, "a frame over the cap was passed on");
        let _ = decoder.decode(p.linktype, p.data, p.ts);
        true
    });
});
