//! Body types on the hot path: the client's request body on its way upstream (bounded in size
//! and time), and the response body on its way back (counted, and logged when done).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

/// Boxed error used by both body types.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What stopped a request body early, and how many bytes it carried; shared with the request
/// handler and the access log.
#[derive(Debug, Default)]
pub struct BodyVerdict(AtomicU8, std::sync::atomic::AtomicU64);

/// The body went over `max_body_bytes`.
pub const BODY_TOO_LARGE: u8 = 1;
/// The body did not arrive within `request_body_timeout`.
pub const BODY_TIMED_OUT: u8 = 2;
/// The client's body framing broke (bad chunk line, size overflow, truncated): its fault.
pub const BODY_MALFORMED: u8 = 3;

impl BodyVerdict {
    /// 0, [`BODY_TOO_LARGE`] or [`BODY_TIMED_OUT`].
    pub fn get(&self) -> u8 {
        self.0.load(Ordering::Relaxed)
    }
    fn set(&self, v: u8) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// Request body bytes forwarded so far.
    pub fn bytes(&self) -> u64 {
        self.1.load(Ordering::Relaxed)
    }
}

/// Error raised by [`RequestBody`] when a limit is hit.
#[derive(Debug, thiserror::Error)]
pub enum BodyLimitError {
    /// Over the size limit.
    #[error("request body exceeds {0} bytes")]
    TooLarge(u64),
    /// Over the time limit.
    #[error("request body did not arrive within {0:?}")]
    TimedOut(Duration),
}

/// The client's request body, streamed upstream, cut off at a size and a deadline.
#[derive(Debug)]
pub struct RequestBody {
    inner: Option<Incoming>,
    remaining: u64,
    limit: u64,
    timeout: Duration,
    deadline: Option<Pin<Box<Sleep>>>,
    verdict: Arc<BodyVerdict>,
}

impl RequestBody {
    /// Wrap `inner`; at most `limit` bytes, all within `timeout` of now.
    pub fn new(inner: Incoming, limit: u64, timeout: Duration, verdict: Arc<BodyVerdict>) -> Self {
        let empty = inner.is_end_stream();
        RequestBody {
            inner: Some(inner),
            remaining: limit,
            limit,
            timeout,
            // An empty body needs no timer: skip the allocation on the common GET.
            deadline: (!empty)
                .then(|| Box::pin(tokio::time::sleep_until(Instant::now() + timeout))),
            verdict,
        }
    }

    /// An empty body (for requests built by the gateway itself).
    pub fn empty() -> Self {
        RequestBody {
            inner: None,
            remaining: 0,
            limit: 0,
            timeout: Duration::ZERO,
            deadline: None,
            verdict: Arc::default(),
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        let frame = match polled {
            Poll::Ready(f) => f,
            Poll::Pending => {
                if let Some(d) = this.deadline.as_mut() {
                    if d.as_mut().poll(cx).is_ready() {
                        this.inner = None;
                        this.verdict.set(BODY_TIMED_OUT);
                        return Poll::Ready(Some(Err(
                            BodyLimitError::TimedOut(this.timeout).into()
                        )));
                    }
                }
                return Poll::Pending;
            }
        };
        match frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    if n > this.remaining {
                        this.inner = None;
                        this.verdict.set(BODY_TOO_LARGE);
                        return Poll::Ready(Some(Err(BodyLimitError::TooLarge(this.limit).into())));
                    }
                    this.remaining -= n;
                    this.verdict.1.fetch_add(n, Ordering::Relaxed);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                this.inner = None;
                this.verdict.set(BODY_MALFORMED);
                Poll::Ready(Some(Err(e.into())))
            }
            None => {
                this.inner = None;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

/// How a connection's streamed responses are moving, so the connection can cut a client that
/// takes nothing: a full TCP receive window on HTTP/1.1, a flow-control window of 0 on HTTP/2.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Streamed response bodies whose next frame waits for the client to make room.
    waiting_on_client: AtomicUsize,
    /// Frames handed on so far: progress, as the connection sees it.
    frames: AtomicU64,
    /// Set by the connection when it cuts a stalled client, so the access log can say so.
    cut: AtomicBool,
}

impl Delivery {
    /// Whether some response waits for the client to take its next frame.
    pub fn waiting_on_client(&self) -> bool {
        self.waiting_on_client.load(Ordering::Relaxed) > 0
    }

    /// Frames handed on so far.
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// Mark the connection's open responses as cut because the client stopped reading.
    pub fn cut_stalled_client(&self) {
        self.cut.store(true, Ordering::Relaxed);
    }

    fn turn(&self, client: bool) {
        if client {
            self.waiting_on_client.fetch_add(1, Ordering::Relaxed);
        } else {
            self.waiting_on_client.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Why a response body was cut short, as the access log's `cut` field says it.
pub mod cut {
    /// The upstream sent no body bytes within the response idle timeout.
    pub const UPSTREAM_IDLE: &str = "upstream_idle";
    /// The upstream's body stream broke (reset, bad framing).
    pub const UPSTREAM_ERROR: &str = "upstream_error";
    /// The client took nothing within the response idle timeout; its connection was closed.
    pub const CLIENT_STALLED: &str = "client_stalled";
    /// The client went away (or reset the stream) before the body was sent.
    pub const CLIENT_GONE: &str = "client_gone";
}

/// Error raised when the upstream sends nothing for too long.
#[derive(Debug, thiserror::Error)]
#[error("upstream sent no response bytes within {0:?}; response cut")]
pub struct UpstreamIdle(Duration);

/// Told once how a response body went, when it has been sent or dropped: the access log
/// listens here, so this module needs to know nothing of logging.
pub trait Outcome: Send + Sync + std::fmt::Debug {
    /// The body is done: `bytes` were handed on, and `cut` says why it ended early, if it did
    /// (see [`cut`]).
    fn finish(self: Box<Self>, bytes: u64, cut: Option<&'static str>);
}

/// The response body sent to the client: the upstream's stream or a gateway response.
#[derive(Debug)]
pub struct ResponseBody {
    kind: Kind,
    bytes: u64,
    cut: Option<&'static str>,
    outcome: Option<Box<dyn Outcome>>,
}

#[derive(Debug)]
enum Kind {
    Upstream(Box<Streamed>),
    Full(Option<Bytes>),
}

/// An upstream body in flight, with its idle clock and its place in the connection's delivery.
#[derive(Debug)]
struct Streamed {
    body: Incoming,
    /// Longest wait for the upstream's next frame.
    idle: Duration,
    /// Armed lazily: a body whose frames are always ready never touches the timer.
    deadline: Option<Pin<Box<Sleep>>>,
    /// The deadline must be pushed out before it is used again (a frame arrived).
    stale: bool,
    delivery: Arc<Delivery>,
    /// Counted in `delivery.waiting_on_client`.
    client_turn: bool,
    /// The stream ended (cleanly or not).
    done: bool,
}

impl Streamed {
    fn set_turn(&mut self, client: bool) {
        if self.client_turn != client {
            self.client_turn = client;
            self.delivery.turn(client);
        }
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        self.set_turn(false);
    }
}

impl ResponseBody {
    /// The upstream's body, streamed through: each wait for its next frame is bounded by
    /// `idle`, and `delivery` learns when the client holds it up.
    pub fn upstream(body: Incoming, idle: Duration, delivery: Arc<Delivery>) -> Self {
        let done = body.is_end_stream();
        let mut s = Streamed {
            body,
            idle,
            deadline: None,
            stale: false,
            delivery,
            client_turn: false,
            done,
        };
        // Until hyper asks for the first frame, the client's window is what holds it up.
        s.set_turn(!done);
        ResponseBody {
            kind: Kind::Upstream(Box::new(s)),
            bytes: 0,
            cut: None,
            outcome: None,
        }
    }

    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        ResponseBody {
            kind: Kind::Full(Some(bytes.into())),
            bytes: 0,
            cut: None,
            outcome: None,
        }
    }

    /// Tell `outcome` how this body went once it has been sent, or dropped.
    pub fn with_outcome(mut self, outcome: Box<dyn Outcome>) -> Self {
        self.outcome = Some(outcome);
        self
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        let Some(outcome) = self.outcome.take() else {
            return;
        };
        if let Kind::Upstream(s) = &self.kind {
            // hyper stops polling once the body says it has ended (its length is reached), so
            // an ended body may never have yielded its final `None`.
            let finished = s.done || s.body.is_end_stream();
            if !finished && self.cut.is_none() {
                self.cut = Some(if s.delivery.cut.load(Ordering::Relaxed) {
                    cut::CLIENT_STALLED
                } else {
                    cut::CLIENT_GONE
                });
            }
        }
        outcome.finish(self.bytes, self.cut);
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let (frame, cut) = match &mut this.kind {
            Kind::Full(b) => (b.take().map(|b| Ok(Frame::data(b))), None),
            Kind::Upstream(s) => ready!(poll_streamed(s, cx)),
        };
        match &frame {
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    this.bytes += d.len() as u64;
                }
            }
            Some(Err(_)) => this.cut = cut,
            None => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Upstream(s) => s.done || s.body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Upstream(s) => s.body.size_hint(),
        }
    }
}

type Polled = (Option<Result<Frame<Bytes>, BoxError>>, Option<&'static str>);

/// The upstream's next frame, or a cut when it sends nothing within the idle bound.
fn poll_streamed(s: &mut Streamed, cx: &mut Context<'_>) -> Poll<Polled> {
    if s.done {
        return Poll::Ready((None, None));
    }
    match Pin::new(&mut s.body).poll_frame(cx) {
        Poll::Pending => {
            // The upstream's turn: the client is not what holds this response up.
            s.set_turn(false);
            let deadline = match &mut s.deadline {
                Some(d) => {
                    if s.stale {
                        d.as_mut().reset(Instant::now() + s.idle);
                    }
                    d
                }
                None => s.deadline.insert(Box::pin(tokio::time::sleep(s.idle))),
            };
            s.stale = false;
            if deadline.as_mut().poll(cx).is_ready() {
                s.done = true;
                let err: BoxError = Box::new(UpstreamIdle(s.idle));
                return Poll::Ready((Some(Err(err)), Some(cut::UPSTREAM_IDLE)));
            }
            Poll::Pending
        }
        Poll::Ready(Some(Ok(frame))) => {
            s.stale = true;
            s.delivery.frames.fetch_add(1, Ordering::Relaxed);
            s.set_turn(!s.body.is_end_stream());
            Poll::Ready((Some(Ok(frame)), None))
        }
        Poll::Ready(Some(Err(e))) => {
            s.done = true;
            s.set_turn(false);
            Poll::Ready((Some(Err(e.into())), Some(cut::UPSTREAM_ERROR)))
        }
        Poll::Ready(None) => {
            s.done = true;
            s.set_turn(false);
            Poll::Ready((None, None))
        }
    }
}
