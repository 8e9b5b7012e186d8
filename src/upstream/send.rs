//! Sending one request upstream: a target picked from the pool (or the host the integration
//! names), the wait for the response head bounded by the route's timeout, connect failures
//! ejecting the target and retried elsewhere when the request can be replayed, and responses
//! the gateway will not relay refused.

use std::sync::Arc;
use std::time::Duration;

use http::header::{CONTENT_LENGTH, HeaderValue, TRANSFER_ENCODING};
use http::request::Parts;
use http::uri::Authority;
use http::{Request, Response, StatusCode};
use http_body::Body as _;
use hyper::body::Incoming;

use super::client::{Client, ClientError, Connection};
use super::pool::{Lease, Pool};
use crate::body::RequestBody;
use crate::config::Scheme;

/// Where a request goes: one of a pool's targets, or a host the integration names.
#[derive(Debug, Clone, Copy)]
pub enum Destination<'a> {
    /// A pool (pick, retry, eject), over the client that verifies the integration's name.
    Pool(&'a Arc<Pool>, &'a Client, Scheme),
    /// A `host:port` named in the integration, over the shared direct client.
    Direct(&'a Client, &'a Authority, Scheme),
}

/// The upstream's answer: its response head, the target leased for it and the connection it
/// came over (both held until the response is done), and the target's address.
#[derive(Debug)]
pub struct Answer {
    /// Response head and streaming body.
    pub response: Response<Incoming>,
    /// The pool target, when the destination was a pool.
    pub lease: Option<Lease>,
    /// The connection, parked for the next exchange once the response is done.
    pub connection: Connection,
    /// The address the request went to.
    pub target: Authority,
}

/// Why no usable answer came back; every case is the upstream side's.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Every target of the pool is at its `max_connections`.
    #[error("every target of pool {0} is at its max_connections")]
    AllBusy(Arc<str>),
    /// No response head within the route's timeout.
    #[error("{target} did not answer within {timeout:?}")]
    Timeout {
        /// The target asked.
        target: Authority,
        /// The route's timeout.
        timeout: Duration,
    },
    /// The response is not one the gateway relays: bad HTTP, an unsolicited 101, ambiguous
    /// framing.
    #[error("{target} answered with a malformed response: {reason}")]
    Malformed {
        /// The target that answered.
        target: Authority,
        /// What was wrong.
        reason: String,
    },
    /// The connection failed or broke before a response head arrived.
    #[error("{target}: {reason}")]
    Failed {
        /// The target tried.
        target: Authority,
        /// The error chain.
        reason: String,
        /// Nothing reached the target (the connection was never made).
        connect: bool,
    },
}

impl SendError {
    /// The target concerned, if any.
    pub fn target(&self) -> Option<&Authority> {
        match self {
            SendError::AllBusy(_) => None,
            SendError::Timeout { target, .. }
            | SendError::Malformed { target, .. }
            | SendError::Failed { target, .. } => Some(target),
        }
    }
}

/// Send a request, built for each target tried by `build(parts, body, target, host)`, and wait
/// at most `timeout` for the response head.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice (rust-lang/rust#62958); every request moves this future"
)]
pub fn send(
    dest: Destination<'_>,
    parts: Parts,
    body: RequestBody,
    timeout: Duration,
    build: impl Fn(Parts, RequestBody, &Authority, &HeaderValue) -> Request<RequestBody> + Send,
) -> impl Future<Output = Result<Answer, SendError>> + Send {
    async move {
        let deadline = tokio::time::Instant::now() + timeout;
        match dest {
            Destination::Direct(client, authority, scheme) => {
                let host =
                    HeaderValue::from_str(authority.as_str()).map_err(|e| SendError::Failed {
                        target: authority.clone(),
                        reason: e.to_string(),
                        connect: true,
                    })?;
                let req = build(parts, body, authority, &host);
                let (response, connection) =
                    request(client, scheme, req, authority, deadline, timeout).await?;
                Ok(Answer {
                    response,
                    lease: None,
                    connection,
                    target: authority.clone(),
                })
            }
            Destination::Pool(pool, client, scheme) => {
                pool.send((client, scheme), parts, body, deadline, timeout, build)
                    .await
            }
        }
    }
}

impl Pool {
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn keeps its arguments twice (rust-lang/rust#62958); every request moves this future"
    )]
    fn send(
        self: &Arc<Self>,
        (client, scheme): (&Client, Scheme),
        parts: Parts,
        body: RequestBody,
        deadline: tokio::time::Instant,
        timeout: Duration,
        build: impl Fn(Parts, RequestBody, &Authority, &HeaderValue) -> Request<RequestBody> + Send,
    ) -> impl Future<Output = Result<Answer, SendError>> + Send {
        async move {
            let mut lease = self
                .pick(None)
                .ok_or_else(|| SendError::AllBusy(self.name.clone()))?;
            // Idempotent requests without a body can be sent again to another target after a
            // connect failure (nothing reached the first one); a body cannot be replayed.
            let replay = (self.retries > 0
                && self.targets.len() > 1
                && is_idempotent(&parts.method)
                && body.is_end_stream())
            .then(|| parts.clone());
            let mut attempt = (parts, body);
            let mut retries = 0u32;
            loop {
                // The worker's own copies: the request clones them (see `Target::local`).
                let (authority, host) = lease.target().local();
                let req = build(attempt.0, attempt.1, authority, host);
                match request(client, scheme, req, authority, deadline, timeout).await {
                    Ok((response, connection)) => {
                        self.answered(lease.index, response.status().as_u16());
                        let target = authority.clone();
                        return Ok(Answer {
                            response,
                            lease: Some(lease),
                            connection,
                            target,
                        });
                    }
                    Err(e @ SendError::Failed { connect: true, .. }) => {
                        self.eject(lease.index);
                        retries += 1;
                        let Some(parts) = replay.as_ref().filter(|_| retries <= self.retries)
                        else {
                            return Err(e);
                        };
                        lease = self.pick(Some(lease.index)).ok_or(e)?;
                        attempt = (parts.clone(), RequestBody::empty());
                        tracing::info!(pool = %self.name, attempt = retries, "retrying an idempotent request on another target");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

/// One exchange with one target.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice (rust-lang/rust#62958); every request moves this future"
)]
fn request(
    client: &Client,
    scheme: Scheme,
    req: Request<RequestBody>,
    target: &Authority,
    deadline: tokio::time::Instant,
    timeout: Duration,
) -> impl Future<Output = Result<(Response<Incoming>, Connection), SendError>> + Send {
    async move {
        match tokio::time::timeout_at(deadline, client.send(scheme, target, req)).await {
            Err(_) => Err(SendError::Timeout {
                target: target.clone(),
                timeout,
            }),
            Ok(Ok((resp, connection))) => match relayable(resp, target) {
                Ok(resp) => Ok((resp, connection)),
                Err(refused) => {
                    // Whatever followed a response with ambiguous framing is not trusted: the
                    // connection is closed, never parked for another request.
                    connection.discard();
                    Err(refused)
                }
            },
            Ok(Err(e)) => {
                let reason = error_chain(&e);
                match e {
                    ClientError::Exchange(h) if is_malformed_response(&h) => {
                        Err(SendError::Malformed {
                            target: target.clone(),
                            reason,
                        })
                    }
                    e => Err(SendError::Failed {
                        target: target.clone(),
                        connect: matches!(e, ClientError::Connect(_)),
                        reason,
                    }),
                }
            }
        }
    }
}

/// Refuse a response the gateway will not relay.
fn relayable(
    resp: Response<Incoming>,
    target: &Authority,
) -> Result<Response<Incoming>, SendError> {
    let reason = if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        // Upgrades are never requested (Upgrade is hop-by-hop and stripped), so a 101 is the
        // upstream switching protocols on its own.
        "101 Switching Protocols, unasked"
    } else if resp.headers().contains_key(TRANSFER_ENCODING)
        && resp.headers().contains_key(CONTENT_LENGTH)
    {
        "both Content-Length and Transfer-Encoding"
    } else {
        return Ok(resp);
    };
    Err(SendError::Malformed {
        target: target.clone(),
        reason: reason.to_owned(),
    })
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

/// Whether an exchange failed on a response hyper could not parse (bad framing, bad header
/// bytes, a head over the limit).
fn is_malformed_response(h: &hyper::Error) -> bool {
    h.is_parse() || h.is_parse_too_large() || h.is_parse_status()
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::super::client::tests::{client, upstream_answering};
    use super::*;

    /// Content-Length *and* Transfer-Encoding: framing the gateway refuses to relay.
    const AMBIGUOUS: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";

    #[tokio::test]
    async fn a_connection_that_brought_an_ambiguous_response_is_never_reused() {
        let (target, seen) = upstream_answering(AMBIGUOUS, false).await;
        let client = client(Duration::from_secs(30));
        for round in 1..=2 {
            let (parts, _) = Request::get("/x").body(()).unwrap().into_parts();
            let got = send(
                Destination::Direct(&client, &target, Scheme::Http),
                parts,
                RequestBody::empty(),
                Duration::from_secs(5),
                |parts, body, _, host| {
                    let mut req = Request::from_parts(parts, body);
                    req.headers_mut().insert(http::header::HOST, host.clone());
                    req
                },
            )
            .await;
            assert!(
                matches!(got, Err(SendError::Malformed { .. })),
                "round {round}: {got:?}"
            );
            // Give a parked connection time to turn ready, were it parked.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let accepted = seen.accepted.load(Ordering::SeqCst);
        assert_eq!(accepted, 2, "the refused connection was reused");
    }
}
