//! How keyway counts clients by address for its limits (connections, handshakes, sign-ins).

use std::net::{IpAddr, Ipv6Addr};

/// The unit one client is counted as: an IPv4 address as it is (an IPv4-mapped IPv6 address
/// too), any other IPv6 address by its /64 prefix, since one host or subscriber usually holds
/// a whole /64 and could otherwise rotate through it.
pub fn address_group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_groups_by_prefix_and_mapped_ipv4_is_ipv4() {
        let group = |s: &str| address_group(s.parse().unwrap()).to_string();
        assert_eq!(group("192.0.2.7"), "192.0.2.7");
        assert_eq!(group("::ffff:10.4.4.4"), "10.4.4.4");
        assert_eq!(group("2001:db8::1"), "2001:db8::");
        assert_eq!(group("2001:db8::ffff:1"), "2001:db8::");
        assert_eq!(group("2001:db8:0:1::1"), "2001:db8:0:1::");
    }
}
