//! The CA names a CertificateRequest lists (`certificate_authorities`), bounded so that a
//! large truststore (API Gateway accepts 1,000 CAs) never makes the handshake message overflow.

use rustls::DistinguishedName;
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Largest encoded CA-name list sent; above it no names are sent at all. The TLS field holds at
/// most 65535 bytes; a partial list would tell clients their CA is not accepted, so it is all or
/// nothing, and an empty list means "any CA this server trusts" (RFC 8446 §4.2.4).
pub const MAX_HINT_BYTES: usize = 16 * 1024;

/// The CA names a domain's CertificateRequest carries, and what they would have cost.
#[derive(Debug, Clone)]
pub struct Hints {
    /// Names sent (empty when over [`MAX_HINT_BYTES`]).
    pub subjects: Vec<DistinguishedName>,
    /// CA certificates in the truststore whose names were considered.
    pub names: usize,
    /// Encoded size of the full list (each name plus its two-byte length).
    pub bytes: usize,
}

impl Hints {
    /// The hint list for a truststore's certificates (anchors and chain links alike).
    pub fn for_truststore<'a>(certs: impl IntoIterator<Item = &'a CertificateDer<'a>>) -> Hints {
        let all: Vec<DistinguishedName> = certs
            .into_iter()
            .filter_map(|c| X509Certificate::from_der(c).ok())
            .map(|(_, x)| DistinguishedName::from(x.subject().as_raw().to_vec()))
            .collect();
        let bytes = all.iter().map(|n| n.as_ref().len() + 2).sum();
        Hints {
            names: all.len(),
            bytes,
            subjects: if bytes <= MAX_HINT_BYTES {
                all
            } else {
                Vec::new()
            },
        }
    }

    /// Whether the names are sent.
    pub fn sent(&self) -> bool {
        self.bytes <= MAX_HINT_BYTES
    }

    /// One line for `truststore lint` and logs.
    pub fn describe(&self) -> String {
        if self.sent() {
            format!(
                "CA name hints: {} names, {} bytes in the CertificateRequest (bound {MAX_HINT_BYTES})",
                self.names, self.bytes
            )
        } else {
            format!(
                "CA name hints: {} names would take {} bytes, over the {MAX_HINT_BYTES}-byte bound: none are sent (clients choose their certificate without hints)",
                self.names, self.bytes
            )
        }
    }
}
