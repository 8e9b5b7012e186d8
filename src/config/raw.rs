//! Serde mirror of the TOML file: what the user wrote, before any validation. Unknown keys are
//! collected (with their key paths) by `serde_ignored` rather than refused one at a time.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// The whole file as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawConfig {
    /// `[limits]`: request and connection bounds.
    #[serde(default)]
    pub limits: RawLimits,
    /// `[[domain]]`: custom domains with mutual TLS.
    #[serde(default, rename = "domain")]
    pub domains: Vec<RawDomain>,
    /// `[api.NAME]`: APIs with stages and routes.
    #[serde(default)]
    pub api: BTreeMap<String, RawApi>,
    /// `[upstream.NAME]`: load-balanced target pools.
    #[serde(default)]
    pub upstream: BTreeMap<String, RawUpstream>,
    /// `[admin]`: the health, readiness and metrics endpoint.
    pub admin: Option<RawAdmin>,
    /// `[forwarding]`: what the gateway removes from requests before forwarding.
    pub forwarding: Option<RawForwarding>,
    /// `[access_log]`: the access log line's format, destination and buffering.
    pub access_log: Option<RawAccessLog>,
    /// `[default_endpoint]`: API Gateway's default `execute-api` endpoint, for emulation.
    pub default_endpoint: Option<RawDefaultEndpoint>,
    /// `[authorization.NAME]`: rule sets on the client certificate.
    #[serde(default)]
    pub authorization: BTreeMap<String, super::authorization::RawRuleSet>,
    /// `[throttling]`: the gateway-wide token bucket.
    pub throttling: Option<super::throttling::RawThrottle>,
    /// `[usage_plan.NAME]`: API Gateway's usage plans.
    #[serde(default)]
    pub usage_plan: BTreeMap<String, super::throttling::RawUsagePlan>,
    /// `[rate_limit]`: where buckets and quotas live.
    pub rate_limit: Option<super::throttling::RawRateLimit>,
}

/// `[default_endpoint]` as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawDefaultEndpoint {
    /// Listen address.
    pub listen: Option<String>,
    /// Server certificate (default: the first domain's).
    pub certificate: Option<PathBuf>,
    /// Its key (default: the first domain's).
    pub private_key: Option<PathBuf>,
    /// Read a PROXY protocol header (v1 or v2) before TLS on every connection.
    pub proxy_protocol: Option<bool>,
    /// Address ranges of the load balancers allowed to connect when `proxy_protocol` is on.
    pub trusted_proxies: Option<Vec<String>>,
}

/// `[access_log]` as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawAccessLog {
    /// API Gateway's `accessLogSettings.format`, with `$context` variables.
    pub format: Option<String>,
    /// File the lines are appended to (default: stderr).
    pub path: Option<PathBuf>,
    /// Pending bytes that trigger a write.
    pub buffer_bytes: Option<u64>,
    /// Longest a line waits for a write.
    pub flush_interval_ms: Option<u64>,
    /// Most bytes pending before lines are dropped (and counted).
    pub max_pending_bytes: Option<u64>,
}

/// `[forwarding]` as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawForwarding {
    /// Header names removed from every request; `*` at the end matches a prefix.
    pub strip_headers: Option<Vec<String>>,
    /// Remove header names that contain `_` (default true).
    pub strip_underscore_headers: Option<bool>,
}

/// `[admin]` as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawAdmin {
    /// Listen address (default 127.0.0.1:9901).
    pub listen: Option<String>,
}

/// `[limits]` as written; every field optional.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawLimits {
    /// Largest request body, in bytes.
    pub max_body_bytes: Option<u64>,
    /// Largest request head, in bytes.
    pub max_header_bytes: Option<u64>,
    /// Longest request target (path and query), in bytes.
    pub max_uri_bytes: Option<u64>,
    /// Largest upstream response head, in bytes.
    pub max_response_header_bytes: Option<u64>,
    /// Time allowed for a request head to arrive.
    pub header_read_timeout_ms: Option<u64>,
    /// Time allowed for a whole request body to arrive.
    pub request_body_timeout_ms: Option<u64>,
    /// Time an idle connection is kept open.
    pub idle_timeout_ms: Option<u64>,
    /// Time a response may make no progress before it is cut.
    pub response_idle_timeout_ms: Option<u64>,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout_ms: Option<u64>,
    /// Time in-flight requests get to finish on shutdown.
    pub shutdown_grace_ms: Option<u64>,
    /// Most client connections open at once, per listener.
    pub max_connections: Option<u64>,
}

/// One `[[domain]]` table.
#[derive(Debug, Deserialize)]
pub(crate) struct RawDomain {
    /// SNI name.
    pub name: Option<String>,
    /// Listen address.
    pub listen: Option<String>,
    /// PEM certificate chain, leaf first.
    pub certificate: Option<PathBuf>,
    /// PEM private key.
    pub private_key: Option<PathBuf>,
    /// PEM bundle of CA certificates trusted for client certificates.
    pub truststore: Option<PathBuf>,
    /// CRL files, PEM or DER.
    #[serde(default)]
    pub crls: Vec<PathBuf>,
    /// "1.2" or "1.3".
    pub min_tls_version: Option<String>,
    /// Close connections older than this (after their current request).
    pub max_connection_age_ms: Option<u64>,
    /// Most CA certificates above a client's leaf (default 5: root plus four subordinates).
    pub max_chain_depth: Option<u64>,
    /// `[[domain.mapping]]` tables.
    #[serde(default, rename = "mapping")]
    pub mappings: Vec<RawMapping>,
    /// `API_MAPPING_ONLY` (default), `ROUTING_RULE_THEN_API_MAPPING` or `ROUTING_RULE_ONLY`.
    pub routing_mode: Option<String>,
    /// `[[domain.routing_rule]]` tables.
    #[serde(default, rename = "routing_rule")]
    pub routing_rules: Vec<super::rules::RawRoutingRule>,
    /// Name of an `[authorization.NAME]` rule set for the domain's routes.
    pub authorization: Option<String>,
    /// Identity headers sent upstream: `x-forwarded-client-cert`, `client-cert`,
    /// `client-cert-chain`.
    pub identity_headers: Option<Vec<String>>,
    /// Elements of `x-forwarded-client-cert`: `By Hash Cert Chain Subject URI DNS`.
    pub xfcc_elements: Option<Vec<String>>,
    /// Read a PROXY protocol header (v1 or v2) before TLS on every connection.
    pub proxy_protocol: Option<bool>,
    /// Address ranges of the load balancers allowed to connect when `proxy_protocol` is on.
    pub trusted_proxies: Option<Vec<String>>,
}

/// One `[[domain.mapping]]` table.
#[derive(Debug, Deserialize)]
pub(crate) struct RawMapping {
    /// "/" or "/orders".
    #[serde(default = "root_path")]
    pub base_path: String,
    /// Name of an `[api.NAME]`.
    pub api: Option<String>,
    /// Name of a stage of that API.
    pub stage: Option<String>,
}

fn root_path() -> String {
    "/".to_owned()
}

/// One `[api.NAME]` table.
#[derive(Debug, Deserialize)]
pub(crate) struct RawApi {
    /// `[api.NAME.stages.STAGE]` tables.
    #[serde(default)]
    pub stages: BTreeMap<String, RawStage>,
    /// `[[api.NAME.routes]]` tables.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    /// An API Gateway export (OpenAPI 3.0 or Swagger 2.0) that defines the routes instead.
    pub openapi: Option<PathBuf>,
    /// VPC link ids (`connectionId`) of the export -> `[upstream.*]` pool names.
    #[serde(default)]
    pub vpc_links: BTreeMap<String, String>,
    /// Routes of the export (`GET /admin`) served without the authorizer or API key check AWS
    /// would make.
    #[serde(default)]
    pub open_routes: Vec<String>,
    /// What the export's base path does to its routes: `ignore` (default), `prepend`, `split`.
    pub base_path_mode: Option<String>,
    /// API Gateway's `disableExecuteApiEndpoint`: the default endpoint refuses this API.
    pub disable_execute_api_endpoint: Option<bool>,
    /// `[api.NAME.gateway_responses.TYPE]`: API Gateway's customised gateway responses.
    #[serde(default)]
    pub gateway_responses: BTreeMap<String, RawGatewayResponse>,
}

/// One customised gateway response, as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawGatewayResponse {
    /// Status code instead of the type's own.
    pub status: Option<u16>,
    /// Headers added to the response.
    pub headers: Option<BTreeMap<String, String>>,
    /// Body template with `$context` variables.
    pub template: Option<String>,
}

/// One stage of an API.
#[derive(Debug, Deserialize)]
pub(crate) struct RawStage {
    /// Stage variables, substituted into integration URLs.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Name of an `[authorization.NAME]` rule set for the stage's routes.
    pub authorization: Option<String>,
    /// `[api.NAME.stages.STAGE.throttling]`: the stage's token bucket.
    pub throttling: Option<super::throttling::RawThrottle>,
}

/// One route of an API.
#[derive(Debug, Deserialize)]
pub(crate) struct RawRoute {
    /// HTTP method or ANY.
    pub method: Option<String>,
    /// Path template.
    pub path: Option<String>,
    /// Integration URL template.
    pub integration: Option<String>,
    /// Integration timeout.
    pub timeout_ms: Option<u64>,
    /// Method sent upstream when it differs from the client's (API Gateway's `httpMethod`).
    pub upstream_method: Option<String>,
    /// `{ "integration.request.header.X" = "method.request.header.Y", ... }`.
    pub request_parameters: Option<BTreeMap<String, String>>,
    /// A static response instead of an integration (API Gateway's `mock`).
    pub mock: Option<RawMock>,
    /// `"authorizer"`, `"iam"` or `"api_key"`: the route is served closed, answering as API
    /// Gateway answers a request without that check's credential (what `import` emits for a
    /// route AWS guards).
    pub closed: Option<String>,
    /// Name of an `[authorization.NAME]` rule set for this route.
    pub authorization: Option<String>,
    /// `throttling = { rate, burst }`: the route's token bucket (per stage).
    pub throttling: Option<super::throttling::RawThrottle>,
    /// Callers must send an API key of a usage plan in `x-api-key`.
    pub api_key_required: Option<bool>,
    /// Identity headers sent upstream for this route, instead of the domain's.
    pub identity_headers: Option<Vec<String>>,
    /// Elements of `x-forwarded-client-cert` for this route, instead of the domain's.
    pub xfcc_elements: Option<Vec<String>>,
}

/// A route's static response, as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawMock {
    /// Status code (default 200).
    pub status: Option<u16>,
    /// Response headers.
    pub headers: Option<BTreeMap<String, String>>,
    /// Response body (default empty).
    pub body: Option<String>,
}

/// One `[upstream.NAME]` table.
#[derive(Debug, Deserialize)]
pub(crate) struct RawUpstream {
    /// Targets: `"host:port"` or `{ address = "host:port", zone = "a" }`.
    #[serde(default)]
    pub targets: Vec<RawTarget>,
    /// TLS settings for `https://` integrations to this pool.
    pub tls: Option<RawUpstreamTls>,
    /// Active health checks.
    pub health_check: Option<RawHealthCheck>,
    /// `round_robin` or `least_requests`.
    pub load_balancing: Option<String>,
    /// Most requests in flight per target.
    pub max_connections: Option<u64>,
    /// Idle pooled connections are closed after this.
    pub idle_timeout_ms: Option<u64>,
    /// Retries of idempotent requests on another target after a connect failure.
    pub retries: Option<u32>,
}

/// A pool target, as a plain address or a table with a zone label.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawTarget {
    /// `"host:port"`.
    Address(String),
    /// `{ address = "host:port", zone = "eu-1a" }`.
    Table {
        /// `host:port`.
        address: String,
        /// Zone label.
        zone: Option<String>,
    },
}

/// `health_check = { ... }` of a pool.
#[derive(Debug, Deserialize)]
pub(crate) struct RawHealthCheck {
    /// HTTP path to GET; a TCP connect check when absent.
    pub path: Option<String>,
    /// Time between checks.
    pub interval_ms: Option<u64>,
    /// Time a check may take.
    pub timeout_ms: Option<u64>,
    /// Consecutive successes that make a target healthy.
    pub healthy_threshold: Option<u32>,
    /// Consecutive failures that make a target unhealthy.
    pub unhealthy_threshold: Option<u32>,
}

/// TLS settings for an upstream pool.
#[derive(Debug, Deserialize)]
pub(crate) struct RawUpstreamTls {
    /// PEM bundle of CAs that sign the upstream's certificate (default: system roots).
    pub ca: Option<PathBuf>,
    /// Name to verify the upstream certificate against (default: the target host).
    pub server_name: Option<String>,
    /// Client certificate (PEM chain) the gateway presents to the upstream.
    pub client_certificate: Option<PathBuf>,
    /// Its private key.
    pub client_key: Option<PathBuf>,
}
