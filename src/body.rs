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

use crate::telemetry::AccessLog;

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

/// The response body sent to the client: the upstream's stream or a gateway response.
#[derive(Debug)]
pub struct ResponseBody {
    kind: Kind,
    log: Option<Box<AccessLog>>,
}

#[derive(Debug)]
enum Kind {
    Upstream(Incoming),
    Full(Option<Bytes>),
}

impl ResponseBody {
    /// The upstream's body, streamed through.
    pub fn upstream(body: Incoming) -> Self {
        ResponseBody {
            kind: Kind::Upstream(body),
            log: None,
        }
    }

    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        ResponseBody {
            kind: Kind::Full(Some(bytes.into())),
            log: None,
        }
    }

    /// Emit `log` once this body has been sent, or dropped.
    pub fn with_log(mut self, log: Box<AccessLog>) -> Self {
        self.log = Some(log);
        self
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let Some(log) = self.log.take() {
            log.emit();
        }
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
        let frame = match &mut this.kind {
            Kind::Full(b) => b.take().map(|b| Ok(Frame::data(b))),
            Kind::Upstream(body) => {
                ready!(Pin::new(body).poll_frame(cx)).map(|r| r.map_err(Into::into))
            }
        };
        if let (Some(Ok(f)), Some(log)) = (&frame, this.log.as_mut()) {
            if let Some(d) = f.data_ref() {
                log.bytes_out += d.len() as u64;
            }
        }
        if let (Some(Err(_)), Some(log)) = (&frame, this.log.as_mut()) {
            log.aborted = true;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Upstream(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Upstream(b) => b.size_hint(),
        }
    }
}
