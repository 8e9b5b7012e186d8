//! The identity headers set on an upstream request, as its domain or route chose them: the
//! connection's prebuilt `x-forwarded-client-cert` when the elements match, else one built for
//! the request, and RFC 9440's `Client-Cert` and `Client-Cert-Chain`.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};

use crate::config::IdentityHeaders;
use crate::config::identity_headers::{CLIENT_CERT, CLIENT_CERT_CHAIN, XFCC};
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
}

/// Set the chosen identity headers on an upstream request; nothing for an unverified client.
pub(super) fn insert(headers: &mut HeaderMap, choice: IdentityHeaders, src: Sources<'_>) {
    if !src.identity.is_verified() {
        return;
    }
    if let Some(elements) = choice.xfcc {
        let value = if elements == src.identity.xfcc_elements {
            Some(src.identity.xfcc.clone())
        } else {
            HeaderValue::from_str(&crate::tls::xfcc::value(
                elements,
                src.identity,
                src.chain,
                src.by,
            ))
            .ok()
        };
        if let Some(v) = value {
            headers.insert(XFCC, v);
        }
    }
    let chain = src.chain.unwrap_or_default();
    if choice.client_cert {
        if let Some(leaf) = chain.first().filter(|l| !l.is_empty()) {
            headers.insert(CLIENT_CERT, byte_sequences(std::slice::from_ref(leaf)));
        }
    }
    if choice.client_cert_chain && chain.len() > 1 {
        headers.insert(CLIENT_CERT_CHAIN, byte_sequences(&chain[1..]));
    }
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
