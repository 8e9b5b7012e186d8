//! The serving snapshot: routes, pools and TLS configurations of one configuration generation,
//! built completely (validate, then swap) and shared behind one `ArcSwap`.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ServerConfig;

use crate::config::{Config, ConfigErrors, ErrorSink};
use crate::routing::DomainRoutes;
use crate::upstream::{PoolRuntime, Upstreams};

/// The domain name the default `execute-api` endpoint's requests are logged under.
pub const DEFAULT_ENDPOINT_NAME: &str = "execute-api";

/// One custom domain, ready to serve.
#[derive(Debug)]
pub struct DomainState {
    /// SNI name.
    pub name: Arc<str>,
    /// TLS configuration requiring a client certificate.
    pub tls: Arc<ServerConfig>,
    /// Its API mappings.
    pub routes: DomainRoutes,
    /// The client verifier inside `tls`, for `explain`; `None` on the default endpoint, which
    /// asks for no client certificate.
    pub verifier: Option<Arc<crate::tls::verifier::ClientVerifier>>,
    /// Connections older than this are closed after their current request.
    pub max_connection_age: Option<std::time::Duration>,
    /// (kind, subject, not-after as Unix seconds) of the server certificate and truststore CAs.
    pub cert_expiry: Vec<(&'static str, String, i64)>,
    /// The domain's own authorization rule set, for routes and stages that name none.
    pub authorization: Option<Arc<crate::config::RuleSet>>,
    /// The identity headers its requests carry upstream, unless a route chooses its own.
    pub identity_headers: crate::config::IdentityHeaders,
    /// URI SANs of the domain's own certificate: `By` in `x-forwarded-client-cert`.
    pub server_uris: Vec<String>,
    /// The distinct rule sets deciding the routes the domain reaches (`None`: some route is
    /// open to every verified client): what a live connection is re-checked against.
    pub reachable_rules: Option<Vec<Arc<crate::config::RuleSet>>>,
}

/// The domains sharing one listen address; the first answers clients that send no SNI.
#[derive(Debug)]
pub struct ListenerState {
    /// Configured listen address.
    pub addr: SocketAddr,
    /// Domains in file order.
    pub domains: Vec<Arc<DomainState>>,
    /// When set, every connection must come from a trusted load balancer and open with a
    /// PROXY protocol header, whose client address then stands for the connection's.
    pub proxy_protocol: Option<crate::config::ProxyProtocol>,
}

impl ListenerState {
    /// The domain for a ClientHello's SNI name; no SNI gets the first domain. The default
    /// endpoint answers any name, as `execute-api` hosts are many.
    pub fn select(&self, sni: Option<&str>) -> Option<&Arc<DomainState>> {
        match sni {
            None => self.domains.first(),
            Some(name) => self
                .domains
                .iter()
                .find(|d| d.name.eq_ignore_ascii_case(name))
                .or_else(|| self.domains.first().filter(|d| d.verifier.is_none())),
        }
    }
}

/// Everything one configuration generation serves with.
#[derive(Debug)]
pub struct Snapshot {
    /// Generation number, from 1.
    pub generation: u64,
    /// The configuration it was built from.
    pub config: Arc<Config>,
    /// Listeners by configured address, in file order.
    pub listeners: Vec<ListenerState>,
    /// Upstream pools and clients.
    pub upstreams: Upstreams,
    /// Some route maps `context.identity.clientCert.clientCertPem`: connections keep the leaf.
    pub forwards_client_pem: bool,
    /// Token buckets, usage plans and quotas.
    pub throttle: crate::throttle::Throttler,
}

/// The current snapshot, swapped atomically.
pub type SharedSnapshot = Arc<ArcSwap<Snapshot>>;

impl Snapshot {
    /// Build a snapshot from a validated `config`: load every certificate, truststore and CRL,
    /// build routers and pools. Returns warnings worth logging, or every error.
    pub fn build(config: Config, generation: u64) -> Result<(Snapshot, Vec<String>), ConfigErrors> {
        Self::build_with(config, generation, Arc::default())
    }

    /// Like [`Snapshot::build`], the pools' targets sharing `runtime`'s health and load with
    /// the snapshots built with it before.
    pub fn build_with(
        config: Config,
        generation: u64,
        runtime: Arc<PoolRuntime>,
    ) -> Result<(Snapshot, Vec<String>), ConfigErrors> {
        Self::build_with_runtimes(config, generation, runtime, Arc::default())
    }

    /// Like [`Snapshot::build_with`], the token buckets and quotas also handed on from
    /// `throttle` (a bucket whose settings stay keeps its level).
    pub fn build_with_runtimes(
        config: Config,
        generation: u64,
        runtime: Arc<PoolRuntime>,
        throttle: Arc<crate::throttle::ThrottleRuntime>,
    ) -> Result<(Snapshot, Vec<String>), ConfigErrors> {
        let mut sink = ErrorSink::new(&config.source);
        let mut warnings = config.warnings.clone();
        let (routes, execute_api) = crate::routing::build_all(&config, &mut sink);
        let mut listeners: Vec<ListenerState> = Vec::new();
        for (domain, routes) in config.domains.iter().zip(routes) {
            let Some(tls) = crate::tls::server_config(domain, &mut sink) else {
                continue;
            };
            warnings.extend(tls.warnings);
            let reachable_rules = crate::authz::reachable(domain.authorization.as_ref(), &routes);
            let state = Arc::new(DomainState {
                identity_headers: domain.identity_headers,
                server_uris: tls.server_uris,
                authorization: domain.authorization.clone(),
                reachable_rules,
                name: domain.name.as_str().into(),
                tls: tls.config,
                routes,
                verifier: Some(tls.verifier),
                max_connection_age: domain.max_connection_age,
                cert_expiry: tls.cert_expiry,
            });
            match listeners.iter_mut().find(|l| l.addr == domain.listen) {
                Some(l) => l.domains.push(state),
                None => listeners.push(ListenerState {
                    addr: domain.listen,
                    domains: vec![state],
                    proxy_protocol: domain.proxy_protocol.clone(),
                }),
            }
        }
        if let (Some(d), Some(routes)) = (&config.default_endpoint, execute_api) {
            let tls = crate::tls::open_server_config(
                &d.certificate,
                &d.private_key,
                "default_endpoint",
                &mut sink,
            );
            if let Some(tls) = tls {
                listeners.push(ListenerState {
                    addr: d.listen,
                    domains: vec![Arc::new(DomainState {
                        name: DEFAULT_ENDPOINT_NAME.into(),
                        tls,
                        routes,
                        verifier: None,
                        max_connection_age: None,
                        cert_expiry: Vec::new(),
                        authorization: None,
                        reachable_rules: None,
                        identity_headers: Default::default(),
                        server_uris: Vec::new(),
                    })],
                    proxy_protocol: d.proxy_protocol.clone(),
                });
            }
        }
        let upstreams = Upstreams::build(&config, runtime, &mut sink);
        let throttle = crate::throttle::Throttler::build(&config, throttle, &mut sink);
        let forwards_client_pem = config
            .apis
            .values()
            .flat_map(|a| a.routes.iter())
            .flat_map(|r| r.parameters.iter())
            .any(|m| {
                m.source == crate::config::ParamSource::Context(crate::config::ContextVar::CertPem)
            });
        let snapshot = Snapshot {
            throttle,
            forwards_client_pem,
            generation,
            config: Arc::new(config),
            listeners,
            upstreams,
        };
        sink.finish((snapshot, warnings))
    }

    /// The listener configured at `addr`.
    pub fn listener(&self, addr: SocketAddr) -> Option<&ListenerState> {
        self.listeners.iter().find(|l| l.addr == addr)
    }

    /// The domain called `name` on the listener configured at `addr`.
    pub fn domain(&self, addr: SocketAddr, name: &str) -> Option<&Arc<DomainState>> {
        self.listener(addr)?
            .domains
            .iter()
            .find(|d| &*d.name == name)
    }
}

/// Load, validate and build the configuration at `path` (what `check` and `serve` both do).
pub fn load(
    path: &std::path::Path,
    generation: u64,
) -> Result<(Snapshot, Vec<String>), ConfigErrors> {
    let config = crate::config::load(path)?;
    Snapshot::build(config, generation)
}

/// Like [`load`], generation 1, for a gateway of `workers` per-core workers: every pool keeps a
/// client per worker, and so do the snapshots reloads build from it.
pub fn load_for_workers(
    path: &std::path::Path,
    workers: usize,
) -> Result<(Snapshot, Vec<String>), ConfigErrors> {
    let config = crate::config::load(path)?;
    Snapshot::build_with(config, 1, Arc::new(PoolRuntime::for_workers(workers)))
}

/// Load the configuration at `path` as the generation after `current`, keeping what
/// `current`'s pools learnt about targets that stay (health, ejections, in-flight counts).
pub fn load_next(
    path: &std::path::Path,
    current: &Snapshot,
) -> Result<(Snapshot, Vec<String>), ConfigErrors> {
    let config = crate::config::load(path)?;
    Snapshot::build_with_runtimes(
        config,
        current.generation + 1,
        current.upstreams.runtime.clone(),
        current.throttle.runtime().clone(),
    )
}
