//! Address ranges in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`): the load balancers a
//! listener trusts for the PROXY protocol, and the `source_ip` of an authorization rule.

use std::fmt;
use std::net::IpAddr;

/// An IPv4 or IPv6 address range, `address/prefix`; a bare address is the range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parse `10.0.0.0/8`, `2001:db8::/32` or a bare address. Host bits set after the prefix
    /// (`10.1.0.0/8`) are refused: they are usually a typo for a longer prefix.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| {
            format!("`{text}` is not an address range such as \"10.0.0.0/8\" or \"2001:db8::/32\"")
        })?;
        let max = max_prefix(network);
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
        };
        let cidr = Cidr { network, prefix };
        let masked = cidr.masked(network);
        if masked != network {
            return Err(format!(
                "`{text}` has bits set past its /{prefix} prefix: did you mean `{masked}/{prefix}`?"
            ));
        }
        Ok(cidr)
    }

    /// Whether `ip` lies in the range. An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, as a
    /// dual-stack socket reports an IPv4 peer) counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.network.is_ipv4() && self.masked(ip) == self.network
    }

    /// `ip` with the bits past the prefix cleared (`ip` must be of the range's family).
    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Whether `ip` lies in one of `ranges`.
pub fn any_contains(ranges: &[Cidr], ip: IpAddr) -> bool {
    ranges.iter().any(|r| r.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_of_both_families_contain_their_addresses_only() {
        let ten = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(ten.contains(ip("10.255.0.1")));
        assert!(!ten.contains(ip("11.0.0.1")));
        assert!(!ten.contains(ip("::a00:1")), "IPv4-compatible is not IPv4");
        let doc = Cidr::parse("2001:db8::/32").unwrap();
        assert!(doc.contains(ip("2001:db8:1::5")));
        assert!(!doc.contains(ip("2001:db9::5")));
        assert!(!doc.contains(ip("10.0.0.1")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        let one = Cidr::parse("192.0.2.7").unwrap();
        assert_eq!(one.to_string(), "192.0.2.7/32");
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("::1")));
    }

    #[test]
    fn an_ipv4_mapped_peer_is_matched_as_ipv4() {
        let ten = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(ten.contains(ip("::ffff:10.1.2.3")));
    }

    #[test]
    fn bad_ranges_say_what_is_wrong() {
        for (bad, says) in [
            ("10.0.0.0/33", "prefix length must be 0 to 32"),
            ("::/129", "prefix length must be 0 to 128"),
            ("10.0.0.0/x", "prefix length"),
            ("10.0.0.0/-1", "prefix length"),
            ("10.0.0/8", "is not an address range"),
            ("", "is not an address range"),
            ("10.1.0.0/8", "did you mean `10.0.0.0/8`?"),
            ("2001:db8::1/32", "did you mean `2001:db8::/32`?"),
        ] {
            let e = Cidr::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
