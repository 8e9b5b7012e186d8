//! All rustls code: per-domain server configurations that require and verify client
//! certificates, and the verified identity of a connection.

pub mod files;
pub mod identity;
pub mod verifier;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};

use crate::config::{Domain, ErrorSink, TlsVersion};

pub use identity::ClientIdentity;
pub use verifier::{Refusal, refusal_of};

/// The crypto provider every TLS configuration uses (aws-lc-rs).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Build the TLS server configuration of `domain`; problems go to `sink` under `domain[i]`.
/// Returns the configuration and warnings worth logging.
pub fn server_config(
    domain: &Domain,
    sink: &mut ErrorSink,
) -> Option<(Arc<ServerConfig>, Vec<String>)> {
    let key = format!("domain[{}]", domain.index);
    let mut failed = false;
    let mut fail = |field: &str, reason: String, sink: &mut ErrorSink| {
        sink.push(format!("{key}.{field}"), reason);
        failed = true;
    };
    let chain = files::load_cert_chain(&domain.certificate)
        .map_err(|e| fail("certificate", e, sink))
        .ok();
    let private_key = files::load_private_key(&domain.private_key)
        .map_err(|e| fail("private_key", e, sink))
        .ok();
    let truststore = files::load_truststore(&domain.truststore)
        .map_err(|e| fail("truststore", e, sink))
        .ok();
    let crls = files::load_crls(&domain.crls)
        .map_err(|e| fail("crls", e, sink))
        .ok();
    let (chain, private_key, truststore, crls) = (chain?, private_key?, truststore?, crls?);
    let mut warnings = truststore.warnings;

    let mut roots = RootCertStore::empty();
    for (i, cert) in truststore.certs.into_iter().enumerate() {
        if let Err(e) = roots.add(cert) {
            sink.push(
                format!("{key}.truststore"),
                format!(
                    "{}: certificate {} cannot be used as a trust anchor: {e}",
                    domain.truststore.display(),
                    i + 1
                ),
            );
            return None;
        }
    }
    let provider = provider();
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls(crls)
        .allow_unknown_revocation_status()
        .build();
    let inner = match inner {
        Ok(v) => v,
        Err(e) => {
            let field = if domain.crls.is_empty() {
                "truststore"
            } else {
                "crls"
            };
            sink.push(
                format!("{key}.{field}"),
                format!("cannot build the client verifier: {e}"),
            );
            return None;
        }
    };
    let versions: &[&rustls::SupportedProtocolVersion] = match domain.min_tls_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder =
        match ServerConfig::builder_with_provider(provider).with_protocol_versions(versions) {
            Ok(b) => b,
            Err(e) => {
                sink.push(format!("{key}.min_tls_version"), e.to_string());
                return None;
            }
        };
    if let Some(w) = leaf_expiry_warning(&domain.certificate, &chain) {
        warnings.push(w);
    }
    let mut config = match builder
        .with_client_cert_verifier(Arc::new(verifier::ClientVerifier::new(inner)))
        .with_single_cert(chain, private_key)
    {
        Ok(c) => c,
        Err(rustls::Error::InconsistentKeys(_)) => {
            sink.push(
                format!("{key}.private_key"),
                format!(
                    "{} does not match the certificate in {}",
                    domain.private_key.display(),
                    domain.certificate.display()
                ),
            );
            return None;
        }
        Err(e) => {
            sink.push(
                format!("{key}.certificate"),
                format!("{}: {e}", domain.certificate.display()),
            );
            return None;
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // No resumption: every connection is verified against the current truststore and CRLs.
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Some((Arc::new(config), warnings))
}

fn leaf_expiry_warning(
    path: &std::path::Path,
    chain: &[rustls_pki_types::CertificateDer<'_>],
) -> Option<String> {
    use x509_parser::prelude::FromDer;
    let (_, leaf) = x509_parser::prelude::X509Certificate::from_der(chain.first()?).ok()?;
    let not_after = leaf.validity().not_after;
    (not_after < x509_parser::time::ASN1Time::now()).then(|| {
        format!(
            "{}: the server certificate expired on {not_after}",
            path.display()
        )
    })
}
