//! All rustls code: per-domain server configurations that require and verify client
//! certificates, and the verified identity of a connection.

pub mod accept;
pub mod client;
pub mod files;
pub mod findings;
pub mod hints;
pub mod identity;
pub mod names;
pub mod verifier;
pub mod xfcc;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};

use crate::config::{Domain, ErrorSink, TlsVersion};

pub use identity::{ClientIdentity, PresentedChain};
pub use verifier::{Refusal, refusal_of};

/// The crypto provider every TLS configuration uses (aws-lc-rs).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Build the TLS server configuration of `domain`; problems go to `sink` under `domain[i]`.
/// Returns the configuration, its verifier and warnings worth logging.
pub fn server_config(domain: &Domain, sink: &mut ErrorSink) -> Option<DomainTls> {
    let key = format!("domain[{}]", domain.index);
    let mut failed = false;
    let mut fail = |field: &str, e: files::FileError, sink: &mut ErrorSink| {
        sink.push(format!("{key}.{field}"), e.message);
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
    let mut warnings = findings::lint_bytes(
        &domain.truststore,
        &truststore.bytes,
        false,
        time::OffsetDateTime::now_utc(),
    )
    .warnings();

    let trust_certs = truststore.certs.clone();
    let (anchors, chain_links) = split_anchors(truststore.certs);
    let mut roots = RootCertStore::empty();
    for (i, cert) in anchors.into_iter() {
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
    let hints = hints::Hints::for_truststore(trust_certs.iter());
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .clear_root_hint_subjects()
        .add_root_hint_subjects(hints.subjects)
        .with_crls(crls.clone())
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
    let mut cert_expiry = Vec::new();
    let mut server_uris = Vec::new();
    for (kind, der) in chain
        .first()
        .map(|c| ("server", c))
        .into_iter()
        .chain(trust_certs.iter().map(|c| ("truststore", c)))
    {
        use x509_parser::prelude::FromDer;
        if let Ok((_, x)) = x509_parser::prelude::X509Certificate::from_der(der) {
            if kind == "server" {
                server_uris = uri_sans(&x);
            }
            cert_expiry.push((
                kind,
                identity::rfc4514(x.subject()),
                x.validity().not_after.timestamp(),
            ));
        }
    }
    let verifier = Arc::new(verifier::ClientVerifier::new(
        inner,
        &trust_certs,
        chain_links,
        crls,
        domain.max_chain_depth,
        algorithms,
    ));
    let mut config = match builder
        .with_client_cert_verifier(verifier.clone())
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
    Some(DomainTls {
        config: Arc::new(config),
        verifier,
        warnings,
        cert_expiry,
        server_uris,
    })
}

/// The URI subject alternative names of a certificate.
fn uri_sans(cert: &x509_parser::prelude::X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            x509_parser::prelude::GeneralName::URI(u) => Some((*u).to_owned()),
            _ => None,
        })
        .collect()
}

/// A domain's TLS: the server configuration, its client verifier, and warnings to log.
#[derive(Debug)]
pub struct DomainTls {
    /// rustls server configuration (client certificates required).
    pub config: Arc<ServerConfig>,
    /// The verifier inside `config`, for `explain`.
    pub verifier: Arc<verifier::ClientVerifier>,
    /// Truststore and certificate warnings.
    pub warnings: Vec<String>,
    /// (kind, subject, not-after as Unix seconds) for the expiry metrics.
    pub cert_expiry: Vec<(&'static str, String, i64)>,
    /// URI SANs of the server certificate, `By` in `x-forwarded-client-cert`.
    pub server_uris: Vec<String>,
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

/// Split a truststore into trust anchors (self-signed, or whose issuer is not in the bundle)
/// and chain links (CAs issued by another CA of the bundle). Anchors are never checked for
/// revocation, so an intermediate must not be one: revoking it in its parent's CRL must work.
#[allow(clippy::type_complexity)]
fn split_anchors(
    certs: Vec<rustls_pki_types::CertificateDer<'static>>,
) -> (
    Vec<(usize, rustls_pki_types::CertificateDer<'static>)>,
    Vec<rustls_pki_types::CertificateDer<'static>>,
) {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let names: Vec<Option<(Vec<u8>, Vec<u8>)>> = certs
        .iter()
        .map(|c| {
            X509Certificate::from_der(c)
                .ok()
                .map(|(_, x)| (x.subject().as_raw().to_vec(), x.issuer().as_raw().to_vec()))
        })
        .collect();
    let mut anchors = Vec::new();
    let mut links = Vec::new();
    for (i, cert) in certs.into_iter().enumerate() {
        let is_link = match &names[i] {
            Some((subject, issuer)) if subject != issuer => names
                .iter()
                .enumerate()
                .any(|(j, n)| j != i && n.as_ref().is_some_and(|(s, _)| s == issuer)),
            _ => false,
        };
        if is_link {
            links.push(cert);
        } else {
            anchors.push((i, cert));
        }
    }
    (anchors, links)
}

/// The TLS configuration of the default `execute-api` endpoint: a server certificate and no
/// client certificate asked for, as API Gateway's default endpoint. Problems go to `sink`
/// under `key`.
pub fn open_server_config(
    certificate: &std::path::Path,
    private_key: &std::path::Path,
    key: &str,
    sink: &mut ErrorSink,
) -> Option<Arc<ServerConfig>> {
    let chain = files::load_cert_chain(certificate)
        .map_err(|e| sink.push(format!("{key}.certificate"), e.message))
        .ok();
    let private = files::load_private_key(private_key)
        .map_err(|e| sink.push(format!("{key}.private_key"), e.message))
        .ok();
    let (chain, private) = (chain?, private?);
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| sink.push(key.to_owned(), e.to_string()))
        .ok()?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| {
            sink.push(
                format!("{key}.private_key"),
                format!(
                    "{} does not fit {}: {e}",
                    private_key.display(),
                    certificate.display()
                ),
            )
        })
        .ok()?;
    let mut config = config;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Some(Arc::new(config))
}
