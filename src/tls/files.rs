//! Reading certificates, keys, truststores and CRLs from disk, with errors that name the file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, X509Certificate};

/// A certificate, key, truststore or CRL file that cannot be used: which file, and why (the
/// message names the file too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FileError {
    /// The file concerned.
    pub path: PathBuf,
    /// What is wrong, starting with the file's name.
    pub message: String,
}

fn file_error(path: &Path) -> impl FnOnce(String) -> FileError + '_ {
    move |message| FileError {
        path: path.to_path_buf(),
        message,
    }
}

/// A PEM certificate chain, leaf first.
pub fn load_cert_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, FileError> {
    load_cert_chain_inner(path).map_err(file_error(path))
}

/// A PEM private key (PKCS#8, PKCS#1 or SEC1), unencrypted.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, FileError> {
    load_private_key_inner(path).map_err(file_error(path))
}

/// A PEM bundle of CA certificates; empty files and non-certificate blocks are refused.
pub fn load_truststore(path: &Path) -> Result<Truststore, FileError> {
    load_truststore_inner(path).map_err(file_error(path))
}

/// CRLs from PEM (`X509 CRL`) or DER files.
pub fn load_crls(
    paths: &[PathBuf],
) -> Result<Vec<CertificateRevocationListDer<'static>>, FileError> {
    let mut crls = Vec::new();
    for path in paths {
        load_crl_file(path, &mut crls).map_err(file_error(path))?;
    }
    Ok(crls)
}

/// A client's certificates as a client would present them: PEM (leaf first) or one DER
/// certificate; for `explain`.
pub fn load_client_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, FileError> {
    load_client_chain_inner(path).map_err(file_error(path))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    crate::file_read::read_regular(path)
}

/// PEM labels (`-----BEGIN X-----`) in file order.
fn pem_labels(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(data)
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("-----BEGIN ")
                .and_then(|r| r.strip_suffix("-----"))
                .map(str::to_owned)
        })
        .collect()
}

/// A PEM certificate chain, leaf first.
fn load_cert_chain_inner(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a valid PEM file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no `-----BEGIN CERTIFICATE-----` block found",
            path.display()
        ));
    }
    Ok(certs)
}

/// A PEM private key (PKCS#8, PKCS#1 or SEC1).
fn load_private_key_inner(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let data = read(path)?;
    if pem_labels(&data)
        .iter()
        .any(|l| l == "ENCRYPTED PRIVATE KEY")
    {
        return Err(format!(
            "{}: the private key is encrypted; decrypt it first (openssl pkcs8 -in KEY -out KEY.plain)",
            path.display()
        ));
    }
    PrivateKeyDer::from_pem_slice(&data).map_err(|e| {
        format!(
            "{}: no usable private key (PKCS#8, RSA or EC PEM) found: {e}",
            path.display()
        )
    })
}

/// A truststore's certificates, in file order, duplicates removed. Questionable entries are
/// reported by [`super::findings`], which `check` and `serve` run on every truststore.
#[derive(Debug)]
pub struct Truststore {
    /// The certificates.
    pub certs: Vec<CertificateDer<'static>>,
    /// The file as read, for the findings (checked once, on the same bytes).
    pub bytes: Vec<u8>,
}

/// Load a PEM bundle of CA certificates; refuse empty files and non-certificate blocks.
fn load_truststore_inner(path: &Path) -> Result<Truststore, String> {
    let data = read(path)?;
    let shown = path.display();
    for (i, label) in pem_labels(&data).iter().enumerate() {
        if label != "CERTIFICATE" {
            return Err(format!(
                "{shown}: PEM block {} is `{label}`, not a CERTIFICATE; a truststore holds only CA certificates",
                i + 1
            ));
        }
    }
    let sections = <(SectionKind, Vec<u8>)>::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{shown}: not a valid PEM file: {e}"))?;
    if sections.is_empty() {
        return Err(format!(
            "{shown}: no certificates found (expected `-----BEGIN CERTIFICATE-----` blocks)"
        ));
    }
    let mut seen = HashSet::new();
    let mut certs = Vec::new();
    for (i, (_, der)) in sections.into_iter().enumerate() {
        if let Err(e) = X509Certificate::from_der(&der) {
            return Err(format!(
                "{shown}: certificate {} cannot be parsed: {e}",
                i + 1
            ));
        }
        if seen.insert(der.clone()) {
            certs.push(CertificateDer::from(der));
        }
    }
    Ok(Truststore { certs, bytes: data })
}

/// CRLs from PEM (`X509 CRL`) or DER files.
fn load_crl_file(
    path: &Path,
    crls: &mut Vec<CertificateRevocationListDer<'static>>,
) -> Result<(), String> {
    {
        let data = read(path)?;
        if data.starts_with(b"-----") || pem_labels(&data).iter().any(|l| l == "X509 CRL") {
            let found = CertificateRevocationListDer::pem_slice_iter(&data)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{}: not a valid PEM CRL file: {e}", path.display()))?;
            if found.is_empty() {
                return Err(format!(
                    "{}: no `-----BEGIN X509 CRL-----` block found",
                    path.display()
                ));
            }
            let several = found.len() > 1;
            for (i, crl) in found.iter().enumerate() {
                if let Some(problem) = crl_problem(crl) {
                    let which = if several {
                        format!(" (CRL {} of the file)", i + 1)
                    } else {
                        String::new()
                    };
                    return Err(format!("{}{which}: {problem}", path.display()));
                }
            }
            crls.extend(found);
        } else {
            if x509_parser::revocation_list::CertificateRevocationList::from_der(&data).is_err() {
                return Err(format!(
                    "{}: neither a PEM nor a DER certificate revocation list",
                    path.display()
                ));
            }
            if let Some(problem) = crl_problem(&data) {
                return Err(format!("{}: {problem}", path.display()));
            }
            crls.push(CertificateRevocationListDer::from(data));
        }
    }
    Ok(())
}

/// Why the client verifier could not use a CRL that parses: WebPKI requires the v2 extensions
/// field (RFC 5280 5.2 makes the CRL Number and authority key identifier mandatory) and would
/// otherwise refuse the whole verifier with a bare `ParseError`. A v2 CRL that has other
/// extensions but no CRL Number is usable, and accepted.
fn crl_problem(der: &[u8]) -> Option<String> {
    use x509_parser::revocation_list::CertificateRevocationList;
    let (_, crl) = CertificateRevocationList::from_der(der).ok()?;
    if crl.crl_number().is_some() || !crl.extensions().is_empty() {
        return None;
    }
    Some(
        "CRL has no CRL Number extension (RFC 5280 5.2.3 requires one); it has no CRL \
         extensions at all, which the verifier cannot use. Reissue it with a CRL number \
         (openssl ca: set `crlnumber` to a serial file in the CA section; \
         `portcullis pki revoke` always writes one)"
            .into(),
    )
}

/// A client's certificates as a client would present them: PEM (leaf first) or one DER
/// certificate; for `explain`.
fn load_client_chain_inner(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = read(path).map_err(|e| format!("cannot read {e}"))?;
    let certs = if data.starts_with(b"-----") || data.windows(11).any(|w| w == b"-----BEGIN ") {
        CertificateDer::pem_slice_iter(&data)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: not a valid PEM file: {e}", path.display()))?
    } else {
        vec![CertificateDer::from(data)]
    };
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", path.display()));
    }
    Ok(certs)
}
