//! The `portcullis` command: `demo`, `serve`, `check`, `import` and the operator tools.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use portcullis::config::ConfigErrors;
use portcullis::reload::Reloader;
use portcullis::server::{Gateway, RuntimeModel};
use portcullis::state::{self, Snapshot};
use portcullis::telemetry::{self, LogFormat};

/// mimalloc instead of glibc's allocator: per-thread free lists cost less per request at two
/// workers (see README, Choices); built without transparent huge pages, so idle memory stays.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        /// Workers: threads serving connections (default: one per CPU).
        #[arg(long)]
        workers: Option<usize>,
        /// With more than one worker: `per-core`, a single-threaded runtime per worker with its
        /// own SO_REUSEPORT listening sockets and upstream connections; or `shared`, one
        /// work-stealing runtime for every connection.
        #[arg(long, value_enum, default_value = "per-core")]
        runtime: RuntimeModel,
        /// Log line format.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// A local private CA: root and subordinate CAs, client and server certificates, CRLs.
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// Why would this client certificate be accepted or refused by a domain? Runs the domain's
    /// real verifier. Exit 0 accepted, 1 rejected, 2 on error.
    Explain {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The domain (SNI name) whose truststore and CRLs decide.
        #[arg(long)]
        domain: String,
        /// The client certificate (PEM leaf, optionally followed by its chain).
        client: PathBuf,
        /// Intermediate certificates the client would send.
        #[arg(long)]
        chain: Option<PathBuf>,
        /// Check at this time (RFC 3339) instead of now.
        #[arg(long)]
        at: Option<String>,
        /// Walk on with this request, `"GET /path"`: mapping, route, authorization rule.
        #[arg(long)]
        request: Option<String>,
        /// The client's address for `--request` (rules with `source_ip`); unknown without it.
        #[arg(long, requires = "request")]
        source_ip: Option<std::net::IpAddr>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Truststore tools.
    Truststore {
        #[command(subcommand)]
        command: TruststoreCommand,
    },
    /// What an API Gateway export (`aws apigateway get-export`) becomes, route by route:
    /// servable, unsupported or error. Exit 0 all servable, 1 otherwise, 2 when the file cannot
    /// be used at all.
    Import {
        /// The export: OpenAPI 3.0 or Swagger 2.0, JSON or YAML.
        file: PathBuf,
        /// Resolve the routes for this stage of the configuration's API.
        #[arg(long, requires = "config")]
        stage: Option<String>,
        /// The configuration whose stages, `vpc_links`, `open_routes` and pools apply.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Print JSON.
        #[arg(long, conflicts_with = "emit_toml")]
        json: bool,
        /// Print the equivalent `[[api.NAME.routes]]` tables instead (summary on stderr).
        #[arg(long)]
        emit_toml: bool,
    },
    /// Write an API of the configuration as an API Gateway importable definition (JSON), with
    /// an `x-amazon-apigateway-integration` for every route; notes go to stderr.
    Export {
        /// The configuration.
        #[arg(long, short)]
        config: PathBuf,
        /// The API to export.
        #[arg(long)]
        api: String,
        /// Resolve stage variables in integration URLs with this stage's values.
        #[arg(long)]
        stage: Option<String>,
        /// `oas30` (OpenAPI 3.0.1) or `swagger` (Swagger 2.0).
        #[arg(long, default_value = "oas30")]
        format: String,
    },
    /// Validate a configuration and every file it names; exit 1 with precise errors.
    Check {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Also connect to every upstream target (TCP, and TLS for https:// pools) and report
        /// reachable / refused / timeout / TLS error; exit 1 if any is not reachable.
        #[arg(long)]
        probe: bool,
    },
}

#[derive(Subcommand)]
enum TruststoreCommand {
    /// One row per certificate with findings; exit 0 clean, 1 warnings, 2 errors.
    Lint {
        /// The PEM bundle.
        file: PathBuf,
        /// Add API Gateway's rules (count, size, depth, algorithms) and wording.
        #[arg(long)]
        aws: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Build a root CA and subordinate CAs, the truststore and an empty CRL per CA.
    Init {
        /// CA directory.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// CAs in all, root included (1 to 5).
        #[arg(long, default_value_t = 2)]
        levels: u8,
        /// Key algorithm.
        #[arg(long, value_enum, default_value = "ec-p256")]
        key: portcullis::tools::pki::KeyKind,
        /// Root CA common name.
        #[arg(long, default_value = "Portcullis Root CA")]
        cn: String,
        /// Replace an existing CA in the directory.
        #[arg(long)]
        force: bool,
    },
    /// Issue a client or server certificate from the issuing CA.
    Issue {
        #[command(subcommand)]
        kind: IssueKind,
    },
    /// Revoke a certificate and rewrite its issuer's CRL.
    Revoke {
        /// CA directory.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// Serial number in hex (as `pki list` shows it).
        #[arg(long)]
        serial: String,
        /// RFC 5280 reason.
        #[arg(long, default_value = "keyCompromise")]
        reason: String,
    },
    /// List the CAs and every issued certificate.
    List {
        /// CA directory.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum IssueKind {
    /// A client certificate (clientAuth): NAME.pem (leaf + chain) and NAME.key.
    Client {
        /// CA directory.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// Common name; also the file name unless --out is given.
        #[arg(long)]
        cn: String,
        /// URI subject alternative names (e.g. spiffe://corp/inventory).
        #[arg(long = "san-uri")]
        san_uri: Vec<String>,
        /// DNS subject alternative names.
        #[arg(long = "san-dns")]
        san_dns: Vec<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Encrypt the key as PKCS#8 with the passphrase in this file.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// File name stem (default: the common name).
        #[arg(long)]
        out: Option<String>,
    },
    /// A server certificate (serverAuth).
    Server {
        /// CA directory.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// DNS names (the first is the common name and the file name unless --out is given).
        #[arg(long, required_unless_present = "ip")]
        dns: Vec<String>,
        /// IP addresses.
        #[arg(long)]
        ip: Vec<std::net::IpAddr>,
        /// Validity in days.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// File name stem.
        #[arg(long)]
        out: Option<String>,
    },
}

fn pki(cmd: PkiCommand) -> anyhow::Result<()> {
    use portcullis::tools::pki;
    let print = |files: &[PathBuf]| {
        for f in files {
            println!("wrote {}", f.display());
        }
    };
    match cmd {
        PkiCommand::Init {
            dir,
            levels,
            key,
            cn,
            force,
        } => {
            let files = pki::init(&pki::InitOptions {
                dir: dir.clone(),
                levels,
                key,
                cn,
                force,
            })?;
            print(&files);
            println!(
                "truststore for [[domain]]: truststore = \"{}\"",
                dir.join("truststore.pem").display()
            );
        }
        PkiCommand::Issue { kind } => {
            let opts = match kind {
                IssueKind::Client {
                    dir,
                    cn,
                    san_uri,
                    san_dns,
                    days,
                    passphrase_file,
                    out,
                } => pki::IssueOptions {
                    dir,
                    server: false,
                    out: out.unwrap_or_else(|| cn.clone()),
                    cn,
                    dns: san_dns,
                    ips: vec![],
                    uris: san_uri,
                    days,
                    passphrase_file,
                },
                IssueKind::Server {
                    dir,
                    dns,
                    ip,
                    days,
                    out,
                } => {
                    let cn = dns
                        .first()
                        .cloned()
                        .or_else(|| ip.first().map(|i| i.to_string()))
                        .unwrap_or_default();
                    pki::IssueOptions {
                        dir,
                        server: true,
                        out: out.unwrap_or_else(|| cn.clone()),
                        cn,
                        dns,
                        ips: ip,
                        uris: vec![],
                        days,
                        passphrase_file: None,
                    }
                }
            };
            let (files, serial) = pki::issue(&opts)?;
            print(&files);
            println!("serial {serial}");
        }
        PkiCommand::Revoke {
            dir,
            serial,
            reason,
        } => {
            let crl = pki::revoke(&dir, &serial, &reason)?;
            println!("wrote {}", crl.display());
            println!(
                "revoked {serial}; the gateway refuses it once it has reloaded (SIGHUP) or restarted with this CRL in `crls`"
            );
        }
        PkiCommand::List { dir } => print!("{}", pki::list(&dir)?),
    }
    Ok(())
}

fn export(config: &Path, api: &str, stage: Option<&str>, format: &str) -> anyhow::Result<()> {
    use portcullis::tools::export;
    let format = export::Format::parse(format).map_err(anyhow::Error::msg)?;
    let config = portcullis::config::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (definition, notes) = export::export(&config, api, stage, format)?;
    println!("{}", serde_json::to_string_pretty(&definition)?);
    for n in notes {
        eprintln!("note: {n}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { config, probe } => return check(&config, probe),
        Command::Pki { command } => pki(command),
        Command::Export {
            config,
            api,
            stage,
            format,
        } => export(&config, &api, stage.as_deref(), &format),
        Command::Import {
            file,
            stage,
            config,
            json,
            emit_toml,
        } => return import(file, stage, config, json, emit_toml),
        Command::Truststore {
            command: TruststoreCommand::Lint { file, aws, json },
        } => {
            let report = portcullis::tools::lint::lint_truststore(
                &file,
                aws,
                time::OffsetDateTime::now_utc(),
            );
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            return ExitCode::from(report.exit_code());
        }
        Command::Explain {
            config,
            domain,
            client,
            chain,
            at,
            request,
            source_ip,
            json,
        } => {
            let run = portcullis::tools::explain::parse_time(at.as_deref()).and_then(|at| {
                portcullis::tools::explain::explain(
                    &config,
                    &domain,
                    &client,
                    chain.as_deref(),
                    at,
                    request.as_deref(),
                    source_ip,
                )
            });
            return match run {
                Ok(e) => {
                    if json {
                        println!("{}", e.to_json());
                    } else {
                        print!("{}", e.to_text());
                    }
                    if e.accepted() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Serve {
            config,
            workers,
            runtime: model,
            log_format,
        } => {
            // Per-core: this thread's current-thread runtime is worker 0. The runtimes are gone
            // (every request task dropped, its line emitted; `run` joins the other workers)
            // before the access log's last write. The count comes first: the access log, the
            // metrics and the buckets keep a part per worker.
            let per_core = per_core_workers(workers, model);
            portcullis::worker::set_count(per_core.unwrap_or(1));
            telemetry::init(log_format);
            let served = runtime(per_core.map(|_| 1).or(workers))
                .and_then(|rt| rt.block_on(serve(config, per_core)));
            portcullis::access_log::finish();
            served
        }
        Command::Demo { certs, log_format } => {
            telemetry::init(log_format);
            let served = runtime(None).and_then(|rt| rt.block_on(demo(certs)));
            portcullis::access_log::finish();
            served
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

fn import(
    file: PathBuf,
    stage: Option<String>,
    config: Option<PathBuf>,
    json: bool,
    emit_toml: bool,
) -> ExitCode {
    use portcullis::tools::import::{Format, Options, run};
    let format = match (json, emit_toml) {
        (true, _) => Format::Json,
        (_, true) => Format::Toml,
        _ => Format::Text,
    };
    match run(&Options {
        file,
        stage,
        config,
        format,
    }) {
        Ok(out) => {
            print!("{}", out.stdout);
            eprint!("{}", out.stderr);
            ExitCode::from(out.code)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
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

/// How many per-core workers to start, if the model is per-core and there is more than one.
fn per_core_workers(workers: Option<usize>, model: RuntimeModel) -> Option<usize> {
    let cpus = || std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = workers.unwrap_or_else(cpus);
    (model == RuntimeModel::PerCore && n > 1).then_some(n)
}

fn print_errors(e: &ConfigErrors) {
    for err in &e.0 {
        eprintln!("error: {err}");
    }
}

fn check(path: &Path, probe: bool) -> ExitCode {
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
            if probe {
                return probe_targets(&snapshot);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_errors(&e);
            eprintln!("{}: {} error(s)", path.display(), e.0.len());
            ExitCode::FAILURE
        }
    }
}

fn probe_targets(snapshot: &Snapshot) -> ExitCode {
    let rt = match runtime(None) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let probes = rt.block_on(portcullis::tools::probe::probe_all(
        snapshot,
        portcullis::tools::probe::PROBE_TIMEOUT,
    ));
    let mut bad = 0;
    for p in &probes {
        let zone = if p.zone.is_empty() { "-" } else { &p.zone };
        let proto = if p.tls { "tls" } else { "tcp" };
        println!(
            "{:<20} {:<24} zone {:<10} {proto}  {}",
            p.pool, p.target, zone, p.outcome
        );
        if p.outcome != portcullis::tools::probe::Outcome::Reachable {
            bad += 1;
        }
    }
    println!("{} target(s) probed, {} not reachable", probes.len(), bad);
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn log_warnings(warnings: &[String]) {
    for w in warnings {
        tracing::warn!("{w}");
    }
}

async fn serve(path: PathBuf, per_core: Option<usize>) -> anyhow::Result<()> {
    let loaded = match per_core {
        Some(workers) => state::load_for_workers(&path, workers),
        None => state::load(&path, 1),
    };
    let (snapshot, warnings) = match loaded {
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
    run(snapshot, Some(path), per_core).await
}

async fn run(
    snapshot: Snapshot,
    reload_from: Option<PathBuf>,
    per_core: Option<usize>,
) -> anyhow::Result<()> {
    let admin_addr = snapshot.config.admin;
    portcullis::access_log::configure(&snapshot.config.access_log);
    let gateway = match per_core {
        Some(_) => Gateway::bind_per_core(snapshot).await?,
        None => Gateway::bind(snapshot).await?,
    };
    let reloader = reload_from.map(|path| Reloader::new(path, gateway.clone()));
    if let Some(r) = &reloader {
        tokio::spawn(r.clone().on_sighup());
        tokio::spawn(r.clone().watch_files());
    }
    if let Some(addr) = admin_addr {
        let admin = portcullis::admin::Admin::bind(addr).await?;
        tokio::spawn(admin.run(gateway.clone(), reloader.clone()));
    }
    gateway.run(portcullis::shutdown::signal()).await;
    Ok(())
}

async fn demo(certs: PathBuf) -> anyhow::Result<()> {
    let written = portcullis::tools::pki::ensure_dev_pki(&certs)?;
    for f in &written {
        println!("wrote {}", f.display());
    }
    let (listener, addr) = portcullis::tools::demo::bind_sample_service().await?;
    tokio::spawn(portcullis::tools::demo::run_sample_service(listener));
    tracing::info!(listen = %addr, "sample on-prem inventory service started");
    let path = PathBuf::from("config/demo.toml");
    let config = if path.exists() {
        portcullis::config::load(&path)
    } else {
        portcullis::config::parse(&path, portcullis::tools::demo::EMBEDDED_DEMO_CONFIG)
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
    if let Some(admin) = snapshot.config.admin {
        println!(
            "  curl http://{admin}/metrics        # Prometheus metrics (also /healthz, /readyz, /config)"
        );
    }
    println!();
    run(snapshot, None, None).await
}
