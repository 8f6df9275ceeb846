//! What the run saw over time, for the HTML report's charts: sessions per
//! protocol version and per kind of cipher suite in a fixed number of time
//! buckets, and the versions clients offered against those negotiated.
//! Bounded whatever the capture's length: when sessions fall outside the
//! buckets, each bucket doubles its width and neighbours merge.

use crate::policy::suite::{self, Cipher, KeyExchange};
use crate::tls::facts::SessionFacts;
use crate::tls::names;

/// Time buckets a run is divided into.
pub const BUCKETS: usize = 48;

/// What a session negotiated, by protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Era {
    Ssl2,
    Ssl3,
    Tls10,
    Tls11,
    Tls12,
    Tls13,
    Dtls,
    /// No TLS at all, heard in clear.
    Cleartext,
    /// Neither a ServerHello nor clear text: not assessed.
    Unseen,
}

impl Era {
    pub const ALL: [Era; 9] =
        [Era::Ssl2, Era::Ssl3, Era::Tls10, Era::Tls11, Era::Tls12, Era::Tls13, Era::Dtls, Era::Cleartext, Era::Unseen];

    pub fn label(self) -> &'static str {
        match self {
            Era::Ssl2 => "SSL 2.0",
            Era::Ssl3 => "SSL 3.0",
            Era::Tls10 => "TLS 1.0",
            Era::Tls11 => "TLS 1.1",
            Era::Tls12 => "TLS 1.2",
            Era::Tls13 => "TLS 1.3",
            Era::Dtls => "DTLS",
            Era::Cleartext => "in clear",
            Era::Unseen => "no answer seen",
        }
    }

    /// The era of a version number as it appears on the wire (drafts of
    /// TLS 1.3 count as 1.3).
    pub fn of_version(v: u16) -> Era {
        match v {
            0x0002 | 0x0200 => Era::Ssl2,
            0x0300 => Era::Ssl3,
            0x0301 => Era::Tls10,
            0x0302 => Era::Tls11,
            0x0303 => Era::Tls12,
            v if names::is_dtls(v) => Era::Dtls,
            _ => Era::Tls13,
        }
    }

    fn of_session(f: &SessionFacts) -> Era {
        match f.version() {
            Some(v) => Era::of_version(v),
            None if f.cleartext.as_ref().is_some_and(|c| c.in_clear()) => Era::Cleartext,
            None => Era::Unseen,
        }
    }
}

/// A negotiated cipher suite, by what it protects against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuiteKind {
    /// A TLS 1.3 suite: forward secret and AEAD by construction.
    Tls13,
    /// Ephemeral (EC)DH with an AEAD cipher: what NIST SP 800-52 asks for.
    ForwardSecretAead,
    /// Ephemeral (EC)DH with CBC and a MAC.
    ForwardSecretCbc,
    /// RSA key transport, static DH or PSK: no forward secrecy.
    NotForwardSecret,
    /// No encryption, export keys, RC4, DES or 3DES, or no authentication.
    Broken,
    /// A code the registry does not assign.
    Unknown,
}

impl SuiteKind {
    pub const ALL: [SuiteKind; 6] = [
        SuiteKind::Tls13,
        SuiteKind::ForwardSecretAead,
        SuiteKind::ForwardSecretCbc,
        SuiteKind::NotForwardSecret,
        SuiteKind::Broken,
        SuiteKind::Unknown,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SuiteKind::Tls13 => "TLS 1.3 suite",
            SuiteKind::ForwardSecretAead => "forward-secret AEAD",
            SuiteKind::ForwardSecretCbc => "forward-secret CBC",
            SuiteKind::NotForwardSecret => "no forward secrecy",
            SuiteKind::Broken => "broken: NULL, export, RC4, DES, 3DES, anon",
            SuiteKind::Unknown => "unassigned code",
        }
    }

    pub fn of_suite(id: u16) -> SuiteKind {
        let Some(t) = suite::traits(id) else { return SuiteKind::Unknown };
        if t.no_encryption() || t.export() || t.anonymous() || matches!(t.cipher, Cipher::Rc4 | Cipher::Des | Cipher::TripleDes | Cipher::Rc2)
        {
            SuiteKind::Broken
        } else if t.kx == KeyExchange::Tls13 {
            SuiteKind::Tls13
        } else if !t.forward_secret() {
            SuiteKind::NotForwardSecret
        } else if t.aead() {
            SuiteKind::ForwardSecretAead
        } else {
            SuiteKind::ForwardSecretCbc
        }
    }
}

/// Sessions counted in one slice of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    pub by_era: [u64; Era::ALL.len()],
    pub by_suite: [u64; SuiteKind::ALL.len()],
}

impl Bucket {
    fn merge(&mut self, other: &Bucket) {
        self.by_era.iter_mut().zip(other.by_era).for_each(|(a, b)| *a += b);
        self.by_suite.iter_mut().zip(other.by_suite).for_each(|(a, b)| *a += b);
    }

    pub fn sessions(&self) -> u64 {
        self.by_era.iter().sum()
    }
}

/// The run's sessions over time and offered against negotiated versions.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// Start of the first bucket, in microseconds since the epoch (a
    /// multiple of `width`); None before the first session.
    origin: Option<i64>,
    /// Width of a bucket in microseconds: one second at first, doubling.
    width: i64,
    buckets: [Bucket; BUCKETS],
    /// Earliest start and latest end of a session.
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    /// Sessions by the highest version the client offered (rows) and the
    /// version negotiated (columns), for sessions with a ClientHello.
    pub offered_negotiated: [[u64; Era::ALL.len()]; Era::ALL.len()],
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            origin: None,
            width: 1_000_000,
            buckets: [Bucket::default(); BUCKETS],
            first_seen: None,
            last_seen: None,
            offered_negotiated: [[0; Era::ALL.len()]; Era::ALL.len()],
        }
    }
}

impl Timeline {
    pub fn add(&mut self, f: &SessionFacts) {
        let era = Era::of_session(f);
        let at = f.first_seen;
        self.first_seen = Some(self.first_seen.map_or(at, |t| t.min(at)));
        self.last_seen = Some(self.last_seen.map_or(f.last_seen, |t| t.max(f.last_seen)));
        let slot = self.slot(at);
        let bucket = &mut self.buckets[slot];
        bucket.by_era[era as usize] += 1;
        if let Some(sh) = &f.server_hello {
            bucket.by_suite[SuiteKind::of_suite(sh.cipher) as usize] += 1;
        }
        if let Some(ch) = &f.client_hello {
            // DTLS numbers run downwards; all DTLS is one era here.
            if let Some(offered) = ch.offered_versions().into_iter().map(Era::of_version).max() {
                self.offered_negotiated[offered as usize][era as usize] += 1;
            }
        }
    }

    /// The bucket `at` falls in, widening or moving the buckets first when
    /// it falls outside them.
    fn slot(&mut self, at: i64) -> usize {
        let origin = *self.origin.get_or_insert(at.div_euclid(self.width) * self.width);
        if at < origin {
            // Earlier than the first bucket: move the buckets right, widening
            // them until the sessions already counted still fit.
            let shift = loop {
                let origin = self.origin.unwrap_or(at);
                let shift = (origin - at.div_euclid(self.width) * self.width) / self.width;
                if shift + self.used() as i64 <= BUCKETS as i64 {
                    break shift as usize;
                }
                self.widen();
            };
            self.buckets.copy_within(0..BUCKETS - shift, shift);
            self.buckets[..shift].fill(Bucket::default());
            self.origin = Some(at.div_euclid(self.width) * self.width);
        }
        loop {
            let origin = self.origin.unwrap_or(at);
            let index = (at - origin) / self.width;
            if index < BUCKETS as i64 {
                return index as usize;
            }
            self.widen();
        }
    }

    /// Buckets up to the last one with sessions.
    fn used(&self) -> usize {
        self.buckets.iter().rposition(|b| b.sessions() > 0).map_or(0, |i| i + 1)
    }

    /// Doubles the bucket width: pairs of buckets merge, the origin moves
    /// down to a multiple of the new width.
    fn widen(&mut self) {
        let origin = self.origin.unwrap_or(0);
        let width = self.width * 2;
        let new_origin = origin.div_euclid(width) * width;
        let mut merged = [Bucket::default(); BUCKETS];
        for (i, b) in self.buckets.iter().enumerate() {
            let start = origin + i as i64 * self.width;
            let j = ((start - new_origin) / width) as usize;
            if let Some(target) = merged.get_mut(j) {
                target.merge(b);
            }
        }
        self.buckets = merged;
        self.width = width;
        self.origin = Some(new_origin);
    }

    /// Each bucket with its start (microseconds since the epoch), from the
    /// first to the last with sessions.
    pub fn buckets(&self) -> Vec<(i64, Bucket)> {
        let Some(origin) = self.origin else { return Vec::new() };
        let first = self.buckets.iter().position(|b| b.sessions() > 0).unwrap_or(0);
        (first..self.used()).map(|i| (origin + i as i64 * self.width, self.buckets[i])).collect()
    }

    /// The width of a bucket, in microseconds.
    pub fn bucket_width(&self) -> i64 {
        self.width
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Endpoint;
    use crate::tls::facts::SessionFacts;

    fn session_at(secs: i64) -> SessionFacts {
        let ep = |port| Endpoint { ip: std::net::Ipv4Addr::LOCALHOST.into(), port };
        SessionFacts::new(secs * 1_000_000, ep(40000), ep(443), None)
    }

    #[test]
    fn widening_keeps_every_session_in_order() {
        let mut t = Timeline::default();
        // Out of order and spread over ten hours: every session still counted.
        let times = [5_000i64, 5_001, 4_000, 41_000, 20_000, 3_999, 40_999, 12_345];
        for s in times {
            t.add(&session_at(s));
        }
        let buckets = t.buckets();
        assert_eq!(buckets.iter().map(|(_, b)| b.sessions()).sum::<u64>(), times.len() as u64);
        assert!(buckets.len() <= BUCKETS);
        // Each session lies in the bucket that claims its time.
        for s in times {
            let at = s * 1_000_000;
            let holder = buckets.iter().filter(|(start, _)| *start <= at && at < start + t.bucket_width()).count();
            assert_eq!(holder, 1, "session at {s}s has no bucket");
        }
        assert_eq!(t.first_seen, Some(3_999_000_000));
        assert!(t.bucket_width() >= (41_000 - 3_999) * 1_000_000 / BUCKETS as i64);
    }

    #[test]
    fn a_session_without_an_answer_counts_as_unseen() {
        let mut t = Timeline::default();
        t.add(&session_at(100));
        assert_eq!(t.buckets()[0].1.by_era[Era::Unseen as usize], 1);
        assert_eq!(t.buckets()[0].1.by_suite.iter().sum::<u64>(), 0);
    }

    #[test]
    fn suite_kinds_follow_the_registry() {
        assert_eq!(SuiteKind::of_suite(0x1301), SuiteKind::Tls13);
        assert_eq!(SuiteKind::of_suite(0xC02F), SuiteKind::ForwardSecretAead);
        assert_eq!(SuiteKind::of_suite(0xC013), SuiteKind::ForwardSecretCbc);
        assert_eq!(SuiteKind::of_suite(0x009C), SuiteKind::NotForwardSecret);
        assert_eq!(SuiteKind::of_suite(0x000A), SuiteKind::Broken);
        assert_eq!(SuiteKind::of_suite(0x0005), SuiteKind::Broken);
        assert_eq!(SuiteKind::of_suite(0x0A0A), SuiteKind::Unknown);
    }
}
