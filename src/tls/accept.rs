//! The server side of a handshake: read the ClientHello, let the caller pick the domain by
//! SNI, finish the handshake with that domain's configuration, and derive the client's
//! identity from the verified leaf.

use std::io;
use std::sync::Arc;

use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use super::ClientIdentity;

/// A client connection after the handshake.
pub type ServerStream = TlsStream<TcpStream>;

/// Most TLS bytes one write to a client socket carries: one 64 KiB GSO/TSO super-segment of
/// 1448-byte Ethernet segments (45 of them), which is also one loopback segment (MSS 65483).
/// rustls' default (64 KiB of plaintext, four full records, 65624 bytes on the wire) spills a
/// ~140-byte tail segment after every such write when a large body streams: the kernel sends,
/// receives and acknowledges each tail as a segment of its own.
pub const MAX_TLS_WRITE: usize = 45 * 1448;

/// TLS bytes a record adds to its plaintext, at most: header 5, explicit nonce 8 (TLS 1.2
/// AES-GCM), tag 16; TLS 1.3 adds 22 (header, content type, tag).
const RECORD_OVERHEAD: usize = 5 + 8 + 16;

/// rustls' buffer limit: it counts plaintext (space left in its outgoing buffer) and adds each
/// record's overhead, so a write of four records stays within [`MAX_TLS_WRITE`].
pub const TLS_BUFFER_LIMIT: usize = MAX_TLS_WRITE - 4 * RECORD_OVERHEAD;

/// Why a handshake did not produce a verified connection.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// The SNI name (empty when none was sent) is no domain of the listener.
    #[error("unknown SNI name `{0}`")]
    UnknownSni(String),
    /// The handshake failed: the client's certificate was refused, or TLS itself failed.
    #[error("{0}")]
    Tls(io::Error),
    /// The verified leaf could not be parsed into an identity.
    #[error("client certificate could not be parsed")]
    Unparsable,
}

/// Complete the handshake on `tcp`, with the configuration `select` returns for the SNI name
/// along with the caller's domain `D` and whether that configuration requires a client
/// certificate (the default endpoint's does not: its clients are anonymous).
pub async fn accept<D>(
    tcp: TcpStream,
    select: impl FnOnce(Option<&str>) -> Option<(D, Arc<ServerConfig>, bool)>,
) -> Result<(ServerStream, D, ClientIdentity), AcceptError> {
    let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp)
        .await
        .map_err(AcceptError::Tls)?;
    let sni = start.client_hello().server_name().map(str::to_owned);
    let (domain, config, mutual) =
        select(sni.as_deref()).ok_or_else(|| AcceptError::UnknownSni(sni.unwrap_or_default()))?;
    let mut tls = start.into_stream(config).await.map_err(AcceptError::Tls)?;
    tls.get_mut().1.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
    let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
    let identity = match leaf {
        Some(der) => ClientIdentity::from_der(der).ok_or(AcceptError::Unparsable)?,
        // A configuration without client authentication (the default endpoint) asks for none.
        None if !mutual => ClientIdentity::anonymous(),
        None => return Err(AcceptError::Unparsable),
    };
    Ok((tls, domain, identity))
}

/// Whether the connection negotiated HTTP/2 by ALPN.
pub fn is_h2(tls: &ServerStream) -> bool {
    tls.get_ref().1.alpn_protocol() == Some(b"h2")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TLS bytes of one write of `plaintext` bytes in records of 16 KiB, each adding `overhead`.
    fn on_the_wire(plaintext: usize, overhead: usize) -> usize {
        plaintext + plaintext.div_ceil(16384) * overhead
    }

    #[test]
    fn a_full_write_fits_one_super_segment_with_every_cipher_suite() {
        // TLS 1.3 (22 bytes a record) and TLS 1.2 AES-GCM (29): four records, none over.
        assert_eq!(TLS_BUFFER_LIMIT.div_ceil(16384), 4);
        assert!(on_the_wire(TLS_BUFFER_LIMIT, 22) <= MAX_TLS_WRITE);
        assert_eq!(on_the_wire(TLS_BUFFER_LIMIT, 29), MAX_TLS_WRITE);
        // rustls' default spills over a loopback segment (MSS 65483) and a 45-segment TSO burst.
        assert!(on_the_wire(64 * 1024, 22) > 65483);
        const { assert!(MAX_TLS_WRITE <= 65483) };
    }
}
