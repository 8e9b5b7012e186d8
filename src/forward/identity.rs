//! The identity headers set on an upstream request, as its domain or route chose them: the
//! connection's prebuilt `x-forwarded-client-cert` when the elements match, else one built on
//! the connection's first request that asks for it, and RFC 9440's `Client-Cert` and
//! `Client-Cert-Chain`, also built once per connection.

use std::sync::{Arc, OnceLock};

use http::{HeaderMap, HeaderValue};

use crate::config::IdentityHeaders;
use crate::config::identity_headers::{CLIENT_CERT, CLIENT_CERT_CHAIN, XFCC, XfccElements};
use crate::tls::ClientIdentity;

/// What the identity headers are built from: the connection's verified client.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The verified identity (its `xfcc` is prebuilt for `identity.xfcc_elements`).
    pub identity: &'a ClientIdentity,
    /// The chain the client sent, leaf first.
    pub chain: Option<&'a [Arc<[u8]>]>,
    /// The URI SANs of the gateway's certificate for the domain, for `By`.
    pub by: &'a [String],
    /// The `By` the prebuilt `identity.xfcc` holds (the domain's when the connection began).
    pub prebuilt_by: &'a [String],
    /// Values built on earlier requests of the connection.
    pub built: &'a Built,
}

/// Identity header values a connection built for an earlier request: the client and its chain
/// do not change while it lasts, so neither do they.
#[derive(Debug, Default)]
pub struct Built {
    client_cert: OnceLock<HeaderValue>,
    client_cert_chain: OnceLock<HeaderValue>,
    /// The first `x-forwarded-client-cert` built with other elements than the prebuilt one,
    /// with the elements and `By` it was built with.
    xfcc: OnceLock<(XfccElements, Vec<String>, HeaderValue)>,
}

/// Set the chosen identity headers on an upstream request; nothing for an unverified client.
pub(super) fn insert(headers: &mut HeaderMap, choice: IdentityHeaders, src: Sources<'_>) {
    if !src.identity.is_verified() {
        return;
    }
    if let Some(elements) = choice.xfcc {
        if let Some(v) = xfcc(elements, src) {
            headers.insert(XFCC, v);
        }
    }
    let chain = src.chain.unwrap_or_default();
    if choice.client_cert {
        if let Some(leaf) = chain.first().filter(|l| !l.is_empty()) {
            let v = src
                .built
                .client_cert
                .get_or_init(|| byte_sequences(std::slice::from_ref(leaf)));
            headers.insert(CLIENT_CERT, v.clone());
        }
    }
    if choice.client_cert_chain && chain.len() > 1 {
        let v = src
            .built
            .client_cert_chain
            .get_or_init(|| byte_sequences(&chain[1..]));
        headers.insert(CLIENT_CERT_CHAIN, v.clone());
    }
}

/// The `x-forwarded-client-cert` value with `elements`: the prebuilt one, the one built on an
/// earlier request, or a new one (kept for the next request when it is the first).
fn xfcc(elements: XfccElements, src: Sources<'_>) -> Option<HeaderValue> {
    // `By` names the gateway's certificate, which a reload may have changed since.
    let same_by = |by: &[String]| !elements.has(XfccElements::BY) || by == src.by;
    if elements == src.identity.xfcc_elements && same_by(src.prebuilt_by) {
        return Some(src.identity.xfcc.clone());
    }
    if let Some((e, by, v)) = src.built.xfcc.get() {
        if *e == elements && same_by(by) {
            return Some(v.clone());
        }
    }
    let value = crate::tls::xfcc::value(elements, src.identity, src.chain, src.by);
    let v = HeaderValue::from_str(&value).ok()?;
    let _ = src.built.xfcc.set((elements, src.by.to_vec(), v.clone()));
    Some(v)
}

/// An RFC 8941 list of byte sequences: `:BASE64:, :BASE64:` (one item: `Client-Cert`).
fn byte_sequences(certs: &[Arc<[u8]>]) -> HeaderValue {
    use base64::Engine as _;
    let mut out = String::new();
    for (i, der) in certs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push(':');
        base64::engine::general_purpose::STANDARD.encode_string(der, &mut out);
        out.push(':');
    }
    // Base64, colons, commas and spaces only: always a valid header value.
    HeaderValue::from_str(&out).unwrap_or(HeaderValue::from_static(""))
}
