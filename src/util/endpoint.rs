//! How an endpoint is written for people: `10.0.0.1:443`,
//! `[2001:db8::1]:443`, and a UDP service with `/udp` after it.

use std::net::IpAddr;

/// `ip:port`, an IPv6 address in brackets.
pub fn address_port(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// A service's endpoint: `ip:port`, then `/udp` for a UDP service.
pub fn service(ip: IpAddr, port: u16, udp: bool) -> String {
    let at = address_port(ip, port);
    if udp {
        format!("{at}/udp")
    } else {
        at
    }
}
