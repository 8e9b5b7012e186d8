//! `portcullis explain`: run a domain's real client verifier on a certificate and say why it
//! would be accepted or refused, in the same words the live handshake log uses; with
//! `--request`, walk on through the mapping, the route and its authorization rule set.

use std::net::IpAddr;
use std::path::Path;

use rustls_pki_types::UnixTime;
use serde::Serialize;

use crate::authz;
use crate::config::ConfigErrors;
use crate::state::DomainState;
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
    /// `--request` is not `METHOD /path`.
    #[error("--request `{0}` is not a method and a path such as \"GET /inventory\"")]
    Request(String),
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
    /// The request's way past the handshake, when `--request` asked for one.
    pub request: Option<RequestView>,
}

/// One request's way after the handshake: mapping, route, and the authorization verdict.
#[derive(Debug, Serialize)]
pub struct RequestView {
    /// `GET /inventory`.
    pub request: String,
    /// `ALLOWED`, `REFUSED` or `NO_ROUTE`.
    pub verdict: &'static str,
    /// The API and stage the path maps to.
    pub api: Option<String>,
    /// The stage.
    pub stage: Option<String>,
    /// The matched route, such as `GET /inventory`.
    pub route: Option<String>,
    /// The deciding rule set, when one applies.
    pub rule_set: Option<String>,
    /// Where it was named: `route`, `stage` or `domain`.
    pub named_by: Option<&'static str>,
    /// The deciding rule, such as `partners.deny[0]`.
    pub rule: Option<String>,
    /// Why, in the access log's words.
    pub reason: String,
    /// The client address the rules were judged for (`--source-ip`).
    pub source_ip: Option<String>,
    /// What an unknown address did to the verdict, when the deciding rule set has
    /// `source_ip` rules and no `--source-ip` was given.
    pub note: Option<String>,
}

impl RequestView {
    /// Whether the request would reach its integration.
    pub fn allowed(&self) -> bool {
        self.verdict == "ALLOWED"
    }
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
    /// The `x-forwarded-client-cert` header value (empty when the domain sends none).
    pub x_forwarded_client_cert: String,
    /// The identity headers the domain sends upstream (routes may choose others).
    pub identity_headers: Vec<&'static str>,
}

impl Explanation {
    /// Whether the certificate would be accepted, and the request (if any) allowed.
    pub fn accepted(&self) -> bool {
        self.result == "ACCEPTED" && self.request.as_ref().is_none_or(RequestView::allowed)
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
            if !i.x_forwarded_client_cert.is_empty() {
                out.push_str(&format!(
                    "  upstream receives: x-forwarded-client-cert: {}\n",
                    i.x_forwarded_client_cert
                ));
            }
            let rfc9440: Vec<&str> = i
                .identity_headers
                .iter()
                .copied()
                .filter(|h| h.starts_with("client-cert"))
                .collect();
            if !rfc9440.is_empty() {
                out.push_str(&format!(
                    "  upstream receives: {} (RFC 9440)\n",
                    rfc9440.join(", ")
                ));
            }
        }
        if let Some(r) = &self.request {
            out.push_str(&format!("request {}: {}\n", r.request, r.verdict));
            if let (Some(api), Some(stage)) = (&r.api, &r.stage) {
                out.push_str(&format!("  mapping: api {api}, stage {stage}\n"));
            }
            if let Some(route) = &r.route {
                out.push_str(&format!("  route:   {route}\n"));
            }
            if let (Some(set), Some(by)) = (&r.rule_set, r.named_by) {
                out.push_str(&format!("  rule set: {set} (named by the {by})\n"));
            }
            if let Some(rule) = r.rule.as_ref().filter(|r| !r.is_empty()) {
                out.push_str(&format!("  rule:    {rule}\n"));
            }
            if let Some(ip) = &r.source_ip {
                out.push_str(&format!("  source:  {ip}\n"));
            }
            if let Some(note) = &r.note {
                out.push_str(&format!("  note:    {note}\n"));
            }
            out.push_str(&format!("  reason:  {}\n", r.reason));
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

/// The way of `request` (`GET /path`) on `domain` for a client with `identity` calling from
/// `source`: the mapping, the route, and the authorization verdict in the access log's words.
fn walk_request(
    domain: &DomainState,
    identity: &ClientIdentity,
    source: Option<IpAddr>,
    request: &str,
) -> Result<RequestView, ExplainError> {
    let bad = || ExplainError::Request(request.to_owned());
    let (method, target) = request.trim().split_once(' ').ok_or_else(bad)?;
    let method = http::Method::from_bytes(method.as_bytes()).map_err(|_| bad())?;
    let target = target.trim();
    if !target.starts_with('/') {
        return Err(bad());
    }
    let path = target.split('?').next().unwrap_or(target);
    let mut view = RequestView {
        request: format!("{method} {target}"),
        verdict: "NO_ROUTE",
        api: None,
        stage: None,
        route: None,
        rule_set: None,
        named_by: None,
        rule: None,
        reason: String::new(),
        source_ip: source.map(|ip| ip.to_string()),
        note: None,
    };
    let (stage_target, rest) = match domain.routes.map(path, None, &http::HeaderMap::new()) {
        Ok(found) => found,
        Err(e) => {
            view.reason = format!("{e}: no API mapping of the domain covers the path");
            return Ok(view);
        }
    };
    view.api = Some(stage_target.api.to_string());
    view.stage = Some(stage_target.stage.to_string());
    let Some(matched) = stage_target.router.at(&method, rest) else {
        view.reason = format!("no route of the stage matches {method} {rest}");
        return Ok(view);
    };
    view.route = Some(stage_target.router.name(matched.index).to_string());
    let domain_rules = domain.authorization.as_ref();
    if let Some((set, level)) = authz::effective(domain_rules, stage_target, matched.index) {
        view.rule_set = Some(set.name.to_string());
        view.named_by = Some(level.as_str());
        let mut rules = set.allow.iter().flatten().chain(&set.deny);
        if source.is_none() && rules.any(|r| !r.source_ip.is_empty()) {
            view.note = Some(
                "the client's address is unknown (give --source-ip): rules with source_ip \
                 allow nothing, and deny as their other fields say"
                    .into(),
            );
        }
    }
    let caller = authz::Caller {
        source,
        ..authz::Caller::new(identity)
    };
    let verdict = authz::decide(&caller, domain_rules, stage_target, matched.index);
    view.verdict = if verdict.is_allowed() {
        "ALLOWED"
    } else {
        "REFUSED"
    };
    view.rule = Some(verdict.rule());
    view.reason = verdict.reason();
    Ok(view)
}

/// Explain `client` (leaf first, optionally with its chain) against `domain` of the
/// configuration at `config`, at time `at`; with `request`, the request's way past the
/// handshake too, for a client calling from `source` (unknown when `None`).
pub fn explain(
    config: &Path,
    domain: &str,
    client: &Path,
    chain: Option<&Path>,
    at: UnixTime,
    request: Option<&str>,
    source: Option<IpAddr>,
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
    let verifier = state
        .verifier
        .as_ref()
        .ok_or_else(|| ExplainError::UnknownDomain {
            config: config.display().to_string(),
            domain: domain.to_owned(),
            known: String::new(),
        })?;
    let choice = state.identity_headers;
    let identity = ClientIdentity::from_der(&presented[0]).map(|mut i| {
        i.issuer_sha256 = verifier.issuer_sha256(&presented);
        if let Some(elements) = choice.xfcc {
            let chain: Vec<std::sync::Arc<[u8]>> = presented
                .iter()
                .map(|c| std::sync::Arc::from(c.as_ref()))
                .collect();
            i.set_xfcc(elements, Some(&chain), &state.server_uris);
        }
        i
    });
    let subject = identity.as_ref().map(|i| i.subject.clone());
    Ok(match verifier.verify_chain(&presented, at) {
        Ok(()) => Explanation {
            result: "ACCEPTED",
            domain: state.name.to_string(),
            checked_at,
            subject,
            reason: None,
            request: match (request, &identity) {
                (Some(r), Some(i)) => Some(walk_request(state, i, source, r)?),
                _ => None,
            },
            identity: identity.map(|i| IdentityView {
                x_forwarded_client_cert: match choice.xfcc {
                    Some(_) => i.xfcc.to_str().unwrap_or_default().to_owned(),
                    None => String::new(),
                },
                identity_headers: choice.names(),
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
            request: None,
        },
    })
}
