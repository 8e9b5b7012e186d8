//! Hot reload: on SIGHUP or when the configuration file or any file it names changes, build a
//! complete new snapshot off the hot path and swap it in; a reload that fails anywhere keeps
//! the current snapshot, logs the precise error and counts it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::metrics::ResultLabels;
use crate::server::Gateway;
use crate::state::Snapshot;

/// Each watched file with the SHA-256 of its contents (`None`: unreadable).
type Fingerprint = Vec<(PathBuf, Option<Vec<u8>>)>;

/// How often watched files are checked for changes.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// What the admin endpoint's `/config` reports.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReloadStatus {
    /// Generation being served.
    pub generation: u64,
    /// When it was loaded, RFC 3339.
    pub loaded_at: String,
    /// SHA-256 of the configuration file it was built from.
    pub sha256: String,
    /// The configuration file.
    pub source: String,
    /// Successful reloads since start.
    pub reloads_ok: u64,
    /// Failed reloads since start.
    pub reloads_failed: u64,
    /// The last reload error, if the last reload failed.
    pub last_error: Option<String>,
}

/// Reloads one gateway from one configuration file.
#[derive(Clone)]
pub struct Reloader {
    path: PathBuf,
    gateway: Gateway,
    status: Arc<Mutex<ReloadStatus>>,
    lock: Arc<tokio::sync::Mutex<()>>,
    /// Fingerprint of the watched files as of the last reload attempt, from any trigger, so
    /// one edit followed by SIGHUP reloads once.
    seen: Arc<Mutex<Fingerprint>>,
}

fn sha256_file(path: &Path) -> String {
    crate::file_read::read_regular(path)
        .map(|d| {
            crate::tls::identity::hex(
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &d).as_ref(),
            )
        })
        .unwrap_or_default()
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Reloader {
    /// A reloader for `gateway`, serving the configuration at `path`.
    pub fn new(path: PathBuf, gateway: Gateway) -> Reloader {
        let generation = gateway.state().load().generation;
        let status = ReloadStatus {
            generation,
            loaded_at: now_rfc3339(),
            sha256: sha256_file(&path),
            source: path.display().to_string(),
            ..Default::default()
        };
        let reloader = Reloader {
            path,
            gateway,
            status: Arc::new(Mutex::new(status)),
            lock: Arc::default(),
            seen: Arc::default(),
        };
        reloader.remember_files();
        reloader
    }

    /// A copy of the current status.
    pub fn status(&self) -> ReloadStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Validate and build the configuration again, then swap it in. On any error the current
    /// snapshot keeps serving; the error is logged, counted and returned.
    pub async fn reload(&self) -> Result<u64, String> {
        let _one_at_a_time = self.lock.lock().await;
        // What this attempt reads; the watcher compares against it.
        self.remember_files();
        let current = self.gateway.state().load_full();
        let path = self.path.clone();
        let base = current.clone();
        // Certificates, keys and truststores are read and parsed off the async workers.
        let built =
            tokio::task::spawn_blocking(move || crate::state::load_next(&path, &base)).await;
        let result = match built {
            Ok(Ok((snapshot, warnings))) => {
                for w in &warnings {
                    tracing::warn!("{w}");
                }
                self.apply(snapshot).await
            }
            Ok(Err(errors)) => Err(errors.to_string()),
            Err(e) => Err(format!("reload task failed: {e}")),
        };
        // A successful reload may name other files: watch what is now in use.
        self.remember_files();
        let metrics = self.gateway.metrics();
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(generation) => {
                metrics
                    .reloads
                    .get_or_create(&ResultLabels { result: "success" })
                    .inc();
                status.generation = *generation;
                status.loaded_at = now_rfc3339();
                status.sha256 = sha256_file(&self.path);
                status.reloads_ok += 1;
                status.last_error = None;
                crate::access_log::configure(&self.gateway.state().load().config.access_log);
                tracing::info!(generation, "configuration reloaded");
            }
            Err(e) => {
                metrics
                    .reloads
                    .get_or_create(&ResultLabels { result: "error" })
                    .inc();
                status.reloads_failed += 1;
                status.last_error = Some(e.clone());
                for line in e.lines() {
                    tracing::error!("reload failed: {line}");
                }
                tracing::error!(
                    generation = current.generation,
                    "reload failed; keeping the current configuration"
                );
            }
        }
        result
    }

    async fn apply(&self, snapshot: Snapshot) -> Result<u64, String> {
        let generation = snapshot.generation;
        self.gateway
            .apply(snapshot)
            .await
            .map(|()| generation)
            .map_err(|e| e.to_string())
    }

    /// Reload on every SIGHUP, until the process ends; each one also writes the buffered access
    /// lines and reopens the access log file (logrotate's signal), even when the reload fails.
    pub async fn on_sighup(self) {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::error!("cannot listen for SIGHUP; reload by file change only");
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP received: reloading");
            crate::access_log::reopen();
            let _ = self.reload().await;
        }
    }

    /// Reload when the configuration file or any file it names changes (checked every
    /// [`WATCH_INTERVAL`]): certificates, keys, truststores, CRLs, upstream CA bundles, API keys.
    pub async fn watch_files(self) {
        let mut tick = tokio::time::interval(WATCH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = fingerprint(&self.watched());
            let changed = *self.seen.lock().unwrap_or_else(|p| p.into_inner()) != now;
            if changed {
                // Let a writer that replaces several files finish before reading them.
                tokio::time::sleep(Duration::from_millis(200)).await;
                tracing::info!("watched files changed: reloading");
                let _ = self.reload().await;
            }
        }
    }

    fn remember_files(&self) {
        let now = fingerprint(&self.watched());
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }

    fn watched(&self) -> Vec<PathBuf> {
        let mut files = vec![self.path.clone()];
        let config = self.gateway.state().load_full().config.clone();
        for d in &config.domains {
            files.extend([
                d.certificate.clone(),
                d.private_key.clone(),
                d.truststore.clone(),
            ]);
            files.extend(d.crls.iter().cloned());
        }
        if let Some(d) = &config.default_endpoint {
            files.extend([d.certificate.clone(), d.private_key.clone()]);
        }
        for a in config.apis.values() {
            files.extend(a.openapi.iter().cloned());
        }
        for p in config.throttling.plans.values() {
            files.extend(p.api_keys_file.iter().cloned());
        }
        for u in config.upstreams.values() {
            files.extend(u.tls_ca.iter().cloned());
            files.extend(u.tls_client_certificate.iter().cloned());
            files.extend(u.tls_client_key.iter().cloned());
        }
        files
    }
}

/// A digest of each file's contents: catches edits within one second, and Kubernetes Secret
/// updates (which swap a symlink) alike. The files are small; reading them is cheap.
fn fingerprint(files: &[PathBuf]) -> Fingerprint {
    files
        .iter()
        .map(|f| {
            // Never blocks: a FIFO or device put in a file's place is an error, not a hang.
            let digest = crate::file_read::read_regular(f).ok().map(|d| {
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &d)
                    .as_ref()
                    .to_vec()
            });
            (f.clone(), digest)
        })
        .collect()
}
