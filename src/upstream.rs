//! Upstream pools: the NLB + VPC link role. Round-robin over targets with passive health, over
//! pooled keep-alive connections (hyper-util's client).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::uri::Authority;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::ClientConfig;

use crate::body::RequestBody;
use crate::config::{Config, ErrorSink, Upstream};

/// How long a target that refused a connection is skipped.
pub const PASSIVE_EJECTION: Duration = Duration::from_secs(10);
/// How long to wait for a TCP connection to an upstream.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle pooled upstream connection is kept.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle pooled connections kept per target.
pub const POOL_MAX_IDLE_PER_TARGET: usize = 512;

/// The pooled HTTP client used towards upstreams.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, RequestBody>;

/// One target of a pool, with its passive-health state.
#[derive(Debug)]
pub struct Target {
    /// `host:port`.
    pub authority: Authority,
    /// The same, ready to send as the `Host` header.
    pub host: http::HeaderValue,
    /// Skip until this many milliseconds after [`epoch`]; 0 when healthy.
    ejected_until_ms: AtomicU64,
}

/// A named pool of targets sharing one client.
#[derive(Debug)]
pub struct Pool {
    /// Pool name.
    pub name: Arc<str>,
    /// Targets in configuration order.
    pub targets: Vec<Target>,
    next: AtomicUsize,
    /// Client with this pool's TLS settings.
    pub client: HttpClient,
}

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64 + 1
}

impl Pool {
    /// Next target in round-robin order, skipping ejected ones unless all are ejected.
    pub fn pick(&self) -> usize {
        let n = self.targets.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        if n == 1 {
            return 0;
        }
        let now = now_ms();
        for k in 0..n {
            let i = (start + k) % n;
            if self.targets[i].ejected_until_ms.load(Ordering::Relaxed) <= now {
                return i;
            }
        }
        start % n // all ejected: fail open, as an NLB does
    }

    /// Record that target `i` refused or could not be reached.
    pub fn eject(&self, i: usize) {
        let until = now_ms() + PASSIVE_EJECTION.as_millis() as u64;
        self.targets[i]
            .ejected_until_ms
            .store(until, Ordering::Relaxed);
    }

    /// Record that target `i` answered.
    pub fn restore(&self, i: usize) {
        if self.targets[i].ejected_until_ms.load(Ordering::Relaxed) != 0 {
            self.targets[i].ejected_until_ms.store(0, Ordering::Relaxed);
        }
    }
}

/// Every pool, plus the client for integrations that name a host directly.
#[derive(Debug)]
pub struct Upstreams {
    pools: HashMap<String, Arc<Pool>>,
    /// Client for direct `host:port` integrations (system roots for HTTPS).
    pub direct: HttpClient,
}

impl Upstreams {
    /// The pool called `name`.
    pub fn pool(&self, name: &str) -> Option<&Arc<Pool>> {
        self.pools.get(name)
    }

    /// Build every pool of `config`; unreadable CA files go to `sink`.
    pub fn build(config: &Config, sink: &mut ErrorSink) -> Upstreams {
        let mut pools = HashMap::new();
        for (name, up) in &config.upstreams {
            match client_for(up) {
                Ok(client) => {
                    pools.insert(
                        name.clone(),
                        Arc::new(Pool {
                            name: name.as_str().into(),
                            targets: up
                                .targets
                                .iter()
                                .map(|a| Target {
                                    authority: a.clone(),
                                    host: http::HeaderValue::from_str(a.as_str())
                                        .unwrap_or(http::HeaderValue::from_static("invalid")),
                                    ejected_until_ms: AtomicU64::new(0),
                                })
                                .collect(),
                            next: AtomicUsize::new(0),
                            client,
                        }),
                    );
                }
                Err(e) => sink.push(format!("upstream.{name}.tls.ca"), e),
            }
        }
        let direct = client(system_roots_config(), None);
        Upstreams { pools, direct }
    }
}

fn system_roots_config() -> ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    tls_client_config(roots)
}

fn tls_client_config(roots: rustls::RootCertStore) -> ClientConfig {
    ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("the aws-lc-rs provider supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn client_for(up: &Upstream) -> Result<HttpClient, String> {
    let config = match &up.tls_ca {
        None => system_roots_config(),
        Some(path) => {
            let ts = crate::tls::files::load_truststore(path)?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in ts.certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: unusable CA certificate: {e}", path.display()))?;
            }
            tls_client_config(roots)
        }
    };
    Ok(client(config, up.tls_server_name.clone()))
}

fn client(tls: ClientConfig, server_name: Option<String>) -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let builder = match server_name {
        Some(name) => {
            builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(
                name.try_into()
                    .unwrap_or_else(|_| "invalid.invalid".try_into().unwrap()),
            ))
        }
        None => builder,
    };
    let connector = builder.enable_http1().wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(POOL_MAX_IDLE_PER_TARGET)
        .set_host(false)
        .build(connector)
}
