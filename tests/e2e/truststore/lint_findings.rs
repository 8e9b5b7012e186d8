//! `portcullis::tools::lint` on real bundles built with rcgen: every finding is reported with its code,
//! severity and a message naming the certificate (or PEM block); a clean bundle has no findings
//! and exit code 0; the table, JSON and log-line renderings carry the rows.

use std::path::Path;

use portcullis::tools::lint::{
    AWS_MAX_BYTES, AWS_MAX_CERTIFICATES, Finding, LintReport, Severity, lint_bytes, lint_truststore,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose, PublicKeyData, SerialNumber, SignatureAlgorithm, SigningKey,
};
use time::{Duration, OffsetDateTime};

type Ca = CertifiedIssuer<'static, KeyPair>;

const FILE: &str = "/etc/portcullis/truststore.pem";

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn params(cn: &str, ca: bool) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
    }
    p.not_before = now() - Duration::days(1);
    p.not_after = now() + Duration::days(365);
    p
}

fn root_with(p: CertificateParams) -> Ca {
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

fn root(cn: &str) -> Ca {
    root_with(params(cn, true))
}

fn sub(cn: &str, parent: &Ca) -> Ca {
    CertifiedIssuer::signed_by(params(cn, true), KeyPair::generate().unwrap(), &**parent).unwrap()
}

fn lint(pem: &str) -> LintReport {
    lint_bytes(Path::new(FILE), pem.as_bytes(), false, now())
}

fn lint_aws(pem: &str) -> LintReport {
    lint_bytes(Path::new(FILE), pem.as_bytes(), true, now())
}

/// All findings of row `index` (1-based).
fn row_findings(r: &LintReport, index: usize) -> &[Finding] {
    &r.rows[index - 1].findings
}

/// The single finding with `code` in row `index`; fails listing what was found otherwise.
fn only<'a>(r: &'a LintReport, index: usize, code: &str) -> &'a Finding {
    let found: Vec<&Finding> = row_findings(r, index)
        .iter()
        .filter(|f| f.code == code)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "want one `{code}` on row {index}; report:\n{}",
        r.to_text()
    );
    found[0]
}

fn codes(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.code).collect()
}

fn assert_names(f: &Finding, index: usize, cn: &str) {
    assert!(
        f.message
            .contains(&format!("certificate {index} (CN={cn})"))
            || f.message
                .contains(&format!("Certificate at index {index} (CN={cn})")),
        "message does not name certificate {index} CN={cn}: {}",
        f.message
    );
}

// ---- a fake RSA key, so rcgen can build certificates with key sizes aws-lc will not generate ----

/// An RSA "key" of `bits` bits: a syntactically valid public key and a dummy signature. The lint
/// never verifies signatures, so this yields real certificate structures with such keys.
struct FakeRsa {
    public: Vec<u8>,
    bits: usize,
}

fn der_len(n: usize) -> Vec<u8> {
    match n {
        0..=0x7f => vec![n as u8],
        0x80..=0xff => vec![0x81, n as u8],
        _ => vec![0x82, (n >> 8) as u8, n as u8],
    }
}

fn der_tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend(der_len(body.len()));
    v.extend_from_slice(body);
    v
}

impl FakeRsa {
    fn new(bits: usize) -> FakeRsa {
        let mut modulus = vec![0u8; bits / 8 + 1];
        modulus[1] = 0xc3;
        for (i, b) in modulus.iter_mut().enumerate().skip(2) {
            *b = (i as u8).wrapping_mul(37) ^ 0x5a;
        }
        *modulus.last_mut().unwrap() |= 1;
        let mut seq = der_tlv(0x02, &modulus);
        seq.extend(der_tlv(0x02, &[0x01, 0x00, 0x01]));
        FakeRsa {
            public: der_tlv(0x30, &seq),
            bits,
        }
    }
}

impl PublicKeyData for FakeRsa {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

impl SigningKey for FakeRsa {
    fn sign(&self, _msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(vec![0x5a; self.bits / 8])
    }
}

/// A self-signed RSA CA with a `bits`-bit key, as DER, signed "sha256WithRSAEncryption".
fn rsa_ca_der(cn: &str, bits: usize) -> Vec<u8> {
    params(cn, true)
        .self_signed(&FakeRsa::new(bits))
        .unwrap()
        .der()
        .to_vec()
}

/// Replace the sha256WithRSAEncryption OID (both places) with another PKCS#1 signature OID
/// whose last arc is `arc` (5 = SHA-1, 4 = MD5); rcgen cannot sign with those itself.
fn with_rsa_signature_arc(mut der: Vec<u8>, arc: u8) -> Vec<u8> {
    let oid = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
    ];
    let mut n = 0;
    let mut i = 0;
    while i + oid.len() <= der.len() {
        if der[i..i + oid.len()] == oid {
            der[i + oid.len() - 1] = arc;
            n += 1;
        }
        i += 1;
    }
    assert_eq!(
        n, 2,
        "signature OID appears in TBSCertificate and Certificate"
    );
    der
}

fn pem_of(der: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

// ---- clean bundles and renderings ----

#[test]
fn clean_bundle_has_no_findings_and_exit_0() {
    let r = root("Test Root");
    let i = sub("Test Issuing CA", &r);
    let pem = format!("{}{}", r.pem(), i.pem());
    for report in [lint(&pem), lint_aws(&pem)] {
        assert_eq!(report.rows.len(), 2);
        assert!(report.file_findings.is_empty(), "{}", report.to_text());
        assert!(
            report.rows.iter().all(|r| r.findings.is_empty()),
            "{}",
            report.to_text()
        );
        assert_eq!(report.worst(), None);
        assert_eq!(report.exit_code(), 0);
        assert!(report.warnings().is_empty());
        assert!(report.to_text().contains("clean: no findings"));
    }
}

#[test]
fn rows_describe_each_certificate() {
    let mut p = params("Row Root", true);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(2));
    p.serial_number = Some(SerialNumber::from_slice(&[0x01, 0x02, 0xab]));
    p.not_after = time::Date::from_calendar_date(2035, time::Month::January, 1)
        .unwrap()
        .midnight()
        .assume_utc();
    let r = root_with(p);
    let rsa = pem_of(&rsa_ca_der("RSA Root", 2048));
    let leaf_p = params("leaf.example", false);
    let leaf = leaf_p
        .signed_by(&KeyPair::generate().unwrap(), &*r)
        .unwrap()
        .pem();
    let report = lint(&format!("{}{rsa}{leaf}", r.pem()));
    let rows = &report.rows;
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (
            rows[0].index,
            rows[0].subject.as_str(),
            rows[0].issuer.as_str()
        ),
        (1, "CN=Row Root", "CN=Row Root")
    );
    assert_eq!(rows[0].serial, "0102ab");
    assert_eq!(rows[0].not_after, "2035-01-01T00:00:00Z");
    assert_eq!(rows[0].key, "EC P-256");
    assert_eq!(rows[0].signature, "ecdsa-with-SHA256");
    assert!(rows[0].ca);
    assert_eq!(rows[0].path_len, Some(2));
    assert_eq!(rows[1].key, "RSA 2048");
    assert_eq!(rows[1].signature, "sha256WithRSAEncryption");
    assert_eq!(rows[1].path_len, None);
    assert_eq!(rows[2].issuer, "CN=Row Root");
    assert!(!rows[2].ca);

    let text = report.to_text();
    for needle in [
        "SUBJECT",
        "PATHLEN",
        "CN=Row Root",
        "0102ab",
        "2035-01-01T00:00:00Z",
        "RSA 2048",
        "warning not_a_ca: certificate 3 (CN=leaf.example)",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }
}

#[test]
fn json_output_parses_and_contains_rows() {
    let r = root("Json Root");
    let leaf = params("json-leaf", false)
        .signed_by(&KeyPair::generate().unwrap(), &*r)
        .unwrap()
        .pem();
    let report = lint(&format!("{}{leaf}", r.pem()));
    let v: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(v["file"], FILE);
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["worst"], "warning");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["index"], 1);
    assert_eq!(rows[0]["subject"], "CN=Json Root");
    assert_eq!(rows[0]["key"], "EC P-256");
    assert_eq!(rows[0]["signature"], "ecdsa-with-SHA256");
    assert_eq!(rows[0]["ca"], true);
    assert!(rows[0]["path_len"].is_null());
    assert!(rows[0]["serial"].as_str().unwrap().len() >= 2);
    assert!(rows[0]["not_after"].as_str().unwrap().ends_with('Z'));
    assert_eq!(rows[0]["findings"].as_array().unwrap().len(), 0);
    assert_eq!(rows[1]["subject"], "CN=json-leaf");
    assert_eq!(rows[1]["findings"][0]["code"], "not_a_ca");
    assert_eq!(rows[1]["findings"][0]["severity"], "warning");
    assert!(
        rows[1]["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("CN=json-leaf")
    );
    assert!(v["file_findings"].as_array().unwrap().is_empty());
}

#[test]
fn warning_lines_name_file_and_certificate() {
    let r = root("Log Root");
    let leaf = params("log-leaf", false)
        .signed_by(&KeyPair::generate().unwrap(), &*r)
        .unwrap()
        .pem();
    let key = KeyPair::generate().unwrap().serialize_pem();
    let report = lint(&format!("{}{leaf}{key}", r.pem()));
    let lines = report.warnings();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l.starts_with(&format!("{FILE}: "))));
    assert!(lines.iter().any(
        |l| l.starts_with(&format!("{FILE}: certificate 2 (CN=log-leaf)"))
            && l.contains("not_a_ca")
    ));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("PEM block 3") && l.contains("error not_a_certificate"))
    );
}

// ---- one test per finding ----

#[test]
fn expired_ca_is_a_warning() {
    let mut p = params("Retired Root CA", true);
    p.not_before = now() - Duration::days(400);
    p.not_after = now() - Duration::days(10);
    let report = lint(&root_with(p).pem());
    let f = only(&report, 1, "expired");
    assert_eq!(f.severity, Severity::Warning);
    assert_names(f, 1, "Retired Root CA");
    assert_eq!(report.exit_code(), 1);
}

#[test]
fn expiring_within_30_days_is_a_warning() {
    let mut p = params("Soon Root", true);
    p.not_after = now() + Duration::days(10);
    let report = lint(&root_with(p).pem());
    let f = only(&report, 1, "expiring");
    assert_eq!(f.severity, Severity::Warning);
    assert_names(f, 1, "Soon Root");
    assert!(codes(row_findings(&report, 1)) == ["expiring"]);

    let mut p = params("Later Root", true);
    p.not_after = now() + Duration::days(45);
    assert!(lint(&root_with(p).pem()).rows[0].findings.is_empty());
}

#[test]
fn not_yet_valid_is_a_warning() {
    let mut p = params("Future Root", true);
    p.not_before = now() + Duration::days(10);
    p.not_after = now() + Duration::days(400);
    let report = lint(&root_with(p).pem());
    let f = only(&report, 1, "not_yet_valid");
    assert_eq!(f.severity, Severity::Warning);
    assert_names(f, 1, "Future Root");
}

#[test]
fn non_ca_leaf_is_a_warning() {
    let r = root("Leaf Root");
    let leaf = params("client.example", false)
        .signed_by(&KeyPair::generate().unwrap(), &*r)
        .unwrap()
        .pem();
    let report = lint(&format!("{}{leaf}", r.pem()));
    assert!(row_findings(&report, 1).is_empty());
    let f = only(&report, 2, "not_a_ca");
    assert_eq!(f.severity, Severity::Warning);
    assert_names(f, 2, "client.example");
    assert_eq!(codes(row_findings(&report, 2)), ["not_a_ca"]);
}

#[test]
fn key_usage_without_key_cert_sign_is_a_warning() {
    let mut p = params("No Sign Root", true);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let report = lint(&root_with(p).pem());
    let f = only(&report, 1, "missing_key_cert_sign");
    assert_eq!(f.severity, Severity::Warning);
    assert_names(f, 1, "No Sign Root");
    assert!(f.message.contains("Digital Signature"), "{}", f.message);
}

#[test]
fn rsa_1024_is_a_weak_key_and_unsupported_under_aws() {
    let pem = pem_of(&rsa_ca_der("Small RSA Root", 1024));
    let report = lint(&pem);
    assert_eq!(report.rows[0].key, "RSA 1024");
    let f = only(&report, 1, "weak_key");
    assert_eq!(f.severity, Severity::Warning);
    assert_names(f, 1, "Small RSA Root");
    assert!(f.message.contains("RSA 1024"));

    let aws = lint_aws(&pem);
    assert!(!codes(row_findings(&aws, 1)).contains(&"weak_key"));
    let f = only(&aws, 1, "unsupported_algorithm");
    assert_eq!(f.severity, Severity::Error);
    assert_names(f, 1, "Small RSA Root");
    assert!(f.message.contains("RSA 1024"), "{}", f.message);
    assert_eq!(aws.exit_code(), 2);
}

#[test]
fn sha1_and_md5_signatures_are_weak() {
    for (arc, name) in [(5, "sha1WithRSAEncryption"), (4, "md5WithRSAEncryption")] {
        let pem = pem_of(&with_rsa_signature_arc(rsa_ca_der("Old Root", 2048), arc));
        let report = lint(&pem);
        assert_eq!(report.rows[0].signature, name);
        let f = only(&report, 1, "weak_signature");
        assert_eq!(f.severity, Severity::Warning);
        assert_names(f, 1, "Old Root");
        assert!(f.message.contains(name));
        assert!(!codes(row_findings(&report, 1)).contains(&"weak_key"));

        let aws = lint_aws(&pem);
        let f = only(&aws, 1, "unsupported_algorithm");
        assert_eq!(f.severity, Severity::Error);
        assert!(f.message.contains(name), "{}", f.message);
    }
}

#[test]
fn p521_and_rsa_8192_are_fine_but_unsupported_under_aws() {
    let p521 = root_with_key(
        "P521 Root",
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap(),
    );
    let rsa = pem_of(&rsa_ca_der("Big RSA Root", 8192));
    let pem = format!("{p521}{rsa}");
    let report = lint(&pem);
    assert_eq!(report.rows[0].key, "EC P-521");
    assert_eq!(report.rows[1].key, "RSA 8192");
    assert_eq!(report.exit_code(), 0, "{}", report.to_text());
    let aws = lint_aws(&pem);
    assert_names(only(&aws, 1, "unsupported_algorithm"), 1, "P521 Root");
    assert_names(only(&aws, 2, "unsupported_algorithm"), 2, "Big RSA Root");
}

fn root_with_key(cn: &str, key: KeyPair) -> String {
    CertifiedIssuer::self_signed(params(cn, true), key)
        .unwrap()
        .pem()
}

#[test]
fn duplicate_certificate_is_a_warning() {
    let r = root("Twice Root");
    let report = lint(&format!("{}{}", r.pem(), r.pem()));
    assert!(row_findings(&report, 1).is_empty());
    let f = only(&report, 2, "duplicate");
    assert_eq!(f.severity, Severity::Warning);
    assert_names(f, 2, "Twice Root");
    assert!(f.message.contains("certificate 1"));
    assert_eq!(codes(row_findings(&report, 2)), ["duplicate"]);
}

#[test]
fn intermediate_without_its_root_is_a_broken_chain() {
    let r = root("Absent Root");
    let i = sub("Orphan Issuing CA", &r);
    let report = lint(&i.pem());
    let f = only(&report, 1, "broken_chain");
    assert_eq!(f.severity, Severity::Warning);
    assert_names(f, 1, "Orphan Issuing CA");
    assert!(f.message.contains("`CN=Absent Root`"), "{}", f.message);
    // With its root, the chain is whole.
    assert!(
        lint(&format!("{}{}", i.pem(), r.pem()))
            .rows
            .iter()
            .all(|r| r.findings.is_empty())
    );
}

#[test]
fn six_level_chain_exceeds_the_depth_limit() {
    let mut cas = vec![root("Level 1")];
    for n in 2..=6 {
        let next = sub(&format!("Level {n}"), cas.last().unwrap());
        cas.push(next);
    }
    let pem: String = cas.iter().map(|c| c.pem()).collect();
    let report = lint(&pem);
    for i in 1..=5 {
        assert!(row_findings(&report, i).is_empty(), "{}", report.to_text());
    }
    let f = only(&report, 6, "chain_too_long");
    assert_eq!(f.severity, Severity::Warning);
    assert_names(f, 6, "Level 6");
    assert!(f.message.contains("6 CA certificates"), "{}", f.message);
    assert!(f.message.contains("CN=Level 1"));

    // API Gateway allows 4: levels 5 and 6 are over.
    let aws = lint_aws(&pem);
    assert!(row_findings(&aws, 4).is_empty());
    assert_names(only(&aws, 5, "chain_too_long"), 5, "Level 5");
    assert_names(only(&aws, 6, "chain_too_long"), 6, "Level 6");
}

#[test]
fn issuer_loop_terminates() {
    // Two CAs issuing each other (same names, different keys): the walk must stop.
    let a_key = KeyPair::generate().unwrap();
    let b_key = KeyPair::generate().unwrap();
    let a_params = params("Loop A", true);
    let b_params = params("Loop B", true);
    let a_issuer = rcgen::Issuer::from_params(&a_params, &a_key);
    let b_issuer = rcgen::Issuer::from_params(&b_params, &b_key);
    let a = a_params.signed_by(&a_key, &b_issuer).unwrap().pem();
    let b = b_params.signed_by(&b_key, &a_issuer).unwrap().pem();
    let report = lint(&format!("{a}{b}"));
    assert_eq!(report.rows.len(), 2);
    assert_eq!(report.exit_code(), 0, "{}", report.to_text());
}

#[test]
fn private_key_block_is_an_error_naming_its_label_and_position() {
    let r = root("Keyed Root");
    let key = KeyPair::generate().unwrap().serialize_pem();
    let report = lint(&format!("{}{key}", r.pem()));
    assert_eq!(report.rows.len(), 1);
    let f: Vec<&Finding> = report
        .file_findings
        .iter()
        .filter(|f| f.code == "not_a_certificate")
        .collect();
    assert_eq!(f.len(), 1, "{}", report.to_text());
    assert_eq!(f[0].severity, Severity::Error);
    assert!(f[0].message.contains("PEM block 2"), "{}", f[0].message);
    assert!(f[0].message.contains("`PRIVATE KEY`"), "{}", f[0].message);
    assert_eq!(report.exit_code(), 2);

    // A key alone: also no certificates at all.
    let alone = lint(&key);
    assert_eq!(
        codes(&alone.file_findings),
        ["not_a_certificate", "no_certificates"]
    );
}

#[test]
fn trailing_garbage_is_an_error() {
    let r = root("Tail Root");
    let report = lint(&format!("{}\n\nrm -rf /\n", r.pem()));
    let f: Vec<&Finding> = report
        .file_findings
        .iter()
        .filter(|f| f.code == "trailing_garbage")
        .collect();
    assert_eq!(f.len(), 1, "{}", report.to_text());
    assert_eq!(f[0].severity, Severity::Error);
    assert!(f[0].message.contains("after the last END line"));
    assert!(row_findings(&report, 1).is_empty());
    assert_eq!(report.exit_code(), 2);

    // A BEGIN without END at the end of the file (a truncated bundle).
    let second = root("Cut Root").pem();
    let cut = &second[..second.len() / 2];
    let report = lint(&format!("{}{cut}", r.pem()));
    assert_eq!(report.rows.len(), 1);
    let f = &report.file_findings[0];
    assert_eq!((f.code, f.severity), ("trailing_garbage", Severity::Error));
    assert!(f.message.contains("PEM block 2") && f.message.contains("no END line"));

    // Explanatory text between blocks is only a note.
    let report = lint(&format!("subject=CN=Tail Root\n{}", r.pem()));
    assert_eq!(codes(&report.file_findings), ["stray_text"]);
    assert_eq!(report.file_findings[0].severity, Severity::Info);
    assert_eq!(report.exit_code(), 0);
}

#[test]
fn invalid_base64_and_unparsable_der_are_errors_on_their_row() {
    let r = root("Good Root");
    let pem = format!(
        "{}-----BEGIN CERTIFICATE-----\nnot*base64\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        r.pem()
    );
    let report = lint(&pem);
    assert_eq!(report.rows.len(), 3);
    let f = only(&report, 2, "malformed_pem");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.message.contains("certificate 2"), "{}", f.message);
    let f = only(&report, 3, "unparsable_certificate");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.message.contains("certificate 3"), "{}", f.message);
    assert!(row_findings(&report, 1).is_empty());
}

#[test]
fn empty_and_unreadable_files_are_errors() {
    let report = lint("");
    assert_eq!(codes(&report.file_findings), ["no_certificates"]);
    assert_eq!(report.exit_code(), 2);

    let missing = Path::new("/nonexistent/portcullis/truststore.pem");
    let report = lint_truststore(missing, false, now());
    assert_eq!(codes(&report.file_findings), ["unreadable"]);
    assert_eq!(report.file_findings[0].severity, Severity::Error);
    assert!(report.file_findings[0].message.contains("/nonexistent/"));
    assert!(report.warnings()[0].contains("unreadable"));
}

#[test]
fn lint_truststore_reads_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundle.pem");
    std::fs::write(&path, root("File Root").pem()).unwrap();
    let report = lint_truststore(&path, true, now());
    assert_eq!(report.file, path);
    assert_eq!(report.rows[0].subject, "CN=File Root");
    assert_eq!(report.exit_code(), 0);
}

// ---- API Gateway rules ----

#[test]
fn aws_wording_names_index() {
    let mut p = params("Retired Root CA", true);
    p.not_before = now() - Duration::days(400);
    p.not_after = now() - Duration::days(10);
    let report = lint_aws(&root_with(p).pem());
    let f = only(&report, 1, "expired");
    assert!(
        f.message
            .starts_with("Certificate at index 1 (CN=Retired Root CA) has expired"),
        "{}",
        f.message
    );
}

#[test]
fn aws_limits_count_and_size() {
    let one = root("Many Root").pem();
    let many = one.repeat(AWS_MAX_CERTIFICATES + 1);
    assert!(many.len() <= AWS_MAX_BYTES);
    let report = lint_aws(&many);
    let f: Vec<&Finding> = report.file_findings.iter().collect();
    assert_eq!(codes(&report.file_findings), ["too_many_certificates"]);
    assert_eq!(f[0].severity, Severity::Error);
    assert!(
        f[0].message.contains("1001 certificates"),
        "{}",
        f[0].message
    );
    // Without --aws only the duplicates are reported.
    assert!(lint(&many).file_findings.is_empty());

    let big = format!("{one}{}", " \n".repeat(AWS_MAX_BYTES / 2));
    let report = lint_aws(&big);
    assert_eq!(codes(&report.file_findings), ["file_too_large"]);
    assert_eq!(report.file_findings[0].severity, Severity::Error);
    assert_eq!(lint(&big).exit_code(), 0);
}

#[test]
fn corrupted_base64_is_a_malformed_pem_error_naming_the_line() {
    let good = root("Clean Root");
    let mut lines: Vec<String> = good.pem().lines().map(str::to_owned).collect();
    // Damage the body of the only block.
    lines[2].replace_range(0..4, "*#*#");
    let report = lint(&(lines.join("\n") + "\n"));
    let f = report
        .file_findings
        .iter()
        .chain(report.rows.iter().flat_map(|r| r.findings.iter()))
        .find(|f| f.code == "malformed_pem")
        .unwrap_or_else(|| panic!("no malformed_pem finding:\n{}", report.to_text()));
    assert_eq!(f.severity, Severity::Error);
    assert!(f.message.contains("line 1"), "{}", f.message);
    assert_eq!(report.exit_code(), 2);
}
