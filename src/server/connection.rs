//! The life of one verified connection: hyper serves HTTP/1.1 or HTTP/2 behind the framing
//! guard, while this loop closes it when the idle timeout, `max_connection_age` or the drain
//! says so (with a bounded grace), or at once when the client stops taking its responses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::sync::watch;
use tokio::time::Instant;

use super::handshake::{Accepted, Chain};
use super::{CLOSE_GRACE, HEAD_SLACK};
use crate::body::Delivery;
use crate::config::Limits;
use crate::framing::FramingGuard;
use crate::metrics::Metrics;
use crate::service::{self, ConnContext};
use crate::state::{SharedSnapshot, Snapshot};
use crate::telemetry::InFlight;
use crate::tls::ClientIdentity;

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
    domain: Arc<str>,
    chain: Chain,
    identity: Arc<ClientIdentity>,
    /// The trust digest of the verifier that last accepted the chain.
    trust: [u8; 32],
}

impl Judged {
    /// Why the client no longer passes its domain's trust in `snapshot`: its chain against a
    /// changed truststore, CRLs or chain-depth limit, its identity calling from `client`
    /// against the rule sets of the routes it can reach. `None` while it passes (or its domain is gone: then the
    /// connection keeps the snapshot it was accepted under, as its requests do).
    fn withdrawn(
        &mut self,
        snapshot: &Snapshot,
        listener: SocketAddr,
        client: SocketAddr,
    ) -> Option<String> {
        let domain = snapshot.domain(listener, &self.domain)?;
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

impl Connection {
    /// Serve `accepted` until it ends or is closed.
    pub(super) async fn serve(mut self, accepted: Accepted) {
        let limits = self.snapshot.config.limits.clone();
        let in_flight = Arc::new(InFlight::default());
        let delivery = Arc::new(Delivery::default());
        let activity = Arc::new(AtomicU64::new(0));
        let max_age = accepted.domain.max_connection_age;
        let identity = Arc::new(accepted.identity);
        let chain = accepted.chain.clone();
        // Verified clients only: they are judged again on reloads and closed at expiry.
        let mut judged = match (accepted.chain, &accepted.domain.verifier) {
            (Some(chain), Some(v)) => Some(Judged {
                domain: accepted.domain.name.clone(),
                chain,
                identity: identity.clone(),
                trust: v.trust_digest(),
            }),
            _ => None,
        };
        let expires_in = judged.as_ref().map(|_| until_expiry(identity.not_after));
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
            metric_cache: Arc::default(),
        });
        self.metrics.open_connections.inc();
        let _open = OpenGuard(self.metrics.clone());
        let svc = service_fn(move |req| service::handle(req, ctx.clone()));
        let is_h2 = crate::tls::accept::is_h2(&accepted.tls);
        let io = TokioIo::new(FramingGuard::new(
            accepted.tls,
            limits.max_header_bytes + HEAD_SLACK,
            !is_h2,
            limits.header_read_timeout,
            activity.clone(),
        ));
        let builder = http_builder(&limits);
        let conn = builder.serve_connection(io, svc);
        tokio::pin!(conn);

        let mut clocks = Clocks {
            idle: limits.idle_timeout,
            response_idle: limits.response_idle_timeout,
            is_h2,
            last_seen: u64::MAX,
            quiet_since: Instant::now(),
            stalled: None,
        };
        let mut ticker =
            tokio::time::interval(limits.idle_timeout.min(limits.response_idle_timeout) / 4);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let forever = Duration::from_secs(u32::MAX as u64);
        // One timer for both ends of a connection's life: its age cap and its certificate's
        // expiry, whichever comes first.
        let expires_first = match (max_age, expires_in) {
            (Some(age), Some(exp)) => exp < age,
            (None, Some(_)) => true,
            _ => false,
        };
        let end_of_life = if expires_first { expires_in } else { max_age };
        let age_limit = tokio::time::sleep(end_of_life.unwrap_or(forever).min(forever));
        tokio::pin!(age_limit);
        let mut watching = judged.is_some();
        // Armed when closing starts: past it, a connection without requests in flight is
        // closed, and past `shutdown_grace` one with requests too.
        let close_by = tokio::time::sleep(forever);
        tokio::pin!(close_by);
        let mut closing = false;
        let mut hard_close = Instant::now();
        let peer = self.peer;
        loop {
            let was_closing = closing;
            tokio::select! {
                _ = &mut close_by, if closing => {
                    if in_flight.get() == 0 || Instant::now() >= hard_close {
                        tracing::debug!(client = %peer, "closing grace over; closing the socket");
                        break;
                    }
                    close_by.as_mut().reset(Instant::now() + Duration::from_millis(250));
                }
                _ = &mut age_limit, if !closing && end_of_life.is_some() => {
                    if let (true, Some(j)) = (expires_first, &judged) {
                        self.trust_closed(j, "certificate_expired", "the client certificate expired");
                    } else {
                        tracing::debug!(client = %peer, "max_connection_age reached; closing connection");
                    }
                    closing = true;
                }
                changed = self.reloads.changed(), if !closing && watching => {
                    // The sender lives as long as the gateway; without it, stop watching.
                    watching = changed.is_ok();
                    let snapshot = self.state.load_full();
                    if let Some(j) = judged.as_mut() {
                        if let Some(reason) = j.withdrawn(&snapshot, self.listener, self.peer) {
                            self.trust_closed(j, "trust_withdrawn", &reason);
                            closing = true;
                        }
                    }
                }
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        tracing::debug!(client = %peer, error = %e, "connection ended with an error");
                    }
                    break;
                }
                _ = self.stop.changed(), if !closing => closing = true,
                _ = ticker.tick(), if !closing => {
                    let activity = activity.load(Ordering::Relaxed);
                    match clocks.tick(Instant::now(), activity, &in_flight, &delivery) {
                        Tick::Keep => {}
                        Tick::Idle => {
                            tracing::debug!(client = %peer, "idle timeout; closing connection");
                            closing = true;
                        }
                        Tick::ClientStalled => {
                            tracing::warn!(client = %peer, timeout = ?clocks.response_idle, "client took no response bytes; closing connection");
                            delivery.cut_stalled_client();
                            break;
                        }
                    }
                }
            }
            if closing && !was_closing {
                conn.as_mut().graceful_shutdown();
                let now = Instant::now();
                close_by.as_mut().reset(now + CLOSE_GRACE);
                hard_close = now + CLOSE_GRACE.max(limits.shutdown_grace);
            }
        }
    }
}

impl Connection {
    /// Log and count a connection closed because its client's trust ended.
    fn trust_closed(&self, judged: &Judged, why: &'static str, reason: &str) {
        tracing::warn!(
            client = %self.peer,
            subject = judged.identity.subject.as_str(),
            domain = &*judged.domain,
            reason,
            "client no longer trusted; closing its connection after the current request"
        );
        self.metrics
            .trust_closures
            .get_or_create(&crate::metrics::TrustClosureLabels {
                domain: judged.domain.clone(),
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

fn http_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        // The head timeout is the framing guard's: hyper's would also cut idle keep-alive.
        .header_read_timeout(None)
        .max_buf_size((limits.max_header_bytes + HEAD_SLACK).max(8192))
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size((limits.max_header_bytes + HEAD_SLACK) as u32)
        .max_concurrent_streams(256);
    b
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

    #[test]
    fn on_h2_bytes_alone_are_not_activity() {
        let t0 = Instant::now();
        let mut c = clocks(true, t0);
        let (f, d) = (InFlight::default(), Delivery::default());
        assert_eq!(c.tick(t0, 1, &f, &d), Tick::Keep);
        assert_eq!(c.tick(t0 + Duration::from_secs(5), 999, &f, &d), Tick::Idle);
    }
}
