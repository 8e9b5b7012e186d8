//! Per request, the request's way: check -> route -> authorize -> forward -> answer. Runs once
//! for every request on a connection; each step is a function below, in that order.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::HeaderValue;
use http::uri::{Authority, PathAndQuery};
use http::{Request, Response, Uri};
use hyper::body::Incoming;

use crate::body::{
    BODY_MALFORMED, BODY_TIMED_OUT, BODY_TOO_LARGE, BodyVerdict, Delivery, RequestBody,
    ResponseBody,
};
use crate::config::{IntegrationTarget, MockResponse};
use crate::error::{Refused, RequestError, Side};
use crate::forward::{self, ClientSide, X_AMZN_REQUEST_ID, X_REQUEST_ID};
use crate::routing::StageTarget;
use crate::state::{DomainState, SharedSnapshot, Snapshot};
use crate::telemetry::{AccessLog, InFlight, InFlightGuard};
use crate::tls::ClientIdentity;
use crate::upstream::{self, Answer};

/// What every request on one client connection shares.
#[derive(Debug)]
pub struct ConnContext {
    /// The current snapshot; each request loads it once (new requests see reloads).
    pub state: SharedSnapshot,
    /// Configured address of the listener the connection came in on.
    pub listener: SocketAddr,
    /// Metrics of the gateway.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The snapshot the connection was accepted under (used if a reload removed its domain).
    pub snapshot: Arc<Snapshot>,
    /// The domain its SNI selected.
    pub domain: Arc<DomainState>,
    /// The verified client identity.
    pub identity: Arc<ClientIdentity>,
    /// The certificates the client presented, leaf first (`None` on the default endpoint).
    pub chain: Option<crate::tls::PresentedChain>,
    /// Client address: the socket's peer, or on a PROXY protocol listener the address the
    /// load balancer's header names (what logs, headers, mappings and rules all see).
    pub peer: SocketAddr,
    /// Its `X-Forwarded-For` value.
    pub forwarded_for: HeaderValue,
    /// Requests in flight on this connection.
    pub in_flight: Arc<InFlight>,
    /// How the connection's streamed responses are moving.
    pub delivery: Arc<Delivery>,
    /// The connection's metric handles and its copy of the domain's name.
    pub metric_cache: Arc<crate::telemetry::MetricCache>,
    /// Identity header values built for earlier requests.
    pub identity_built: crate::forward::BuiltIdentity,
}

/// One request as it goes: the snapshot and domain it is served under, its id, and its log.
struct Exchange<'c> {
    ctx: &'c ConnContext,
    snapshot: Held<'c, Snapshot>,
    domain: Held<'c, DomainState>,
    request_id: HeaderValue,
    verdict: Arc<BodyVerdict>,
    log: Box<AccessLog>,
    /// The API stage the path mapped to, once known (its gateway responses apply).
    target: Option<Held<'c, StageTarget>>,
}

/// Part of the configuration as one request holds it: borrowed from its connection while the
/// connection's snapshot is the current one, owned after a reload. With per-core workers,
/// cloning an `Arc` of the snapshot would write its reference count, a cache line that every
/// worker's core writes, on every request.
enum Held<'c, T> {
    /// The connection's.
    Conn(&'c Arc<T>),
    /// The request's own (a reload came after the connection started).
    Own(Arc<T>),
}

impl<T> std::ops::Deref for Held<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.arc()
    }
}

impl<'c, T> Held<'c, T> {
    /// The `Arc` held or borrowed.
    fn arc(&self) -> &Arc<T> {
        match self {
            Held::Conn(a) => a,
            Held::Own(a) => a,
        }
    }

    /// Another hold on the same value: the borrow copied, or the `Arc` cloned.
    fn again(&self) -> Held<'c, T> {
        match self {
            Held::Conn(a) => Held::Conn(a),
            Held::Own(a) => Held::Own(a.clone()),
        }
    }
}

/// A routed request: the stage it maps to, the route, and the upstream request it becomes.
struct Routed<'c> {
    target: Held<'c, StageTarget>,
    index: usize,
    path_and_query: PathAndQuery,
    timeout: Duration,
    /// The method sent upstream, when the route sets one.
    upstream_method: Option<http::Method>,
    /// Headers the route's parameter mappings set.
    headers: Vec<(http::HeaderName, HeaderValue)>,
}

/// Answer one request, counted in flight by `in_flight` until its response is done.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice (rust-lang/rust#62958); every request moves this future"
)]
pub fn handle(
    req: Request<Incoming>,
    ctx: Arc<ConnContext>,
    in_flight: InFlightGuard,
) -> impl Future<Output = Result<Response<ResponseBody>, Infallible>> + Send {
    async move {
        let mut ex = Exchange::start(&ctx, &req, in_flight);
        let resp = match proxy(req, &mut ex).await {
            Ok(resp) => resp,
            Err(e) => refuse(e, &mut ex),
        };
        Ok(answer(resp, ex))
    }
}

/// The request's way, up to the upstream's response.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice (rust-lang/rust#62958); every request moves this future"
)]
fn proxy(
    req: Request<Incoming>,
    ex: &mut Exchange<'_>,
) -> impl Future<Output = Result<Response<ResponseBody>, RequestError>> + Send {
    async move {
        crate::checks::request(&req, &ex.snapshot.config.limits)?;
        let routed = route(&req, ex)?;
        let domain_rules = ex.domain.authorization.as_ref();
        let caller = crate::authz::Caller::new(&ex.ctx.identity).from_address(ex.ctx.peer.ip());
        crate::authz::authorize(&caller, domain_rules, &routed.target, routed.index)?;
        crate::throttle::admit(
            &ex.snapshot.throttle,
            &routed.target,
            routed.index,
            req.headers(),
            &caller,
            &ex.ctx.metrics,
        )
        .await?;
        if let IntegrationTarget::Mock(m) = &routed.target.integrations[routed.index].target {
            return Ok(mock(m));
        }
        let answer = forward(req, &routed, ex).await?;
        Ok(relay(answer, &routed, ex))
    }
}

impl<'c> Exchange<'c> {
    /// One snapshot per request: a reload applies to the next request, never to one in flight.
    fn start(ctx: &'c ConnContext, req: &Request<Incoming>, in_flight: InFlightGuard) -> Self {
        let current = ctx.state.load();
        let (snapshot, domain) = if current.generation == ctx.snapshot.generation {
            (Held::Conn(&ctx.snapshot), Held::Conn(&ctx.domain))
        } else {
            match current.domain(ctx.listener, &ctx.domain.name).cloned() {
                Some(d) => (
                    Held::Own(arc_swap::Guard::into_inner(current)),
                    Held::Own(d),
                ),
                None => (Held::Conn(&ctx.snapshot), Held::Conn(&ctx.domain)),
            }
        };
        let request_id = forward::request_id(req.headers());
        let verdict = Arc::new(BodyVerdict::default());
        let log = Box::new(AccessLog {
            request_id: request_id.clone(),
            client: ctx.peer,
            subject: ctx.identity.clone(),
            domain: ctx.metric_cache.domain().clone(),
            method: req.method().clone(),
            uri: req.uri().clone(),
            route: None,
            api_stage: None,
            upstream: None,
            status: 0,
            error: None,
            side: None,
            bytes_out: 0,
            start: Instant::now(),
            upstream_latency: None,
            aborted: false,
            cut: None,
            in_flight: Some(in_flight),
            body: verdict.clone(),
            lease: None,
            connection: None,
            cache: ctx.metric_cache.clone(),
            version: req.version(),
            format: snapshot.config.access_log_format.clone(),
            error_message: None,
            denial: None,
        });
        Exchange {
            ctx,
            snapshot,
            domain,
            request_id,
            verdict,
            log,
            target: None,
        }
    }
}

/// Find the route: mapping by base path, then resource and method; build the upstream path.
fn route<'c>(req: &Request<Incoming>, ex: &mut Exchange<'c>) -> Result<Routed<'c>, RequestError> {
    let (path, host, headers) = (req.uri().path(), host(req), req.headers());
    let (target, rest) = match &ex.domain {
        Held::Conn(d) => {
            let d: &'c Arc<DomainState> = d;
            let (t, rest) = d.routes.map(path, host, headers)?;
            (Held::Conn(t), rest)
        }
        Held::Own(d) => {
            let (t, rest) = d.routes.map(path, host, headers)?;
            (Held::Own(t.clone()), rest)
        }
    };
    ex.target = Some(target.again());
    let matched = target
        .router
        .at(req.method(), rest)
        .ok_or(Refused::NoRoute)?;
    let (name, api, stage) = ex.ctx.metric_cache.route_names(target.arc(), matched.index);
    ex.log.route = Some(name.clone());
    ex.log.api_stage = Some((api, stage));
    let integration = &target.integrations[matched.index];
    if matches!(integration.target, IntegrationTarget::Mock(_)) {
        return Ok(Routed {
            path_and_query: PathAndQuery::from_static("/"),
            timeout: Duration::ZERO,
            upstream_method: None,
            headers: Vec::new(),
            index: matched.index,
            target,
        });
    }
    let mapped = (!integration.parameters.is_empty())
        .then(|| map_parameters(req, &matched, &target, &name, ex));
    let path_and_query =
        forward::upstream_path_and_query(integration, &matched, req.uri().query(), mapped.as_ref());
    // Belt and braces: whatever the parameters held, the result must stay under its prefix.
    let upstream_path = path_and_query.split('?').next().unwrap_or("");
    let invalid = Refused::BadRequest("Invalid request path");
    if crate::path::check_path(upstream_path.as_bytes()).is_err() {
        return Err(invalid.into());
    }
    Ok(Routed {
        path_and_query: PathAndQuery::try_from(path_and_query).map_err(|_| invalid)?,
        timeout: target.router.timeout(matched.index),
        upstream_method: target.router.upstream_method(matched.index).cloned(),
        headers: mapped.map(|m| m.headers).unwrap_or_default(),
        index: matched.index,
        target,
    })
}

/// The authority the request was sent to: `:authority` or the absolute-form target, else `Host`.
fn host(req: &Request<Incoming>) -> Option<&str> {
    req.uri().authority().map(|a| a.as_str()).or_else(|| {
        req.headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
    })
}

/// The route's parameter mappings applied to this request.
fn map_parameters(
    req: &Request<Incoming>,
    matched: &crate::routing::RouteMatch<'_, '_>,
    target: &StageTarget,
    route_name: &str,
    ex: &Exchange<'_>,
) -> crate::mapping::Mapped {
    let inputs = crate::mapping::Inputs {
        method: req.method(),
        uri: req.uri(),
        headers: req.headers(),
        matched,
        request_id: &ex.request_id,
        stage: &target.stage,
        resource_path: route_name.split_once(' ').map_or("", |(_, p)| p),
        domain: &ex.domain.name,
        source_ip: ex.ctx.peer.ip(),
        identity: &ex.ctx.identity,
    };
    crate::mapping::Mapped::apply(&target.integrations[matched.index].parameters, &inputs)
}

/// Send the request upstream, its body streamed and bounded; a body the client broke is the
/// client's error, whatever the upstream side then saw.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice (rust-lang/rust#62958); every request moves this future"
)]
fn forward(
    req: Request<Incoming>,
    routed: &Routed<'_>,
    ex: &mut Exchange<'_>,
) -> impl Future<Output = Result<Answer, RequestError>> + Send {
    async move {
        let integration = &routed.target.integrations[routed.index];
        let snapshot = ex.snapshot.again();
        let dest = snapshot
            .upstreams
            .destination(integration)
            .ok_or(RequestError::Internal(
                "the route names a pool that is not built",
            ))?;
        let limits = &snapshot.config.limits;
        let (mut parts, body) = req.into_parts();
        if let Some(m) = &routed.upstream_method {
            parts.method = m.clone();
        }
        let body = RequestBody::new(
            body,
            limits.max_body_bytes,
            limits.request_body_timeout,
            ex.verdict.clone(),
        );
        let client = ClientSide {
            forwarded_for: &ex.ctx.forwarded_for,
            identity: crate::forward::Sources {
                identity: &ex.ctx.identity,
                chain: ex.ctx.chain.as_deref(),
                by: &ex.domain.server_uris,
                prebuilt_by: &ex.ctx.domain.server_uris,
                built: &ex.ctx.identity_built,
            },
            identity_headers: ex
                .domain
                .identity_headers
                .overlaid(&routed.target.router.identity(routed.index)),
            request_id: &ex.request_id,
            forwarding: &snapshot.config.forwarding,
        };
        let fixed_host = integration.host.as_ref();
        // The target is dialled by the client; the request line carries the origin form.
        let build = |parts, body, _target: &Authority, host: &HeaderValue| {
            let host = fixed_host.unwrap_or(host);
            let uri = Uri::from(routed.path_and_query.clone());
            forward::upstream_request(parts, body, uri, host, client, &routed.headers)
        };
        let sent = Instant::now();
        let result = upstream::send(dest, parts, body, routed.timeout, build).await;
        ex.log.upstream_latency = Some(sent.elapsed());
        match result {
            Ok(answer) => {
                ex.log.upstream = Some(answer.target.clone());
                Ok(answer)
            }
            Err(e) => {
                ex.log.upstream = e.target().cloned();
                Err(body_fault(&ex.verdict).map_or_else(|| e.into(), Into::into))
            }
        }
    }
}

/// A `mock` route's static response (CORS preflights in API Gateway exports, for one).
fn mock(m: &MockResponse) -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full(m.body.clone()));
    *resp.status_mut() = m.status;
    *resp.headers_mut() = m.headers.clone();
    resp.headers_mut().insert(
        http::header::CONTENT_LENGTH,
        HeaderValue::from(m.body.len()),
    );
    resp
}

/// The client's part in a failed exchange: its body broke, was too large or too slow.
fn body_fault(verdict: &BodyVerdict) -> Option<Refused> {
    match verdict.get() {
        BODY_TOO_LARGE => Some(Refused::BodyTooLarge),
        BODY_TIMED_OUT => Some(Refused::BodyTimedOut),
        BODY_MALFORMED => Some(Refused::BodyMalformed),
        _ => None,
    }
}

/// The upstream's response on its way to the client: hop-by-hop headers removed, the body
/// streamed with every wait for its next chunk bounded.
fn relay(answer: Answer, routed: &Routed<'_>, ex: &mut Exchange<'_>) -> Response<ResponseBody> {
    if let Some(lease) = &answer.lease {
        let t = lease.target();
        let latency = ex.log.upstream_latency.unwrap_or_default();
        t.observe_latency(&ex.ctx.metrics, &lease.pool().name, latency.as_secs_f64());
    }
    ex.log.lease = answer.lease;
    ex.log.connection = Some(answer.connection);
    let (mut parts, body) = answer.response.into_parts();
    forward::strip_hop_by_hop(&mut parts.headers);
    let chunk_wait = routed
        .timeout
        .min(ex.snapshot.config.limits.response_idle_timeout);
    Response::from_parts(
        parts,
        ResponseBody::upstream(body, chunk_wait, ex.ctx.delivery.clone()),
    )
}

/// The gateway's own answer to a failed request, logged and counted by the side that failed.
fn refuse(e: RequestError, ex: &mut Exchange<'_>) -> Response<ResponseBody> {
    let g = e.gateway_error();
    let side = e.side();
    if let RequestError::AccessDenied(d) = &e {
        ex.log.denial = Some(d.clone());
    }
    let route = ex.log.route.as_deref().unwrap_or("");
    match side {
        Side::Downstream => {
            tracing::debug!(client = %ex.ctx.peer, route, error = %e, "request refused")
        }
        Side::Upstream => tracing::warn!(route, error = %e, "integration failed"),
        Side::Internal => tracing::error!(route, error = %e, "request failed inside the gateway"),
    }
    ex.ctx
        .metrics
        .gateway_errors
        .get_or_create(&crate::metrics::GatewayErrorLabels {
            side: side.as_str(),
            r#type: g.response_type(),
        })
        .inc();
    ex.log.error = Some(g.response_type());
    ex.log.error_message = Some(g.message());
    ex.log.side = Some(side);
    // Most APIs customise nothing: no template variables to gather then.
    let Some(target) = ex.target.as_ref().filter(|t| !t.responses.is_empty()) else {
        return g.response();
    };
    let source_ip = ex.ctx.peer.ip().to_string();
    let vars = crate::error::TemplateVars {
        request_id: ex.request_id.to_str().unwrap_or(""),
        stage: &target.stage,
        api: &target.api,
        domain: &ex.domain.name,
        method: ex.log.method.as_str(),
        path: ex.log.uri.path(),
        resource_path: route.split_once(' ').map_or("", |(_, p)| p),
        source_ip: &source_ip,
        subject: &ex.ctx.identity.subject,
    };
    g.response_with(&target.responses, &vars)
}

/// Send the response: the request id echoed (as API Gateway's `x-amzn-RequestId` too), the
/// access log told when the body is done.
fn answer(mut resp: Response<ResponseBody>, ex: Exchange<'_>) -> Response<ResponseBody> {
    let h = resp.headers_mut();
    h.insert(X_AMZN_REQUEST_ID, ex.request_id.clone());
    h.insert(X_REQUEST_ID, ex.request_id);
    let mut log = ex.log;
    log.status = resp.status().as_u16();
    resp.map(|b| b.with_outcome(log))
}
