//! A local private CA, the ACM Private CA part of the AWS setup: a root plus up to four
//! subordinate CAs, client and server certificates, CRLs and revocation. Keys are generated at
//! run time and written with mode 0600; nothing here is ever committed.

pub mod error;
pub mod state;

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use error::{Context, Result, bail, pki_err};
use state::{CaEntry, IssuedEntry, Revocation, STATE_FILE, State};

/// Most CAs in one hierarchy: a root and four subordinate levels, as ACM Private CA allows.
pub const MAX_LEVELS: u8 = 5;

/// Key algorithms a hierarchy can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyKind {
    /// ECDSA on P-256 with SHA-256.
    #[value(name = "ec-p256")]
    EcP256,
    /// ECDSA on P-384 with SHA-384.
    #[value(name = "ec-p384")]
    EcP384,
    /// RSA 2048 with SHA-256.
    #[value(name = "rsa-2048")]
    Rsa2048,
    /// RSA 3072 with SHA-256.
    #[value(name = "rsa-3072")]
    Rsa3072,
    /// RSA 4096 with SHA-256.
    #[value(name = "rsa-4096")]
    Rsa4096,
}

impl KeyKind {
    /// The name used on the command line and in `pki.toml`.
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::EcP256 => "ec-p256",
            KeyKind::EcP384 => "ec-p384",
            KeyKind::Rsa2048 => "rsa-2048",
            KeyKind::Rsa3072 => "rsa-3072",
            KeyKind::Rsa4096 => "rsa-4096",
        }
    }

    fn parse(name: &str) -> Result<KeyKind> {
        <KeyKind as clap::ValueEnum>::from_str(name, false)
            .map_err(|_| pki_err!("unknown key algorithm `{name}` in {STATE_FILE}"))
    }

    fn generate(self) -> Result<KeyPair> {
        use rcgen::RsaKeySize;
        let k = match self {
            KeyKind::EcP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
            KeyKind::EcP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)?,
            KeyKind::Rsa2048 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048)?
            }
            KeyKind::Rsa3072 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072)?
            }
            KeyKind::Rsa4096 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096)?
            }
        };
        Ok(k)
    }
}

/// Write `contents` to `path` through a temporary file and a rename, so readers never see a
/// half-written file; private files get mode 0600 from the start.
pub fn write_atomic(path: &Path, contents: &str, private: bool) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| pki_err!("{}: not a file path", path.display()))?;
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(contents.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn random_serial() -> SerialNumber {
    let mut b: [u8; 16] = rand::random();
    b[0] &= 0x7f; // positive
    b[0] |= 0x01; // and really 16 bytes long
    SerialNumber::from_slice(&b)
}

fn serial_hex(s: &SerialNumber) -> String {
    crate::tls::identity::hex(s.as_ref())
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_file(dir: &Path, name: &str, ext: &str) -> PathBuf {
    dir.join(format!("{name}.{ext}"))
}

/// What `init` builds.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The CA directory.
    pub dir: PathBuf,
    /// CAs in all, root included: 1 to 5.
    pub levels: u8,
    /// Key algorithm.
    pub key: KeyKind,
    /// Root CA common name.
    pub cn: String,
    /// Replace an existing CA.
    pub force: bool,
}

/// Build a root and `levels - 1` subordinate CAs, `truststore.pem` (issuing CA first, up to the
/// root) and an empty CRL per CA. Returns the files written.
pub fn init(opts: &InitOptions) -> Result<Vec<PathBuf>> {
    if !(1..=MAX_LEVELS).contains(&opts.levels) {
        bail!(
            "--levels must be between 1 and {MAX_LEVELS} (a root and up to four subordinate CAs)"
        );
    }
    let dir = &opts.dir;
    if dir.join(STATE_FILE).exists() && !opts.force {
        bail!(
            "{} already holds a CA ({}); pass --force to replace it",
            dir.display(),
            dir.join(STATE_FILE).display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let base = opts.cn.trim_end_matches("Root CA").trim();
    let base = if base.is_empty() { "Portcullis" } else { base };
    let mut written = Vec::new();
    let mut cas: Vec<CaEntry> = Vec::new();
    let mut pems: Vec<String> = Vec::new();
    let mut parent: Option<Issuer<'static, KeyPair>> = None;
    for level in 0..opts.levels {
        let (name, cn) = if level == 0 {
            ("root-ca".to_owned(), opts.cn.clone())
        } else {
            (
                format!("sub-ca-{level}"),
                format!("{base} Issuing CA {level}"),
            )
        };
        let key = opts.key.generate()?;
        let mut p = CertificateParams::default();
        p.distinguished_name = dn(&cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(opts.levels - 1 - level));
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let serial = random_serial();
        p.serial_number = Some(serial.clone());
        p.not_before = now() - time::Duration::hours(1);
        p.not_after = now() + time::Duration::days(if level == 0 { 3650 } else { 1825 });
        let cert = match &parent {
            None => p.self_signed(&key)?,
            Some(issuer) => p.signed_by(&key, issuer)?,
        };
        let subject = format!("CN={cn}");
        write_atomic(&ca_file(dir, &name, "pem"), &cert.pem(), false)?;
        write_atomic(&ca_file(dir, &name, "key"), &key.serialize_pem(), true)?;
        written.push(ca_file(dir, &name, "pem"));
        written.push(ca_file(dir, &name, "key"));
        cas.push(CaEntry {
            name: name.clone(),
            subject,
            serial: serial_hex(&serial),
            level,
            not_after: rfc3339(p.not_after),
            crl_number: 0,
            revoked: None,
        });
        pems.push(cert.pem());
        parent = Some(Issuer::new(p, key));
    }
    pems.reverse();
    let truststore = dir.join("truststore.pem");
    write_atomic(&truststore, &pems.concat(), false)?;
    written.push(truststore);
    let mut state = State {
        key: opts.key.name().to_owned(),
        cas,
        issued: Vec::new(),
    };
    for i in 0..state.cas.len() {
        written.push(write_crl(dir, &mut state, i)?);
    }
    state.save(dir)?;
    written.push(dir.join(STATE_FILE));
    Ok(written)
}

/// The issuer (certificate and key) of CA entry `i`.
fn load_issuer(dir: &Path, ca: &CaEntry) -> Result<Issuer<'static, KeyPair>> {
    let pem_path = ca_file(dir, &ca.name, "pem");
    let key_path = ca_file(dir, &ca.name, "key");
    let pem = std::fs::read_to_string(&pem_path)
        .with_context(|| format!("cannot read {}", pem_path.display()))?;
    let key_pem = std::fs::read_to_string(&key_path)
        .with_context(|| format!("cannot read {}", key_path.display()))?;
    let key = KeyPair::from_pem(&key_pem)
        .with_context(|| format!("{}: not a usable private key", key_path.display()))?;
    Issuer::from_ca_cert_pem(&pem, key)
        .with_context(|| format!("{}: not a usable CA certificate", pem_path.display()))
}

fn reason_code(reason: &str) -> Result<RevocationReason> {
    Ok(match reason {
        "unspecified" => RevocationReason::Unspecified,
        "keyCompromise" => RevocationReason::KeyCompromise,
        "cACompromise" | "caCompromise" => RevocationReason::CaCompromise,
        "affiliationChanged" => RevocationReason::AffiliationChanged,
        "superseded" => RevocationReason::Superseded,
        "cessationOfOperation" => RevocationReason::CessationOfOperation,
        "certificateHold" => RevocationReason::CertificateHold,
        "privilegeWithdrawn" => RevocationReason::PrivilegeWithdrawn,
        other => bail!(
            "unknown revocation reason `{other}` (use keyCompromise, cACompromise, affiliationChanged, \
             superseded, cessationOfOperation, certificateHold, privilegeWithdrawn or unspecified)"
        ),
    })
}

fn parse_hex_serial(hex: &str) -> Result<Vec<u8>> {
    let hex: String = hex.chars().filter(|c| *c != ':').collect();
    if hex.is_empty() || hex.len() % 2 != 0 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("`{hex}` is not a hexadecimal serial number");
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&hex[i..i + 2], 16)
                .map_err(|_| pki_err!("`{hex}` is not a hexadecimal serial number"))
        })
        .collect()
}

/// (Re)write the CRL of CA entry `i`, listing everything it revoked, with a new CRL number.
fn write_crl(dir: &Path, state: &mut State, i: usize) -> Result<PathBuf> {
    let ca = state.cas[i].clone();
    let issuer = load_issuer(dir, &ca)?;
    let mut revoked = Vec::new();
    let mut add = |serial: &str, r: &Revocation| -> Result<()> {
        let at = OffsetDateTime::parse(&r.at, &Rfc3339).unwrap_or_else(|_| now());
        revoked.push(RevokedCertParams {
            serial_number: SerialNumber::from_slice(&parse_hex_serial(serial)?),
            revocation_time: at,
            reason_code: Some(reason_code(&r.reason)?),
            invalidity_date: None,
        });
        Ok(())
    };
    for e in state.issued.iter().filter(|e| e.issuer == ca.name) {
        if let Some(r) = &e.revoked {
            add(&e.serial, r)?;
        }
    }
    for child in state.cas.iter().filter(|c| c.level == ca.level + 1) {
        if let Some(r) = &child.revoked {
            add(&child.serial, r)?;
        }
    }
    let number = ca.crl_number + 1;
    let params = CertificateRevocationListParams {
        this_update: now() - time::Duration::minutes(1),
        next_update: now() + time::Duration::days(365),
        crl_number: SerialNumber::from(number),
        issuing_distribution_point: None,
        revoked_certs: revoked,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let crl = params.signed_by(&issuer)?;
    let path = ca_file(dir, &ca.name, "crl.pem");
    write_atomic(&path, &crl.pem()?, false)?;
    state.cas[i].crl_number = number;
    Ok(path)
}

/// What kind of leaf to issue, and for whom.
#[derive(Debug, Clone)]
pub struct IssueOptions {
    /// The CA directory.
    pub dir: PathBuf,
    /// Client (clientAuth) or server (serverAuth).
    pub server: bool,
    /// Common name.
    pub cn: String,
    /// DNS names.
    pub dns: Vec<String>,
    /// IP addresses.
    pub ips: Vec<IpAddr>,
    /// URIs (such as SPIFFE ids).
    pub uris: Vec<String>,
    /// Validity in days.
    pub days: u32,
    /// Encrypt the key (PKCS#8, PBES2) with the passphrase in this file.
    pub passphrase_file: Option<PathBuf>,
    /// File stem of the output (`NAME.pem`, `NAME.key`).
    pub out: String,
}

/// PBKDF2 rounds for encrypted keys (OWASP's recommendation for PBKDF2-HMAC-SHA256).
pub const PBKDF2_ROUNDS: u32 = 600_000;

fn encrypt_key(der: &[u8], passphrase: &[u8]) -> Result<String> {
    use pkcs8::der::pem::LineEnding;
    let salt: [u8; 16] = rand::random();
    let iv: [u8; 16] = rand::random();
    let params =
        pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(PBKDF2_ROUNDS, &salt, iv)
            .map_err(|e| pki_err!("cannot set up key encryption: {e}"))?;
    let info = pkcs8::PrivateKeyInfoRef::try_from(der)
        .map_err(|e| pki_err!("cannot read the generated key: {e}"))?;
    let doc = info
        .encrypt_with_params(params, passphrase)
        .map_err(|e| pki_err!("cannot encrypt the key: {e}"))?;
    let pem = doc
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .map_err(|e| pki_err!("cannot encode the key: {e}"))?;
    Ok(pem.to_string())
}

/// Issue a client or server certificate from the issuing CA; returns the files written and the
/// serial.
pub fn issue(opts: &IssueOptions) -> Result<(Vec<PathBuf>, String)> {
    let dir = &opts.dir;
    let mut state = State::load(dir)?;
    let issuing = state
        .cas
        .last()
        .cloned()
        .ok_or_else(|| pki_err!("{}: no CA in {STATE_FILE}", dir.display()))?;
    if opts.out.is_empty() || opts.out.contains(['/', '\\']) || opts.out.starts_with('.') {
        bail!("`{}` is not a usable file name", opts.out);
    }
    if opts.days == 0 {
        bail!("--days must be at least 1");
    }
    let issuer = load_issuer(dir, &issuing)?;
    let key = KeyKind::parse(&state.key)?.generate()?;
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&opts.cn);
    let mut names = Vec::new();
    for d in &opts.dns {
        p.subject_alt_names.push(SanType::DnsName(
            d.clone()
                .try_into()
                .map_err(|_| pki_err!("`{d}` is not a DNS name"))?,
        ));
        names.push(format!("DNS:{d}"));
    }
    for ip in &opts.ips {
        p.subject_alt_names.push(SanType::IpAddress(*ip));
        names.push(format!("IP:{ip}"));
    }
    for u in &opts.uris {
        p.subject_alt_names.push(SanType::URI(
            u.clone()
                .try_into()
                .map_err(|_| pki_err!("`{u}` is not a URI"))?,
        ));
        names.push(format!("URI:{u}"));
    }
    p.extended_key_usages = vec![if opts.server {
        ExtendedKeyUsagePurpose::ServerAuth
    } else {
        ExtendedKeyUsagePurpose::ClientAuth
    }];
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let serial = random_serial();
    p.serial_number = Some(serial.clone());
    p.not_before = now() - time::Duration::minutes(5);
    p.not_after = now() + time::Duration::days(opts.days as i64);
    let cert = p.signed_by(&key, &issuer)?;

    // Leaf, then every CA below the root: what a client sends as its chain.
    let mut chain = cert.pem();
    for ca in state.cas.iter().rev().filter(|c| c.level > 0) {
        let path = ca_file(dir, &ca.name, "pem");
        chain.push_str(
            &std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        );
    }
    let key_pem = match &opts.passphrase_file {
        None => key.serialize_pem(),
        Some(f) => {
            let pass = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
            let pass = pass.strip_suffix(b"\n").unwrap_or(&pass);
            let pass = pass.strip_suffix(b"\r").unwrap_or(pass);
            if pass.is_empty() {
                bail!("{}: the passphrase is empty", f.display());
            }
            encrypt_key(&key.serialize_der(), pass)?
        }
    };
    let cert_path = dir.join(format!("{}.pem", opts.out));
    let key_path = dir.join(format!("{}.key", opts.out));
    write_atomic(&cert_path, &chain, false)?;
    write_atomic(&key_path, &key_pem, true)?;
    let hex = serial_hex(&serial);
    state.issued.push(IssuedEntry {
        serial: hex.clone(),
        kind: if opts.server { "server" } else { "client" }.to_owned(),
        subject: format!("CN={}", opts.cn),
        names,
        issuer: issuing.name.clone(),
        file: format!("{}.pem", opts.out),
        not_after: rfc3339(p.not_after),
        revoked: None,
    });
    state.save(dir)?;
    Ok((vec![cert_path, key_path], hex))
}

/// Revoke the certificate with serial `serial_hex` and rewrite its issuer's CRL atomically.
pub fn revoke(dir: &Path, serial_hex: &str, reason: &str) -> Result<PathBuf> {
    reason_code(reason)?;
    let wanted = crate::tls::identity::hex(&parse_hex_serial(serial_hex)?);
    let mut state = State::load(dir)?;
    let revocation = Revocation {
        at: rfc3339(now()),
        reason: reason.to_owned(),
    };
    let issuer_name = if let Some(e) = state.issued.iter_mut().find(|e| e.serial == wanted) {
        if e.revoked.is_some() {
            bail!("certificate {wanted} ({}) is already revoked", e.subject);
        }
        e.revoked = Some(revocation);
        e.issuer.clone()
    } else if let Some(pos) = state.cas.iter().position(|c| c.serial == wanted) {
        if pos == 0 {
            bail!("the root CA cannot be revoked; replace the hierarchy with `pki init --force`");
        }
        state.cas[pos].revoked = Some(revocation);
        state.cas[pos - 1].name.clone()
    } else {
        bail!(
            "no certificate with serial {wanted} was issued from {}",
            dir.display()
        );
    };
    let i = state
        .cas
        .iter()
        .position(|c| c.name == issuer_name)
        .ok_or_else(|| pki_err!("issuer `{issuer_name}` is missing from {STATE_FILE}"))?;
    let path = write_crl(dir, &mut state, i)?;
    state.save(dir)?;
    Ok(path)
}

/// A human-readable listing of the CAs and issued certificates.
pub fn list(dir: &Path) -> Result<String> {
    let state = State::load(dir)?;
    let mut out = format!(
        "CA directory {} (keys: {})\n\nCAs:\n",
        dir.display(),
        state.key
    );
    for c in &state.cas {
        out.push_str(&format!(
            "  {:<10} level {}  serial {}  not after {}  {}{}\n",
            c.name,
            c.level,
            c.serial,
            c.not_after,
            c.subject,
            if c.revoked.is_some() { "  REVOKED" } else { "" }
        ));
    }
    out.push_str("\nIssued:\n");
    if state.issued.is_empty() {
        out.push_str("  (none)\n");
    }
    for e in &state.issued {
        let status = match &e.revoked {
            Some(r) => format!("REVOKED {} ({})", r.at, r.reason),
            None => "valid".to_owned(),
        };
        out.push_str(&format!(
            "  {}  {:<6}  {:<28}  not after {}  {}  {}  [{}]\n",
            e.serial,
            e.kind,
            e.subject,
            e.not_after,
            e.file,
            status,
            e.names.join(", ")
        ));
    }
    Ok(out)
}

/// Files `demo` needs in its certificate directory.
pub const DEMO_FILES: [&str; 7] = [
    STATE_FILE,
    "root-ca.pem",
    "truststore.pem",
    "server.pem",
    "server.key",
    "client.pem",
    "client.key",
];

/// Create the demo's dev PKI in `dir` unless it is already there (the same code as `pki init`
/// and `pki issue`); returns the files written.
pub fn ensure_dev_pki(dir: &Path) -> Result<Vec<PathBuf>> {
    if DEMO_FILES.iter().all(|f| dir.join(f).exists()) {
        return Ok(Vec::new());
    }
    let mut written = Vec::new();
    // Never replace an existing CA: only add what the demo is missing.
    if !dir.join(STATE_FILE).exists() {
        written.extend(init(&InitOptions {
            dir: dir.to_path_buf(),
            levels: 2,
            key: KeyKind::EcP256,
            cn: "Portcullis Dev Root CA".into(),
            force: false,
        })?);
    }
    let missing = |stem: &str| {
        !dir.join(format!("{stem}.pem")).exists() || !dir.join(format!("{stem}.key")).exists()
    };
    if !missing("server") && !missing("client") {
        return Ok(written);
    }
    if missing("server") {
        let (files, _) = issue(&IssueOptions {
            dir: dir.to_path_buf(),
            server: true,
            cn: "localhost".into(),
            dns: vec!["localhost".into()],
            ips: vec![IpAddr::from([127, 0, 0, 1])],
            uris: vec![],
            days: 365,
            passphrase_file: None,
            out: "server".into(),
        })?;
        written.extend(files);
    }
    if missing("client") {
        let (files, _) = issue(&IssueOptions {
            dir: dir.to_path_buf(),
            server: false,
            cn: "demo-client".into(),
            dns: vec![],
            ips: vec![],
            uris: vec!["spiffe://portcullis.dev/demo-client".into()],
            days: 365,
            passphrase_file: None,
            out: "client".into(),
        })?;
        written.extend(files);
    }
    Ok(written)
}
