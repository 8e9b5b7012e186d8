//! The client-certificate verifier: rustls' WebPKI chain check plus the clientAuth rule, with a
//! refusal reason precise enough to tell an operator which client was refused and why.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use x509_parser::prelude::{CertificateRevocationList, FromDer, X509Certificate};

use super::identity::rfc4514;
use super::names::{
    algorithm_id_name, bit_length, extension_name, key_name, key_type_name, signature_name,
};

/// Fewest and most bits of an RSA client key: the CertificateVerify signature of an RSA key is
/// checked with aws-lc-rs' `RSA_*_2048_8192_*` algorithms, which refuse any other size.
const RSA_CLIENT_KEY_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

/// Certificate extensions WebPKI understands (id-ce 2.5.29.x arcs, and the SCT list); any
/// other extension marked critical makes it refuse the certificate.
const HANDLED_EXTENSIONS: &[&str] = &[
    "2.5.29.15",
    "2.5.29.17",
    "2.5.29.19",
    "2.5.29.30",
    "2.5.29.31",
    "2.5.29.37",
    "1.3.6.1.4.1.11129.2.4.2",
];

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

/// Wraps the WebPKI verifier; every refusal carries a [`Refusal`]. The same verifier serves
/// live handshakes and `portcullis explain`, so both give the same reason.
#[derive(Debug)]
pub struct ClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    /// Subjects of the truststore's certificates, for "not in the truststore" messages.
    trust_subjects: Vec<String>,
    /// The domain's CRLs, to say when and why a certificate was revoked.
    crls: Vec<CertificateRevocationListDer<'static>>,
    /// Truststore CAs issued by another truststore CA: chain links, not anchors.
    truststore_intermediates: Vec<CertificateDer<'static>>,
    /// Subjects of the trust anchors (raw DER names), where a chain ends.
    anchor_names: Vec<Vec<u8>>,
    /// (subject, issuer) raw DER names of the truststore's chain links, parsed once.
    link_names: Vec<(Vec<u8>, Vec<u8>)>,
    /// Most CA certificates allowed above the leaf, the anchor included.
    max_chain_depth: usize,
    /// The signature algorithms the handshake verifies a client's CertificateVerify with.
    algorithms: WebPkiSupportedAlgorithms,
    /// Every truststore certificate as a possible issuer: (subject, SPKI, SHA-256), raw DER.
    issuers: Vec<(Vec<u8>, Vec<u8>, [u8; 32])>,
    /// The truststore's certificates, shared with the live connections whose clients sent
    /// the same certificate in their chain (kept to judge them again after a reload).
    trust_ders: Vec<Arc<[u8]>>,
    /// SHA-256 over the truststore, the CRLs and the chain-depth limit: what a client's chain
    /// is judged by. Equal digests judge every chain alike.
    trust_digest: [u8; 32],
}

impl ClientVerifier {
    /// Wrap `inner`, a verifier that requires a client certificate, built from the truststore
    /// `trust` (anchors and intermediates alike), its `intermediates` and `crls`;
    /// `algorithms` are those of the provider that verifies the client's handshake signature.
    pub fn new(
        inner: Arc<dyn ClientCertVerifier>,
        trust: &[CertificateDer<'_>],
        truststore_intermediates: Vec<CertificateDer<'static>>,
        crls: Vec<CertificateRevocationListDer<'static>>,
        max_chain_depth: usize,
        algorithms: WebPkiSupportedAlgorithms,
    ) -> Self {
        let link_names: Vec<(Vec<u8>, Vec<u8>)> = truststore_intermediates
            .iter()
            .filter_map(|c| names_of(c))
            .collect();
        let anchor_names = trust
            .iter()
            .filter(|c| {
                !truststore_intermediates
                    .iter()
                    .any(|l| l.as_ref() == c.as_ref())
            })
            .filter_map(|c| names_of(c).map(|(subject, _)| subject))
            .filter(|n| !link_names.iter().any(|(s, _)| s == n))
            .collect();
        let trust_subjects = trust
            .iter()
            .filter_map(|c| {
                X509Certificate::from_der(c)
                    .ok()
                    .map(|(_, c)| rfc4514(c.subject()))
            })
            .collect();
        let issuers = trust.iter().filter_map(|c| issuer_entry(c)).collect();
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for der in trust
            .iter()
            .map(|c| c.as_ref())
            .chain(crls.iter().map(|c| c.as_ref()))
        {
            ctx.update(&(der.len() as u64).to_be_bytes());
            ctx.update(der);
        }
        ctx.update(&(max_chain_depth as u64).to_be_bytes());
        let trust_digest = ctx.finish().as_ref().try_into().unwrap_or([0; 32]);
        ClientVerifier {
            trust_ders: trust.iter().map(|c| Arc::from(c.as_ref())).collect(),
            issuers,
            trust_digest,
            inner,
            trust_subjects,
            crls,
            truststore_intermediates,
            anchor_names,
            link_names,
            max_chain_depth,
            algorithms,
        }
    }

    /// Why the handshake would refuse `leaf`'s key when it checks the client's CertificateVerify
    /// signature: a key type no verification algorithm takes, or an RSA key of the wrong size.
    /// Checked here so that `explain`, which sees no handshake, gives the same verdict.
    fn client_key_refusal(&self, leaf: &X509Certificate<'_>) -> Option<String> {
        let spki = leaf.public_key();
        let name = key_name(spki);
        let alg_id = spki_algorithm_id(spki.raw);
        let usable = alg_id.is_some_and(|id| {
            self.algorithms
                .mapping
                .iter()
                .flat_map(|(_, algs)| algs.iter())
                .any(|a| a.public_key_alg_id().as_ref() == id)
        });
        if !usable {
            return Some(format!(
                "client key is {name}, which the handshake cannot verify; accepted keys: {}",
                self.accepted_key_types()
            ));
        }
        if let Ok(x509_parser::public_key::PublicKey::RSA(rsa)) = spki.parsed() {
            let bits = bit_length(rsa.modulus);
            if bits < *RSA_CLIENT_KEY_BITS.start() {
                return Some(format!(
                    "client key is {name}; at least {} bits required",
                    RSA_CLIENT_KEY_BITS.start()
                ));
            }
            if bits > *RSA_CLIENT_KEY_BITS.end() {
                return Some(format!(
                    "client key is {name}; at most {} bits accepted",
                    RSA_CLIENT_KEY_BITS.end()
                ));
            }
        }
        None
    }

    /// The key types the handshake can verify, in words, in the provider's order.
    fn accepted_key_types(&self) -> String {
        let mut names: Vec<String> = Vec::new();
        for alg in self.algorithms.mapping.iter().flat_map(|(_, a)| a.iter()) {
            let id = alg.public_key_alg_id();
            let Some((oid, rest)) = der_oid(id.as_ref()) else {
                continue;
            };
            let curve = der_oid(rest).map(|(c, _)| c);
            let mut name = key_type_name(&oid, curve.as_deref());
            if name == "RSA" {
                name = format!(
                    "RSA ({} to {} bits)",
                    RSA_CLIENT_KEY_BITS.start(),
                    RSA_CLIENT_KEY_BITS.end()
                );
            }
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names.join(", ")
    }

    /// CA certificates above `leaf` on its path to an anchor, following issuer names through
    /// the presented chain and the truststore's chain links; the anchor counts.
    fn chain_depth(&self, leaf: &X509Certificate<'_>, presented: &[CertificateDer<'_>]) -> usize {
        // Only the presented chain is parsed here; the truststore's links were parsed once.
        let presented: Vec<(Vec<u8>, Vec<u8>)> =
            presented.iter().filter_map(|c| names_of(c)).collect();
        let cas: Vec<&(Vec<u8>, Vec<u8>)> =
            presented.iter().chain(self.link_names.iter()).collect();
        let mut issuer = leaf.issuer().as_raw();
        let mut depth = 0;
        // Each step climbs one CA; a path cannot be longer than the certificates there are.
        for _ in 0..=cas.len() {
            depth += 1;
            if self.anchor_names.iter().any(|a| a.as_slice() == issuer) {
                return depth;
            }
            match cas.iter().find(|(subject, _)| subject.as_slice() == issuer) {
                Some((subject, up)) if up != subject => issuer = up.as_slice(),
                _ => return depth,
            }
        }
        depth
    }

    /// What a chain is judged by (truststore, CRLs, chain-depth limit), as one digest: two
    /// verifiers with the same digest accept and refuse the same chains.
    pub fn trust_digest(&self) -> [u8; 32] {
        self.trust_digest
    }

    /// The truststore's own copy of `der`, when it holds the same certificate: a connection
    /// keeps that instead of a copy of its own.
    pub fn shared_copy(&self, der: &[u8]) -> Option<Arc<[u8]>> {
        self.trust_ders
            .iter()
            .find(|t| t.len() == der.len() && t[..] == *der)
            .cloned()
    }

    /// SHA-256 of the CA certificate that issued the leaf of a verified `chain` (leaf first):
    /// the truststore's copy when it holds one, else the one the client sent. Among CAs of the
    /// same name, the one whose key verifies the leaf's signature.
    pub fn issuer_sha256(&self, chain: &[CertificateDer<'_>]) -> Option<[u8; 32]> {
        let (leaf, presented) = chain.split_first()?;
        let (_, parsed) = X509Certificate::from_der(leaf).ok()?;
        let wanted = parsed.issuer().as_raw();
        let sent: Vec<_> = presented.iter().filter_map(|c| issuer_entry(c)).collect();
        let candidates: Vec<&(Vec<u8>, Vec<u8>, [u8; 32])> = self
            .issuers
            .iter()
            .chain(sent.iter())
            .filter(|(subject, _, _)| subject.as_slice() == wanted)
            .collect();
        match candidates.as_slice() {
            [] => None,
            [only] => Some(only.2),
            several => several
                .iter()
                .find(|(_, spki, _)| self.signed_by(leaf, spki))
                .map(|c| c.2),
        }
    }

    /// Whether the key `spki` (DER SubjectPublicKeyInfo) verifies the signature on `cert`.
    fn signed_by(&self, cert: &[u8], spki: &[u8]) -> bool {
        let Some((tbs, sig_alg, signature)) = signed_parts(cert) else {
            return false;
        };
        let Some((key_alg, key)) = spki_parts(spki) else {
            return false;
        };
        self.algorithms.all.iter().any(|alg| {
            alg.signature_alg_id().as_ref() == sig_alg
                && alg.public_key_alg_id().as_ref() == key_alg
                && alg.verify_signature(key, tbs, signature).is_ok()
        })
    }

    /// Verify a presented chain (leaf first) at `now`, exactly as a handshake would.
    pub fn verify_chain(&self, chain: &[CertificateDer<'_>], now: UnixTime) -> Result<(), Refusal> {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Err(Refusal {
                subject: None,
                reason: "no client certificate presented".into(),
            });
        };
        match self.verify_client_cert(leaf, intermediates, now) {
            Ok(_) => Ok(()),
            Err(Error::InvalidCertificate(CertificateError::Other(OtherError(e)))) => Err(e
                .downcast_ref::<Refusal>()
                .cloned()
                .unwrap_or_else(|| Refusal {
                    subject: None,
                    reason: e.to_string(),
                })),
            Err(e) => Err(Refusal {
                subject: None,
                reason: describe(&e, None),
            }),
        }
    }

    /// Words for a refusal, with the context only this verifier has (truststore, CRLs, chain).
    /// `presented` is what the client sent; `links` adds the truststore's intermediates.
    fn explain(
        &self,
        err: &Error,
        leaf: Option<&X509Certificate<'_>>,
        presented: &[CertificateDer<'_>],
        links: &[CertificateDer<'_>],
    ) -> String {
        let Some(leaf) = leaf else {
            return describe(err, None);
        };
        match err {
            Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                self.unknown_issuer(leaf, presented)
            }
            Error::InvalidCertificate(CertificateError::Revoked) => self.revoked(leaf, links),
            Error::InvalidCertificate(
                CertificateError::UnsupportedSignatureAlgorithmContext {
                    signature_algorithm_id,
                    ..
                }
                | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
                    signature_algorithm_id,
                    ..
                },
            ) => unsupported_signature(signature_algorithm_id, leaf, links),
            // WebPKI's error reaches rustls as an opaque `Other`; its text is its variant name.
            Error::InvalidCertificate(CertificateError::Other(OtherError(e)))
                if e.to_string() == "UnsupportedCriticalExtension" =>
            {
                unhandled_critical_extension(leaf, links)
            }
            _ => describe(err, Some(leaf)),
        }
    }

    fn unknown_issuer(
        &self,
        leaf: &X509Certificate<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> String {
        let held = if self.trust_subjects.is_empty() {
            "nothing".to_owned()
        } else {
            self.trust_subjects
                .iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let chain: Vec<X509Certificate<'_>> = intermediates
            .iter()
            .filter_map(|c| X509Certificate::from_der(c).ok().map(|(_, c)| c))
            .collect();
        // Follow the presented chain up to the first issuer nobody here has.
        let mut current = leaf;
        for _ in 0..=chain.len() {
            let issuer = rfc4514(current.issuer());
            if self.trust_subjects.contains(&issuer) {
                return format!(
                    "issuer '{issuer}' is in the truststore by name, but its key did not sign '{}'",
                    rfc4514(current.subject())
                );
            }
            match chain.iter().find(|c| rfc4514(c.subject()) == issuer) {
                Some(next) if !std::ptr::eq(next, current) => current = next,
                _ => {
                    return if std::ptr::eq(current, leaf) && chain.is_empty() {
                        format!(
                            "issuer '{issuer}' is not in the truststore; the truststore holds: {held} \
                             (if '{issuer}' is an intermediate CA: missing intermediate '{issuer}': \
                             send it in the chain or add it to the truststore)"
                        )
                    } else if std::ptr::eq(current, leaf) {
                        format!(
                            "issuer '{issuer}' is not in the truststore nor in the chain sent; \
                             the truststore holds: {held}"
                        )
                    } else {
                        format!(
                            "issuer '{issuer}' of intermediate '{}' is not in the truststore; \
                             the truststore holds: {held} (if '{issuer}' is an intermediate CA: \
                             missing intermediate '{issuer}': send it in the chain or add it to \
                             the truststore)",
                            rfc4514(current.subject())
                        )
                    };
                }
            }
        }
        format!(
            "issuer '{}' is not in the truststore; the truststore holds: {held}",
            rfc4514(leaf.issuer())
        )
    }

    fn revoked(&self, leaf: &X509Certificate<'_>, intermediates: &[CertificateDer<'_>]) -> String {
        let chain: Vec<X509Certificate<'_>> = intermediates
            .iter()
            .filter_map(|c| X509Certificate::from_der(c).ok().map(|(_, c)| c))
            .collect();
        for crl_der in &self.crls {
            let Ok((_, crl)) = CertificateRevocationList::from_der(crl_der) else {
                continue;
            };
            let crl_issuer = rfc4514(crl.issuer());
            for cert in std::iter::once(leaf).chain(chain.iter()) {
                if rfc4514(cert.issuer()) != crl_issuer {
                    continue;
                }
                if let Some(entry) = crl
                    .iter_revoked_certificates()
                    .find(|r| r.raw_serial() == cert.raw_serial())
                {
                    let when = entry
                        .revocation_date
                        .to_datetime()
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default();
                    let reason = entry
                        .reason_code()
                        .map(|(_, r)| reason_name(r.0))
                        .unwrap_or("unspecified");
                    let whose = if std::ptr::eq(cert, leaf) {
                        String::new()
                    } else {
                        format!(" (intermediate '{}')", rfc4514(cert.subject()))
                    };
                    return format!(
                        "revoked on {when}{whose} (CRL of '{crl_issuer}', reason {reason})"
                    );
                }
            }
        }
        format!(
            "certificate is revoked (CRL of '{}')",
            rfc4514(leaf.issuer())
        )
    }
}

/// The signature of a certificate in the chain uses an algorithm the verifier does not take:
/// name the algorithm, and the certificate when one of the chain carries it.
fn unsupported_signature(
    alg_id: &[u8],
    leaf: &X509Certificate<'_>,
    links: &[CertificateDer<'_>],
) -> String {
    let name = algorithm_id_name(alg_id);
    let chain: Vec<X509Certificate<'_>> = links
        .iter()
        .filter_map(|c| X509Certificate::from_der(c).ok().map(|(_, c)| c))
        .collect();
    let carrier = std::iter::once(leaf)
        .chain(chain.iter())
        .find(|c| signature_name(&c.signature_algorithm.algorithm.to_id_string()) == name);
    match carrier {
        Some(c) => format!(
            "signature algorithm {name} is not accepted (on '{}', signed by '{}')",
            rfc4514(c.subject()),
            rfc4514(c.issuer())
        ),
        None => format!("signature algorithm {name} is not accepted"),
    }
}

/// WebPKI refused a critical extension it does not handle: find it in the leaf or the chain.
fn unhandled_critical_extension(
    leaf: &X509Certificate<'_>,
    links: &[CertificateDer<'_>],
) -> String {
    let chain: Vec<X509Certificate<'_>> = links
        .iter()
        .filter_map(|c| X509Certificate::from_der(c).ok().map(|(_, c)| c))
        .collect();
    for cert in std::iter::once(leaf).chain(chain.iter()) {
        let unhandled = cert
            .extensions()
            .iter()
            .find(|e| e.critical && !HANDLED_EXTENSIONS.contains(&e.oid.to_id_string().as_str()));
        if let Some(ext) = unhandled {
            let whose = if std::ptr::eq(cert, leaf) {
                format!("'{}'", rfc4514(cert.subject()))
            } else {
                format!("intermediate '{}'", rfc4514(cert.subject()))
            };
            return format!(
                "unhandled critical extension {} in {whose}",
                extension_name(&ext.oid)
            );
        }
    }
    "a certificate of the chain has a critical extension this gateway does not handle".into()
}

/// The content of the AlgorithmIdentifier of a DER SubjectPublicKeyInfo (the OID and any
/// parameters), as WebPKI compares it with a verification algorithm's public key identifier.
fn spki_algorithm_id(spki: &[u8]) -> Option<&[u8]> {
    spki_parts(spki).map(|(alg_id, _)| alg_id)
}

/// One DER tag-length-value: (tag, value, what follows).
fn der_tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A DER OBJECT IDENTIFIER at the start of `der`, dotted, and what follows it.
fn der_oid(der: &[u8]) -> Option<(String, &[u8])> {
    let (tag, value, rest) = der_tlv(der)?;
    (tag == 0x06).then(|| {
        let oid = x509_parser::asn1_rs::Oid::new(std::borrow::Cow::Borrowed(value));
        (oid.to_id_string(), rest)
    })
}

/// (subject, SPKI, SHA-256) of a CA certificate, raw DER, as a possible issuer.
fn issuer_entry(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>, [u8; 32])> {
    let (_, c) = X509Certificate::from_der(der).ok()?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    Some((
        c.subject().as_raw().to_vec(),
        c.public_key().raw.to_vec(),
        digest.as_ref().try_into().ok()?,
    ))
}

/// The signed part of a DER certificate (tbsCertificate, header included), the content of its
/// signature AlgorithmIdentifier, and the signature's bytes.
fn signed_parts(cert: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (tag, body, _) = der_tlv(cert)?;
    let (_, _, after_tbs) = der_tlv(body)?;
    let tbs = &body[..body.len() - after_tbs.len()];
    let (tag_alg, alg, after_alg) = der_tlv(after_tbs)?;
    let (tag_sig, bits, _) = der_tlv(after_alg)?;
    (tag == 0x30 && tag_alg == 0x30 && tag_sig == 0x03).then_some((tbs, alg, bits.get(1..)?))
}

/// The content of a DER SubjectPublicKeyInfo's AlgorithmIdentifier, and its key's bytes.
fn spki_parts(spki: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, body, _) = der_tlv(spki)?;
    let (tag_alg, alg, rest) = der_tlv(body)?;
    let (tag_key, bits, _) = der_tlv(rest)?;
    (tag == 0x30 && tag_alg == 0x30 && tag_key == 0x03).then_some((alg, bits.get(1..)?))
}

/// (subject, issuer) raw DER names of a certificate.
fn names_of(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (_, c) = X509Certificate::from_der(der).ok()?;
    Some((c.subject().as_raw().to_vec(), c.issuer().as_raw().to_vec()))
}

fn reason_name(code: u8) -> &'static str {
    match code {
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => "unspecified",
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
        // Truststore intermediates are offered as chain links, not trust anchors, so that
        // their revocation is checked like any other intermediate's.
        let presented = intermediates;
        let mut joined;
        let intermediates = if self.truststore_intermediates.is_empty() {
            intermediates
        } else {
            joined = Vec::with_capacity(intermediates.len() + self.truststore_intermediates.len());
            joined.extend(
                intermediates
                    .iter()
                    .map(|c| CertificateDer::from(c.as_ref())),
            );
            joined.extend(
                self.truststore_intermediates
                    .iter()
                    .map(|c| CertificateDer::from(c.as_ref())),
            );
            &joined[..]
        };
        match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Err(e) => Err(refuse(
                subject,
                self.explain(&e, parsed.as_ref(), presented, intermediates),
            )),
            Ok(v) => match &parsed {
                Some(c) if has_client_auth(c) => {
                    let depth = self.chain_depth(c, presented);
                    if depth > self.max_chain_depth {
                        return Err(refuse(
                            subject,
                            format!(
                                "the chain has {depth} CA certificates above the leaf; \
                                 max_chain_depth allows {}",
                                self.max_chain_depth
                            ),
                        ));
                    }
                    if let Some(reason) = self.client_key_refusal(c) {
                        return Err(refuse(subject, reason));
                    }
                    Ok(v)
                }
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
