//! The life of one verified connection: hyper serves HTTP/1.1 or HTTP/2 behind the framing
//! guard, while this loop closes it when the idle timeout, `max_connection_age` or the drain
//! says so (with a bounded grace), or at once when the client stops taking its responses.
//! Between HTTP/1 requests the connection holds no HTTP buffer (see [`serving`]).

mod serving;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use tokio::sync::watch;
use tokio::time::Instant;

use self::serving::Http;
use super::handshake::{Accepted, Chain};
use super::{CLOSE_GRACE, HEAD_SLACK};
use crate::body::{Delivery, ResponseBody};
use crate::framing::{FramingGuard, Traffic};
use crate::metrics::Metrics;
use crate::service::{self, ConnContext};
use crate::state::{DomainState, SharedSnapshot, Snapshot};
use crate::telemetry::{InFlight, InFlightGuard};
use crate::tls::ClientIdentity;
use crate::tls::accept::ServerStream;

/// A connection's surroundings: who, where, under which snapshot, and the drain signal.
pub(super) struct Connection {
    pub(super) peer: SocketAddr,
    pub(super) listener: SocketAddr,
    pub(super) state: SharedSnapshot,
    pub(super) snapshot: Arc<Snapshot>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) stop: watch::Receiver<bool>,
    /// Changes with every reload: the client is judged again under the new trust.
    pub(super) reloads: watch::Receiver<u64>,
}

/// What a connection's client was last judged by, to judge it again after a reload.
struct Judged {
    chain: Chain,
    identity: Arc<ClientIdentity>,
    /// The trust digest of the verifier that last accepted the chain.
    trust: [u8; 32],
}

impl Judged {
    /// Why the client no longer passes the trust of `domain` (as reloaded): its chain against
    /// a changed truststore, CRLs or chain-depth limit, its identity calling from `client`
    /// against the rule sets of the routes it can reach. `None` while it passes.
    fn withdrawn(&mut self, domain: &DomainState, client: SocketAddr) -> Option<String> {
        let verifier = domain.verifier.as_ref()?;
        let trust = verifier.trust_digest();
        if trust != self.trust {
            let now = rustls_pki_types::UnixTime::now();
            let chain: Vec<rustls_pki_types::CertificateDer<'_>> = self
                .chain
                .iter()
                .map(|d| rustls_pki_types::CertificateDer::from(&d[..]))
                .collect();
            if let Err(refusal) = verifier.verify_chain(&chain, now) {
                return Some(refusal.reason);
            }
            self.trust = trust;
        }
        let caller = crate::authz::Caller::new(&self.identity).from_address(client.ip());
        crate::authz::may_call_some_route(&caller, domain.reachable_rules.as_deref()).err()
    }
}

/// How long until a certificate valid through `not_after` (Unix seconds) has expired.
fn until_expiry(not_after: i64) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let end = Duration::from_secs(u64::try_from(not_after).unwrap_or(0).saturating_add(1));
    end.saturating_sub(now)
}

/// What the connection's clocks decide on a tick.
#[derive(Debug, PartialEq, Eq)]
enum Tick {
    Keep,
    Idle,
    ClientStalled,
}

/// The idle and stall clocks of one connection.
struct Clocks {
    idle: Duration,
    response_idle: Duration,
    is_h2: bool,
    last_seen: u64,
    quiet_since: Instant,
    /// While a response waits on the client: since when, and the frame count then.
    stalled: Option<(Instant, u64)>,
}

impl Clocks {
    fn tick(
        &mut self,
        now: Instant,
        activity: u64,
        in_flight: &InFlight,
        delivery: &Delivery,
    ) -> Tick {
        if self.client_stalled(now, delivery) {
            return Tick::ClientStalled;
        }
        // On HTTP/2 only requests count: PINGs and other control frames move bytes too.
        let seen = if self.is_h2 {
            in_flight.started()
        } else {
            activity
        };
        if seen != self.last_seen || in_flight.get() > 0 {
            self.last_seen = seen;
            self.quiet_since = now;
        } else if now - self.quiet_since >= self.idle {
            return Tick::Idle;
        }
        Tick::Keep
    }

    /// Whether a response has waited on the client, with no frame handed on, for too long.
    fn client_stalled(&mut self, now: Instant, delivery: &Delivery) -> bool {
        if !delivery.waiting_on_client() {
            self.stalled = None;
            return false;
        }
        let frames = delivery.frames();
        match self.stalled {
            Some((since, seen)) if seen == frames => now - since >= self.response_idle,
            _ => {
                self.stalled = Some((now, frames));
                false
            }
        }
    }
}

/// Serves a connection's requests. Each request's future is boxed, and freed when it is done:
/// hyper would otherwise keep room for the largest one in every connection, idle or not.
#[derive(Clone)]
struct Handler(Arc<ConnContext>);

impl hyper::service::Service<::http::Request<Incoming>> for Handler {
    type Response = ::http::Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: ::http::Request<Incoming>) -> Self::Future {
        // In flight from the moment hyper hands the request over: the connection never parks
        // under a request, not even before its future first runs.
        // The guard then goes with the access-log record, released when the response is done.
        let in_flight = InFlightGuard::new(self.0.in_flight.clone());
        let ctx = self.0.clone();
        Box::pin(service::handle(req, ctx, in_flight))
    }
}

/// hyper's side of a client connection.
type Served = Http<Box<ServerStream>, Handler>;

/// What a connection's loop keeps besides hyper's side: small, since an idle connection holds
/// little else.
struct Life {
    /// The domain the client reached by SNI: once a reload removes it, the connection closes.
    domain: Arc<str>,
    /// The client's last judgement, for verified clients (judged again on reloads).
    judged: Option<Judged>,
    clocks: Clocks,
    in_flight: Arc<InFlight>,
    delivery: Arc<Delivery>,
    traffic: Arc<Traffic>,
    shutdown_grace: Duration,
    /// When the connection must end: its age cap or its certificate's expiry, whichever first.
    end_at: Option<Instant>,
    /// `end_at` is the certificate's expiry.
    expires_first: bool,
}

impl Life {
    /// When the loop must next wake up, `now` being the last time: to read the idle and stall
    /// clocks again, or at the end of the connection's life.
    fn next(&self, now: Instant) -> Instant {
        let clocks = &self.clocks;
        let tick = now + clocks.idle.min(clocks.response_idle) / 4;
        self.end_at.map_or(tick, |end| end.min(tick))
    }
}

impl Connection {
    /// Serve `accepted` until it ends or is closed. The setup runs before the returned future
    /// starts, so the future, which lives as long as the connection, keeps only its loop.
    pub(super) fn serve(self, accepted: Accepted) -> impl Future<Output = ()> + Send {
        let limits = &self.snapshot.config.limits;
        let in_flight = Arc::new(InFlight::default());
        let delivery = Arc::new(Delivery::default());
        let traffic = Arc::new(Traffic::default());
        let max_age = accepted.domain.max_connection_age;
        let identity = Arc::new(accepted.identity);
        let chain = accepted.chain.clone();
        // Verified clients only: they are judged again on reloads and closed at expiry.
        let judged = match (accepted.chain, &accepted.domain.verifier) {
            (Some(chain), Some(v)) => Some(Judged {
                chain,
                identity: identity.clone(),
                trust: v.trust_digest(),
            }),
            _ => None,
        };
        let expires_in = judged.as_ref().map(|_| until_expiry(identity.not_after));
        let is_h2 = crate::tls::accept::is_h2(&accepted.tls);
        let max_head = limits.max_header_bytes + HEAD_SLACK;
        let guard = FramingGuard::new(
            accepted.tls,
            max_head,
            !is_h2,
            limits.header_read_timeout,
            traffic.clone(),
        );
        let ctx_domain = accepted.domain.name.clone();
        let ctx = Arc::new(ConnContext {
            state: self.state.clone(),
            listener: self.listener,
            snapshot: self.snapshot.clone(),
            domain: accepted.domain,
            identity,
            chain,
            peer: self.peer,
            forwarded_for: crate::forward::forwarded_for(self.peer),
            in_flight: in_flight.clone(),
            delivery: delivery.clone(),
            metrics: self.metrics.clone(),
            metric_cache: Arc::new(crate::telemetry::MetricCache::new(
                self.metrics.clone(),
                &ctx_domain,
            )),
            identity_built: Default::default(),
        });
        let http = Http::new(
            guard,
            Handler(ctx),
            is_h2,
            max_head,
            in_flight.clone(),
            traffic.clone(),
        );
        // One timer for both ends of a connection's life: its age cap and its certificate's
        // expiry, whichever comes first.
        let expires_first = match (max_age, expires_in) {
            (Some(age), Some(exp)) => exp < age,
            (None, Some(_)) => true,
            _ => false,
        };
        let life = Life {
            domain: ctx_domain,
            judged,
            clocks: Clocks {
                idle: limits.idle_timeout,
                response_idle: limits.response_idle_timeout,
                is_h2,
                // Nothing has moved yet: the idle clock runs from now.
                last_seen: 0,
                quiet_since: Instant::now(),
                stalled: None,
            },
            in_flight,
            delivery,
            traffic,
            shutdown_grace: limits.shutdown_grace,
            end_at: if expires_first { expires_in } else { max_age }.map(|d| {
                // Beyond a century is never.
                Instant::now() + d.min(Duration::from_secs(u32::MAX as u64))
            }),
            expires_first,
        };
        self.metrics.open_connections.inc();
        let open = OpenGuard(self.metrics.clone());
        self.run(http, life, open)
    }

    /// The connection's loop (see [`Connection::serve`]).
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn keeps its arguments twice (rust-lang/rust#62958): 540 bytes more per connection"
    )]
    fn run(
        mut self,
        mut http: Served,
        mut life: Life,
        open: OpenGuard,
    ) -> impl Future<Output = ()> + Send {
        async move {
            let _open = open;
            // One timer: the next reading of the clocks or the end of the connection's life
            // (its age cap or its certificate's expiry), whichever comes first; once closing
            // starts, the closing deadline: past it, a connection without requests in flight
            // is closed, and past `shutdown_grace` one with requests too.
            let deadline = tokio::time::sleep_until(life.next(Instant::now()));
            tokio::pin!(deadline);
            let mut watching = true;
            let mut closing = false;
            let mut hard_close = Instant::now();
            loop {
                let was_closing = closing;
                tokio::select! {
                    _ = &mut deadline => {
                        let now = Instant::now();
                        if closing {
                            if life.in_flight.get() == 0 || now >= hard_close {
                                tracing::debug!(client = %self.peer, "closing grace over; closing the socket");
                                break;
                            }
                            deadline.as_mut().reset(now + Duration::from_millis(250));
                        } else if life.end_at.is_some_and(|end| now >= end) {
                            if let (true, Some(j)) = (life.expires_first, &life.judged) {
                                self.trust_closed(&life.domain, j, "certificate_expired", "the client certificate expired");
                            } else {
                                tracing::debug!(client = %self.peer, "max_connection_age reached; closing connection");
                            }
                            closing = true;
                        } else {
                            let moves = life.traffic.moves();
                            match life.clocks.tick(now, moves, &life.in_flight, &life.delivery) {
                                Tick::Keep => deadline.as_mut().reset(life.next(now)),
                                Tick::Idle => {
                                    tracing::debug!(client = %self.peer, "idle timeout; closing connection");
                                    closing = true;
                                }
                                Tick::ClientStalled => {
                                    tracing::warn!(client = %self.peer, timeout = ?life.clocks.response_idle, "client took no response bytes; closing connection");
                                    life.delivery.cut_stalled_client();
                                    break;
                                }
                            }
                        }
                    }
                    changed = self.reloads.changed(), if !closing && watching => {
                        // The sender lives as long as the gateway; without it, stop watching.
                        watching = changed.is_ok();
                        let snapshot = self.state.load_full();
                        match (snapshot.domain(self.listener, &life.domain), life.judged.as_mut()) {
                            // Nothing serves the domain any more: the requests in flight finish
                            // on the snapshot they started with, and the connection closes.
                            (None, _) => {
                                tracing::info!(client = %self.peer, domain = &*life.domain, "domain removed by reload; closing its connection after the current request");
                                self.count_closure(&life.domain, "domain_removed");
                                closing = true;
                            }
                            (Some(domain), Some(j)) => {
                                if let Some(reason) = j.withdrawn(domain, self.peer) {
                                    self.trust_closed(&life.domain, j, "trust_withdrawn", &reason);
                                    closing = true;
                                }
                            }
                            (Some(_), None) => {}
                        }
                    }
                    res = std::future::poll_fn(|cx| http.poll(cx)) => {
                        if let Err(e) = res {
                            tracing::debug!(client = %self.peer, error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = self.stop.changed(), if !closing => closing = true,
                }
                if closing && !was_closing {
                    http.graceful_shutdown();
                    let now = Instant::now();
                    deadline.as_mut().reset(now + CLOSE_GRACE);
                    hard_close = now + CLOSE_GRACE.max(life.shutdown_grace);
                }
            }
        }
    }
}

impl Connection {
    /// Log and count a connection closed because its client's trust ended.
    fn trust_closed(&self, domain: &Arc<str>, judged: &Judged, why: &'static str, reason: &str) {
        tracing::warn!(
            client = %self.peer,
            subject = judged.identity.subject.as_str(),
            domain = &**domain,
            reason,
            "client no longer trusted; closing its connection after the current request"
        );
        self.count_closure(domain, why);
    }

    /// Count a connection closed because a reload or time took its trust away.
    fn count_closure(&self, domain: &Arc<str>, why: &'static str) {
        self.metrics
            .trust_closures
            .get_or_create(&crate::metrics::TrustClosureLabels {
                domain: domain.clone(),
                reason: why,
            })
            .inc();
    }
}

/// Decrements the open-connection gauge when a connection ends.
struct OpenGuard(Arc<Metrics>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open_connections.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clocks(is_h2: bool, start: Instant) -> Clocks {
        Clocks {
            idle: Duration::from_secs(4),
            response_idle: Duration::from_secs(2),
            is_h2,
            last_seen: u64::MAX,
            quiet_since: start,
            stalled: None,
        }
    }

    #[test]
    fn quiet_connection_goes_idle_after_the_idle_timeout() {
        let t0 = Instant::now();
        let mut c = clocks(false, t0);
        let (f, d) = (InFlight::default(), Delivery::default());
        assert_eq!(c.tick(t0, 7, &f, &d), Tick::Keep);
        assert_eq!(c.tick(t0 + Duration::from_secs(3), 7, &f, &d), Tick::Keep);
        // Bytes moved: the clock starts again.
        assert_eq!(c.tick(t0 + Duration::from_secs(3), 8, &f, &d), Tick::Keep);
        assert_eq!(c.tick(t0 + Duration::from_secs(6), 8, &f, &d), Tick::Keep);
        assert_eq!(c.tick(t0 + Duration::from_secs(7), 8, &f, &d), Tick::Idle);
    }

    /// The size of what `f` returns.
    fn returned_size<A, B, C, D, R>(_: impl Fn(A, B, C, D) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    #[test]
    fn a_connection_task_keeps_no_room_for_passing_work() {
        // A connection's task lives as long as the connection: the handshake's state is boxed
        // and freed after it, each request's future too, and hyper's HTTP/1 connection exists
        // only while a request is served. What stays is the loop: about 1.1 KiB; before, the
        // task kept 4 KiB for all of them.
        let task = returned_size(super::super::serve_connection);
        assert!(task <= 1280, "a connection's task future is {task} bytes");
        let served = std::mem::size_of::<Served>();
        assert!(
            served <= 256,
            "hyper's side of a connection is {served} bytes"
        );
    }

    #[test]
    fn on_h2_bytes_alone_are_not_activity() {
        let t0 = Instant::now();
        let mut c = clocks(true, t0);
        let (f, d) = (InFlight::default(), Delivery::default());
        assert_eq!(c.tick(t0, 1, &f, &d), Tick::Keep);
        assert_eq!(c.tick(t0 + Duration::from_secs(5), 999, &f, &d), Tick::Idle);
    }
}
