//! Certificates and CRLs read back with x509-parser, to check what the tools wrote and sent.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use x509_parser::prelude::{CertificateRevocationList, FromDer, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

/// Every certificate of a PEM file, in order.
pub fn certs_in(path: &Path) -> Vec<CertificateDer<'static>> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{}: bad PEM: {e}", path.display()))
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the tests need to know about one certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// Subject DN, as x509-parser prints it.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial number bytes.
    pub serial: Vec<u8>,
    /// Basic constraints say CA.
    pub is_ca: bool,
    /// EKU includes clientAuth.
    pub client_auth: bool,
    /// EKU includes serverAuth.
    pub server_auth: bool,
    /// URI SANs.
    pub uris: Vec<String>,
    /// DNS SANs.
    pub dns: Vec<String>,
    /// IP SANs, as bytes.
    pub ips: Vec<Vec<u8>>,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// Public key algorithm OID (dotted).
    pub key_alg: String,
    /// Key size in bits (EC: field size; RSA: modulus).
    pub key_bits: usize,
    /// Signature algorithm OID (dotted).
    pub sig_alg: String,
    /// The DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
}

/// Parse a DER certificate.
pub fn cert_info(der: &[u8]) -> CertInfo {
    let (_, c) = X509Certificate::from_der(der).expect("a parsable certificate");
    let mut uris = Vec::new();
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(san)) = c.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::URI(u) => uris.push((*u).to_owned()),
                GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                GeneralName::IPAddress(ip) => ips.push(ip.to_vec()),
                _ => {}
            }
        }
    }
    let eku = c.extended_key_usage().expect("a parsable EKU");
    let key_bits = match c.public_key().parsed() {
        Ok(PublicKey::EC(p)) => p.key_size(),
        Ok(PublicKey::RSA(r)) => r.key_size(),
        _ => 0,
    };
    CertInfo {
        subject: c.subject().to_string(),
        issuer: c.issuer().to_string(),
        serial: c.raw_serial().to_vec(),
        is_ca: matches!(c.basic_constraints(), Ok(Some(b)) if b.value.ca),
        client_auth: matches!(&eku, Some(e) if e.value.client_auth),
        server_auth: matches!(&eku, Some(e) if e.value.server_auth),
        uris,
        dns,
        ips,
        not_before: c.validity().not_before.timestamp(),
        not_after: c.validity().not_after.timestamp(),
        key_alg: c.public_key().algorithm.algorithm.to_id_string(),
        key_bits,
        sig_alg: c.signature_algorithm.algorithm.to_id_string(),
        spki: c.public_key().raw.to_vec(),
    }
}

/// Every certificate of a PEM file, parsed.
pub fn cert_infos(path: &Path) -> Vec<CertInfo> {
    certs_in(path).iter().map(|c| cert_info(c)).collect()
}

/// One revoked entry of a CRL.
#[derive(Debug, Clone)]
pub struct RevokedEntry {
    /// Serial number bytes.
    pub serial: Vec<u8>,
    /// Reason code, if any.
    pub reason: Option<u8>,
    /// Revocation time, Unix seconds.
    pub at: i64,
}

/// What the tests need to know about one CRL.
#[derive(Debug, Clone)]
pub struct CrlInfo {
    /// Issuer DN.
    pub issuer: String,
    /// CRL number.
    pub number: Option<u64>,
    /// Revoked entries.
    pub revoked: Vec<RevokedEntry>,
}

/// Parse a PEM CRL file.
pub fn crl_info(path: &Path) -> CrlInfo {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let der = CertificateRevocationListDer::from_pem_slice(&data)
        .unwrap_or_else(|e| panic!("{}: not a PEM CRL: {e}", path.display()));
    let (_, crl) = CertificateRevocationList::from_der(&der)
        .unwrap_or_else(|e| panic!("{}: not a CRL: {e}", path.display()));
    CrlInfo {
        issuer: crl.issuer().to_string(),
        number: crl.crl_number().and_then(|n| n.to_string().parse().ok()),
        revoked: crl
            .iter_revoked_certificates()
            .map(|r| RevokedEntry {
                serial: r.raw_serial().to_vec(),
                reason: r.reason_code().map(|(_, c)| c.0),
                at: r.revocation_date.timestamp(),
            })
            .collect(),
    }
}

/// The `*.crl.pem` files of a directory, sorted.
pub fn crl_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".crl.pem"))
        .collect();
    v.sort();
    v
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// RFC 3339 (whole seconds, `Z`) of a Unix time, as the verifier prints times.
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Parse an RFC 3339 time to Unix seconds.
pub fn parse_rfc3339(s: &str) -> i64 {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("`{s}` is not RFC 3339: {e}"))
        .unix_timestamp()
}
