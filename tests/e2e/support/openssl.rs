//! Fixtures rcgen cannot make, made at test time with the `openssl` command line: keys rustls
//! cannot use (RSA-1024, Ed448), certificates signed with SHA-1 or carrying critical extensions,
//! CRLs written by `openssl ca` without a CRL Number, and a handshake by `openssl s_client`.

use std::path::{Path, PathBuf};

use rcgen::{Issuer, KeyPair};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::{Ca, Out, args, tool};

/// Extensions of a client certificate (clientAuth), in `openssl x509 -extfile` syntax.
pub const CLIENT_EXT: &str = "basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n";

/// Extensions of a CA certificate, in `openssl x509 -extfile` syntax.
pub const CA_EXT: &str =
    "basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n";

fn openssl(a: &[&str], cwd: &Path) -> Out {
    tool("openssl", args(a.iter().copied()), Some(cwd)).expect_ok(&format!("openssl {a:?}"))
}

/// A private key `NAME.key` (PKCS#8 PEM) made by `openssl genpkey ALG...`, such as
/// `["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]` or `["-algorithm", "ed448"]`.
pub fn genpkey(dir: &Path, name: &str, alg: &[&str]) -> PathBuf {
    let file = format!("{name}.key");
    let mut a = vec!["genpkey"];
    a.extend_from_slice(alg);
    a.extend(["-out", &file]);
    openssl(&a, dir);
    dir.join(file)
}

/// A certificate made by openssl, and its key.
pub struct Made {
    /// The certificate, PEM.
    pub pem: String,
    /// The certificate, DER.
    pub der: CertificateDer<'static>,
    /// The certificate's file.
    pub cert_path: PathBuf,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
    /// The private key's file.
    pub key_path: PathBuf,
}

impl Made {
    /// As a CA that rcgen can issue from.
    pub fn as_ca(&self) -> Ca {
        let key = KeyPair::from_pem(&self.key_pem).unwrap();
        Ca {
            issuer: Issuer::from_ca_cert_pem(&self.pem, key).unwrap(),
            pem: self.pem.clone(),
            der: self.der.clone(),
        }
    }
}

/// Write `ca`'s certificate and key as `NAME-ca.pem` and `NAME-ca.key`.
fn ca_files(dir: &Path, ca: &Ca) -> (PathBuf, PathBuf) {
    let name = format!("{:x}", sha_name(&ca.der));
    let cert = dir.join(format!("{name}-ca.pem"));
    let key = dir.join(format!("{name}-ca.key"));
    std::fs::write(&cert, &ca.pem).unwrap();
    std::fs::write(&key, ca.issuer.key().serialize_pem()).unwrap();
    (cert, key)
}

/// A short stable name for a certificate's files.
fn sha_name(der: &[u8]) -> u64 {
    der.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Have `ca` sign a certificate `CN.pem` for `key`, subject `CN=cn`, with `digest`
/// (`sha1`, `sha256`...), serial `serial` (hex) and the extensions `ext` (`-extfile` syntax),
/// valid from now for 30 days.
pub fn sign(
    dir: &Path,
    ca: &Ca,
    key: &Path,
    cn: &str,
    digest: &str,
    serial: &str,
    ext: &str,
) -> Made {
    let name = cn;
    let (ca_cert, ca_key) = ca_files(dir, ca);
    let csr = dir.join(format!("{name}.csr"));
    let ext_file = dir.join(format!("{name}.ext"));
    let cert_path = dir.join(format!("{name}.pem"));
    std::fs::write(&ext_file, ext).unwrap();
    let subject = format!("/CN={cn}");
    let (key_s, csr_s) = (key.display().to_string(), csr.display().to_string());
    openssl(
        &[
            "req", "-new", "-key", &key_s, "-subj", &subject, "-out", &csr_s,
        ],
        dir,
    );
    let serial = format!("0x{serial}");
    let digest = format!("-{digest}");
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &csr_s,
            "-CA",
            &ca_cert.display().to_string(),
            "-CAkey",
            &ca_key.display().to_string(),
            &digest,
            "-set_serial",
            &serial,
            "-days",
            "30",
            "-extfile",
            &ext_file.display().to_string(),
            "-out",
            &cert_path.display().to_string(),
        ],
        dir,
    );
    let pem = std::fs::read_to_string(&cert_path).unwrap();
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    Made {
        pem,
        der,
        cert_path,
        key_pem: std::fs::read_to_string(key).unwrap(),
        key_path: key.to_path_buf(),
    }
}

/// UTCTime `YYMMDDHHMMSSZ`, as `openssl ca`'s index file writes times.
fn utc_time(t: time::OffsetDateTime) -> String {
    format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        t.year() % 100,
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A PEM CRL `NAME.crl.pem` of `ca` written by `openssl ca -gencrl`, revoking the certificates
/// with the given (hex serial, CN). No `crlnumber` file is configured, so it has no CRL Number;
/// `crl_extensions` (`-extfile` syntax lines, such as an authority key identifier) are added
/// when given.
pub fn openssl_crl(
    dir: &Path,
    name: &str,
    ca: &Ca,
    revoked: &[(&str, &str)],
    crl_extensions: Option<&str>,
) -> PathBuf {
    let (ca_cert, ca_key) = ca_files(dir, ca);
    let now = time::OffsetDateTime::now_utc();
    let index = dir.join(format!("{name}.index.txt"));
    let lines: String = revoked
        .iter()
        .map(|(serial, cn)| {
            format!(
                "R\t{}\t{},keyCompromise\t{serial}\tunknown\t/CN={cn}\n",
                utc_time(now + time::Duration::days(30)),
                utc_time(now - time::Duration::minutes(5)),
            )
        })
        .collect();
    std::fs::write(&index, lines).unwrap();
    let mut cnf = format!(
        "[ca]\ndefault_ca = d\n[d]\ndatabase = {}\ncertificate = {}\nprivate_key = {}\ndefault_md = sha256\ndefault_crl_days = 7\n",
        index.display(),
        ca_cert.display(),
        ca_key.display()
    );
    if let Some(ext) = crl_extensions {
        cnf.push_str(&format!("crl_extensions = crl_ext\n[crl_ext]\n{ext}\n"));
    }
    let cnf_file = dir.join(format!("{name}.cnf"));
    std::fs::write(&cnf_file, cnf).unwrap();
    let out = dir.join(format!("{name}.crl.pem"));
    openssl(
        &[
            "ca",
            "-config",
            &cnf_file.display().to_string(),
            "-gencrl",
            "-out",
            &out.display().to_string(),
        ],
        dir,
    );
    out
}

/// One TLS 1.3 handshake with `openssl s_client` presenting `cert` (and the CA certificates of
/// `chain`, if any) with `key`, at security level 0 so that openssl itself does not refuse a weak
/// key or a SHA-1 signature first. Returns what it said.
pub fn s_client(
    addr: std::net::SocketAddr,
    ca_file: &Path,
    cert: &Path,
    chain: Option<&Path>,
    key: &Path,
) -> Out {
    let mut a: Vec<String> = [
        "s_client",
        "-connect",
        &addr.to_string(),
        "-servername",
        "localhost",
        "-tls1_3",
        "-cipher",
        "DEFAULT:@SECLEVEL=0",
        "-CAfile",
        &ca_file.display().to_string(),
        "-cert",
        &cert.display().to_string(),
        "-key",
        &key.display().to_string(),
    ]
    .map(str::to_owned)
    .to_vec();
    if let Some(chain) = chain {
        a.extend(["-cert_chain".to_owned(), chain.display().to_string()]);
    }
    tool("openssl", args(a), None)
}
