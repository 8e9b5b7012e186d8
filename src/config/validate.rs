//! The one fallible step from raw structs to a typed [`Config`], reporting every problem.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::params::{ParamMapping, ParamSource, ParamTarget};
use super::raw::{
    RawApi, RawConfig, RawDomain, RawLimits, RawMock, RawRoute, RawTarget, RawUpstream,
};
use super::template::{
    Integration, PathTemplate, check_stage_variable, substitute_stage_variables,
};
use super::{
    Api, Config, ConfigErrors, DEFAULT_HEALTH_INTERVAL, DEFAULT_HEALTH_TIMEOUT,
    DEFAULT_HEALTHY_THRESHOLD, DEFAULT_INTEGRATION_TIMEOUT, DEFAULT_RETRIES,
    DEFAULT_UNHEALTHY_THRESHOLD, DEFAULT_UPSTREAM_IDLE_TIMEOUT, Domain, ErrorSink, Forwarding,
    GATEWAY_RESPONSE_TYPES, GatewayResponse, HealthCheck, Limits, LoadBalancing, Mapping,
    MockResponse, Route, RouteMethod, RuleSet, Stage, TargetConfig, TlsVersion, Upstream,
};

pub(super) fn validate(path: &Path, raw: RawConfig) -> Result<Config, ConfigErrors> {
    let mut sink = ErrorSink::new(path);
    let mut warnings = Vec::new();
    let limits = limits(&raw.limits, &mut sink);
    let upstreams = upstreams(&raw.upstream, &mut sink);
    let authorization = super::authorization::rule_sets(&raw.authorization, &mut sink);
    let apis: BTreeMap<String, Api> = raw
        .api
        .iter()
        .map(|(name, api)| {
            let pools = &raw.upstream;
            let api = api_config(name, api, pools, &authorization, &mut sink, &mut warnings);
            (name.clone(), api)
        })
        .collect();
    if raw.domains.is_empty() {
        sink.push("domain", "at least one [[domain]] is required");
    }
    let mut seen = BTreeSet::new();
    let mut domains = Vec::new();
    for (i, d) in raw.domains.iter().enumerate() {
        if let Some(domain) = domain(i, d, &apis, &authorization, &mut sink) {
            if !seen.insert((domain.name.clone(), domain.listen)) {
                sink.push(
                    format!("domain[{i}].name"),
                    format!("`{}` is already defined on {}", domain.name, domain.listen),
                );
            }
            domains.push(domain);
        }
    }
    super::proxy_protocol::check_shared_listeners(&domains, &mut sink);
    // Every domain, stage and route that names a rule set holds it: one held by the map alone
    // protects nothing (a misspelt `authorization = ...` is an error; a set left behind is this).
    for (name, set) in &authorization {
        if Arc::strong_count(set) == 1 {
            warnings.push(format!(
                "{}: [authorization.{name}] is named by no domain, stage or route: its rules apply to nothing",
                path.display()
            ));
        }
    }
    let admin = raw.admin.as_ref().and_then(|a| {
        let listen = a
            .listen
            .clone()
            .unwrap_or_else(|| super::DEFAULT_ADMIN_LISTEN.to_owned());
        match listen.parse::<SocketAddr>() {
            Ok(addr) => {
                if domains.iter().any(|d| d.listen == addr && addr.port() != 0) {
                    sink.push(
                        "admin.listen",
                        format!("`{listen}` is also a domain's listen address"),
                    );
                }
                Some(addr)
            }
            Err(_) => {
                sink.push(
                    "admin.listen",
                    format!("`{listen}` is not an `ip:port` address"),
                );
                None
            }
        }
    });
    let forwarding = forwarding(raw.forwarding.as_ref(), &mut sink);
    let access_log_format = raw
        .access_log
        .as_ref()
        .and_then(|a| a.format.as_deref())
        .and_then(|f| match crate::access_format::AccessFormat::parse(f) {
            Ok(f) => Some(std::sync::Arc::new(f)),
            Err(e) => {
                sink.push("access_log.format", e);
                None
            }
        });
    let access_log = access_log(raw.access_log.as_ref(), &mut sink);
    let default_endpoint = raw
        .default_endpoint
        .as_ref()
        .and_then(|d| default_endpoint(d, &domains, &mut sink));
    let stage_exists = |api: &str, stage: &str| {
        apis.get(api)
            .is_some_and(|a: &Api| a.stages.contains_key(stage))
    };
    let throttling = super::throttling::throttling(
        raw.throttling.as_ref(),
        &raw.usage_plan,
        raw.rate_limit.as_ref(),
        &stage_exists,
        &mut sink,
    );
    sink.finish(Config {
        authorization,
        throttling,
        forwarding,
        access_log_format,
        access_log,
        default_endpoint,
        source: path.to_path_buf(),
        limits,
        domains,
        apis,
        upstreams,
        admin,
        warnings,
    })
}

/// `[access_log]`'s destination and buffering; the defaults (stderr, 64 KiB, 1 s) when absent.
fn access_log(
    raw: Option<&super::raw::RawAccessLog>,
    sink: &mut ErrorSink,
) -> crate::access_log::Settings {
    use crate::access_log::{DEFAULT_MAX_PENDING_BUFFERS, MAX_BUFFER_BYTES, MAX_PENDING_BYTES};
    let d = crate::access_log::Settings::default();
    let Some(raw) = raw else { return d };
    let path = raw
        .path
        .as_ref()
        .filter(|p| match crate::access_log::check_path(p) {
            Ok(()) => true,
            Err(e) => {
                sink.push("access_log.path", e);
                false
            }
        });
    let buffer_bytes = sink
        .ranged(
            "access_log.buffer_bytes",
            raw.buffer_bytes,
            1,
            MAX_BUFFER_BYTES,
        )
        .map_or(d.buffer_bytes, |v| v as usize);
    let max_pending_bytes = match raw.max_pending_bytes {
        None => buffer_bytes * DEFAULT_MAX_PENDING_BUFFERS,
        Some(v) if (v as usize) < buffer_bytes => {
            sink.push(
                "access_log.max_pending_bytes",
                format!("{v} is less than access_log.buffer_bytes ({buffer_bytes})"),
            );
            d.max_pending_bytes
        }
        v => sink
            .ranged("access_log.max_pending_bytes", v, 1, MAX_PENDING_BYTES)
            .map_or(d.max_pending_bytes, |v| v as usize),
    };
    crate::access_log::Settings {
        path: path.cloned(),
        buffer_bytes,
        flush_interval: sink
            .millis("access_log.flush_interval_ms", raw.flush_interval_ms)
            .unwrap_or(d.flush_interval),
        max_pending_bytes,
    }
}

fn forwarding(raw: Option<&super::raw::RawForwarding>, sink: &mut ErrorSink) -> Forwarding {
    let Some(raw) = raw else {
        return Forwarding::default();
    };
    let underscore = raw.strip_underscore_headers.unwrap_or(true);
    let Some(list) = &raw.strip_headers else {
        return Forwarding::new(super::DEFAULT_STRIP_HEADERS.iter().copied(), underscore);
    };
    for (i, p) in list.iter().enumerate() {
        let name = p.strip_suffix('*').unwrap_or(p);
        if name.is_empty() || http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            sink.push(
                format!("forwarding.strip_headers[{i}]"),
                format!("`{p}` is not a header name (or a name prefix ending in `*`)"),
            );
        }
    }
    Forwarding::new(list.iter().map(String::as_str), underscore)
}

fn limits(raw: &RawLimits, sink: &mut ErrorSink) -> Limits {
    let d = Limits::default();
    let mut ms = |v: Option<u64>, key: &str, default: Duration| {
        sink.millis(format!("limits.{key}"), v).unwrap_or(default)
    };
    let header_read_timeout = ms(
        raw.header_read_timeout_ms,
        "header_read_timeout_ms",
        d.header_read_timeout,
    );
    let request_body_timeout = ms(
        raw.request_body_timeout_ms,
        "request_body_timeout_ms",
        d.request_body_timeout,
    );
    let idle_timeout = ms(raw.idle_timeout_ms, "idle_timeout_ms", d.idle_timeout);
    let response_idle_timeout = ms(
        raw.response_idle_timeout_ms,
        "response_idle_timeout_ms",
        d.response_idle_timeout,
    );
    let handshake_timeout = ms(
        raw.handshake_timeout_ms,
        "handshake_timeout_ms",
        d.handshake_timeout,
    );
    let shutdown_grace = ms(raw.shutdown_grace_ms, "shutdown_grace_ms", d.shutdown_grace);
    Limits {
        max_body_bytes: sink
            .ranged("limits.max_body_bytes", raw.max_body_bytes, 0, 1 << 40)
            .unwrap_or(d.max_body_bytes),
        max_header_bytes: sink
            .ranged(
                "limits.max_header_bytes",
                raw.max_header_bytes,
                1024,
                1024 * 1024,
            )
            .map_or(d.max_header_bytes, |v| v as usize),
        max_uri_bytes: sink
            .ranged("limits.max_uri_bytes", raw.max_uri_bytes, 64, 1024 * 1024)
            .map_or(d.max_uri_bytes, |v| v as usize),
        max_response_header_bytes: sink
            .ranged(
                "limits.max_response_header_bytes",
                raw.max_response_header_bytes,
                8192,
                1024 * 1024,
            )
            .map_or(d.max_response_header_bytes, |v| v as usize),
        header_read_timeout,
        request_body_timeout,
        idle_timeout,
        response_idle_timeout,
        handshake_timeout,
        shutdown_grace,
        max_connections: sink
            .ranged(
                "limits.max_connections",
                raw.max_connections,
                1,
                super::MAX_CONNECTIONS_LIMIT,
            )
            .map_or(d.max_connections, |v| v as usize),
    }
}

fn upstreams(
    raw: &BTreeMap<String, RawUpstream>,
    sink: &mut ErrorSink,
) -> BTreeMap<String, Upstream> {
    let mut out = BTreeMap::new();
    for (name, up) in raw {
        let key = format!("upstream.{name}");
        if up.targets.is_empty() {
            sink.push(
                format!("{key}.targets"),
                "needs at least one `host:port` target",
            );
        }
        let mut targets = Vec::new();
        for (i, t) in up.targets.iter().enumerate() {
            let (addr, zone) = match t {
                RawTarget::Address(a) => (a, None),
                RawTarget::Table { address, zone } => (address, zone.clone()),
            };
            match addr.parse::<http::uri::Authority>() {
                Ok(a) if a.port_u16().is_some() && !addr.contains(['/', '@']) => {
                    targets.push(TargetConfig {
                        authority: a,
                        zone: zone.unwrap_or_default(),
                    })
                }
                _ => sink.push(
                    format!("{key}.targets[{i}]"),
                    format!("`{addr}` is not `host:port`"),
                ),
            }
        }
        if let Some(sn) = up.tls.as_ref().and_then(|t| t.server_name.as_ref()) {
            if rustls_pki_types::ServerName::try_from(sn.as_str()).is_err() {
                sink.push(
                    format!("{key}.tls.server_name"),
                    format!("`{sn}` is not a DNS name or IP address"),
                );
            }
        }
        let tls = up.tls.as_ref();
        let client_certificate = tls.and_then(|t| t.client_certificate.clone());
        let client_key = tls.and_then(|t| t.client_key.clone());
        if client_certificate.is_some() != client_key.is_some() {
            sink.push(
                format!("{key}.tls"),
                "client_certificate and client_key go together",
            );
        }
        for (field, file) in [
            ("ca", tls.and_then(|t| t.ca.as_ref())),
            ("client_certificate", client_certificate.as_ref()),
            ("client_key", client_key.as_ref()),
        ] {
            if let Some(f) = file {
                if let Err(e) = std::fs::metadata(f) {
                    sink.push(
                        format!("{key}.tls.{field}"),
                        format!("{}: {e}", f.display()),
                    );
                }
            }
        }
        let load_balancing = match up.load_balancing.as_deref() {
            None | Some("round_robin") => LoadBalancing::RoundRobin,
            Some("least_requests") => LoadBalancing::LeastRequests,
            Some(other) => {
                sink.push(
                    format!("{key}.load_balancing"),
                    format!("`{other}` is not \"round_robin\" or \"least_requests\""),
                );
                LoadBalancing::RoundRobin
            }
        };
        let health_check = up.health_check.as_ref().map(|h| {
            let hkey = format!("{key}.health_check");
            if let Some(p) = &h.path {
                if !p.starts_with('/') {
                    sink.push(format!("{hkey}.path"), format!("`{p}` must start with `/`"));
                }
            }
            let positive = |v: Option<u64>, field: &str, d: Duration, sink: &mut ErrorSink| {
                sink.millis(format!("{hkey}.{field}"), v).unwrap_or(d)
            };
            let interval = positive(h.interval_ms, "interval_ms", DEFAULT_HEALTH_INTERVAL, sink);
            let timeout = positive(h.timeout_ms, "timeout_ms", DEFAULT_HEALTH_TIMEOUT, sink);
            let threshold = |v: Option<u32>, field: &str, d: u32, sink: &mut ErrorSink| {
                sink.ranged(format!("{hkey}.{field}"), v.map(u64::from), 1, 1000)
                    .map_or(d, |n| n as u32)
            };
            HealthCheck {
                path: h.path.clone(),
                interval,
                timeout,
                healthy_threshold: threshold(
                    h.healthy_threshold,
                    "healthy_threshold",
                    DEFAULT_HEALTHY_THRESHOLD,
                    sink,
                ),
                unhealthy_threshold: threshold(
                    h.unhealthy_threshold,
                    "unhealthy_threshold",
                    DEFAULT_UNHEALTHY_THRESHOLD,
                    sink,
                ),
            }
        });
        let max_connections = sink
            .ranged(
                format!("{key}.max_connections"),
                up.max_connections,
                1,
                super::MAX_CONNECTIONS_LIMIT,
            )
            .map(|n| n as usize);
        let idle_timeout = sink
            .millis(format!("{key}.idle_timeout_ms"), up.idle_timeout_ms)
            .unwrap_or(DEFAULT_UPSTREAM_IDLE_TIMEOUT);
        out.insert(
            name.clone(),
            Upstream {
                targets,
                health_check,
                load_balancing,
                max_connections,
                idle_timeout,
                retries: sink
                    .ranged(format!("{key}.retries"), up.retries.map(u64::from), 0, 10)
                    .map_or(DEFAULT_RETRIES, |n| n as u32),
                tls_ca: tls.and_then(|t| t.ca.clone()),
                tls_server_name: tls.and_then(|t| t.server_name.clone()),
                tls_client_certificate: client_certificate,
                tls_client_key: client_key,
            },
        );
    }
    out
}

/// Where a route's integration comes from.
enum Source {
    /// `integration = "..."` in TOML.
    Toml,
    /// A `mock` integration of an API Gateway export.
    Mock,
    /// An `http`/`http_proxy` integration of an API Gateway export.
    OpenApi(crate::openapi::UpstreamSpec),
}

fn api_config(
    name: &str,
    raw: &RawApi,
    pools: &BTreeMap<String, RawUpstream>,
    sets: &BTreeMap<String, Arc<RuleSet>>,
    sink: &mut ErrorSink,
    warnings: &mut Vec<String>,
) -> Api {
    let key = format!("api.{name}");
    if raw.stages.is_empty() {
        sink.push(format!("{key}.stages"), "an API needs at least one stage");
    }
    for (stage_name, stage) in &raw.stages {
        for (var, value) in &stage.variables {
            if let Err(e) = check_stage_variable(var, value) {
                sink.push(format!("{key}.stages.{stage_name}.variables.{var}"), e);
            }
        }
    }
    for (id, pool) in &raw.vpc_links {
        if !pools.contains_key(pool) {
            sink.push(
                format!("{key}.vpc_links.{id}"),
                format!(
                    "no [upstream.{pool}] is defined (pools: {})",
                    pools.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }
    // What an export says of gateway responses and the default endpoint; TOML keys override.
    let mut exported_responses = BTreeMap::new();
    let mut exported_disable = false;
    let routes: Vec<(Route, Source)> = match &raw.openapi {
        Some(_) if !raw.routes.is_empty() => {
            sink.push(
                key.clone(),
                "has both `openapi` and `routes`: an API has either an API Gateway export or \
                 TOML routes, not both",
            );
            Vec::new()
        }
        Some(file) => {
            let names: BTreeSet<String> = pools.keys().cloned().collect();
            let imported =
                super::imported::import_api(name, file, raw, &names, sets, sink, warnings);
            exported_responses = imported.gateway_responses;
            exported_disable = imported.disable_execute_api_endpoint;
            imported
                .routes
                .into_iter()
                .map(|(r, up)| (r, up.map_or(Source::Mock, Source::OpenApi)))
                .collect()
        }
        None => {
            if raw.routes.is_empty() {
                sink.push(format!("{key}.routes"), "an API needs at least one route");
            }
            if !raw.open_routes.is_empty() {
                sink.push(
                    format!("{key}.open_routes"),
                    "applies to routes of an `openapi` export only",
                );
            }
            toml_routes(&key, raw, sets, sink)
                .into_iter()
                .map(|r| (r, Source::Toml))
                .collect()
        }
    };
    let is_pool = |n: &str| pools.contains_key(n);
    let mut stages = BTreeMap::new();
    for (stage_name, stage) in &raw.stages {
        let mut integrations = Vec::new();
        for (route, source) in &routes {
            let resolved = match (source, &route.mock) {
                (Source::Toml | Source::Mock, Some(m)) => Ok(Integration::mock(m.clone())),
                (Source::Mock, None) => continue,
                (Source::Toml, None) => {
                    toml_integration(route, &key, stage_name, &stage.variables, &is_pool)
                }
                (Source::OpenApi(up), _) => super::imported::compile_stage(
                    up,
                    &route.path.params,
                    &stage.variables,
                    &raw.vpc_links,
                    &is_pool,
                )
                .map_err(|(_, e)| {
                    (
                        format!("{key}.openapi"),
                        format!(
                            "{} {}: {e} (stage `{stage_name}`)",
                            route.method, route.path.raw
                        ),
                    )
                })
                .and_then(|mut i| {
                    i.parameters = resolve_parameters(&route.parameters, &stage.variables)
                        .map_err(|e| {
                            (
                                format!("{key}.openapi"),
                                format!(
                                    "{} {}: requestParameters: {e} (stage `{stage_name}`)",
                                    route.method, route.path.raw
                                ),
                            )
                        })?;
                    Ok(i)
                }),
            };
            match resolved {
                Ok(i) => integrations.push(i),
                Err((ikey, e)) => sink.push(ikey, e),
            }
        }
        let authorization = super::authorization::resolve(
            stage.authorization.as_ref(),
            &format!("{key}.stages.{stage_name}.authorization"),
            sets,
            sink,
        );
        stages.insert(
            stage_name.clone(),
            Stage {
                variables: stage.variables.clone(),
                integrations,
                authorization,
                throttle: stage.throttling.as_ref().and_then(|t| {
                    super::throttling::throttle(
                        t,
                        &format!("{key}.stages.{stage_name}.throttling"),
                        sink,
                    )
                }),
            },
        );
    }
    Api {
        stages,
        routes: routes.into_iter().map(|(r, _)| r).collect(),
        openapi: raw.openapi.clone(),
        gateway_responses: {
            exported_responses.extend(gateway_responses(raw, &key, sink));
            exported_responses
        },
        disable_execute_api_endpoint: raw.disable_execute_api_endpoint.unwrap_or(exported_disable),
    }
}

/// A TOML route's integration in one stage: stage variables substituted, `{NAME}` from the
/// route path or a mapped path value, parameter mappings resolved.
fn toml_integration(
    route: &Route,
    key: &str,
    stage_name: &str,
    variables: &BTreeMap<String, String>,
    is_pool: &dyn Fn(&str) -> bool,
) -> Result<Integration, (String, String)> {
    let ikey = format!("{key}.routes[{}].integration", route.index);
    let url = substitute_stage_variables(&route.integration, variables)
        .map_err(|e| (ikey.clone(), format!("{e} in stage `{stage_name}`")))?;
    let mut params = route.path.params.clone();
    params.extend(route.parameters.iter().filter_map(|m| match &m.target {
        ParamTarget::Path(n) => Some(n.clone()),
        _ => None,
    }));
    let mut integration = Integration::parse(&url, &params, is_pool)
        .map_err(|e| (ikey, format!("{e} (stage `{stage_name}`)")))?;
    integration.parameters = resolve_parameters(&route.parameters, variables).map_err(|e| {
        (
            format!("{key}.routes[{}].request_parameters", route.index),
            format!("{e} in stage `{stage_name}`"),
        )
    })?;
    Ok(integration)
}

/// The `[[api.NAME.routes]]` tables, each checked.
fn toml_routes(
    key: &str,
    raw: &RawApi,
    sets: &BTreeMap<String, Arc<RuleSet>>,
    sink: &mut ErrorSink,
) -> Vec<Route> {
    let mut routes = Vec::new();
    for (i, r) in raw.routes.iter().enumerate() {
        let rkey = format!("{key}.routes[{i}]");
        let mock = r.mock.as_ref().and_then(|m| mock_response(m, &rkey, sink));
        let integration = match (&r.integration, &r.mock) {
            (Some(_), Some(_)) => {
                sink.push(
                    format!("{rkey}.mock"),
                    "a route has an `integration` or a `mock` response, not both",
                );
                continue;
            }
            (None, Some(_)) => Some(String::new()),
            _ => required(&r.integration, &rkey, "integration", sink).cloned(),
        };
        let (Some(r_method), Some(r_path), Some(r_integration)) = (
            required(&r.method, &rkey, "method", sink),
            required(&r.path, &rkey, "path", sink),
            integration,
        ) else {
            continue;
        };
        if r.mock.is_some() && mock.is_none() {
            continue;
        }
        let method = match r_method.to_ascii_uppercase().as_str() {
            "ANY" => Some(RouteMethod::Any),
            m => match http::Method::from_bytes(m.as_bytes()) {
                Ok(m) => Some(RouteMethod::Exact(m)),
                Err(_) => {
                    sink.push(
                        format!("{rkey}.method"),
                        format!("`{r_method}` is not an HTTP method or ANY"),
                    );
                    None
                }
            },
        };
        let path = match PathTemplate::parse(r_path) {
            Ok(p) => Some(p),
            Err(e) => {
                sink.push(format!("{rkey}.path"), e);
                None
            }
        };
        let timeout = sink
            .millis(format!("{rkey}.timeout_ms"), r.timeout_ms)
            .unwrap_or(DEFAULT_INTEGRATION_TIMEOUT);
        let upstream_method =
            r.upstream_method
                .as_deref()
                .and_then(|m| match m.to_ascii_uppercase().as_str() {
                    "ANY" => None,
                    u => http::Method::from_bytes(u.as_bytes())
                        .map_err(|_| {
                            sink.push(
                                format!("{rkey}.upstream_method"),
                                format!("`{m}` is not an HTTP method or ANY"),
                            )
                        })
                        .ok(),
                });
        let closed = r.closed.as_deref().and_then(|c| {
            crate::openapi::AwsCheck::parse(c)
                .map_err(|e| sink.push(format!("{rkey}.closed"), e))
                .ok()
        });
        let throttle = r
            .throttling
            .as_ref()
            .and_then(|t| super::throttling::throttle(t, &format!("{rkey}.throttling"), sink));
        if let (Some(method), Some(path)) = (method, path) {
            let parameters = request_parameters(r, &rkey, &path.params, sink);
            let authz_key = format!("{rkey}.authorization");
            let authorization =
                super::authorization::resolve(r.authorization.as_ref(), &authz_key, sets, sink);
            let identity = crate::config::IdentityChoice::parse(
                r.identity_headers.as_deref(),
                r.xfcc_elements.as_deref(),
                &rkey,
                sink,
            );
            routes.push(Route {
                identity,
                authorization,
                index: i,
                method,
                path,
                integration: r_integration,
                timeout,
                upstream_method,
                parameters,
                mock,
                closed,
                throttle,
                api_key_required: r.api_key_required.unwrap_or(false),
            });
        }
    }
    routes
}

/// `[api.NAME.gateway_responses.TYPE]` tables; unknown types and bad values name their key.
fn gateway_responses(
    raw: &RawApi,
    key: &str,
    sink: &mut ErrorSink,
) -> BTreeMap<String, GatewayResponse> {
    let mut out = BTreeMap::new();
    for (kind, r) in &raw.gateway_responses {
        let gkey = format!("{key}.gateway_responses.{kind}");
        if !GATEWAY_RESPONSE_TYPES.contains(&kind.as_str()) {
            sink.push(
                gkey,
                format!(
                    "not a response type this gateway answers with (one of: {})",
                    GATEWAY_RESPONSE_TYPES.join(", ")
                ),
            );
            continue;
        }
        let status = match r.status {
            None => None,
            Some(s) => match response_status(s, &gkey, sink) {
                Some(s) => Some(s),
                None => continue,
            },
        };
        let (headers, _) = static_headers(r.headers.as_ref(), &gkey, sink);
        out.insert(
            kind.clone(),
            GatewayResponse {
                status,
                headers,
                template: r.template.clone(),
            },
        );
    }
    out
}

/// `[default_endpoint]`: its address, and a certificate (the first domain's by default).
fn default_endpoint(
    d: &super::raw::RawDefaultEndpoint,
    domains: &[Domain],
    sink: &mut ErrorSink,
) -> Option<super::DefaultEndpoint> {
    let listen = match d.listen.as_deref().map(str::parse::<SocketAddr>) {
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => {
            sink.push("default_endpoint.listen", "not an `ip:port` address");
            None
        }
        None => {
            sink.push("default_endpoint.listen", "missing required key");
            None
        }
    };
    if let Some(a) = listen {
        // Listeners are told apart by their configured address: not even port 0 may be shared.
        if domains.iter().any(|dom| dom.listen == a) {
            sink.push(
                "default_endpoint.listen",
                format!("`{a}` is also a domain's listen address"),
            );
        }
    }
    let first = domains.first();
    let certificate = d
        .certificate
        .clone()
        .or_else(|| first.map(|f| f.certificate.clone()));
    let private_key = d
        .private_key
        .clone()
        .or_else(|| first.map(|f| f.private_key.clone()));
    let (Some(certificate), Some(private_key)) = (certificate, private_key) else {
        sink.push(
            "default_endpoint.certificate",
            "set `certificate` and `private_key` (there is no domain to take them from)",
        );
        return None;
    };
    let proxy_protocol = super::proxy_protocol::setting(
        d.proxy_protocol,
        d.trusted_proxies.as_ref(),
        "default_endpoint",
        sink,
    );
    Some(super::DefaultEndpoint {
        listen: listen?,
        certificate,
        private_key,
        proxy_protocol,
    })
}

/// The status of a response the configuration writes (a mock, a gateway response): 200 to
/// 599, else an error under `{key}.status`.
fn response_status(code: u16, key: &str, sink: &mut ErrorSink) -> Option<http::StatusCode> {
    let status = Some(code)
        .filter(|c| (200..=599).contains(c))
        .and_then(|c| http::StatusCode::from_u16(c).ok());
    if status.is_none() {
        sink.push(
            format!("{key}.status"),
            "must be a status code from 200 to 599",
        );
    }
    status
}

/// Static headers the configuration writes, each bad one an error under
/// `{key}.headers."NAME"`; the flag says whether all were good.
fn static_headers(
    written: Option<&BTreeMap<String, String>>,
    key: &str,
    sink: &mut ErrorSink,
) -> (http::HeaderMap, bool) {
    let mut headers = http::HeaderMap::new();
    let mut ok = true;
    for (name, value) in written.into_iter().flatten() {
        match (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                headers.append(n, v);
            }
            _ => {
                sink.push(
                    format!("{key}.headers.\"{name}\""),
                    "not a valid header name and value",
                );
                ok = false;
            }
        }
    }
    (headers, ok)
}

/// A `mock` route's static response; problems go to `sink`.
fn mock_response(
    m: &RawMock,
    rkey: &str,
    sink: &mut ErrorSink,
) -> Option<std::sync::Arc<MockResponse>> {
    let mut ok = true;
    let mkey = format!("{rkey}.mock");
    let status = response_status(m.status.unwrap_or(200), &mkey, sink).unwrap_or_else(|| {
        ok = false;
        http::StatusCode::OK
    });
    let (headers, headers_ok) = static_headers(m.headers.as_ref(), &mkey, sink);
    ok &= headers_ok;
    ok.then(|| {
        std::sync::Arc::new(MockResponse {
            status,
            headers,
            body: bytes::Bytes::from(m.body.clone().unwrap_or_default()),
        })
    })
}

/// The route's `request_parameters`, each problem reported under its own key.
fn request_parameters(
    r: &RawRoute,
    rkey: &str,
    route_params: &[String],
    sink: &mut ErrorSink,
) -> Vec<ParamMapping> {
    let mut out = Vec::new();
    for (target, source) in r.request_parameters.iter().flatten() {
        match ParamMapping::parse(target, source, route_params) {
            Ok(m) => out.push(m),
            Err(e) => sink.push(format!("{rkey}.request_parameters.\"{target}\""), e),
        }
    }
    out
}

/// Replace `stageVariables.NAME` sources with the stage's values.
fn resolve_parameters(
    mappings: &[ParamMapping],
    variables: &BTreeMap<String, String>,
) -> Result<Vec<ParamMapping>, String> {
    mappings
        .iter()
        .map(|m| match &m.source {
            ParamSource::Stage(name) => variables
                .get(name)
                .map(|v| ParamMapping {
                    target: m.target.clone(),
                    source: ParamSource::Static(v.clone()),
                })
                .ok_or_else(|| format!("stage variable `{name}` is not defined")),
            _ => Ok(m.clone()),
        })
        .collect()
}

fn domain(
    i: usize,
    raw: &RawDomain,
    apis: &BTreeMap<String, Api>,
    sets: &BTreeMap<String, Arc<RuleSet>>,
    sink: &mut ErrorSink,
) -> Option<Domain> {
    let key = format!("domain[{i}]");
    let raw_name = required(&raw.name, &key, "name", sink);
    let raw_listen = required(&raw.listen, &key, "listen", sink);
    let certificate = required(&raw.certificate, &key, "certificate", sink);
    let private_key = required(&raw.private_key, &key, "private_key", sink);
    let truststore = required(&raw.truststore, &key, "truststore", sink);
    let name = raw_name
        .map(|n| n.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if let Some(n) = raw_name {
        if name.is_empty() || name.contains(['/', ' ', ':']) {
            sink.push(format!("{key}.name"), format!("`{n}` is not a DNS name"));
        }
    }
    let listen = raw_listen.and_then(|l| match l.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            sink.push(
                format!("{key}.listen"),
                format!("`{l}` is not an `ip:port` address"),
            );
            None
        }
    });
    let min_tls_version = match raw.min_tls_version.as_deref() {
        None | Some("1.2") => TlsVersion::Tls12,
        Some("1.3") => TlsVersion::Tls13,
        Some(other) => {
            sink.push(
                format!("{key}.min_tls_version"),
                format!("`{other}` is not \"1.2\" or \"1.3\""),
            );
            TlsVersion::Tls12
        }
    };
    for (field, file) in [
        ("certificate", certificate),
        ("private_key", private_key),
        ("truststore", truststore),
    ] {
        let Some(file) = file else { continue };
        if let Err(e) = std::fs::metadata(file) {
            sink.push(format!("{key}.{field}"), format!("{}: {e}", file.display()));
        }
    }
    for (j, file) in raw.crls.iter().enumerate() {
        if let Err(e) = std::fs::metadata(file) {
            sink.push(
                format!("{key}.crls[{j}]"),
                format!("{}: {e}", file.display()),
            );
        }
    }
    let (routing_mode, routing_rules) = super::rules::routing_rules(
        raw.routing_mode.as_deref(),
        &raw.routing_rules,
        &key,
        apis,
        sink,
    );
    match routing_mode {
        super::RoutingMode::RoutingRuleOnly if raw.routing_rules.is_empty() => sink.push(
            format!("{key}.routing_rule"),
            "routing_mode ROUTING_RULE_ONLY needs at least one [[domain.routing_rule]]",
        ),
        super::RoutingMode::RoutingRuleOnly => {}
        _ if raw.mappings.is_empty() => sink.push(
            format!("{key}.mapping"),
            "a domain needs at least one [[domain.mapping]]",
        ),
        _ => {}
    }
    let mut mappings = Vec::new();
    let mut base_paths = BTreeSet::new();
    for (j, m) in raw.mappings.iter().enumerate() {
        let mkey = format!("{key}.mapping[{j}]");
        let (Some(m_api), Some(m_stage)) = (
            required(&m.api, &mkey, "api", sink),
            required(&m.stage, &mkey, "stage", sink),
        ) else {
            continue;
        };
        let base = m.base_path.trim_end_matches('/');
        let base = if base.is_empty() { "/" } else { base };
        if !m.base_path.starts_with('/') || crate::path::check_path(base.as_bytes()).is_err() {
            sink.push(
                format!("{mkey}.base_path"),
                format!(
                    "`{}` must be \"/\" or a path such as \"/orders\"",
                    m.base_path
                ),
            );
            continue;
        }
        if !base_paths.insert(base.to_owned()) {
            sink.push(
                format!("{mkey}.base_path"),
                format!("`{base}` is mapped twice on this domain"),
            );
        }
        match apis.get(m_api) {
            None => sink.push(
                format!("{mkey}.api"),
                format!("no [api.{m_api}] is defined"),
            ),
            Some(api) if !api.stages.contains_key(m_stage) => sink.push(
                format!("{mkey}.stage"),
                format!(
                    "api `{}` has no stage `{}` (it has: {})",
                    m_api,
                    m_stage,
                    api.stages.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ),
            Some(_) => {}
        }
        mappings.push(Mapping {
            base_path: base.to_owned(),
            api: m_api.clone(),
            stage: m_stage.clone(),
        });
    }
    mappings.sort_by_key(|m| std::cmp::Reverse(m.base_path.len()));
    let max_connection_age = sink.millis(
        format!("{key}.max_connection_age_ms"),
        raw.max_connection_age_ms,
    );
    let authorization = super::authorization::resolve(
        raw.authorization.as_ref(),
        &format!("{key}.authorization"),
        sets,
        sink,
    );
    let identity_headers =
        crate::config::IdentityHeaders::default().overlaid(&crate::config::IdentityChoice::parse(
            raw.identity_headers.as_deref(),
            raw.xfcc_elements.as_deref(),
            &key,
            sink,
        ));
    let proxy_protocol = super::proxy_protocol::setting(
        raw.proxy_protocol,
        raw.trusted_proxies.as_ref(),
        &key,
        sink,
    );
    Some(Domain {
        identity_headers,
        authorization,
        proxy_protocol,
        index: i,
        name,
        listen: listen?,
        certificate: certificate?.clone(),
        private_key: private_key?.clone(),
        truststore: truststore?.clone(),
        crls: raw.crls.clone(),
        min_tls_version,
        mappings,
        routing_mode,
        routing_rules,
        max_connection_age,
        max_chain_depth: sink
            .ranged(format!("{key}.max_chain_depth"), raw.max_chain_depth, 1, 16)
            .map_or(super::DEFAULT_MAX_CHAIN_DEPTH, |n| n as usize),
    })
}

/// The value of a required key, or an error naming it.
fn required<'a, T>(
    v: &'a Option<T>,
    parent: &str,
    field: &str,
    sink: &mut ErrorSink,
) -> Option<&'a T> {
    if v.is_none() {
        sink.push(format!("{parent}.{field}"), "missing required key");
    }
    v.as_ref()
}
