//! Prometheus metrics, kept across reloads: one registry per gateway process, encoded by
//! `prometheus-client` for the admin endpoint's `/metrics`.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

mod per_worker;

pub use per_worker::{WorkerCounter, WorkerHistogram};

/// Labels of a request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Domain (SNI name).
    pub domain: Arc<str>,
    /// API name, empty when no route matched.
    pub api: Arc<str>,
    /// Stage name.
    pub stage: Arc<str>,
    /// Route such as `GET /inventory`.
    pub route: Arc<str>,
    /// Response status.
    pub status: u16,
}

/// Labels of a route (for latency).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Domain.
    pub domain: Arc<str>,
    /// API.
    pub api: Arc<str>,
    /// Stage.
    pub stage: Arc<str>,
    /// Route.
    pub route: Arc<str>,
}

/// Labels of a domain.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DomainLabels {
    /// Domain.
    pub domain: Arc<str>,
}

/// Labels of an upstream target.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    /// Pool name (or `direct`).
    pub upstream: Arc<str>,
    /// `host:port`.
    pub target: Arc<str>,
    /// Zone label of the target (may be empty).
    pub zone: Arc<str>,
}

/// Labels of a gateway response: which side failed, and API Gateway's response type.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GatewayErrorLabels {
    /// `downstream`, `upstream` or `internal`.
    pub side: &'static str,
    /// Gateway response type, such as `INTEGRATION_TIMEOUT`.
    pub r#type: &'static str,
}

/// Labels of a request refused by throttling or a usage plan.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ThrottleLabels {
    /// API.
    pub api: Arc<str>,
    /// Stage.
    pub stage: Arc<str>,
    /// Route such as `GET /inventory`.
    pub route: Arc<str>,
    /// Usage plan, empty when none applies.
    pub plan: Arc<str>,
    /// The bucket that was empty: `gateway`, `stage`, `route` or `plan`.
    pub level: &'static str,
    /// `throttled`, `quota_exceeded` or `api_key`.
    pub reason: &'static str,
}

/// Labels of a handshake failure.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// Listener address.
    pub listener: String,
    /// Short reason class such as `expired`, `unknown_issuer`, `revoked`, `timeout` (or, for
    /// the PROXY protocol, `untrusted_peer`, `missing`, `malformed`).
    pub reason: &'static str,
}

/// Labels of a certificate expiry gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertLabels {
    /// Domain.
    pub domain: String,
    /// `server` or `truststore`.
    pub kind: &'static str,
    /// Certificate subject.
    pub subject: String,
}

/// Labels of a connection the gateway closed because its client's trust ended.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TrustClosureLabels {
    /// Domain.
    pub domain: Arc<str>,
    /// `trust_withdrawn` (a reload) or `certificate_expired`.
    pub reason: &'static str,
}

/// Labels of a reload result.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `success` or `error`.
    pub result: &'static str,
}

/// Labels of a worker.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkerLabels {
    /// Worker index: 0 .. `--workers` for per-core workers; always 0 on a shared runtime.
    pub worker: usize,
}

/// Every metric the gateway exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by domain, API, stage, route and status.
    pub requests: Family<RequestLabels, WorkerCounter>,
    /// Request latency by route, in seconds.
    pub request_duration: Family<RouteLabels, WorkerHistogram>,
    /// Upstream latency (to the response head) by target, in seconds.
    pub upstream_duration: Family<TargetLabels, WorkerHistogram>,
    /// Request body bytes received, by domain.
    pub bytes_in: Family<DomainLabels, WorkerCounter>,
    /// Response body bytes sent, by domain.
    pub bytes_out: Family<DomainLabels, WorkerCounter>,
    /// Open client connections (after the handshake).
    pub open_connections: Gauge,
    /// Completed TLS handshakes by domain.
    pub handshakes: Family<DomainLabels, Counter>,
    /// Failed TLS handshakes by reason.
    pub handshake_failures: Family<FailureLabels, Counter>,
    /// Days until expiry of server certificates and truststore CAs.
    pub cert_expiry_days: Family<CertLabels, Gauge<f64, AtomicU64>>,
    /// Upstream target health: 1 healthy, 0 not.
    pub target_healthy: Family<TargetLabels, Gauge>,
    /// Gateway responses by side and type.
    pub gateway_errors: Family<GatewayErrorLabels, Counter>,
    /// Configuration reloads by result.
    pub reloads: Family<ResultLabels, Counter>,
    /// Current configuration generation.
    pub generation: Gauge,
    /// Connections closed because their client no longer passed the domain's trust.
    pub trust_closures: Family<TrustClosureLabels, Counter>,
    /// Requests refused by throttling, quotas or API keys, by stage, route and plan.
    pub throttled: Family<ThrottleLabels, Counter>,
    /// Calls to the shared rate-limit store that failed (the request was decided locally).
    pub rate_limit_store_failures: Counter,
    /// Connections closed before TLS on a PROXY protocol listener, by reason.
    pub proxy_protocol_refusals: Family<FailureLabels, Counter>,
    /// Client connections accepted, by the worker that serves them.
    pub worker_connections: Family<WorkerLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Register every metric under the `portcullis_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("portcullis");
        let m = Metrics {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(WorkerHistogram::latency),
            upstream_duration: Family::new_with_constructor(WorkerHistogram::latency),
            bytes_in: Family::default(),
            bytes_out: Family::default(),
            open_connections: Gauge::default(),
            handshakes: Family::default(),
            handshake_failures: Family::default(),
            cert_expiry_days: Family::default(),
            target_healthy: Family::default(),
            gateway_errors: Family::default(),
            reloads: Family::default(),
            generation: Gauge::default(),
            trust_closures: Family::default(),
            throttled: Family::default(),
            rate_limit_store_failures: Counter::default(),
            proxy_protocol_refusals: Family::default(),
            worker_connections: Family::default(),
            registry: Registry::default(),
        };
        registry.register("requests", "Requests answered", m.requests.clone());
        registry.register(
            "request_duration_seconds",
            "Request latency, first byte in to last byte out",
            m.request_duration.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Upstream latency to the response head",
            m.upstream_duration.clone(),
        );
        registry.register(
            "request_bytes",
            "Request body bytes received",
            m.bytes_in.clone(),
        );
        registry.register(
            "response_bytes",
            "Response body bytes sent",
            m.bytes_out.clone(),
        );
        registry.register(
            "open_connections",
            "Client connections open after the TLS handshake",
            m.open_connections.clone(),
        );
        registry.register(
            "tls_handshakes",
            "Completed TLS handshakes",
            m.handshakes.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "Failed or refused TLS handshakes",
            m.handshake_failures.clone(),
        );
        registry.register(
            "certificate_expiry_days",
            "Days until a server certificate or truststore CA expires",
            m.cert_expiry_days.clone(),
        );
        registry.register(
            "upstream_target_healthy",
            "Upstream target health (1 healthy, 0 unhealthy)",
            m.target_healthy.clone(),
        );
        registry.register(
            "gateway_errors",
            "Requests the gateway answered itself, by the side that failed",
            m.gateway_errors.clone(),
        );
        registry.register("config_reload", "Configuration reloads", m.reloads.clone());
        registry.register(
            "config_generation",
            "Generation of the configuration being served",
            m.generation.clone(),
        );
        registry.register(
            "trust_closed_connections",
            "Connections closed after their current request because the client's certificate \
             no longer passed the domain's trust (reload), expired, or its domain was removed",
            m.trust_closures.clone(),
        );
        registry.register(
            "throttled_requests",
            "Requests refused by a token bucket, a usage plan quota or an API key check",
            m.throttled.clone(),
        );
        registry.register(
            "rate_limit_store_failures",
            "Calls to the shared rate-limit store that failed or timed out",
            m.rate_limit_store_failures.clone(),
        );
        registry.register(
            "proxy_protocol_refused_connections",
            "Connections closed before TLS on a PROXY protocol listener: an untrusted peer, \
             a missing or malformed header, or none in time",
            m.proxy_protocol_refusals.clone(),
        );
        registry.register(
            "access_log_dropped_lines",
            "Access log lines dropped because the buffer was full (the destination did not keep \
             up) or a write failed",
            crate::access_log::dropped_lines(),
        );
        registry.register(
            "worker_connections",
            "Client connections accepted, by the worker that serves them (per-core workers: \
             each its own; a shared runtime: worker 0)",
            m.worker_connections.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Map a refusal reason to a short label value.
pub fn failure_class(reason: &str) -> &'static str {
    let r = reason.to_ascii_lowercase();
    if r.contains("expired") {
        "expired"
    } else if r.contains("not valid before") || r.contains("not yet valid") {
        "not_yet_valid"
    } else if r.contains("revoked") {
        "revoked"
    } else if r.contains("truststore") || r.contains("intermediate") {
        "unknown_issuer"
    } else if r.contains("clientauth") {
        "no_client_auth"
    } else if r.contains("no client certificate") {
        "no_certificate"
    } else if r.contains("signature") {
        "bad_signature"
    } else {
        "other"
    }
}
