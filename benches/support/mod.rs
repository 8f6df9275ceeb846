//! Shared by the component benchmarks: the bundled captures of real TLS
//! handshakes (captures/ and captures/matrix/), read into memory and taken
//! apart once, so that each benchmark times one stage on real bytes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tlsaudit::capture::file;
use tlsaudit::decode::{Decoded, Decoder, TransportSegment};
use tlsaudit::flow::{FlowLimits, FlowTable, Segment};
use tlsaudit::tls::facts::{Endpoint, SessionFacts};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One captured frame, owned.
pub struct Frame {
    pub ts: i64,
    pub linktype: u32,
    pub data: Vec<u8>,
}

/// One decoded TCP segment, owning its payload.
pub type OwnedSegment = TransportSegment<Vec<u8>>;

/// The segment with its payload borrowed, as the flow table takes it.
pub fn as_segment(s: &OwnedSegment) -> Segment<'_> {
    s.with_payload(s.payload.as_slice())
}

/// The bundled captures, sorted by name.
pub fn bundled_captures() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [repo().join("captures"), repo().join("captures/matrix")] {
        for entry in std::fs::read_dir(&dir).expect("captures directory") {
            let path = entry.expect("directory entry").path();
            if path.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() > 20, "expected the bundled captures under captures/");
    files
}

/// Every frame of every bundled capture, and each capture's TCP segments.
pub fn load_bundled() -> (Vec<Frame>, Vec<Vec<OwnedSegment>>) {
    let mut frames = Vec::new();
    let mut captures = Vec::new();
    for path in bundled_captures() {
        let f = self::frames(&path);
        captures.push(segments(&f));
        frames.extend(f);
    }
    (frames, captures)
}

/// Every frame of one capture.
pub fn frames(path: &Path) -> Vec<Frame> {
    let input = file::open(path, Arc::new(AtomicU64::new(0))).expect("open capture");
    let mut out = Vec::new();
    file::read_packets(input, &mut |p| {
        out.push(Frame { ts: p.ts, linktype: p.linktype, data: p.data.to_vec() });
        true
    })
    .expect("read capture");
    out
}

/// The TCP segments of one capture's frames, in capture order.
pub fn segments(frames: &[Frame]) -> Vec<OwnedSegment> {
    let mut decoder = Decoder::new(1024, 30_000_000);
    let mut out = Vec::new();
    for f in frames {
        if let Decoded::Tcp(s) = decoder.decode(f.linktype, &f.data, f.ts) {
            out.push(s.with_payload(s.payload.to_vec()));
        }
    }
    out
}

/// Runs one capture's segments through a fresh flow table and returns the
/// sessions it reported.
pub fn sessions(segments: &[OwnedSegment]) -> Vec<SessionFacts> {
    let mut table = FlowTable::new(FlowLimits::default());
    for s in segments {
        table.process(&as_segment(s));
    }
    table.finish_all();
    table.take_sessions()
}

/// ClientHello bodies (after the 4-byte handshake header) that arrived whole
/// in the first data segment of a connection.
pub fn client_hello_bodies(segments: &[OwnedSegment]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for s in segments {
        let p = &s.payload;
        if p.len() < 9 || p[0] != 0x16 || p[1] != 0x03 || p[5] != 0x01 {
            continue;
        }
        let len = (usize::from(p[6]) << 16) | (usize::from(p[7]) << 8) | usize::from(p[8]);
        if let Some(body) = p.get(9..9 + len) {
            out.push(body.to_vec());
        }
    }
    out
}

/// DER certificates from the clear-text Certificate messages (TLS 1.2 and
/// older) of the captures' server flights. The loopback captures carry each
/// direction in order, so concatenating payloads rebuilds the stream.
pub fn server_certificates(segments: &[OwnedSegment]) -> Vec<Vec<u8>> {
    use std::collections::HashMap;
    let mut streams: HashMap<(Endpoint, Endpoint), Vec<u8>> = HashMap::new();
    for s in segments {
        streams.entry((s.src, s.dst)).or_default().extend_from_slice(&s.payload);
    }
    let mut keys: Vec<_> = streams.keys().copied().collect();
    keys.sort_by_key(|(a, b)| (a.ip, a.port, b.ip, b.port));
    let mut out = Vec::new();
    for key in keys {
        let stream = &streams[&key];
        // Handshake bytes of the records before the first ChangeCipherSpec.
        let mut handshake = Vec::new();
        let mut rest = &stream[..];
        while rest.len() >= 5 && rest[0] != 20 {
            let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
            let Some(fragment) = rest.get(5..5 + len) else { break };
            if rest[0] == 22 {
                handshake.extend_from_slice(fragment);
            }
            rest = &rest[5 + len..];
        }
        let mut msgs = &handshake[..];
        while msgs.len() >= 4 {
            let len = (usize::from(msgs[1]) << 16) | (usize::from(msgs[2]) << 8) | usize::from(msgs[3]);
            let Some(body) = msgs.get(4..4 + len) else { break };
            if msgs[0] == 11 && body.len() >= 3 {
                let mut list = &body[3..];
                while list.len() >= 3 {
                    let n = (usize::from(list[0]) << 16) | (usize::from(list[1]) << 8) | usize::from(list[2]);
                    let Some(der) = list.get(3..3 + n) else { break };
                    out.push(der.to_vec());
                    list = &list[3 + n..];
                }
            }
            msgs = &msgs[4 + len..];
        }
    }
    out
}
