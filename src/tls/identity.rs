//! The verified client identity, derived once per connection and shared by its requests.

use http::HeaderValue;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::config::XfccElements;

/// The certificates a client presented, leaf first, shared by its connection's requests.
pub type PresentedChain = std::sync::Arc<[std::sync::Arc<[u8]>]>;

/// Who the client is, from its verified leaf certificate.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    /// Subject in RFC 4514 form, such as `CN=inventory-client,O=Example`.
    pub subject: String,
    /// Serial number, lower-case hex.
    pub serial: String,
    /// SHA-256 of the DER certificate, lower-case hex.
    pub sha256: String,
    /// URI subject alternative names.
    pub uris: Vec<String>,
    /// DNS subject alternative names.
    pub dns: Vec<String>,
    /// The `x-forwarded-client-cert` value sent upstream (Envoy's format), built once with
    /// `xfcc_elements`.
    pub xfcc: HeaderValue,
    /// The elements `xfcc` holds: the domain's choice, so most requests reuse it.
    pub xfcc_elements: XfccElements,
    /// Issuer in RFC 4514 form.
    pub issuer: String,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// The DER leaf, for mappings that forward the certificate itself (empty when no route
    /// does: see [`ClientIdentity::without_der`]).
    pub der: std::sync::Arc<[u8]>,
    /// A verified certificate stands behind this identity.
    pub verified: bool,
    /// Subject CN values.
    pub subject_cn: Vec<String>,
    /// Subject O values.
    pub subject_o: Vec<String>,
    /// Subject OU values.
    pub subject_ou: Vec<String>,
    /// E-mail (rfc822Name) subject alternative names.
    pub emails: Vec<String>,
    /// SHA-256 of the leaf's SubjectPublicKeyInfo.
    pub spki_sha256: [u8; 32],
    /// SHA-256 of the CA certificate that issued the leaf, when the verifier found it.
    pub issuer_sha256: Option<[u8; 32]>,
}

impl ClientIdentity {
    /// No certificate: a client of the default `execute-api` endpoint. It has no subject and
    /// sends no `x-forwarded-client-cert` upstream.
    pub fn anonymous() -> ClientIdentity {
        ClientIdentity {
            subject: String::new(),
            serial: String::new(),
            sha256: String::new(),
            uris: Vec::new(),
            dns: Vec::new(),
            xfcc: HeaderValue::from_static(""),
            xfcc_elements: XfccElements::DEFAULT,
            issuer: String::new(),
            not_before: 0,
            not_after: 0,
            der: std::sync::Arc::from(&[][..]),
            verified: false,
            subject_cn: Vec::new(),
            subject_o: Vec::new(),
            subject_ou: Vec::new(),
            emails: Vec::new(),
            spki_sha256: [0; 32],
            issuer_sha256: None,
        }
    }

    /// Whether a verified certificate stands behind this identity.
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    /// The same identity without the leaf's bytes, which only `clientCertPem` mappings need.
    pub fn without_der(mut self) -> ClientIdentity {
        self.der = std::sync::Arc::from(&[][..]);
        self
    }

    /// The leaf as PEM, as API Gateway's `$context.identity.clientCert.clientCertPem`.
    pub fn pem(&self) -> String {
        if self.der.is_empty() {
            return String::new();
        }
        pem::encode(&pem::Pem::new("CERTIFICATE", self.der.to_vec()))
    }
}

impl ClientIdentity {
    /// Parse the identity out of a DER leaf certificate.
    pub fn from_der(der: &[u8]) -> Option<ClientIdentity> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let subject = rfc4514(cert.subject());
        let mut uris = Vec::new();
        let mut dns = Vec::new();
        let mut emails = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::URI(u) => uris.push((*u).to_owned()),
                    GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                    GeneralName::RFC822Name(e) => emails.push((*e).to_owned()),
                    _ => {}
                }
            }
        }
        let values =
            |attrs: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
                attrs
                    .filter_map(|a| a.as_str().ok().map(str::to_owned))
                    .collect::<Vec<String>>()
            };
        let name = cert.subject();
        let spki = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.public_key().raw);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        let sha256 = hex(digest.as_ref());
        let serial = hex(cert.raw_serial());
        let mut id = ClientIdentity {
            subject,
            serial,
            sha256,
            uris,
            dns,
            xfcc: HeaderValue::from_static(""),
            xfcc_elements: XfccElements::DEFAULT,
            issuer: rfc4514(cert.issuer()),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            der: der.into(),
            verified: true,
            subject_cn: values(&mut name.iter_common_name()),
            subject_o: values(&mut name.iter_organization()),
            subject_ou: values(&mut name.iter_organizational_unit()),
            emails,
            spki_sha256: spki.as_ref().try_into().unwrap_or([0; 32]),
            issuer_sha256: None,
        };
        id.set_xfcc(XfccElements::DEFAULT, None, &[])?;
        Some(id)
    }

    /// Build `xfcc` with `elements`: a domain's choice, once per connection. `None` when the
    /// value cannot be a header (it always can: every byte is filtered or encoded).
    pub fn set_xfcc(
        &mut self,
        elements: XfccElements,
        chain: Option<&[std::sync::Arc<[u8]>]>,
        by: &[String],
    ) -> Option<()> {
        self.xfcc = HeaderValue::from_str(&super::xfcc::value(elements, self, chain, by)).ok()?;
        self.xfcc_elements = elements;
        Some(())
    }
}

/// API Gateway's certificate validity format, such as `May 28 12:30:02 2019 GMT`.
pub fn validity_text(unix: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix) else {
        return String::new();
    };
    format!(
        "{} {:>2} {:02}:{:02}:{:02} {} GMT",
        crate::access_format::month_abbrev(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    )
}

/// A distinguished name in RFC 4514 order (most specific first), as Envoy prints it.
pub fn rfc4514(name: &x509_parser::x509::X509Name<'_>) -> String {
    let registry = x509_parser::objects::oid_registry();
    let mut parts = Vec::new();
    for rdn in name.iter_rdn().collect::<Vec<_>>().into_iter().rev() {
        let attrs: Vec<String> = rdn
            .iter()
            .map(|attr| {
                let key = x509_parser::objects::oid2abbrev(attr.attr_type(), registry)
                    .map(str::to_owned)
                    .unwrap_or_else(|_| attr.attr_type().to_id_string());
                let value = attr
                    .as_str()
                    .map(escape_rdn_value)
                    .unwrap_or_else(|_| format!("#{}", hex(attr.attr_value().data)));
                format!("{key}={value}")
            })
            .collect();
        parts.push(attrs.join("+"));
    }
    parts.join(",")
}

fn escape_rdn_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        let lead = i == 0 && (c == ' ' || c == '#');
        let trail = i + 1 == v.chars().count() && c == ' ';
        if lead || trail || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(cn: &str, sans: Vec<rcgen::SanType>) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example, Inc.");
        params.subject_alt_names = sans;
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn identity_reads_subject_sans_serial_and_fingerprint() {
        let der = leaf(
            "inventory-client",
            vec![
                rcgen::SanType::URI("spiffe://example/inventory".try_into().unwrap()),
                rcgen::SanType::DnsName("client.example".try_into().unwrap()),
            ],
        );
        let id = ClientIdentity::from_der(&der).unwrap();
        assert!(id.subject.contains("CN=inventory-client"), "{}", id.subject);
        assert!(id.subject.contains(r"O=Example\, Inc."), "{}", id.subject);
        assert_eq!(id.uris, ["spiffe://example/inventory"]);
        assert_eq!(id.dns, ["client.example"]);
        assert_eq!(id.sha256.len(), 64);
        assert!(!id.serial.is_empty());
        let xfcc = id.xfcc.to_str().unwrap();
        assert!(xfcc.starts_with(&format!("Hash={};", id.sha256)), "{xfcc}");
        assert!(xfcc.contains("URI=spiffe://example/inventory"), "{xfcc}");
    }

    #[test]
    fn certificate_times_use_api_gateways_format() {
        assert_eq!(validity_text(1_559_046_602), "May 28 12:30:02 2019 GMT");
    }

    #[test]
    fn garbage_is_not_an_identity() {
        assert!(ClientIdentity::from_der(b"not a certificate").is_none());
    }
}
