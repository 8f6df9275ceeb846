//! Exceptions a policy file grants: a finding set aside for a server (an
//! address or a network, optionally one port) and a rule, with a
//! justification and an optional end date.

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

/// A granted exception.
#[derive(Debug, Clone)]
pub struct Exception {
    pub network: Network,
    pub server_text: String,
    pub port: Option<u16>,
    pub rule: RuleId,
    pub justification: String,
    /// The last second (Unix time) the exception applies; None: no expiry.
    pub expires: Option<i64>,
    pub expires_text: Option<String>,
    /// The line of the policy file that grants it.
    pub line: usize,
}

impl Exception {
    pub fn covers(&self, ip: IpAddr, port: u16, rule: RuleId) -> bool {
        self.rule == rule && self.network.contains(ip) && self.port.is_none_or(|p| p == port)
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
}
