//! The asset file (`--assets FILE`, CSV: network, name, owner,
//! criticality, services) and the home networks (`--home-net`): which
//! group an address belongs to (by the file, or by subnet: `--group-by`), and whether a service on an internal
//! address is one the file lists. A service on the home network that no
//! row lists raises `inventory.unlisted_service` (a rogue or forgotten
//! service); without a `services` cell a row approves nothing, only names
//! its network.

use std::net::IpAddr;
use std::path::Path;

use super::exception::Network;

/// One row of the asset file.
#[derive(Debug, Clone)]
pub struct Asset {
    pub network: Network,
    pub name: String,
    pub owner: String,
    pub criticality: String,
    /// Approved services: port and transport ("tcp" or "udp").
    pub services: Vec<(u16, String)>,
}

/// The asset file and the home networks.
#[derive(Debug, Clone, Default)]
pub struct Assets {
    pub list: Vec<Asset>,
    /// Internal networks; the asset file's networks when none were given.
    pub home: Vec<Network>,
}

impl Assets {
    /// Reads the asset file; an error names the file and the line.
    pub fn read(path: &Path) -> Result<Vec<Asset>, String> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .flexible(true)
            .from_path(path)
            .map_err(|e| format!("cannot read the asset file {}: {e}", path.display()))?;
        let headers = reader.headers().map_err(|e| format!("{}: {e}", path.display()))?.clone();
        let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
        let network_at = column("network").ok_or_else(|| {
            format!("{}: no 'network' column; the header is network,name,owner,criticality,services", path.display())
        })?;
        let (name_at, owner_at, criticality_at, services_at) = (column("name"), column("owner"), column("criticality"), column("services"));
        let mut list = Vec::new();
        for (i, row) in reader.records().enumerate() {
            let line = i + 2;
            let row = row.map_err(|e| format!("{}: line {line}: {e}", path.display()))?;
            let get = |at: Option<usize>| at.and_then(|a| row.get(a)).unwrap_or("").to_string();
            let text = get(Some(network_at));
            let network = Network::parse(&text)
                .ok_or_else(|| format!("{}: line {line}: {text:?} is not an address or a network (CIDR)", path.display()))?;
            let mut services = Vec::new();
            for service in get(services_at).split([';', ' ']).filter(|s| !s.is_empty()) {
                let (port, transport) = service.split_once('/').unwrap_or((service, "tcp"));
                let port = port.parse::<u16>().ok().filter(|_| matches!(transport, "tcp" | "udp")).ok_or_else(|| {
                    format!("{}: line {line}: service {service:?} is not PORT or PORT/tcp or PORT/udp", path.display())
                })?;
                services.push((port, transport.to_string()));
            }
            list.push(Asset { network, name: get(name_at), owner: get(owner_at), criticality: get(criticality_at), services });
        }
        Ok(list)
    }

    /// Assets and home networks together; the home networks default to the
    /// asset file's networks.
    pub fn new(list: Vec<Asset>, home: Vec<Network>) -> Assets {
        let home = if home.is_empty() { list.iter().map(|a| a.network.clone()).collect() } else { home };
        Assets { list, home }
    }

    /// The most specific row whose network holds `ip`.
    pub fn group_of(&self, ip: std::net::IpAddr) -> Option<&Asset> {
        self.list.iter().filter(|a| a.network.contains(ip)).max_by_key(|a| a.network.prefix())
    }

    /// Whether `ip` is on a home network.
    pub fn internal(&self, ip: std::net::IpAddr) -> bool {
        self.home.iter().any(|n| n.contains(ip))
    }

    /// Whether a row holding `ip` lists the service.
    pub fn approves(&self, ip: std::net::IpAddr, port: u16, transport: &str) -> bool {
        self.list.iter().any(|a| a.network.contains(ip) && a.services.iter().any(|(p, t)| *p == port && t == transport))
    }

    /// Whether the unlisted-service rule can be judged: an asset file was given.
    pub fn judged(&self) -> bool {
        !self.list.is_empty()
    }
}

/// How services are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// IPv4 addresses by this prefix (at most 32), IPv6 by `v6`.
    Subnet { v4: u8, v6: u8 },
    /// By the name of the asset file's most specific row.
    Asset,
}

impl GroupBy {
    /// `subnet/N` (IPv4 by /N up to 32 and IPv6 by /64; an N over 32 is
    /// IPv6's prefix, and IPv4 goes by /24) or `asset`.
    pub fn parse(s: &str) -> Result<GroupBy, String> {
        if s == "asset" {
            return Ok(GroupBy::Asset);
        }
        let bad = || format!("--group-by {s:?}: use subnet/N (N from 1 to 128) or asset");
        let n: u8 = s.strip_prefix("subnet/").and_then(|n| n.parse().ok()).filter(|n| (1..=128).contains(n)).ok_or_else(bad)?;
        Ok(if n <= 32 { GroupBy::Subnet { v4: n, v6: 64 } } else { GroupBy::Subnet { v4: 24, v6: n } })
    }

    /// The group of a service's address.
    pub fn group_of(self, ip: IpAddr, assets: &Assets) -> String {
        match self {
            GroupBy::Asset => assets.group_of(ip).map_or_else(|| "(no asset)".to_string(), |a| a.name.clone()),
            GroupBy::Subnet { v4, v6 } => match ip {
                IpAddr::V4(a) => {
                    let mask = if v4 == 0 { 0 } else { u32::MAX << (32 - u32::from(v4)) };
                    format!("{}/{v4}", std::net::Ipv4Addr::from(u32::from(a) & mask))
                }
                IpAddr::V6(a) => {
                    let mask = u128::MAX << (128 - u32::from(v6));
                    format!("{}/{v6}", std::net::Ipv6Addr::from(u128::from(a) & mask))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_groups_and_approvals() {
        let dir = std::env::temp_dir().join(format!("tlsaudit-assets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("assets.csv");
        std::fs::write(&path, "network,name,owner,criticality,services\n# radiology\n10.1.0.0/16,clinic,IT,high,\n10.1.2.0/24,pacs,radiology,critical,443;2762/tcp;161/udp\n").unwrap();
        let assets = Assets::new(Assets::read(&path).unwrap(), Vec::new());
        let ip = |s: &str| s.parse().unwrap();
        assert_eq!(assets.group_of(ip("10.1.2.9")).map(|a| a.name.as_str()), Some("pacs"));
        assert_eq!(assets.group_of(ip("10.1.7.9")).map(|a| a.name.as_str()), Some("clinic"));
        assert!(assets.group_of(ip("192.0.2.1")).is_none());
        assert!(assets.internal(ip("10.1.7.9")) && !assets.internal(ip("192.0.2.1")));
        assert!(assets.approves(ip("10.1.2.9"), 2762, "tcp") && assets.approves(ip("10.1.2.9"), 161, "udp"));
        assert!(!assets.approves(ip("10.1.2.9"), 161, "tcp") && !assets.approves(ip("10.1.7.9"), 443, "tcp"));
        std::fs::write(&path, "network,name\n10.1.0.0/33,x\n").unwrap();
        let bad = Assets::read(&path).unwrap_err();
        assert!(bad.contains("line 2") && bad.contains("10.1.0.0/33"), "{bad}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn group_keys() {
        let assets = Assets::default();
        let by = GroupBy::parse("subnet/24").unwrap();
        assert_eq!(by.group_of("10.1.2.9".parse().unwrap(), &assets), "10.1.2.0/24");
        assert_eq!(by.group_of("2001:db8:1:2::5".parse().unwrap(), &assets), "2001:db8:1:2::/64");
        let v6 = GroupBy::parse("subnet/48").unwrap();
        assert_eq!(v6.group_of("2001:db8:1:2::5".parse().unwrap(), &assets), "2001:db8:1::/48");
        assert_eq!(v6.group_of("10.1.2.9".parse().unwrap(), &assets), "10.1.2.0/24");
        assert_eq!(GroupBy::parse("asset").unwrap().group_of("10.1.2.9".parse().unwrap(), &assets), "(no asset)");
        for bad in ["subnet", "subnet/0", "subnet/129", "vlan"] {
            assert!(GroupBy::parse(bad).is_err(), "{bad}");
        }
    }
}
