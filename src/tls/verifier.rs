//! The client-certificate verifier: rustls' WebPKI chain check plus the clientAuth rule, with a
//! refusal reason precise enough to tell an operator which client was refused and why.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::identity::rfc4514;

/// Why a client certificate was refused, and whose it was.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Subject of the presented leaf, when it could be parsed.
    pub subject: Option<String>,
    /// The reason, in words.
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Refusal {}

/// Wraps the WebPKI verifier; every refusal carries a [`Refusal`].
#[derive(Debug)]
pub struct ClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientVerifier {
    /// Wrap `inner`, a verifier that requires a client certificate.
    pub fn new(inner: Arc<dyn ClientCertVerifier>) -> Self {
        ClientVerifier { inner }
    }
}

fn format_time(t: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.as_secs() as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{} seconds after the epoch", t.as_secs()))
}

/// Put a rustls certificate error into words, using the leaf for names.
pub fn describe(err: &Error, leaf: Option<&X509Certificate<'_>>) -> String {
    let issuer = leaf.map(|c| rfc4514(c.issuer())).unwrap_or_default();
    match err {
        Error::InvalidCertificate(e) => match e {
            CertificateError::ExpiredContext { time, not_after } => format!(
                "certificate expired on {} (checked at {})",
                format_time(*not_after),
                format_time(*time)
            ),
            CertificateError::Expired => "certificate expired".into(),
            CertificateError::NotValidYetContext { time, not_before } => format!(
                "certificate is not valid before {} (checked at {})",
                format_time(*not_before),
                format_time(*time)
            ),
            CertificateError::NotValidYet => "certificate is not yet valid".into(),
            CertificateError::UnknownIssuer => format!(
                "issuer '{issuer}' is not in the truststore (or an intermediate is missing from the chain)"
            ),
            CertificateError::Revoked => format!("certificate is revoked (CRL of '{issuer}')"),
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "no clientAuth in extended key usage".into()
            }
            CertificateError::BadSignature => "certificate signature does not verify".into(),
            CertificateError::ExpiredRevocationList
            | CertificateError::ExpiredRevocationListContext { .. } => {
                "the CRL that covers this certificate has expired".into()
            }
            CertificateError::Other(OtherError(inner)) => inner.to_string(),
            other => format!("certificate refused: {other:?}"),
        },
        Error::NoCertificatesPresented => "no client certificate presented".into(),
        other => other.to_string(),
    }
}

fn has_client_auth(cert: &X509Certificate<'_>) -> bool {
    matches!(cert.extended_key_usage(), Ok(Some(eku)) if eku.value.client_auth || eku.value.any)
}

fn refuse(subject: Option<String>, reason: String) -> Error {
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Refusal {
        subject,
        reason,
    }))))
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let parsed = X509Certificate::from_der(end_entity).ok().map(|(_, c)| c);
        let subject = parsed.as_ref().map(|c| rfc4514(c.subject()));
        match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Err(e) => Err(refuse(subject, describe(&e, parsed.as_ref()))),
            Ok(v) => match &parsed {
                Some(c) if has_client_auth(c) => Ok(v),
                Some(_) => Err(refuse(
                    subject,
                    "no clientAuth in extended key usage".into(),
                )),
                None => Err(refuse(None, "certificate cannot be parsed".into())),
            },
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The refusal inside a failed handshake's error, if the verifier made one.
pub fn refusal_of(err: &std::io::Error) -> Option<Refusal> {
    let inner = err.get_ref()?.downcast_ref::<Error>()?;
    match inner {
        Error::InvalidCertificate(CertificateError::Other(OtherError(e))) => {
            e.downcast_ref::<Refusal>().cloned()
        }
        Error::NoCertificatesPresented => Some(Refusal {
            subject: None,
            reason: "no client certificate presented".into(),
        }),
        other => Some(Refusal {
            subject: None,
            reason: describe(other, None),
        }),
    }
}
