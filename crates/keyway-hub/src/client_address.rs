//! The address a request comes from, for sign-in throttling. Behind a reverse proxy every
//! request arrives from the proxy; `X-Forwarded-For` names the client, but only a configured
//! proxy may say so (anyone else could name any address and dodge or aim the throttle).

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// Proxies whose `X-Forwarded-For` is believed: addresses or CIDR blocks (`10.0.0.0/8`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses `ADDR` or `ADDR/PREFIX` entries; the error names the entry.
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, String> {
        entries
            .iter()
            .map(|entry| {
                let (addr, prefix) = match entry.split_once('/') {
                    Some((addr, prefix)) => (addr, Some(prefix)),
                    None => (entry.as_str(), None),
                };
                let addr: IpAddr = addr.trim().parse().map_err(|_| {
                    format!("trusted proxy {entry:?} is not an IP address or CIDR block")
                })?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let prefix = match prefix {
                    None => max,
                    Some(text) => text
                        .trim()
                        .parse::<u8>()
                        .ok()
                        .filter(|p| *p <= max)
                        .ok_or_else(|| {
                            format!("trusted proxy {entry:?}: the prefix must be 0–{max}")
                        })?,
                };
                Ok((addr, prefix))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        self.0
            .iter()
            .any(|(net, prefix)| in_block(ip, *net, *prefix))
    }

    /// The client's address: the peer, or — when the peer is a trusted proxy — the last
    /// `X-Forwarded-For` hop that is not itself a trusted proxy.
    pub fn client_address(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.ip();
        if !self.contains(peer) {
            return peer;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|hop| hop.trim().parse::<IpAddr>())
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            match hop {
                Ok(ip) if self.contains(ip) => continue,
                Ok(ip) => return ip,
                // A hop that is not an address is the client's own text: stop believing.
                Err(_) => return peer,
            }
        }
        peer
    }
}

fn in_block(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", xff.parse().unwrap());
        headers
    }

    #[test]
    fn only_trusted_proxies_may_name_the_client() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into()]).unwrap();
        let proxy: SocketAddr = "10.1.2.3:4000".parse().unwrap();
        let stranger: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        let h = headers("198.51.100.1, 10.9.9.9");
        assert_eq!(
            trusted.client_address(proxy, &h).to_string(),
            "198.51.100.1"
        );
        assert_eq!(
            trusted.client_address(stranger, &h).to_string(),
            "192.0.2.7"
        );
        let h = headers("not-an-ip");
        assert_eq!(trusted.client_address(proxy, &h).to_string(), "10.1.2.3");
        assert_eq!(
            TrustedProxies::default()
                .client_address(proxy, &headers("1.1.1.1"))
                .to_string(),
            "10.1.2.3"
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let err = TrustedProxies::parse(&["10.0.0.0/33".into()]).unwrap_err();
        assert!(err.contains("10.0.0.0/33"), "{err}");
        assert!(TrustedProxies::parse(&["proxy.example".into()]).is_err());
        assert!(TrustedProxies::parse(&["0.0.0.0/0".into()]).is_ok());
    }
}
