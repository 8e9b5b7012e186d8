//! Load generator and helpers for the end-to-end Portcullis vs NGINX benchmark.
//!
//! One binary, three subcommands (see `benches/README.md` and `benches/run.sh`):
//! - `pki`: writes an ECDSA P-256 root -> intermediate -> leaf PKI for the run;
//! - `upstream`: a single-threaded plain HTTP/1.1 backend (`/rest-service/small|large`);
//! - `load`: an mTLS HTTP/1.1 load generator (`keepalive`, `handshake`, `idle` modes)
//!   that can also sample the proxy's CPU time and RSS from `/proc` exactly at the
//!   edges of the measured window.
//!
//! Everything runs on a `current_thread` tokio runtime so the client stays cheap.

use std::fs;
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use bytes::Bytes;
use clap::{Parser, Subcommand, ValueEnum};
use http::{Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1 as client_h1;
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, date_time_ymd,
};
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

#[path = "loadgen/records.rs"]
mod records;

/// Command line of the bench binary.
#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Portcullis benchmark helpers (PKI, upstream, load)"
)]
struct Cli {
    /// What to run.
    #[command(subcommand)]
    cmd: Cmd,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
enum Cmd {
    /// Generate root CA -> intermediate CA -> server + client certificates (ECDSA P-256).
    Pki {
        /// Output directory (created if missing).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Run the plain HTTP/1.1 upstream on a current_thread runtime.
    Upstream {
        /// Address to listen on, e.g. 127.0.0.1:18080.
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Generate mTLS HTTP/1.1 load against a proxy.
    Load(Box<LoadArgs>),
}

/// Load shapes.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// N persistent connections, requests back to back.
    Keepalive,
    /// N workers, each: connect, full mTLS handshake, one request, close.
    Handshake,
    /// Open N connections (one request each), then hold them idle.
    Idle,
}

/// How the load generator handles its side of a connection.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ClientKind {
    /// hyper over tokio-rustls: every response decrypted and parsed in full.
    Hyper,
    /// Keepalive mode only: rustls for the handshake, then this binary's own TLS 1.3 record
    /// layer: response heads decrypted and parsed, body records read and counted but not
    /// decrypted (`records.rs`), so that a large body costs the load side little.
    Records,
}

/// Key-exchange groups offered by the client.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Kx {
    /// X25519 only: the same ECDHE work for rustls and OpenSSL servers.
    X25519,
    /// The aws-lc-rs provider default (X25519MLKEM768 first).
    Default,
}

/// Arguments of `load`.
#[derive(clap::Args, Debug)]
struct LoadArgs {
    /// Target, e.g. https://127.0.0.1:8443/small.
    #[arg(long)]
    url: String,
    /// PEM file with the CA(s) that sign the server chain.
    #[arg(long)]
    cacert: PathBuf,
    /// PEM client certificate chain (leaf first).
    #[arg(long)]
    cert: PathBuf,
    /// PEM client private key.
    #[arg(long)]
    key: PathBuf,
    /// Load shape.
    #[arg(long, value_enum)]
    mode: Mode,
    /// Connections (keepalive, idle) or concurrent workers (handshake).
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Measured window in seconds (idle: how long to hold the connections).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before the measured window starts.
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// TLS server name to send and verify.
    #[arg(long, default_value = "localhost")]
    sni: String,
    /// Print one JSON object line instead of text.
    #[arg(long)]
    json: bool,
    /// Scenario label copied into the output.
    #[arg(long, default_value = "")]
    label: String,
    /// Proxy PIDs whose CPU time (utime+stime) and VmRSS are sampled at the window edges.
    #[arg(long, value_delimiter = ',')]
    proxy_pids: Vec<u32>,
    /// Upstream PID, to tell its CPU share apart from other processes'.
    #[arg(long)]
    upstream_pid: Option<u32>,
    /// Clock ticks per second for /proc/PID/stat (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
    /// Key-exchange groups to offer.
    #[arg(long, value_enum, default_value_t = Kx::X25519)]
    kx: Kx,
    /// Bound on TCP connect and on the TLS handshake, each (ms).
    #[arg(long, default_value_t = 5000)]
    connect_timeout_ms: u64,
    /// Bound on one request including its full body (ms).
    #[arg(long, default_value_t = 10000)]
    request_timeout_ms: u64,
    /// Idle mode: how many connections are being opened at once.
    #[arg(long, default_value_t = 32)]
    open_concurrency: usize,
    /// The client side: `hyper`, or `records` (keepalive mode; bodies counted, not decrypted).
    #[arg(long, value_enum, default_value_t = ClientKind::Hyper)]
    client: ClientKind,
}

fn main() -> Result<()> {
    // `cargo bench` runs harness=false benches with `--bench`: this binary is driven by run.sh.
    let first = std::env::args().nth(1);
    if first.is_none() || first.as_deref() == Some("--bench") {
        eprintln!("loadgen: nothing to do under `cargo bench`; run `bash benches/run.sh`");
        return Ok(());
    }
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cli.cmd {
        Cmd::Pki { dir } => write_pki(&dir),
        Cmd::Upstream { listen } => rt.block_on(run_upstream(listen)),
        Cmd::Load(args) => rt.block_on(run_load(*args)),
    }
}

// ---------------------------------------------------------------- PKI

/// Writes the benchmark PKI into `dir`.
fn write_pki(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let alg = &PKCS_ECDSA_P256_SHA256;

    let mut root_params = CertificateParams::new(Vec::<String>::new())?;
    root_params
        .distinguished_name
        .push(DnType::CommonName, "Portcullis Bench Root CA");
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut root_params);
    let root_key = KeyPair::generate_for(alg)?;
    let root_cert = root_params.self_signed(&root_key)?;
    let root = Issuer::new(root_params, root_key);

    let mut int_params = CertificateParams::new(Vec::<String>::new())?;
    int_params
        .distinguished_name
        .push(DnType::CommonName, "Portcullis Bench Intermediate CA");
    int_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    int_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    int_params.use_authority_key_identifier_extension = true;
    set_validity(&mut int_params);
    let int_key = KeyPair::generate_for(alg)?;
    let int_cert = int_params.signed_by(&int_key, &root)?;
    let intermediate = Issuer::new(int_params, int_key);

    let mut srv_params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
    srv_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    srv_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    srv_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    srv_params.use_authority_key_identifier_extension = true;
    set_validity(&mut srv_params);
    let srv_key = KeyPair::generate_for(alg)?;
    let srv_cert = srv_params.signed_by(&srv_key, &intermediate)?;

    let mut cli_params = CertificateParams::new(Vec::<String>::new())?;
    cli_params
        .distinguished_name
        .push(DnType::CommonName, "bench-client");
    cli_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    cli_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    cli_params.use_authority_key_identifier_extension = true;
    set_validity(&mut cli_params);
    let cli_key = KeyPair::generate_for(alg)?;
    let cli_cert = cli_params.signed_by(&cli_key, &intermediate)?;

    let int_pem = int_cert.pem();
    let root_pem = root_cert.pem();
    write_file(dir, "root-ca.pem", &root_pem, 0o644)?;
    write_file(
        dir,
        "truststore.pem",
        &format!("{int_pem}{root_pem}"),
        0o644,
    )?;
    write_file(
        dir,
        "server.pem",
        &format!("{}{int_pem}", srv_cert.pem()),
        0o644,
    )?;
    write_file(dir, "server.key", &srv_key.serialize_pem(), 0o600)?;
    write_file(
        dir,
        "client.pem",
        &format!("{}{int_pem}", cli_cert.pem()),
        0o644,
    )?;
    write_file(dir, "client.key", &cli_key.serialize_pem(), 0o600)?;
    eprintln!(
        "pki: wrote root-ca.pem truststore.pem server.pem server.key client.pem client.key to {}",
        dir.display()
    );
    Ok(())
}

/// Gives a certificate a fixed, comfortably wide validity period.
fn set_validity(params: &mut CertificateParams) {
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2099, 12, 31);
}

/// Writes `contents` to `dir/name` with the given permissions.
fn write_file(dir: &Path, name: &str, contents: &str, mode: u32) -> Result<()> {
    let path = dir.join(name);
    fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
    Ok(())
}

// ---------------------------------------------------------------- upstream

/// Size of the `/rest-service/small` body.
const SMALL_BODY_LEN: usize = 100;
/// Size of the `/rest-service/large` body.
const LARGE_BODY_LEN: usize = 1 << 20;

/// Serves `/rest-service/small` and `/rest-service/large` over plain HTTP/1.1 keep-alive.
async fn run_upstream(listen: SocketAddr) -> Result<()> {
    let mut small = br#"{"service":"rest-service","item":"small","ok":true,"pad":""#.to_vec();
    small.resize(SMALL_BODY_LEN - 2, b'x');
    small.extend_from_slice(b"\"}");
    let small = Bytes::from(small);
    let large = Bytes::from(vec![b'L'; LARGE_BODY_LEN]);
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    eprintln!("upstream: listening on {listen}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("upstream: accept: {e}");
                sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (small, large) = (small.clone(), large.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let body = match req.uri().path() {
                    "/rest-service/small" => Some(small.clone()),
                    "/rest-service/large" => Some(large.clone()),
                    _ => None,
                };
                async move {
                    match body {
                        Some(b) => Response::builder()
                            .header(header::CONTENT_TYPE, "application/json")
                            .body(Full::new(b)),
                        None => Response::builder()
                            .status(StatusCode::NOT_FOUND)
                            .body(Full::new(Bytes::from_static(b"not found\n"))),
                    }
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

// ---------------------------------------------------------------- load

/// Everything a worker needs, shared read-only.
struct Ctx {
    /// Where to connect.
    addr: SocketAddr,
    /// The TLS client.
    connector: TlsConnector,
    /// SNI / verified name.
    server_name: ServerName<'static>,
    /// Request path and query.
    path: String,
    /// Host header value.
    host: String,
    /// Start of the measured window.
    warm_end: Instant,
    /// End of the measured window.
    end: Instant,
    /// Bound on connect and on the handshake.
    connect_timeout: Duration,
    /// Bound on one request with its body.
    request_timeout: Duration,
    /// Negotiated protocol, cipher suite and key exchange of the first connection.
    negotiated: Arc<OnceLock<String>>,
    /// The client side.
    client: ClientKind,
}

/// An established HTTP/1.1-over-mTLS connection.
struct Conn {
    /// Request sender.
    sender: client_h1::SendRequest<Empty<Bytes>>,
    /// The task driving the connection.
    task: JoinHandle<()>,
}

/// Bytes a client connection reads from its socket at once, under TLS.
const READ_BUFFER: usize = 64 * 1024;

impl Ctx {
    /// TCP connect + TLS handshake + HTTP/1.1 handshake, each bounded.
    async fn connect(&self) -> Result<Conn> {
        // rustls asks the socket for one record at a time; buffered, a 1 MiB body takes a
        // handful of reads instead of 64, so the client is not what bounds (c)'s throughput.
        let tls = self
            .handshake(|tcp| tokio::io::BufReader::with_capacity(READ_BUFFER, tcp))
            .await?;
        let (sender, conn) = client_h1::handshake(TokioIo::new(tls)).await?;
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { sender, task })
    }

    /// TCP connect + TLS handshake, each bounded, over the socket as `wrap` wraps it; the
    /// first connection's negotiated parameters are kept for the report.
    async fn handshake<IO>(&self, wrap: impl FnOnce(TcpStream) -> IO) -> Result<TlsStream<IO>>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let tcp = timeout(self.connect_timeout, TcpStream::connect(self.addr))
            .await
            .map_err(|_| anyhow!("connect timeout"))??;
        tcp.set_nodelay(true)?;
        let tls: TlsStream<IO> = timeout(
            self.connect_timeout,
            self.connector.connect(self.server_name.clone(), wrap(tcp)),
        )
        .await
        .map_err(|_| anyhow!("handshake timeout"))??;
        if self.negotiated.get().is_none() {
            let c = tls.get_ref().1;
            let show = |v: Option<String>| v.unwrap_or_else(|| "?".to_owned());
            let _ = self.negotiated.set(format!(
                "{}/{}/{}",
                show(c.protocol_version().map(|v| format!("{v:?}"))),
                show(
                    c.negotiated_cipher_suite()
                        .map(|s| format!("{:?}", s.suite()))
                ),
                show(
                    c.negotiated_key_exchange_group()
                        .map(|g| format!("{:?}", g.name()))
                )
            ));
        }
        Ok(tls)
    }

    /// Sends one GET and reads the whole body; returns the body length.
    async fn request(&self, conn: &mut Conn) -> Result<u64> {
        let fut = async {
            conn.sender.ready().await?;
            let req = Request::get(self.path.as_str())
                .header(header::HOST, self.host.as_str())
                .body(Empty::<Bytes>::new())?;
            let resp = conn.sender.send_request(req).await?;
            let status = resp.status();
            let mut body = resp.into_body();
            let mut n = 0u64;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame?.into_data() {
                    n += data.len() as u64;
                }
            }
            if !status.is_success() {
                bail!("status {status}");
            }
            Ok(n)
        };
        timeout(self.request_timeout, fut)
            .await
            .map_err(|_| anyhow!("request timeout"))?
    }
}

/// Log-linear latency histogram in microseconds (< 0.8 % relative error).
#[derive(Clone)]
struct Histogram {
    /// Bucket counts.
    counts: Vec<u64>,
    /// Number of samples.
    total: u64,
    /// Largest sample.
    max: u64,
}

/// Sub-bucket bits: 128 linear sub-buckets per power of two.
const SUB_BITS: u32 = 7;
/// Sub-buckets per power of two.
const SUB: u64 = 1 << SUB_BITS;

impl Histogram {
    /// An empty histogram covering up to 2^40 µs.
    fn new() -> Self {
        Histogram {
            counts: vec![0; (SUB + 34 * SUB) as usize],
            total: 0,
            max: 0,
        }
    }

    /// Bucket index of `v`.
    fn index(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros();
        let shift = msb - SUB_BITS;
        (SUB + u64::from(shift) * SUB + ((v >> shift) - SUB)) as usize
    }

    /// Midpoint value of bucket `i`.
    fn value(i: usize) -> u64 {
        let i = i as u64;
        if i < SUB {
            return i;
        }
        let shift = (i - SUB) / SUB;
        let m = (i - SUB) % SUB + SUB;
        (m << shift) + ((1u64 << shift) >> 1)
    }

    /// Adds a sample.
    fn record(&mut self, us: u64) {
        let i = Self::index(us).min(self.counts.len() - 1);
        self.counts[i] += 1;
        self.total += 1;
        self.max = self.max.max(us);
    }

    /// Adds all samples of `other`.
    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Value at quantile `q` in [0, 1].
    fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }
}

/// What one worker saw inside the measured window.
struct Stats {
    /// Completed requests inside the measured window.
    requests: u64,
    /// Completed requests at any time (warm-up and tail included): what the proxy's access log
    /// should hold one line for.
    requests_total: u64,
    /// Failed connects, handshakes or requests.
    errors: u64,
    /// Response body bytes.
    bytes: u64,
    /// Request latencies.
    hist: Histogram,
    /// Last error message, for the log.
    last_error: Option<String>,
}

impl Stats {
    /// Empty stats.
    fn new() -> Self {
        Stats {
            requests: 0,
            requests_total: 0,
            errors: 0,
            bytes: 0,
            hist: Histogram::new(),
            last_error: None,
        }
    }

    /// Records a request that started at `t0` and just completed with `n` bytes.
    fn ok(&mut self, ctx: &Ctx, t0: Instant, n: u64) {
        self.requests_total += 1;
        let now = Instant::now();
        if now >= ctx.warm_end && now <= ctx.end {
            self.requests += 1;
            self.bytes += n;
            self.hist.record((now - t0).as_micros() as u64);
        }
    }

    /// Records a failure.
    fn err(&mut self, ctx: &Ctx, e: anyhow::Error) {
        let now = Instant::now();
        if now >= ctx.warm_end && now <= ctx.end {
            self.errors += 1;
        }
        self.last_error = Some(format!("{e:#}"));
    }

    /// Adds `other` into `self`.
    fn merge(&mut self, other: Stats) {
        self.requests += other.requests;
        self.requests_total += other.requests_total;
        self.errors += other.errors;
        self.bytes += other.bytes;
        self.hist.merge(&other.hist);
        if other.last_error.is_some() {
            self.last_error = other.last_error;
        }
    }
}

/// A keep-alive connection of either client.
enum KeepAlive {
    /// hyper over tokio-rustls.
    Hyper(Conn),
    /// The records client (boxed: it holds two AEAD keys).
    Records(Box<records::RecordConn>),
}

impl Ctx {
    /// A new keep-alive connection of the configured client.
    async fn open_keepalive(&self) -> Result<KeepAlive> {
        Ok(match self.client {
            ClientKind::Hyper => KeepAlive::Hyper(self.connect().await?),
            ClientKind::Records => {
                let tls = self.handshake(|tcp| tcp).await?;
                KeepAlive::Records(Box::new(records::RecordConn::new(
                    tls, &self.path, &self.host,
                )?))
            }
        })
    }

    /// One request on `conn`, bounded; the body length.
    async fn request_keepalive(&self, conn: &mut KeepAlive) -> Result<u64> {
        match conn {
            KeepAlive::Hyper(c) => self.request(c).await,
            KeepAlive::Records(c) => timeout(self.request_timeout, c.request())
                .await
                .unwrap_or_else(|_| Err(anyhow!("request timeout"))),
        }
    }
}

/// Keep-alive worker: one connection (re-opened on error), requests back to back.
async fn keepalive_worker(ctx: Arc<Ctx>) -> Stats {
    let mut st = Stats::new();
    while Instant::now() < ctx.end {
        let mut conn = match ctx.open_keepalive().await {
            Ok(c) => c,
            Err(e) => {
                st.err(&ctx, e);
                sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        while Instant::now() < ctx.end {
            let t0 = Instant::now();
            match ctx.request_keepalive(&mut conn).await {
                Ok(n) => st.ok(&ctx, t0, n),
                Err(e) => {
                    st.err(&ctx, e);
                    break;
                }
            }
        }
        match conn {
            KeepAlive::Hyper(conn) => {
                drop(conn.sender);
                let _ = timeout(Duration::from_secs(1), conn.task).await;
            }
            KeepAlive::Records(conn) => {
                let _ = timeout(Duration::from_secs(1), conn.close()).await;
            }
        }
    }
    st
}

/// Handshake worker: new connection + full handshake + one request + close, in a loop.
async fn handshake_worker(ctx: Arc<Ctx>) -> Stats {
    let mut st = Stats::new();
    while Instant::now() < ctx.end {
        let t0 = Instant::now();
        let res = async {
            let mut conn = ctx.connect().await?;
            let n = ctx.request(&mut conn).await?;
            Ok::<_, anyhow::Error>((n, conn))
        }
        .await;
        match res {
            Ok((n, conn)) => {
                st.ok(&ctx, t0, n);
                // Dropping the sender lets hyper shut the connection down (close_notify + FIN).
                drop(conn.sender);
                let _ = timeout(Duration::from_secs(1), conn.task).await;
            }
            Err(e) => {
                st.err(&ctx, e);
                sleep(Duration::from_millis(5)).await;
            }
        }
    }
    st
}

/// Sum of utime+stime (clock ticks) of `pids`, from /proc/PID/stat fields 14 and 15.
fn proc_cpu_ticks(pids: &[u32]) -> Option<u64> {
    proc_cpu_split(pids).map(|(u, s)| u + s)
}

/// Sums of utime and of stime (clock ticks) of `pids`: each process's own threads, live and
/// exited (a process's stat line covers its whole thread group), not its children's.
fn proc_cpu_split(pids: &[u32]) -> Option<(u64, u64)> {
    let (mut user, mut sys) = (0, 0);
    for pid in pids {
        let (u, s) = stat_cpu_split(&format!("/proc/{pid}/stat"))?;
        user += u;
        sys += s;
    }
    Some((user, sys))
}

/// utime+stime (clock ticks) from one `/proc/.../stat` file.
fn stat_cpu_ticks(path: &str) -> Option<u64> {
    stat_cpu_split(path).map(|(u, s)| u + s)
}

/// (utime, stime) in clock ticks from one `/proc/.../stat` file (fields 14 and 15).
fn stat_cpu_split(path: &str) -> Option<(u64, u64)> {
    let stat = fs::read_to_string(path).ok()?;
    // Field 2 (comm) may contain spaces: split after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so field N is f[N - 3].
    Some((f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?))
}

/// Whole-machine clock ticks (all CPUs) from the first line of /proc/stat:
/// (user + nice + system + steal, irq + softirq, nice).
fn host_ticks() -> Option<(u64, u64, u64)> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let f: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is included in user).
    let (user, nice, system, irq, softirq, steal) = (
        *f.first()?,
        *f.get(1)?,
        *f.get(2)?,
        *f.get(5)?,
        *f.get(6)?,
        *f.get(7)?,
    );
    Some((user + nice + system + steal, irq + softirq, nice))
}

/// CPU samples taken at one instant.
#[derive(Clone, Copy)]
struct CpuSample {
    /// Proxy processes, user + system.
    proxy: Option<u64>,
    /// Proxy processes, user time only.
    proxy_user: Option<u64>,
    /// Proxy processes, system time only.
    proxy_sys: Option<u64>,
    /// This process.
    client: Option<u64>,
    /// The upstream process.
    upstream: Option<u64>,
    /// The whole machine: process time (user, nice, system, steal).
    host: Option<u64>,
    /// The whole machine: interrupt time (irq, softirq; loopback TCP is mostly here).
    irq: Option<u64>,
    /// The whole machine: time of niced (background) processes.
    nice: Option<u64>,
}

impl CpuSample {
    /// Samples everything now.
    fn take(proxy_pids: &[u32], upstream_pid: Option<u32>) -> Self {
        let split = proc_cpu_split(proxy_pids);
        CpuSample {
            proxy: split.map(|(u, s)| u + s),
            proxy_user: split.map(|(u, _)| u),
            proxy_sys: split.map(|(_, s)| s),
            client: self_cpu_ticks(),
            upstream: upstream_pid.and_then(|p| proc_cpu_ticks(&[p])),
            host: host_ticks().map(|h| h.0),
            irq: host_ticks().map(|h| h.1),
            nice: host_ticks().map(|h| h.2),
        }
    }

    /// Ticks spent between `self` and `later`.
    fn until(&self, later: &CpuSample) -> CpuSample {
        CpuSample {
            proxy: delta(self.proxy, later.proxy),
            proxy_user: delta(self.proxy_user, later.proxy_user),
            proxy_sys: delta(self.proxy_sys, later.proxy_sys),
            client: delta(self.client, later.client),
            upstream: delta(self.upstream, later.upstream),
            host: delta(self.host, later.host),
            irq: delta(self.irq, later.irq),
            nice: delta(self.nice, later.nice),
        }
    }
}

/// CPU ticks of this load generator process.
fn self_cpu_ticks() -> Option<u64> {
    stat_cpu_ticks("/proc/self/stat")
}

/// Sum of VmRSS (kB) of `pids`.
fn proc_rss_kb(pids: &[u32]) -> Option<u64> {
    let mut sum = 0;
    for pid in pids {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        sum += line.split_whitespace().nth(1)?.parse::<u64>().ok()?;
    }
    Some(sum)
}

/// Builds the rustls client: TLS 1.3 only, client certificate, no resumption.
fn client_config(args: &LoadArgs) -> Result<ClientConfig> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if args.kx == Kx::X25519 {
        provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::X25519];
    }
    let provider: Arc<CryptoProvider> = Arc::new(provider);
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&args.cacert)
        .with_context(|| format!("reading {}", args.cacert.display()))?
    {
        roots.add(cert?)?;
    }
    let chain = CertificateDer::pem_file_iter(&args.cert)
        .with_context(|| format!("reading {}", args.cert.display()))?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(&args.key)
        .with_context(|| format!("reading {}", args.key.display()))?;
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?;
    cfg.resumption = Resumption::disabled();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    // The records client takes over the record layer once the handshake is done.
    cfg.enable_secret_extraction = args.client == ClientKind::Records;
    Ok(cfg)
}

/// Result of a `load` run.
struct Report {
    /// Merged worker stats.
    stats: Stats,
    /// Measured window (s).
    window: f64,
    /// CPU ticks spent in the window (proxy, loadgen, upstream, whole machine).
    cpu: CpuSample,
    /// Idle mode: proxy CPU ticks spent while the connections were held idle.
    idle_cpu_ticks: Option<u64>,
    /// Proxy RSS before the idle connections (kB).
    rss_before_kb: Option<u64>,
    /// Proxy RSS right after the idle connections were opened (kB).
    rss_open_kb: Option<u64>,
    /// Proxy RSS at the end of the idle hold (kB).
    rss_idle_kb: Option<u64>,
    /// Idle connections still open at the end of the hold.
    open: Option<usize>,
    /// Negotiated protocol/suite/group.
    negotiated: Option<String>,
}

/// Runs `load` and prints the result.
async fn run_load(args: LoadArgs) -> Result<()> {
    let uri: Uri = args.url.parse().context("parsing --url")?;
    if uri.scheme_str() != Some("https") {
        bail!("--url must be https://");
    }
    let authority = uri
        .authority()
        .ok_or_else(|| anyhow!("--url has no host"))?;
    let addr: SocketAddr = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(443)
    )
    .parse()
    .context("--url host must be an IP address")?;
    let path = uri
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    if args.connections == 0 || args.duration.is_nan() || args.duration <= 0.0 || args.warmup < 0.0
    {
        bail!("--connections and --duration must be > 0, --warmup >= 0");
    }
    if args.client == ClientKind::Records && args.mode != Mode::Keepalive {
        bail!("--client records serves --mode keepalive only");
    }
    let connector = TlsConnector::from(Arc::new(client_config(&args)?));
    let server_name = ServerName::try_from(args.sni.clone())?;
    let start = Instant::now();
    let warm_end = start + Duration::from_secs_f64(args.warmup);
    let end = warm_end + Duration::from_secs_f64(args.duration);
    let ctx = Arc::new(Ctx {
        addr,
        connector,
        server_name,
        path,
        host: args.sni.clone(),
        warm_end,
        end,
        connect_timeout: Duration::from_millis(args.connect_timeout_ms),
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        negotiated: Arc::new(OnceLock::new()),
        client: args.client,
    });
    let report = match args.mode {
        Mode::Keepalive | Mode::Handshake => run_timed(&args, &ctx).await?,
        Mode::Idle => run_idle(&args, &ctx).await?,
    };
    print_report(&args, &report);
    Ok(())
}

/// Runs the keepalive or handshake workers and samples the proxy at the window edges.
async fn run_timed(args: &LoadArgs, ctx: &Arc<Ctx>) -> Result<Report> {
    let (pids, up) = (args.proxy_pids.clone(), args.upstream_pid);
    let (warm_end, end) = (ctx.warm_end, ctx.end);
    let sampler = tokio::spawn(async move {
        sleep_until(warm_end).await;
        let c0 = CpuSample::take(&pids, up);
        sleep_until(end).await;
        c0.until(&CpuSample::take(&pids, up))
    });
    let workers: Vec<_> = (0..args.connections)
        .map(|_| {
            let ctx = ctx.clone();
            match args.mode {
                Mode::Keepalive => tokio::spawn(keepalive_worker(ctx)),
                _ => tokio::spawn(handshake_worker(ctx)),
            }
        })
        .collect();
    let cpu = sampler.await?;
    let mut stats = Stats::new();
    // Workers finish their in-flight request after `end`; each request is bounded.
    let grace = ctx.connect_timeout * 2 + ctx.request_timeout + Duration::from_secs(2);
    let deadline = Instant::now() + grace;
    for w in workers {
        match tokio::time::timeout_at(deadline, w).await {
            Ok(Ok(s)) => stats.merge(s),
            Ok(Err(e)) => bail!("worker panicked: {e}"),
            Err(_) => stats.errors += 1,
        }
    }
    Ok(Report {
        stats,
        window: args.duration,
        cpu,
        idle_cpu_ticks: None,
        rss_before_kb: None,
        rss_open_kb: None,
        rss_idle_kb: None,
        open: None,
        negotiated: ctx.negotiated.get().cloned(),
    })
}

/// Opens one connection and sends one request on it; `Ok` only if both succeed.
async fn open_one(ctx: Arc<Ctx>) -> (Result<(Conn, u64)>, Duration) {
    let t0 = Instant::now();
    let res = async {
        let mut conn = ctx.connect().await?;
        let n = ctx.request(&mut conn).await?;
        Ok((conn, n))
    }
    .await;
    (res, t0.elapsed())
}

/// Idle mode: baseline RSS, open N connections, hold them, sample RSS, count survivors.
async fn run_idle(args: &LoadArgs, ctx: &Arc<Ctx>) -> Result<Report> {
    // Idle mode has its own timeline: the window starts when all connections are up.
    let ctx_open = Arc::new(Ctx {
        addr: ctx.addr,
        connector: ctx.connector.clone(),
        server_name: ctx.server_name.clone(),
        path: ctx.path.clone(),
        host: ctx.host.clone(),
        warm_end: Instant::now(),
        end: Instant::now() + Duration::from_secs(3600),
        connect_timeout: ctx.connect_timeout,
        request_timeout: ctx.request_timeout,
        client: ctx.client,
        negotiated: ctx.negotiated.clone(),
    });
    let mut warm_requests = 0;
    if args.warmup > 0.0 {
        // Touch the proxy's lazy per-process state with a few short-lived connections.
        let n = args.connections.min(16);
        let hs: Vec<_> = (0..n)
            .map(|_| tokio::spawn(open_one(ctx_open.clone())))
            .collect();
        for h in hs {
            if let (Ok((conn, _)), _) = h.await? {
                warm_requests += 1;
                drop(conn.sender);
                let _ = timeout(Duration::from_secs(1), conn.task).await;
            }
        }
        sleep(Duration::from_secs_f64(args.warmup)).await;
    }
    let rss_before_kb = proc_rss_kb(&args.proxy_pids);
    let cpu0 = CpuSample::take(&args.proxy_pids, args.upstream_pid);

    let mut stats = Stats::new();
    stats.requests_total = warm_requests;
    let mut conns: Vec<Conn> = Vec::with_capacity(args.connections);
    let mut inflight = tokio::task::JoinSet::new();
    let mut launched = 0;
    let open_start = Instant::now();
    while launched < args.connections || !inflight.is_empty() {
        while launched < args.connections && inflight.len() < args.open_concurrency.max(1) {
            inflight.spawn(open_one(ctx_open.clone()));
            launched += 1;
        }
        if let Some(joined) = inflight.join_next().await {
            match joined? {
                (Ok((conn, n)), lat) => {
                    stats.requests += 1;
                    stats.requests_total += 1;
                    stats.bytes += n;
                    stats.hist.record(lat.as_micros() as u64);
                    conns.push(conn);
                }
                (Err(e), _) => {
                    stats.errors += 1;
                    stats.last_error = Some(format!("{e:#}"));
                }
            }
        }
    }
    let open_secs = open_start.elapsed().as_secs_f64();
    if !args.json {
        eprintln!(
            "idle: opened {} of {} connections in {open_secs:.2}s; holding for {}s",
            conns.len(),
            args.connections,
            args.duration
        );
    }
    let rss_open_kb = proc_rss_kb(&args.proxy_pids);
    let cpu1 = CpuSample::take(&args.proxy_pids, args.upstream_pid);
    sleep(Duration::from_secs_f64(args.duration)).await;
    let rss_idle_kb = proc_rss_kb(&args.proxy_pids);
    let cpu2 = proc_cpu_ticks(&args.proxy_pids);
    let open = conns.iter().filter(|c| !c.sender.is_closed()).count();
    for c in conns.drain(..) {
        drop(c.sender);
        c.task.abort();
    }
    Ok(Report {
        stats,
        window: open_secs,
        cpu: cpu0.until(&cpu1),
        idle_cpu_ticks: delta(cpu1.proxy, cpu2),
        rss_before_kb,
        rss_open_kb,
        rss_idle_kb,
        open: Some(open),
        negotiated: ctx.negotiated.get().cloned(),
    })
}

/// `b - a` when both samples exist.
fn delta(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    a.zip(b).map(|(a, b)| b.saturating_sub(a))
}

/// Formats an optional number for JSON.
fn json_opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("null".to_owned(), |v| v.to_string())
}

/// Prints the report as text or as one JSON line.
fn print_report(args: &LoadArgs, r: &Report) {
    let s = &r.stats;
    let rps = s.requests as f64 / r.window;
    let mibps = s.bytes as f64 / r.window / (1024.0 * 1024.0);
    let (p50, p90, p99) = (
        s.hist.quantile(0.50),
        s.hist.quantile(0.90),
        s.hist.quantile(0.99),
    );
    let per_req = |ticks: Option<u64>| {
        ticks
            .filter(|_| s.requests > 0)
            .map(|t| t as f64 * 1e6 / args.clk_tck as f64 / s.requests as f64)
    };
    let cpu_us_per_req = per_req(r.cpu.proxy);
    let user_us_per_req = per_req(r.cpu.proxy_user);
    let sys_us_per_req = per_req(r.cpu.proxy_sys);
    let pct = |ticks: Option<u64>| ticks.map(|t| t as f64 * 100.0 / args.clk_tck as f64 / r.window);
    let cpu_pct = pct(r.cpu.proxy);
    let client_pct = pct(r.cpu.client);
    let upstream_pct = pct(r.cpu.upstream);
    // Whatever the machine did besides proxy, load generator and upstream: should be ~0.
    let irq_pct = pct(r.cpu.irq);
    let nice_pct = pct(r.cpu.nice);
    let foreign_pct = match (r.cpu.host, r.cpu.proxy, r.cpu.client) {
        (Some(h), Some(p), Some(c)) => {
            pct(Some(h.saturating_sub(p + c + r.cpu.upstream.unwrap_or(0))))
        }
        _ => None,
    };
    let mem_per_conn = match (r.rss_before_kb, r.rss_idle_kb, r.open) {
        (Some(b), Some(i), Some(o)) if o > 0 => Some((i as f64 - b as f64) * 1024.0 / o as f64),
        _ => None,
    };
    let mode = format!("{:?}", args.mode).to_lowercase();
    let tls = r.negotiated.as_deref().unwrap_or("-");
    if args.json {
        let mut line = String::new();
        line.push_str(&format!(
            "{{\"label\":\"{}\",\"mode\":\"{mode}\",\"url\":\"{}\",\"connections\":{},\"window_s\":{:.3},",
            args.label.replace(['"', '\\'], ""),
            args.url.replace(['"', '\\'], ""),
            args.connections,
            r.window
        ));
        line.push_str(&format!(
            "\"requests\":{},\"requests_total\":{},\"errors\":{},\"rps\":{rps:.1},\"bytes\":{},\"mib_per_s\":{mibps:.2},",
            s.requests, s.requests_total, s.errors, s.bytes
        ));
        line.push_str(&format!(
            "\"p50_us\":{p50},\"p90_us\":{p90},\"p99_us\":{p99},\"max_us\":{},",
            s.hist.max
        ));
        line.push_str(&format!(
            "\"proxy_cpu_ticks\":{},\"clk_tck\":{},\"proxy_cpu_us_per_req\":{},\"proxy_cpu_pct\":{},",
            json_opt(r.cpu.proxy),
            args.clk_tck,
            json_opt(cpu_us_per_req.map(|v| format!("{v:.2}"))),
            json_opt(cpu_pct.map(|v| format!("{v:.1}")))
        ));
        line.push_str(&format!(
            "\"proxy_user_ticks\":{},\"proxy_sys_ticks\":{},\"proxy_user_us_per_req\":{},\"proxy_sys_us_per_req\":{},",
            json_opt(r.cpu.proxy_user),
            json_opt(r.cpu.proxy_sys),
            json_opt(user_us_per_req.map(|v| format!("{v:.2}"))),
            json_opt(sys_us_per_req.map(|v| format!("{v:.2}")))
        ));
        line.push_str(&format!(
            "\"tls\":\"{tls}\",\"client_cpu_pct\":{},\"upstream_cpu_pct\":{},\"foreign_cpu_pct\":{},\"niced_cpu_pct\":{},\"irq_cpu_pct\":{},\"proxy_idle_cpu_ticks\":{},",
            json_opt(client_pct.map(|v| format!("{v:.1}"))),
            json_opt(upstream_pct.map(|v| format!("{v:.1}"))),
            json_opt(foreign_pct.map(|v| format!("{v:.1}"))),
            json_opt(nice_pct.map(|v| format!("{v:.1}"))),
            json_opt(irq_pct.map(|v| format!("{v:.1}"))),
            json_opt(r.idle_cpu_ticks)
        ));
        line.push_str(&format!(
            "\"rss_before_kb\":{},\"rss_open_kb\":{},\"rss_idle_kb\":{},\"open\":{},\"mem_per_conn_bytes\":{}}}",
            json_opt(r.rss_before_kb),
            json_opt(r.rss_open_kb),
            json_opt(r.rss_idle_kb),
            json_opt(r.open),
            json_opt(mem_per_conn.map(|v| format!("{v:.0}")))
        ));
        println!("{line}");
    } else {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{} mode={mode} url={} connections={} window={:.2}s tls={tls}",
            args.label, args.url, args.connections, r.window
        );
        let _ = writeln!(
            out,
            "  requests={} (all, warm-up included: {}) errors={} req/s={rps:.1} bytes={} MiB/s={mibps:.2}",
            s.requests, s.requests_total, s.errors, s.bytes
        );
        let _ = writeln!(
            out,
            "  latency us: p50={p50} p90={p90} p99={p99} max={}",
            s.hist.max
        );
        let show = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        if let Some(t) = r.cpu.proxy {
            let _ = writeln!(
                out,
                "  proxy cpu: {t} ticks ({}% of one core), {} us/req (user {}, system {})",
                show(cpu_pct),
                cpu_us_per_req.map_or("-".to_owned(), |v| format!("{v:.2}")),
                user_us_per_req.map_or("-".to_owned(), |v| format!("{v:.2}")),
                sys_us_per_req.map_or("-".to_owned(), |v| format!("{v:.2}")),
            );
        }
        let _ = writeln!(
            out,
            "  cpu % of one core: loadgen {} upstream {} other processes {} (niced {}) irq+softirq {}",
            show(client_pct),
            show(upstream_pct),
            show(foreign_pct),
            show(nice_pct),
            show(irq_pct)
        );
        if let Some(o) = r.open {
            let _ = writeln!(
                out,
                "  open={o} rss_before={}kB rss_open={}kB rss_idle={}kB per_conn={}B idle_cpu_ticks={}",
                json_opt(r.rss_before_kb),
                json_opt(r.rss_open_kb),
                json_opt(r.rss_idle_kb),
                json_opt(mem_per_conn.map(|v| format!("{v:.0}"))),
                json_opt(r.idle_cpu_ticks)
            );
        }
    }
    if let Some(e) = &s.last_error {
        eprintln!("loadgen: last error: {e}");
    }
}
