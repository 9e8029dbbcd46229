//! Which addresses a backend request may connect to. Loopback, link-local (which holds
//! the cloud metadata endpoint 169.254.169.254), unspecified and the other well-known
//! metadata addresses are *private*: a request reaches one only when an operator wrote
//! that address as an IP literal (in a proxy integration URL, a stage variable, or a
//! version's outbound allow-list entry). A host *name* never reaches one: [`PublicOnly`]
//! drops private addresses from every DNS answer at connect time, so a name that
//! resolves — or is re-bound — to 127.0.0.1 or 169.254.169.254 is refused (no DNS
//! rebinding bypass: the addresses checked are the ones connected to).

use hyper_util::client::legacy::connect::dns::Name;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Alibaba Cloud's metadata service (AWS's, GCP's and Azure's are link-local).
const METADATA_V4: Ipv4Addr = Ipv4Addr::new(100, 100, 100, 200);
/// AWS's IPv6 metadata endpoint (Nitro instances).
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

/// Loopback, link-local, unspecified (which connects to the local host), `0.0.0.0/8`, the
/// metadata endpoints — also when written as an IPv4-mapped, IPv4-compatible or NAT64
/// IPv6 address.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_private(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                Some(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8))
            } else {
                v6.to_ipv4()
            };
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xffc0) == 0xfe80
                || v6 == METADATA_V6
                || embedded.is_some_and(v4_private)
        }
    }
}

fn v4_private(ip: Ipv4Addr) -> bool {
    ip.is_loopback() || ip.is_link_local() || ip.octets()[0] == 0 || ip == METADATA_V4
}

/// The IP address a URI host names literally (`127.0.0.1`, `[::1]`), if it is one.
pub fn literal(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host).parse().ok()
}

/// The DNS resolver of the backend client: the system's (getaddrinfo, on tokio's blocking
/// pool, as hyper's own resolver does) with private addresses removed from the answer.
/// A resolver of our own because hyper's `GaiResolver` can't filter; the check must sit
/// between resolution and connect to close the rebinding window.
#[derive(Clone, Default)]
pub struct PublicOnly;

impl tower::Service<Name> for PublicOnly {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.iter().copied().filter(|a| !is_private(a.ip())).collect();
            if public.is_empty() && !all.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{} resolves to a private address ({}): loopback, link-local and metadata addresses are reached only by IP literal",
                        name.as_str(),
                        all[0].ip()
                    ),
                ));
            }
            Ok(public.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses() {
        let p = |s: &str| is_private(s.parse().unwrap());
        for a in [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "169.254.169.254",
            "169.254.1.1",
            "100.100.100.200",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
        ] {
            assert!(p(a), "{a} is private");
        }
        for a in ["10.0.0.1", "192.168.1.1", "8.8.8.8", "100.100.100.201", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(!p(a), "{a} is not private");
        }
    }

    #[test]
    fn literals() {
        assert_eq!(literal("127.0.0.1"), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(literal("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(literal("localhost"), None);
    }

    #[tokio::test]
    async fn names_never_resolve_to_private_addresses() {
        use tower::Service;
        let e = PublicOnly.call("localhost".parse::<Name>().unwrap()).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("localhost resolves to a private address"), "{e}");
    }
}
