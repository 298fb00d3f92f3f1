//! Who is on the other end of a request: the client's address, taken from the TCP peer,
//! or from `Forwarded` / `X-Forwarded-For` when (and only when) the peer is a proxy the
//! configuration trusts (`http.trusted_proxies`). Rate limits of anonymous routes and the
//! networks recorded in share link views are keyed on it.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header;
use ipnet::IpNet;

/// The networks of the reverse proxies in front of this server.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Trust these networks (an empty list trusts nobody: the TCP peer is the client).
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client's address. The chain of hops is the forwarding header's addresses,
    /// then the TCP peer; walking it from the peer back, the first address that is not a
    /// trusted proxy is the client. An address a trusted proxy reports cannot be forged
    /// by the client (it can only prepend to the list), and headers from an untrusted
    /// peer are never read. A hop that is not an address (`unknown`, an obfuscated
    /// name) ends the walk at the proxy that reported it.
    pub fn client(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip().to_canonical();
        if !self.trusts(peer) {
            return Some(peer);
        }
        let hops = forwarded_hops(req);
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(addr) = hop.map(|a| a.to_canonical()) else { break };
            client = addr;
            if !self.trusts(addr) {
                break;
            }
        }
        Some(client)
    }
}

/// The `for` addresses of `Forwarded` (RFC 7239) if the request has it, else those of
/// `X-Forwarded-For`, in order (client first); `None` for a hop that is not an address.
fn forwarded_hops(req: &HttpRequest) -> Vec<Option<IpAddr>> {
    let joined = |name: header::HeaderName| -> Option<String> {
        let values: Vec<&str> = req.headers().get_all(name).filter_map(|v| v.to_str().ok()).collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    if let Some(forwarded) = joined(header::FORWARDED) {
        return forwarded
            .split(',')
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    key.trim().eq_ignore_ascii_case("for").then(|| parse_node(value.trim().trim_matches('"')))
                })
            })
            .collect();
    }
    match joined(header::HeaderName::from_static("x-forwarded-for")) {
        Some(list) => list.split(',').map(|hop| parse_node(hop.trim())).collect(),
        None => Vec::new(),
    }
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(addr) = node.parse::<IpAddr>() {
        return Some(addr);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']').and_then(|(addr, _)| addr.parse().ok());
    }
    let (addr, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    addr.parse().ok()
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().expect("cidr")).collect())
    }

    fn client(trusted: &TrustedProxies, peer: &str, headers: &[(&str, &str)]) -> String {
        let mut req = TestRequest::default().peer_addr(peer.parse().expect("peer"));
        for (name, value) in headers {
            req = req.append_header((*name, *value));
        }
        trusted.client(&req.to_http_request()).map(|a| a.to_string()).unwrap_or_default()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let none = TrustedProxies::default();
        assert_eq!(client(&none, "203.0.113.9:1", &[("x-forwarded-for", "198.51.100.1")]), "203.0.113.9");
        let lan = proxies(&["10.0.0.0/8"]);
        assert_eq!(client(&lan, "203.0.113.9:1", &[("forwarded", "for=198.51.100.1")]), "203.0.113.9");
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let lan = proxies(&["10.0.0.0/8", "fd00::/8"]);
        let xff = [("x-forwarded-for", "198.51.100.1")];
        assert_eq!(client(&lan, "10.1.2.3:1", &xff), "198.51.100.1");
        let fwd = [("forwarded", r#"for="[2001:db8:cafe::17]:4711";proto=https"#)];
        assert_eq!(client(&lan, "[fd00::1]:1", &fwd), "2001:db8:cafe::17");
        let fwd = [("forwarded", "for=192.0.2.60:8080;by=10.0.0.1")];
        assert_eq!(client(&lan, "10.0.0.1:1", &fwd), "192.0.2.60");
        assert_eq!(client(&lan, "[::ffff:10.0.0.1]:1", &xff), "198.51.100.1", "a mapped IPv4 peer");
        assert_eq!(client(&lan, "10.0.0.1:1", &[]), "10.0.0.1", "no header: the proxy itself");
    }

    #[test]
    fn what_the_client_prepends_is_not_believed() {
        let lan = proxies(&["10.0.0.0/8"]);
        // The client sent `X-Forwarded-For: 1.1.1.1`; the proxy appended its own view.
        let spoofed = [("x-forwarded-for", "1.1.1.1, 198.51.100.1")];
        assert_eq!(client(&lan, "10.0.0.1:1", &spoofed), "198.51.100.1");
        // Two trusted proxies in a row: the first untrusted hop from the end.
        let chain = [("x-forwarded-for", "1.1.1.1, 198.51.100.1, 10.9.9.9")];
        assert_eq!(client(&lan, "10.0.0.1:1", &chain), "198.51.100.1");
        // Header lines are joined in order.
        let split = [("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "198.51.100.1")];
        assert_eq!(client(&lan, "10.0.0.1:1", &split), "198.51.100.1");
        // `Forwarded` wins over `X-Forwarded-For` when both are present.
        let both = [("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=198.51.100.7")];
        assert_eq!(client(&lan, "10.0.0.1:1", &both), "198.51.100.7");
    }

    #[test]
    fn a_hop_that_is_no_address_stops_at_the_proxy_that_reported_it() {
        let lan = proxies(&["10.0.0.0/8"]);
        assert_eq!(client(&lan, "10.0.0.1:1", &[("forwarded", "for=unknown")]), "10.0.0.1");
        assert_eq!(client(&lan, "10.0.0.1:1", &[("forwarded", "for=_hidden, for=10.0.0.2")]), "10.0.0.2");
        assert_eq!(client(&lan, "10.0.0.1:1", &[("x-forwarded-for", "not-an-ip")]), "10.0.0.1");
    }
}
