//! The TLS handshake of one client connection: SNI picks the domain, the domain's verifier
//! checks the client chain, and the leaf becomes the connection's identity. Every refusal is
//! logged with the client's address and counted.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use crate::metrics::{DomainLabels, FailureLabels, Metrics};
use crate::state::{DomainState, Snapshot};
use crate::tls::{ClientIdentity, refusal_of};

/// A connection whose client is verified.
pub(super) struct Accepted {
    /// The TLS stream.
    pub(super) tls: TlsStream<TcpStream>,
    /// The domain its SNI selected.
    pub(super) domain: Arc<DomainState>,
    /// The client's identity, derived once for every request on the connection.
    pub(super) identity: ClientIdentity,
}

/// Why a handshake did not produce a connection.
enum HandshakeError {
    UnknownSni(String),
    Tls(io::Error),
}

/// Run the handshake within the handshake timeout; `None` (logged and counted) on refusal.
pub(super) async fn accept(
    tcp: TcpStream,
    peer: SocketAddr,
    configured: SocketAddr,
    snapshot: &Snapshot,
    metrics: &Metrics,
) -> Option<Accepted> {
    let _ = tcp.set_nodelay(true);
    // The bound address labels handshake failures (the configured one may be port 0).
    let local = tcp.local_addr().unwrap_or(configured);
    let listener = snapshot.listener(configured)?;
    let limits = &snapshot.config.limits;
    let handshake = async {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp)
            .await
            .map_err(HandshakeError::Tls)?;
        let sni = start.client_hello().server_name().map(str::to_owned);
        let domain = listener
            .select(sni.as_deref())
            .ok_or_else(|| HandshakeError::UnknownSni(sni.unwrap_or_default()))?
            .clone();
        let tls = start
            .into_stream(domain.tls.clone())
            .await
            .map_err(HandshakeError::Tls)?;
        Ok::<_, HandshakeError>((tls, domain))
    };
    let (tls, domain) = match tokio::time::timeout(limits.handshake_timeout, handshake).await {
        Ok(Ok(done)) => done,
        Ok(Err(HandshakeError::UnknownSni(name))) => {
            tracing::warn!(client = %peer, sni = %name, "TLS handshake refused: unknown SNI name");
            failed(metrics, local, "unknown_sni");
            return None;
        }
        Ok(Err(HandshakeError::Tls(e))) => {
            match refusal_of(&e) {
                Some(r) => {
                    tracing::warn!(
                        client = %peer,
                        subject = r.subject.as_deref().unwrap_or("-"),
                        reason = %r.reason,
                        "client refused"
                    );
                    failed(metrics, local, crate::metrics::failure_class(&r.reason));
                }
                None => {
                    tracing::info!(client = %peer, error = %e, "TLS handshake failed");
                    failed(metrics, local, "tls_error");
                }
            }
            return None;
        }
        Err(_) => {
            tracing::warn!(client = %peer, timeout = ?limits.handshake_timeout, "TLS handshake timed out");
            failed(metrics, local, "timeout");
            return None;
        }
    };
    metrics
        .handshakes
        .get_or_create(&DomainLabels {
            domain: domain.name.clone(),
        })
        .inc();
    let identity = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| ClientIdentity::from_der(c));
    let Some(identity) = identity else {
        tracing::warn!(client = %peer, "client refused: certificate could not be parsed");
        return None;
    };
    Some(Accepted {
        tls,
        domain,
        identity,
    })
}

fn failed(metrics: &Metrics, listener: SocketAddr, reason: &'static str) {
    metrics
        .handshake_failures
        .get_or_create(&FailureLabels {
            listener: listener.to_string(),
            reason,
        })
        .inc();
}
