//! Upstream pools: the NLB + VPC link role. Round-robin or least-requests over targets labelled
//! by zone, active health checks and passive ejection, failing open when every target is down
//! (as an NLB does), over pooled keep-alive connections (hyper-util's client).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use http::uri::Authority;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::ClientConfig;

use crate::body::RequestBody;
use crate::config::{Config, ErrorSink, HealthCheck, LoadBalancing, Upstream};

/// How long a target that refused a connection is skipped.
pub const PASSIVE_EJECTION: Duration = Duration::from_secs(10);
/// Consecutive 5xx responses that eject a target passively.
pub const PASSIVE_5XX_BURST: u32 = 5;
/// How long to wait for a TCP connection to an upstream.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle pooled connections kept per target.
pub const POOL_MAX_IDLE_PER_TARGET: usize = 512;

/// The pooled HTTP client used towards upstreams.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, RequestBody>;

/// One target of a pool, with its health and load.
#[derive(Debug)]
pub struct Target {
    /// `host:port`.
    pub authority: Authority,
    /// The same, ready to send as the `Host` header.
    pub host: http::HeaderValue,
    /// Zone label, empty if none.
    pub zone: Arc<str>,
    /// Skip until this many milliseconds after the process epoch; 0 when not ejected.
    ejected_until_ms: AtomicU64,
    /// Active health verdict (true until a health check says otherwise).
    healthy: AtomicBool,
    /// Requests in flight.
    in_flight: AtomicUsize,
    /// Consecutive 5xx responses.
    errors_5xx: AtomicU32,
}

impl Target {
    /// Whether the target may be picked now (healthy and not ejected).
    pub fn available(&self, now: u64) -> bool {
        self.healthy.load(Ordering::Relaxed) && self.ejected_until_ms.load(Ordering::Relaxed) <= now
    }

    /// The active health verdict.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

/// A named pool of targets sharing one client.
#[derive(Debug)]
pub struct Pool {
    /// Pool name.
    pub name: Arc<str>,
    /// Targets in configuration order.
    pub targets: Vec<Target>,
    next: AtomicUsize,
    balancing: LoadBalancing,
    max_in_flight: Option<usize>,
    /// Retries of idempotent requests after a connect failure.
    pub retries: u32,
    /// Client with this pool's TLS settings.
    pub client: HttpClient,
    /// This pool's TLS client configuration (for `check --probe`).
    pub tls: Arc<ClientConfig>,
    /// Name verified in upstream certificates instead of the target host, if set.
    pub server_name: Option<String>,
    /// Whether integrations reach this pool over `https://` (health checks and probes use TLS).
    pub https: bool,
}

/// A target reserved for one request; releases its in-flight slot when dropped.
#[derive(Debug)]
pub struct Lease {
    pool: Arc<Pool>,
    /// Index of the target in its pool.
    pub index: usize,
}

impl Lease {
    /// The leased target.
    pub fn target(&self) -> &Target {
        &self.pool.targets[self.index]
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.targets[self.index]
            .in_flight
            .fetch_sub(1, Ordering::Relaxed);
    }
}

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64 + 1
}

impl Pool {
    /// Reserve a target: available ones first (round-robin or fewest in flight), failing open
    /// to every target when none is available; `None` when every target is at its limit.
    /// `exclude` skips a target already tried for this request.
    pub fn pick(self: &Arc<Self>, exclude: Option<usize>) -> Option<Lease> {
        let n = self.targets.len();
        let now = now_ms();
        let under_limit = |t: &Target| {
            self.max_in_flight
                .is_none_or(|m| t.in_flight.load(Ordering::Relaxed) < m)
        };
        let candidates = |require_available: bool| {
            (0..n).filter(move |&i| {
                Some(i) != exclude && (!require_available || self.targets[i].available(now))
            })
        };
        // One step of the rotation per request, shared by both passes below.
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let choose = |require_available: bool| -> Option<usize> {
            match self.balancing {
                LoadBalancing::RoundRobin => (0..n).map(|k| (start + k) % n).find(|&i| {
                    candidates(require_available).any(|c| c == i) && under_limit(&self.targets[i])
                }),
                LoadBalancing::LeastRequests => {
                    candidates(require_available)
                        .filter(|&i| under_limit(&self.targets[i]))
                        // Ties go round-robin, so equal targets share the load.
                        .min_by_key(|&i| {
                            (
                                self.targets[i].in_flight.load(Ordering::Relaxed),
                                (i + n - start % n) % n,
                            )
                        })
                }
            }
        };
        // Every target down: fail open to all of them, as an NLB does.
        let index = choose(true).or_else(|| choose(false))?;
        self.targets[index]
            .in_flight
            .fetch_add(1, Ordering::Relaxed);
        Some(Lease {
            pool: self.clone(),
            index,
        })
    }

    /// Record that target `i` refused or could not be reached.
    pub fn eject(&self, i: usize) {
        let until = now_ms() + PASSIVE_EJECTION.as_millis() as u64;
        self.targets[i]
            .ejected_until_ms
            .store(until, Ordering::Relaxed);
        tracing::warn!(pool = %self.name, target = %self.targets[i].authority, "target ejected after a connection failure");
    }

    /// Record the status target `i` answered with: a burst of 5xx ejects it.
    pub fn answered(&self, i: usize, status: u16) {
        let t = &self.targets[i];
        if status >= 500 {
            let n = t.errors_5xx.fetch_add(1, Ordering::Relaxed) + 1;
            if n >= PASSIVE_5XX_BURST {
                t.errors_5xx.store(0, Ordering::Relaxed);
                let until = now_ms() + PASSIVE_EJECTION.as_millis() as u64;
                t.ejected_until_ms.store(until, Ordering::Relaxed);
                tracing::warn!(pool = %self.name, target = %t.authority, "target ejected after {n} consecutive 5xx responses");
            }
        } else {
            if t.errors_5xx.load(Ordering::Relaxed) != 0 {
                t.errors_5xx.store(0, Ordering::Relaxed);
            }
            if t.ejected_until_ms.load(Ordering::Relaxed) != 0 {
                t.ejected_until_ms.store(0, Ordering::Relaxed);
            }
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

    /// Every pool, by name.
    pub fn pools(&self) -> impl Iterator<Item = (&String, &Arc<Pool>)> {
        self.pools.iter()
    }

    /// Build every pool of `config`; unreadable TLS files go to `sink`. Health checks start
    /// when [`Upstreams::start_health_checks`] is called and stop when the pool is dropped.
    pub fn build(config: &Config, sink: &mut ErrorSink) -> Upstreams {
        let https_pools: std::collections::BTreeSet<&str> = config
            .apis
            .values()
            .flat_map(|a| a.stages.values())
            .flat_map(|s| s.integrations.iter())
            .filter(|i| i.scheme == crate::config::Scheme::Https)
            .filter_map(|i| match &i.target {
                crate::config::IntegrationTarget::Pool(p) => Some(p.as_str()),
                crate::config::IntegrationTarget::Direct(_) => None,
            })
            .collect();
        let system = SystemRoots::new();
        let mut pools = HashMap::new();
        for (name, up) in &config.upstreams {
            match client_for(up, &system, config.limits.max_response_header_bytes) {
                Ok((client, tls)) => {
                    pools.insert(
                        name.clone(),
                        Arc::new(Pool {
                            name: name.as_str().into(),
                            targets: up
                                .targets
                                .iter()
                                .map(|t| Target {
                                    authority: t.authority.clone(),
                                    host: http::HeaderValue::from_str(t.authority.as_str())
                                        .unwrap_or(http::HeaderValue::from_static("invalid")),
                                    zone: t.zone.as_str().into(),
                                    ejected_until_ms: AtomicU64::new(0),
                                    healthy: AtomicBool::new(true),
                                    in_flight: AtomicUsize::new(0),
                                    errors_5xx: AtomicU32::new(0),
                                })
                                .collect(),
                            next: AtomicUsize::new(0),
                            balancing: up.load_balancing,
                            max_in_flight: up.max_connections,
                            retries: up.retries,
                            client,
                            tls,
                            server_name: up.tls_server_name.clone(),
                            https: https_pools.contains(name.as_str()),
                        }),
                    );
                }
                Err((field, e)) => sink.push(format!("upstream.{name}.{field}"), e),
            }
        }
        let direct = client(
            system_roots_config(&system, None).unwrap_or_else(|_| unreachable_config()),
            None,
            crate::config::DEFAULT_UPSTREAM_IDLE_TIMEOUT,
            config.limits.max_response_header_bytes,
        );
        Upstreams { pools, direct }
    }

    /// Start the active health checks of every pool that has them.
    pub fn start_health_checks(&self, config: &Config) {
        for (name, up) in &config.upstreams {
            if let (Some(hc), Some(pool)) = (&up.health_check, self.pools.get(name)) {
                for i in 0..pool.targets.len() {
                    tokio::spawn(health_loop(Arc::downgrade(pool), i, hc.clone()));
                }
            }
        }
    }
}

fn unreachable_config() -> ClientConfig {
    tls_client_config(rustls::RootCertStore::empty())
}

/// Check target `i` of a pool until the pool is dropped (replaced by a reload).
async fn health_loop(pool: Weak<Pool>, i: usize, hc: HealthCheck) {
    let mut successes = 0u32;
    let mut failures = 0u32;
    let mut tick = tokio::time::interval(hc.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let target = &pool.targets[i];
        let ok = probe(&pool, target, &hc).await;
        if ok {
            successes += 1;
            failures = 0;
            if !target.is_healthy() && successes >= hc.healthy_threshold {
                target.healthy.store(true, Ordering::Relaxed);
                tracing::info!(pool = %pool.name, target = %target.authority, zone = %target.zone, "target healthy again");
            }
        } else {
            failures += 1;
            successes = 0;
            if target.is_healthy() && failures >= hc.unhealthy_threshold {
                target.healthy.store(false, Ordering::Relaxed);
                tracing::warn!(pool = %pool.name, target = %target.authority, zone = %target.zone, "target unhealthy: health checks failing");
            }
        }
    }
}

async fn probe(pool: &Pool, target: &Target, hc: &HealthCheck) -> bool {
    let check = async {
        match &hc.path {
            None => tokio::net::TcpStream::connect(target.authority.as_str())
                .await
                .is_ok(),
            Some(path) => {
                let scheme = if pool.https { "https" } else { "http" };
                let uri = format!("{scheme}://{}{}", target.authority, path);
                let Ok(req) = http::Request::get(uri)
                    .header(http::header::HOST, target.host.clone())
                    .header(http::header::USER_AGENT, "portcullis-health-check")
                    .body(RequestBody::empty())
                else {
                    return false;
                };
                match pool.client.request(req).await {
                    Ok(resp) => resp.status().is_success() || resp.status().is_redirection(),
                    Err(_) => false,
                }
            }
        }
    };
    tokio::time::timeout(hc.timeout, check)
        .await
        .unwrap_or(false)
}

/// The system's CA certificates, read at most once per configuration build.
type SystemRoots = std::cell::OnceCell<rustls::RootCertStore>;

fn system_roots_config(
    system: &SystemRoots,
    client_auth: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<ClientConfig, (&'static str, String)> {
    let roots = system.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        roots
    });
    with_client_auth(roots.clone(), client_auth)
}

fn tls_client_config(roots: rustls::RootCertStore) -> ClientConfig {
    ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("the aws-lc-rs provider supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn with_client_auth(
    roots: rustls::RootCertStore,
    client_auth: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<ClientConfig, (&'static str, String)> {
    let Some((cert, key)) = client_auth else {
        return Ok(tls_client_config(roots));
    };
    let chain =
        crate::tls::files::load_cert_chain(cert).map_err(|e| ("tls.client_certificate", e))?;
    let key_der = crate::tls::files::load_private_key(key).map_err(|e| ("tls.client_key", e))?;
    ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("the aws-lc-rs provider supports the default TLS versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key_der)
        .map_err(|e| {
            (
                "tls.client_key",
                format!("{} does not fit {}: {e}", key.display(), cert.display()),
            )
        })
}

fn client_for(
    up: &Upstream,
    system: &SystemRoots,
    max_head: usize,
) -> Result<(HttpClient, Arc<ClientConfig>), (&'static str, String)> {
    let client_auth = up
        .tls_client_certificate
        .as_deref()
        .zip(up.tls_client_key.as_deref());
    let config = match &up.tls_ca {
        None => system_roots_config(system, client_auth)?,
        Some(path) => {
            let ts = crate::tls::files::load_truststore(path).map_err(|e| ("tls.ca", e))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in ts.certs {
                roots.add(cert).map_err(|e| {
                    (
                        "tls.ca",
                        format!("{}: unusable CA certificate: {e}", path.display()),
                    )
                })?;
            }
            with_client_auth(roots, client_auth)?
        }
    };
    let shared = Arc::new(config.clone());
    Ok((
        client(
            config,
            up.tls_server_name.clone(),
            up.idle_timeout,
            max_head,
        ),
        shared,
    ))
}

fn client(
    tls: ClientConfig,
    server_name: Option<String>,
    idle: Duration,
    max_head: usize,
) -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let builder = match server_name.and_then(|n| rustls_pki_types::ServerName::try_from(n).ok()) {
        Some(name) => {
            builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        }
        None => builder,
    };
    let connector = builder.enable_http1().wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(idle)
        // A response head over the limit fails to parse: a 502, never relayed.
        .http1_max_buf_size(max_head.max(8192))
        .pool_max_idle_per_host(POOL_MAX_IDLE_PER_TARGET)
        .set_host(false)
        .build(connector)
}
