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
    let tls = start.into_stream(config).await.map_err(AcceptError::Tls)?;
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
