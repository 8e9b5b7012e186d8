//! The PROXY protocol (HAProxy's v1 text and v2 binary headers) on a listener behind a TCP
//! load balancer: only a trusted load balancer may connect, and its header, read off the
//! socket before TLS without taking a byte of the ClientHello (peeked, then consumed), names
//! the client the connection stands for. `ppp` parses; this module reads and decides.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;

use ppp::{PartialResult, v1, v2};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::config::{ProxyProtocol, any_contains};
use crate::metrics::{FailureLabels, Metrics};

/// Longest v1 header, `PROXY` to CRLF (the spec's 107 bytes).
const V1_MAX: usize = 107;
/// The fixed start of a v2 header: signature, version and command, family, length.
const V2_FIXED: usize = 16;
/// Most bytes looked at per peek; a header with the usual TLVs fits in one.
const PEEK: usize = 512;
/// The first byte of a TLS record carrying a handshake message (the ClientHello).
const TLS_HANDSHAKE: u8 = 0x16;

/// Why a connection was closed before TLS.
#[derive(Debug, thiserror::Error)]
pub(super) enum Refusal {
    /// The socket's peer is outside `trusted_proxies`: it may not connect, let alone name a
    /// client.
    #[error("the peer is not in trusted_proxies")]
    UntrustedPeer,
    /// The connection does not open with a PROXY protocol signature.
    #[error("no PROXY protocol header: {0}")]
    Missing(&'static str),
    /// A header that breaks the spec.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(String),
    /// The peer closed the connection without sending a byte (a load balancer's TCP check).
    #[error("closed by the peer before any byte")]
    Closed,
    /// No whole header before the handshake timeout.
    #[error("no complete PROXY protocol header within the handshake timeout")]
    Timeout,
    /// The socket failed.
    #[error("reading the PROXY protocol header failed: {0}")]
    Io(io::Error),
}

impl Refusal {
    /// The metric label of the refusal.
    fn class(&self) -> &'static str {
        match self {
            Refusal::UntrustedPeer => "untrusted_peer",
            Refusal::Missing(_) => "missing",
            Refusal::Malformed(_) => "malformed",
            Refusal::Closed => "closed",
            Refusal::Timeout => "timeout",
            Refusal::Io(_) => "io",
        }
    }
}

/// The client a connection from `peer` stands for: the source address of its PROXY header,
/// or `peer` itself when the header names none (v2 `LOCAL`, a load balancer's own health
/// check; v1 `UNKNOWN`; v2 `UNSPEC` or `AF_UNIX`). `None` (logged naming the peer and the
/// reason, and counted) when the connection must be closed: an untrusted peer, a missing or
/// malformed header, or none complete by `deadline`.
pub(super) async fn client(
    tcp: &mut TcpStream,
    peer: SocketAddr,
    setting: &ProxyProtocol,
    deadline: Instant,
    listener: SocketAddr,
    metrics: &Metrics,
) -> Option<SocketAddr> {
    let read = async {
        if !any_contains(&setting.trusted_proxies, peer.ip()) {
            return Err(Refusal::UntrustedPeer);
        }
        read_header(tcp).await
    };
    let refusal = match tokio::time::timeout_at(deadline, read).await {
        Ok(Ok(named)) => return Some(named.unwrap_or(peer)),
        Ok(Err(r)) => r,
        Err(_) => Refusal::Timeout,
    };
    if matches!(refusal, Refusal::Closed) {
        tracing::debug!(peer = %peer, listen = %listener, reason = %refusal, "connection closed before TLS");
    } else {
        tracing::warn!(peer = %peer, listen = %listener, reason = %refusal, "connection closed before TLS: PROXY protocol refused");
    }
    metrics
        .proxy_protocol_refusals
        .get_or_create(&FailureLabels {
            listener: listener.to_string(),
            reason: refusal.class(),
        })
        .inc();
    None
}

/// Read one header off `tcp`, leaving the stream at the first byte after it; the client it
/// names, if any. Bytes are peeked; only those known to belong to the header are consumed.
async fn read_header(tcp: &mut TcpStream) -> Result<Option<SocketAddr>, Refusal> {
    // Header bytes already consumed: only while a header arrives in pieces.
    let mut taken: Vec<u8> = Vec::new();
    // The header's greatest possible length as known so far.
    let mut bound = V1_MAX;
    let mut peeked = [0u8; PEEK];
    loop {
        let want = (bound - taken.len()).clamp(1, PEEK);
        let n = tcp.peek(&mut peeked[..want]).await.map_err(Refusal::Io)?;
        if n == 0 {
            return Err(match taken.len() {
                0 => Refusal::Closed,
                got => Refusal::Malformed(format!("the connection closed after {got} bytes of it")),
            });
        }
        let seen: Cow<'_, [u8]> = if taken.is_empty() {
            Cow::Borrowed(&peeked[..n])
        } else {
            Cow::Owned([&taken[..], &peeked[..n]].concat())
        };
        match parse(&seen)? {
            Parsed::Header { len, client } => {
                // The header lies within `seen`, past the bytes already taken.
                let rest = len.saturating_sub(taken.len());
                tcp.read_exact(&mut peeked[..rest])
                    .await
                    .map_err(Refusal::Io)?;
                return Ok(client);
            }
            Parsed::Incomplete { bound: b } if seen.len() >= b => {
                return Err(Refusal::Malformed(format!(
                    "no complete header within {b} bytes"
                )));
            }
            // Every byte seen belongs to the header: take them, wait for more.
            Parsed::Incomplete { bound: b } => {
                bound = b;
                tcp.read_exact(&mut peeked[..n])
                    .await
                    .map_err(Refusal::Io)?;
                taken.extend_from_slice(&peeked[..n]);
            }
        }
    }
}

/// What the first bytes of a connection hold.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// A whole header of `len` bytes, and the client it names (`None`: the socket's peer).
    Header {
        /// Length of the header.
        len: usize,
        /// The source address it carries, when it carries one.
        client: Option<SocketAddr>,
    },
    /// The start of a header that is at most `bound` bytes long in all.
    Incomplete {
        /// Its greatest possible length as known so far.
        bound: usize,
    },
}

/// Parse the header at the start of `bytes` (which may run on into the ClientHello).
fn parse(bytes: &[u8]) -> Result<Parsed, Refusal> {
    match bytes.first() {
        None => Ok(Parsed::Incomplete { bound: V1_MAX }),
        Some(b'P') => parse_v1(bytes),
        Some(b'\r') => parse_v2(bytes),
        Some(&TLS_HANDSHAKE) => Err(Refusal::Missing(
            "the connection opens with a TLS ClientHello",
        )),
        Some(_) => Err(Refusal::Missing(
            "the connection opens with neither the v1 nor the v2 signature",
        )),
    }
}

/// A v1 header: `PROXY TCP4|TCP6|UNKNOWN ... CRLF`, at most 107 bytes.
fn parse_v1(bytes: &[u8]) -> Result<Parsed, Refusal> {
    // `ppp` ends the header at the first CR; once a byte follows it, the header is whole and
    // any error final (it calls some of them partial regardless).
    let ended = bytes
        .iter()
        .position(|&b| b == b'\r')
        .is_some_and(|cr| cr + 1 < bytes.len());
    if !ended && bytes.len() >= V1_MAX {
        return Err(Refusal::Malformed(format!(
            "v1: no CRLF within {V1_MAX} bytes"
        )));
    }
    match v1::Header::try_from(bytes) {
        Ok(h) => {
            let client = match h.addresses {
                v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Unknown => None,
            };
            Ok(Parsed::Header {
                len: h.header.len(),
                client,
            })
        }
        Err(e) if !ended && e.is_incomplete() => Ok(Parsed::Incomplete { bound: V1_MAX }),
        Err(e) => Err(Refusal::Malformed(format!("v1: {e}"))),
    }
}

/// A v2 header: the 12-byte signature, version 2 and a command, family and transport, a
/// length, then addresses and TLVs (ignored), at most 16 + 65535 bytes.
fn parse_v2(bytes: &[u8]) -> Result<Parsed, Refusal> {
    match v2::Header::try_from(bytes) {
        Ok(h) => {
            let client = match (h.command, h.addresses) {
                (v2::Command::Proxy, v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                (v2::Command::Proxy, v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                // LOCAL: the load balancer speaking for itself; UNSPEC and AF_UNIX: no
                // address the gateway could use.
                _ => None,
            };
            Ok(Parsed::Header {
                len: h.len(),
                client,
            })
        }
        Err(e) if e.is_incomplete() => {
            let bound = match bytes.get(V2_FIXED - 2..V2_FIXED) {
                Some(&[hi, lo]) => V2_FIXED + usize::from(u16::from_be_bytes([hi, lo])),
                _ => V2_FIXED,
            };
            Ok(Parsed::Incomplete { bound })
        }
        Err(e) => Err(Refusal::Malformed(format!("v2: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

    fn v2(command: u8, family: u8, addresses: &[u8], tlvs: &[u8]) -> Vec<u8> {
        let len = (addresses.len() + tlvs.len()) as u16;
        let mut h = SIG.to_vec();
        h.extend([0x20 | command, family]);
        h.extend(len.to_be_bytes());
        h.extend(addresses);
        h.extend(tlvs);
        h
    }

    fn v4_addresses() -> Vec<u8> {
        [[203, 0, 113, 9], [10, 0, 0, 1]]
            .concat()
            .into_iter()
            .chain(4711u16.to_be_bytes())
            .chain(443u16.to_be_bytes())
            .collect()
    }

    fn header(len: usize, client: Option<&str>) -> Parsed {
        Parsed::Header {
            len,
            client: client.map(|c| c.parse().unwrap()),
        }
    }

    #[test]
    fn v1_names_the_client_and_stops_at_its_crlf() {
        let h = b"PROXY TCP4 203.0.113.9 10.0.0.1 4711 443\r\n";
        let mut with_hello = h.to_vec();
        with_hello.extend([TLS_HANDSHAKE, 3, 1]);
        assert_eq!(
            parse(&with_hello).unwrap(),
            header(h.len(), Some("203.0.113.9:4711"))
        );
        let h6 = b"PROXY TCP6 2001:db8::9 2001:db8::1 4711 443\r\n";
        assert_eq!(
            parse(h6).unwrap(),
            header(h6.len(), Some("[2001:db8::9]:4711"))
        );
        let unknown = b"PROXY UNKNOWN\r\n";
        assert_eq!(parse(unknown).unwrap(), header(15, None));
    }

    #[test]
    fn a_v1_header_in_pieces_is_incomplete_until_its_crlf() {
        let h = b"PROXY TCP4 203.0.113.9 10.0.0.1 4711 443\r\n";
        for cut in [1, 5, 6, 10, 20, h.len() - 1] {
            assert_eq!(
                parse(&h[..cut]).unwrap(),
                Parsed::Incomplete { bound: V1_MAX },
                "{cut}"
            );
        }
    }

    #[test]
    fn broken_v1_headers_are_malformed() {
        for bad in [
            &b"PROXY TCP4 203.0.113.9\r\n"[..],
            b"PROXY TCP4 203.0.113.9 10.0.0.1 4711\r\n",
            b"PROXY TCP4 2001:db8::9 10.0.0.1 4711 443\r\n",
            b"PROXY TCP4 203.0.113.9 10.0.0.1 99999 443\r\n",
            b"PROXY TCP5 203.0.113.9 10.0.0.1 4711 443\r\n",
            b"PROXY  TCP4 203.0.113.9 10.0.0.1 4711 443\r\n",
            b"PROXY TCP4 203.0.113.9 10.0.0.1 4711 443\rX",
            b"POST / HTTP/1.1\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(Refusal::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let endless = [b"PROXY TCP4 ".to_vec(), vec![b'1'; 100]].concat();
        match parse(&endless) {
            Err(Refusal::Malformed(m)) => assert!(m.contains("no CRLF within 107"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn v2_proxy_names_the_client_of_either_family_and_skips_tlvs() {
        let tlv = [0x04, 0, 3, b'a', b'b', b'c'];
        let h = v2(1, 0x11, &v4_addresses(), &tlv);
        let mut with_hello = h.clone();
        with_hello.extend([TLS_HANDSHAKE, 3, 1]);
        assert_eq!(
            parse(&with_hello).unwrap(),
            header(h.len(), Some("203.0.113.9:4711"))
        );
        let src: std::net::Ipv6Addr = "2001:db8::9".parse().unwrap();
        let dst: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
        let six: Vec<u8> = [&src.octets()[..], &dst.octets()[..], &[0, 80, 1, 187]].concat();
        let h = v2(1, 0x21, &six, &[]);
        assert_eq!(
            parse(&h).unwrap(),
            header(h.len(), Some("[2001:db8::9]:80"))
        );
    }

    #[test]
    fn v2_local_unspec_and_unix_name_no_client() {
        let local = v2(0, 0x11, &v4_addresses(), &[]);
        assert_eq!(parse(&local).unwrap(), header(local.len(), None));
        let unspec = v2(1, 0x00, &[], &[]);
        assert_eq!(parse(&unspec).unwrap(), header(16, None));
        let unix = v2(1, 0x31, &[0; 216], &[]);
        assert_eq!(parse(&unix).unwrap(), header(unix.len(), None));
    }

    #[test]
    fn a_v2_header_in_pieces_knows_its_length_after_sixteen_bytes() {
        let h = v2(1, 0x11, &v4_addresses(), &[]);
        assert_eq!(
            parse(&h[..5]).unwrap(),
            Parsed::Incomplete { bound: V2_FIXED }
        );
        assert_eq!(parse(&h[..16]).unwrap(), Parsed::Incomplete { bound: 28 });
        assert_eq!(parse(&h[..27]).unwrap(), Parsed::Incomplete { bound: 28 });
    }

    #[test]
    fn broken_v2_headers_are_malformed() {
        let mut version1 = v2(1, 0x11, &v4_addresses(), &[]);
        version1[12] = 0x11;
        let mut command = v2(1, 0x11, &v4_addresses(), &[]);
        command[12] = 0x2f;
        let short_addresses = v2(1, 0x11, &[1, 2, 3], &[]);
        let short_unix = v2(1, 0x31, &[0; 20], &[]);
        let mut family = v2(1, 0x11, &v4_addresses(), &[]);
        family[13] = 0x51;
        let bad_signature = b"\r\n\r\nX\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
        for bad in [
            version1,
            command,
            short_addresses,
            short_unix,
            family,
            bad_signature,
        ] {
            assert!(matches!(parse(&bad), Err(Refusal::Malformed(_))), "{bad:?}");
        }
    }

    #[test]
    fn tls_or_plain_text_without_a_header_is_missing_it() {
        assert!(matches!(
            parse(&[TLS_HANDSHAKE, 3, 1, 0, 200]),
            Err(Refusal::Missing(m)) if m.contains("ClientHello")
        ));
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\n"),
            Err(Refusal::Missing(_))
        ));
    }
}
