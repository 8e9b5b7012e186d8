//! The TLS handshake of one client connection: SNI picks the domain, the domain's verifier
//! checks the client chain, and the leaf becomes the connection's identity. Every refusal is
//! logged with the client's address and counted.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::TcpStream;

use crate::metrics::{DomainLabels, FailureLabels, Metrics};
use crate::state::{DomainState, Snapshot};
use crate::tls::accept::AcceptError;
use crate::tls::{ClientIdentity, refusal_of};

/// A connection whose client is verified.
pub(super) struct Accepted {
    /// The TLS stream. Boxed: it is moved into hyper's connection, and the futures that pass it on would
    /// otherwise each keep a (dead) copy of its kilobytes for the connection's whole life.
    pub(super) tls: Box<crate::tls::accept::ServerStream>,
    /// The domain its SNI selected.
    pub(super) domain: Arc<DomainState>,
    /// The client's identity, derived once for every request on the connection.
    pub(super) identity: ClientIdentity,
    /// The chain the client presented (leaf first), kept to judge it again when a reload
    /// changes the domain's trust; `None` on the default endpoint, whose clients send none.
    pub(super) chain: Option<Chain>,
    /// The client's address: the socket's peer, or the one its PROXY protocol header names.
    pub(super) client: SocketAddr,
}

/// A presented certificate chain, leaf first: the identity's own leaf bytes, and for each
/// intermediate the truststore's copy when it holds the same certificate, so an idle
/// connection costs little more than its leaf.
pub(super) type Chain = crate::tls::PresentedChain;

/// Read the PROXY protocol header where the listener takes one, then run the handshake, both
/// within the handshake timeout; `None` (logged and counted) on refusal. The handshake's state
/// (kilobytes: rustls' acceptor, the ClientHello) is boxed and freed when it is done, so the
/// connection's task, which lives as long as the connection, does not keep room for it.
pub(super) fn accept<'a>(
    tcp: TcpStream,
    peer: SocketAddr,
    configured: SocketAddr,
    snapshot: &'a Snapshot,
    metrics: &'a Metrics,
) -> Pin<Box<dyn Future<Output = Option<Accepted>> + Send + 'a>> {
    Box::pin(handshake(tcp, peer, configured, snapshot, metrics))
}

async fn handshake(
    mut tcp: TcpStream,
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
    let deadline = tokio::time::Instant::now() + limits.handshake_timeout;
    // From here on the client is who the load balancer says it is.
    let peer = match &listener.proxy_protocol {
        None => peer,
        Some(setting) => {
            super::proxy_protocol::client(&mut tcp, peer, setting, deadline, local, metrics).await?
        }
    };
    let select = |sni: Option<&str>| {
        listener
            .select(sni)
            .map(|d| (d.clone(), d.tls.clone(), d.verifier.is_some()))
    };
    let handshake = crate::tls::accept::accept(tcp, select);
    let (tls, domain, mut identity) = match tokio::time::timeout_at(deadline, handshake).await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            refused(&e, peer, local, metrics);
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
    let chain: Option<Chain> = match (&domain.verifier, tls.get_ref().1.peer_certificates()) {
        (Some(verifier), Some(certs)) => {
            identity.issuer_sha256 = verifier.issuer_sha256(certs);
            let intermediates = certs.iter().skip(1).map(|c| {
                verifier
                    .shared_copy(c)
                    .unwrap_or_else(|| Arc::from(c.as_ref()))
            });
            Some(
                std::iter::once(identity.der.clone())
                    .chain(intermediates)
                    .collect(),
            )
        }
        _ => None,
    };
    // The domain's x-forwarded-client-cert, built once for the connection's requests.
    if let Some(elements) = domain.identity_headers.xfcc {
        if elements != identity.xfcc_elements {
            identity.set_xfcc(elements, chain.as_deref(), &domain.server_uris);
        }
    }
    // The identity holds the leaf only when a route forwards it (clientCertPem); the chain
    // above shares the same bytes.
    let identity = if snapshot.forwards_client_pem {
        identity
    } else {
        identity.without_der()
    };
    Some(Accepted {
        tls: Box::new(tls),
        domain,
        identity,
        chain,
        client: peer,
    })
}

/// Log and count a refused handshake, naming the client and the reason.
fn refused(e: &AcceptError, peer: SocketAddr, local: SocketAddr, metrics: &Metrics) {
    match e {
        AcceptError::UnknownSni(name) => {
            tracing::warn!(client = %peer, sni = %name, "TLS handshake refused: unknown SNI name");
            failed(metrics, local, "unknown_sni");
        }
        AcceptError::Tls(e) => match refusal_of(e) {
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
        },
        AcceptError::Unparsable => {
            tracing::warn!(client = %peer, "client refused: certificate could not be parsed");
        }
    }
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
