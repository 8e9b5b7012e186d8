//! Truststore findings: one row per certificate in a PEM bundle plus findings (expiry, CA flags,
//! weak algorithms, broken or over-long chains, stray PEM content), optionally with API
//! Gateway's rules. The engine behind `truststore lint`, and behind the warnings `check` and
//! `serve` log for the truststore bytes they already loaded.
//!
//! Finding codes (stable, for scripts): `unreadable`, `no_certificates`, `not_a_certificate`,
//! `trailing_garbage`, `malformed_pem`, `stray_text` (info), `unparsable_certificate`, `expired`,
//! `expiring`, `not_yet_valid`, `not_a_ca`, `missing_key_cert_sign`, `weak_key`,
//! `weak_signature`, `unsupported_algorithm` (`--aws`), `duplicate`, `broken_chain`,
//! `chain_too_long`, `too_many_certificates` (`--aws`), `file_too_large` (`--aws`).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::identity::{hex, rfc4514};
use super::names::{bit_length, signature_name};

/// Most CA certificates (root plus intermediates) one chain in a plain truststore may hold: root + 4 intermediates, beyond which verification gets slow and brittle.
pub const MAX_CHAIN_DEPTH: usize = 5;
/// Most CA certificates one chain may hold under `--aws`: API Gateway's limit of a chain depth of 4.
pub const AWS_MAX_CHAIN_DEPTH: usize = 4;
/// Most certificates API Gateway accepts in one truststore.
pub const AWS_MAX_CERTIFICATES: usize = 1000;
/// Largest truststore API Gateway accepts, in bytes: its quota says "1 MB", read here as 1 MiB.
pub const AWS_MAX_BYTES: usize = 1024 * 1024;
/// A certificate expiring within this many days gets an `expiring` warning, so renewal starts in time.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// How bad a finding is; ordered so the worst of a report is its maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; does not change the exit code.
    Info,
    /// The bundle loads but some clients may be refused or trusted unexpectedly (exit 1).
    Warning,
    /// The bundle is unusable or would be refused (exit 2).
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem found in a truststore, with a stable code for scripts and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// Stable machine-readable code, such as `expired` (see the module docs for the list).
    pub code: &'static str,
    /// Human-readable explanation; a certificate's finding starts by naming its index and subject.
    pub message: String,
}

/// One certificate of the bundle as the lint table shows it, with its findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertRow {
    /// Position among the file's `CERTIFICATE` blocks, 1-based.
    pub index: usize,
    /// Subject DN in RFC 4514 form (`-` if the certificate cannot be parsed).
    pub subject: String,
    /// Issuer DN in RFC 4514 form.
    pub issuer: String,
    /// Serial number, lower-case hex.
    pub serial: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Key type and size, such as `EC P-256` or `RSA 2048`.
    pub key: String,
    /// Signature algorithm, such as `ecdsa-with-SHA256` or `sha1WithRSAEncryption`.
    pub signature: String,
    /// Whether basicConstraints says CA:TRUE.
    pub ca: bool,
    /// basicConstraints pathLenConstraint, if any.
    pub path_len: Option<u32>,
    /// What is wrong with this certificate.
    pub findings: Vec<Finding>,
}

/// The result of linting one truststore file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintReport {
    /// The file linted.
    pub file: PathBuf,
    /// One row per `CERTIFICATE` block, in file order.
    pub rows: Vec<CertRow>,
    /// Findings about the file rather than one certificate (stray blocks, size, emptiness).
    pub file_findings: Vec<Finding>,
    /// The CA names a handshake would list for this bundle (`None` if it could not be read).
    pub hints: Option<HintSummary>,
}

/// The size of the CA-name hint list the CertificateRequest carries for a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HintSummary {
    /// CA names in the list.
    pub names: usize,
    /// Encoded size of the list, in bytes.
    pub bytes: usize,
    /// Whether it is sent (it is dropped whole above the bound).
    pub sent: bool,
    /// The bound, in bytes.
    pub max_bytes: usize,
    /// The same in words.
    pub message: String,
}

impl LintReport {
    /// Every finding, file-level ones first.
    pub fn all_findings(&self) -> impl Iterator<Item = &Finding> {
        self.file_findings
            .iter()
            .chain(self.rows.iter().flat_map(|r| r.findings.iter()))
    }

    /// The most severe finding, or `None` for a bundle without findings.
    pub fn worst(&self) -> Option<Severity> {
        self.all_findings().map(|f| f.severity).max()
    }

    /// One log line per warning or error, `FILE: certificate N (SUBJECT) ... [severity code]`, for `check` and `serve`.
    pub fn warnings(&self) -> Vec<String> {
        self.all_findings()
            .filter(|f| f.severity >= Severity::Warning)
            .map(|f| {
                format!(
                    "{}: {} [{} {}]",
                    self.file.display(),
                    f.message,
                    f.severity,
                    f.code
                )
            })
            .collect()
    }
}

/// Lint `data` as the contents of the truststore `path` (used for messages only), checking at time `now`.
pub fn lint_bytes(path: &Path, data: &[u8], aws: bool, now: OffsetDateTime) -> LintReport {
    let mut file_findings = Vec::new();
    let scan = scan_pem(data);
    file_findings.extend(scan.findings);

    let mut cert_bodies: Vec<(usize, Result<Vec<u8>, String>)> = Vec::new();
    for block in scan.blocks {
        if block.label == "CERTIFICATE" {
            cert_bodies.push((block.line, block.body));
        } else {
            let hint = match block.label.as_str() {
                l if l.contains("PRIVATE KEY") => {
                    "; remove it, and treat that key as exposed if this file was shared"
                }
                "TRUSTED CERTIFICATE" => {
                    "; OpenSSL's trusted-certificate form is not accepted, convert it with `openssl x509 -in FILE`"
                }
                _ => "; remove it",
            };
            file_findings.push(Finding {
                severity: Severity::Error,
                code: "not_a_certificate",
                message: format!(
                    "PEM block {} (line {}) is `{}`, not a CERTIFICATE; a truststore holds only CA certificates{hint}",
                    block.ordinal, block.line, block.label
                ),
            });
        }
    }

    if cert_bodies.is_empty() {
        file_findings.push(Finding {
            severity: Severity::Error,
            code: "no_certificates",
            message: if data.iter().all(u8::is_ascii_whitespace) {
                "the file is empty; expected `-----BEGIN CERTIFICATE-----` blocks".to_owned()
            } else {
                "no certificates found (expected `-----BEGIN CERTIFICATE-----` blocks; a DER file must be converted to PEM)".to_owned()
            },
        });
    }
    if aws {
        if cert_bodies.len() > AWS_MAX_CERTIFICATES {
            file_findings.push(Finding {
                severity: Severity::Error,
                code: "too_many_certificates",
                message: format!(
                    "Truststore contains {} certificates; API Gateway accepts at most {AWS_MAX_CERTIFICATES}",
                    cert_bodies.len()
                ),
            });
        }
        if data.len() > AWS_MAX_BYTES {
            file_findings.push(Finding {
                severity: Severity::Error,
                code: "file_too_large",
                message: format!(
                    "Truststore is {} bytes; API Gateway accepts at most 1 MB ({AWS_MAX_BYTES} bytes)",
                    data.len()
                ),
            });
        }
    }

    let parsed: Vec<Option<X509Certificate<'_>>> = cert_bodies
        .iter()
        .map(|(_, body)| {
            body.as_ref()
                .ok()
                .and_then(|der| match X509Certificate::from_der(der) {
                    Ok(([], c)) => Some(c),
                    _ => None,
                })
        })
        .collect();

    let mut rows = Vec::with_capacity(cert_bodies.len());
    let mut first_seen: HashMap<&[u8], usize> = HashMap::new();
    // Indices (0-based) of certificates taking part in chain analysis: parsed, not duplicates.
    let mut unique = Vec::new();
    for (i, ((line, body), cert)) in cert_bodies.iter().zip(&parsed).enumerate() {
        let index = i + 1;
        let Some(cert) = cert else {
            let message = match body {
                Err(e) => format!(
                    "{} (line {line}) is not valid PEM: {e}",
                    who(aws, index, "-")
                ),
                Ok(der) => format!(
                    "{} (line {line}) cannot be parsed as an X.509 certificate: {}",
                    who(aws, index, "-"),
                    match X509Certificate::from_der(der) {
                        Ok((rest, _)) => format!("{} bytes after the certificate", rest.len()),
                        Err(e) => e.to_string(),
                    }
                ),
            };
            rows.push(CertRow {
                index,
                subject: "-".into(),
                issuer: "-".into(),
                serial: "-".into(),
                not_after: "-".into(),
                key: "-".into(),
                signature: "-".into(),
                ca: false,
                path_len: None,
                findings: vec![Finding {
                    severity: Severity::Error,
                    code: if body.is_err() {
                        "malformed_pem"
                    } else {
                        "unparsable_certificate"
                    },
                    message,
                }],
            });
            continue;
        };
        let der = body.as_deref().unwrap_or_default();
        let subject = rfc4514(cert.subject());
        let bc = cert.basic_constraints().ok().flatten().map(|b| b.value);
        let key = key_info(cert);
        let signature_oid = cert.signature_algorithm.algorithm.to_id_string();
        let signature = signature_name(&signature_oid);
        let mut row = CertRow {
            index,
            subject: subject.clone(),
            issuer: rfc4514(cert.issuer()),
            serial: hex(cert.raw_serial()),
            not_after: rfc3339(cert.validity().not_after.to_datetime()),
            key: key.name.clone(),
            signature: signature.to_owned(),
            ca: bc.is_some_and(|b| b.ca),
            path_len: bc.and_then(|b| b.path_len_constraint),
            findings: Vec::new(),
        };
        let me = who(aws, index, &subject);
        if let Some(first) = first_seen.get(der) {
            row.findings.push(Finding {
                severity: Severity::Warning,
                code: "duplicate",
                message: format!("{me} is a duplicate of certificate {first}; remove the copy"),
            });
            rows.push(row);
            continue;
        }
        first_seen.insert(der, index);
        unique.push(i);
        row.findings = cert_findings(cert, &me, &key, signature, aws, now);
        rows.push(row);
    }

    chain_findings(&parsed, &unique, &mut rows, aws);

    let ders: Vec<rustls_pki_types::CertificateDer<'_>> = cert_bodies
        .iter()
        .filter_map(|(_, b)| b.as_ref().ok())
        .map(|b| rustls_pki_types::CertificateDer::from(b.as_slice()))
        .collect();
    let h = crate::tls::hints::Hints::for_truststore(ders.iter());
    LintReport {
        file: path.to_path_buf(),
        rows,
        file_findings,
        hints: Some(HintSummary {
            names: h.names,
            bytes: h.bytes,
            sent: h.sent(),
            max_bytes: crate::tls::hints::MAX_HINT_BYTES,
            message: h.describe(),
        }),
    }
}

/// How a certificate is named at the start of its findings' messages.
fn who(aws: bool, index: usize, subject: &str) -> String {
    if aws {
        format!("Certificate at index {index} ({subject})")
    } else {
        format!("certificate {index} ({subject})")
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Findings about one certificate on its own (validity, CA flags, algorithms).
fn cert_findings(
    cert: &X509Certificate<'_>,
    me: &str,
    key: &KeyInfo,
    signature: &str,
    aws: bool,
    now: OffsetDateTime,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |severity, code, message| {
        out.push(Finding {
            severity,
            code,
            message,
        })
    };
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    if not_after < now {
        push(
            Severity::Warning,
            "expired",
            format!(
                "{me} has expired (not after {}); clients it issued are refused",
                rfc3339(not_after)
            ),
        );
    } else if not_after - now < time::Duration::days(EXPIRY_WARNING_DAYS) {
        push(
            Severity::Warning,
            "expiring",
            format!(
                "{me} expires within {EXPIRY_WARNING_DAYS} days, in {} days (not after {})",
                (not_after - now).whole_days(),
                rfc3339(not_after)
            ),
        );
    }
    if not_before > now {
        push(
            Severity::Warning,
            "not_yet_valid",
            format!("{me} is not yet valid (not before {})", rfc3339(not_before)),
        );
    }
    let is_ca = cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|b| b.value.ca);
    if !is_ca {
        push(
            Severity::Warning,
            "not_a_ca",
            format!(
                "{me} is not a CA certificate (no basicConstraints CA:TRUE); it cannot issue client certificates"
            ),
        );
    }
    if let Ok(Some(ku)) = cert.key_usage()
        && !ku.value.key_cert_sign()
    {
        push(
            Severity::Warning,
            "missing_key_cert_sign",
            format!(
                "{me} has a keyUsage extension without keyCertSign (it allows: {}); it cannot sign certificates",
                if ku.value.flags == 0 {
                    "nothing".to_owned()
                } else {
                    ku.value.to_string()
                }
            ),
        );
    }
    let weak_key = key.weak();
    let weak_sig = weak_signature(signature);
    if aws && (!key.aws_supported() || !aws_signature(signature)) {
        let mut what = Vec::new();
        if !key.aws_supported() {
            what.push(format!(
                "{}{} key",
                if weak_key { "weak " } else { "" },
                key.name
            ));
        }
        if !aws_signature(signature) {
            what.push(format!(
                "{}{signature} signature",
                if weak_sig { "weak " } else { "" }
            ));
        }
        push(
            Severity::Error,
            "unsupported_algorithm",
            format!(
                "{me} uses an unsupported algorithm: {}; API Gateway supports RSA 2048, 3072 or 4096 and ECDSA P-256 or P-384 keys with SHA-256, SHA-384 or SHA-512 signatures",
                what.join(" and ")
            ),
        );
    } else {
        if weak_key {
            push(
                Severity::Warning,
                "weak_key",
                format!(
                    "{me} has a weak key ({}); use RSA 2048 or more, or EC P-256 or more",
                    key.name
                ),
            );
        }
        if weak_sig {
            push(
                Severity::Warning,
                "weak_signature",
                format!(
                    "{me} has a weak signature ({signature}); reissue it with SHA-256 or better"
                ),
            );
        }
    }
    out
}

/// Findings that need the whole bundle: broken chains and chains over the depth limit.
fn chain_findings(
    parsed: &[Option<X509Certificate<'_>>],
    unique: &[usize],
    rows: &mut [CertRow],
    aws: bool,
) {
    let limit = if aws {
        AWS_MAX_CHAIN_DEPTH
    } else {
        MAX_CHAIN_DEPTH
    };
    let cert = |i: usize| parsed[i].as_ref();
    let self_issued =
        |i: usize| cert(i).is_some_and(|c| c.subject().as_raw() == c.issuer().as_raw());
    // The issuer of certificate `i` within the bundle: the first other certificate whose subject
    // is `i`'s issuer, preferring one whose subject key identifier matches `i`'s authority key
    // identifier.
    let parent = |i: usize| -> Option<usize> {
        let c = cert(i)?;
        let candidates: Vec<usize> = unique
            .iter()
            .copied()
            .filter(|&j| {
                j != i && cert(j).is_some_and(|p| p.subject().as_raw() == c.issuer().as_raw())
            })
            .collect();
        let aki = authority_key_id(c);
        candidates
            .iter()
            .copied()
            .find(|&j| aki.is_some() && cert(j).and_then(subject_key_id) == aki)
            .or_else(|| candidates.first().copied())
    };
    for &i in unique {
        let Some(c) = cert(i) else { continue };
        let me = who(aws, i + 1, &rows[i].subject);
        if self_issued(i) {
            // A root: nothing above it to find.
        } else if parent(i).is_none() {
            let issuer = rfc4514(c.issuer());
            rows[i].findings.push(Finding {
                severity: Severity::Warning,
                code: "broken_chain",
                message: format!(
                    "{me} is issued by `{issuer}`, which is not in the bundle; the chain is broken, add the certificate of `{issuer}` (until then it is trusted as an anchor, so that issuer's CRL cannot revoke it)"
                ),
            });
        }
        // Walk up, counting CA certificates, guarding against issuer loops.
        let mut path = vec![i];
        let mut seen = HashSet::from([i]);
        let mut cur = i;
        while !self_issued(cur) {
            match parent(cur) {
                Some(p) if seen.insert(p) => {
                    path.push(p);
                    cur = p;
                }
                _ => break,
            }
        }
        let cas = path.iter().filter(|&&j| rows[j].ca).count();
        if cas > limit {
            let names: Vec<&str> = path.iter().map(|&j| rows[j].subject.as_str()).collect();
            rows[i].findings.push(Finding {
                severity: Severity::Warning,
                code: "chain_too_long",
                message: format!(
                    "{me} is at the end of a chain of {cas} CA certificates, more than the limit of {limit}{}: {}",
                    if aws { " API Gateway accepts" } else { "" },
                    names.join(" <- ")
                ),
            });
        }
    }
}

fn authority_key_id<'a>(c: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    c.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        })
}

fn subject_key_id<'a>(c: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    c.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0),
            _ => None,
        })
}

/// A certificate's public key, as shown and judged.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyInfo {
    name: String,
    kind: KeyKind,
    bits: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    Ec,
    Dsa,
    Other,
}

impl KeyInfo {
    fn weak(&self) -> bool {
        match self.kind {
            KeyKind::Rsa | KeyKind::Dsa => self.bits < 2048,
            KeyKind::Ec => self.bits < 256,
            KeyKind::Other => false,
        }
    }

    fn aws_supported(&self) -> bool {
        match self.kind {
            KeyKind::Rsa => matches!(self.bits, 2048 | 3072 | 4096),
            KeyKind::Ec => matches!(self.name.as_str(), "EC P-256" | "EC P-384"),
            KeyKind::Dsa | KeyKind::Other => false,
        }
    }
}

fn key_info(cert: &X509Certificate<'_>) -> KeyInfo {
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let bits = bit_length(rsa.modulus);
            KeyInfo {
                name: format!("RSA {bits}"),
                kind: KeyKind::Rsa,
                bits,
            }
        }
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            let (name, bits) = match curve.as_str() {
                "1.2.840.10045.3.1.7" => ("P-256".to_owned(), 256),
                "1.3.132.0.34" => ("P-384".to_owned(), 384),
                "1.3.132.0.35" => ("P-521".to_owned(), 521),
                "1.3.132.0.33" => ("P-224".to_owned(), 224),
                "1.2.840.10045.3.1.1" => ("P-192".to_owned(), 192),
                "1.3.132.0.10" => ("secp256k1".to_owned(), 256),
                other => (other.to_owned(), point.key_size()),
            };
            KeyInfo {
                name: format!("EC {name}"),
                kind: KeyKind::Ec,
                bits,
            }
        }
        Ok(PublicKey::DSA(y)) => {
            let bits = bit_length(y);
            KeyInfo {
                name: format!("DSA {bits}"),
                kind: KeyKind::Dsa,
                bits,
            }
        }
        _ => {
            let name = match alg.as_str() {
                "1.3.101.112" => "Ed25519".to_owned(),
                "1.3.101.113" => "Ed448".to_owned(),
                other => other.to_owned(),
            };
            KeyInfo {
                name,
                kind: KeyKind::Other,
                bits: 0,
            }
        }
    }
}

fn weak_signature(name: &str) -> bool {
    matches!(
        name,
        "md2WithRSAEncryption"
            | "md5WithRSAEncryption"
            | "sha1WithRSAEncryption"
            | "ecdsa-with-SHA1"
            | "dsa-with-sha1"
    )
}

fn aws_signature(name: &str) -> bool {
    matches!(
        name,
        "sha256WithRSAEncryption"
            | "sha384WithRSAEncryption"
            | "sha512WithRSAEncryption"
            | "ecdsa-with-SHA256"
            | "ecdsa-with-SHA384"
            | "ecdsa-with-SHA512"
    )
}

/// One `-----BEGIN X-----` ... `-----END X-----` block.
#[derive(Debug)]
struct PemBlock {
    /// The BEGIN label, such as `CERTIFICATE`.
    label: String,
    /// 1-based position among all PEM blocks.
    ordinal: usize,
    /// 1-based line of the BEGIN line.
    line: usize,
    /// The decoded body, or why it could not be decoded.
    body: Result<Vec<u8>, String>,
}

#[derive(Debug, Default)]
struct PemScan {
    blocks: Vec<PemBlock>,
    findings: Vec<Finding>,
}

fn pem_marker<'a>(line: &'a str, kind: &str) -> Option<&'a str> {
    line.strip_prefix("-----")?
        .strip_prefix(kind)?
        .strip_prefix(' ')?
        .strip_suffix("-----")
}

/// Split a PEM file into blocks, reporting text after the last block (and an unterminated last block) as trailing garbage and text elsewhere outside blocks as stray text.
fn scan_pem(data: &[u8]) -> PemScan {
    let mut scan = PemScan::default();
    // (label, BEGIN line, base64 text)
    let mut open: Option<(String, usize, String)> = None;
    // Non-blank lines outside blocks: (line, bytes).
    let mut outside: Vec<(usize, usize)> = Vec::new();
    let mut last_end = 0;
    let mut ordinal = 0;
    for (i, raw) in data.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let text = String::from_utf8_lossy(raw);
        let t = text.trim();
        match open.take() {
            None => {
                if t.is_empty() {
                    continue;
                }
                if let Some(label) = pem_marker(t, "BEGIN") {
                    ordinal += 1;
                    open = Some((label.to_owned(), n, String::new()));
                } else {
                    outside.push((n, raw.len()));
                }
            }
            Some((label, begin, mut b64)) => {
                if let Some(end) = pem_marker(t, "END") {
                    let body = if end != label {
                        Err(format!(
                            "`-----BEGIN {label}-----` ends with `-----END {end}-----`"
                        ))
                    } else {
                        decode_block(&label, &b64)
                    };
                    scan.blocks.push(PemBlock {
                        label,
                        ordinal,
                        line: begin,
                        body,
                    });
                    last_end = n;
                } else if let Some(next) = pem_marker(t, "BEGIN") {
                    scan.blocks.push(PemBlock {
                        label,
                        ordinal,
                        line: begin,
                        body: Err(format!("no END line before the next BEGIN at line {n}")),
                    });
                    ordinal += 1;
                    open = Some((next.to_owned(), n, String::new()));
                } else {
                    b64.push_str(t);
                    open = Some((label, begin, b64));
                }
            }
        }
    }
    let trailing: Vec<(usize, usize)> = outside
        .iter()
        .copied()
        .filter(|&(n, _)| n > last_end && !scan.blocks.is_empty())
        .collect();
    let stray: Vec<(usize, usize)> = outside
        .iter()
        .copied()
        .filter(|&(n, _)| n < last_end)
        .collect();
    if let Some((label, begin, _)) = open {
        let also = match trailing.first() {
            Some(&(first, _)) => format!(
                ", and {} line{} of non-PEM data precede it after the last END line (from line {first})",
                trailing.len(),
                if trailing.len() == 1 { "" } else { "s" }
            ),
            None => String::new(),
        };
        scan.findings.push(Finding {
            severity: Severity::Error,
            code: "trailing_garbage",
            message: format!(
                "PEM block {ordinal} (`-----BEGIN {label}-----`, line {begin}) has no END line; the file is truncated or corrupt{also}"
            ),
        });
    } else if let Some(&(first, _)) = trailing.first() {
        let bytes: usize = trailing.iter().map(|&(_, b)| b).sum();
        scan.findings.push(Finding {
            severity: Severity::Error,
            code: "trailing_garbage",
            message: format!(
                "{} line{} ({bytes} bytes) of non-PEM data after the last END line, starting at line {first}; remove them",
                trailing.len(),
                if trailing.len() == 1 { "" } else { "s" }
            ),
        });
    }
    if let Some(&(first, _)) = stray.first() {
        scan.findings.push(Finding {
            severity: Severity::Info,
            code: "stray_text",
            message: format!(
                "{} line{} of text outside PEM blocks (first at line {first}); ignored",
                stray.len(),
                if stray.len() == 1 { "" } else { "s" }
            ),
        });
    }
    scan
}

/// Decode one block's base64 body with the `pem` crate (already in the tree through rcgen).
fn decode_block(label: &str, body: &str) -> Result<Vec<u8>, String> {
    let text = format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n");
    match pem::parse(text) {
        Ok(block) if block.contents().is_empty() => Err("the block is empty".to_owned()),
        Ok(block) => Ok(block.into_contents()),
        Err(e) => Err(format!("invalid base64: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_bodies_decode_and_junk_is_refused() {
        assert_eq!(decode_block("CERTIFICATE", "TWFu").unwrap(), b"Man");
        assert_eq!(decode_block("CERTIFICATE", "TWE=").unwrap(), b"Ma");
        assert!(decode_block("CERTIFICATE", "TW*u").is_err());
        assert!(decode_block("CERTIFICATE", "").is_err());
    }

    #[test]
    fn bit_length_ignores_leading_zeros() {
        assert_eq!(bit_length(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_length(&[0x01, 0x00]), 9);
        assert_eq!(bit_length(&[0, 0]), 0);
    }

    #[test]
    fn signature_names_and_strength() {
        assert_eq!(
            signature_name("1.2.840.113549.1.1.5"),
            "sha1WithRSAEncryption"
        );
        assert!(weak_signature(signature_name("1.2.840.113549.1.1.4")));
        assert!(!weak_signature(signature_name("1.2.840.10045.4.3.2")));
        assert!(aws_signature("ecdsa-with-SHA384"));
        assert!(!aws_signature("rsassaPss"));
    }

    #[test]
    fn scanner_finds_blocks_stray_text_and_garbage() {
        let pem = "note\n-----BEGIN A-----\nTWFu\n-----END A-----\nbetween\n-----BEGIN B-----\nTWFu\n-----END B-----\n\ngarbage\n";
        let s = scan_pem(pem.as_bytes());
        assert_eq!(s.blocks.len(), 2);
        assert_eq!(s.blocks[1].label, "B");
        assert_eq!(s.blocks[1].line, 6);
        let codes: Vec<_> = s.findings.iter().map(|f| f.code).collect();
        assert_eq!(codes, ["trailing_garbage", "stray_text"]);

        let s = scan_pem(b"-----BEGIN A-----\nTWFu\n");
        assert!(s.blocks.is_empty());
        assert_eq!(s.findings[0].code, "trailing_garbage");

        let s = scan_pem(b"-----BEGIN A-----\nTWFu\n-----END B-----\n");
        assert!(s.blocks[0].body.is_err());
    }

    #[test]
    fn severities_order_and_exit_codes() {
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Error);
        let mut r = LintReport {
            file: "x.pem".into(),
            rows: Vec::new(),
            file_findings: Vec::new(),
            hints: None,
        };
        assert_eq!((r.worst(), r.exit_code()), (None, 0));
        r.file_findings.push(Finding {
            severity: Severity::Info,
            code: "stray_text",
            message: String::new(),
        });
        assert_eq!(r.exit_code(), 0);
        r.file_findings.push(Finding {
            severity: Severity::Error,
            code: "no_certificates",
            message: String::new(),
        });
        assert_eq!((r.worst(), r.exit_code()), (Some(Severity::Error), 2));
        assert_eq!(r.warnings().len(), 1);
    }
}
