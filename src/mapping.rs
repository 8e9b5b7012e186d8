//! Request parameter mappings applied to one request: the values API Gateway's
//! `requestParameters` name, read from the client's request, the route, the connection's
//! identity or a literal, and put into the upstream path, query and headers.

use std::borrow::Cow;
use std::net::IpAddr;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri};

use crate::config::{ContextVar, ParamMapping, ParamSource, ParamTarget};
use crate::percent::encoded as encode;
use crate::routing::RouteMatch;
use crate::tls::ClientIdentity;
use crate::tls::identity::validity_text;

/// What a mapping can read for one request.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The client's method.
    pub method: &'a Method,
    /// The client's target.
    pub uri: &'a Uri,
    /// The client's headers, before any are stripped.
    pub headers: &'a HeaderMap,
    /// The matched route's path parameters.
    pub matched: &'a RouteMatch<'a, 'a>,
    /// The request id.
    pub request_id: &'a HeaderValue,
    /// The stage name.
    pub stage: &'a str,
    /// The route's path template, such as `/items/{id}`.
    pub resource_path: &'a str,
    /// The domain (SNI) name.
    pub domain: &'a str,
    /// The client's IP address.
    pub source_ip: IpAddr,
    /// The client's verified identity.
    pub identity: &'a ClientIdentity,
}

/// What the mappings add to the upstream request.
#[derive(Debug, Default)]
pub struct Mapped {
    /// Values for `{NAME}` in the integration path, percent-encoded as one segment.
    pub path: Vec<(String, String)>,
    /// Query pairs appended to the upstream query, encoded.
    pub query: Vec<(String, String)>,
    /// Headers to set.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Mapped {
    /// Apply every mapping to the request `inputs` describes; a value a header cannot carry
    /// is left out.
    pub fn apply(mappings: &[ParamMapping], inputs: &Inputs<'_>) -> Mapped {
        let mut out = Mapped::default();
        for m in mappings {
            // A path parameter into the path stays as the client sent it (a greedy one keeps
            // its slashes): it passed the path check already.
            if let (ParamTarget::Path(name), ParamSource::Path(from)) = (&m.target, &m.source) {
                if let Some(raw) = inputs.matched.param(from) {
                    out.path.push((name.clone(), raw.to_owned()));
                }
                continue;
            }
            let values = values(&m.source, inputs);
            match &m.target {
                ParamTarget::Path(name) => {
                    if let Some(v) = values.first() {
                        out.path.push((name.clone(), encode(v, PATH_SEGMENT)));
                    }
                }
                ParamTarget::Query(name) => {
                    for v in &values {
                        out.query.push((encode(name, QUERY), encode(v, QUERY)));
                    }
                }
                ParamTarget::Header(name) => {
                    for v in values {
                        match HeaderValue::from_str(&v) {
                            Ok(hv) => out.headers.push((name.clone(), hv)),
                            Err(_) => {
                                tracing::debug!(header = %name, "mapped value is not a valid header value; left out")
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// The mapped value for path parameter `name`, if any.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        self.path
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The value(s) of one source: one for single-valued sources, every one for multi-valued ones.
fn values<'a>(source: &'a ParamSource, i: &Inputs<'a>) -> Vec<Cow<'a, str>> {
    match source {
        ParamSource::Path(n) => i
            .matched
            .param(n)
            .map(|v| vec![percent_decode(v)])
            .unwrap_or_default(),
        ParamSource::Query(n) => query_values(i.uri, n).into_iter().take(1).collect(),
        ParamSource::MultiQuery(n) => query_values(i.uri, n),
        ParamSource::Header(n) => i
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(|v| vec![Cow::Borrowed(v)])
            .unwrap_or_default(),
        ParamSource::MultiHeader(n) => i
            .headers
            .get_all(n)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(Cow::Borrowed)
            .collect(),
        ParamSource::Static(v) | ParamSource::Stage(v) => vec![Cow::Borrowed(v.as_str())],
        ParamSource::Context(var) => vec![context(*var, i)],
    }
}

fn context<'a>(var: ContextVar, i: &Inputs<'a>) -> Cow<'a, str> {
    let id = i.identity;
    match var {
        ContextVar::RequestId => Cow::Borrowed(i.request_id.to_str().unwrap_or("")),
        ContextVar::Stage => Cow::Borrowed(i.stage),
        ContextVar::HttpMethod => Cow::Borrowed(i.method.as_str()),
        ContextVar::ResourcePath => Cow::Borrowed(i.resource_path),
        ContextVar::DomainName => Cow::Borrowed(i.domain),
        ContextVar::SourceIp => Cow::Owned(i.source_ip.to_string()),
        ContextVar::CertSubjectDn => Cow::Borrowed(id.subject.as_str()),
        ContextVar::CertIssuerDn => Cow::Borrowed(id.issuer.as_str()),
        ContextVar::CertSerial => Cow::Borrowed(id.serial.as_str()),
        // A PEM has line breaks, which no header can carry: one line, as API Gateway's
        // single-line form in mapped headers.
        ContextVar::CertPem => Cow::Owned(
            id.pem()
                .replace("\r\n", "\n")
                .replace('\n', " ")
                .trim()
                .to_owned(),
        ),
        ContextVar::CertNotBefore => Cow::Owned(validity_text(id.not_before)),
        ContextVar::CertNotAfter => Cow::Owned(validity_text(id.not_after)),
    }
}

/// Every (decoded) value of query parameter `name`.
fn query_values<'a>(uri: &'a Uri, name: &str) -> Vec<Cow<'a, str>> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (
                crate::percent::hex_digit(b[i + 1]),
                crate::percent::hex_digit(b[i + 2]),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Bytes kept as they are in a path segment (RFC 3986 unreserved plus a few sub-delims).
const PATH_SEGMENT: &[u8] = b"-._~!$&'()*+,;=:@";
/// Bytes kept as they are in a query key or value.
const QUERY: &[u8] = b"-._~!$'()*,;:@/?";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_encoded_for_where_they_go() {
        assert_eq!(encode("a b/c", PATH_SEGMENT), "a%20b%2Fc");
        assert_eq!(encode("x=1&y", QUERY), "x%3D1%26y");
    }

    #[test]
    fn query_values_are_decoded_in_order() {
        let uri: Uri = "/p?a=1&b=x%20y&a=2&c".parse().unwrap();
        assert_eq!(query_values(&uri, "a"), ["1", "2"]);
        assert_eq!(query_values(&uri, "b"), ["x y"]);
        assert_eq!(query_values(&uri, "c"), [""]);
        assert!(query_values(&uri, "d").is_empty());
    }

    #[test]
    fn percent_decoding_keeps_broken_escapes() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
