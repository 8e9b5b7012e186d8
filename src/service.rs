//! Per request: check, route, forward, answer. Runs once for every request on a connection.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Request, Response, Uri};
use http_body::Body as _;
use hyper::body::Incoming;

use crate::body::{
    BODY_MALFORMED, BODY_TIMED_OUT, BODY_TOO_LARGE, BodyVerdict, Delivery, RequestBody,
    ResponseBody,
};
use crate::config::{IntegrationTarget, Limits};
use crate::error::GatewayError;
use crate::forward::{self, ClientSide, X_REQUEST_ID};
use crate::state::{DomainState, SharedSnapshot, Snapshot};
use crate::telemetry::{AccessLog, InFlight, InFlightGuard};
use crate::tls::ClientIdentity;

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
    /// Client address.
    pub peer: SocketAddr,
    /// Its `X-Forwarded-For` value.
    pub forwarded_for: HeaderValue,
    /// Requests in flight on this connection.
    pub in_flight: Arc<InFlight>,
    /// How the connection's streamed responses are moving.
    pub delivery: Arc<Delivery>,
    /// Metric handles of the connection's last request.
    pub metric_cache: Arc<std::sync::Mutex<Option<crate::telemetry::MetricHandles>>>,
}

/// Answer one request.
pub async fn handle(
    req: Request<Incoming>,
    ctx: Arc<ConnContext>,
) -> Result<Response<ResponseBody>, Infallible> {
    let start = Instant::now();
    // One snapshot per request: a reload applies to the next request, never to one in flight.
    let current = ctx.state.load_full();
    let (snapshot, domain) = if current.generation == ctx.snapshot.generation {
        (current, ctx.domain.clone())
    } else {
        match current.domain(ctx.listener, &ctx.domain.name).cloned() {
            Some(d) => (current, d),
            None => (ctx.snapshot.clone(), ctx.domain.clone()),
        }
    };
    let request_id = request_id(req.headers());
    let verdict = Arc::new(BodyVerdict::default());
    let mut log = Box::new(AccessLog {
        request_id: request_id.clone(),
        client: ctx.peer,
        subject: ctx.identity.clone(),
        domain: domain.name.clone(),
        method: req.method().clone(),
        uri: req.uri().clone(),
        route: None,
        api_stage: None,
        upstream: None,
        status: 0,
        error: None,
        bytes_out: 0,
        start,
        upstream_latency: None,
        aborted: false,
        cut: None,
        in_flight: Some(InFlightGuard::new(ctx.in_flight.clone())),
        metrics: ctx.metrics.clone(),
        body: verdict.clone(),
        lease: None,
        cache: ctx.metric_cache.clone(),
    });
    let mut resp = match proxy(
        req,
        &ctx,
        &snapshot,
        &domain,
        &request_id,
        verdict,
        &mut log,
    )
    .await
    {
        Ok(resp) => resp,
        Err(e) => {
            log.error = Some(e.response_type());
            e.response()
        }
    };
    resp.headers_mut().insert(X_REQUEST_ID, request_id);
    log.status = resp.status().as_u16();
    Ok(resp.map(|b| b.with_log(log)))
}

/// Keep a sane client-sent request id, else make one.
fn request_id(headers: &http::HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(X_REQUEST_ID) {
        let b = v.as_bytes();
        if !b.is_empty()
            && b.len() <= 128
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
        {
            return v.clone();
        }
    }
    // A random (version 4) UUID, formatted without intermediate allocations.
    let mut r: [u8; 16] = rand::random();
    r[6] = (r[6] & 0x0f) | 0x40;
    r[8] = (r[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 36];
    let mut j = 0;
    for (i, b) in r.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out[j] = b'-';
            j += 1;
        }
        out[j] = HEX[(b >> 4) as usize];
        out[j + 1] = HEX[(b & 15) as usize];
        j += 2;
    }
    HeaderValue::from_bytes(&out).unwrap_or(HeaderValue::from_static("0"))
}

/// Size of the request head as it arrived, near enough: request line plus header lines.
fn head_size(req: &Request<Incoming>) -> usize {
    let uri = req.uri();
    let mut n = req.method().as_str().len()
        + uri.path_and_query().map_or(1, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len())
        + 12;
    for (name, value) in req.headers() {
        n += name.as_str().len() + value.len() + 4;
    }
    n
}

/// Refuse framing a proxy could disagree about with the upstream.
fn check_framing(req: &Request<Incoming>, limits: &Limits) -> Result<(), GatewayError> {
    let h = req.headers();
    if h.contains_key(crate::framing::AMBIGUOUS_MARK) {
        return Err(GatewayError::BadRequest(
            "Both Content-Length and Transfer-Encoding",
        ));
    }
    let te = h.get_all(header::TRANSFER_ENCODING);
    let mut te_count = 0;
    for v in te.iter() {
        te_count += 1;
        if !v.as_bytes().eq_ignore_ascii_case(b"chunked") {
            return Err(GatewayError::BadRequest("Unsupported transfer coding"));
        }
    }
    if te_count > 1 {
        return Err(GatewayError::BadRequest("Unsupported transfer coding"));
    }
    let mut cl: Option<u64> = None;
    for v in h.get_all(header::CONTENT_LENGTH) {
        let parsed = v
            .to_str()
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(GatewayError::BadRequest("Invalid Content-Length"))?;
        if cl.is_some_and(|c| c != parsed) {
            return Err(GatewayError::BadRequest("Invalid Content-Length"));
        }
        cl = Some(parsed);
    }
    if te_count > 0 && cl.is_some() {
        return Err(GatewayError::BadRequest(
            "Both Content-Length and Transfer-Encoding",
        ));
    }
    if cl.is_some_and(|c| c > limits.max_body_bytes) {
        return Err(GatewayError::RequestTooLarge);
    }
    Ok(())
}

/// One authority per request: a second `Host`, or a `Host` that disagrees with `:authority`
/// or an absolute-form target, could make the upstream see another host than the one routed.
fn check_host(req: &Request<Incoming>) -> Result<(), GatewayError> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(GatewayError::BadRequest("More than one Host header"));
    }
    if let (Some(host), Some(authority)) = (host, req.uri().authority()) {
        if !host
            .as_bytes()
            .eq_ignore_ascii_case(authority.as_str().as_bytes())
        {
            return Err(GatewayError::BadRequest(
                "Host header does not match the request authority",
            ));
        }
    }
    Ok(())
}

async fn proxy(
    req: Request<Incoming>,
    ctx: &ConnContext,
    snapshot: &Snapshot,
    domain: &DomainState,
    request_id: &HeaderValue,
    verdict: Arc<BodyVerdict>,
    log: &mut AccessLog,
) -> Result<Response<ResponseBody>, GatewayError> {
    let limits = &snapshot.config.limits;
    if head_size(&req) > limits.max_header_bytes {
        return Err(GatewayError::HeadersTooLarge);
    }
    let target_len = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    if target_len > limits.max_uri_bytes {
        return Err(GatewayError::UriTooLong);
    }
    check_framing(&req, limits)?;
    check_host(&req)?;
    let path = req.uri().path();
    if crate::path::check_path(path.as_bytes()).is_err() {
        return Err(GatewayError::BadRequest("Invalid request path"));
    }
    let (target, rest) = domain
        .routes
        .map(path)
        .ok_or(GatewayError::MissingAuthenticationToken)?;
    let matched = target
        .router
        .at(req.method(), rest)
        .ok_or(GatewayError::MissingAuthenticationToken)?;
    log.route = Some(target.router.name(matched.index).clone());
    log.api_stage = Some((target.api.clone(), target.stage.clone()));
    let integration = &target.integrations[matched.index];
    let timeout = target.router.timeout(matched.index);
    let path_and_query = forward::upstream_path_and_query(integration, &matched, req.uri().query());
    // Belt and braces: whatever the parameters held, the result must stay under its prefix.
    let upstream_path = path_and_query.split('?').next().unwrap_or("");
    if crate::path::check_path(upstream_path.as_bytes()).is_err() {
        return Err(GatewayError::BadRequest("Invalid request path"));
    }

    let upstreams = &snapshot.upstreams;
    let pool = match &integration.target {
        IntegrationTarget::Pool(name) => Some(
            upstreams
                .pool(name)
                .ok_or(GatewayError::IntegrationFailure)?
                .clone(),
        ),
        IntegrationTarget::Direct(_) => None,
    };
    let mut lease = match &pool {
        Some(p) => Some(p.pick(None).ok_or(GatewayError::Throttled)?),
        None => None,
    };
    let (parts, body) = req.into_parts();
    // Idempotent requests without a body can be sent again to another target after a connect
    // failure (nothing reached the first one); a body cannot be replayed, so no retry then.
    let replay = match &pool {
        Some(p)
            if p.retries > 0
                && p.targets.len() > 1
                && is_idempotent(&parts.method)
                && body.is_end_stream() =>
        {
            Some(parts.clone())
        }
        _ => None,
    };
    let body = RequestBody::new(
        body,
        limits.max_body_bytes,
        limits.request_body_timeout,
        verdict.clone(),
    );
    let client_side = ClientSide {
        forwarded_for: &ctx.forwarded_for,
        identity: &ctx.identity,
        request_id,
        forwarding: &snapshot.config.forwarding,
    };
    let mut attempt = 0u32;
    let mut next: Option<(http::request::Parts, RequestBody)> = Some((parts, body));
    let deadline = tokio::time::Instant::now() + timeout;
    let sent = Instant::now();
    let resp = loop {
        let (parts, body) = next.take().ok_or(GatewayError::IntegrationFailure)?;
        let (client, authority, host) = match (&lease, &integration.target) {
            (Some(l), _) => {
                let t = l.target();
                (
                    &pool
                        .as_ref()
                        .ok_or(GatewayError::IntegrationFailure)?
                        .client,
                    &t.authority,
                    t.host.clone(),
                )
            }
            (None, IntegrationTarget::Direct(a)) => {
                let host = HeaderValue::from_str(a.as_str())
                    .map_err(|_| GatewayError::IntegrationFailure)?;
                (&upstreams.direct, a, host)
            }
            (None, IntegrationTarget::Pool(_)) => return Err(GatewayError::IntegrationFailure),
        };
        log.upstream = Some(authority.clone());
        let uri = Uri::builder()
            .scheme(integration.scheme.as_str())
            .authority(authority.clone())
            .path_and_query(path_and_query.as_str())
            .build()
            .map_err(|_| GatewayError::BadRequest("Invalid request path"))?;
        let up_req = forward::upstream_request(parts, body, uri, &host, client_side);
        let result = tokio::time::timeout_at(deadline, client.request(up_req)).await;
        match result {
            Err(_) => {
                log.upstream_latency = Some(sent.elapsed());
                tracing::warn!(upstream = %authority, route = %log.route.as_deref().unwrap_or(""), ?timeout, "integration timed out");
                return Err(GatewayError::IntegrationTimeout);
            }
            Ok(Ok(resp)) if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS => {
                // Upgrades are never requested (Upgrade is hop-by-hop and stripped), so a 101
                // is the upstream switching protocols on its own: never relayed.
                tracing::warn!(upstream = %authority, "upstream answered 101 Switching Protocols unasked");
                return Err(GatewayError::BadGateway("Bad Gateway"));
            }
            Ok(Ok(resp))
                if resp.headers().contains_key(header::TRANSFER_ENCODING)
                    && resp.headers().contains_key(header::CONTENT_LENGTH) =>
            {
                tracing::warn!(upstream = %authority, "upstream response has both Content-Length and Transfer-Encoding");
                return Err(GatewayError::BadGateway("Bad Gateway"));
            }
            Ok(Ok(resp)) => {
                if let (Some(p), Some(l)) = (&pool, &lease) {
                    p.answered(l.index, resp.status().as_u16());
                }
                break resp;
            }
            Ok(Err(e)) => {
                match verdict.get() {
                    BODY_TOO_LARGE => return Err(GatewayError::RequestTooLarge),
                    BODY_TIMED_OUT => return Err(GatewayError::RequestTimeout),
                    BODY_MALFORMED => {
                        return Err(GatewayError::BadRequest("Malformed request body"));
                    }
                    _ => {}
                }
                tracing::warn!(upstream = %authority, error = %error_chain(&e), "integration failed");
                if is_malformed_response(&e) {
                    // Not a timeout and not the client's fault: the upstream spoke bad HTTP.
                    return Err(GatewayError::BadGateway("Bad Gateway"));
                }
                let (Some(p), Some(l)) = (&pool, &lease) else {
                    return Err(GatewayError::IntegrationFailure);
                };
                if !e.is_connect() {
                    return Err(GatewayError::IntegrationFailure);
                }
                p.eject(l.index);
                attempt += 1;
                let retry = replay.as_ref().filter(|_| attempt <= p.retries);
                let Some(parts) = retry else {
                    return Err(GatewayError::IntegrationFailure);
                };
                let tried = l.index;
                lease = Some(
                    p.pick(Some(tried))
                        .ok_or(GatewayError::IntegrationFailure)?,
                );
                next = Some((parts.clone(), RequestBody::empty()));
                tracing::info!(pool = %p.name, attempt, "retrying an idempotent request on another target");
            }
        }
    };
    log.upstream_latency = Some(sent.elapsed());
    if let Some(l) = &lease {
        let t = l.target();
        ctx.metrics
            .upstream_duration
            .get_or_create(&crate::metrics::TargetLabels {
                upstream: pool
                    .as_ref()
                    .map(|p| p.name.clone())
                    .unwrap_or_else(|| "direct".into()),
                target: t.authority.as_str().into(),
                zone: t.zone.clone(),
            })
            .observe(sent.elapsed().as_secs_f64());
    }
    log.lease = lease;
    let (mut parts, body) = resp.into_parts();
    forward::strip_hop_by_hop(&mut parts.headers);
    // Each wait for the upstream's next chunk is bounded, not only the wait for the head.
    let chunk_wait = timeout.min(limits.response_idle_timeout);
    Ok(Response::from_parts(
        parts,
        ResponseBody::upstream(body, chunk_wait, ctx.delivery.clone()),
    ))
}

fn is_idempotent(m: &http::Method) -> bool {
    matches!(
        *m,
        http::Method::GET
            | http::Method::HEAD
            | http::Method::OPTIONS
            | http::Method::PUT
            | http::Method::DELETE
    )
}

/// Whether an upstream failure is a response hyper could not parse (bad framing, bad header
/// bytes, a head over the limit).
fn is_malformed_response(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = src {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_parse() || h.is_parse_too_large() || h.is_parse_status() {
                return true;
            }
        }
        src = err.source();
    }
    false
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
