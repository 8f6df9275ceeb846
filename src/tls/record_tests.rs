//! Tests of the TLS record layer (`record.rs`).

use super::*;

fn handshake_record(msgs: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (t, m) in msgs {
        body.push(*t);
        body.extend_from_slice(&(m.len() as u32).to_be_bytes()[1..]);
        body.extend_from_slice(m);
    }
    let mut rec = vec![22, 3, 3];
    rec.extend_from_slice(&(body.len() as u16).to_be_bytes());
    rec.extend_from_slice(&body);
    rec
}

fn collect(stream: &mut RecordStream, chunks: &[&[u8]]) -> Vec<(u8, usize)> {
    let mut seen = Vec::new();
    for c in chunks {
        stream.feed(c, &mut |e| {
            if let RecordEvent::Handshake { msg_type, body } = e {
                seen.push((msg_type, body.len()));
            }
            Control::Continue
        });
    }
    seen
}

#[test]
fn two_messages_in_one_record_fed_byte_by_byte() {
    let rec = handshake_record(&[(1, vec![0; 40]), (2, vec![1; 10])]);
    let chunks: Vec<&[u8]> = rec.chunks(1).collect();
    let mut s = RecordStream::new(1 << 16);
    assert_eq!(collect(&mut s, &chunks), vec![(1, 40), (2, 10)]);
}

#[test]
fn message_split_across_records() {
    let full = handshake_record(&[(1, vec![7; 100])]);
    let body = &full[5..];
    let mut first = vec![22, 3, 1, 0, 30];
    first.extend_from_slice(&body[..30]);
    let mut second = vec![22, 3, 1];
    second.extend_from_slice(&((body.len() - 30) as u16).to_be_bytes());
    second.extend_from_slice(&body[30..]);
    let mut s = RecordStream::new(1 << 16);
    assert_eq!(collect(&mut s, &[&first, &second]), vec![(1, 100)]);
}

#[test]
fn oversized_message_is_skipped_and_parsing_goes_on() {
    let hello = handshake_record(&[(2, vec![0; 10])]);
    let big = handshake_record(&[(11, vec![0; 3000])]);
    let next = handshake_record(&[(14, vec![])]);
    let mut s = RecordStream::new(1000);
    let seen = collect(&mut s, &[&hello, &big, &next]);
    assert_eq!(seen, vec![(2, 10), (14, 0)]);
    assert_eq!(s.counters.handshake_cap_hits, 1);
}

#[test]
fn starttls_preamble_then_tls() {
    let rec = handshake_record(&[(1, vec![0; 50])]);
    let mut s = RecordStream::new(1 << 16);
    let seen = collect(&mut s, &[b"EHLO client\r\n", b"STARTTLS\r\n", &rec]);
    assert_eq!(seen, vec![(1, 50)]);
    assert!(s.had_preamble());
    assert_eq!(&s.preamble[..4], b"EHLO");
}

#[test]
fn non_tls_stream_gives_up() {
    let mut s = RecordStream::new(1 << 16);
    for _ in 0..40 {
        s.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &mut |_| Control::Continue);
    }
    assert_eq!(s.mode(), ParseState::NotTls);
}

#[test]
fn resync_after_gap() {
    let a = handshake_record(&[(1, vec![0; 100])]);
    let b = handshake_record(&[(2, vec![0; 20])]);
    let mut s = RecordStream::new(1 << 16);
    let mut seen = collect(&mut s, &[&a[..50]]);
    s.gap();
    seen.extend(collect(&mut s, &[&a[60..], &b]));
    assert_eq!(seen, vec![(2, 20)]);
    assert_eq!(s.counters.resyncs, 1);
}

#[test]
fn lost_start_of_a_non_tls_stream_is_not_tls() {
    // The first segments of a bulk transfer were lost: what follows is
    // the middle of something, and only a record header makes it TLS.
    let mut s = RecordStream::new(1 << 16);
    s.gap();
    let noise: Vec<u8> = (0..1460u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for _ in 0..DETECT_MAX_CHUNKS - 1 {
        s.feed(&noise, &mut |_| Control::Continue);
        assert!(!s.found_tls(), "noise after a gap taken for TLS");
    }
    s.feed(&noise, &mut |_| Control::Continue);
    assert_eq!(s.mode(), ParseState::NotTls);
    assert!(!s.had_preamble(), "bytes after a lost start are no clear-text preamble");
}

#[test]
fn lost_start_of_a_tls_stream_finds_the_next_record() {
    let mut s = RecordStream::new(1 << 16);
    s.gap();
    let mut app = vec![23, 3, 3, 0, 32];
    app.extend_from_slice(&[0xab; 32]);
    app.extend_from_slice(&[23, 3, 3, 0, 200]);
    s.feed(&app, &mut |_| Control::Continue);
    assert!(s.found_tls());
    assert_eq!(s.mode(), ParseState::Records);
}

/// A message spread over records gets the room of the whole message once
/// its first record came (one allocation, no copy as the rest arrives),
/// and a lone header never claims the room its length field names.
#[test]
fn message_over_records_gets_its_room_once() {
    let full = handshake_record(&[(1, vec![5; 20_000])]);
    let body = &full[5..];
    let record = |part: &[u8]| {
        let mut r = vec![22, 3, 3];
        r.extend_from_slice(&(part.len() as u16).to_be_bytes());
        r.extend_from_slice(part);
        r
    };
    let (first, second) = (record(&body[..16_000]), record(&body[16_000..]));
    let mut s = RecordStream::new(1 << 16);
    assert!(collect(&mut s, &[&first]).is_empty());
    assert_eq!(s.handshake.capacity(), body.len(), "room for the whole message after its first record");
    assert_eq!(collect(&mut s, &[&second]), vec![(1, 20_000)]);

    let mut lone = RecordStream::new(1 << 16);
    assert!(collect(&mut lone, &[&record(&body[..4])]).is_empty());
    assert_eq!(lone.handshake.len(), 4, "the header is held for the next record");
    assert!(lone.handshake.capacity() < 1024, "a header alone took {} bytes", lone.handshake.capacity());
}
