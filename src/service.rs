//! Per request: check, route, forward, answer. Runs once for every request on a connection.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Request, Response, Uri};
use hyper::body::Incoming;

use crate::body::{BODY_TIMED_OUT, BODY_TOO_LARGE, BodyVerdict, RequestBody, ResponseBody};
use crate::config::{IntegrationTarget, Limits};
use crate::error::GatewayError;
use crate::forward::{self, ClientSide, X_REQUEST_ID};
use crate::state::{DomainState, Snapshot};
use crate::telemetry::{AccessLog, InFlight, InFlightGuard};
use crate::tls::ClientIdentity;

/// What every request on one client connection shares.
#[derive(Debug)]
pub struct ConnContext {
    /// The snapshot the connection was accepted under.
    pub snapshot: Arc<Snapshot>,
    /// The domain its SNI selected.
    pub domain: Arc<DomainState>,
    /// The verified client identity.
    pub identity: Arc<ClientIdentity>,
    /// Client address.
    pub peer: SocketAddr,
    /// Requests in flight on this connection.
    pub in_flight: Arc<InFlight>,
}

/// Answer one request.
pub async fn handle(
    req: Request<Incoming>,
    ctx: Arc<ConnContext>,
) -> Result<Response<ResponseBody>, Infallible> {
    let start = Instant::now();
    let request_id = request_id(req.headers());
    let mut log = Box::new(AccessLog {
        request_id: request_id.clone(),
        client: ctx.peer,
        subject: ctx.identity.clone(),
        domain: ctx.domain.name.clone(),
        method: req.method().clone(),
        path: req.uri().path().to_owned(),
        route: None,
        api_stage: None,
        upstream: None,
        status: 0,
        error: None,
        bytes_out: 0,
        start,
        upstream_latency: None,
        aborted: false,
        in_flight: Some(InFlightGuard::new(ctx.in_flight.clone())),
    });
    let mut resp = match proxy(req, &ctx, &request_id, &mut log).await {
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

async fn proxy(
    req: Request<Incoming>,
    ctx: &ConnContext,
    request_id: &HeaderValue,
    log: &mut AccessLog,
) -> Result<Response<ResponseBody>, GatewayError> {
    let limits = &ctx.snapshot.config.limits;
    if head_size(&req) > limits.max_header_bytes {
        return Err(GatewayError::HeadersTooLarge);
    }
    check_framing(&req, limits)?;
    let path = req.uri().path();
    if crate::path::check_path(path.as_bytes()).is_err() {
        return Err(GatewayError::BadRequest("Invalid request path"));
    }
    let (target, rest) = ctx
        .domain
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

    let upstreams = &ctx.snapshot.upstreams;
    let (client, pool, authority, host) = match &integration.target {
        IntegrationTarget::Pool(name) => {
            let pool = upstreams
                .pool(name)
                .ok_or(GatewayError::IntegrationFailure)?;
            let i = pool.pick();
            let t = &pool.targets[i];
            (&pool.client, Some((pool, i)), &t.authority, t.host.clone())
        }
        IntegrationTarget::Direct(a) => {
            let host =
                HeaderValue::from_str(a.as_str()).map_err(|_| GatewayError::IntegrationFailure)?;
            (&upstreams.direct, None, a, host)
        }
    };
    log.upstream = Some(authority.as_str().to_owned());
    let uri = Uri::builder()
        .scheme(integration.scheme.as_str())
        .authority(authority.clone())
        .path_and_query(path_and_query)
        .build()
        .map_err(|_| GatewayError::BadRequest("Invalid request path"))?;

    let (parts, body) = req.into_parts();
    let verdict = Arc::new(BodyVerdict::default());
    let body = RequestBody::new(
        body,
        limits.max_body_bytes,
        limits.request_body_timeout,
        verdict.clone(),
    );
    let up_req = forward::upstream_request(
        parts,
        body,
        uri,
        &host,
        ClientSide {
            peer: ctx.peer,
            identity: &ctx.identity,
            request_id,
        },
    );
    let sent = Instant::now();
    let result = tokio::time::timeout(timeout, client.request(up_req)).await;
    log.upstream_latency = Some(sent.elapsed());
    let resp = match result {
        Err(_) => {
            tracing::warn!(upstream = %authority, route = %log.route.as_deref().unwrap_or(""), ?timeout, "integration timed out");
            return Err(GatewayError::IntegrationTimeout);
        }
        Ok(Err(e)) => {
            match verdict.get() {
                BODY_TOO_LARGE => return Err(GatewayError::RequestTooLarge),
                BODY_TIMED_OUT => return Err(GatewayError::RequestTimeout),
                _ => {}
            }
            if e.is_connect() {
                if let Some((pool, i)) = pool {
                    pool.eject(i);
                }
            }
            tracing::warn!(upstream = %authority, error = %error_chain(&e), "integration failed");
            return Err(GatewayError::IntegrationFailure);
        }
        Ok(Ok(resp)) => resp,
    };
    if let Some((pool, i)) = pool {
        pool.restore(i);
    }
    let (mut parts, body) = resp.into_parts();
    forward::strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, ResponseBody::upstream(body)))
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
