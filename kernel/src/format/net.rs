//! IP addresses, L4 endpoints and IP protocol numbers, as IG prints them.
//!
//! The ABI's `union gadget_ip_addr_t` is 16 bytes: an IPv4 address is in the first four, in
//! network order, an IPv6 address fills all of them; the endpoint's `version` (4 or 6) says
//! which. IG formats with Go's `net.IP.String()`: dotted quads, RFC 5952 IPv6 text (the longest
//! run of zero groups as `::`, IPv4-mapped addresses as `::ffff:1.2.3.4`), and an endpoint as
//! `addr:port` without brackets (`::1:8080`). Protocols are the IANA keywords IG's table uses.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::push_u64;

/// Appends the text of a 16-byte address. `version` 4 or 6 picks the form; anything else (a
/// bare union with no version beside it) guesses: IPv4 when bytes 4..16 are all zero.
pub fn write_ip(bytes: &[u8], version: Option<u8>, out: &mut String) {
    use std::fmt::Write as _;
    let Ok(b) = <[u8; 16]>::try_from(bytes) else {
        return;
    };
    let v4 = match version {
        Some(4) => true,
        Some(6) => false,
        _ => b[4..].iter().all(|&x| x == 0),
    };
    let _ = if v4 {
        write!(out, "{}", Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    } else {
        let ip = Ipv6Addr::from(b);
        // Go prints IPv4-mapped addresses as dotted quads.
        match ip.to_ipv4_mapped() {
            Some(v4) => write!(out, "{v4}"),
            None => write!(out, "{ip}"),
        }
    };
}

/// Appends `addr:port`.
pub fn write_endpoint(bytes: &[u8], version: Option<u8>, port: u64, out: &mut String) {
    write_ip(bytes, version, out);
    out.push(':');
    push_u64(out, port);
}

/// IANA protocol numbers → keywords, for the protocols a gadget reports.
const PROTOCOLS: &[(u64, &str)] = &[
    (0, "IP"),
    (1, "ICMP"),
    (2, "IGMP"),
    (4, "IPIP"),
    (6, "TCP"),
    (17, "UDP"),
    (33, "DCCP"),
    (41, "IPV6"),
    (47, "GRE"),
    (50, "ESP"),
    (51, "AH"),
    (58, "ICMPV6"),
    (103, "PIM"),
    (132, "SCTP"),
    (136, "UDPLITE"),
    (143, "ETHERNET"),
    (255, "RAW"),
    (262, "MPTCP"),
];

/// Appends the protocol's keyword, or `proto#N` as IG does for numbers it does not know.
pub fn write_protocol(number: u64, out: &mut String) {
    match PROTOCOLS.iter().find(|(n, _)| *n == number) {
        Some((_, name)) => out.push_str(name),
        None => {
            out.push_str("proto#");
            push_u64(out, number);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(bytes: [u8; 16], version: Option<u8>) -> String {
        let mut s = String::new();
        write_ip(&bytes, version, &mut s);
        s
    }

    #[test]
    fn addresses_render_like_go() {
        let mut v4 = [0u8; 16];
        v4[..4].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(ip(v4, Some(4)), "127.0.0.1");
        assert_eq!(ip(v4, None), "127.0.0.1");
        let lo6 = Ipv6Addr::LOCALHOST.octets();
        assert_eq!(ip(lo6, Some(6)), "::1");
        assert_eq!(ip(lo6, None), "::1");
        let doc: Ipv6Addr = "2001:db8::1:0:0:1".parse().unwrap();
        assert_eq!(ip(doc.octets(), Some(6)), "2001:db8::1:0:0:1");
        let mapped = Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped().octets();
        assert_eq!(ip(mapped, Some(6)), "10.1.2.3");
        let mut s = String::new();
        write_ip(&[1, 2, 3], Some(4), &mut s);
        assert_eq!(s, "", "a wrong size renders nothing");
    }

    #[test]
    fn endpoints_and_protocols() {
        let mut s = String::new();
        write_endpoint(&Ipv6Addr::LOCALHOST.octets(), Some(6), 8080, &mut s);
        s.push(' ');
        write_protocol(6, &mut s);
        s.push(' ');
        write_protocol(17, &mut s);
        s.push(' ');
        write_protocol(99, &mut s);
        assert_eq!(s, "::1:8080 TCP UDP proto#99");
    }
}
