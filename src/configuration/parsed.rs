//! Settings values parsed as they are read, so nothing downstream parses them again: CORS and
//! websocket origins, trusted proxies (addresses or CIDRs), ISO 4217 currencies. A value that
//! does not parse is refused at load, naming its setting.

use crate::domain::values::CurrencyCode;
use ipnet::IpNet;
use serde::{de, Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// A browser origin: `http(s)://host[:port]`, no path, no trailing slash; compared byte for
/// byte with the `Origin` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    pub fn parse(raw: &str) -> Result<Origin, String> {
        let origin = raw.trim();
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', ' ']) => {
                Ok(Origin(origin.to_string()))
            }
            _ => Err(format!(
                "`{origin}` is not an http(s) origin (scheme://host[:port], no path)"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Origin {
    type Err = String;
    fn from_str(s: &str) -> Result<Origin, String> {
        Origin::parse(s)
    }
}

impl<'de> Deserialize<'de> for Origin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Origin, D::Error> {
        Origin::parse(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// A trusted proxy: `10.0.0.7` or `10.0.0.0/8` (IPv4 or IPv6).
pub fn parse_proxy(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// `application.trusted_proxies`: each an address or a CIDR.
pub fn proxies<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|p| {
            parse_proxy(p)
                .ok_or_else(|| de::Error::custom(format!("`{p}` is not an IP address or CIDR")))
        })
        .collect()
}

fn parse_currency<E: de::Error>(raw: &str) -> Result<CurrencyCode, E> {
    CurrencyCode::parse("currency", raw)
        .map_err(|_| E::custom(format!("`{raw}` is not an ISO 4217 currency code")))
}

/// An ISO 4217 currency code.
pub fn currency<'de, D: Deserializer<'de>>(d: D) -> Result<CurrencyCode, D::Error> {
    parse_currency(&String::deserialize(d)?)
}

/// Rates keyed by ISO 4217 currency code.
pub fn currency_rates<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<CurrencyCode, f64>, D::Error> {
    BTreeMap::<String, f64>::deserialize(d)?
        .into_iter()
        .map(|(code, rate)| Ok((parse_currency(&code)?, rate)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_parse_as_addresses_or_networks() {
        assert!(parse_proxy("10.0.0.0/8").is_some());
        assert!(parse_proxy("::1").is_some());
        assert!(parse_proxy("fd00::/8").is_some());
        assert!(parse_proxy("proxy.internal").is_none());
        assert!(parse_proxy("10.0.0.0/40").is_none());
    }

    #[test]
    fn origins_are_a_scheme_and_a_host() {
        assert!(Origin::parse("https://app.castyou.test").is_ok());
        assert!(Origin::parse("http://localhost:5173").is_ok());
        assert!(Origin::parse("app.castyou.test").is_err());
        assert!(Origin::parse("https://app.castyou.test/path").is_err());
        assert!(Origin::parse("https://").is_err());
    }
}
