//! The in-process test harness: a PKI built with rcgen at test time, a recording upstream, the
//! gateway on 127.0.0.1:0, and a real rustls client.

#![allow(dead_code)]

mod served;
#[allow(unused_imports)]
pub use served::Served;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Upper bound for any single network step in tests.
pub const STEP: Duration = Duration::from_secs(10);

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// A certificate authority that can issue.
pub struct Ca {
    pub issuer: Issuer<'static, KeyPair>,
    pub pem: String,
    pub der: CertificateDer<'static>,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = now() - time::Duration::days(1);
    p.not_after = now() + time::Duration::days(365);
    p
}

impl Ca {
    /// A self-signed root.
    pub fn root(cn: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let params = ca_params(cn);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A subordinate CA signed by `self`.
    pub fn subordinate(&self, cn: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let params = ca_params(cn);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Ca {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A CRL of this CA revoking `serials`.
    pub fn crl(&self, serials: &[SerialNumber]) -> String {
        let params = CertificateRevocationListParams {
            this_update: now() - time::Duration::hours(1),
            next_update: now() + time::Duration::days(7),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: s.clone(),
                    revocation_time: now() - time::Duration::minutes(5),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer).unwrap().pem().unwrap()
    }
}

/// Options for a leaf certificate.
pub struct Leaf {
    pub cn: String,
    pub dns: Vec<String>,
    pub ips: Vec<std::net::IpAddr>,
    pub uris: Vec<String>,
    pub eku: Vec<ExtendedKeyUsagePurpose>,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
    pub serial: Option<SerialNumber>,
}

impl Leaf {
    /// A valid client certificate template (clientAuth).
    pub fn client(cn: &str) -> Leaf {
        Leaf {
            cn: cn.into(),
            dns: vec![],
            ips: vec![],
            uris: vec![],
            eku: vec![ExtendedKeyUsagePurpose::ClientAuth],
            not_before: now() - time::Duration::hours(1),
            not_after: now() + time::Duration::days(30),
            serial: None,
        }
    }

    /// A valid server certificate for localhost and 127.0.0.1.
    pub fn server(dns: &str) -> Leaf {
        Leaf {
            cn: dns.into(),
            dns: vec![dns.into(), "localhost".into()],
            ips: vec!["127.0.0.1".parse().unwrap()],
            uris: vec![],
            eku: vec![ExtendedKeyUsagePurpose::ServerAuth],
            not_before: now() - time::Duration::hours(1),
            not_after: now() + time::Duration::days(30),
            serial: None,
        }
    }
}

/// An issued leaf: PEM chain (leaf + issuer) and key.
#[derive(Clone)]
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
    pub chain_der: Vec<CertificateDer<'static>>,
    pub key_der: Vec<u8>,
}

impl Issued {
    /// The rustls client identity.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::try_from(self.key_der.clone()).unwrap()
    }
}

/// Issue `leaf` from `ca`; the chain carries `ca`'s certificate.
pub fn issue(ca: &Ca, leaf: Leaf) -> Issued {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, leaf.cn.clone());
    p.distinguished_name = dn;
    for d in leaf.dns {
        p.subject_alt_names
            .push(SanType::DnsName(d.try_into().unwrap()));
    }
    for ip in leaf.ips {
        p.subject_alt_names.push(SanType::IpAddress(ip));
    }
    for u in leaf.uris {
        p.subject_alt_names
            .push(SanType::URI(u.try_into().unwrap()));
    }
    p.extended_key_usages = leaf.eku;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.not_before = leaf.not_before;
    p.not_after = leaf.not_after;
    p.serial_number = leaf.serial;
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    Issued {
        chain_pem: format!("{}{}", cert.pem(), ca.pem),
        key_pem: key.serialize_pem(),
        der: cert.der().clone(),
        chain_der: vec![cert.der().clone(), ca.der.clone()],
        key_der: key.serialize_der(),
    }
}

/// A domain's PKI on disk: root -> intermediate, server certificate, truststore, a good client.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub root: Ca,
    pub intermediate: Ca,
    pub server: Issued,
    pub client: Issued,
}

impl Pki {
    /// Build and write `truststore.pem`, `server.pem`, `server.key`, `root-ca.pem`,
    /// `client.pem`, `client.key`.
    pub fn new(name: &str) -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let root = Ca::root(&format!("{name} Root CA"));
        let intermediate = root.subordinate(&format!("{name} Issuing CA"));
        let server = issue(&intermediate, Leaf::server(name));
        let client = issue(&intermediate, Leaf::client(&format!("{name}-client")));
        let pki = Pki {
            dir,
            root,
            intermediate,
            server,
            client,
        };
        pki.write(
            "truststore.pem",
            &format!("{}{}", pki.intermediate.pem, pki.root.pem),
        );
        pki.write("root-ca.pem", &pki.root.pem);
        pki.write("server.pem", &pki.server.chain_pem);
        pki.write("server.key", &pki.server.key_pem);
        pki.write("client.pem", &pki.client.chain_pem);
        pki.write("client.key", &pki.client.key_pem);
        pki
    }

    /// Write a file into the PKI directory and return its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// Path of a file in the PKI directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A `[[domain]]` table for this PKI (no mappings).
    pub fn domain_toml(&self, name: &str, listen: &str) -> String {
        format!(
            "[[domain]]\nname = \"{name}\"\nlisten = \"{listen}\"\ncertificate = \"{}\"\nprivate_key = \"{}\"\ntruststore = \"{}\"\n",
            self.path("server.pem").display(),
            self.path("server.key").display(),
            self.path("truststore.pem").display()
        )
    }
}

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: http::Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body_len: usize,
}

/// A recording HTTP/1.1 upstream on 127.0.0.1:0.
///
/// `/slow/...` waits 3 s before answering; `/big/N` answers N bytes; every other path answers
/// 200 with body `upstream:<path?query>`. Every request is recorded.
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        Self::start_named("upstream").await
    }

    /// Like `start`, but bodies say `<name>:<path>` so tests can tell targets apart.
    pub async fn start_named(name: &'static str) -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let seen = seen.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let pq = parts
                                .uri
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default();
                            seen.lock().unwrap().push(Seen {
                                method: parts.method.clone(),
                                path_and_query: pq.clone(),
                                headers: parts.headers.clone(),
                                body_len: body.len(),
                            });
                            let path = parts.uri.path();
                            if path.starts_with("/slow") {
                                tokio::time::sleep(Duration::from_secs(3)).await;
                            }
                            let out = if let Some(n) = path.strip_prefix("/big/") {
                                Bytes::from(vec![b'x'; n.parse().unwrap_or(0)])
                            } else {
                                Bytes::from(format!("{name}:{pq}"))
                            };
                            Ok::<_, std::convert::Infallible>(Response::new(Full::new(out)))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Upstream { addr, seen, task }
    }

    /// Requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub async fn dead_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// A running in-process gateway.
pub struct Gateway {
    pub addrs: Vec<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub done: Option<tokio::task::JoinHandle<()>>,
    _config_dir: tempfile::TempDir,
}

impl Gateway {
    /// Start from configuration text; panics with the configuration errors if refused.
    pub async fn start(config: &str) -> Gateway {
        Self::try_start(config)
            .await
            .unwrap_or_else(|e| panic!("gateway refused config:\n{e}"))
    }

    /// Start from configuration text, or the errors.
    pub async fn try_start(config: &str) -> Result<Gateway, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, config).unwrap();
        let (snapshot, _warnings) = portcullis::state::load(&path, 1).map_err(|e| e.to_string())?;
        let gw = portcullis::server::Gateway::bind(snapshot)
            .await
            .map_err(|e| e.to_string())?;
        let addrs = gw.local_addrs();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            gw.run(async move {
                let _ = rx.await;
            })
            .await
        });
        Ok(Gateway {
            addrs,
            stop: Some(tx),
            done: Some(done),
            _config_dir: dir,
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
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shutdown();
        if let Some(d) = self.done.take() {
            d.abort();
        }
    }
}

/// A standard config: one domain on 127.0.0.1:0 mapping "/" to api `inv` stage `prod`, whose
/// `backend` stage variable names pool `onprem` with `upstream` as its target, plus `routes`.
pub fn simple_config(pki: &Pki, upstream: SocketAddr, routes: &str) -> String {
    format!(
        "{}\n[[domain.mapping]]\nbase_path = \"/\"\napi = \"inv\"\nstage = \"prod\"\n\n[api.inv.stages.prod]\nvariables = {{ backend = \"onprem\" }}\n\n{routes}\n[upstream.onprem]\ntargets = [\"{upstream}\"]\n",
        pki.domain_toml("localhost", "127.0.0.1:0")
    )
}

/// The `GET /inventory -> /rest-service/inventory` route.
pub const INVENTORY_ROUTE: &str = "[[api.inv.routes]]\nmethod = \"GET\"\npath = \"/inventory\"\nintegration = \"http://${stageVariables.backend}/rest-service/inventory\"\n";

/// A rustls client trusting `root_pem`, presenting `client` if given.
pub fn tls_client(root_pem: &str, client: Option<&Issued>, alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::pem::PemObject::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut cfg = match client {
        Some(c) => b
            .with_client_auth_cert(c.chain_der.clone(), c.key())
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg.resumption = rustls::client::Resumption::disabled();
    TlsConnector::from(Arc::new(cfg))
}

/// A response read back by the test client.
#[derive(Debug)]
pub struct Got {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

/// Open an mTLS connection as `client` with SNI `sni`, and send one HTTP/1.1 request.
/// An `Err` means the handshake or the request failed (a refused certificate ends here).
pub async fn request(
    addr: SocketAddr,
    sni: &str,
    root_pem: &str,
    client: Option<&Issued>,
    req: Request<Full<Bytes>>,
) -> Result<Got, String> {
    let connector = tls_client(root_pem, client, &[b"http/1.1"]);
    let fut = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = ServerName::try_from(sni.to_owned()).map_err(|e| e.to_string())?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let resp = send
            .send_request(req)
            .await
            .map_err(|e| format!("request: {e}"))?;
        collect(resp).await
    };
    tokio::time::timeout(STEP, fut)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// Read a whole response.
pub async fn collect(resp: Response<Incoming>) -> Result<Got, String> {
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Got {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// `GET path` with the PKI's good client.
pub async fn get(gw: &Gateway, pki: &Pki, path: &str) -> Got {
    request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        Some(&pki.client),
        get_req(path),
    )
    .await
    .unwrap()
}

/// A GET request for `path` with Host localhost.
pub fn get_req(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// Send raw bytes over an mTLS connection and read until the server closes or `STEP` passes.
pub async fn raw(addr: SocketAddr, pki: &Pki, bytes: &[u8]) -> String {
    let connector = tls_client(&pki.root.pem, Some(&pki.client), &[b"http/1.1"]);
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(STEP, tls.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Path of the built `portcullis` binary.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_portcullis"))
}

/// Poll `cond` every 20 ms for up to `STEP`.
pub async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + STEP;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}
