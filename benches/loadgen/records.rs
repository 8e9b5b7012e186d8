//! The `records` client: HTTP/1.1 over TLS 1.3 with the record layer in the load generator, so
//! that a 1 MiB response costs the load side its reads from the socket (64 KiB at a time, as
//! the hyper client's) but not a decryption and three buffer moves (rustls' deframer, its
//! plaintext buffer, hyper's read buffer). rustls does the handshake (client certificate, chain
//! and name checks); its traffic secrets then go to this file's record layer. Every record up
//! to the end of a response head is decrypted and authenticated, and the head is parsed; the
//! body records after it are read and counted by their lengths, not decrypted. The proxy under
//! test does all its work unchanged: it encrypts every byte.

use anyhow::{Result, anyhow, bail};
use aws_lc_rs::aead::{
    AES_128_GCM, AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey,
};
use bytes::BufMut as _;
use rustls::ConnectionTrafficSecrets;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// AEAD tag length of every TLS 1.3 cipher suite.
const TAG_LEN: usize = 16;

/// A TLS record header: type, legacy version, length.
const HEADER_LEN: usize = 5;

/// Largest TLS 1.3 record payload: 2^14 plaintext, content type, padding allowance, tag.
const MAX_PAYLOAD: usize = (1 << 14) + 256;

/// Bytes read from the socket at once.
const READ_CHUNK: usize = 64 * 1024;

/// TLS content types (RFC 8446 5.1).
const APPLICATION_DATA: u8 = 23;
const HANDSHAKE: u8 = 22;
const ALERT: u8 = 21;

/// One direction's record protection: key, static IV, next sequence number (RFC 8446 5.3).
struct Direction {
    key: LessSafeKey,
    iv: [u8; 12],
    seq: u64,
}

impl Direction {
    /// The direction `rustls` handed over, from sequence number `seq`.
    fn new(seq: u64, secrets: ConnectionTrafficSecrets) -> Result<Direction> {
        let (alg, key, iv) = match &secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&AES_256_GCM, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (&CHACHA20_POLY1305, key, iv),
            _ => bail!("records client: unsupported cipher suite"),
        };
        let key = LessSafeKey::new(
            UnboundKey::new(alg, key.as_ref()).map_err(|_| anyhow!("records client: bad key"))?,
        );
        let iv: [u8; 12] = iv
            .as_ref()
            .try_into()
            .map_err(|_| anyhow!("records client: bad IV length"))?;
        Ok(Direction { key, iv, seq })
    }

    /// The nonce of the next record: the IV XOR the sequence number, which then advances.
    fn next_nonce(&mut self) -> Nonce {
        let mut nonce = self.iv;
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        self.seq += 1;
        Nonce::assume_unique_for_key(nonce)
    }
}

/// What a record the client sends carries.
enum Payload {
    /// The request.
    Request,
    /// The close_notify alert.
    CloseNotify,
}

/// What a response head says about its body.
struct Head {
    /// Bytes of the head, up to and including its blank line.
    len: usize,
    /// The status code.
    status: u16,
    /// `Content-Length`.
    content_length: usize,
}

/// An HTTP/1.1-over-TLS-1.3 connection whose records this client seals and opens itself.
pub struct RecordConn {
    tcp: TcpStream,
    tx: Direction,
    rx: Direction,
    /// Ciphertext read from the socket; `input[pos..]` is not yet used.
    input: Vec<u8>,
    /// Where the unused part of `input` starts.
    pos: usize,
    /// Decrypted response bytes of the response being read.
    plain: Vec<u8>,
    /// The request, in plaintext (with its content type byte).
    request: Vec<u8>,
    /// The record being sealed, kept between sends.
    out: Vec<u8>,
}

impl RecordConn {
    /// Take over `tls` after its handshake: `GET path` with `Host: host` is what it will send.
    pub fn new(tls: TlsStream<TcpStream>, path: &str, host: &str) -> Result<RecordConn> {
        let (tcp, session) = tls.into_inner();
        if session.wants_write() {
            bail!("records client: handshake bytes left unsent");
        }
        let secrets = session
            .dangerous_extract_secrets()
            .map_err(|e| anyhow!("records client: extracting the traffic secrets: {e}"))?;
        let mut request = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n").into_bytes();
        request.push(APPLICATION_DATA);
        Ok(RecordConn {
            tcp,
            tx: Direction::new(secrets.tx.0, secrets.tx.1)?,
            rx: Direction::new(secrets.rx.0, secrets.rx.1)?,
            input: Vec::with_capacity(READ_CHUNK),
            pos: 0,
            plain: Vec::new(),
            request,
            out: Vec::new(),
        })
    }

    /// Send the request and read the whole response; its body length, if the status is 2xx.
    pub async fn request(&mut self) -> Result<u64> {
        self.send_request().await?;
        self.plain.clear();
        let head = loop {
            self.read_record().await?;
            if let Some(head) = parse_head(&self.plain)? {
                break head;
            }
        };
        let in_head_records = self.plain.len() - head.len;
        if in_head_records > head.content_length {
            bail!("records client: more body bytes than Content-Length");
        }
        let mut left = head.content_length - in_head_records;
        while left > 0 {
            let len = self.record_len().await?;
            let plain_len = len
                .checked_sub(TAG_LEN + 1)
                .ok_or_else(|| anyhow!("records client: record too short"))?;
            if plain_len <= left {
                // A body record: counted, not opened (the proxy pads none of its records).
                self.skip(HEADER_LEN + len).await?;
                self.rx.seq += 1;
                left -= plain_len;
            } else {
                self.plain.clear();
                self.read_record().await?;
                if self.plain.len() != left {
                    bail!("records client: body longer than Content-Length");
                }
                left = 0;
            }
        }
        if !(200..300).contains(&head.status) {
            bail!("status {}", head.status);
        }
        Ok(head.content_length as u64)
    }

    /// End the connection as a TLS client should: close_notify, then FIN.
    pub async fn close(mut self) -> Result<()> {
        // Alert level warning (1), close_notify (0), then the content type.
        self.send(Payload::CloseNotify).await?;
        self.tcp.shutdown().await?;
        Ok(())
    }

    /// Seal the request in one record and write it.
    async fn send_request(&mut self) -> Result<()> {
        self.send(Payload::Request).await
    }

    /// Seal `what` (plaintext and content type) in one record in `out` and write it.
    async fn send(&mut self, what: Payload) -> Result<()> {
        let plaintext: &[u8] = match what {
            Payload::Request => &self.request,
            Payload::CloseNotify => &[1, 0, ALERT],
        };
        let len = (plaintext.len() + TAG_LEN) as u16;
        let [hi, lo] = len.to_be_bytes();
        let header = [APPLICATION_DATA, 3, 3, hi, lo];
        self.out.clear();
        self.out.extend_from_slice(&header);
        self.out.extend_from_slice(plaintext);
        let nonce = self.tx.next_nonce();
        let tag = self
            .tx
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(header), &mut self.out[HEADER_LEN..])
            .map_err(|_| anyhow!("records client: sealing failed"))?;
        self.out.extend_from_slice(tag.as_ref());
        self.tcp.write_all(&self.out).await?;
        Ok(())
    }

    /// Read, open and take in one whole record: application data goes to `plain`, handshake
    /// messages (session tickets) are skipped, an alert ends the connection.
    async fn read_record(&mut self) -> Result<()> {
        let len = self.record_len().await?;
        self.fill(HEADER_LEN + len).await?;
        let record = &mut self.input[self.pos..self.pos + HEADER_LEN + len];
        let (header, payload) = record.split_at_mut(HEADER_LEN);
        let aad: [u8; HEADER_LEN] = (&*header).try_into()?;
        let nonce = self.rx.next_nonce();
        let opened = self
            .rx
            .key
            .open_in_place(nonce, Aad::from(aad), payload)
            .map_err(|_| anyhow!("records client: a record failed authentication"))?;
        let end = opened
            .iter()
            .rposition(|&b| b != 0)
            .ok_or_else(|| anyhow!("records client: record without a content type"))?;
        match opened[end] {
            APPLICATION_DATA => self.plain.extend_from_slice(&opened[..end]),
            HANDSHAKE => {}
            ALERT => bail!("records client: the server sent an alert"),
            t => bail!("records client: unexpected content type {t}"),
        }
        self.consume(HEADER_LEN + len);
        Ok(())
    }

    /// The payload length of the next record, from its header (read if need be).
    async fn record_len(&mut self) -> Result<usize> {
        self.fill(HEADER_LEN).await?;
        let header = &self.input[self.pos..self.pos + HEADER_LEN];
        if header[0] != APPLICATION_DATA || header[1..3] != [3, 3] {
            bail!("records client: not a TLS 1.3 record");
        }
        let len = u16::from_be_bytes([header[3], header[4]]) as usize;
        if len > MAX_PAYLOAD {
            bail!("records client: record of {len} bytes");
        }
        Ok(len)
    }

    /// Have at least `n` unused bytes in `input`, reading up to a chunk at a time.
    async fn fill(&mut self, n: usize) -> Result<()> {
        while self.input.len() - self.pos < n {
            if self.pos > 0 {
                // Less than a record is left: cheap to move to the front.
                self.input.drain(..self.pos);
                self.pos = 0;
            }
            let want = (n - self.input.len()).max(READ_CHUNK);
            self.input.reserve(want);
            let got = self
                .tcp
                .read_buf(&mut (&mut self.input).limit(want))
                .await?;
            if got == 0 {
                bail!("records client: the server closed the connection");
            }
        }
        Ok(())
    }

    /// Mark the next `n` unused bytes of `input` used.
    fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.input.len() {
            self.input.clear();
            self.pos = 0;
        }
    }

    /// Pass over the next `n` bytes: what `input` holds, then what is read after it.
    async fn skip(&mut self, mut n: usize) -> Result<()> {
        while n > 0 {
            self.fill(1).await?;
            let k = n.min(self.input.len() - self.pos);
            self.consume(k);
            n -= k;
        }
        Ok(())
    }
}

/// The head at the start of `plain`, once complete: status and `Content-Length` (required:
/// this client counts bodies, it does not decode chunked ones).
fn parse_head(plain: &[u8]) -> Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(plain)? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let status = response.code.unwrap_or(0);
    let content_length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
        .ok_or_else(|| anyhow!("records client: a response without Content-Length"))?;
    Ok(Some(Head {
        len,
        status,
        content_length,
    }))
}
