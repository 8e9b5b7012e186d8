//! Walking a definition: paths and operations (`x-amazon-apigateway-any-method` expanded),
//! their `x-amazon-apigateway-integration`, security and request validators, into
//! [`ImportedRoute`]s.

use std::collections::BTreeMap;

use http::Method;
use serde_json::{Map, Value};

use super::classify::{Feature, decide};
use super::document::{Definition, Spec, kind_of, pointer_token};
use super::{
    AwsCheck, Connection, Context, DEFAULT_TIMEOUT_MS, Field, Import, ImportedRoute,
    MIN_TIMEOUT_MS, Outcome, Problem, UpstreamSpec,
};

/// What `ANY` stands for in API Gateway.
pub const ANY_METHODS: [&str; 7] = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];

/// Operation keys of a path item, lower case as OpenAPI writes them.
const OPERATIONS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

const ANY_KEY: &str = "x-amazon-apigateway-any-method";
const INTEGRATION_KEY: &str = "x-amazon-apigateway-integration";
const VALIDATOR_KEY: &str = "x-amazon-apigateway-request-validator";

/// The methods `ANY` covers on a resource that declares `explicit` ones itself.
pub fn any_expansion(explicit: &[Method]) -> Vec<Method> {
    ANY_METHODS
        .iter()
        .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
        .filter(|m| !explicit.contains(m))
        .collect()
}

/// Every operation of `def`, classified; with `ctx.compile`, servable ones are resolved for
/// every stage and any failure becomes the route's error.
pub fn analyse(def: &Definition, ctx: &Context<'_>) -> Import {
    let root = def.root.as_object();
    let get = |k: &str| root.and_then(|r| r.get(k));
    let mut import = Import {
        describe: def.describe(),
        title: get("info")
            .and_then(|i| i.get("title"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        routes: Vec::new(),
        api_notes: api_notes(def),
        api_errors: Vec::new(),
    };
    let schemes = security_schemes(def);
    let validators = get("x-amazon-apigateway-request-validators")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let api = ApiWide {
        security: get("security"),
        default_validator: get(VALIDATOR_KEY).and_then(Value::as_str),
        schemes: &schemes,
        validators: &validators,
        open_routes: ctx.open_routes,
        api_key_in_header: !get("x-amazon-apigateway-api-key-source")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("AUTHORIZER")),
    };
    let paths = match get("paths") {
        Some(Value::Object(p)) => p,
        Some(other) => {
            import.api_errors.push(Problem {
                pointer: "/paths".into(),
                reason: format!("must be a mapping of paths, not {}", kind_of(other)),
            });
            return import;
        }
        None => {
            import.api_errors.push(Problem {
                pointer: "/paths".into(),
                reason: "missing: the definition has no paths".into(),
            });
            return import;
        }
    };
    for (path, item) in paths {
        let item_ptr = format!("/paths/{}", pointer_token(path));
        let Some(item) = item.as_object() else {
            import.api_errors.push(Problem {
                pointer: item_ptr,
                reason: format!("must be a mapping of operations, not {}", kind_of(item)),
            });
            continue;
        };
        let explicit: Vec<Method> = OPERATIONS
            .iter()
            .filter(|k| item.contains_key(**k))
            .filter_map(|k| Method::from_bytes(k.to_ascii_uppercase().as_bytes()).ok())
            .collect();
        for (key, op) in item {
            let (methods, any) = if key == ANY_KEY {
                (any_expansion(&explicit), true)
            } else if OPERATIONS.contains(&key.as_str()) {
                let m =
                    Method::from_bytes(key.to_ascii_uppercase().as_bytes()).unwrap_or(Method::GET);
                (vec![m], false)
            } else {
                continue;
            };
            let pointer = format!("{item_ptr}/{}", pointer_token(key));
            let mut route = operation(path, methods, any, pointer, op, &api);
            if let (Outcome::Servable, Some(compile)) = (&route.outcome, ctx.compile) {
                match compile(&route) {
                    Ok(resolved) => route.resolved = resolved,
                    Err((field, reason)) => {
                        let at = match field {
                            Field::Path => item_ptr.clone(),
                            Field::Uri => format!("{}/{INTEGRATION_KEY}/uri", route.pointer),
                            Field::ConnectionId => {
                                format!("{}/{INTEGRATION_KEY}/connectionId", route.pointer)
                            }
                        };
                        route.outcome = Outcome::Error(Problem {
                            pointer: at,
                            reason,
                        });
                    }
                }
            }
            import.routes.push(route);
        }
    }
    import
}

/// What applies to every operation unless the operation says otherwise.
struct ApiWide<'a> {
    security: Option<&'a Value>,
    default_validator: Option<&'a str>,
    schemes: &'a BTreeMap<String, (String, AwsCheck)>,
    validators: &'a Map<String, Value>,
    open_routes: &'a [String],
    /// API keys come in `x-api-key` (`x-amazon-apigateway-api-key-source` HEADER, the default),
    /// not from a Lambda authorizer.
    api_key_in_header: bool,
}

/// How [`security_schemes`] describes an API key in `x-api-key`: the one check usage plans make.
const API_KEY_CHECK: &str = "API key (`x-api-key`)";

/// What guards a route on AWS, and what Portcullis makes of it.
struct Guard {
    /// The checks, described.
    check: String,
    /// The check that keeps it closed, if any.
    closed: Option<AwsCheck>,
    /// An API key alone, made by usage plans.
    api_key_required: bool,
}

/// Findings while reading one operation.
#[derive(Default)]
struct Findings {
    problems: Vec<Problem>,
    features: Vec<Feature>,
    notes: Vec<String>,
    mock: Option<super::MockSpec>,
}

impl Findings {
    fn problem(&mut self, pointer: String, reason: impl Into<String>) {
        self.problems.push(Problem {
            pointer,
            reason: reason.into(),
        });
    }
}

fn operation(
    path: &str,
    methods: Vec<Method>,
    any: bool,
    pointer: String,
    op: &Value,
    api: &ApiWide<'_>,
) -> ImportedRoute {
    let mut f = Findings::default();
    let mut route = ImportedRoute {
        methods,
        any,
        path: path.to_owned(),
        pointer: pointer.clone(),
        upstream: None,
        mock: None,
        authorization: None,
        closed: None,
        api_key_required: false,
        outcome: Outcome::Servable,
        notes: Vec::new(),
        resolved: Vec::new(),
    };
    match op.as_object() {
        None => f.problem(
            pointer.clone(),
            format!("an operation must be a mapping, not {}", kind_of(op)),
        ),
        Some(op) => {
            if route.methods.first() == Some(&Method::TRACE) && !any {
                f.features.push(Feature::TraceMethod);
            }
            route.upstream = integration(&route, op, &pointer, &mut f);
            if let Some(g) = authorization(&route, op, &pointer, api, &mut f) {
                route.authorization = Some(g.check);
                route.closed = g.closed;
                route.api_key_required = g.api_key_required;
            }
            validator(op, &pointer, api, &mut f);
        }
    }
    route.notes = std::mem::take(&mut f.notes);
    route.mock = f.mock.take();
    route.outcome = decide(f.problems, f.features);
    route
}

/// A string field of `obj`, or a problem when it is there but not a string.
fn string_at<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    at: &str,
    f: &mut Findings,
) -> Option<&'a str> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            f.problem(
                format!("{at}/{}", pointer_token(key)),
                format!("must be a string, not {}", kind_of(other)),
            );
            None
        }
    }
}

fn integration(
    route: &ImportedRoute,
    op: &Map<String, Value>,
    pointer: &str,
    f: &mut Findings,
) -> Option<UpstreamSpec> {
    let at = format!("{pointer}/{INTEGRATION_KEY}");
    let integ = match op.get(INTEGRATION_KEY) {
        Some(Value::Object(i)) => i,
        Some(other) => {
            f.problem(at, format!("must be a mapping, not {}", kind_of(other)));
            return None;
        }
        None => {
            f.problem(
                at,
                "missing: the operation has no integration (export with \
                 `--parameters extensions=integrations`)",
            );
            return None;
        }
    };
    let Some(kind) = string_at(integ, "type", &at, f) else {
        if !integ.contains_key("type") {
            f.problem(format!("{at}/type"), "missing required key");
        }
        return None;
    };
    let uri = string_at(integ, "uri", &at, f);
    match kind.to_ascii_lowercase().as_str() {
        "http_proxy" | "http" => {}
        "mock" => {
            let spec = mock(integ, &at, f);
            f.mock = Some(spec);
            return None;
        }
        "aws_proxy" => {
            f.features.push(Feature::LambdaProxy {
                function: lambda_function(uri.unwrap_or_default()),
            });
            return None;
        }
        "aws" => {
            let target = uri.unwrap_or_default();
            let action = if target.contains(":lambda:path/") {
                format!("Lambda {}", lambda_function(target))
            } else {
                aws_action(target)
            };
            f.features.push(Feature::AwsService { action });
            return None;
        }
        other => {
            f.problem(
                format!("{at}/type"),
                format!("`{other}` is not http_proxy, http, mock, aws or aws_proxy"),
            );
            return None;
        }
    }
    let proxy = kind.eq_ignore_ascii_case("http_proxy");
    let Some(uri) = uri else {
        if !integ.contains_key("uri") {
            f.problem(format!("{at}/uri"), "missing required key");
        }
        return None;
    };
    if !(uri.starts_with("http://") || uri.starts_with("https://")) {
        f.problem(
            format!("{at}/uri"),
            format!("`{uri}` must start with `http://` or `https://`"),
        );
    }
    let mut rest = uri;
    while let Some(start) = rest.find("{stageVariables.") {
        let end = rest[start..]
            .find('}')
            .map_or(rest.len(), |e| start + e + 1);
        let token = &rest[start..end];
        if !rest[..start].ends_with('$') {
            f.problem(
                format!("{at}/uri"),
                format!("`{token}` is not a stage variable reference: write `${token}`"),
            );
        }
        rest = &rest[end..];
    }
    let method = upstream_method(route, integ, &at, f);
    let connection = connection(integ, &at, f);
    let timeout_ms = timeout(integ, &at, f);
    let (path_mappings, parameters) = request_parameters(route, integ, uri, &at, f);
    if !proxy {
        non_proxy(integ, &at, f);
    }
    if let Some(tls) = integ.get("tlsConfig").and_then(Value::as_object) {
        if tls.get("insecureSkipVerification") == Some(&Value::Bool(true)) {
            f.notes.push(
                "tlsConfig.insecureSkipVerification is ignored: Portcullis always verifies \
                 https upstreams (give the pool's `tls.ca` the upstream's CA)"
                    .to_owned(),
            );
        }
    }
    if let Connection::VpcLink(_) = connection {
        f.notes.push(format!(
            "VPC link: the pool's targets are dialled with `Host: {}` as AWS sends it; on https \
             the name verified is `{}`, as AWS verifies it, unless the pool sets \
             `tls.server_name`",
            uri_host(uri),
            uri_host(uri)
        ));
    }
    Some(UpstreamSpec {
        method,
        uri: uri.to_owned(),
        connection,
        timeout_ms,
        path_mappings,
        parameters,
    })
}

/// `host` of `scheme://host:port/path`.
pub(crate) fn uri_host(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

fn lambda_function(uri: &str) -> String {
    // arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/arn:aws:lambda:REGION:ACCT:function:NAME/invocations
    uri.split_once(":function:")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(rest).to_owned())
        .unwrap_or_else(|| uri.to_owned())
}

fn aws_action(uri: &str) -> String {
    // arn:aws:apigateway:REGION:SERVICE:action/NAME or :path/...
    let parts: Vec<&str> = uri.splitn(6, ':').collect();
    match parts.as_slice() {
        [_, _, _, _, service, rest] => format!("{service}: {rest}"),
        _ => uri.to_owned(),
    }
}

fn upstream_method(
    route: &ImportedRoute,
    integ: &Map<String, Value>,
    at: &str,
    f: &mut Findings,
) -> Option<Method> {
    let Some(m) = string_at(integ, "httpMethod", at, f) else {
        if !integ.contains_key("httpMethod") {
            f.problem(format!("{at}/httpMethod"), "missing required key");
        }
        return None;
    };
    let upper = m.to_ascii_uppercase();
    if upper == "ANY" {
        return None;
    }
    let Ok(method) = Method::from_bytes(upper.as_bytes()) else {
        f.problem(
            format!("{at}/httpMethod"),
            format!("`{m}` is not an HTTP method or ANY"),
        );
        return None;
    };
    let same = !route.any && route.methods.first() == Some(&method);
    if !same {
        f.features.push(Feature::UpstreamMethod {
            route: if route.any {
                "ANY".to_owned()
            } else {
                route
                    .methods
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            },
            upstream: method.to_string(),
        });
    }
    Some(method)
}

fn connection(integ: &Map<String, Value>, at: &str, f: &mut Findings) -> Connection {
    match string_at(integ, "connectionType", at, f) {
        None => Connection::Internet,
        Some(t) if t.eq_ignore_ascii_case("INTERNET") => Connection::Internet,
        Some(t) if t.eq_ignore_ascii_case("VPC_LINK") => {
            match string_at(integ, "connectionId", at, f) {
                Some(id) if !id.is_empty() => Connection::VpcLink(id.to_owned()),
                _ => {
                    f.problem(
                        format!("{at}/connectionId"),
                        "missing: connectionType VPC_LINK needs a connectionId",
                    );
                    Connection::Internet
                }
            }
        }
        Some(other) => {
            f.problem(
                format!("{at}/connectionType"),
                format!("`{other}` is not INTERNET or VPC_LINK"),
            );
            Connection::Internet
        }
    }
}

fn timeout(integ: &Map<String, Value>, at: &str, f: &mut Findings) -> u64 {
    let key = format!("{at}/timeoutInMillis");
    let ms = match integ.get("timeoutInMillis") {
        None | Some(Value::Null) => return DEFAULT_TIMEOUT_MS,
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        Some(_) => None,
    };
    match ms {
        None => {
            f.problem(key, "must be a whole number of milliseconds");
            DEFAULT_TIMEOUT_MS
        }
        Some(ms) if ms < MIN_TIMEOUT_MS => {
            f.problem(
                key,
                format!("{ms} ms is below API Gateway's {MIN_TIMEOUT_MS} ms floor"),
            );
            DEFAULT_TIMEOUT_MS
        }
        Some(ms) if ms > super::MAX_TIMEOUT_MS => {
            f.problem(key, format!("{ms} ms is out of range"));
            DEFAULT_TIMEOUT_MS
        }
        Some(ms) => {
            if ms > DEFAULT_TIMEOUT_MS {
                f.notes.push(format!(
                    "timeoutInMillis {ms} is above API Gateway's default 29000 ms limit, which \
                     AWS raises only on request"
                ));
            }
            ms
        }
    }
}

/// The `{x}` placeholders of an integration uri's path.
fn uri_placeholders(uri: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = uri;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 1..start + len];
        let dollar = start > 0 && rest.as_bytes()[start - 1] == b'$';
        if !dollar && !name.starts_with("stageVariables.") {
            out.push(name.trim_end_matches('+').to_owned());
        }
        rest = &rest[start + len + 1..];
    }
    out
}

/// Route path parameter names.
fn path_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|s| s.trim_end_matches('+').to_owned())
        .collect()
}

/// (name, value) pairs: path mappings (`X` <- source), or every (target, source) entry.
type Pairs = Vec<(String, String)>;

/// The `requestParameters` of an integration: the path mappings that fill `{X}` in the uri, and
/// every entry (the gateway serves them as parameter mappings).
fn request_parameters(
    route: &ImportedRoute,
    integ: &Map<String, Value>,
    uri: &str,
    at: &str,
    f: &mut Findings,
) -> (Pairs, Pairs) {
    let mut mappings = Vec::new();
    let mut all = Vec::new();
    let params_at = format!("{at}/requestParameters");
    match integ.get("requestParameters") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (target, source) in map {
                let Some(source) = source.as_str() else {
                    f.problem(
                        format!("{params_at}/{}", pointer_token(target)),
                        format!("must be a string, not {}", kind_of(source)),
                    );
                    continue;
                };
                let to = target.strip_prefix("integration.request.path.");
                let from = source.strip_prefix("method.request.path.");
                if let Some(from) = from {
                    if !path_params(&route.path).iter().any(|p| p == from) {
                        f.problem(
                            format!("{params_at}/{}", pointer_token(target)),
                            format!("`{source}`: the path `{}` has no `{{{from}}}`", route.path),
                        );
                    }
                }
                if let Some(to) = to {
                    mappings.push((to.to_owned(), from.unwrap_or(source).to_owned()));
                }
                // Checked and served by the gateway's parameter mappings (config/params.rs).
                all.push((target.clone(), source.to_owned()));
            }
        }
        Some(other) => f.problem(
            params_at,
            format!("must be a mapping, not {}", kind_of(other)),
        ),
    }
    for name in uri_placeholders(uri) {
        if !mappings.iter().any(|(to, _)| *to == name) {
            f.features.push(Feature::UnmappedUriParameter { name });
        }
    }
    (mappings, all)
}

/// `type: http`: templates, passthrough, content handling, integration responses.
fn non_proxy(integ: &Map<String, Value>, at: &str, f: &mut Findings) {
    let non_empty = |v: Option<&Value>| v.and_then(Value::as_object).is_some_and(|m| !m.is_empty());
    let mut templates = Vec::new();
    if non_empty(integ.get("requestTemplates")) {
        templates.push("requestTemplates".to_owned());
    }
    let responses = integ.get("responses").and_then(Value::as_object);
    for (key, resp) in responses.into_iter().flatten() {
        if non_empty(resp.get("responseTemplates")) {
            templates.push(format!("responses.{key}.responseTemplates"));
        }
    }
    if !templates.is_empty() {
        f.features.push(Feature::MappingTemplates {
            at: templates.join(", "),
        });
    }
    if let Some(p) = string_at(integ, "passthroughBehavior", at, f) {
        if p.eq_ignore_ascii_case("NEVER") {
            f.features.push(Feature::PassthroughNever);
        }
    }
    if let Some(c) = string_at(integ, "contentHandling", at, f) {
        if c.eq_ignore_ascii_case("CONVERT_TO_TEXT") || c.eq_ignore_ascii_case("CONVERT_TO_BINARY")
        {
            f.features.push(Feature::ContentHandling {
                value: c.to_owned(),
            });
        }
    }
    let mapped: Vec<String> = responses
        .into_iter()
        .flatten()
        .filter(|(key, resp)| {
            let status = resp.get("statusCode").map(|s| match s {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let headers = non_empty(resp.get("responseParameters"));
            headers || status.is_some_and(|s| key.as_str() != s.as_str())
        })
        .map(|(k, _)| k.clone())
        .collect();
    if !mapped.is_empty() {
        f.notes.push(format!(
            "integration responses ({}) map statuses or headers on AWS; Portcullis relays the \
             upstream's status and headers",
            mapped.join(", ")
        ));
    }
}

/// A mock integration's answer: the status of its `application/json` request template
/// (`{"statusCode": 200}`), and the static `'value'` headers of its default response.
fn mock(integ: &Map<String, Value>, at: &str, f: &mut Findings) -> super::MockSpec {
    let template = integ
        .get("requestTemplates")
        .and_then(Value::as_object)
        .and_then(|t| t.get("application/json"))
        .and_then(Value::as_str);
    let status = match template {
        None => 200,
        Some(t) => match serde_json::from_str::<Value>(t)
            .ok()
            .and_then(|v| v.get("statusCode").and_then(Value::as_u64))
        {
            Some(s) if (200..=599).contains(&s) => s as u16,
            _ => {
                f.problem(
                    format!("{at}/requestTemplates/application~1json"),
                    format!("`{t}` names no statusCode from 200 to 599; the gateway answers a mock with it"),
                );
                200
            }
        },
    };
    let mut headers = Vec::new();
    let default = integ
        .get("responses")
        .and_then(Value::as_object)
        .and_then(|r| r.get("default"))
        .and_then(|d| d.get("responseParameters"))
        .and_then(Value::as_object);
    for (target, source) in default.into_iter().flatten() {
        let name = target.strip_prefix("method.response.header.");
        let value = source
            .as_str()
            .and_then(|v| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')));
        match (name, value) {
            (Some(n), Some(v)) => headers.push((n.to_owned(), v.to_owned())),
            _ => f.notes.push(format!(
                "mock response parameter `{target}` is not a static header value; left out"
            )),
        }
    }
    super::MockSpec { status, headers }
}

/// Security scheme names with a description of the check AWS makes, and its kind.
fn security_schemes(def: &Definition) -> BTreeMap<String, (String, AwsCheck)> {
    let schemes = match def.spec {
        Spec::OpenApi30 => def.root.pointer("/components/securitySchemes"),
        Spec::Swagger20 => def.root.pointer("/securityDefinitions"),
    };
    let mut out = BTreeMap::new();
    for (name, s) in schemes.and_then(Value::as_object).into_iter().flatten() {
        let authorizer = s.get("x-amazon-apigateway-authorizer");
        let authtype = s
            .get("x-amazon-apigateway-authtype")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = authorizer
            .and_then(|a| a.get("type"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let what = if authtype.eq_ignore_ascii_case("awsSigv4") {
            (format!("IAM (SigV4) `{name}`"), AwsCheck::Iam)
        } else if kind == "cognito_user_pools"
            || authtype.eq_ignore_ascii_case("cognito_user_pools")
        {
            (
                format!("Cognito user pool authorizer `{name}`"),
                AwsCheck::Authorizer,
            )
        } else if authorizer.is_some() {
            let function = authorizer
                .and_then(|a| a.get("authorizerUri"))
                .and_then(Value::as_str)
                .map(lambda_function)
                .map(|f| format!(", Lambda `{f}`"))
                .unwrap_or_default();
            let what = format!(
                "Lambda authorizer `{name}` ({}{function})",
                if kind.is_empty() { "token" } else { &kind }
            );
            (what, AwsCheck::Authorizer)
        } else if s.get("type").and_then(Value::as_str) == Some("apiKey") {
            let header = s.get("name").and_then(Value::as_str).unwrap_or("x-api-key");
            (format!("API key (`{header}`)"), AwsCheck::ApiKey)
        } else {
            (format!("security scheme `{name}`"), AwsCheck::Authorizer)
        };
        out.insert(name.clone(), what);
    }
    out
}

/// The check AWS makes before the integration, if any: an API key alone is made by usage
/// plans (`api_key_required`); any other check keeps the route closed unless the
/// configuration opens it.
fn authorization(
    route: &ImportedRoute,
    op: &Map<String, Value>,
    pointer: &str,
    api: &ApiWide<'_>,
    f: &mut Findings,
) -> Option<Guard> {
    let (security, at) = match op.get("security") {
        Some(s) => (s, format!("{pointer}/security")),
        None => (api.security?, "/security".to_owned()),
    };
    let Some(alternatives) = security.as_array() else {
        f.problem(
            at,
            format!("must be a list of requirements, not {}", kind_of(security)),
        );
        return None;
    };
    // An empty list, or an empty requirement among the alternatives, lets anyone through.
    if alternatives.is_empty()
        || alternatives
            .iter()
            .any(|a| a.as_object().is_some_and(Map::is_empty))
    {
        return None;
    }
    let mut checks = Vec::new();
    let mut first: Option<AwsCheck> = None;
    for (i, alt) in alternatives.iter().enumerate() {
        for name in alt.as_object().into_iter().flatten().map(|(k, _)| k) {
            match api.schemes.get(name) {
                Some((what, kind)) => {
                    checks.push(what.clone());
                    // AWS runs the authorizer (or IAM) before the API key check.
                    first = Some(first.map_or(*kind, |f| f.min(*kind)));
                }
                None => f.problem(
                    format!("{at}/{i}/{}", pointer_token(name)),
                    format!("security scheme `{name}` is not defined"),
                ),
            }
        }
    }
    let api_key_only = api.api_key_in_header && checks.iter().all(|c| c == API_KEY_CHECK);
    let check = checks.join(" and ");
    if check.is_empty() {
        return None;
    }
    if api.open_routes.iter().any(|o| *o == route.name()) {
        f.notes.push(format!(
            "opened in the configuration: served without the {check} check AWS makes"
        ));
        return Some(Guard {
            check,
            closed: None,
            api_key_required: false,
        });
    }
    if api_key_only {
        f.notes.push(
            "API key required: checked against the keys of the [usage_plan.*] tables covering \
             the stage"
                .to_owned(),
        );
        return Some(Guard {
            check,
            closed: None,
            api_key_required: true,
        });
    }
    let closed = first.unwrap_or(AwsCheck::Authorizer);
    f.notes.push(format!(
        "served closed: AWS serves it only after the {check} check, which Portcullis cannot \
         make, so every request gets {} as from AWS without the credential; to serve it without \
         the check, list `{}` in the API's `open_routes`",
        closed.answer(),
        route.name()
    ));
    Some(Guard {
        check,
        closed: Some(closed),
        api_key_required: false,
    })
}

/// The request validator AWS would apply: reported, not applied.
fn validator(op: &Map<String, Value>, pointer: &str, api: &ApiWide<'_>, f: &mut Findings) {
    let name = match op.get(VALIDATOR_KEY) {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(other) => {
            f.problem(
                format!("{pointer}/{VALIDATOR_KEY}"),
                format!("must be a string, not {}", kind_of(other)),
            );
            None
        }
        None => api.default_validator,
    };
    let Some(name) = name else { return };
    let Some(v) = api.validators.get(name) else {
        f.problem(
            format!("{pointer}/{VALIDATOR_KEY}"),
            format!("request validator `{name}` is not defined in x-amazon-apigateway-request-validators"),
        );
        return;
    };
    let on = |k: &str| v.get(k) == Some(&Value::Bool(true));
    let what: Vec<&str> = [
        ("validateRequestBody", "body"),
        ("validateRequestParameters", "parameters"),
    ]
    .into_iter()
    .filter(|(k, _)| on(k))
    .map(|(_, w)| w)
    .collect();
    if !what.is_empty() {
        f.notes.push(format!(
            "request validator `{name}` ({}) is not applied: requests AWS would refuse with 400 \
             reach the upstream",
            what.join(" and ")
        ));
    }
}

/// API-wide extensions: recognised, reported, not applied.
fn api_notes(def: &Definition) -> Vec<String> {
    let get = |k: &str| def.root.get(k);
    let mut notes = Vec::new();
    if get("x-amazon-apigateway-policy").is_some() {
        notes.push(
            "resource policy (x-amazon-apigateway-policy) is not enforced: the domain's \
             truststore and CRLs decide who gets in"
                .to_owned(),
        );
    }
    if let Some(types) = get("x-amazon-apigateway-binary-media-types").and_then(Value::as_array) {
        let types: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
        notes.push(format!(
            "binary media types ({}): bodies pass through unchanged, as proxy integrations do",
            types.join(", ")
        ));
    }
    if get("x-amazon-apigateway-gateway-responses").is_some() {
        notes.push(
            "gateway responses (x-amazon-apigateway-gateway-responses) are served for the \
             response types this gateway answers with; `[api.NAME.gateway_responses]` overrides"
                .to_owned(),
        );
    }
    if let Some(source) = get("x-amazon-apigateway-api-key-source").and_then(Value::as_str) {
        if source.eq_ignore_ascii_case("AUTHORIZER") {
            notes.push(format!(
                "API key source {source}: keys from a Lambda authorizer are not checked (routes \
                 that need one are not served)"
            ));
        }
    }
    if get("x-amazon-apigateway-minimum-compression-size").is_some() {
        notes.push(
            "minimum compression size: responses are relayed as the upstream sent them".to_owned(),
        );
    }
    if def.spec == Spec::Swagger20 {
        if let Some(base) = get("basePath").and_then(Value::as_str) {
            if base != "/" {
                notes.push(format!(
                    "basePath `{base}` is ignored unless the API's `base_path_mode` is prepend or \
                     split (or map the API under a base path with [[domain.mapping]] base_path)"
                ));
            }
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn methods(v: &[Method]) -> Vec<&str> {
        v.iter().map(Method::as_str).collect()
    }

    #[test]
    fn any_covers_seven_methods_minus_the_explicit_ones() {
        assert_eq!(
            methods(&any_expansion(&[])),
            ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
        );
        assert_eq!(
            methods(&any_expansion(&[Method::GET, Method::OPTIONS])),
            ["DELETE", "HEAD", "PATCH", "POST", "PUT"]
        );
    }

    fn import(yaml: &str, open: &[String]) -> Import {
        let def = super::super::parse(std::path::Path::new("t.yaml"), yaml).unwrap();
        analyse(
            &def,
            &Context {
                open_routes: open,
                compile: None,
            },
        )
    }

    const HEAD: &str = "openapi: 3.0.1\ninfo: {title: t}\n";

    fn integration(extra: &str) -> String {
        format!(
            "{HEAD}paths:\n  /items/{{id}}:\n    get:\n      x-amazon-apigateway-integration:\n        type: HTTP_PROXY\n        httpMethod: GET\n        uri: http://${{stageVariables.host}}/items/{{id}}\n        requestParameters:\n          integration.request.path.id: method.request.path.id\n{extra}"
        )
    }

    #[test]
    fn mocks_answer_with_their_template_status_and_static_headers() {
        let def = format!(
            "{HEAD}paths:\n  /x:\n    options:\n      x-amazon-apigateway-integration:\n        type: mock\n        requestTemplates:\n          application/json: '{{\"statusCode\": 204}}'\n        responses:\n          default:\n            statusCode: '204'\n            responseParameters:\n              method.response.header.Access-Control-Allow-Origin: \"'*'\"\n"
        );
        let i = import(&def, &[]);
        assert_eq!(i.routes[0].outcome, Outcome::Servable, "{:?}", i.routes[0]);
        assert_eq!(
            i.routes[0].mock,
            Some(super::super::MockSpec {
                status: 204,
                headers: vec![("Access-Control-Allow-Origin".into(), "*".into())],
            })
        );
        let bad = def.replace("204}", "99}");
        assert!(matches!(
            import(&bad, &[]).routes[0].outcome,
            Outcome::Error(_)
        ));
    }

    #[test]
    fn plain_proxying_is_servable() {
        let i = import(&integration(""), &[]);
        let r = &i.routes[0];
        assert_eq!(r.outcome, Outcome::Servable, "{r:?}");
        let up = r.upstream.as_ref().unwrap();
        assert_eq!(up.method, Some(Method::GET));
        assert_eq!(up.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(up.path_mappings, [("id".to_owned(), "id".to_owned())]);
        assert_eq!(r.pointer, "/paths/~1items~1{id}/get");
    }

    #[test]
    fn header_mappings_and_other_upstream_methods_are_servable() {
        let i = import(
            &integration("          integration.request.header.x-t: method.request.header.t\n"),
            &[],
        );
        assert_eq!(i.routes[0].outcome, Outcome::Servable, "{:?}", i.routes[0]);
        let up = i.routes[0].upstream.as_ref().unwrap();
        assert!(up.parameters.contains(&(
            "integration.request.header.x-t".to_owned(),
            "method.request.header.t".to_owned()
        )));
        let i = import(
            &integration("").replace("httpMethod: GET", "httpMethod: POST"),
            &[],
        );
        assert_eq!(i.routes[0].outcome, Outcome::Servable);
        assert_eq!(
            i.routes[0].upstream.as_ref().unwrap().method,
            Some(Method::POST)
        );
    }

    #[test]
    fn timeouts_have_a_floor_and_a_warning_above_29_seconds() {
        let i = import(&integration("        timeoutInMillis: 20\n"), &[]);
        match &i.routes[0].outcome {
            Outcome::Error(p) => {
                assert!(p.pointer.ends_with("/timeoutInMillis"), "{p:?}");
                assert!(p.reason.contains("50 ms"), "{p:?}");
            }
            other => panic!("{other:?}"),
        }
        let i = import(&integration("        timeoutInMillis: 60000\n"), &[]);
        assert_eq!(i.routes[0].outcome, Outcome::Servable);
        assert!(i.routes[0].notes[0].contains("60000"));
    }

    #[test]
    fn stage_variables_without_dollar_are_not_references() {
        let i = import(
            &integration("").replace("${stageVariables", "{stageVariables"),
            &[],
        );
        match &i.routes[0].outcome {
            Outcome::Error(p) => {
                assert!(p.reason.contains("not a stage variable reference"), "{p:?}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn integrations_aws_knows_are_named() {
        let lambda = format!(
            "{HEAD}paths:\n  /f:\n    post:\n      x-amazon-apigateway-integration:\n        type: aws_proxy\n        httpMethod: POST\n        uri: arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:1234:function:ledger-fn/invocations\n  /m:\n    get:\n      x-amazon-apigateway-integration:\n        type: MOCK\n  /q:\n    post:\n      x-amazon-apigateway-integration:\n        type: aws\n        httpMethod: POST\n        uri: arn:aws:apigateway:eu-west-1:sqs:action/SendMessage\n"
        );
        let i = import(&lambda, &[]);
        let outcomes: Vec<String> = i
            .routes
            .iter()
            .map(|r| match &r.outcome {
                Outcome::Unsupported(f) => f.reason(),
                o => format!("{o:?}"),
            })
            .collect();
        assert!(outcomes[0].contains("ledger-fn"), "{outcomes:?}");
        // A mock is the gateway's own answer (type compared case-insensitively).
        assert_eq!(outcomes[1], "Servable", "{outcomes:?}");
        assert!(
            outcomes[2].contains("sqs: action/SendMessage"),
            "{outcomes:?}"
        );
    }

    #[test]
    fn authorizers_close_a_route_unless_opened() {
        let text = format!(
            "{}security: [{{key: []}}]\ncomponents:\n  securitySchemes:\n    key: {{type: apiKey, name: x-api-key, in: header}}\n",
            integration("")
        );
        let i = import(&text, &[]);
        assert_eq!(
            i.routes[0].authorization.as_deref(),
            Some("API key (`x-api-key`)")
        );
        // An API key alone is what usage plans check: served, the key required.
        assert_eq!(i.routes[0].outcome, Outcome::Servable);
        assert!(i.routes[0].api_key_required);
        assert_eq!(i.routes[0].closed, None);
        let i = import(&text, &["GET /items/{id}".to_owned()]);
        assert_eq!(i.routes[0].outcome, Outcome::Servable);
        assert!(!i.routes[0].api_key_required);
        assert_eq!(i.routes[0].closed, None);
        assert!(i.routes[0].notes[0].contains("opened"));
        // Keys from a Lambda authorizer are not checked here: served closed, 403 Forbidden.
        let text = format!("x-amazon-apigateway-api-key-source: AUTHORIZER\n{text}");
        let i = import(&text, &[]);
        assert_eq!(i.routes[0].outcome, Outcome::Servable);
        assert_eq!(i.routes[0].closed, Some(AwsCheck::ApiKey));
        assert!(!i.routes[0].api_key_required);
        assert!(
            i.routes[0].notes[0].contains("served closed"),
            "{:?}",
            i.routes[0].notes
        );
    }

    #[test]
    fn placeholders_skip_stage_variables() {
        assert_eq!(
            uri_placeholders("http://${stageVariables.h}/a/{id}/{proxy+}"),
            ["id", "proxy"]
        );
        assert_eq!(
            uri_host("https://internal.example:8443/x"),
            "internal.example"
        );
        assert_eq!(
            uri_host("http://${stageVariables.h}/x"),
            "${stageVariables.h}"
        );
    }
}
