//! TLS towards upstreams: the rustls client configuration of a pool (its CA or the system's,
//! and the client certificate it presents), and the connector the pooled HTTP client dials with.

use std::path::Path;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::{ClientConfig, RootCertStore};

use super::files::{load_cert_chain, load_private_key, load_truststore};

/// The system's CA certificates, read at most once per configuration build.
pub type SystemRoots = std::cell::OnceCell<RootCertStore>;

/// A pool's TLS settings that cannot be used: the key under `upstream.NAME` it concerns, and why.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct ClientConfigError {
    /// The key, such as `tls.ca`.
    pub key: &'static str,
    /// Why, naming the file.
    pub reason: String,
}

fn bad(key: &'static str) -> impl FnOnce(String) -> ClientConfigError {
    move |reason| ClientConfigError { key, reason }
}

/// The client configuration of a pool: trust `ca` (else the system's roots) and present the
/// `(certificate, key)` pair when given.
pub fn client_config(
    ca: Option<&Path>,
    client_auth: Option<(&Path, &Path)>,
    system: &SystemRoots,
) -> Result<ClientConfig, ClientConfigError> {
    let roots = match ca {
        None => system_roots(system).clone(),
        Some(path) => {
            let ts = load_truststore(path).map_err(|e| bad("tls.ca")(e.message))?;
            let mut roots = RootCertStore::empty();
            for cert in ts.certs {
                roots.add(cert).map_err(|e| {
                    bad("tls.ca")(format!("{}: unusable CA certificate: {e}", path.display()))
                })?;
            }
            roots
        }
    };
    with_client_auth(roots, client_auth)
}

/// The configuration for integrations that name a host directly: the system's roots, or no
/// roots at all if even that cannot be built (every HTTPS handshake then fails, named).
pub fn direct_config(system: &SystemRoots) -> ClientConfig {
    with_client_auth(system_roots(system).clone(), None)
        .unwrap_or_else(|_| plain(RootCertStore::empty()))
}

/// The connector the pooled client dials with: `http` for TCP, TLS with `tls` for `https://`,
/// verifying `server_name` instead of the target host when set.
pub fn connector(
    http: HttpConnector,
    tls: ClientConfig,
    server_name: Option<String>,
) -> HttpsConnector<HttpConnector> {
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let builder = match server_name.and_then(|n| rustls_pki_types::ServerName::try_from(n).ok()) {
        Some(name) => {
            builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        }
        None => builder,
    };
    builder.enable_http1().wrap_connector(http)
}

fn system_roots(system: &SystemRoots) -> &RootCertStore {
    system.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        roots
    })
}

fn plain(roots: RootCertStore) -> ClientConfig {
    ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .expect("the aws-lc-rs provider supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn with_client_auth(
    roots: RootCertStore,
    client_auth: Option<(&Path, &Path)>,
) -> Result<ClientConfig, ClientConfigError> {
    let Some((cert, key)) = client_auth else {
        return Ok(plain(roots));
    };
    let chain = load_cert_chain(cert).map_err(|e| bad("tls.client_certificate")(e.message))?;
    let key_der = load_private_key(key).map_err(|e| bad("tls.client_key")(e.message))?;
    ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .expect("the aws-lc-rs provider supports the default TLS versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key_der)
        .map_err(|e| {
            bad("tls.client_key")(format!(
                "{} does not fit {}: {e}",
                key.display(),
                cert.display()
            ))
        })
}

/// A TLS handshake with `name` over `tcp`, as a pool's client would make it; for probes.
pub async fn handshake(
    config: std::sync::Arc<ClientConfig>,
    name: &str,
    tcp: tokio::net::TcpStream,
) -> Result<(), String> {
    let server_name = rustls_pki_types::ServerName::try_from(name.to_owned())
        .map_err(|_| format!("`{name}` is not a valid server name"))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(server_name, tcp)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}
