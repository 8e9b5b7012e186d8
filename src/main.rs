//! The `portcullis` command: `demo`, `serve` and `check`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use portcullis::config::ConfigErrors;
use portcullis::server::Gateway;
use portcullis::state::{self, Snapshot};
use portcullis::telemetry::{self, LogFormat};

/// Portcullis: an mTLS front door for on-premise services.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Quick start: dev PKI, a sample on-prem service, and the gateway in front of it.
    Demo {
        /// Where the dev PKI lives (created when absent).
        #[arg(long, default_value = "certs")]
        certs: PathBuf,
        /// Log line format.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// Serve a configuration until SIGTERM or SIGINT; SIGHUP reloads it.
    Serve {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Runtime worker threads (default: one per CPU).
        #[arg(long)]
        workers: Option<usize>,
        /// Log line format.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// Validate a configuration and every file it names; exit 1 with precise errors.
    Check {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { config } => return check(&config),
        Command::Serve {
            config,
            workers,
            log_format,
        } => {
            telemetry::init(log_format);
            runtime(workers).and_then(|rt| rt.block_on(serve(config)))
        }
        Command::Demo { certs, log_format } => {
            telemetry::init(log_format);
            runtime(None).and_then(|rt| rt.block_on(demo(certs)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime(workers: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut b = match workers {
        Some(0) => anyhow::bail!("--workers must be at least 1"),
        // One worker: a current-thread runtime, no work-stealing overhead.
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    b.enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn print_errors(e: &ConfigErrors) {
    for err in &e.0 {
        eprintln!("error: {err}");
    }
}

fn check(path: &Path) -> ExitCode {
    match state::load(path, 1) {
        Ok((snapshot, warnings)) => {
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            let routes: usize = snapshot.config.apis.values().map(|a| a.routes.len()).sum();
            println!(
                "{}: OK ({} domain(s) on {} listener(s), {} API(s), {} route(s), {} upstream pool(s))",
                path.display(),
                snapshot.config.domains.len(),
                snapshot.listeners.len(),
                snapshot.config.apis.len(),
                routes,
                snapshot.config.upstreams.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_errors(&e);
            eprintln!("{}: {} error(s)", path.display(), e.0.len());
            ExitCode::FAILURE
        }
    }
}

fn log_warnings(warnings: &[String]) {
    for w in warnings {
        tracing::warn!("{w}");
    }
}

async fn serve(path: PathBuf) -> anyhow::Result<()> {
    let (snapshot, warnings) = match state::load(&path, 1) {
        Ok(s) => s,
        Err(e) => {
            print_errors(&e);
            anyhow::bail!(
                "{}: configuration refused ({} error(s))",
                path.display(),
                e.0.len()
            );
        }
    };
    log_warnings(&warnings);
    run(snapshot, Some(path)).await
}

async fn run(snapshot: Snapshot, reload_from: Option<PathBuf>) -> anyhow::Result<()> {
    let gateway = Gateway::bind(snapshot).await?;
    if let Some(path) = reload_from {
        tokio::spawn(reload_on_sighup(path, gateway.state()));
    }
    gateway.run(portcullis::shutdown::signal()).await;
    Ok(())
}

/// SIGHUP: validate and build a new snapshot, then swap it; a failure keeps the old one.
async fn reload_on_sighup(path: PathBuf, state: portcullis::state::SharedSnapshot) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        let current = state.load_full();
        let next = current.generation + 1;
        match state::load(&path, next) {
            Ok((snapshot, warnings)) => {
                let old: Vec<_> = current.listeners.iter().map(|l| l.addr).collect();
                let new: Vec<_> = snapshot.listeners.iter().map(|l| l.addr).collect();
                if old != new {
                    tracing::error!(
                        "reload refused: listen addresses changed ({old:?} -> {new:?}); restart to rebind; keeping generation {}",
                        current.generation
                    );
                    continue;
                }
                log_warnings(&warnings);
                state.store(std::sync::Arc::new(snapshot));
                tracing::info!(generation = next, "configuration reloaded");
            }
            Err(e) => {
                for err in &e.0 {
                    tracing::error!("reload failed: {err}");
                }
                tracing::error!(
                    generation = current.generation,
                    "reload failed; keeping the current configuration"
                );
            }
        }
    }
}

async fn demo(certs: PathBuf) -> anyhow::Result<()> {
    let written = portcullis::pki::ensure_dev_pki(&certs)?;
    for f in &written {
        println!("wrote {}", f.display());
    }
    let (listener, addr) = portcullis::demo::bind_sample_service().await?;
    tokio::spawn(portcullis::demo::run_sample_service(listener));
    tracing::info!(listen = %addr, "sample on-prem inventory service started");
    let path = PathBuf::from("config/demo.toml");
    let config = if path.exists() {
        portcullis::config::load(&path)
    } else {
        portcullis::config::parse(&path, portcullis::demo::EMBEDDED_DEMO_CONFIG)
    };
    let built = config.and_then(|c| Snapshot::build(c, 1));
    let (snapshot, warnings) = match built {
        Ok(s) => s,
        Err(e) => {
            print_errors(&e);
            anyhow::bail!("the demo configuration was refused");
        }
    };
    log_warnings(&warnings);
    let listen = snapshot.listeners[0].addr;
    println!();
    println!(
        "Portcullis demo: https://localhost:{} -> http://{addr}",
        listen.port()
    );
    println!("Try it (Ctrl-C stops everything):");
    println!(
        "  curl --cert {c}/client.pem --key {c}/client.key --cacert {c}/root-ca.pem https://localhost:{p}/inventory",
        c = certs.display(),
        p = listen.port()
    );
    println!();
    run(snapshot, None).await
}
