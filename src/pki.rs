//! A development PKI for `demo`: root CA -> intermediate CA -> server and client certificates,
//! generated at run time (no private key is ever committed).

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// Files of the dev PKI, relative to its directory.
pub const FILES: [&str; 8] = [
    "root-ca.pem",
    "intermediate-ca.pem",
    "truststore.pem",
    "server.pem",
    "server.key",
    "client.pem",
    "client.key",
    "intermediate-ca.key",
];

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Portcullis Dev");
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_params(cn: &str, path_len: Option<u8>) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn);
    p.is_ca = match path_len {
        Some(n) => IsCa::Ca(BasicConstraints::Constrained(n)),
        None => IsCa::Ca(BasicConstraints::Unconstrained),
    };
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(3650);
    p
}

/// Write `contents` to `path`; private keys get mode 0600.
pub fn write_file(path: &Path, contents: &str, private: bool) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

/// Create the dev PKI in `dir` unless it is already there; returns the files written.
pub fn ensure_dev_pki(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if FILES.iter().all(|f| dir.join(f).exists()) {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let root_key = KeyPair::generate()?;
    let root_params = ca_params("Portcullis Dev Root CA", None);
    let root = root_params.self_signed(&root_key)?;
    let root_issuer = Issuer::new(root_params, root_key);

    let int_key = KeyPair::generate()?;
    let int_params = ca_params("Portcullis Dev Intermediate CA", Some(0));
    let int = int_params.signed_by(&int_key, &root_issuer)?;
    let int_key_pem = int_key.serialize_pem();
    let int_issuer = Issuer::new(int_params, int_key);

    let server_key = KeyPair::generate()?;
    let mut sp = CertificateParams::new(vec!["localhost".to_owned()])?;
    sp.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse()?));
    sp.distinguished_name = dn("localhost");
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    sp.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    sp.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    let server = sp.signed_by(&server_key, &int_issuer)?;

    let client_key = KeyPair::generate()?;
    let mut cp = CertificateParams::default();
    cp.distinguished_name = dn("demo-client");
    cp.subject_alt_names = vec![SanType::URI(
        "spiffe://portcullis.dev/demo-client".try_into()?,
    )];
    cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    cp.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    cp.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    let client = cp.signed_by(&client_key, &int_issuer)?;

    let files: [(&str, String, bool); 8] = [
        ("root-ca.pem", root.pem(), false),
        ("intermediate-ca.pem", int.pem(), false),
        (
            "truststore.pem",
            format!("{}{}", int.pem(), root.pem()),
            false,
        ),
        (
            "server.pem",
            format!("{}{}", server.pem(), int.pem()),
            false,
        ),
        ("server.key", server_key.serialize_pem(), true),
        (
            "client.pem",
            format!("{}{}", client.pem(), int.pem()),
            false,
        ),
        ("client.key", client_key.serialize_pem(), true),
        ("intermediate-ca.key", int_key_pem, true),
    ];
    let mut written = Vec::new();
    for (name, contents, private) in files {
        let path = dir.join(name);
        write_file(&path, &contents, private)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
