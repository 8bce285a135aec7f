//! The client's address behind proxies. Only hops we trust may speak for the hop before them:
//! starting from the TCP peer, the forwarding chain (`Forwarded`, else `X-Forwarded-For`) is
//! read right to left, skipping trusted proxies, and the first address that is not one is the
//! client. Whatever a client writes into those headers itself sits left of that point and is
//! never believed. With no trusted proxies configured the peer is the client.

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// From the settings' list (parsed as it was read).
    pub fn new(list: &[IpNet]) -> TrustedProxies {
        TrustedProxies(list.to_vec())
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that arrived from `peer` with `headers`.
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = canonical(peer?);
        if !self.trusts(peer) {
            return Some(peer);
        }
        let chain = forwarded_chain(headers);
        let mut client = peer;
        for hop in chain.iter().rev() {
            // An entry we cannot read (`unknown`, an obfuscated name, garbage) ends what can be
            // vouched for: the last trusted hop is the nearest known address.
            let Some(ip) = hop.map(canonical) else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        Some(client)
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) compare as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The forwarding chain, leftmost (claimed origin) first: the `for=` of every `Forwarded`
/// element when that header is present (RFC 7239), else `X-Forwarded-For`. Several header
/// lines are one list in order.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|line| line.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| parse_node(value))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(','))
        .map(parse_node)
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:443`, `"[2001:db8::1]:443"`, `2001:db8::1`.
fn parse_node(value: &str) -> Option<IpAddr> {
    let value = value.trim().trim_matches('"');
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (host, port) = value.rsplit_once(':')?;
    port.chars()
        .all(|c| c.is_ascii_digit())
        .then(|| host.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|p| crate::configuration::parse_proxy(p).expect("a proxy"))
            .collect()
    }
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap_or(HeaderName::from_static("x")),
                HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
            );
        }
        map
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let none = TrustedProxies::new(&[]);
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(none.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn the_chain_is_read_right_to_left_skipping_only_trusted_proxies() {
        let trusted = TrustedProxies::new(&nets(&["10.0.0.0/8", "192.168.1.5"]));
        let cases: &[(&[(&str, &str)], &str)] = &[
            // A client-written first value is never taken.
            (
                &[("x-forwarded-for", "6.6.6.6, 203.0.113.9")],
                "203.0.113.9",
            ),
            (
                &[
                    ("x-forwarded-for", "6.6.6.6"),
                    ("x-forwarded-for", "203.0.113.9, 10.1.1.1"),
                ],
                "203.0.113.9",
            ),
            (
                &[(
                    "forwarded",
                    "for=6.6.6.6, for=\"[2001:db8::7]:443\";proto=https",
                )],
                "2001:db8::7",
            ),
            (
                &[
                    ("forwarded", "for=192.0.2.60;by=10.0.0.1, for=10.2.2.2"),
                    ("x-forwarded-for", "7.7.7.7"),
                ],
                "192.0.2.60",
            ),
            // Everything trusted: the leftmost known hop.
            (&[("x-forwarded-for", "10.9.9.9")], "10.9.9.9"),
            // Unreadable entries stop the walk at the nearest known address.
            (&[("x-forwarded-for", "6.6.6.6, garbage")], "10.0.0.1"),
            (&[("forwarded", "for=unknown")], "10.0.0.1"),
            (&[], "10.0.0.1"),
            (&[("x-forwarded-for", "203.0.113.9:5555")], "203.0.113.9"),
        ];
        for (h, expected) in cases {
            assert_eq!(
                trusted.client(ip("10.0.0.1"), &headers(h)),
                ip(expected),
                "{h:?}"
            );
        }
    }

    #[test]
    fn an_untrusted_peer_cannot_forward() {
        let trusted = TrustedProxies::new(&nets(&["10.0.0.0/8"]));
        let h = headers(&[("x-forwarded-for", "10.0.0.3")]);
        assert_eq!(trusted.client(ip("198.51.100.1"), &h), ip("198.51.100.1"));
    }

    #[test]
    fn mapped_ipv4_peers_match_ipv4_proxies() {
        let trusted = TrustedProxies::new(&nets(&["127.0.0.1"]));
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            trusted.client(ip("::ffff:127.0.0.1"), &h),
            ip("203.0.113.9")
        );
    }
}
