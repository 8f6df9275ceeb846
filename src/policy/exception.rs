//! Exceptions a policy file grants: a finding of one rule set aside for the
//! sessions an exception selects (by server address or network and port,
//! client address or network, and server name), with a justification and
//! an optional last day. Whether an exception has expired is judged against
//! the clock of the run (or `--as-of`), not the capture's: an audit today of
//! last year's traffic applies today's exceptions.

use std::net::IpAddr;

use super::rules::RuleId;

/// A network: an address and a prefix length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(s: &str) -> Option<Network> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = s.parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Network { addr, prefix })
    }

    /// The prefix length: a larger one is a more specific network.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |a: IpAddr| -> (u128, u8) {
            match a {
                IpAddr::V4(v) => (u128::from(u32::from(v)) << 96, 32),
                IpAddr::V6(v) => (u128::from(v), 128),
            }
        };
        let ((net, width), (host, host_width)) = (bits(self.addr), bits(ip));
        if width != host_width {
            return false;
        }
        let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
        net & mask == host & mask
    }
}

/// A server name as the client sent it in SNI: one name, or `*.domain` for
/// every name below the domain (at any depth, not the domain itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamePattern {
    Exact(String),
    Below(String),
}

impl NamePattern {
    /// A name or `*.domain`; None for an empty name or a wildcard elsewhere.
    pub fn parse(s: &str) -> Option<NamePattern> {
        let s = s.trim_end_matches('.').to_ascii_lowercase();
        let pattern = match s.strip_prefix("*.") {
            Some(domain) => NamePattern::Below(format!(".{domain}")),
            None => NamePattern::Exact(s.clone()),
        };
        let body = match &pattern {
            NamePattern::Exact(n) => n.as_str(),
            NamePattern::Below(d) => &d[1..],
        };
        let valid = !body.is_empty() && !body.contains('*') && !body.split('.').any(str::is_empty);
        valid.then_some(pattern)
    }

    /// Whether the SNI bytes name a host the pattern selects (ASCII case
    /// ignored, a trailing dot too).
    pub fn matches(&self, sni: &[u8]) -> bool {
        let Ok(name) = std::str::from_utf8(sni) else { return false };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        match self {
            NamePattern::Exact(n) => name == *n,
            NamePattern::Below(domain) => name.len() > domain.len() && name.ends_with(domain.as_str()),
        }
    }
}

/// What a session offers an exception to select it by.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub server: IpAddr,
    pub port: u16,
    pub client: IpAddr,
    pub server_name: Option<&'a [u8]>,
}

/// A granted exception. Every selector given must hold; at least one of
/// server, client and server name is given.
#[derive(Debug, Clone)]
pub struct Exception {
    pub server: Option<Network>,
    pub port: Option<u16>,
    pub client: Option<Network>,
    pub server_name: Option<NamePattern>,
    pub rule: RuleId,
    pub justification: String,
    /// The last second (Unix time) the exception applies; None: no expiry.
    pub expires: Option<i64>,
    pub expires_text: Option<String>,
    /// The selectors as the policy file wrote them, for messages.
    pub selects: String,
    /// The line of the policy file that grants it.
    pub line: usize,
}

impl Exception {
    pub fn covers(&self, s: &Subject<'_>, rule: RuleId) -> bool {
        self.rule == rule
            && self.server.as_ref().is_none_or(|n| n.contains(s.server))
            && self.port.is_none_or(|p| p == s.port)
            && self.client.as_ref().is_none_or(|n| n.contains(s.client))
            && self.server_name.as_ref().is_none_or(|p| s.server_name.is_some_and(|sni| p.matches(sni)))
    }

    pub fn expired_at(&self, unix_seconds: i64) -> bool {
        self.expires.is_some_and(|e| unix_seconds > e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let n = Network::parse("10.20.0.0/16").unwrap();
        assert!(n.contains("10.20.3.4".parse().unwrap()));
        assert!(!n.contains("10.21.0.1".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        assert!(Network::parse("127.0.0.1").unwrap().contains("127.0.0.1".parse().unwrap()));
        assert!(Network::parse("2001:db8::/32").unwrap().contains("2001:db8:1::5".parse().unwrap()));
        assert!(Network::parse("10.0.0.0/33").is_none());
        assert!(Network::parse("host.example").is_none());
    }

    #[test]
    fn names_and_wildcards() {
        let exact = NamePattern::parse("PACS.Example.org.").unwrap();
        assert!(exact.matches(b"pacs.example.org"));
        assert!(!exact.matches(b"x.pacs.example.org"));
        let below = NamePattern::parse("*.example.org").unwrap();
        assert!(below.matches(b"pacs.example.org") && below.matches(b"a.b.EXAMPLE.org"));
        assert!(!below.matches(b"example.org") && !below.matches(b"badexample.org"));
        for bad in ["", "*.", "a.*.org", "*example.org", "a..org"] {
            assert!(NamePattern::parse(bad).is_none(), "{bad:?}");
        }
    }
}
