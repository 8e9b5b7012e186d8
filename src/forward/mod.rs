//! Building the upstream request from the client's: the rewritten URI, hop-by-hop headers
//! removed, forwarding and identity headers set (never trusted from the client).

use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Request, Uri, Version};

mod identity;

pub use identity::{Built as BuiltIdentity, Sources};

use crate::body::RequestBody;
use crate::config::{Forwarding, Integration, PathPart};
use crate::mapping::Mapped;
use crate::routing::RouteMatch;

/// `x-forwarded-for`.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `x-forwarded-proto`.
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `x-forwarded-host`.
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// `x-request-id`, kept from the client or generated, and echoed in the response.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `x-amzn-RequestId`: API Gateway's request id header, on every response (the same id as
/// `x-request-id`, the access log and the upstream's `x-request-id`).
pub const X_AMZN_REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
/// `forwarded` (RFC 7239): a client could use it to spoof its origin, so it is removed.
pub const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Hop-by-hop headers (RFC 9110 §7.6.1) never forwarded in either direction.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

/// Remove hop-by-hop headers, including those the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most requests carry none: one pass over the few names present is cheaper than a
    // lookup for each hop-by-hop name.
    let hop_by_hop = |n: &HeaderName| *n == header::TRANSFER_ENCODING || HOP_BY_HOP.contains(n);
    if !headers.keys().any(hop_by_hop) {
        return;
    }
    if let Some(conn) = headers.get(header::CONNECTION) {
        let named: Vec<HeaderName> = conn
            .to_str()
            .unwrap_or("")
            .split(',')
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::TRANSFER_ENCODING);
}

/// The upstream path and query for a matched route: `{NAME}` from the mappings, else from the
/// route's path parameters; mapped query pairs after the integration's and the client's.
pub fn upstream_path_and_query(
    integration: &Integration,
    matched: &RouteMatch<'_, '_>,
    client_query: Option<&str>,
    mapped: Option<&Mapped>,
) -> String {
    let mut out = String::with_capacity(64);
    for part in &integration.path {
        match part {
            PathPart::Literal(l) => out.push_str(l),
            PathPart::Param(name) => out.push_str(
                mapped
                    .and_then(|m| m.path_param(name))
                    .or_else(|| matched.param(name))
                    .unwrap_or(""),
            ),
        }
    }
    match (integration.query.as_deref(), client_query) {
        (Some(a), Some(b)) if !b.is_empty() => {
            out.push('?');
            out.push_str(a);
            out.push('&');
            out.push_str(b);
        }
        (Some(q), _) | (None, Some(q)) => {
            out.push('?');
            out.push_str(q);
        }
        (None, None) => {}
    }
    for (k, v) in mapped.map(|m| m.query.as_slice()).unwrap_or_default() {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Everything about the client connection the upstream request needs.
#[derive(Debug, Clone, Copy)]
pub struct ClientSide<'a> {
    /// The client's IP address as an `X-Forwarded-For` value (built once per connection).
    pub forwarded_for: &'a HeaderValue,
    /// Verified identity, and what its headers are built from.
    pub identity: Sources<'a>,
    /// Which identity headers go upstream.
    pub identity_headers: crate::config::IdentityHeaders,
    /// Request id.
    pub request_id: &'a HeaderValue,
    /// Identity-carrying headers to remove.
    pub forwarding: &'a Forwarding,
}

/// Remove every header `forwarding` names: a client must not be able to pose as another
/// identity (or as API Gateway) to the upstream.
pub fn strip_identity_headers(headers: &mut HeaderMap, forwarding: &Forwarding) {
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| forwarding.strips(n.as_str()))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
}

/// Turn the client's request parts into the upstream request: client identity headers
/// stripped, then the route's mapped headers set, then the gateway's own forwarding headers,
/// which always win.
pub fn upstream_request(
    mut parts: Parts,
    body: RequestBody,
    uri: Uri,
    upstream_host: &HeaderValue,
    client: ClientSide<'_>,
    mapped_headers: &[(HeaderName, HeaderValue)],
) -> Request<RequestBody> {
    // The authority the request was routed by: `:authority` (h2) or the absolute-form target,
    // else `Host` (the service refused a request where the two disagree).
    let original_host = parts
        .uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        .or_else(|| parts.headers.get(header::HOST).cloned());
    let h = &mut parts.headers;
    strip_hop_by_hop(h);
    strip_identity_headers(h, client.forwarding);
    h.remove(header::EXPECT);
    h.remove(FORWARDED);
    for (name, value) in mapped_headers {
        h.insert(name.clone(), value.clone());
    }
    identity::insert(h, client.identity_headers, client.identity);
    h.insert(X_FORWARDED_FOR, client.forwarded_for.clone());
    h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
    if let Some(host) = original_host {
        h.insert(X_FORWARDED_HOST, host);
    }
    h.insert(X_REQUEST_ID, client.request_id.clone());
    h.insert(header::HOST, upstream_host.clone());
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    Request::from_parts(parts, body)
}

/// The `X-Forwarded-For` value for a client: its IP address (a client-sent value is replaced,
/// never trusted or appended to).
pub fn forwarded_for(peer: SocketAddr) -> HeaderValue {
    HeaderValue::from_str(&peer.ip().to_string()).unwrap_or(HeaderValue::from_static("unknown"))
}

/// Keep a sane client-sent request id, else make one.
pub fn request_id(headers: &http::HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(X_REQUEST_ID) {
        let b = v.as_bytes();
        if !b.is_empty()
            && b.len() <= 128
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
        {
            return v.clone();
        }
    }
    // A random (version 4) UUID, formatted without intermediate allocations.
    let mut r: [u8; 16] = rand::random();
    r[6] = (r[6] & 0x0f) | 0x40;
    r[8] = (r[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 36];
    let mut j = 0;
    for (i, b) in r.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out[j] = b'-';
            j += 1;
        }
        out[j] = HEX[(b >> 4) as usize];
        out[j + 1] = HEX[(b & 15) as usize];
        j += 2;
    }
    HeaderValue::from_bytes(&out).unwrap_or(HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["x-kept"]);
    }

    #[test]
    fn each_hop_by_hop_header_alone_is_removed() {
        for name in HOP_BY_HOP.iter().chain([&header::TRANSFER_ENCODING]) {
            let mut h = HeaderMap::new();
            h.insert("x-kept", HeaderValue::from_static("1"));
            h.insert(name.clone(), HeaderValue::from_static("v"));
            strip_hop_by_hop(&mut h);
            assert_eq!(
                h.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
                ["x-kept"],
                "{name}"
            );
        }
    }

    /// What is left of a request with these header names after `forwarding` strips it.
    fn left_after(names: &[&str], forwarding: &Forwarding) -> Vec<String> {
        let mut h = HeaderMap::new();
        for name in names {
            h.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("v"),
            );
        }
        strip_identity_headers(&mut h, forwarding);
        h.keys().map(|k| k.as_str().to_owned()).collect()
    }

    #[test]
    fn identity_headers_and_underscore_names_are_stripped_by_default() {
        let names = [
            "x-forwarded-client-cert",
            "client-cert",
            "client-cert-chain",
            "x-ssl-client-s-dn",
            "x-client-cert-sha256",
            "x-client-verify",
            "x-client-dn",
            "x-amzn-requestid",
            "x_ssl_client_s_dn",
            "x-kept",
        ];
        assert_eq!(left_after(&names, &Forwarding::default()), ["x-kept"]);
    }

    #[test]
    fn the_headers_the_gateway_emits_are_stripped_whatever_the_configured_list() {
        let names = [
            "x-forwarded-client-cert",
            "Client-Cert",
            "client-cert-chain",
            "x-ssl-client-dn",
        ];
        let custom = Forwarding::new(["x-other"], false);
        assert_eq!(left_after(&names, &custom), ["x-ssl-client-dn"]);
    }

    #[test]
    fn request_id_keeps_a_sane_one_and_replaces_anything_else() {
        let mut h = HeaderMap::new();
        h.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123_x.y:z"));
        assert_eq!(request_id(&h), "abc-123_x.y:z");
        for bad in ["", "has space", "semi;colon"] {
            h.insert(X_REQUEST_ID, HeaderValue::from_str(bad).unwrap());
            let id = request_id(&h);
            assert_ne!(id, bad);
            assert_eq!(id.len(), 36, "{id:?}");
        }
        assert_ne!(request_id(&HeaderMap::new()), request_id(&HeaderMap::new()));
    }

    #[test]
    fn forwarded_for_is_the_peer_address_only() {
        let v = forwarded_for("10.1.2.3:4567".parse().unwrap());
        assert_eq!(v, "10.1.2.3");
    }
}
