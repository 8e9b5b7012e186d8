//! The test PKI (CAs, leaves, CRLs, a domain's files), built by rcgen so no key is committed.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// A certificate authority that can issue.
pub struct Ca {
    /// Signs what this CA issues.
    pub issuer: Issuer<'static, KeyPair>,
    /// Certificate, PEM.
    pub pem: String,
    /// Certificate, DER.
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
    /// Common name.
    pub cn: String,
    /// DNS SANs.
    pub dns: Vec<String>,
    /// IP SANs.
    pub ips: Vec<std::net::IpAddr>,
    /// URI SANs.
    pub uris: Vec<String>,
    /// Extended key usages (none: no EKU extension).
    pub eku: Vec<ExtendedKeyUsagePurpose>,
    /// Start of validity.
    pub not_before: time::OffsetDateTime,
    /// End of validity.
    pub not_after: time::OffsetDateTime,
    /// Serial number (random when `None`).
    pub serial: Option<SerialNumber>,
    /// Subject O values.
    pub org: Vec<String>,
    /// Subject OU values.
    pub org_unit: Vec<String>,
    /// E-mail (rfc822Name) SANs.
    pub emails: Vec<String>,
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
            org: vec![],
            org_unit: vec![],
            emails: vec![],
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
            org: vec![],
            org_unit: vec![],
            emails: vec![],
        }
    }
}

/// An issued leaf: PEM chain (leaf + issuer) and key.
#[derive(Clone)]
pub struct Issued {
    /// Leaf then issuer, PEM.
    pub chain_pem: String,
    /// Private key, PKCS#8 PEM.
    pub key_pem: String,
    /// Certificate, DER.
    pub der: CertificateDer<'static>,
    /// Leaf then issuer, DER.
    pub chain_der: Vec<CertificateDer<'static>>,
    /// Private key, PKCS#8 DER.
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
    for o in leaf.org {
        dn.push(DnType::OrganizationName, o);
    }
    for ou in leaf.org_unit {
        dn.push(DnType::OrganizationalUnitName, ou);
    }
    p.distinguished_name = dn;
    for e in leaf.emails {
        p.subject_alt_names
            .push(SanType::Rfc822Name(e.try_into().unwrap()));
    }
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
    /// Where the files are; removed on drop.
    pub dir: tempfile::TempDir,
    /// Root CA.
    pub root: Ca,
    /// Issuing CA, signed by the root.
    pub intermediate: Ca,
    /// Server certificate for the domain name, localhost and 127.0.0.1.
    pub server: Issued,
    /// A good client certificate.
    pub client: Issued,
}

impl Pki {
    /// Build the PKI and write its truststore, root, server and client files into a temp dir.
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
}

/// The PEM of an issued leaf alone, without the issuer `chain_pem` carries.
pub fn leaf_pem(issued: &Issued, issuer: &Ca) -> String {
    issued
        .chain_pem
        .strip_suffix(&issuer.pem)
        .expect("chain_pem ends with the issuer")
        .to_owned()
}
