//! The client's address, where one counts (the failed-key throttle, WebSockets waiting for
//! their `connection_init`, the request's log span): the TCP peer, unless the peer is a proxy
//! trusted with `--trusted-proxy`; then the right-most `X-Forwarded-For` address that is not
//! itself a trusted proxy. From any other peer the header is ignored, so a client cannot pick
//! the address it is throttled under.
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed (`--trusted-proxy`).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(Arc::new(networks))
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client behind `peer`: `peer` itself unless it is trusted; else, walking
    /// `X-Forwarded-For` from the right (the hop nearest to this server), the first address
    /// that is not trusted. When every listed address is trusted, the left-most; when the
    /// header is missing, or an entry is not an address, the last trusted hop before it.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if self.0.is_empty() || !self.trusts(client) {
            return client;
        }
        // Several headers are one list, in order.
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for entry in entries.into_iter().rev() {
            let Some(address) = parse(entry) else {
                break;
            };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: an address, perhaps with a port (`203.0.113.7:5120`,
/// `[2001:db8::1]:5120`) as some proxies write it.
fn parse(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|a| a.to_canonical())
}

/// `--trusted-proxy`: a network in CIDR notation (`10.0.0.0/8`, `fd00::/8`) or one address.
pub fn parse_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| {
            format!("`{text}` is not an address or a network in CIDR notation (10.0.0.0/8)")
        })
}

/// The client's address, as [`TrustedProxies::client`] finds it; recorded on every request by
/// the front door (`http::middleware`). Absent only when the server was not started through
/// the accept loop that records the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// The client of a request from `peer` with `headers`.
    pub fn of(
        peer: Option<&ConnectInfo<SocketAddr>>,
        headers: &HeaderMap,
        trusted: &TrustedProxies,
    ) -> Option<Self> {
        peer.map(|peer| Self(trusted.client(peer.0.ip(), headers)))
    }

    /// The client's address the front door recorded on a request.
    pub fn recorded(extensions: &Extensions) -> Option<IpAddr> {
        extensions.get::<ClientAddress>().map(|c| c.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(networks: &[&str]) -> TrustedProxies {
        TrustedProxies::new(networks.iter().map(|n| parse_network(n).unwrap()).collect())
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_peer() {
        let proxies = trusted(&["10.0.0.0/8", "192.0.2.1"]);
        let headers = forwarded(&["198.51.100.7"]);
        assert_eq!(proxies.client(ip("10.1.2.3"), &headers), ip("198.51.100.7"));
        assert_eq!(
            proxies.client(ip("192.0.2.1"), &headers),
            ip("198.51.100.7")
        );
        assert_eq!(proxies.client(ip("192.0.2.2"), &headers), ip("192.0.2.2"));
        assert_eq!(
            TrustedProxies::default().client(ip("10.1.2.3"), &headers),
            ip("10.1.2.3"),
            "no trusted proxy: the socket address"
        );
        // A trusted peer that sends no header is the client itself.
        assert_eq!(
            proxies.client(ip("10.1.2.3"), &HeaderMap::new()),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let proxies = trusted(&["10.0.0.0/8"]);
        // The client made up the first entry; the second is what the first proxy saw.
        let headers = forwarded(&["1.2.3.4, 198.51.100.7, 10.0.0.5", "10.0.0.6"]);
        assert_eq!(proxies.client(ip("10.0.0.7"), &headers), ip("198.51.100.7"));
        // Every hop trusted: the left-most.
        let headers = forwarded(&["10.9.9.9, 10.0.0.5"]);
        assert_eq!(proxies.client(ip("10.0.0.7"), &headers), ip("10.9.9.9"));
        // Ports, brackets, IPv4 in IPv6.
        let headers = forwarded(&["[2001:db8::1]:5120"]);
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.7"), &headers),
            ip("2001:db8::1")
        );
        let headers = forwarded(&["198.51.100.7:80"]);
        assert_eq!(proxies.client(ip("10.0.0.7"), &headers), ip("198.51.100.7"));
        // Garbage right of the client: the last trusted hop before it.
        let headers = forwarded(&["198.51.100.7, unknown, 10.0.0.5"]);
        assert_eq!(proxies.client(ip("10.0.0.7"), &headers), ip("10.0.0.5"));
    }

    #[test]
    fn networks_are_cidrs_or_addresses() {
        assert_eq!(
            parse_network("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network(" 10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network("192.0.2.1").unwrap().to_string(),
            "192.0.2.1/32"
        );
        assert_eq!(parse_network("fd00::/8").unwrap().to_string(), "fd00::/8");
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("proxy.local").is_err());
    }
}
