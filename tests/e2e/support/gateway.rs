//! The gateway in process, with reloader and admin endpoint: most tests need no child process.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{eventually, http_get};

/// A running in-process gateway with its reloader and admin endpoint; dropping it stops both.
pub struct Gateway {
    /// The gateway (clones drive the same one).
    pub gw: portcullis::server::Gateway,
    /// Its reloader, reading `config`.
    pub reloader: portcullis::reload::Reloader,
    /// Every listener's address.
    pub addrs: Vec<SocketAddr>,
    /// Admin endpoint.
    pub admin: SocketAddr,
    /// The configuration file.
    pub config: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The `run` task; it ends when the drain is over.
    pub done: Option<tokio::task::JoinHandle<()>>,
    admin_task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Gateway {
    /// Start from configuration text; panics with the configuration errors if refused.
    pub async fn start(config: &str) -> Gateway {
        Self::try_start(config)
            .await
            .unwrap_or_else(|e| panic!("gateway refused config:\n{e}"))
    }

    /// Start on `workers` per-core workers: the test's runtime is worker 0, the others run on
    /// threads of their own; panics with the configuration errors if refused.
    pub async fn start_per_core(config: &str, workers: usize) -> Gateway {
        Self::try_start_on(config, Some(workers))
            .await
            .unwrap_or_else(|e| panic!("gateway refused config:\n{e}"))
    }

    /// Load, bind, run and serve the admin endpoint, ready; or the errors that refused the config.
    pub async fn try_start(config: &str) -> Result<Gateway, String> {
        Self::try_start_on(config, None).await
    }

    /// [`Gateway::try_start`] on the test's runtime, or on `per_core` per-core workers.
    async fn try_start_on(config: &str, per_core: Option<usize>) -> Result<Gateway, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, config).unwrap();
        let gw = match per_core {
            None => {
                let (snapshot, _) = portcullis::state::load(&path, 1).map_err(|e| e.to_string())?;
                portcullis::server::Gateway::bind(snapshot).await
            }
            Some(n) => {
                let (snapshot, _) =
                    portcullis::state::load_for_workers(&path, n).map_err(|e| e.to_string())?;
                portcullis::server::Gateway::bind_per_core(snapshot).await
            }
        }
        .map_err(|e| e.to_string())?;
        let addrs = gw.local_addrs();
        let reloader = portcullis::reload::Reloader::new(path.clone(), gw.clone());
        let admin = portcullis::admin::Admin::bind("127.0.0.1:0".parse().unwrap())
            .await
            .map_err(|e| e.to_string())?;
        let admin_addr = admin.local_addr().unwrap();
        let admin_task = tokio::spawn(admin.run(gw.clone(), Some(reloader.clone())));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let g = gw.clone();
        let done = tokio::spawn(async move {
            g.run(async move {
                let _ = rx.await;
            })
            .await
        });
        // `run` marks the gateway ready once its listeners accept.
        let g = gw.clone();
        assert!(
            eventually(|| g.is_ready()).await,
            "the gateway never got ready"
        );
        Ok(Gateway {
            gw,
            reloader,
            addrs,
            admin: admin_addr,
            config: path,
            stop: Some(tx),
            done: Some(done),
            admin_task,
            _dir: dir,
        })
    }

    /// The first listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Begin the graceful shutdown.
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// `GET path` on the admin endpoint, panicking on transport errors.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin, path)
            .await
            .unwrap_or_else(|e| panic!("admin GET {path}: {e}"))
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let (status, body) = self.admin_get("/metrics").await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The `/config` JSON.
    pub async fn config_json(&self) -> serde_json::Value {
        let (status, body) = self.admin_get("/config").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("/config is not JSON ({e}): {body}"))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shutdown();
        self.admin_task.abort();
        if let Some(d) = self.done.take() {
            d.abort();
        }
    }
}
