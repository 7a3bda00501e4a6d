//! The network guard for addresses users choose: URL-list lines, CDN domains, GCS base URLs
//! and Azure blob endpoints. A user of the API must not be able to make a worker fetch from the
//! worker's own network (loopback, private ranges, link-local, cloud metadata services) — the
//! classic server-side request forgery. Host names are checked against a deny list, then
//! resolved, and every resolved address is checked; requests then go to the checked addresses
//! only (the resolver is pinned), and every redirect is checked the same way.
//!
//! Operators who do mean to migrate from their own network (an on-premises HTTP server, a test
//! setup on 127.0.0.1) turn the guard off with `[security] allow_private_networks = true`;
//! cloud metadata services stay refused even then.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use crate::{ErrorKind, StorageError};

/// The per-object code of a forbidden address.
pub const IP_FORBIDDEN: &str = oms_core::error::ObjectFailureCode::IpForbidden.as_str();
/// The per-object code of a forbidden host name.
pub const DOMAIN_FORBIDDEN: &str = oms_core::error::ObjectFailureCode::DomainForbidden.as_str();

/// Host names of cloud metadata services, refused whatever they resolve to. (Names of this
/// machine, like `localhost`, resolve to loopback and are refused for their address.)
const DENIED_NAMES: &[&str] = &[
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "metadata.azure.internal",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Metadata services of the clouds (AWS, GCP, Azure, Oracle: 169.254.169.254; AWS ECS task
/// metadata; Aliyun; AWS over IPv6), refused even when private networks are allowed.
fn is_metadata_ip(ip: IpAddr) -> bool {
    const V4: [[u8; 4]; 3] = [
        [169, 254, 169, 254],
        [169, 254, 170, 2],
        [100, 100, 100, 200],
    ];
    match ip {
        IpAddr::V4(v4) => V4.contains(&v4.octets()),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => V4.contains(&v4.octets()),
            None => v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
        },
    }
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), SIIT (`::ffff:0:a.b.c.d`), NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`) and 6to4
/// (`2002:aabb:ccdd::/48`) — forms a gateway may translate into a request to that address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    match s {
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 || lo > 1 => Some(low(hi, lo)),
        [0, 0, 0, 0, 0xffff, 0, hi, lo] | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x64, 0xff9b, 1, ..] => Some(low(s[6], s[7])),
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        _ => None,
    }
}

/// Which addresses a worker may fetch from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Guard {
    /// Whether loopback, private and link-local addresses are allowed (operator opt-out).
    pub allow_private_networks: bool,
}

/// Whether `ip` is one a user-chosen URL must not reach.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_forbidden_v4(v4),
            None => is_forbidden_v6(v6),
        },
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        // Carrier-grade NAT (100.64/10) holds Aliyun's metadata service (100.100.100.200).
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments (192.0.0/24) and benchmarking (198.18/15).
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local (fc00::/7, incl. AWS's fd00:ec2::254) and link-local (fe80::/10).
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

/// Whether a host name is on the deny list.
fn is_denied_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    DENIED_NAMES.contains(&host.as_str())
}

/// What the operator can do about a refused private address.
const PRIVATE_HINT: &str = "omsd does not reach such addresses for URLs and endpoints that \
     requests name; an operator allows private ones with [security] allow_private_networks = true";
/// Why a metadata address stays refused.
const METADATA_HINT: &str =
    "refused even with [security] allow_private_networks = true, which allows private ones";

fn forbidden(code: &'static str, message: String) -> StorageError {
    StorageError::new(ErrorKind::Permanent, "address check", message)
        .with_status(None, Some(code.to_owned()))
}

impl Guard {
    /// Checks a host (a name or an IP literal, without port) before it is resolved.
    pub fn check_host(&self, host: &str) -> Result<(), StorageError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if self.allow_private_networks {
            return match bare.parse::<IpAddr>() {
                Ok(ip) if is_metadata_ip(ip) => Err(forbidden(
                    IP_FORBIDDEN,
                    format!("{ip} is a cloud metadata service ({METADATA_HINT})"),
                )),
                Err(_) if is_denied_name(bare) => Err(forbidden(
                    DOMAIN_FORBIDDEN,
                    format!("{bare} names a cloud metadata service ({METADATA_HINT})"),
                )),
                _ => Ok(()),
            };
        }
        if let Ok(ip) = bare.parse::<IpAddr>() {
            if is_forbidden_ip(ip) {
                return Err(forbidden(
                    IP_FORBIDDEN,
                    format!(
                        "{ip} is a loopback, private, link-local or metadata address ({PRIVATE_HINT})"
                    ),
                ));
            }
            return Ok(());
        }
        if is_denied_name(bare) {
            return Err(forbidden(
                DOMAIN_FORBIDDEN,
                format!("{bare} names a cloud metadata service ({METADATA_HINT})"),
            ));
        }
        Ok(())
    }

    /// Resolves `host` and keeps the addresses that may be reached; none left is an error.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, StorageError> {
        self.check_host(host)?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| {
                StorageError::new(
                    ErrorKind::Transient,
                    "resolve",
                    format!("cannot resolve {bare}: {e}"),
                )
            })?
            .collect();
        let refused = |ip: IpAddr| {
            if self.allow_private_networks {
                is_metadata_ip(ip)
            } else {
                is_forbidden_ip(ip)
            }
        };
        let allowed: Vec<SocketAddr> = resolved
            .iter()
            .copied()
            .filter(|a| !refused(a.ip()))
            .collect();
        if allowed.is_empty() && !resolved.is_empty() {
            return Err(forbidden(
                IP_FORBIDDEN,
                format!(
                    "{bare} resolves to {} only: loopback, private, link-local or metadata \
                     addresses ({})",
                    resolved[0].ip(),
                    if self.allow_private_networks {
                        METADATA_HINT
                    } else {
                        PRIVATE_HINT
                    }
                ),
            ));
        }
        Ok(allowed)
    }
}

/// A resolver for reqwest that applies the guard to every connection it makes (so a name that
/// resolves differently the second time still cannot reach a forbidden address).
#[derive(Debug, Clone)]
pub struct GuardedResolver(pub Guard);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = guard
                .resolve(&host, 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// A DNS resolver for HTTP clients that refuses names resolving to addresses `guard` forbids.
pub fn resolver(guard: Guard) -> Arc<GuardedResolver> {
    Arc::new(GuardedResolver(guard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_setting_that_allows_private_addresses() {
        let closed = Guard {
            allow_private_networks: false,
        };
        let text = closed.check_host("10.1.2.3").unwrap_err().to_string();
        assert!(
            text.starts_with("address check: 10.1.2.3 is a loopback, private")
                && text.contains("[security] allow_private_networks = true"),
            "{text}"
        );
        let open = Guard {
            allow_private_networks: true,
        };
        let text = open.check_host("169.254.169.254").unwrap_err().to_string();
        assert!(
            text.contains("refused even with [security] allow_private_networks"),
            "{text}"
        );
    }

    #[test]
    fn private_and_metadata_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:5",
            "64:ff9b:1::a9fe:a9fe",
            "2002:0a00:0005::",
            "::ffff:0:a00:5",
            "::10.0.0.1",
        ] {
            assert!(is_forbidden_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "151.101.1.1",
            "2606:4700::1111",
            "100.128.0.1",
            "64:ff9b::808:808",
            "2002:0808:0808::",
        ] {
            assert!(!is_forbidden_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn hosts_are_checked_before_resolution() {
        let guard = Guard::default();
        let code = |host: &str| guard.check_host(host).err().and_then(|e| e.code);
        assert_eq!(code("169.254.169.254").as_deref(), Some(IP_FORBIDDEN));
        assert_eq!(code("[::1]").as_deref(), Some(IP_FORBIDDEN));
        assert_eq!(
            code("metadata.google.internal").as_deref(),
            Some(DOMAIN_FORBIDDEN)
        );
        assert_eq!(
            code("METADATA.GOOGLE.INTERNAL.").as_deref(),
            Some(DOMAIN_FORBIDDEN)
        );
        assert_eq!(code("cdn.example.com"), None);
        let open = Guard {
            allow_private_networks: true,
        };
        assert!(open.check_host("127.0.0.1").is_ok());
        assert!(open.check_host("10.1.2.3").is_ok());
        for metadata in [
            "169.254.169.254",
            "[fd00:ec2::254]",
            "100.100.100.200",
            "[::ffff:169.254.169.254]",
            "metadata.google.internal",
        ] {
            assert!(open.check_host(metadata).is_err(), "{metadata}");
        }
    }

    #[tokio::test]
    async fn names_resolving_to_forbidden_addresses_are_refused() {
        let guard = Guard::default();
        let err = guard.resolve("no-such-host.invalid", 80).await.unwrap_err();
        assert_eq!(err.code, None, "an unresolvable name is not a refusal");
        for host in ["127.0.0.1", "localhost"] {
            let err = guard.resolve(host, 80).await.unwrap_err();
            assert_eq!(err.code.as_deref(), Some(IP_FORBIDDEN), "{host}");
        }
        let open = Guard {
            allow_private_networks: true,
        };
        let addrs = open.resolve("localhost", 80).await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    }
}
