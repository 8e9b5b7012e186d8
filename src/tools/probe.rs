//! `check --probe`: connect to every target of every pool and say whether it answers — the
//! "ping the on-prem servers from the VPC" step of a migration.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::state::Snapshot;

/// How long each probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// TCP (and TLS, for pools used over `https://`) connected.
    Reachable,
    /// The connection was refused.
    Refused,
    /// No answer within the timeout.
    Timeout,
    /// TCP connected but the TLS handshake failed.
    TlsError(String),
    /// Anything else (name resolution, unreachable network).
    Error(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Reachable => f.write_str("reachable"),
            Outcome::Refused => f.write_str("refused"),
            Outcome::Timeout => f.write_str("timeout"),
            Outcome::TlsError(e) => write!(f, "TLS error: {e}"),
            Outcome::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// One target's result.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Pool name.
    pub pool: String,
    /// `host:port`.
    pub target: String,
    /// Zone label.
    pub zone: String,
    /// Whether TLS was checked too.
    pub tls: bool,
    /// The result.
    pub outcome: Outcome,
}

/// Probe every target of every pool of `snapshot` concurrently.
pub async fn probe_all(snapshot: &Snapshot, timeout: Duration) -> Vec<Probe> {
    let mut tasks = Vec::new();
    for (name, pool) in snapshot.upstreams.pools() {
        let tls = pool.https;
        for t in &pool.targets {
            let pool = pool.clone();
            let name = name.clone();
            let authority = t.authority.clone();
            let zone = t.zone.to_string();
            tasks.push(tokio::spawn(async move {
                let outcome = tokio::time::timeout(timeout, probe_one(&pool, &authority, tls))
                    .await
                    .unwrap_or(Outcome::Timeout);
                Probe {
                    pool: name,
                    target: authority.to_string(),
                    zone,
                    tls,
                    outcome,
                }
            }));
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        if let Ok(p) = t.await {
            out.push(p);
        }
    }
    out.sort_by(|a, b| (&a.pool, &a.target).cmp(&(&b.pool, &b.target)));
    out
}

async fn probe_one(
    pool: &crate::upstream::Pool,
    authority: &http::uri::Authority,
    tls: bool,
) -> Outcome {
    let tcp = match TcpStream::connect(authority.as_str()).await {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Outcome::Refused,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Outcome::Timeout,
        Err(e) => return Outcome::Error(e.to_string()),
    };
    if !tls {
        return Outcome::Reachable;
    }
    let name = pool
        .server_name
        .clone()
        .unwrap_or_else(|| authority.host().trim_matches(['[', ']']).to_owned());
    match crate::tls::client::handshake(Arc::clone(&pool.tls), &name, tcp).await {
        Ok(()) => Outcome::Reachable,
        Err(e) => Outcome::TlsError(e),
    }
}
