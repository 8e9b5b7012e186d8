//! Request parameter mappings, API Gateway's `requestParameters`: a value of the upstream
//! request (`integration.request.{path,querystring,header}.NAME`) taken from the client's
//! request, a stage variable, a `$context` variable or a literal. Parsed at load time.

use http::HeaderName;

/// Where a mapped value goes in the upstream request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamTarget {
    /// Fills `{NAME}` in the integration URL's path.
    Path(String),
    /// Appended to the upstream query string.
    Query(String),
    /// Set as a header (the gateway's own forwarding headers still win).
    Header(HeaderName),
}

/// Where a mapped value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamSource {
    /// `method.request.path.NAME`: a route path parameter.
    Path(String),
    /// `method.request.querystring.NAME`: the first value.
    Query(String),
    /// `method.request.multivaluequerystring.NAME`: every value.
    MultiQuery(String),
    /// `method.request.header.NAME`: the first value.
    Header(HeaderName),
    /// `method.request.multivalueheader.NAME`: every value.
    MultiHeader(HeaderName),
    /// `stageVariables.NAME`, replaced by its value per stage.
    Stage(String),
    /// `context.VAR`.
    Context(ContextVar),
    /// `'literal'`.
    Static(String),
}

/// The `$context` variables a mapping can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextVar {
    /// `requestId`.
    RequestId,
    /// `stage`.
    Stage,
    /// `httpMethod`.
    HttpMethod,
    /// `resourcePath`, the route's path template.
    ResourcePath,
    /// `domainName`.
    DomainName,
    /// `identity.sourceIp`.
    SourceIp,
    /// `identity.clientCert.subjectDN`.
    CertSubjectDn,
    /// `identity.clientCert.issuerDN`.
    CertIssuerDn,
    /// `identity.clientCert.serialNumber`.
    CertSerial,
    /// `identity.clientCert.clientCertPem`.
    CertPem,
    /// `identity.clientCert.validity.notBefore`.
    CertNotBefore,
    /// `identity.clientCert.validity.notAfter`.
    CertNotAfter,
}

const CONTEXT_VARS: [(&str, ContextVar); 12] = [
    ("requestId", ContextVar::RequestId),
    ("stage", ContextVar::Stage),
    ("httpMethod", ContextVar::HttpMethod),
    ("resourcePath", ContextVar::ResourcePath),
    ("domainName", ContextVar::DomainName),
    ("identity.sourceIp", ContextVar::SourceIp),
    ("identity.clientCert.subjectDN", ContextVar::CertSubjectDn),
    ("identity.clientCert.issuerDN", ContextVar::CertIssuerDn),
    ("identity.clientCert.serialNumber", ContextVar::CertSerial),
    ("identity.clientCert.clientCertPem", ContextVar::CertPem),
    (
        "identity.clientCert.validity.notBefore",
        ContextVar::CertNotBefore,
    ),
    (
        "identity.clientCert.validity.notAfter",
        ContextVar::CertNotAfter,
    ),
];

/// One mapping: `target` gets the value of `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamMapping {
    /// Where the value goes.
    pub target: ParamTarget,
    /// Where it comes from.
    pub source: ParamSource,
}

impl ParamMapping {
    /// The mapping as API Gateway writes it: (`integration.request.*`, source).
    pub fn to_aws(&self) -> (String, String) {
        let target = match &self.target {
            ParamTarget::Path(n) => format!("integration.request.path.{n}"),
            ParamTarget::Query(n) => format!("integration.request.querystring.{n}"),
            ParamTarget::Header(n) => format!("integration.request.header.{n}"),
        };
        let source = match &self.source {
            ParamSource::Path(n) => format!("method.request.path.{n}"),
            ParamSource::Query(n) => format!("method.request.querystring.{n}"),
            ParamSource::MultiQuery(n) => format!("method.request.multivaluequerystring.{n}"),
            ParamSource::Header(n) => format!("method.request.header.{n}"),
            ParamSource::MultiHeader(n) => format!("method.request.multivalueheader.{n}"),
            ParamSource::Stage(n) => format!("stageVariables.{n}"),
            ParamSource::Context(v) => {
                let name = CONTEXT_VARS.iter().find(|(_, c)| c == v).map(|(n, _)| *n);
                format!("context.{}", name.unwrap_or_default())
            }
            ParamSource::Static(v) => format!("'{v}'"),
        };
        (target, source)
    }

    /// Parse `target = source` for a route whose path has `route_params`.
    pub fn parse(target: &str, source: &str, route_params: &[String]) -> Result<Self, String> {
        Ok(ParamMapping {
            target: parse_target(target)?,
            source: parse_source(source, route_params)?,
        })
    }
}

fn header_name(name: &str, whole: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{whole}`: `{name}` is not a header name"))
}

fn parse_target(t: &str) -> Result<ParamTarget, String> {
    let rest = t.strip_prefix("integration.request.").ok_or_else(|| {
        format!("`{t}` must start with `integration.request.` (path, querystring or header)")
    })?;
    let named = |prefix: &str| rest.strip_prefix(prefix).filter(|n| !n.is_empty());
    if let Some(n) = named("path.") {
        Ok(ParamTarget::Path(n.to_owned()))
    } else if let Some(n) = named("querystring.") {
        Ok(ParamTarget::Query(n.to_owned()))
    } else if let Some(n) = named("header.") {
        Ok(ParamTarget::Header(header_name(n, t)?))
    } else {
        Err(format!(
            "`{t}`: the target must be integration.request.path.NAME, .querystring.NAME or .header.NAME"
        ))
    }
}

fn parse_source(s: &str, route_params: &[String]) -> Result<ParamSource, String> {
    if let Some(lit) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Ok(ParamSource::Static(lit.to_owned()));
    }
    if let Some(name) = s.strip_prefix("stageVariables.").filter(|n| !n.is_empty()) {
        return Ok(ParamSource::Stage(name.to_owned()));
    }
    if let Some(var) = s.strip_prefix("context.") {
        return CONTEXT_VARS
            .iter()
            .find(|(n, _)| *n == var)
            .map(|(_, v)| ParamSource::Context(*v))
            .ok_or_else(|| {
                let known: Vec<&str> = CONTEXT_VARS.iter().map(|(n, _)| *n).collect();
                format!(
                    "`{s}`: context variable not supported here (supported: {})",
                    known.join(", ")
                )
            });
    }
    let rest = s.strip_prefix("method.request.").ok_or_else(|| {
        format!(
            "`{s}`: a source is method.request.*, stageVariables.NAME, context.VAR or a 'literal'"
        )
    })?;
    let (kind, name) = rest
        .split_once('.')
        .filter(|(_, n)| !n.is_empty())
        .ok_or_else(|| format!("`{s}`: expected method.request.KIND.NAME"))?;
    match kind {
        "path" if route_params.iter().any(|p| p == name) => Ok(ParamSource::Path(name.to_owned())),
        "path" => Err(format!(
            "`{s}`: `{name}` is not a parameter of the route path"
        )),
        "querystring" => Ok(ParamSource::Query(name.to_owned())),
        "multivaluequerystring" => Ok(ParamSource::MultiQuery(name.to_owned())),
        "header" => Ok(ParamSource::Header(header_name(name, s)?)),
        "multivalueheader" => Ok(ParamSource::MultiHeader(header_name(name, s)?)),
        _ => Err(format!(
            "`{s}`: `{kind}` is not path, querystring, multivaluequerystring, header or multivalueheader"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str, s: &str) -> Result<ParamMapping, String> {
        ParamMapping::parse(t, s, &["id".to_owned()])
    }

    #[test]
    fn every_source_and_target_kind_parses() {
        assert_eq!(
            p("integration.request.path.item", "method.request.path.id").unwrap(),
            ParamMapping {
                target: ParamTarget::Path("item".into()),
                source: ParamSource::Path("id".into())
            }
        );
        assert_eq!(
            p(
                "integration.request.header.x-dn",
                "context.identity.clientCert.subjectDN"
            )
            .unwrap()
            .source,
            ParamSource::Context(ContextVar::CertSubjectDn)
        );
        assert_eq!(
            p("integration.request.querystring.v", "'2'")
                .unwrap()
                .source,
            ParamSource::Static("2".into())
        );
        assert_eq!(
            p("integration.request.querystring.v", "stageVariables.ver")
                .unwrap()
                .source,
            ParamSource::Stage("ver".into())
        );
        assert_eq!(
            p(
                "integration.request.header.x-all",
                "method.request.multivalueheader.X-A"
            )
            .unwrap()
            .source,
            ParamSource::MultiHeader(HeaderName::from_static("x-a"))
        );
    }

    #[test]
    fn bad_mappings_say_what_is_wrong() {
        for (t, s, says) in [
            (
                "integration.response.header.x",
                "'a'",
                "integration.request.",
            ),
            ("integration.request.body.x", "'a'", "the target must be"),
            (
                "integration.request.path.x",
                "method.request.path.nope",
                "not a parameter",
            ),
            (
                "integration.request.header.x",
                "context.authorizer.claims",
                "not supported",
            ),
            (
                "integration.request.header.x",
                "method.request.body.x",
                "is not path",
            ),
            (
                "integration.request.header.bad name",
                "'a'",
                "not a header name",
            ),
        ] {
            let e = p(t, s).unwrap_err();
            assert!(e.contains(says), "{t} = {s}: {e}");
        }
    }
}
