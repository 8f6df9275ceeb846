//! Packets are attacker-controlled: the bundled captures with bytes of their
//! frames overwritten, truncated or shuffled (deterministically, from a
//! seed) must never crash tlsaudit; every run ends with exit code 0 and a
//! stats record.

mod common;

use common::*;

/// A small deterministic generator (64-bit LCG), enough to pick positions.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Runs each capture in 12 mutated variants; the runs made and the
/// sessions they reported.
fn mutate_and_run(captures: &[std::path::PathBuf], seed: u64, scratch: &Scratch) -> (usize, usize) {
    let mut rng = Lcg(seed);
    let mut runs = 0;
    let mut sessions_seen = 0;
    for path in captures {
        let (linktype, frames) = read_pcap_frames(path);
        for variant in 0..12 {
            let mut mutated = frames.clone();
            for (_, frame) in mutated.iter_mut() {
                // Past the Ethernet and most IP/TCP headers, so that the
                // damage reaches reassembly and TLS parsing.
                if frame.len() <= 60 {
                    continue;
                }
                match variant % 4 {
                    // A few random bytes overwritten.
                    0 | 1 => {
                        for _ in 0..1 + rng.below(4) {
                            let at = 54 + rng.below(frame.len() - 54);
                            frame[at] = rng.next() as u8;
                        }
                    }
                    // Lengths set to extremes: 0x00 or 0xff runs.
                    2 => {
                        let at = 54 + rng.below(frame.len() - 54);
                        let end = (at + 1 + rng.below(6)).min(frame.len());
                        let fill = if rng.next() % 2 == 0 { 0x00 } else { 0xff };
                        frame[at..end].iter_mut().for_each(|b| *b = fill);
                    }
                    // Cut short (IP lengths now claim more than is there).
                    _ => {
                        let keep = 14 + rng.below(frame.len() - 14);
                        frame.truncate(keep);
                    }
                }
            }
            if variant % 3 == 2 {
                // And delivered in a different order.
                let n = mutated.len();
                for i in 0..n {
                    let j = rng.below(n);
                    mutated.swap(i, j);
                }
            }
            let out = scratch.path("m.pcap");
            write_pcap_frames(&out, linktype, &mutated, 262_144);
            let run = run_jsonl(&["-r", out.to_str().unwrap()]);
            assert!(completed(run.code), "{} variant {variant}: {}", path.display(), run.stderr);
            assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
            assert!(run.stats.is_object(), "no stats record");
            sessions_seen += run.sessions.len();
            runs += 1;
        }
    }
    (runs, sessions_seen)
}

#[test]
fn mutated_frames_never_crash_the_analyzer() {
    let scratch = Scratch::new("mutated");
    let (runs, sessions_seen) = mutate_and_run(&bundled_captures(), 0x7115_a0d1, &scratch);
    assert!(runs >= 250, "only {runs} runs");
    assert!(sessions_seen > 0, "the mutations destroyed every session: they test nothing beyond decoding");
}

/// The sessions in clear (captures/cleartext): the protocol readers, the
/// walk over DICOM PDUs and SMB messages, the SMB negotiation and the TDS
/// login read damaged, cut and reordered bytes without a crash.
#[test]
fn mutated_sessions_in_clear_never_crash_the_analyzer() {
    let scratch = Scratch::new("mutated-cleartext");
    let dir = captures_dir().join("cleartext");
    let mut captures: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    captures.sort();
    let (runs, sessions_seen) = mutate_and_run(&captures, 0xc1ea_7e47, &scratch);
    assert!(runs >= 12 * 19, "only {runs} runs");
    assert!(sessions_seen > runs / 2, "the mutations destroyed most sessions ({sessions_seen} in {runs} runs)");
}
