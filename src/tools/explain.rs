//! `portcullis explain`: run a domain's real client verifier on a certificate and say why it
//! would be accepted or refused, in the same words the live handshake log uses.

use std::path::Path;

use rustls_pki_types::UnixTime;
use serde::Serialize;

use crate::config::ConfigErrors;
use crate::tls::ClientIdentity;
use crate::tls::files::load_client_chain;

/// Why `explain` could not give a verdict (exit 2), as opposed to a refusal (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The configuration does not load.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// No such domain in the configuration.
    #[error("{config}: no domain `{domain}` (it has: {known})")]
    UnknownDomain {
        /// The configuration file.
        config: String,
        /// The domain asked for.
        domain: String,
        /// The domains it has, comma-separated.
        known: String,
    },
    /// A certificate file cannot be read or holds no certificate.
    #[error("{0}")]
    Certificate(#[from] crate::tls::files::FileError),
    /// `--at` is not a usable time.
    #[error("--at `{at}` {why}")]
    Time {
        /// The value given.
        at: String,
        /// What is wrong with it.
        why: String,
    },
}

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

/// Parse `--at` (RFC 3339); `None` means now.
pub fn parse_time(at: Option<&str>) -> Result<UnixTime, ExplainError> {
    match at {
        None => Ok(UnixTime::now()),
        Some(s) => {
            let bad = |why: String| ExplainError::Time {
                at: s.to_owned(),
                why,
            };
            let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|e| {
                    bad(format!(
                        "is not an RFC 3339 time such as 2026-11-24T12:00:00Z: {e}"
                    ))
                })?;
            let secs =
                u64::try_from(t.unix_timestamp()).map_err(|_| bad("is before 1970".to_owned()))?;
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
) -> Result<Explanation, ExplainError> {
    let (snapshot, _) = crate::state::load(config, 1)?;
    let state = snapshot
        .listeners
        .iter()
        .flat_map(|l| l.domains.iter())
        .filter(|d| d.verifier.is_some())
        .find(|d| d.name.eq_ignore_ascii_case(domain))
        .ok_or_else(|| {
            let names: Vec<String> = snapshot
                .listeners
                .iter()
                .flat_map(|l| l.domains.iter())
                .filter(|d| d.verifier.is_some())
                .map(|d| d.name.to_string())
                .collect();
            ExplainError::UnknownDomain {
                config: config.display().to_string(),
                domain: domain.to_owned(),
                known: names.join(", "),
            }
        })?;
    let mut presented = load_client_chain(client)?;
    if let Some(c) = chain {
        presented.extend(load_client_chain(c)?);
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
    let verifier = state
        .verifier
        .as_ref()
        .ok_or_else(|| ExplainError::UnknownDomain {
            config: config.display().to_string(),
            domain: domain.to_owned(),
            known: String::new(),
        })?;
    Ok(match verifier.verify_chain(&presented, at) {
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
