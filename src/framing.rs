//! Request framing guard. hyper resolves a request carrying both `Content-Length` and
//! `Transfer-Encoding` by dropping the length, which hides the ambiguity from the gateway; a
//! front door must refuse it instead (request smuggling). This reader follows HTTP/1 framing
//! on the way in, and marks such a request head so the service answers 400 and never forwards.
//! On HTTP/2 it follows frame boundaries only, so a header block (HEADERS, then CONTINUATION
//! frames) must complete within the header-read timeout, as an HTTP/1 head must.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Header the guard adds to a request head whose framing is ambiguous.
pub const AMBIGUOUS_MARK: &str = "x-portcullis-ambiguous-framing";
const MARK_LINE: &[u8] = b"x-portcullis-ambiguous-framing: 1\r\n";
const MAX_HEADERS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting a request head.
    Head,
    /// A body of known length: bytes left.
    Fixed(u64),
    /// Reading a chunk-size line: the size so far.
    ChunkSize(u64),
    /// Skipping chunk extensions up to the end of the line.
    ChunkExt(u64),
    /// Chunk data: bytes left.
    ChunkData(u64),
    /// The CRLF after chunk data.
    ChunkDataEnd,
    /// Trailer section: length of the current line.
    Trailer(usize),
    /// Not tracking any more (HTTP/2, or input hyper will refuse anyway).
    Passthrough,
}

/// What a guard tells its connection, shared with it: how often bytes moved, and whether the
/// connection sits between HTTP/1 requests.
#[derive(Debug, Default)]
pub struct Traffic {
    moves: AtomicU64,
    between_requests: AtomicBool,
}

impl Traffic {
    /// How many reads and writes have moved bytes so far.
    pub fn moves(&self) -> u64 {
        self.moves.load(Ordering::Relaxed)
    }

    /// HTTP/1 only: every byte received so far was handed on, up to the end of a request, and
    /// every byte written was flushed, so the next bytes can only start a new request.
    pub fn between_requests(&self) -> bool {
        self.between_requests.load(Ordering::Relaxed)
    }

    fn moved(&self) {
        self.moves.fetch_add(1, Ordering::Relaxed);
    }
}

/// Wraps a connection's read side; writes pass straight through.
#[derive(Debug)]
pub struct FramingGuard<T> {
    inner: T,
    state: State,
    head: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    max_head: usize,
    traffic: Arc<Traffic>,
    /// Every byte written since the last successful flush was flushed.
    flushed: bool,
    header_timeout: Duration,
    head_deadline: Option<Pin<Box<Sleep>>>,
    /// HTTP/2 only: where the frames are, and the open header block's deadline.
    h2: Option<Box<H2Blocks>>,
}

/// HTTP/2 frame types and flag that delimit a header block (RFC 9113, section 4.3).
const H2_HEADERS: u8 = 0x1;
const H2_PUSH_PROMISE: u8 = 0x5;
const H2_CONTINUATION: u8 = 0x9;
const H2_END_HEADERS: u8 = 0x4;
/// The client connection preface, skipped before the first frame.
const H2_PREFACE_LEN: u32 = 24;

/// Follows HTTP/2 frame boundaries on the way in to time header blocks; payloads are skipped,
/// never copied.
#[derive(Debug)]
struct H2Blocks {
    preface_left: u32,
    header: [u8; 9],
    header_len: usize,
    payload_left: u32,
    /// The current frame carries END_HEADERS.
    ends_block: bool,
    /// A HEADERS or PUSH_PROMISE frame started a block that has not ended yet.
    open: bool,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl H2Blocks {
    fn new() -> Self {
        H2Blocks {
            preface_left: H2_PREFACE_LEN,
            header: [0; 9],
            header_len: 0,
            payload_left: 0,
            ends_block: false,
            open: false,
            deadline: None,
        }
    }

    /// Follow `data`; true when a header block is open at its end.
    fn scan(&mut self, mut data: &[u8]) -> bool {
        while !data.is_empty() {
            if self.preface_left > 0 {
                let n = (self.preface_left as usize).min(data.len());
                self.preface_left -= n as u32;
                data = &data[n..];
            } else if self.payload_left > 0 {
                let n = (self.payload_left as usize).min(data.len());
                self.payload_left -= n as u32;
                data = &data[n..];
                if self.payload_left == 0 {
                    self.frame_done();
                }
            } else {
                let n = (9 - self.header_len).min(data.len());
                self.header[self.header_len..self.header_len + n].copy_from_slice(&data[..n]);
                self.header_len += n;
                data = &data[n..];
                if self.header_len == 9 {
                    self.header_len = 0;
                    let h = self.header;
                    let len = u32::from_be_bytes([0, h[0], h[1], h[2]]);
                    let (kind, flags) = (h[3], h[4]);
                    self.ends_block = flags & H2_END_HEADERS != 0;
                    match kind {
                        H2_HEADERS | H2_PUSH_PROMISE => self.open = true,
                        H2_CONTINUATION => {}
                        _ => self.ends_block = false,
                    }
                    self.payload_left = len;
                    if len == 0 {
                        self.frame_done();
                    }
                }
            }
        }
        self.open
    }

    fn frame_done(&mut self) {
        if self.ends_block {
            self.open = false;
            self.ends_block = false;
        }
    }
}

impl<T> FramingGuard<T> {
    /// Guard `inner`; heads longer than `max_head` are passed on for hyper to refuse.
    /// `http1 = false` (HTTP/2) passes every byte through untouched, timing header blocks.
    /// Every read or write that moves bytes counts in `traffic`. A request head must arrive
    /// within `header_timeout`, counted from the connection's start for the first request and
    /// from the head's first byte for later ones (an idle keep-alive connection is not cut).
    pub fn new(
        inner: T,
        max_head: usize,
        http1: bool,
        header_timeout: Duration,
        traffic: Arc<Traffic>,
    ) -> Self {
        FramingGuard {
            header_timeout,
            head_deadline: http1.then(|| Box::pin(tokio::time::sleep(header_timeout))),
            h2: (!http1).then(|| Box::new(H2Blocks::new())),
            inner,
            state: if http1 {
                State::Head
            } else {
                State::Passthrough
            },
            head: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            max_head,
            traffic,
            flushed: true,
        }
    }

    /// The wrapped connection.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped connection, to read from it past the guard.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// HTTP/1: a request body has started and its end has not been handed on yet, so the client
    /// may still be sending it.
    pub fn mid_body(&self) -> bool {
        !matches!(
            self.state,
            State::Head | State::Passthrough | State::Fixed(0)
        )
    }

    /// Received bytes framed and waiting to be read.
    pub fn pending(&self) -> &[u8] {
        &self.out[self.out_pos..]
    }

    /// Put `bytes`, taken from this guard by an earlier read, back in front of what waits.
    pub fn unread(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.out.splice(..self.out_pos, bytes.iter().copied());
        self.out_pos = 0;
        self.publish();
    }

    /// Bytes of buffer capacity held: none while a connection sits between requests once
    /// [`FramingGuard::poll_next_request`] has started waiting.
    pub fn buffer_capacity(&self) -> usize {
        self.head.capacity() + self.out.capacity()
    }

    fn between_requests(&self) -> bool {
        self.h2.is_none()
            && self.state == State::Head
            && self.head.is_empty()
            && self.out_pos >= self.out.len()
            && self.flushed
    }

    /// Tell the connection whether it sits between requests.
    fn publish(&self) {
        let now = self.between_requests();
        if self.traffic.between_requests.load(Ordering::Relaxed) != now {
            self.traffic.between_requests.store(now, Ordering::Relaxed);
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.state {
                State::Passthrough => {
                    self.out.extend_from_slice(data);
                    return;
                }
                State::Head => {
                    let old = self.head.len();
                    self.head.extend_from_slice(data);
                    match find_head_end(&self.head, old.saturating_sub(2)) {
                        Some(end) => {
                            let used = end - old;
                            self.head.truncate(end);
                            data = &data[used..];
                            self.finish_head();
                        }
                        None => {
                            if self.head.len() > self.max_head {
                                self.out.append(&mut self.head);
                                self.state = State::Passthrough;
                            }
                            return;
                        }
                    }
                }
                State::Fixed(left) => {
                    let n = (left as usize).min(data.len());
                    self.out.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::Head
                    } else {
                        State::Fixed(left)
                    };
                }
                State::ChunkData(left) => {
                    let n = (left.min(usize::MAX as u64) as usize).min(data.len());
                    self.out.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::ChunkDataEnd
                    } else {
                        State::ChunkData(left)
                    };
                }
                _ => {
                    let b = data[0];
                    self.out.push(b);
                    data = &data[1..];
                    self.state = chunk_step(self.state, b);
                }
            }
        }
    }

    fn finish_head(&mut self) {
        self.head_deadline = None;
        let mut head = std::mem::take(&mut self.head);
        let (next, ambiguous) = inspect_head(&head);
        if ambiguous {
            let at = if head.ends_with(b"\n\r\n") {
                head.len() - 2
            } else {
                head.len() - 1
            };
            head.splice(at..at, MARK_LINE.iter().copied());
        }
        self.out.extend_from_slice(&head);
        self.state = next;
        head.clear();
        self.head = head;
    }
}

fn chunk_step(state: State, b: u8) -> State {
    match state {
        State::ChunkSize(size) => match b {
            b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                let digit = (b as char).to_digit(16).unwrap_or(0) as u64;
                match size.checked_mul(16).and_then(|s| s.checked_add(digit)) {
                    Some(s) => State::ChunkSize(s),
                    None => State::Passthrough,
                }
            }
            b';' | b' ' | b'\t' | b'\r' => State::ChunkExt(size),
            b'\n' => end_of_size_line(size),
            _ => State::Passthrough,
        },
        State::ChunkExt(size) => {
            if b == b'\n' {
                end_of_size_line(size)
            } else {
                State::ChunkExt(size)
            }
        }
        State::ChunkDataEnd => match b {
            b'\r' => State::ChunkDataEnd,
            b'\n' => State::ChunkSize(0),
            _ => State::Passthrough,
        },
        State::Trailer(len) => match b {
            b'\n' if len == 0 => State::Head,
            b'\n' => State::Trailer(0),
            b'\r' => State::Trailer(len),
            _ => State::Trailer(len + 1),
        },
        other => other,
    }
}

fn end_of_size_line(size: u64) -> State {
    if size == 0 {
        State::Trailer(0)
    } else {
        State::ChunkData(size)
    }
}

/// End of a head (index just past the blank line), searching from `from`.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        if buf[i] == b'\n' {
            // Ignore blank lines before the request line, as hyper does.
            let line_start_blank = i == 0 || (i == 1 && buf[0] == b'\r');
            if !line_start_blank {
                if i >= 1 && buf[i - 1] == b'\n' {
                    return Some(i + 1);
                }
                if i >= 2 && buf[i - 1] == b'\r' && buf[i - 2] == b'\n' {
                    return Some(i + 1);
                }
            }
        }
        i += 1;
    }
    None
}

/// The state after this head, and whether its framing is ambiguous.
fn inspect_head(head: &[u8]) -> (State, bool) {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return (State::Passthrough, false),
    }
    if req.method == Some("CONNECT") {
        return (State::Passthrough, false);
    }
    let mut te_last: Option<&[u8]> = None;
    let mut cl: Option<Option<u64>> = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te_last = Some(h.value);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .map(str::trim)
                .and_then(|s| s.parse::<u64>().ok());
            cl = Some(match cl {
                None => v,
                Some(prev) if prev == v => v,
                Some(_) => None,
            });
        }
    }
    match (te_last, cl) {
        (Some(_), Some(_)) => (State::Passthrough, true),
        (Some(te), None) => {
            let last = te.rsplit(|&b| b == b',').next().unwrap_or(b"");
            if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                (State::ChunkSize(0), false)
            } else {
                (State::Passthrough, false)
            }
        }
        (None, Some(Some(0))) | (None, None) => (State::Head, false),
        (None, Some(Some(n))) => (State::Fixed(n), false),
        (None, Some(None)) => (State::Passthrough, false),
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for FramingGuard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = self.as_mut().read_guarded(cx, buf);
        if buf.filled().len() > before {
            self.traffic.moved();
        }
        self.publish();
        r
    }
}

/// What one scan of received bytes found.
enum Scanned {
    /// Bytes were framed (some may wait in `out`).
    Bytes,
    /// The peer closed its side.
    Eof,
}

impl<T: AsyncRead + Unpin> FramingGuard<T> {
    /// HTTP/1, between requests: wait until the next request's first bytes are framed and
    /// waiting (`true`), or the peer closed (`false`). The guard holds no buffer while it waits:
    /// heads are read through the stack.
    pub fn poll_next_request(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if self.out_pos >= self.out.len() && self.head.is_empty() {
            self.out = Vec::new();
            self.out_pos = 0;
            self.head = Vec::new();
        }
        let r = loop {
            if self.out_pos < self.out.len() {
                self.traffic.moved();
                break Poll::Ready(Ok(true));
            }
            match self.poll_scan(cx) {
                Poll::Ready(Ok(Scanned::Bytes)) => {}
                Poll::Ready(Ok(Scanned::Eof)) => break Poll::Ready(Ok(false)),
                Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                Poll::Pending => break Poll::Pending,
            }
        };
        self.publish();
        r
    }

    fn read_guarded(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.out_pos < this.out.len() {
                let n = (this.out.len() - this.out_pos).min(buf.remaining());
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                if this.out_pos == this.out.len() {
                    this.out_pos = 0;
                    if this.out.capacity() > 4096 {
                        this.out = Vec::new(); // keep idle connections small
                    } else {
                        this.out.clear();
                    }
                }
                return Poll::Ready(Ok(()));
            }
            if let Some(h2) = this.h2.as_mut() {
                return read_h2(&mut this.inner, h2, this.header_timeout, cx, buf);
            }
            if this.state == State::Passthrough && this.head.is_empty() {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            // Body bytes of a known length go straight into hyper's buffer, scanned in place.
            if let State::Fixed(left) | State::ChunkData(left) = this.state {
                let limit = (left.min(usize::MAX as u64) as usize).min(buf.remaining());
                let dst = buf.initialize_unfilled_to(limit);
                let mut sub = ReadBuf::new(dst);
                let r = Pin::new(&mut this.inner).poll_read(cx, &mut sub);
                let n = sub.filled().len();
                if let Poll::Ready(Ok(())) = r {
                    buf.advance(n);
                    let left = left - n as u64;
                    this.state = match this.state {
                        State::Fixed(_) if left == 0 => State::Head,
                        State::Fixed(_) => State::Fixed(left),
                        _ if left == 0 => State::ChunkDataEnd,
                        _ => State::ChunkData(left),
                    };
                }
                return r;
            }
            match this.poll_scan(cx) {
                Poll::Ready(Ok(Scanned::Bytes)) => {}
                Poll::Ready(Ok(Scanned::Eof)) => return Poll::Ready(Ok(())),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Read once from the connection and frame what came: heads, chunk lines and trailers are
    /// scanned here; a head that does not arrive in time is an error.
    fn poll_scan(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Scanned>> {
        // Heads are read through a stack buffer: no per-connection scratch memory.
        let mut scratch = [std::mem::MaybeUninit::<u8>::uninit(); 8192];
        let mut rb = ReadBuf::uninit(&mut scratch);
        match Pin::new(&mut self.inner).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                if rb.filled().is_empty() {
                    // EOF: hand over any partial head for hyper to judge, then EOF.
                    if self.head.is_empty() {
                        return Poll::Ready(Ok(Scanned::Eof));
                    }
                    let head = std::mem::take(&mut self.head);
                    self.out.extend_from_slice(&head);
                    self.state = State::Passthrough;
                    return Poll::Ready(Ok(Scanned::Bytes));
                }
                self.feed(rb.filled());
                if self.state == State::Head
                    && !self.head.is_empty()
                    && self.head_deadline.is_none()
                {
                    self.head_deadline = Some(Box::pin(tokio::time::sleep(self.header_timeout)));
                }
                if self.head.capacity() > 64 * 1024 && self.head.is_empty() {
                    self.head = Vec::new();
                }
                Poll::Ready(Ok(Scanned::Bytes))
            }
            Poll::Pending => {
                if let Some(d) = self.head_deadline.as_mut() {
                    if d.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("request head not received within {:?}", self.header_timeout),
                        )));
                    }
                }
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }
}

/// An HTTP/2 read: bytes pass straight through; an open header block runs against the clock.
fn read_h2<T: AsyncRead + Unpin>(
    inner: &mut T,
    h2: &mut H2Blocks,
    timeout: Duration,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    let before = buf.filled().len();
    let r = Pin::new(inner).poll_read(cx, buf);
    match r {
        Poll::Ready(Ok(())) => {
            let was_open = h2.open;
            if h2.scan(&buf.filled()[before..]) && !was_open {
                let at = tokio::time::Instant::now() + timeout;
                match h2.deadline.as_mut() {
                    Some(d) => d.as_mut().reset(at),
                    None => h2.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
                }
            }
            Poll::Ready(Ok(()))
        }
        Poll::Pending => {
            if let (true, Some(d)) = (h2.open, h2.deadline.as_mut()) {
                if d.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("HTTP/2 header block not completed within {timeout:?}"),
                    )));
                }
            }
            Poll::Pending
        }
        other => other,
    }
}

impl<T> FramingGuard<T> {
    /// After a write: count it, and until the next flush the connection is not between requests.
    fn wrote(&mut self, r: &Poll<io::Result<usize>>) {
        if matches!(r, Poll::Ready(Ok(n)) if *n > 0) {
            self.traffic.moved();
            if self.flushed {
                self.flushed = false;
                self.publish();
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FramingGuard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(&r);
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        if matches!(r, Poll::Ready(Ok(()))) && !self.flushed {
            self.flushed = true;
            self.publish();
        }
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> Vec<u8> {
        let mut g = FramingGuard::new((), 64 * 1024, false, Duration::from_secs(1), Arc::default());
        g.state = State::Head;
        g.h2 = None;
        // Feed in awkward pieces to exercise every state boundary.
        for piece in input.chunks(3) {
            g.feed(piece);
        }
        g.out
    }

    fn marks(out: &[u8]) -> usize {
        out.windows(MARK_LINE.len())
            .filter(|w| *w == MARK_LINE)
            .count()
    }

    #[test]
    fn clean_pipelined_requests_pass_unchanged() {
        let input = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nworld\r\n0\r\nT: v\r\n\r\n\
GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
        let out = run(input);
        assert_eq!(out, input.to_vec());
    }

    #[test]
    fn body_bytes_that_look_like_headers_are_not_inspected() {
        let body = b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut input =
            format!("POST /a HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        input.extend_from_slice(body);
        assert_eq!(marks(&run(&input)), 0);
    }

    #[test]
    fn content_length_with_transfer_encoding_is_marked_in_either_order() {
        for head in [
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        ] {
            let out = run(head.as_bytes());
            assert_eq!(marks(&out), 1, "{head}");
            assert!(out.ends_with(b"x-portcullis-ambiguous-framing: 1\r\n\r\n"));
        }
        // The second request of a keep-alive connection is inspected too.
        let input = b"GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(marks(&run(input)), 1);
    }

    #[tokio::test]
    async fn between_requests_takes_a_whole_request_read_and_every_write_flushed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server) = tokio::io::duplex(4096);
        let traffic = Arc::new(Traffic::default());
        let mut g = FramingGuard::new(server, 1024, true, Duration::from_secs(5), traffic.clone());
        let mut buf = [0u8; 256];
        client
            .write_all(b"POST / HTTP/1.1\r\ncontent-length: 4\r\n\r\nab")
            .await
            .unwrap();
        let n = g.read(&mut buf).await.unwrap();
        assert!(buf[..n].ends_with(b"\r\n\r\nab"));
        assert!(!traffic.between_requests(), "two body bytes to come");
        client.write_all(b"cd").await.unwrap();
        assert_eq!(g.read(&mut buf).await.unwrap(), 2);
        assert!(traffic.between_requests());
        assert!(g.buffer_capacity() > 0, "the head went through `out`");

        g.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        assert!(!traffic.between_requests(), "written, not flushed");
        g.flush().await.unwrap();
        assert!(traffic.between_requests());

        // Waiting for the next request holds no buffer; its partial head is its own.
        let waiting = std::future::poll_fn(|cx| Poll::Ready(g.poll_next_request(cx)));
        assert!(waiting.await.is_pending());
        assert_eq!(g.buffer_capacity(), 0);
        client.write_all(b"GET / HT").await.unwrap();
        let waiting = std::future::poll_fn(|cx| Poll::Ready(g.poll_next_request(cx)));
        assert!(waiting.await.is_pending());
        assert!(!traffic.between_requests(), "a head has started");
        client.write_all(b"TP/1.1\r\n\r\n").await.unwrap();
        let next = std::future::poll_fn(|cx| g.poll_next_request(cx)).await;
        assert!(next.unwrap());
        assert_eq!(g.pending(), b"GET / HTTP/1.1\r\n\r\n");

        // What a reader took can be put back, in front of what still waits.
        let n = g.read(&mut buf[..5]).await.unwrap();
        g.unread(&buf[..n]);
        assert_eq!(g.pending(), b"GET / HTTP/1.1\r\n\r\n");
        let n = g.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\n\r\n");
        assert!(traffic.between_requests());

        client.shutdown().await.unwrap();
        let next = std::future::poll_fn(|cx| g.poll_next_request(cx)).await;
        assert!(!next.unwrap(), "the client closed");
    }

    #[test]
    fn h2_header_blocks_open_at_headers_and_close_at_end_headers() {
        let mut h = H2Blocks::new();
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        input.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // SETTINGS
        assert!(!h.scan(&input));
        // HEADERS, 3 payload bytes, no END_HEADERS: the block stays open, fed byte by byte.
        let headers = [0, 0, 3, 1, 0, 0, 0, 0, 1, 0x82, 0x84, 0x86];
        let mut open = false;
        for b in headers {
            open = h.scan(&[b]);
        }
        assert!(open);
        // An empty CONTINUATION without END_HEADERS keeps it open; one with END_HEADERS ends it.
        assert!(h.scan(&[0, 0, 0, 9, 0, 0, 0, 0, 1]));
        assert!(!h.scan(&[0, 0, 1, 9, 4, 0, 0, 0, 1, 0x87]));
        // A HEADERS frame with END_HEADERS opens and closes within one frame.
        assert!(h.scan(&[0, 0, 1, 1, 4, 0, 0, 0, 3]));
        assert!(!h.scan(&[0x82]));
        // DATA payloads are skipped, whatever they hold.
        assert!(!h.scan(&[0, 0, 9, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 1]));
    }
}
