//! `portcullis explain`: run a domain's real client verifier on a certificate and say why it
//! would be accepted or refused, in the same words the live handshake log uses.

use std::path::Path;

use anyhow::anyhow;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::Serialize;

use crate::tls::ClientIdentity;

/// The verdict on one client certificate.
#[derive(Debug, Serialize)]
pub struct Explanation {
    /// `ACCEPTED` or `REJECTED`.
    pub result: &'static str,
    /// The domain whose verifier ran.
    pub domain: String,
    /// When the check was made, RFC 3339.
    pub checked_at: String,
    /// Subject of the leaf.
    pub subject: Option<String>,
    /// Why it was refused.
    pub reason: Option<String>,
    /// What the upstream would receive when accepted.
    pub identity: Option<IdentityView>,
}

/// The identity an accepted client gets upstream.
#[derive(Debug, Serialize)]
pub struct IdentityView {
    /// Subject, RFC 4514.
    pub subject: String,
    /// Serial, hex.
    pub serial: String,
    /// SHA-256 of the leaf, hex.
    pub sha256: String,
    /// URI SANs.
    pub uris: Vec<String>,
    /// DNS SANs.
    pub dns: Vec<String>,
    /// The `x-forwarded-client-cert` header value.
    pub x_forwarded_client_cert: String,
}

impl Explanation {
    /// Whether the certificate would be accepted.
    pub fn accepted(&self) -> bool {
        self.result == "ACCEPTED"
    }

    /// Text for people.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{} by domain {} (checked at {})\n",
            self.result, self.domain, self.checked_at
        );
        if let Some(s) = &self.subject {
            out.push_str(&format!("  subject: {s}\n"));
        }
        if let Some(r) = &self.reason {
            out.push_str(&format!("  reason:  {r}\n"));
        }
        if let Some(i) = &self.identity {
            out.push_str(&format!(
                "  serial:  {}\n  sha256:  {}\n",
                i.serial, i.sha256
            ));
            for u in &i.uris {
                out.push_str(&format!("  uri:     {u}\n"));
            }
            for d in &i.dns {
                out.push_str(&format!("  dns:     {d}\n"));
            }
            out.push_str(&format!(
                "  upstream receives: x-forwarded-client-cert: {}\n",
                i.x_forwarded_client_cert
            ));
        }
        out
    }

    /// One JSON object.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn read_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let data = crate::file_read::read_regular(path).map_err(|e| anyhow!("cannot read {e}"))?;
    let certs = if data.starts_with(b"-----") || data.windows(11).any(|w| w == b"-----BEGIN ") {
        CertificateDer::pem_slice_iter(&data)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow!("{}: not a valid PEM file: {e}", path.display()))?
    } else {
        vec![CertificateDer::from(data)]
    };
    if certs.is_empty() {
        return Err(anyhow!("{}: no certificate found", path.display()));
    }
    Ok(certs)
}

/// Parse `--at` (RFC 3339); `None` means now.
pub fn parse_time(at: Option<&str>) -> anyhow::Result<UnixTime> {
    match at {
        None => Ok(UnixTime::now()),
        Some(s) => {
            let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|e| {
                    anyhow!("--at `{s}` is not an RFC 3339 time such as 2026-11-24T12:00:00Z: {e}")
                })?;
            let secs = u64::try_from(t.unix_timestamp())
                .map_err(|_| anyhow!("--at `{s}` is before 1970"))?;
            Ok(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                secs,
            )))
        }
    }
}

/// Explain `client` (leaf first, optionally with its chain) against `domain` of the
/// configuration at `config`, at time `at`.
pub fn explain(
    config: &Path,
    domain: &str,
    client: &Path,
    chain: Option<&Path>,
    at: UnixTime,
) -> anyhow::Result<Explanation> {
    let (snapshot, _) = crate::state::load(config, 1).map_err(|e| anyhow!("{e}"))?;
    let state = snapshot
        .listeners
        .iter()
        .flat_map(|l| l.domains.iter())
        .find(|d| d.name.eq_ignore_ascii_case(domain))
        .ok_or_else(|| {
            let names: Vec<String> = snapshot
                .listeners
                .iter()
                .flat_map(|l| l.domains.iter().map(|d| d.name.to_string()))
                .collect();
            anyhow!(
                "{}: no domain `{domain}` (it has: {})",
                config.display(),
                names.join(", ")
            )
        })?;
    let mut presented = read_chain(client)?;
    if let Some(c) = chain {
        presented.extend(read_chain(c)?);
    }
    let checked_at = time::OffsetDateTime::from_unix_timestamp(at.as_secs() as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let identity = ClientIdentity::from_der(&presented[0]);
    let subject = identity.as_ref().map(|i| i.subject.clone());
    Ok(match state.verifier.verify_chain(&presented, at) {
        Ok(()) => Explanation {
            result: "ACCEPTED",
            domain: state.name.to_string(),
            checked_at,
            subject,
            reason: None,
            identity: identity.map(|i| IdentityView {
                x_forwarded_client_cert: i.xfcc.to_str().unwrap_or_default().to_owned(),
                subject: i.subject,
                serial: i.serial,
                sha256: i.sha256,
                uris: i.uris,
                dns: i.dns,
            }),
        },
        Err(refusal) => Explanation {
            result: "REJECTED",
            domain: state.name.to_string(),
            checked_at,
            subject: refusal.subject.or(subject),
            reason: Some(refusal.reason),
            identity: None,
        },
    })
}
