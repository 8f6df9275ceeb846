//! Unit tests of `reassembly.rs`: orders, overlaps, caps and the cases the
//! fuzzers found.

use super::*;

fn run(segments: &[(u32, &[u8])]) -> (Vec<u8>, Vec<u32>, ReassemblyCounters) {
    let mut r = Reassembler::default();
    let mut out = Vec::new();
    let mut gaps = Vec::new();
    r.on_syn(999);
    let mut on_event = |e: StreamEvent<'_>| match e {
        StreamEvent::Data(d) => out.extend_from_slice(d),
        StreamEvent::Gap(n) => gaps.push(n),
    };
    for (seq, data) in segments {
        r.on_segment(*seq, data, 0, 1 << 20, &mut on_event);
    }
    r.flush(&mut on_event);
    (out, gaps, r.counters)
}

#[test]
fn a_segment_the_cap_skip_went_past_is_not_delivered_out_of_place() {
    // The fuzzer's find: one byte waits far ahead; a larger segment
    // before it does not fit under the cap, so the stream skips to the
    // waiting byte, past the larger segment's start. Its bytes belong
    // before the stream's position: they must not be delivered after it.
    let mut r = Reassembler::default();
    let (mut out, mut gaps) = (Vec::new(), Vec::new());
    let mut on_event = |e: StreamEvent<'_>| match e {
        StreamEvent::Data(d) => out.push(d.to_vec()),
        StreamEvent::Gap(n) => gaps.push(n),
    };
    r.on_syn(999);
    r.on_segment(1000 + 3072, b"z", 0, 64, &mut on_event);
    r.on_segment(1000 + 255, &[7u8; 25], 0, 64, &mut on_event);
    // Reaching past the byte that waited: the part beyond it is new.
    r.on_segment(1000 + 3070, b"abcd", 0, 64, &mut on_event);
    r.flush(&mut on_event);
    assert_eq!(gaps, [3072]);
    assert_eq!(out, [b"z".to_vec(), b"d".to_vec()]);
    assert_eq!(r.counters.retransmitted_bytes, 25);
}

#[test]
fn in_order_out_of_order_and_duplicates() {
    let (out, gaps, c) = run(&[(1006, b"world"), (1000, b"hello "), (1000, b"hello "), (1003, b"lo wo")]);
    assert_eq!(out, b"hello world");
    assert!(gaps.is_empty());
    assert_eq!(c.retransmitted_bytes, 11);
}

#[test]
fn overlap_keeps_first_copy_and_counts_inconsistency() {
    let (out, _, c) = run(&[(1004, b"XXXX"), (1006, b"YYYY"), (1000, b"abcd")]);
    assert_eq!(out, b"abcdXXXXYY");
    assert_eq!(c.overlap_inconsistent, 1);
}

#[test]
fn retransmission_of_delivered_bytes_with_other_values_is_counted() {
    // Same boundaries, same bytes: a plain retransmission.
    let (out, _, c) = run(&[(1000, b"hello "), (1006, b"world"), (1000, b"hello ")]);
    assert_eq!(out, b"hello world");
    assert_eq!((c.retransmitted_bytes, c.overlap_inconsistent), (6, 0));
    // Same boundaries, other bytes: the first copy is kept and the conflict counted.
    let (out, _, c) = run(&[(1000, b"hello "), (1006, b"world"), (1000, b"HELLO ")]);
    assert_eq!(out, b"hello world");
    assert_eq!(c.overlap_inconsistent, 1);
    // A retransmission that repacks two delivered chunks and adds new bytes.
    let (out, _, c) = run(&[(1000, b"hello "), (1006, b"world"), (1000, b"hello wOrld!")]);
    assert_eq!(out, b"hello world!");
    assert_eq!(c.overlap_inconsistent, 1);
    // A segment that repeats delivered bytes with other values and adds new ones.
    let (out, _, c) = run(&[(1000, b"ab"), (1002, b"cd"), (1000, b"xbcde")]);
    assert_eq!(out, b"abcde");
    assert_eq!(c.overlap_inconsistent, 1);
    // A segment delivered at once that overlaps a buffered one with
    // other values: the buffered bytes came first and are kept.
    let (out, _, c) = run(&[(1000, b"ab"), (1004, b"EF"), (1002, b"cdef")]);
    assert_eq!(out, b"abcdEF");
    assert_eq!(c.overlap_inconsistent, 1);
    // A later segment that starts before a buffered one and overlaps it.
    let (out, _, c) = run(&[(1010, b"AAAAAAAAAA"), (1005, b"BBBBBBBBBB"), (1000, b"abcde")]);
    assert_eq!(out, b"abcdeBBBBBAAAAAAAAAA");
    assert_eq!(c.overlap_inconsistent, 1);
}

#[test]
fn hole_becomes_gap_at_flush() {
    let (out, gaps, c) = run(&[(1000, b"abc"), (1010, b"xyz")]);
    assert_eq!(out, b"abcxyz");
    assert_eq!(gaps, vec![7]);
    assert_eq!(c.gap_bytes, 7);
}

#[test]
fn acknowledged_hole_is_skipped() {
    let mut r = Reassembler::default();
    let mut out = Vec::new();
    r.on_syn(0);
    let mut on_event = |e: StreamEvent<'_>| {
        if let StreamEvent::Data(d) = e {
            out.extend_from_slice(d)
        }
    };
    r.on_segment(1, b"ab", 0, 1024, &mut on_event);
    r.on_segment(10, b"xyz", 0, 1024, &mut on_event);
    r.on_peer_ack(13, &mut on_event);
    assert_eq!(out, b"abxyz");
    assert_eq!(r.counters.gaps, 1);
}

#[test]
fn buffer_cap_forces_skip() {
    let mut r = Reassembler::default();
    let mut got = Vec::new();
    r.on_syn(0);
    // Each 10-byte segment is charged a 32-byte chunk and its list entry.
    for i in 0..10u32 {
        r.on_segment(100 + i * 10, &[i as u8; 10], 0, 256, &mut |e| {
            if let StreamEvent::Data(d) = e {
                got.extend_from_slice(d)
            }
        });
        assert!(r.buffered() <= 256);
    }
    assert!(r.counters.buffer_cap_hits > 0);
    assert!(!got.is_empty());
}

#[test]
fn sequence_wraparound() {
    let mut r = Reassembler::default();
    let mut out = Vec::new();
    r.on_syn(u32::MAX - 2);
    let mut on_event = |e: StreamEvent<'_>| {
        if let StreamEvent::Data(d) = e {
            out.extend_from_slice(d)
        }
    };
    r.on_segment(2, b"def", 0, 1024, &mut on_event);
    r.on_segment(u32::MAX - 1, b"abcd", 0, 1024, &mut on_event);
    assert_eq!(out, b"abcddef");
}

#[test]
fn overlap_search_matches_a_full_scan_and_the_first_copy_is_delivered() {
    // Random segments (a fixed xorshift seed) over a small window with
    // two byte values, so that overlaps and conflicts are frequent.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut conflicts_seen = 0;
    let mut bytes_checked = 0;
    for _ in 0..300 {
        let mut r = Reassembler::default();
        r.on_syn(u32::MAX - 100);
        // Each stream offset's first copy, in the order segments arrive.
        let mut first_copy: Vec<Option<u8>> = vec![None; 600];
        let mut delivered: Vec<(usize, u8)> = Vec::new();
        let mut position = 0;
        let mut on_event = |e: StreamEvent<'_>| match e {
            StreamEvent::Data(d) => {
                delivered.extend(d.iter().enumerate().map(|(i, b)| (position + i, *b)));
                position += d.len();
            }
            StreamEvent::Gap(n) => position += n as usize,
        };
        for _ in 0..60 {
            let offset = next(400) as usize;
            let seq = (u32::MAX - 99).wrapping_add(offset as u32);
            let len = if next(8) == 0 { next(200) } else { next(6) } as usize;
            let payload: Vec<u8> = (0..len).map(|_| b'a' + next(2) as u8).collect();
            for (i, b) in payload.iter().enumerate() {
                first_copy[offset + i].get_or_insert(*b);
            }
            let (found, _) = r.compare_with_waiting(seq, &payload);
            assert_eq!(found, r.overlap_conflicts_scanning_all(seq, &payload));
            conflicts_seen += found;
            r.on_segment(seq, &payload, 0, 1 << 20, &mut on_event);
        }
        r.flush(&mut on_event);
        // Every byte delivered is the copy that arrived first.
        for (at, b) in delivered {
            assert_eq!(Some(b), first_copy[at], "stream offset {at}");
            bytes_checked += 1;
        }
    }
    assert!(conflicts_seen > 1000, "too few conflicts to compare: {conflicts_seen}");
    assert!(bytes_checked > 50_000, "too few bytes delivered to compare: {bytes_checked}");
}

#[test]
fn a_drained_burst_gives_its_list_back() {
    let mut r = Reassembler::default();
    r.on_syn(0);
    let mut out = Vec::new();
    let mut on_event = |e: StreamEvent<'_>| {
        if let StreamEvent::Data(d) = e {
            out.extend_from_slice(d)
        }
    };
    // A segment far ahead stays waiting; 299 one-byte segments arrive last first.
    r.on_segment(1000, b"far", 0, 1 << 20, &mut on_event);
    for seq in (2..=300u32).rev() {
        r.on_segment(seq, &[seq as u8], 0, 1 << 20, &mut on_event);
    }
    let during = r.heap_bytes();
    r.on_segment(1, &[1], 0, 1 << 20, &mut on_event);
    let after = r.heap_bytes();
    assert_eq!(out, (1..=300u32).map(|b| b as u8).collect::<Vec<u8>>());
    assert!(during > 30_000, "{during} bytes while the burst waits");
    // The far segment, its list entry and the delivered-chunk digests.
    assert!(after < 400, "{after} bytes kept after the burst was delivered");
}
