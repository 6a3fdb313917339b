//! The client IP of a request (`context.ip`): the peer address, or with
//! `--trust-proxy` the address a fronting proxy or load balancer reports in
//! `X-Forwarded-For`.
//!
//! The rule with `--trust-proxy`:
//!
//! 1. A *trusted* address is a loopback, private (`10/8`, `172.16/12`,
//!    `192.168/16`), shared (`100.64/10`), link-local (`169.254/16`, `fe80::/10`) or
//!    unique-local (`fc00::/7`) address: where one's own proxies live.
//! 2. When the peer is not trusted, `X-Forwarded-For` is ignored (anyone on the
//!    internet can send one): the client is the peer.
//! 3. Otherwise the entries of every `X-Forwarded-For` header, in order, are read
//!    from the right (the hop nearest to us) to the left, skipping trusted
//!    addresses; the first untrusted one is the client. That is the left-most
//!    address of the chain that our own proxies vouch for: entries to its left
//!    were written by the client or by proxies we do not know, and are not
//!    believed.
//! 4. When every entry is trusted (an internal client), the left-most entry is the
//!    client. An entry that is not an IP address (`unknown`, garbage) stops the
//!    walk: the last trusted hop before it is the client.
//!
//! Entries may carry a port (`203.0.113.7:5555`, `[2001:db8::1]:443`); with
//! `--trust-proxy`, IPv4-mapped IPv6 addresses are reported as IPv4.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;

/// The client address of a request from `peer` with `headers`.
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trust_proxy: bool) -> IpAddr {
    if !trust_proxy {
        return peer;
    }
    let peer = canonical(peer);
    if !is_trusted(peer) {
        return peer;
    }
    let mut entries = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            // Not visible ASCII: nothing in this header can be trusted.
            return peer;
        };
        entries.extend(text.split(',').map(str::trim).filter(|e| !e.is_empty()));
    }
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = parse_entry(entry) else {
            return client;
        };
        if !is_trusted(ip) {
            return ip;
        }
        client = ip;
    }
    client
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: `ip`, `ipv4:port`, `[ipv6]` or `[ipv6]:port`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .parse::<Ipv6Addr>()
        .ok()
        .map(|v6| canonical(IpAddr::V6(v6)))
}

fn is_trusted(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => trusted_v4(v4),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

fn trusted_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || (a == 100 && (64..128).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn with_xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    #[test]
    fn off_by_default_the_peer_is_the_client() {
        let h = with_xff(&["203.0.113.7"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, false), ip("10.0.0.2"));
    }

    #[test]
    fn an_untrusted_peer_cannot_claim_an_address() {
        let h = with_xff(&["198.51.100.1"]);
        assert_eq!(client_ip(ip("203.0.113.9"), &h, true), ip("203.0.113.9"));
    }

    #[test]
    fn the_right_most_untrusted_entry_wins() {
        // The client forged 198.51.100.1; our balancer (10.0.0.5) saw 203.0.113.7.
        let h = with_xff(&["198.51.100.1, 203.0.113.7, 10.0.0.5"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, true), ip("203.0.113.7"));
        // Same across several headers, in order.
        let h = with_xff(&["198.51.100.1", "203.0.113.7:5555", "10.0.0.5"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, true), ip("203.0.113.7"));
        let h = with_xff(&["[2001:db8::1]:443"]);
        assert_eq!(client_ip(ip("::1"), &h, true), ip("2001:db8::1"));
        let h = with_xff(&["2001:db8::2"]);
        assert_eq!(client_ip(ip("fd00::1"), &h, true), ip("2001:db8::2"));
    }

    #[test]
    fn all_trusted_or_garbage() {
        let h = with_xff(&["192.168.1.20, 10.0.0.5"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, true), ip("192.168.1.20"));
        let h = with_xff(&["203.0.113.7, unknown, 10.0.0.5"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, true), ip("10.0.0.5"));
        let h = with_xff(&["unknown"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, true), ip("127.0.0.1"));
        assert_eq!(
            client_ip(ip("127.0.0.1"), &HeaderMap::new(), true),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), &HeaderMap::new(), true),
            ip("127.0.0.1")
        );
        let h = with_xff(&["::ffff:203.0.113.7"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, true), ip("203.0.113.7"));
    }
}
