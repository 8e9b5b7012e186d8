//! APIs defined by an API Gateway export (`[api.NAME] openapi = "..."`): the export read by
//! [`crate::openapi`], each servable route resolved for every stage exactly as a TOML route is,
//! the rest reported. Also what `portcullis import --config` needs from a configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::openapi::report::integration_template;
use crate::openapi::{
    self, Connection, Context, Field, Import, ImportedRoute, Outcome, UpstreamSpec,
};

use super::raw::{RawApi, RawConfig};
use super::template::{Integration, PathTemplate, substitute_stage_variables};
use super::{ErrorSink, Route, RouteMethod};

/// The extension that names an `[authorization.NAME]` rule set, on an operation or the root.
const AUTHORIZATION_KEY: &str = "x-portcullis-authorization";

/// The rule set an operation (at JSON pointer `pointer`) names with `x-portcullis-authorization`,
/// else the one the root names; an unknown name or a value that is not a string is an error.
fn route_authorization(
    root: &serde_json::Value,
    pointer: &str,
    file: &str,
    sets: &BTreeMap<String, std::sync::Arc<super::RuleSet>>,
) -> Result<Option<std::sync::Arc<super::RuleSet>>, String> {
    let on_operation = root
        .pointer(pointer)
        .and_then(|op| op.get(AUTHORIZATION_KEY));
    let (at, value) = match on_operation {
        Some(v) => (format!("{pointer}/{AUTHORIZATION_KEY}"), v),
        None => match root.get(AUTHORIZATION_KEY) {
            Some(v) => (format!("/{AUTHORIZATION_KEY}"), v),
            None => return Ok(None),
        },
    };
    let Some(name) = value.as_str() else {
        return Err(format!(
            "{file}#{at}: must name an [authorization.NAME] rule set"
        ));
    };
    super::authorization::lookup(name, sets)
        .map(Some)
        .map_err(|e| format!("{file}#{at}: {e}"))
}

/// Resolve a servable route of an export for one stage: its VPC link to a pool, its stage
/// variables, its host to a pool or `host:port`; the field at fault and why otherwise.
pub(super) fn compile_stage(
    up: &UpstreamSpec,
    params: &[String],
    variables: &BTreeMap<String, String>,
    vpc_links: &BTreeMap<String, String>,
    is_pool: &dyn Fn(&str) -> bool,
) -> Result<Integration, (Field, String)> {
    let pool = match &up.connection {
        Connection::Internet => None,
        Connection::VpcLink(template) => {
            let id = substitute_stage_variables(template, variables)
                .map_err(|e| (Field::ConnectionId, e))?;
            match vpc_links.get(&id) {
                Some(pool) => Some(pool.as_str()),
                None => return Err((Field::ConnectionId, unmapped_link(&id, vpc_links))),
            }
        }
    };
    let uri = substitute_stage_variables(&up.uri, variables).map_err(|e| (Field::Uri, e))?;
    let resolved = UpstreamSpec { uri, ..up.clone() };
    let url = integration_template(&resolved, pool, is_pool).ok_or_else(|| {
        (
            Field::Uri,
            format!("`{}` must start with `http://` or `https://`", resolved.uri),
        )
    })?;
    // `{X}` in the uri is a path parameter of the route or a mapped `integration.request.path.X`.
    let mut names = params.to_vec();
    names.extend(up.path_mappings.iter().map(|(to, _)| to.clone()));
    let mut integration = Integration::parse(&url, &names, is_pool).map_err(|e| (Field::Uri, e))?;
    if pool.is_some() {
        // Through a VPC link, API Gateway sends the uri's host as `Host`, not the NLB's.
        let authority = uri_authority(&resolved.uri);
        integration.host = Some(http::HeaderValue::from_str(authority).map_err(|_| {
            (
                Field::Uri,
                format!("`{authority}` cannot be sent as a Host header"),
            )
        })?);
    }
    Ok(integration)
}

/// `host[:port]` of `scheme://host[:port]/path`.
fn uri_authority(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

/// The prefix an export's base path gives its routes, as API Gateway's import `basepath` modes:
/// `ignore` (the default) none, `prepend` the whole base path, `split` the base path without its
/// first segment. The base path is Swagger 2.0's `basePath`, or OpenAPI 3.0's first server's
/// `basePath` variable (its default) or URL path.
fn base_path_prefix(root: &serde_json::Value, mode: Option<&str>) -> Result<String, String> {
    let base = root
        .get("basePath")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            let server = root.get("servers")?.get(0)?;
            let var = server
                .get("variables")
                .and_then(|v| v.get("basePath"))
                .and_then(|b| b.get("default"))
                .and_then(serde_json::Value::as_str);
            match var {
                Some(v) => Some(v.to_owned()),
                None => {
                    let url = server.get("url")?.as_str()?;
                    let rest = url.split_once("://").map_or(url, |(_, r)| r);
                    rest.find('/').map(|i| rest[i..].to_owned())
                }
            }
        })
        .unwrap_or_default();
    let segments: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
    let keep = match mode {
        None | Some("ignore") => &segments[..0],
        Some("prepend") => &segments[..],
        Some("split") => segments.get(1..).unwrap_or(&[]),
        Some(other) => {
            return Err(format!("`{other}` is not ignore, prepend or split"));
        }
    };
    Ok(keep.iter().map(|s| format!("/{s}")).collect())
}

/// The export's `x-amazon-apigateway-gateway-responses`: status, static
/// `gatewayresponse.header.X` = `'value'` headers and the `application/json` template. Types
/// this gateway never answers with are warnings, not errors.
fn gateway_responses(
    root: &serde_json::Value,
    key: &str,
    sink: &mut ErrorSink,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, super::GatewayResponse> {
    let mut out = BTreeMap::new();
    let Some(all) = root
        .get("x-amazon-apigateway-gateway-responses")
        .and_then(serde_json::Value::as_object)
    else {
        return out;
    };
    for (kind, r) in all {
        if !super::GATEWAY_RESPONSE_TYPES.contains(&kind.as_str()) {
            warnings.push(format!(
                "{key}: gateway response {kind} is not one this gateway answers with; ignored"
            ));
            continue;
        }
        let status = match r.get("statusCode") {
            None => None,
            Some(v) => {
                let code = v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .filter(|c| (200..=599).contains(c))
                    .and_then(|c| http::StatusCode::from_u16(c as u16).ok());
                if code.is_none() {
                    sink.push(
                        key.to_owned(),
                        format!("gateway response {kind}: statusCode {v} is not 200 to 599"),
                    );
                    continue;
                }
                code
            }
        };
        let mut headers = http::HeaderMap::new();
        let params = r
            .get("responseParameters")
            .and_then(serde_json::Value::as_object);
        for (target, value) in params.into_iter().flatten() {
            let name = target.strip_prefix("gatewayresponse.header.");
            let value = value
                .as_str()
                .and_then(|v| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')));
            match (
                name.and_then(|n| http::HeaderName::from_bytes(n.as_bytes()).ok()),
                value.and_then(|v| http::HeaderValue::from_str(v).ok()),
            ) {
                (Some(n), Some(v)) => {
                    headers.append(n, v);
                }
                _ => warnings.push(format!(
                    "{key}: gateway response {kind}: `{target}` is not a static header value; ignored"
                )),
            }
        }
        let template = r
            .get("responseTemplates")
            .and_then(|t| t.get("application/json"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        out.insert(
            kind.clone(),
            super::GatewayResponse {
                status,
                headers,
                template,
            },
        );
    }
    out
}

/// `disableExecuteApiEndpoint`: at the root in Swagger 2.0, in `servers[]` in OpenAPI 3.0.
fn execute_api_disabled(root: &serde_json::Value) -> bool {
    let flag = |v: &serde_json::Value| {
        v.get("x-amazon-apigateway-endpoint-configuration")
            .and_then(|c| c.get("disableExecuteApiEndpoint"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    };
    flag(root)
        || root
            .get("servers")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|servers| servers.iter().any(flag))
}

/// A route path under the base path `prefix` (empty: none).
fn under(prefix: &str, path: &str) -> String {
    match (prefix, path) {
        ("", p) => p.to_owned(),
        (pre, "/") => pre.to_owned(),
        (pre, p) => format!("{pre}{p}"),
    }
}

/// A mock route's static response.
fn mock_response(
    m: &crate::openapi::MockSpec,
) -> Result<std::sync::Arc<super::MockResponse>, String> {
    let mut headers = http::HeaderMap::new();
    for (name, value) in &m.headers {
        let n = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("mock header `{name}` is not a header name"))?;
        let v = http::HeaderValue::from_str(value)
            .map_err(|_| format!("mock header `{name}`: `{value}` is not a header value"))?;
        headers.append(n, v);
    }
    Ok(std::sync::Arc::new(super::MockResponse {
        status: http::StatusCode::from_u16(m.status).unwrap_or(http::StatusCode::OK),
        headers,
        body: bytes::Bytes::new(),
    }))
}

fn unmapped_link(id: &str, vpc_links: &BTreeMap<String, String>) -> String {
    let known: Vec<&str> = vpc_links.keys().map(String::as_str).collect();
    let hint = match super::template::closest(id, known.iter().copied()) {
        Some(c) => format!(" (closest: `{c}`)"),
        None if known.is_empty() => " (it maps none)".to_owned(),
        None => format!(" (it maps: {})", known.join(", ")),
    };
    format!("VPC link `{id}` is not in the API's `vpc_links`{hint}")
}

/// The URL of a route per stage, or the field at fault and why.
type Compiled = Result<Vec<(String, String)>, (Field, String)>;

/// The compile hook over `stages`: every stage must resolve; the URLs per stage.
fn compile_all<'a>(
    stages: &'a BTreeMap<String, BTreeMap<String, String>>,
    vpc_links: &'a BTreeMap<String, String>,
    pools: &'a BTreeSet<String>,
) -> impl Fn(&ImportedRoute) -> Compiled + 'a {
    move |route: &ImportedRoute| {
        let template = PathTemplate::parse(&route.path).map_err(|e| (Field::Path, e))?;
        let Some(up) = &route.upstream else {
            return Ok(Vec::new());
        };
        let is_pool = |n: &str| pools.contains(n);
        let mut out = Vec::new();
        for (stage, variables) in stages {
            let i = compile_stage(up, &template.params, variables, vpc_links, &is_pool)
                .map_err(|(field, e)| (field, format!("{e} (stage `{stage}`)")))?;
            out.push((stage.clone(), i.url));
        }
        Ok(out)
    }
}

/// What an API defined by an export contributes to the configuration.
pub(super) struct ImportedApi {
    /// Its routes, one per method.
    pub routes: Vec<(Route, Option<UpstreamSpec>)>,
    /// `x-amazon-apigateway-gateway-responses` of the types this gateway answers with.
    pub gateway_responses: BTreeMap<String, super::GatewayResponse>,
    /// `disableExecuteApiEndpoint` in the export's endpoint configuration.
    pub disable_execute_api_endpoint: bool,
}

/// Read `[api.NAME] openapi`, classify its routes, report errors to `sink` (key
/// `api.NAME.openapi`) and unserved routes and differences to `warnings`.
pub(super) fn import_api(
    name: &str,
    file: &Path,
    raw: &RawApi,
    pools: &BTreeSet<String>,
    sets: &BTreeMap<String, std::sync::Arc<super::RuleSet>>,
    sink: &mut ErrorSink,
    warnings: &mut Vec<String>,
) -> ImportedApi {
    let key = format!("api.{name}.openapi");
    let mut imported = ImportedApi {
        routes: Vec::new(),
        gateway_responses: BTreeMap::new(),
        disable_execute_api_endpoint: false,
    };
    let def = match openapi::read(file) {
        Ok(d) => d,
        Err(e) => {
            sink.push(key, e.to_string());
            return imported;
        }
    };
    let prefix = match base_path_prefix(&def.root, raw.base_path_mode.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            sink.push(format!("api.{name}.base_path_mode"), e);
            String::new()
        }
    };
    imported.gateway_responses = gateway_responses(&def.root, &key, sink, warnings);
    imported.disable_execute_api_endpoint = execute_api_disabled(&def.root);
    let stages: BTreeMap<String, BTreeMap<String, String>> = raw
        .stages
        .iter()
        .map(|(s, st)| (s.clone(), st.variables.clone()))
        .collect();
    let hook = compile_all(&stages, &raw.vpc_links, pools);
    let import = openapi::analyse(
        &def,
        &Context {
            open_routes: &raw.open_routes,
            compile: Some(&hook),
        },
    );
    let shown = file.display().to_string();
    for p in &import.api_errors {
        sink.push(key.clone(), format!("{shown}#{}: {}", p.pointer, p.reason));
    }
    for n in &import.api_notes {
        warnings.push(format!("{shown}: api `{name}`: {n}"));
    }
    for (i, open) in raw.open_routes.iter().enumerate() {
        let known = import
            .routes
            .iter()
            .any(|r| r.authorization.is_some() && r.name() == *open);
        if !known {
            let names = import.routes.iter().map(ImportedRoute::name);
            let hint = super::template::closest(
                open,
                names.collect::<Vec<_>>().iter().map(String::as_str),
            )
            .map(|c| format!(" (closest: `{c}`)"))
            .unwrap_or_default();
            sink.push(
                format!("api.{name}.open_routes[{i}]"),
                format!(
                    "`{open}` is not a route of {shown} that needs an authorizer or API key{hint}"
                ),
            );
        }
    }
    for (hidden, served) in openapi::classify::shadowed(&import.routes) {
        let (h, s) = (&import.routes[hidden], &import.routes[served]);
        warnings.push(format!(
            "{shown}: api `{name}`: `{}` is not served; `{}` answers its requests instead",
            h.name(),
            s.name()
        ));
    }
    let mut index = 0;
    for r in &import.routes {
        match &r.outcome {
            Outcome::Error(p) => sink.push(
                key.clone(),
                format!("{shown}#{}: {}: {}", p.pointer, r.name(), p.reason),
            ),
            Outcome::Unsupported(f) => warnings.push(format!(
                "{shown}: api `{name}`: {} is not served: {}: {}",
                r.name(),
                f.name(),
                f.reason()
            )),
            Outcome::Servable => {
                let authorization = route_authorization(&def.root, &r.pointer, &shown, sets)
                    .unwrap_or_else(|e| {
                        sink.push(key.clone(), format!("{}: {e}", r.name()));
                        None
                    });
                for n in &r.notes {
                    warnings.push(format!("{shown}: api `{name}`: {}: {n}", r.name()));
                }
                let full = under(&prefix, &r.path);
                let Ok(path) = PathTemplate::parse(&full) else {
                    sink.push(
                        key.clone(),
                        format!("{}: `{full}` is not a route path", r.name()),
                    );
                    continue;
                };
                if let Some(m) = &r.mock {
                    match mock_response(m) {
                        Ok(mock) => {
                            for method in &r.methods {
                                imported.routes.push((
                                    Route {
                                        index,
                                        method: RouteMethod::Exact(method.clone()),
                                        path: path.clone(),
                                        integration: String::new(),
                                        timeout: std::time::Duration::ZERO,
                                        upstream_method: None,
                                        parameters: Vec::new(),
                                        mock: Some(mock.clone()),
                                        closed: r.closed,
                                        authorization: authorization.clone(),
                                        throttle: None,
                                        api_key_required: r.api_key_required,
                                        identity: Default::default(),
                                    },
                                    None,
                                ));
                                index += 1;
                            }
                        }
                        Err(e) => {
                            sink.push(format!("api.{name}.openapi"), format!("{}: {e}", r.name()))
                        }
                    }
                    continue;
                }
                let Some(up) = &r.upstream else {
                    continue;
                };
                let mut parameters = Vec::new();
                for (target, source) in &up.parameters {
                    match super::ParamMapping::parse(target, source, &path.params) {
                        Ok(m) => parameters.push(m),
                        Err(e) => sink.push(
                            format!("api.{name}.openapi"),
                            format!("{}: requestParameters: {e}", r.name()),
                        ),
                    }
                }
                for m in &r.methods {
                    imported.routes.push((
                        Route {
                            index,
                            method: RouteMethod::Exact(m.clone()),
                            path: path.clone(),
                            integration: up.uri.clone(),
                            timeout: std::time::Duration::from_millis(up.timeout_ms),
                            upstream_method: up.method.clone(),
                            parameters: parameters.clone(),
                            mock: None,
                            closed: r.closed,
                            authorization: authorization.clone(),
                            throttle: None,
                            api_key_required: r.api_key_required,
                            identity: Default::default(),
                        },
                        Some(up.clone()),
                    ));
                    index += 1;
                }
            }
        }
    }
    if imported.routes.is_empty() && sink.is_empty() {
        let s = import.summary();
        sink.push(
            key,
            format!(
                "{shown} has no servable route ({} routes: {} unsupported, {} errors)",
                s.routes, s.unsupported, s.errors
            ),
        );
    }
    imported
}

/// What `portcullis import --config F` takes from the configuration: the API that serves the
/// file (or the only API), its stages, VPC links, opened routes and the pool names.
#[derive(Debug, Clone, Default)]
pub struct ImportSetup {
    /// The API's name.
    pub api: String,
    /// Stage variables by stage.
    pub stages: BTreeMap<String, BTreeMap<String, String>>,
    /// VPC link id -> pool.
    pub vpc_links: BTreeMap<String, String>,
    /// Routes served without AWS's authorizer or API key check.
    pub open_routes: Vec<String>,
    /// `[upstream.*]` names.
    pub pools: BTreeSet<String>,
    /// The API's `base_path_mode`.
    pub base_path_mode: Option<String>,
}

/// Read what `import` needs from the configuration at `config` for the export `file`: the API
/// whose `openapi` is `file`, else the only API. The configuration's other keys are not checked.
pub fn import_setup(config: &Path, file: &Path) -> Result<ImportSetup, String> {
    let data = crate::file_read::read_regular(config).map_err(|e| {
        format!(
            "{}: cannot read the configuration file: {e}",
            config.display()
        )
    })?;
    let text =
        String::from_utf8(data).map_err(|e| format!("{}: not UTF-8: {e}", config.display()))?;
    let raw: RawConfig = toml::from_str(&text).map_err(|e| {
        format!(
            "{}: invalid TOML: {}",
            config.display(),
            e.to_string().trim_end()
        )
    })?;
    let same = |p: &PathBuf| {
        p == file || matches!((p.canonicalize(), file.canonicalize()), (Ok(a), Ok(b)) if a == b)
    };
    let chosen = raw
        .api
        .iter()
        .find(|(_, a)| a.openapi.as_ref().is_some_and(same))
        .or_else(|| {
            let mut it = raw.api.iter();
            match (it.next(), it.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        });
    let Some((name, api)) = chosen else {
        return Err(format!(
            "{}: no [api.*] has `openapi = {:?}` (APIs: {})",
            config.display(),
            file.display().to_string(),
            raw.api.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    };
    Ok(ImportSetup {
        api: name.clone(),
        stages: api
            .stages
            .iter()
            .map(|(s, st)| (s.clone(), st.variables.clone()))
            .collect(),
        vpc_links: api.vpc_links.clone(),
        open_routes: api.open_routes.clone(),
        pools: raw.upstream.keys().cloned().collect(),
        base_path_mode: api.base_path_mode.clone(),
    })
}

impl ImportSetup {
    /// Classify `def` as `serve` would, resolving for `stage` only when one is given (an error
    /// naming the stages when the API has no such stage).
    pub fn analyse(
        &self,
        def: &openapi::Definition,
        stage: Option<&str>,
    ) -> Result<Import, String> {
        let stages = match stage {
            None => self.stages.clone(),
            Some(s) => match self.stages.get(s) {
                Some(vars) => BTreeMap::from([(s.to_owned(), vars.clone())]),
                None => {
                    return Err(format!(
                        "api `{}` has no stage `{s}` (it has: {})",
                        self.api,
                        self.stages.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            },
        };
        let prefix = base_path_prefix(&def.root, self.base_path_mode.as_deref())
            .map_err(|e| format!("api `{}`: base_path_mode: {e}", self.api))?;
        let hook = compile_all(&stages, &self.vpc_links, &self.pools);
        let mut import = openapi::analyse(
            def,
            &Context {
                open_routes: &self.open_routes,
                compile: Some(&hook),
            },
        );
        for r in &mut import.routes {
            r.path = under(&prefix, &r.path);
        }
        Ok(import)
    }

    /// The Portcullis integration template of a servable route (`None` when its VPC link's
    /// pool depends on the stage).
    pub fn integration(&self, route: &ImportedRoute) -> Option<String> {
        let up = route.upstream.as_ref()?;
        let pool = match &up.connection {
            Connection::Internet => None,
            Connection::VpcLink(id) => Some(self.vpc_links.get(id)?.as_str()),
        };
        integration_template(up, pool, &|n| self.pools.contains(n))
    }
}

#[cfg(test)]
mod tests {
    use super::base_path_prefix;

    #[test]
    fn base_path_modes_follow_api_gateway() {
        let swagger = serde_json::json!({ "basePath": "/v1/ledger" });
        assert_eq!(base_path_prefix(&swagger, None).unwrap(), "");
        assert_eq!(
            base_path_prefix(&swagger, Some("prepend")).unwrap(),
            "/v1/ledger"
        );
        assert_eq!(
            base_path_prefix(&swagger, Some("split")).unwrap(),
            "/ledger"
        );
        let oas = serde_json::json!({ "servers": [{ "url": "https://h/{basePath}",
            "variables": { "basePath": { "default": "prod" } } }] });
        assert_eq!(base_path_prefix(&oas, Some("prepend")).unwrap(), "/prod");
        assert_eq!(base_path_prefix(&oas, Some("split")).unwrap(), "");
        let url = serde_json::json!({ "servers": [{ "url": "https://h/api/v2" }] });
        assert_eq!(base_path_prefix(&url, Some("prepend")).unwrap(), "/api/v2");
        assert!(
            base_path_prefix(&url, Some("sideways"))
                .unwrap_err()
                .contains("sideways")
        );
    }
}
