//! What `portcullis import` prints: the routes as text or JSON, or as Portcullis TOML.

use std::fmt::Write as _;

use serde_json::json;

use super::{Connection, DEFAULT_TIMEOUT_MS, Import, ImportedRoute, Outcome, UpstreamSpec};

/// Where a servable route goes: the Portcullis integration URL template for it.
///
/// A VPC link becomes `scheme://POOL/path` when `link_pool` names its pool (`None`: not
/// expressible). A literal host without a port gets the scheme's port, so it is dialled as AWS
/// dials it, unless `is_pool` says a pool has its name (a pool still wins, as for TOML routes).
pub fn integration_template(
    up: &UpstreamSpec,
    link_pool: Option<&str>,
    is_pool: &dyn Fn(&str) -> bool,
) -> Option<String> {
    let (scheme, rest) = up.uri.split_once("://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match &up.connection {
        Connection::VpcLink(_) => link_pool?.to_owned(),
        Connection::Internet => {
            let has_port = authority
                .rsplit_once(':')
                .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            if has_port || authority.contains("${") || is_pool(authority) || authority.is_empty() {
                authority.to_owned()
            } else {
                let port = if scheme.eq_ignore_ascii_case("https") {
                    443
                } else {
                    80
                };
                format!("{authority}:{port}")
            }
        }
    };
    Some(format!("{scheme}://{authority}{tail}"))
}

fn upstream_method(up: &UpstreamSpec) -> String {
    up.method.as_ref().map_or_else(
        || "ANY (the client's method)".to_owned(),
        ToString::to_string,
    )
}

fn methods_label(r: &ImportedRoute) -> String {
    if r.any {
        let m: Vec<&str> = r.methods.iter().map(http::Method::as_str).collect();
        format!(" (ANY = {})", m.join(" "))
    } else {
        String::new()
    }
}

/// The human report: one block per route, API-wide notes, then the summary line.
pub fn to_text(import: &Import, file: &str, stage: Option<&str>) -> String {
    let mut out = String::new();
    let _ = write!(out, "{file}: {}", import.describe);
    if let Some(s) = stage {
        let _ = write!(out, ", stage {s}");
    }
    out.push('\n');
    for r in &import.routes {
        match &r.outcome {
            Outcome::Servable => {
                let _ = writeln!(out, "servable     {}{}", r.name(), methods_label(r));
                if let Some(c) = r.closed {
                    let _ = writeln!(out, "  closed     {}", c.answer());
                }
                if let Some(m) = &r.mock {
                    let headers: Vec<String> =
                        m.headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
                    let _ = writeln!(
                        out,
                        "  mock       {}{}",
                        m.status,
                        if headers.is_empty() {
                            String::new()
                        } else {
                            format!(" {}", headers.join(", "))
                        }
                    );
                }
                if let Some(up) = &r.upstream {
                    let _ = writeln!(out, "  upstream   {} {}", upstream_method(up), up.uri);
                    if let Connection::VpcLink(id) = &up.connection {
                        let _ = writeln!(out, "  vpc link   {id}");
                    }
                    for (stage, url) in &r.resolved {
                        let _ = writeln!(out, "  stage {stage}: {url}");
                    }
                    for (target, source) in &up.parameters {
                        let _ = writeln!(out, "  mapping    {target} <- {source}");
                    }
                    let _ = writeln!(out, "  timeout    {} ms", up.timeout_ms);
                }
                for n in &r.notes {
                    let _ = writeln!(out, "  note       {n}");
                }
            }
            Outcome::Unsupported(f) => {
                let _ = writeln!(
                    out,
                    "unsupported  {}{}: {}: {}",
                    r.name(),
                    methods_label(r),
                    f.name(),
                    f.reason()
                );
            }
            Outcome::Error(p) => {
                let _ = writeln!(
                    out,
                    "error        {}: {file}#{}: {}",
                    r.name(),
                    p.pointer,
                    p.reason
                );
            }
        }
    }
    for n in &import.api_notes {
        let _ = writeln!(out, "api          {n}");
    }
    for p in &import.api_errors {
        let _ = writeln!(out, "error        {file}#{}: {}", p.pointer, p.reason);
    }
    let _ = writeln!(out, "{}", summary_line(import));
    out
}

/// `N routes: N servable, N unsupported, N errors`.
pub fn summary_line(import: &Import) -> String {
    let s = import.summary();
    format!(
        "{} routes: {} servable, {} unsupported, {} errors",
        s.routes, s.servable, s.unsupported, s.errors
    )
}

/// The report as JSON, for machines.
pub fn to_json(import: &Import, file: &str, stage: Option<&str>) -> serde_json::Value {
    let routes: Vec<serde_json::Value> = import
        .routes
        .iter()
        .map(|r| {
            let mut v = json!({
                "route": r.name(),
                "methods": r.methods.iter().map(http::Method::as_str).collect::<Vec<_>>(),
                "any": r.any,
                "path": r.path,
                "pointer": r.pointer,
                "status": r.outcome.label(),
                "notes": r.notes,
                "authorization": r.authorization,
                "closed": r.closed,
                "api_key_required": r.api_key_required,
            });
            if let Some(up) = &r.upstream {
                v["upstream"] = json!({
                    "method": up.method.as_ref().map(http::Method::as_str),
                    "uri": up.uri,
                    "vpc_link": match &up.connection {
                        Connection::VpcLink(id) => Some(id.as_str()),
                        Connection::Internet => None,
                    },
                    "timeout_ms": up.timeout_ms,
                    "path_mappings": up.path_mappings.iter()
                        .map(|(to, from)| json!({"integration": to, "method": from}))
                        .collect::<Vec<_>>(),
                    "resolved": r.resolved.iter()
                        .map(|(stage, url)| json!({"stage": stage, "url": url}))
                        .collect::<Vec<_>>(),
                });
            }
            match &r.outcome {
                Outcome::Servable => {}
                Outcome::Unsupported(f) => {
                    v["feature"] = json!(f.name());
                    v["reason"] = json!(f.reason());
                }
                Outcome::Error(p) => {
                    v["error_pointer"] = json!(p.pointer);
                    v["reason"] = json!(p.reason);
                }
            }
            v
        })
        .collect();
    json!({
        "file": file,
        "definition": import.describe,
        "stage": stage,
        "routes": routes,
        "api_notes": import.api_notes,
        "api_errors": import.api_errors,
        "summary": import.summary(),
    })
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// The servable routes as `[[api.NAME.routes]]` tables (`ANY` written out method by method, as
/// API Gateway means it); the others as comments saying why they are left out.
/// `integration` gives each route's Portcullis integration template (`None`: not expressible).
pub fn to_toml(
    import: &Import,
    file: &str,
    api: &str,
    integration: &dyn Fn(&ImportedRoute) -> Option<String>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# The routes of {file} ({}), as Portcullis TOML.\n# Add [api.{api}.stages.STAGE] variables, \
         the pools and a [[domain.mapping]] (see config/gateway.toml).",
        import.describe
    );
    for r in &import.routes {
        out.push('\n');
        let why = match &r.outcome {
            Outcome::Servable => None,
            Outcome::Unsupported(f) => Some(format!("{}: {}", f.name(), f.reason())),
            Outcome::Error(p) => Some(format!("error at {}: {}", p.pointer, p.reason)),
        };
        if let (Some(m), None) = (&r.mock, &why) {
            let _ = writeln!(out, "# {}  ({}){}", r.name(), r.pointer, methods_label(r));
            let headers: Vec<String> = m
                .headers
                .iter()
                .map(|(n, v)| format!("{} = {}", toml_string(n), toml_string(v)))
                .collect();
            for method in &r.methods {
                let _ = writeln!(out, "[[api.{api}.routes]]");
                let _ = writeln!(out, "method = {}", toml_string(method.as_str()));
                let _ = writeln!(out, "path = {}", toml_string(&r.path));
                if r.api_key_required {
                    let _ = writeln!(out, "api_key_required = true");
                }
                if headers.is_empty() {
                    let _ = writeln!(out, "mock = {{ status = {} }}", m.status);
                } else {
                    let _ = writeln!(
                        out,
                        "mock = {{ status = {}, headers = {{ {} }} }}",
                        m.status,
                        headers.join(", ")
                    );
                }
                if let Some(c) = r.closed {
                    let _ = writeln!(out, "closed = {}", toml_string(c.as_str()));
                }
            }
            continue;
        }
        let url = r.upstream.as_ref().and_then(|_| integration(r));
        let (Some(up), Some(url), None) = (&r.upstream, url, &why) else {
            let why = why.unwrap_or_else(|| {
                "its VPC link's pool depends on the stage; TOML routes name one pool".to_owned()
            });
            let _ = writeln!(out, "# not emitted: {}: {why}", r.name());
            continue;
        };
        let _ = writeln!(out, "# {}  ({}){}", r.name(), r.pointer, methods_label(r));
        for n in &r.notes {
            let _ = writeln!(out, "# note: {n}");
        }
        for m in &r.methods {
            let _ = writeln!(out, "[[api.{api}.routes]]");
            let _ = writeln!(out, "method = {}", toml_string(m.as_str()));
            let _ = writeln!(out, "path = {}", toml_string(&r.path));
            let _ = writeln!(out, "integration = {}", toml_string(&url));
            if up.timeout_ms != DEFAULT_TIMEOUT_MS {
                let _ = writeln!(out, "timeout_ms = {}", up.timeout_ms);
            }
            if let Some(m) = &up.method {
                let _ = writeln!(out, "upstream_method = {}", toml_string(m.as_str()));
            }
            if let Some(c) = r.closed {
                let _ = writeln!(out, "closed = {}", toml_string(c.as_str()));
            }
            if r.api_key_required {
                let _ = writeln!(out, "api_key_required = true");
            }
            if !up.parameters.is_empty() {
                let pairs: Vec<String> = up
                    .parameters
                    .iter()
                    .map(|(t, s)| format!("{} = {}", toml_string(t), toml_string(s)))
                    .collect();
                let _ = writeln!(out, "request_parameters = {{ {} }}", pairs.join(", "));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(uri: &str, connection: Connection) -> UpstreamSpec {
        UpstreamSpec {
            method: None,
            uri: uri.to_owned(),
            connection,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            path_mappings: vec![],
            parameters: vec![],
        }
    }

    #[test]
    fn hosts_get_their_scheme_port_unless_a_pool_has_their_name() {
        let no_pool = |_: &str| false;
        let pool = |n: &str| n == "ledger";
        let t = |uri: &str, p: &dyn Fn(&str) -> bool| {
            integration_template(&spec(uri, Connection::Internet), None, p).unwrap()
        };
        assert_eq!(
            t("https://api.example/x", &no_pool),
            "https://api.example:443/x"
        );
        assert_eq!(
            t("http://api.example?a=1", &no_pool),
            "http://api.example:80?a=1"
        );
        assert_eq!(
            t("http://api.example:8080/x", &no_pool),
            "http://api.example:8080/x"
        );
        assert_eq!(t("http://ledger/x/{id}", &pool), "http://ledger/x/{id}");
        assert_eq!(
            t("http://${stageVariables.h}/x", &no_pool),
            "http://${stageVariables.h}/x"
        );
    }

    #[test]
    fn vpc_links_go_to_their_pool() {
        let s = spec(
            "https://internal.example:8443/x",
            Connection::VpcLink("abc".into()),
        );
        assert_eq!(
            integration_template(&s, Some("nlb"), &|_| false).as_deref(),
            Some("https://nlb/x")
        );
        assert_eq!(integration_template(&s, None, &|_| false), None);
    }
}
