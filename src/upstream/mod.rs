//! Upstream pools: the NLB + VPC link role. Round-robin or least-requests over targets labelled
//! by zone, active health checks and passive ejection, failing open when every target is down
//! (as an NLB does), over pooled keep-alive connections.

mod client;
mod clients;
mod health;
mod pool;
mod send;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;

use crate::config::{Config, ErrorSink, Integration, IntegrationTarget, Scheme, Upstream};
use crate::tls::client::{SystemRoots, client_config, connector, direct_config};

pub use client::{Client, ClientError, Connection};
pub use clients::WorkerClients;
pub use pool::{
    Lease, PASSIVE_5XX_BURST, PASSIVE_EJECTION, Pool, PoolRuntime, Target, TargetState,
};
pub use send::{Answer, Destination, SendError, send};

/// How long to wait for a TCP connection to an upstream.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest read buffer of an upstream connection (hyper's grows to it while reads fill it).
pub const UPSTREAM_READ_BUFFER: usize = 256 * 1024;
/// Idle pooled connections kept per target.
pub const POOL_MAX_IDLE_PER_TARGET: usize = 512;

/// Every pool, plus the client for integrations that name a host directly.
#[derive(Debug)]
pub struct Upstreams {
    pools: HashMap<String, Arc<Pool>>,
    /// Clients for direct `host:port` integrations (system roots for HTTPS), one per worker.
    pub direct: WorkerClients,
    /// The targets' runtime state, handed on to the next snapshot's pools.
    pub runtime: Arc<PoolRuntime>,
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

    /// Where an integration's requests go: a VPC link integration's pool is reached over the
    /// client that verifies the integration's `uri` host; either way, the current worker's.
    pub fn destination<'a>(&'a self, integration: &'a Integration) -> Option<Destination<'a>> {
        match &integration.target {
            IntegrationTarget::Pool(name) => {
                let pool = self.pools.get(name)?;
                let client = integration
                    .host
                    .as_ref()
                    .and_then(|h| h.to_str().ok())
                    .and_then(|h| pool.named.get(tls_name(h)))
                    .unwrap_or(&pool.client);
                Some(Destination::Pool(
                    pool,
                    client.current(),
                    integration.scheme,
                ))
            }
            IntegrationTarget::Direct(a) => Some(Destination::Direct(
                self.direct.current(),
                a,
                integration.scheme,
            )),
            IntegrationTarget::Mock(_) => None,
        }
    }

    /// Build every pool of `config`, its targets sharing `runtime`'s state with the pools of
    /// earlier snapshots; unreadable TLS files go to `sink`. Health checks start when
    /// [`Upstreams::start_health_checks`] is called and stop when the pool is dropped.
    pub fn build(config: &Config, runtime: Arc<PoolRuntime>, sink: &mut ErrorSink) -> Upstreams {
        // Pools reached over https, with the names VPC link integrations verify on them.
        let mut https_pools: HashMap<&str, std::collections::BTreeSet<&str>> = HashMap::new();
        for i in config
            .apis
            .values()
            .flat_map(|a| a.stages.values())
            .flat_map(|s| s.integrations.iter())
            .filter(|i| i.scheme == Scheme::Https)
        {
            if let IntegrationTarget::Pool(p) = &i.target {
                let names = https_pools.entry(p.as_str()).or_default();
                if let Some(h) = i.host.as_ref().and_then(|h| h.to_str().ok()) {
                    names.insert(tls_name(h));
                }
            }
        }
        let system = SystemRoots::new();
        let max_head = config.limits.max_response_header_bytes;
        let workers = runtime.workers();
        let mut pools = HashMap::new();
        for (name, up) in &config.upstreams {
            let names = https_pools.get(name.as_str());
            match build_pool(name, up, names, &runtime, &system, max_head) {
                Ok(pool) => {
                    pools.insert(name.clone(), Arc::new(pool));
                }
                Err(e) => sink.push(format!("upstream.{name}.{}", e.key), e.reason),
            }
        }
        let direct_tls = direct_config(&system);
        let direct = WorkerClients::new(workers, || {
            client(
                direct_tls.clone(),
                None,
                crate::config::DEFAULT_UPSTREAM_IDLE_TIMEOUT,
                max_head,
            )
        });
        Upstreams {
            pools,
            direct,
            runtime,
        }
    }

    /// Start the active health checks of every pool that has them.
    pub fn start_health_checks(&self, config: &Config) {
        for (name, up) in &config.upstreams {
            if let (Some(hc), Some(pool)) = (&up.health_check, self.pools.get(name)) {
                for i in 0..pool.targets.len() {
                    tokio::spawn(health::health_loop(Arc::downgrade(pool), i, hc.clone()));
                }
            }
        }
    }
}

/// The name a `host[:port]` authority is verified as: the host, without port or brackets.
fn tls_name(authority: &str) -> &str {
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.split(':').next().unwrap_or(authority),
    }
}

fn build_pool(
    name: &str,
    up: &Upstream,
    https_names: Option<&std::collections::BTreeSet<&str>>,
    runtime: &PoolRuntime,
    system: &SystemRoots,
    max_head: usize,
) -> Result<Pool, crate::tls::client::ClientConfigError> {
    let client_auth = up
        .tls_client_certificate
        .as_deref()
        .zip(up.tls_client_key.as_deref());
    let tls = client_config(up.tls_ca.as_deref(), client_auth, system)?;
    let shared = Arc::new(tls.clone());
    let workers = runtime.workers();
    Ok(Pool {
        name: name.into(),
        targets: up
            .targets
            .iter()
            .map(|t| Target {
                authority: t.authority.clone(),
                zone: t.zone.as_str().into(),
                state: runtime.target(name, &t.authority),
                local: pool::local_copies(workers, &t.authority),
                latency: std::sync::OnceLock::new(),
            })
            .collect(),
        next: crate::worker::PerWorker::with_workers(workers),
        balancing: up.load_balancing,
        max_in_flight: up.max_connections,
        retries: up.retries,
        client: WorkerClients::new(workers, || {
            client(
                tls.clone(),
                up.tls_server_name.clone(),
                up.idle_timeout,
                max_head,
            )
        }),
        // The pool's `tls.server_name`, when set, is verified for every integration.
        named: https_names
            .filter(|_| up.tls_server_name.is_none())
            .into_iter()
            .flatten()
            .map(|n| {
                let c = WorkerClients::new(workers, || {
                    client(
                        tls.clone(),
                        Some((*n).to_owned()),
                        up.idle_timeout,
                        max_head,
                    )
                });
                ((*n).to_owned(), c)
            })
            .collect(),
        tls: shared,
        server_name: up.tls_server_name.clone(),
        https: https_names.is_some(),
    })
}

fn client(
    tls: rustls::ClientConfig,
    server_name: Option<String>,
    idle: Duration,
    max_head: usize,
) -> Client {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let mut http1 = hyper::client::conn::http1::Builder::new();
    // A response head over the limit fails to parse: a 502, never relayed. The read buffer
    // may grow past it, so a large body comes in large reads (16 KiB reads cost a 1 MiB
    // response 64 recvfrom and 64 writev; 256 KiB ones, 6 and 22).
    http1
        .max_buf_size(max_head.max(UPSTREAM_READ_BUFFER))
        .max_header_size(max_head);
    Client::new(
        connector(http, tls, server_name),
        http1,
        idle,
        POOL_MAX_IDLE_PER_TARGET,
    )
}
