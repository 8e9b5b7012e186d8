//! Which client-identity headers go upstream, chosen per domain or route (`identity_headers`,
//! `xfcc_elements`): Envoy's `x-forwarded-client-cert` with the elements the upstream wants,
//! and RFC 9440's `Client-Cert` and `Client-Cert-Chain`.

use http::HeaderName;

use super::ErrorSink;

/// Envoy's header, one element per proxy: `By=..;Hash=..;Subject="..";URI=..;DNS=..`.
pub const XFCC: HeaderName = HeaderName::from_static("x-forwarded-client-cert");
/// RFC 9440: the leaf certificate as a structured-field byte sequence, `:BASE64DER:`.
pub const CLIENT_CERT: HeaderName = HeaderName::from_static("client-cert");
/// RFC 9440: the certificates the client sent above its leaf, in TLS order.
pub const CLIENT_CERT_CHAIN: HeaderName = HeaderName::from_static("client-cert-chain");

/// Every identity header the gateway can emit: removed from every client request whatever
/// `[forwarding] strip_headers` lists, so an upstream never mistakes a client's copy for ours.
pub const EMITTED: [&str; 3] = [
    "x-forwarded-client-cert",
    "client-cert",
    "client-cert-chain",
];

/// The elements of an `x-forwarded-client-cert` value, as a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct XfccElements(u8);

impl XfccElements {
    /// The gateway's own certificate's URI SANs.
    pub const BY: XfccElements = XfccElements(1);
    /// SHA-256 of the client's DER leaf, hex.
    pub const HASH: XfccElements = XfccElements(2);
    /// The leaf, URL-encoded PEM.
    pub const CERT: XfccElements = XfccElements(4);
    /// The chain the client sent, leaf first, URL-encoded PEM.
    pub const CHAIN: XfccElements = XfccElements(8);
    /// The leaf's subject, RFC 4514.
    pub const SUBJECT: XfccElements = XfccElements(16);
    /// The leaf's URI SANs.
    pub const URI: XfccElements = XfccElements(32);
    /// The leaf's DNS SANs.
    pub const DNS: XfccElements = XfccElements(64);
    /// What the gateway sent before the choice existed: `Hash`, `Subject`, `URI`, `DNS`.
    pub const DEFAULT: XfccElements = Self::HASH
        .with(Self::SUBJECT)
        .with(Self::URI)
        .with(Self::DNS);

    /// The element names in Envoy's order, which is also the order they are written in.
    pub const NAMES: [(&'static str, XfccElements); 7] = [
        ("By", Self::BY),
        ("Hash", Self::HASH),
        ("Cert", Self::CERT),
        ("Chain", Self::CHAIN),
        ("Subject", Self::SUBJECT),
        ("URI", Self::URI),
        ("DNS", Self::DNS),
    ];

    /// The set with `other`'s elements added.
    pub const fn with(self, other: XfccElements) -> XfccElements {
        XfccElements(self.0 | other.0)
    }

    /// Whether every element of `other` is in the set.
    pub fn has(self, other: XfccElements) -> bool {
        self.0 & other.0 == other.0
    }

    /// Read `xfcc_elements = [...]` (names in any case); unknown names are errors at `key[i]`.
    fn parse(list: &[String], key: &str, sink: &mut ErrorSink) -> Option<XfccElements> {
        let mut set = 0u8;
        let mut ok = true;
        for (i, name) in list.iter().enumerate() {
            match Self::NAMES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                Some((_, e)) => set |= e.0,
                None => {
                    ok = false;
                    sink.push(
                        format!("{key}[{i}]"),
                        format!(
                            "`{name}` is not an x-forwarded-client-cert element (one of: {})",
                            Self::NAMES.map(|(n, _)| n).join(", ")
                        ),
                    );
                }
            }
        }
        ok.then_some(XfccElements(set))
    }
}

/// The identity headers sent upstream for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityHeaders {
    /// `x-forwarded-client-cert` with these elements, or none.
    pub xfcc: Option<XfccElements>,
    /// RFC 9440 `Client-Cert`.
    pub client_cert: bool,
    /// RFC 9440 `Client-Cert-Chain`.
    pub client_cert_chain: bool,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        IdentityHeaders {
            xfcc: Some(XfccElements::DEFAULT),
            client_cert: false,
            client_cert_chain: false,
        }
    }
}

impl IdentityHeaders {
    /// The names of the headers chosen, in `EMITTED` order.
    pub fn names(&self) -> Vec<&'static str> {
        let chosen = [
            self.xfcc.is_some(),
            self.client_cert,
            self.client_cert_chain,
        ];
        EMITTED
            .iter()
            .zip(chosen)
            .filter_map(|(name, on)| on.then_some(*name))
            .collect()
    }

    /// This choice with what `over` (a route's keys) sets replacing it.
    pub fn overlaid(self, over: &IdentityChoice) -> IdentityHeaders {
        let mut out = self;
        if let Some(h) = over.headers {
            out.client_cert = h.client_cert;
            out.client_cert_chain = h.client_cert_chain;
            out.xfcc = h.xfcc.then_some(out.xfcc.unwrap_or(XfccElements::DEFAULT));
        }
        if let (Some(e), Some(_)) = (over.elements, out.xfcc) {
            out.xfcc = Some(e);
        }
        out
    }
}

/// Which headers one level (a domain or a route) names, `identity_headers = [...]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderSet {
    /// `x-forwarded-client-cert` is named.
    pub xfcc: bool,
    /// `client-cert` is named.
    pub client_cert: bool,
    /// `client-cert-chain` is named.
    pub client_cert_chain: bool,
}

/// What one level's keys say; an unset key leaves the outer level's choice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdentityChoice {
    /// `identity_headers`, when set.
    pub headers: Option<HeaderSet>,
    /// `xfcc_elements`, when set.
    pub elements: Option<XfccElements>,
}

impl IdentityChoice {
    /// Read a level's `identity_headers` and `xfcc_elements`, errors named under `key`.
    pub fn parse(
        headers: Option<&[String]>,
        elements: Option<&[String]>,
        key: &str,
        sink: &mut ErrorSink,
    ) -> IdentityChoice {
        let headers = headers.and_then(|list| header_set(list, key, sink));
        let elements =
            elements.and_then(|l| XfccElements::parse(l, &format!("{key}.xfcc_elements"), sink));
        if let (Some(h), Some(_)) = (headers, elements) {
            if !h.xfcc {
                sink.push(
                    format!("{key}.xfcc_elements"),
                    "has no effect: identity_headers does not name x-forwarded-client-cert",
                );
            }
        }
        IdentityChoice { headers, elements }
    }
}

fn header_set(list: &[String], key: &str, sink: &mut ErrorSink) -> Option<HeaderSet> {
    let key = format!("{key}.identity_headers");
    let mut set = HeaderSet {
        xfcc: false,
        client_cert: false,
        client_cert_chain: false,
    };
    let mut ok = true;
    for (i, name) in list.iter().enumerate() {
        match name.to_ascii_lowercase().as_str() {
            "x-forwarded-client-cert" => set.xfcc = true,
            "client-cert" => set.client_cert = true,
            "client-cert-chain" => set.client_cert_chain = true,
            _ => {
                ok = false;
                sink.push(
                    format!("{key}[{i}]"),
                    format!(
                        "`{name}` is not an identity header the gateway sends (one of: {})",
                        EMITTED.join(", ")
                    ),
                );
            }
        }
    }
    if set.client_cert_chain && !set.client_cert {
        ok = false;
        sink.push(
            key,
            "client-cert-chain goes with client-cert (RFC 9440 sends the chain only beside the leaf)",
        );
    }
    ok.then_some(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_route_choice_replaces_only_the_keys_it_sets() {
        let domain = IdentityHeaders {
            xfcc: Some(XfccElements::HASH),
            client_cert: true,
            client_cert_chain: false,
        };
        let only_elements = IdentityChoice {
            headers: None,
            elements: Some(XfccElements::DNS),
        };
        assert_eq!(
            domain.overlaid(&only_elements).xfcc,
            Some(XfccElements::DNS)
        );
        assert!(domain.overlaid(&only_elements).client_cert);
        let no_xfcc = IdentityChoice {
            headers: Some(HeaderSet {
                xfcc: false,
                client_cert: true,
                client_cert_chain: true,
            }),
            elements: None,
        };
        let o = domain.overlaid(&no_xfcc);
        assert_eq!(o.xfcc, None);
        assert!(o.client_cert_chain);
    }
}
