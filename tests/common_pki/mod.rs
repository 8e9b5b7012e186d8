//! Helpers for the `portcullis pki` and `portcullis explain` tests: running the binary with a
//! deadline, reading certificates and CRLs back with x509-parser, the gateway binary with JSON
//! logs, and gateway configuration text for a CA directory.

#![allow(dead_code)]

use std::ffi::OsString;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use x509_parser::prelude::{CertificateRevocationList, FromDer, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::common::bin;

/// Upper bound for one run of a command-line tool (RSA key generation is slow unoptimised).
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// How a finished command went.
#[derive(Debug, Clone)]
pub struct Out {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// Exit code 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Panic with everything the command said unless it exited 0.
    pub fn expect_ok(self, what: &str) -> Out {
        assert!(self.ok(), "{what} failed: {self:#?}");
        self
    }
}

/// Run `program args` in `cwd` (or the current directory), killing it after `RUN_LIMIT`.
pub fn run_in(program: &Path, args: &[OsString], cwd: Option<&Path>) -> Out {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let read = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} {args:?} did not finish within {RUN_LIMIT:?}",
                program.display()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Out {
        code: status.code(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Turn anything path- or string-like into arguments.
pub fn args<I, S>(items: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    items.into_iter().map(Into::into).collect()
}

/// Run the `portcullis` binary.
pub fn portcullis(a: Vec<OsString>) -> Out {
    run_in(bin(), &a, None)
}

/// Run the `portcullis` binary in `cwd`.
pub fn portcullis_in(cwd: &Path, a: Vec<OsString>) -> Out {
    run_in(bin(), &a, Some(cwd))
}

/// Run a tool found on `PATH` (openssl, curl).
pub fn tool(name: &str, a: Vec<OsString>, cwd: Option<&Path>) -> Out {
    run_in(Path::new(name), &a, cwd)
}

/// Whether `name --version`/`version` runs.
pub fn installed(name: &str, version_arg: &str) -> bool {
    Command::new(name)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `curl` with the flags every test uses (silent, errors shown, bounded), off the runtime.
pub async fn curl(a: Vec<OsString>, cwd: Option<PathBuf>) -> Out {
    tokio::task::spawn_blocking(move || {
        let mut all = args(["--silent", "--show-error", "--max-time", "10"]);
        all.extend(a);
        tool("curl", all, cwd.as_deref())
    })
    .await
    .unwrap()
}

/// Run a blocking closure off the async runtime.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// `portcullis pki init --dir DIR extra...`, which must succeed.
pub fn pki_init(dir: &Path, extra: &[&str]) -> Out {
    let mut a = args(["pki", "init", "--dir"]);
    a.push(dir.into());
    a.extend(args(extra.iter().copied()));
    portcullis(a).expect_ok("pki init")
}

/// `portcullis pki issue KIND --dir DIR extra...`, which must succeed.
pub fn pki_issue(kind: &str, dir: &Path, extra: &[&str]) -> Out {
    let mut a = args(["pki", "issue", kind, "--dir"]);
    a.push(dir.into());
    a.extend(args(extra.iter().copied()));
    portcullis(a).expect_ok(&format!("pki issue {kind}"))
}

/// The paths of the `wrote PATH` lines of a command's output.
pub fn wrote(out: &Out) -> Vec<PathBuf> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("wrote "))
        .map(|p| PathBuf::from(p.trim()))
        .collect()
}

/// The `serial HEX` a `pki issue` printed.
pub fn printed_serial(out: &Out) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("serial "))
        .unwrap_or_else(|| panic!("no `serial` line in {out:#?}"))
        .trim()
        .to_owned()
}

/// Every certificate of a PEM file, in order.
pub fn certs_in(path: &Path) -> Vec<CertificateDer<'static>> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{}: bad PEM: {e}", path.display()))
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What the tests need to know about one certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub serial: Vec<u8>,
    pub is_ca: bool,
    pub client_auth: bool,
    pub server_auth: bool,
    pub has_eku: bool,
    pub uris: Vec<String>,
    pub dns: Vec<String>,
    pub ips: Vec<Vec<u8>>,
    pub not_before: i64,
    pub not_after: i64,
    /// Public key algorithm OID (dotted).
    pub key_alg: String,
    /// Key size in bits (EC: field size; RSA: modulus).
    pub key_bits: usize,
    /// Signature algorithm OID (dotted).
    pub sig_alg: String,
    /// The DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
}

/// Parse a DER certificate.
pub fn cert_info(der: &[u8]) -> CertInfo {
    let (_, c) = X509Certificate::from_der(der).expect("a parsable certificate");
    let mut uris = Vec::new();
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(san)) = c.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::URI(u) => uris.push((*u).to_owned()),
                GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                GeneralName::IPAddress(ip) => ips.push(ip.to_vec()),
                _ => {}
            }
        }
    }
    let eku = c.extended_key_usage().expect("a parsable EKU");
    let key_bits = match c.public_key().parsed() {
        Ok(PublicKey::EC(p)) => p.key_size(),
        Ok(PublicKey::RSA(r)) => r.key_size(),
        _ => 0,
    };
    CertInfo {
        subject: c.subject().to_string(),
        issuer: c.issuer().to_string(),
        serial: c.raw_serial().to_vec(),
        is_ca: matches!(c.basic_constraints(), Ok(Some(b)) if b.value.ca),
        client_auth: matches!(&eku, Some(e) if e.value.client_auth),
        server_auth: matches!(&eku, Some(e) if e.value.server_auth),
        has_eku: eku.is_some(),
        uris,
        dns,
        ips,
        not_before: c.validity().not_before.timestamp(),
        not_after: c.validity().not_after.timestamp(),
        key_alg: c.public_key().algorithm.algorithm.to_id_string(),
        key_bits,
        sig_alg: c.signature_algorithm.algorithm.to_id_string(),
        spki: c.public_key().raw.to_vec(),
    }
}

/// Every certificate of a PEM file, parsed.
pub fn cert_infos(path: &Path) -> Vec<CertInfo> {
    certs_in(path).iter().map(|c| cert_info(c)).collect()
}

/// One revoked entry of a CRL.
#[derive(Debug, Clone)]
pub struct RevokedEntry {
    pub serial: Vec<u8>,
    pub reason: Option<u8>,
    pub at: i64,
}

/// What the tests need to know about one CRL.
#[derive(Debug, Clone)]
pub struct CrlInfo {
    pub issuer: String,
    pub number: Option<u64>,
    pub revoked: Vec<RevokedEntry>,
}

/// Parse a PEM CRL file.
pub fn crl_info(path: &Path) -> CrlInfo {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let der = CertificateRevocationListDer::from_pem_slice(&data)
        .unwrap_or_else(|e| panic!("{}: not a PEM CRL: {e}", path.display()));
    let (_, crl) = CertificateRevocationList::from_der(&der)
        .unwrap_or_else(|e| panic!("{}: not a CRL: {e}", path.display()));
    CrlInfo {
        issuer: crl.issuer().to_string(),
        number: crl.crl_number().and_then(|n| n.to_string().parse().ok()),
        revoked: crl
            .iter_revoked_certificates()
            .map(|r| RevokedEntry {
                serial: r.raw_serial().to_vec(),
                reason: r.reason_code().map(|(_, c)| c.0),
                at: r.revocation_date.timestamp(),
            })
            .collect(),
    }
}

/// The `*.crl.pem` files of a directory, sorted.
pub fn crl_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".crl.pem"))
        .collect();
    v.sort();
    v
}

/// Name and bytes of every regular file in a directory, sorted by name.
pub fn snapshot_dir(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Unix permission bits of a file.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// RFC 3339 (whole seconds, `Z`) of a Unix time, as the verifier prints times.
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A TOML string literal for a path.
pub fn toml_str(p: &Path) -> String {
    format!("\"{}\"", p.display())
}

/// A one-domain configuration (`localhost` on 127.0.0.1:0) with `GET /inventory` going to
/// `upstream`, using the given certificate, key, truststore and CRLs.
pub fn gateway_toml(
    certificate: &Path,
    key: &Path,
    truststore: &Path,
    crls: &[PathBuf],
    upstream: SocketAddr,
) -> String {
    let crls: Vec<String> = crls.iter().map(|p| toml_str(p)).collect();
    format!(
        "[[domain]]\nname = \"localhost\"\nlisten = \"127.0.0.1:0\"\ncertificate = {}\nprivate_key = {}\ntruststore = {}\ncrls = [{}]\n\n\
         [[domain.mapping]]\nbase_path = \"/\"\napi = \"inv\"\nstage = \"prod\"\n\n\
         [api.inv.stages.prod]\nvariables = {{ backend = \"onprem\" }}\n\n{}\n\
         [upstream.onprem]\ntargets = [\"{upstream}\"]\n",
        toml_str(certificate),
        toml_str(key),
        toml_str(truststore),
        crls.join(", "),
        crate::common::INVENTORY_ROUTE
    )
}

/// `text` without its `(checked at ...)` part, which names the moment of the check.
pub fn strip_checked_at(text: &str) -> String {
    let Some(start) = text.find(" (checked at ") else {
        return text.to_owned();
    };
    match text[start..].find(')') {
        Some(end) => format!("{}{}", &text[..start], &text[start + end + 1..]),
        None => text[..start].to_owned(),
    }
}

/// `portcullis explain --config CONFIG --domain DOMAIN CLIENT extra...`.
pub fn explain(config: &Path, domain: &str, client: &Path, extra: &[&str]) -> Out {
    let mut a = args(["explain", "--config"]);
    a.push(config.into());
    a.extend(args(["--domain", domain]));
    a.push(client.into());
    a.extend(args(extra.iter().copied()));
    portcullis(a)
}

/// `explain ... --json`, parsed; also returns the exit code.
pub fn explain_json(
    config: &Path,
    domain: &str,
    client: &Path,
    extra: &[&str],
) -> (Option<i32>, serde_json::Value) {
    let mut e = extra.to_vec();
    e.push("--json");
    let out = explain(config, domain, client, &e);
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|err| panic!("explain --json printed no JSON ({err}): {out:#?}"));
    (out.code, v)
}

/// The `reason:` line of explain's text output.
pub fn text_reason(out: &Out) -> Option<String> {
    out.stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("reason:"))
        .map(|r| r.trim().to_owned())
}

#[allow(unused_imports)]
pub use crate::common::Served;

/// Write `file` in the PKI directory: a configuration for domain `localhost` using the PKI's
/// server certificate, the given truststore and CRLs (the upstream is never contacted).
pub fn explain_config(
    pki: &crate::common::Pki,
    file: &str,
    truststore: &Path,
    crls: &[PathBuf],
) -> PathBuf {
    let text = gateway_toml(
        &pki.path("server.pem"),
        &pki.path("server.key"),
        truststore,
        crls,
        "127.0.0.1:9".parse().unwrap(),
    );
    pki.write(file, &text)
}

/// The PEM of an issued leaf alone, without the issuer `chain_pem` carries.
pub fn leaf_pem(issued: &crate::common::Issued, issuer: &crate::common::Ca) -> String {
    issued
        .chain_pem
        .strip_suffix(&issuer.pem)
        .expect("chain_pem ends with the issuer")
        .to_owned()
}

/// The time in explain's first line, `RESULT by domain NAME (checked at TIME)`.
pub fn header_checked_at(out: &Out) -> String {
    let first = out.stdout.lines().next().unwrap_or_default();
    first
        .split_once("(checked at ")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no `(checked at ...)` in the first line: {out:#?}"))
        .to_owned()
}

/// Parse an RFC 3339 time to Unix seconds.
pub fn parse_rfc3339(s: &str) -> i64 {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("`{s}` is not RFC 3339: {e}"))
        .unix_timestamp()
}

/// Assert explain refused: exit 1, `REJECTED by domain DOMAIN` first; returns the reason.
pub fn assert_rejected(out: &Out, domain: &str) -> String {
    assert_eq!(
        out.code,
        Some(1),
        "explain must exit 1 for a rejected client: {out:#?}"
    );
    assert!(
        out.stdout
            .starts_with(&format!("REJECTED by domain {domain} ")),
        "{out:#?}"
    );
    text_reason(out).unwrap_or_else(|| panic!("no `reason:` line: {out:#?}"))
}

/// Assert explain accepted: exit 0, `ACCEPTED by domain DOMAIN` first, no reason.
pub fn assert_accepted(out: &Out, domain: &str) {
    assert_eq!(
        out.code,
        Some(0),
        "explain must exit 0 for an accepted client: {out:#?}"
    );
    assert!(
        out.stdout
            .starts_with(&format!("ACCEPTED by domain {domain} ")),
        "{out:#?}"
    );
    assert!(text_reason(out).is_none(), "{out:#?}");
}
