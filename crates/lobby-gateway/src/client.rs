//! Who a client is, for the rate limit: the address the last untrusted hop came from.
//!
//! `X-Forwarded-For` is written by whoever sends it: every proxy appends the address it was
//! reached from, and a client may start the header with anything. So the chain is read from
//! the right (the peer of this connection first) and the trusted proxies are skipped; the first
//! hop that is not one of them is the client. The left-most entry is never skipped: it is the
//! client's own claim, so trusting it would let anyone choose who to be. IPv6 clients are
//! known by their /64, the smallest block a single subscriber is usually given, so that
//! rotating addresses within it changes nothing.

use ipnet::IpNet;
use std::net::IpAddr;
use std::str::FromStr;

/// Which hops in front of the gateway are ours (`GATEWAY_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TrustedProxies {
    /// None: the peer of the connection is the client, and `X-Forwarded-For` is ignored.
    #[default]
    None,
    /// The last `n` hops (the peer and `n - 1` entries of the header) are proxies.
    Count(usize),
    /// Hops whose address is in one of these networks are proxies.
    Networks(Vec<IpNet>),
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// Empty or `0`: none; a number: that many hops; otherwise networks in CIDR notation,
    /// comma separated (`10.0.0.0/8,fd00::/8`; a bare address is its own /32 or /128).
    fn from_str(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Self::None);
        }
        if let Ok(count) = raw.parse::<usize>() {
            return Ok(if count == 0 {
                Self::None
            } else {
                Self::Count(count)
            });
        }
        raw.split(',')
            .map(|part| {
                let part = part.trim();
                part.parse::<IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{part:?} is neither a hop count nor a CIDR network"))
            })
            .collect::<Result<_, _>>()
            .map(Self::Networks)
    }
}

impl TrustedProxies {
    /// The rate-limit key of a request from `peer` carrying `forwarded_for`.
    pub fn client(&self, forwarded_for: Option<&str>, peer: IpAddr) -> String {
        // Right to left: the peer, then the header's entries from its end; `None` for an
        // entry that is not an address.
        let mut hops = vec![Some(peer)];
        if let (false, Some(header)) = (*self == Self::None, forwarded_for) {
            hops.extend(header.rsplit(',').map(|entry| entry.trim().parse().ok()));
        }
        let mut at = 0;
        let mut client = peer;
        // The left-most hop is never skipped. A hop that does not parse ends the chain at the
        // trusted proxy that passed it on.
        while at + 1 < hops.len() && self.trusts(client, at) {
            let Some(next) = hops[at + 1] else { break };
            client = next;
            at += 1;
        }
        bucket(client)
    }

    /// Whether the hop `skipped` places from the right, at `address`, is one of our proxies.
    fn trusts(&self, address: IpAddr, skipped: usize) -> bool {
        match self {
            Self::None => false,
            Self::Count(count) => skipped < *count,
            Self::Networks(networks) => networks.iter().any(|net| net.contains(&address)),
        }
    }
}

/// An IPv4 address as itself; an IPv6 address as its /64.
fn bucket(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let network = IpNet::new(IpAddr::V6(v6), 64)
                    .map(|net| net.trunc())
                    .unwrap_or_else(|_| IpNet::from(IpAddr::V6(v6)));
                network.to_string()
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().expect("an address")
    }

    fn trusted(raw: &str) -> TrustedProxies {
        raw.parse().expect("a setting")
    }

    const PEER: &str = "10.0.0.1";

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::None;
        assert_eq!(none.client(Some("198.51.100.7"), ip(PEER)), PEER);
        assert_eq!(trusted(""), none);
        assert_eq!(trusted("0"), none);
    }

    #[test]
    fn behind_one_proxy_the_client_is_the_entry_it_appended_not_one_the_client_wrote() {
        let one = trusted("1");
        assert_eq!(one.client(Some("198.51.100.7"), ip(PEER)), "198.51.100.7");
        // The client started the header with a lie; the proxy appended the truth.
        assert_eq!(
            one.client(Some("203.0.113.9, 198.51.100.7"), ip(PEER)),
            "198.51.100.7"
        );
        // No header: the proxy itself is all we know.
        assert_eq!(one.client(None, ip(PEER)), PEER);
    }

    #[test]
    fn the_left_most_entry_is_never_skipped() {
        assert_eq!(
            trusted("5").client(Some("198.51.100.7"), ip(PEER)),
            "198.51.100.7"
        );
    }

    #[test]
    fn trusted_networks_are_skipped_from_the_right() {
        let ours = trusted("10.0.0.0/8, 192.168.1.1");
        let chain = "203.0.113.9, 198.51.100.7, 192.168.1.1, 10.1.2.3";
        assert_eq!(ours.client(Some(chain), ip(PEER)), "198.51.100.7");
        // A peer that is not ours is the client, whatever it says.
        assert_eq!(
            ours.client(Some("198.51.100.7"), ip("203.0.113.1")),
            "203.0.113.1"
        );
    }

    #[test]
    fn an_entry_that_is_not_an_address_ends_the_chain_at_the_proxy_that_passed_it() {
        assert_eq!(
            trusted("2").client(Some("junk, 10.9.9.9"), ip(PEER)),
            "10.9.9.9"
        );
        assert_eq!(trusted("1").client(Some("junk"), ip(PEER)), PEER);
    }

    #[test]
    fn ipv6_clients_are_known_by_their_slash_64() {
        let one = trusted("1");
        let a = one.client(Some("2001:db8:1:2:aaaa::1"), ip(PEER));
        let b = one.client(Some("2001:db8:1:2:bbbb:cccc:dddd:eeee"), ip(PEER));
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, b);
        assert_ne!(a, one.client(Some("2001:db8:1:3::1"), ip(PEER)));
        assert_eq!(
            one.client(Some("::ffff:198.51.100.7"), ip(PEER)),
            "198.51.100.7"
        );
    }

    #[test]
    fn a_setting_is_a_count_or_networks() {
        assert_eq!(trusted("2"), TrustedProxies::Count(2));
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.local".parse::<TrustedProxies>().is_err());
        assert_eq!(
            trusted("10.0.0.0/8,::1"),
            TrustedProxies::Networks(vec![
                "10.0.0.0/8".parse().expect("a network"),
                "::1/128".parse().expect("a network"),
            ])
        );
    }
}
