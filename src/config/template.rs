//! Route path templates and integration URL templates, parsed once at load time.

use std::collections::BTreeMap;

use http::uri::Authority;

use crate::path::check_path;

/// A route path such as `/items/{id}` or `/files/{proxy+}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    /// As written.
    pub raw: String,
    /// The segments after the leading `/`, parsed (empty for `/`).
    pub segments: Vec<Segment>,
    /// Parameter names in order.
    pub params: Vec<String>,
    /// Whether the last segment is a greedy `{name+}`.
    pub greedy: bool,
}

/// One segment of a route path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matched as written.
    Literal(String),
    /// `{name}`: one whole segment.
    Param(String),
    /// `{name+}`: one or more trailing segments.
    Greedy(String),
}

impl PathTemplate {
    /// Parse a route path; the error says what is wrong with it.
    pub fn parse(raw: &str) -> Result<PathTemplate, String> {
        if !raw.starts_with('/') {
            return Err(format!("path `{raw}` must start with `/`"));
        }
        let mut params = Vec::new();
        let mut parsed = Vec::new();
        let mut greedy = false;
        if raw != "/" {
            let segments: Vec<&str> = raw[1..].split('/').collect();
            for (i, seg) in segments.iter().enumerate() {
                if seg.is_empty() {
                    return Err(format!("path `{raw}` has an empty segment"));
                }
                if let Some(inner) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    let (name, plus) = match inner.strip_suffix('+') {
                        Some(n) => (n, true),
                        None => (inner, false),
                    };
                    if !valid_param_name(name) {
                        return Err(format!(
                            "path `{raw}`: `{seg}` is not a valid parameter (letters, digits, `_`, `-`)"
                        ));
                    }
                    if params.iter().any(|p| p == name) {
                        return Err(format!("path `{raw}` uses parameter `{name}` twice"));
                    }
                    if plus {
                        if i + 1 != segments.len() {
                            return Err(format!(
                                "path `{raw}`: greedy `{seg}` must be the last segment"
                            ));
                        }
                        greedy = true;
                        parsed.push(Segment::Greedy(name.to_owned()));
                    } else {
                        parsed.push(Segment::Param(name.to_owned()));
                    }
                    params.push(name.to_owned());
                } else if seg.contains(['{', '}']) {
                    return Err(format!(
                        "path `{raw}`: a parameter must be a whole segment, as in `/{{id}}`"
                    ));
                } else {
                    parsed.push(Segment::Literal((*seg).to_owned()));
                }
            }
            if let Err(e) = check_path(raw.replace(['{', '}', '+'], "").as_bytes()) {
                return Err(format!("path `{raw}`: {e}"));
            }
        }
        Ok(PathTemplate {
            raw: raw.to_owned(),
            segments: parsed,
            params,
            greedy,
        })
    }
}

fn valid_param_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `http` or `https` towards the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Where an integration sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntegrationTarget {
    /// A named `[upstream.NAME]` pool.
    Pool(String),
    /// One `host:port`, dialled directly.
    Direct(Authority),
    /// Nowhere: the gateway answers with a static response (API Gateway's `mock`).
    Mock(std::sync::Arc<MockResponse>),
}

/// A static response a `mock` route answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockResponse {
    /// Status code.
    pub status: http::StatusCode,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body.
    pub body: bytes::Bytes,
}

impl Integration {
    /// The integration of a `mock` route.
    pub fn mock(response: std::sync::Arc<MockResponse>) -> Integration {
        Integration {
            scheme: Scheme::Http,
            target: IntegrationTarget::Mock(response),
            path: Vec::new(),
            query: None,
            url: "mock".into(),
            parameters: Vec::new(),
            host: None,
        }
    }
}

/// One piece of an integration path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPart {
    /// Copied as is.
    Literal(String),
    /// Replaced by the value of a route path parameter.
    Param(String),
}

/// An integration URL for one route in one stage, stage variables already substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    /// Scheme towards the upstream.
    pub scheme: Scheme,
    /// Pool or direct target.
    pub target: IntegrationTarget,
    /// Path pieces; parameters are filled per request.
    pub path: Vec<PathPart>,
    /// Fixed query string of the integration, if any.
    pub query: Option<String>,
    /// The resolved URL, for logs and errors.
    pub url: String,
    /// Request parameter mappings, stage variables resolved.
    pub parameters: Vec<super::ParamMapping>,
    /// The `Host` sent upstream instead of the target's: a VPC link integration's `uri` host,
    /// as API Gateway sends it.
    pub host: Option<http::HeaderValue>,
}

const STAGE_VAR_PREFIX: &str = "${stageVariables.";

/// Replace `${stageVariables.NAME}` with the stage's values; the error names a missing variable.
pub(crate) fn substitute_stage_variables(
    template: &str,
    variables: &BTreeMap<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find(STAGE_VAR_PREFIX) {
        out.push_str(&rest[..start]);
        let after = &rest[start + STAGE_VAR_PREFIX.len()..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated `{STAGE_VAR_PREFIX}` in `{template}`"))?;
        let name = &after[..end];
        match variables.get(name) {
            Some(v) => out.push_str(v),
            None => return Err(undefined_variable(name, variables)),
        }
        rest = &after[end + 1..];
    }
    if rest.contains("${") {
        return Err(format!(
            "`{template}`: only `${{stageVariables.NAME}}` may be substituted"
        ));
    }
    out.push_str(rest);
    Ok(out)
}

/// "stage variable `backnd` is not defined (closest: `backend`)".
fn undefined_variable(name: &str, variables: &BTreeMap<String, String>) -> String {
    match closest(name, variables.keys().map(String::as_str)) {
        Some(c) => format!("stage variable `{name}` is not defined (closest: `{c}`)"),
        None if variables.is_empty() => {
            format!("stage variable `{name}` is not defined (the stage has no variables)")
        }
        None => format!(
            "stage variable `{name}` is not defined (the stage has: {})",
            variables.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The candidate nearest to `name` by edit distance (case-insensitive), when it is near
/// enough to be a likely typo: at most a third of the longer name's length, and at least 1.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    candidates
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance over characters, a swap of neighbours counting as one edit (optimal string
/// alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// API Gateway's rules for a stage variable: name `[A-Za-z0-9_]+`, value
/// `[A-Za-z0-9-._~:/?#&=,]+`; the error says which rule is broken.
pub(crate) fn check_stage_variable(name: &str, value: &str) -> Result<(), String> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "stage variable name `{name}` may only have letters, digits and `_` (API Gateway's rule)"
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~:/?#&=,".contains(c);
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "stage variable `{name}`: {bad:?} is not allowed in a value (API Gateway allows \
             letters, digits and -._~:/?#&=,)"
        ));
    }
    if value.is_empty() {
        return Err(format!("stage variable `{name}` is empty"));
    }
    Ok(())
}

impl Integration {
    /// Parse a resolved integration URL for a route whose template has `params`.
    /// A host without a port must name one of `pools`.
    pub fn parse(
        url: &str,
        params: &[String],
        pools: &dyn Fn(&str) -> bool,
    ) -> Result<Integration, String> {
        let (scheme, rest) = if let Some(r) = url.strip_prefix("http://") {
            (Scheme::Http, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (Scheme::Https, r)
        } else {
            return Err(format!(
                "integration `{url}` must start with `http://` or `https://`"
            ));
        };
        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..auth_end];
        let rest = &rest[auth_end..];
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q.to_owned())),
            None => (rest, None),
        };
        let path = if path.is_empty() { "/" } else { path };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("integration `{url}` has no valid host"));
        }
        let target = if !authority.contains(':') && pools(authority) {
            IntegrationTarget::Pool(authority.to_owned())
        } else {
            let parsed: Authority = authority
                .parse()
                .map_err(|_| format!("integration `{url}`: `{authority}` is not a valid host"))?;
            if parsed.port_u16().is_none() {
                return Err(format!(
                    "integration `{url}`: `{authority}` is not an [upstream.*] pool; \
                     write `host:port` to dial a host directly"
                ));
            }
            IntegrationTarget::Direct(parsed)
        };
        let parts = parse_integration_path(url, path, params)?;
        Ok(Integration {
            scheme,
            target,
            path: parts,
            query,
            url: url.to_owned(),
            parameters: Vec::new(),
            host: None,
        })
    }
}

fn parse_integration_path(
    url: &str,
    path: &str,
    params: &[String],
) -> Result<Vec<PathPart>, String> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        literal.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("integration `{url}`: unterminated `{{`"))?;
        let name = &rest[start + 1..start + end];
        let name = name.strip_suffix('+').unwrap_or(name);
        if name.starts_with("stageVariables.") {
            return Err(format!(
                "integration `{url}`: `{{{name}}}` is not a stage variable reference: write `${{{name}}}`"
            ));
        }
        if !params.iter().any(|p| p == name) {
            return Err(format!(
                "integration `{url}` uses `{{{name}}}`, which is not a parameter of the route path"
            ));
        }
        if !literal.is_empty() {
            parts.push(PathPart::Literal(std::mem::take(&mut literal)));
        }
        parts.push(PathPart::Param(name.to_owned()));
        rest = &rest[start + end + 1..];
    }
    literal.push_str(rest);
    if literal.contains('}') {
        return Err(format!("integration `{url}`: unmatched `}}`"));
    }
    if !literal.is_empty() {
        parts.push(PathPart::Literal(literal));
    }
    let flat: String = parts
        .iter()
        .map(|p| match p {
            PathPart::Literal(l) => l.as_str(),
            PathPart::Param(_) => "p",
        })
        .collect();
    if let Err(e) = check_path(flat.as_bytes()) {
        return Err(format!("integration `{url}`: {e}"));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_template_becomes_catch_all() {
        let t = PathTemplate::parse("/items/{proxy+}").unwrap();
        assert!(t.greedy);
        assert_eq!(t.params, vec!["proxy"]);
    }

    #[test]
    fn bad_templates_are_refused() {
        assert!(PathTemplate::parse("items").is_err());
        assert!(PathTemplate::parse("/a//b").is_err());
        assert!(PathTemplate::parse("/{p+}/x").is_err());
        assert!(PathTemplate::parse("/a{b}").is_err());
        assert!(PathTemplate::parse("/../x").is_err());
        assert!(PathTemplate::parse("/{a}/{a}").is_err());
    }

    #[test]
    fn stage_variables_substitute_or_name_the_missing_one() {
        let vars = BTreeMap::from([("backend".to_owned(), "pool".to_owned())]);
        assert_eq!(
            substitute_stage_variables("http://${stageVariables.backend}/x", &vars).unwrap(),
            "http://pool/x"
        );
        let err = substitute_stage_variables("http://${stageVariables.nope}/x", &vars).unwrap_err();
        assert!(err.contains("`nope`"), "{err}");
        assert!(err.contains("the stage has: backend"), "{err}");
        let err =
            substitute_stage_variables("http://${stageVariables.backnd}/x", &vars).unwrap_err();
        assert!(err.contains("(closest: `backend`)"), "{err}");
        // Without `$` it is no reference (and is left for the path checks).
        assert_eq!(
            substitute_stage_variables("http://pool/{stageVariables.x}", &vars).unwrap(),
            "http://pool/{stageVariables.x}"
        );
    }

    #[test]
    fn closest_names_are_likely_typos_only() {
        let names = ["backend", "tag", "vpcLinkId"];
        assert_eq!(closest("backnd", names.into_iter()), Some("backend"));
        assert_eq!(closest("Backend", names.into_iter()), Some("backend"));
        assert_eq!(closest("vpclinkid", names.into_iter()), Some("vpcLinkId"));
        assert_eq!(closest("tga", names.into_iter()), Some("tag"));
        assert_eq!(closest("region", names.into_iter()), None);
    }

    #[test]
    fn stage_variables_follow_api_gateway_rules() {
        assert!(check_stage_variable("backend_1", "10.0.0.1:8080/a?b=c&d=e,f#g~").is_ok());
        assert!(check_stage_variable("back-end", "x").is_err());
        assert!(check_stage_variable("", "x").is_err());
        let e = check_stage_variable("b", "a b").unwrap_err();
        assert!(e.contains("' '"), "{e}");
        assert!(check_stage_variable("b", "${x}").is_err());
        assert!(check_stage_variable("b", "").is_err());
    }

    #[test]
    fn integration_parses_pool_direct_and_params() {
        let params = vec!["proxy".to_owned()];
        let is_pool = |n: &str| n == "onprem";
        let i = Integration::parse("http://onprem/rest/items/{proxy}", &params, &is_pool).unwrap();
        assert_eq!(i.target, IntegrationTarget::Pool("onprem".into()));
        assert_eq!(
            i.path,
            vec![
                PathPart::Literal("/rest/items/".into()),
                PathPart::Param("proxy".into())
            ]
        );
        let d = Integration::parse("https://10.0.0.1:8443/x?a=1", &[], &is_pool).unwrap();
        assert_eq!(d.scheme, Scheme::Https);
        assert_eq!(d.query.as_deref(), Some("a=1"));
        assert!(Integration::parse("http://typo/x", &[], &is_pool).is_err());
        assert!(Integration::parse("http://onprem/{nope}", &[], &is_pool).is_err());
        assert!(Integration::parse("ftp://onprem/", &[], &is_pool).is_err());
    }
}
