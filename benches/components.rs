//! Micro-benchmarks of each stage on the bundled captures of real TLS
//! stacks: link/IP/TCP decoding, TCP reassembly, the flow table (reassembly
//! and TLS parsing together), ClientHello parsing, certificate parsing,
//! policy evaluation and JSON rendering. `cargo bench --bench components`.

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tlsaudit::decode::Decoder;
use tlsaudit::flow::reassembly::{Reassembler, StreamEvent};
use tlsaudit::output::json;
use tlsaudit::policy::profile::Profile;
use tlsaudit::policy::{self};
use tlsaudit::tls::facts::Endpoint;

use support::{Frame, OwnedSegment};

struct Corpus {
    frames: Vec<Frame>,
    /// Per capture, its TCP segments.
    captures: Vec<Vec<OwnedSegment>>,
    hellos: Vec<Vec<u8>>,
    certificates: Vec<Vec<u8>>,
}

fn corpus() -> Corpus {
    let (frames, captures) = support::load_bundled();
    let hellos = captures.iter().flat_map(|c| support::client_hello_bodies(c)).collect::<Vec<_>>();
    let certificates = captures.iter().flat_map(|c| support::server_certificates(c)).collect::<Vec<_>>();
    assert!(hellos.len() > 20 && certificates.len() > 20, "too few handshakes in the corpus");
    Corpus { frames, captures, hellos, certificates }
}

/// One direction's data segments: (seq, payload), and the ISN when a SYN was seen.
type Direction = (Option<u32>, Vec<(u32, Vec<u8>)>);

/// Each connection direction's data segments, split where a SYN starts a
/// new connection on the same addresses.
fn directions(corpus: &Corpus) -> Vec<Direction> {
    let mut out: Vec<Direction> = Vec::new();
    for capture in &corpus.captures {
        let mut current: HashMap<(Endpoint, Endpoint), usize> = HashMap::new();
        for s in capture {
            let key = (s.src, s.dst);
            let syn = s.flags & tlsaudit::decode::tcp_flags::SYN != 0;
            let index = match current.get(&key) {
                Some(&i) if !syn => i,
                _ => {
                    out.push((None, Vec::new()));
                    current.insert(key, out.len() - 1);
                    out.len() - 1
                }
            };
            if syn {
                out[index].0 = Some(s.seq);
            } else if !s.payload.is_empty() {
                out[index].1.push((s.seq, s.payload.clone()));
            }
        }
    }
    out
}

fn reassemble(dirs: &[Direction], swap_pairs: bool) -> u64 {
    let mut delivered = 0u64;
    for (isn, segs) in dirs {
        let mut r = Reassembler::default();
        if let Some(isn) = isn {
            r.on_syn(*isn);
        }
        let mut sink = |e: StreamEvent<'_>| {
            if let StreamEvent::Data(d) = e {
                delivered += d.len() as u64;
            }
        };
        let mut i = 0;
        while i < segs.len() {
            if swap_pairs && i + 1 < segs.len() {
                let (a, b) = (&segs[i + 1], &segs[i]);
                r.on_segment(a.0, &a.1, 0, 1 << 20, &mut sink);
                r.on_segment(b.0, &b.1, 0, 1 << 20, &mut sink);
                i += 2;
            } else {
                r.on_segment(segs[i].0, &segs[i].1, 0, 1 << 20, &mut sink);
                i += 1;
            }
        }
        r.flush(&mut sink);
    }
    delivered
}

/// The first `limit` bytes of each direction cut into one-byte segments,
/// in order or each direction's in reverse (every segment arriving before
/// all those already buffered: the worst order for a sorted buffer).
fn one_byte_segments(dirs: &[Direction], limit: usize, reversed: bool) -> Vec<Direction> {
    dirs.iter()
        .map(|(isn, segs)| {
            let mut bytes: Vec<(u32, Vec<u8>)> = segs
                .iter()
                .flat_map(|(seq, data)| data.iter().enumerate().map(move |(i, b)| (seq.wrapping_add(i as u32), vec![*b])))
                .take(limit)
                .collect();
            if reversed {
                bytes.reverse();
            }
            (*isn, bytes)
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let corpus = corpus();
    let profile = Profile::builtin("hipaa").expect("hipaa profile");
    let sessions: Vec<_> = corpus.captures.iter().flat_map(|c| support::sessions(c)).collect();
    let verdicts: Vec<_> = sessions.iter().map(|s| policy::evaluate(s, &profile)).collect();
    let frame_bytes: u64 = corpus.frames.iter().map(|f| f.data.len() as u64).sum();

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(frame_bytes));
    g.bench_function(format!("{} frames", corpus.frames.len()), |b| {
        let mut decoder = Decoder::new(1024, 30_000_000);
        b.iter(|| {
            for f in &corpus.frames {
                black_box(decoder.decode(f.linktype, &f.data, f.ts));
            }
        })
    });
    g.finish();

    let dirs = directions(&corpus);
    let stream_bytes = reassemble(&dirs, false);
    assert!(stream_bytes > 100_000, "too little stream data in the corpus");
    assert_eq!(reassemble(&dirs, true), stream_bytes, "reordering changed the delivered bytes");
    let mut g = c.benchmark_group("reassembly");
    g.throughput(Throughput::Bytes(stream_bytes));
    g.bench_function("in order", |b| b.iter(|| black_box(reassemble(&dirs, false))));
    g.bench_function("pairs swapped", |b| b.iter(|| black_box(reassemble(&dirs, true))));
    g.finish();

    // Hostile orders: one-byte segments, the first 2,048 bytes of each
    // direction (all of them fit the buffer at the default cap).
    let forward = one_byte_segments(&dirs, 2048, false);
    let backward = one_byte_segments(&dirs, 2048, true);
    let tiny_bytes = reassemble(&forward, false);
    assert_eq!(reassemble(&backward, false), tiny_bytes, "reverse order changed the delivered bytes");
    let mut g = c.benchmark_group("reassembly_one_byte_segments");
    g.throughput(Throughput::Bytes(tiny_bytes));
    g.bench_function("in order", |b| b.iter(|| black_box(reassemble(&forward, false))));
    g.bench_function("reversed", |b| b.iter(|| black_box(reassemble(&backward, false))));
    g.finish();

    let mut g = c.benchmark_group("flow_table");
    g.throughput(Throughput::Elements(sessions.len() as u64));
    g.bench_function(format!("{} sessions (reassembly + TLS)", sessions.len()), |b| {
        b.iter(|| {
            for capture in &corpus.captures {
                black_box(support::sessions(capture));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("client_hello");
    g.throughput(Throughput::Elements(corpus.hellos.len() as u64));
    g.bench_function(format!("parse {} hellos", corpus.hellos.len()), |b| {
        b.iter(|| {
            for h in &corpus.hellos {
                black_box(tlsaudit::tls::hello::parse_client_hello(h));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("certificate");
    g.throughput(Throughput::Elements(corpus.certificates.len() as u64));
    g.bench_function(format!("parse {} certificates", corpus.certificates.len()), |b| {
        b.iter(|| {
            for der in &corpus.certificates {
                black_box(tlsaudit::cert::parse_certificate(der));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("policy");
    g.throughput(Throughput::Elements(sessions.len() as u64));
    g.bench_function(format!("evaluate {} sessions (hipaa)", sessions.len()), |b| {
        b.iter(|| {
            for s in &sessions {
                black_box(policy::evaluate(s, &profile));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("json");
    g.throughput(Throughput::Elements(sessions.len() as u64));
    g.bench_function(format!("render {} sessions", sessions.len()), |b| {
        let mut line = Vec::new();
        b.iter(|| {
            for (s, v) in sessions.iter().zip(&verdicts) {
                line.clear();
                json::session(s, v, "hipaa", &mut line);
                black_box(&line);
            }
        })
    });
    g.finish();
}

criterion_group!(components, benches);
criterion_main!(components);
