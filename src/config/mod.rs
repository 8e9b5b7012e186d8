//! Configuration: the TOML file read into raw structs, then validated into a typed [`Config`].
//!
//! Every problem is reported with the file, the key path and the reason, all at once, so a user
//! fixes a broken file in one pass.

mod authorization;
mod cidr;
pub mod identity_headers;
mod imported;
mod params;
mod proxy_protocol;
mod raw;
mod rules;
mod template;
mod throttling;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use authorization::{RULE_FIELDS, Rule, RuleSet, UriPattern, normalize_serial};
pub use cidr::{Cidr, any_contains};
pub use identity_headers::{IdentityChoice, IdentityHeaders, XfccElements};
pub use imported::{ImportSetup, import_setup};
pub use params::{ContextVar, ParamMapping, ParamSource, ParamTarget};
pub use proxy_protocol::ProxyProtocol;
pub use rules::{RoutingMode, RoutingRule, glob_match};
pub(crate) use template::substitute_stage_variables;
pub use template::{
    Integration, IntegrationTarget, MockResponse, PathPart, PathTemplate, Scheme, Segment,
};
pub use throttling::{
    DEFAULT_GATEWAY_BURST, DEFAULT_GATEWAY_RATE, DEFAULT_STORE_TIMEOUT, MAX_QUOTA, MAX_THROTTLE,
    Period, Quota, RateLimitStore, StoreFailure, Throttle, Throttling, UsagePlan,
};

/// Default largest request body: API Gateway's 10 MiB payload limit.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// Default largest request head (request line and headers).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// Default time for a request head to arrive.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time for a whole request body to arrive.
pub const DEFAULT_REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time an idle client connection stays open.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time a response may make no progress (upstream sends nothing, or the client takes
/// nothing) before it is cut.
pub const DEFAULT_RESPONSE_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time for the TLS handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time in-flight requests get to finish after SIGTERM.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Default cap on open client connections per listener.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default integration timeout: API Gateway's 29 seconds.
pub const DEFAULT_INTEGRATION_TIMEOUT: Duration = Duration::from_millis(29_000);

/// Longest duration any `*_ms` key accepts: 30 days.
pub const MAX_DURATION_MS: u64 = 30 * 24 * 3600 * 1000;
/// Largest `max_connections` accepted, per listener or per target.
pub const MAX_CONNECTIONS_LIMIT: u64 = 1_000_000;
/// Default admin endpoint address when `[admin]` has no `listen`: loopback only.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9901";
/// Default longest request target (path and query): API Gateway's Regional limit.
pub const DEFAULT_MAX_URI_BYTES: usize = 10_240;

/// A validated configuration, ready to build a serving snapshot from.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from.
    pub source: PathBuf,
    /// Request and connection bounds.
    pub limits: Limits,
    /// Custom domains, in file order.
    pub domains: Vec<Domain>,
    /// APIs by name.
    pub apis: BTreeMap<String, Api>,
    /// Upstream pools by name.
    pub upstreams: BTreeMap<String, Upstream>,
    /// Admin endpoint address, when `[admin]` is present.
    pub admin: Option<SocketAddr>,
    /// Headers removed from requests before forwarding, `[forwarding]`.
    pub forwarding: Forwarding,
    /// API Gateway's default `execute-api` endpoint, `[default_endpoint]`; off when unset.
    pub default_endpoint: Option<DefaultEndpoint>,
    /// The access log line's format (`[access_log] format`); the default line when unset.
    pub access_log_format: Option<std::sync::Arc<crate::access_format::AccessFormat>>,
    /// Where and how access lines are written (`[access_log] path`, buffering, flushing).
    pub access_log: crate::access_log::Settings,
    /// Authorization rule sets by name, `[authorization.NAME]`.
    pub authorization: BTreeMap<String, std::sync::Arc<RuleSet>>,
    /// Token buckets, usage plans and their store: `[throttling]`, `[usage_plan.*]`,
    /// `[rate_limit]`.
    pub throttling: Throttling,
    /// What loading found worth a warning: routes of API Gateway exports that are not served,
    /// and differences from AWS in those that are.
    pub warnings: Vec<String>,
}

/// Inbound headers that could carry a client identity: removed by default, so only the
/// gateway's own identity headers ever reach an upstream.
pub const DEFAULT_STRIP_HEADERS: &[&str] = &[
    "x-forwarded-client-cert",
    "client-cert",
    "client-cert-chain",
    "x-ssl-client-*",
    "x-client-cert*",
    "x-client-verify",
    "x-client-dn",
    "x-amzn-*",
];

/// What the gateway removes from every request before forwarding, `[forwarding]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarding {
    /// Exact header names (lower case).
    pub strip_exact: Vec<String>,
    /// Name prefixes (lower case), written with a trailing `*`.
    pub strip_prefixes: Vec<String>,
    /// Remove names containing `_` (some origins read `X_SSL_Client` as `X-SSL-Client`).
    pub strip_underscore: bool,
}

impl Forwarding {
    /// Build from patterns: `name` or `prefix*`, any case. The identity headers the gateway
    /// emits are always on the list, whatever `patterns` holds.
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>, strip_underscore: bool) -> Self {
        let mut f = Forwarding {
            strip_exact: Vec::new(),
            strip_prefixes: Vec::new(),
            strip_underscore,
        };
        let emitted = identity_headers::EMITTED.iter().copied();
        for p in patterns.into_iter().chain(emitted) {
            let p = p.to_ascii_lowercase();
            match p.strip_suffix('*') {
                Some(prefix) => f.strip_prefixes.push(prefix.to_owned()),
                None if f.strip_exact.contains(&p) => {}
                None => f.strip_exact.push(p),
            }
        }
        f
    }

    /// Whether a (lower-case) header name is removed.
    pub fn strips(&self, name: &str) -> bool {
        (self.strip_underscore && name.contains('_'))
            || self.strip_exact.iter().any(|e| e == name)
            || self
                .strip_prefixes
                .iter()
                .any(|p| name.starts_with(p.as_str()))
    }
}

impl Default for Forwarding {
    fn default() -> Self {
        Forwarding::new(DEFAULT_STRIP_HEADERS.iter().copied(), true)
    }
}

/// Request and connection bounds, `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body; larger gets 413.
    pub max_body_bytes: u64,
    /// Largest request head; larger gets 431.
    pub max_header_bytes: usize,
    /// Longest request target (path and query); longer gets 414.
    pub max_uri_bytes: usize,
    /// Largest upstream response head; larger is a 502.
    pub max_response_header_bytes: usize,
    /// The request head must arrive within this.
    pub header_read_timeout: Duration,
    /// The whole request body must arrive within this.
    pub request_body_timeout: Duration,
    /// An idle connection is closed after this.
    pub idle_timeout: Duration,
    /// A response that makes no progress for this long is cut: an upstream that sends no
    /// body bytes, or a client that takes none.
    pub response_idle_timeout: Duration,
    /// The TLS handshake must finish within this.
    pub handshake_timeout: Duration,
    /// In-flight requests get this long to finish on shutdown.
    pub shutdown_grace: Duration,
    /// Most client connections open at once, per listener.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_uri_bytes: DEFAULT_MAX_URI_BYTES,
            max_response_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            request_body_timeout: DEFAULT_REQUEST_BODY_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            response_idle_timeout: DEFAULT_RESPONSE_IDLE_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Lowest TLS version a domain accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// A custom domain with mutual TLS, `[[domain]]`.
#[derive(Debug, Clone)]
pub struct Domain {
    /// Position in the file, for error messages (`domain[i]`).
    pub index: usize,
    /// SNI name, lower case.
    pub name: String,
    /// Listen address; several domains may share one.
    pub listen: SocketAddr,
    /// PEM certificate chain, leaf first.
    pub certificate: PathBuf,
    /// PEM private key.
    pub private_key: PathBuf,
    /// PEM bundle of trusted CA certificates.
    pub truststore: PathBuf,
    /// CRL files.
    pub crls: Vec<PathBuf>,
    /// Lowest TLS version accepted.
    pub min_tls_version: TlsVersion,
    /// API mappings, longest base path first.
    pub mappings: Vec<Mapping>,
    /// Connections older than this are closed after their current request, so a client
    /// authenticated under old trust material cannot keep a connection forever.
    pub max_connection_age: Option<Duration>,
    /// Most CA certificates above a client's leaf, the trust anchor included.
    pub max_chain_depth: usize,
    /// How a request picks its API stage: mappings, routing rules, or rules then mappings.
    pub routing_mode: RoutingMode,
    /// Routing rules, lowest priority first.
    pub routing_rules: Vec<RoutingRule>,
    /// Who may call the domain's routes, unless a stage or route names its own rule set.
    pub authorization: Option<std::sync::Arc<RuleSet>>,
    /// The identity headers its requests carry upstream, unless a route chooses its own.
    pub identity_headers: IdentityHeaders,
    /// The PROXY protocol on the domain's listener (`proxy_protocol`, `trusted_proxies`);
    /// `None`: off. Domains sharing a listen address agree on it.
    pub proxy_protocol: Option<ProxyProtocol>,
}

/// Default `max_chain_depth`: a root plus four subordinate CAs, the deepest hierarchy
/// Portcullis (and ACM Private CA) issues.
pub const DEFAULT_MAX_CHAIN_DEPTH: usize = 5;

/// An API mapping: base path -> API stage.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// "/" or "/orders" (no trailing slash).
    pub base_path: String,
    /// API name.
    pub api: String,
    /// Stage name.
    pub stage: String,
}

/// An API: stages and routes, `[api.NAME]`.
#[derive(Debug, Clone)]
pub struct Api {
    /// Stages by name.
    pub stages: BTreeMap<String, Stage>,
    /// Routes in file order (an export's `ANY` written out method by method).
    pub routes: Vec<Route>,
    /// The API Gateway export the routes come from, when they do not come from TOML.
    pub openapi: Option<PathBuf>,
    /// Customised gateway responses, by API Gateway response type (`DEFAULT_4XX`, ...).
    pub gateway_responses: BTreeMap<String, GatewayResponse>,
    /// The default `execute-api` endpoint refuses this API (`disableExecuteApiEndpoint`).
    pub disable_execute_api_endpoint: bool,
}

/// API Gateway response types a `[api.NAME.gateway_responses.TYPE]` table may name: those the
/// gateway answers with, and the two fallbacks.
pub const GATEWAY_RESPONSE_TYPES: [&str; 14] = [
    "DEFAULT_4XX",
    "ACCESS_DENIED",
    "DEFAULT_5XX",
    "MISSING_AUTHENTICATION_TOKEN",
    "BAD_REQUEST_PARAMETERS",
    "REQUEST_TOO_LARGE",
    "REQUEST_HEADER_FIELDS_TOO_LARGE",
    "REQUEST_TIMEOUT",
    "INTEGRATION_FAILURE",
    "INTEGRATION_TIMEOUT",
    "THROTTLED",
    "UNAUTHORIZED",
    "QUOTA_EXCEEDED",
    "INVALID_API_KEY",
];

/// The default `execute-api` endpoint: TLS without a client certificate, every API at
/// `https://HOST/{stage}/{path}`, as API Gateway's default endpoint is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultEndpoint {
    /// Listen address.
    pub listen: SocketAddr,
    /// Server certificate chain.
    pub certificate: PathBuf,
    /// Its private key.
    pub private_key: PathBuf,
    /// The PROXY protocol on its listener; `None`: off.
    pub proxy_protocol: Option<ProxyProtocol>,
}

/// A customised gateway response: status, added headers and a body template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayResponse {
    /// Status instead of the response type's own.
    pub status: Option<http::StatusCode>,
    /// Headers added.
    pub headers: http::HeaderMap,
    /// Body template (`$context.error.message`, `$context.requestId`, ...).
    pub template: Option<String>,
}

/// A stage of an API, with each route's integration resolved for it.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Stage variables.
    pub variables: BTreeMap<String, String>,
    /// `integrations[i]` belongs to `routes[i]` of the API.
    pub integrations: Vec<Integration>,
    /// Who may call the stage's routes, unless a route names its own rule set.
    pub authorization: Option<std::sync::Arc<RuleSet>>,
    /// The stage's token bucket, `[api.NAME.stages.STAGE.throttling]`.
    pub throttle: Option<Throttle>,
}

/// A route: method and path template -> integration.
#[derive(Debug, Clone)]
pub struct Route {
    /// Position in the API's route list, for messages.
    pub index: usize,
    /// Method to match.
    pub method: RouteMethod,
    /// Path template.
    pub path: PathTemplate,
    /// Integration URL as written, before substitution.
    pub integration: String,
    /// Integration timeout; exceeding it gives 504.
    pub timeout: Duration,
    /// Method sent upstream instead of the client's, if set.
    pub upstream_method: Option<http::Method>,
    /// Request parameter mappings, stage variables not yet resolved.
    pub parameters: Vec<ParamMapping>,
    /// The static response of a `mock` route (then `integration` is empty).
    pub mock: Option<std::sync::Arc<MockResponse>>,
    /// The check AWS makes first that keeps this imported route closed, if any.
    pub closed: Option<crate::openapi::AwsCheck>,
    /// Who may call the route: its own rule set, before the stage's and the domain's.
    pub authorization: Option<std::sync::Arc<RuleSet>>,
    /// The route's token bucket (one per stage), `throttling = { rate, burst }`.
    pub throttle: Option<Throttle>,
    /// Callers must send an API key of a usage plan covering the stage.
    pub api_key_required: bool,
    /// The route's `identity_headers` and `xfcc_elements`, over its domain's.
    pub identity: IdentityChoice,
}

/// The method a route answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMethod {
    /// Every method (API Gateway's `ANY`).
    Any,
    /// One method.
    Exact(http::Method),
}

impl fmt::Display for RouteMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteMethod::Any => f.write_str("ANY"),
            RouteMethod::Exact(m) => f.write_str(m.as_str()),
        }
    }
}

/// Default time between active health checks.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(10);
/// Default time an active health check may take.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// Default consecutive successes that make a target healthy.
pub const DEFAULT_HEALTHY_THRESHOLD: u32 = 2;
/// Default consecutive failures that make a target unhealthy.
pub const DEFAULT_UNHEALTHY_THRESHOLD: u32 = 3;
/// Default idle time of a pooled upstream connection.
pub const DEFAULT_UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Default retries of idempotent requests after a connect failure.
pub const DEFAULT_RETRIES: u32 = 1;

/// How a pool spreads requests over its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadBalancing {
    /// In turn.
    RoundRobin,
    /// To the target with the fewest requests in flight.
    LeastRequests,
}

/// Active health checking of a pool's targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// HTTP path to GET (2xx/3xx is healthy); a TCP connect check when `None`.
    pub path: Option<String>,
    /// Time between checks.
    pub interval: Duration,
    /// Time a check may take.
    pub timeout: Duration,
    /// Consecutive successes that make a target healthy.
    pub healthy_threshold: u32,
    /// Consecutive failures that make a target unhealthy.
    pub unhealthy_threshold: u32,
}

/// One target of a pool.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// `host:port`.
    pub authority: http::uri::Authority,
    /// Zone label (for metrics and logs), empty if none.
    pub zone: String,
}

/// A load-balanced pool of targets, `[upstream.NAME]`.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Targets.
    pub targets: Vec<TargetConfig>,
    /// Active health checks, if configured.
    pub health_check: Option<HealthCheck>,
    /// Load balancing.
    pub load_balancing: LoadBalancing,
    /// Most requests in flight per target (`None`: unlimited).
    pub max_connections: Option<usize>,
    /// Idle pooled connections are closed after this.
    pub idle_timeout: Duration,
    /// Retries of idempotent requests on another target after a connect failure.
    pub retries: u32,
    /// Client certificate chain the gateway presents to `https://` upstreams.
    pub tls_client_certificate: Option<PathBuf>,
    /// Its key.
    pub tls_client_key: Option<PathBuf>,
    /// CA bundle for `https://` integrations (system roots if absent).
    pub tls_ca: Option<PathBuf>,
    /// Name checked against the upstream certificate (target host if absent).
    pub tls_server_name: Option<String>,
}

/// One problem in a configuration: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration file.
    pub file: PathBuf,
    /// Key path such as `domain[0].truststore`; empty for the whole file.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.reason)
        } else {
            write!(f, "{}: {}: {}", self.file.display(), self.key, self.reason)
        }
    }
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects errors against one file while validating.
#[derive(Debug)]
pub struct ErrorSink {
    file: PathBuf,
    errors: Vec<ConfigError>,
}

impl ErrorSink {
    /// A sink for errors in `file`.
    pub fn new(file: &Path) -> Self {
        ErrorSink {
            file: file.to_path_buf(),
            errors: Vec::new(),
        }
    }

    /// Record one problem at `key`.
    pub fn push(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.clone(),
            key: key.into(),
            reason: reason.into(),
        });
    }

    /// `value` when it lies in `lo..=hi`; otherwise record why under `key` and give `None`.
    /// Every numeric key goes through here, so no value can overflow a timer or a counter.
    pub fn ranged(
        &mut self,
        key: impl Into<String>,
        value: Option<u64>,
        lo: u64,
        hi: u64,
    ) -> Option<u64> {
        let v = value?;
        if (lo..=hi).contains(&v) {
            Some(v)
        } else {
            self.push(
                key,
                format!("{v} is out of range: must be between {lo} and {hi}"),
            );
            None
        }
    }

    /// A millisecond key in `1..=MAX_DURATION_MS`, as a duration.
    pub fn millis(&mut self, key: impl Into<String>, value: Option<u64>) -> Option<Duration> {
        self.ranged(key, value, 1, MAX_DURATION_MS)
            .map(Duration::from_millis)
    }

    /// How many problems were recorded.
    /// How many problems were recorded so far.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(value)` when nothing was recorded, else every problem.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}

/// Read and validate the file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let unreadable = |reason: String| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            key: String::new(),
            reason: format!("cannot read the configuration file: {reason}"),
        }])
    };
    let data = crate::file_read::read_regular(path).map_err(unreadable)?;
    let text = String::from_utf8(data).map_err(|e| unreadable(format!("not UTF-8: {e}")))?;
    parse(path, &text)
}

/// Validate configuration text as if read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
    let toml_error = |e: toml::de::Error| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            key: String::new(),
            reason: format!("invalid TOML: {}", e.to_string().trim_end()),
        }])
    };
    let de = toml::Deserializer::parse(text).map_err(toml_error)?;
    let mut unknown = Vec::new();
    let raw: raw::RawConfig =
        serde_ignored::deserialize(de, |p| unknown.push(key_path(&p))).map_err(toml_error)?;
    let unknown: Vec<ConfigError> = unknown
        .into_iter()
        .map(|key| ConfigError {
            file: path.to_path_buf(),
            reason: format!(
                "unknown field `{}` (a typo? config/gateway.toml shows every key)",
                key.rsplit(['.', '[']).next().unwrap_or(&key)
            ),
            key,
        })
        .collect();
    match validate::validate(path, raw) {
        Ok(config) if unknown.is_empty() => Ok(config),
        Ok(_) => Err(ConfigErrors(unknown)),
        Err(ConfigErrors(mut rest)) => {
            let mut all = unknown;
            all.append(&mut rest);
            Err(ConfigErrors(all))
        }
    }
}

/// `domain[0].lisen` style key path for an ignored (unknown) key.
fn key_path(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match p {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", key_path(parent)),
        Path::Map { parent, key } => {
            let parent = key_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => key_path(parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[[domain]]\nname = \"api.example\"\nlisten = \"127.0.0.1:8443\"\ncertificate = \"s.pem\"\nprivate_key = \"s.key\"\ntruststore = \"t.pem\"\n\n[[domain.mapping]]\nbase_path = \"/\"\napi = \"inv\"\nstage = \"prod\"\n\n[api.inv.stages.prod]\nvariables = { backend = \"onprem\" }\n\n[[api.inv.routes]]\nmethod = \"GET\"\npath = \"/inventory\"\nintegration = \"http://${stageVariables.backend}/rest-service/inventory\"\n\n[upstream.onprem]\ntargets = [\"127.0.0.1:8001\"]\n";

    /// `BASE` after `extra`, its files present (empty: parsing only checks they can be read).
    fn text_with(extra: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let mut text = format!("{extra}\n{BASE}");
        for f in ["s.pem", "s.key", "t.pem"] {
            let path = dir.path().join(f);
            std::fs::write(&path, "").unwrap();
            text = text.replace(
                &format!("\"{f}\""),
                &format!("{:?}", path.display().to_string()),
            );
        }
        (dir, text)
    }

    fn parse_with(extra: &str) -> Result<Config, ConfigErrors> {
        let (_dir, text) = text_with(extra);
        parse(Path::new("gw.toml"), &text)
    }

    fn keys(e: &ConfigErrors) -> Vec<String> {
        e.0.iter().map(|e| e.key.clone()).collect()
    }

    #[test]
    fn a_rule_set_nothing_names_is_a_warning_naming_it() {
        let sets = "[authorization.used]\nallow = [ { subject_cn = [\"a\"] } ]\n\n\
                    [authorization.spare]\nallow = [ { subject_cn = [\"b\"] } ]\n";
        let (_dir, text) = text_with(sets);
        let text = text.replace("truststore = ", "authorization = \"used\"\ntruststore = ");
        let c = parse(Path::new("gw.toml"), &text).unwrap();
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(
            c.warnings[0].starts_with("gw.toml: [authorization.spare] is named by no"),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn a_valid_file_gets_its_defaults() {
        let c = parse_with("").unwrap();
        assert_eq!(c.limits, Limits::default());
        assert_eq!(
            c.limits.response_idle_timeout,
            DEFAULT_RESPONSE_IDLE_TIMEOUT
        );
        assert_eq!(c.domains.len(), 1);
    }

    #[test]
    fn limits_are_read_in_their_units() {
        let c =
            parse_with("[limits]\nresponse_idle_timeout_ms = 1500\nmax_uri_bytes = 2048").unwrap();
        assert_eq!(c.limits.response_idle_timeout, Duration::from_millis(1500));
        assert_eq!(c.limits.max_uri_bytes, 2048);
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let e = parse_with(
            "[limits]\nmax_connections = 9223372036854775807\nresponse_idle_timeout_ms = 0\nmax_uri_byts = 1",
        )
        .unwrap_err();
        let k = keys(&e);
        for key in [
            "limits.max_connections",
            "limits.response_idle_timeout_ms",
            "limits.max_uri_byts",
        ] {
            assert!(k.iter().any(|x| x == key), "{key} missing from {k:?}");
        }
        assert!(e.to_string().contains("gw.toml"), "{e}");
    }

    #[test]
    fn a_route_naming_an_unknown_stage_variable_is_refused() {
        let (_dir, text) = text_with("");
        let text = text.replace("${stageVariables.backend}", "${stageVariables.backnd}");
        let e = parse(Path::new("gw.toml"), &text).unwrap_err();
        assert!(e.to_string().contains("backnd"), "{e}");
    }

    #[test]
    fn malformed_toml_is_one_error_naming_the_file() {
        let e = parse(Path::new("gw.toml"), "[limits\n").unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert!(e.to_string().contains("invalid TOML"), "{e}");
    }
}
