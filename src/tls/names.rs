//! Names for what certificates carry as OIDs (signature algorithms, key types, curves,
//! extensions), so that refusals and lint findings say `ecdsa-with-SHA1`, not `1.2.840.10045.4.1`.

use std::borrow::Cow;

use x509_parser::asn1_rs::Oid;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// The conventional name of a signature algorithm OID (the dotted OID if unknown).
pub fn signature_name(oid: &str) -> &str {
    match oid {
        "1.2.840.113549.1.1.2" => "md2WithRSAEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.2.840.10040.4.3" => "dsa-with-sha1",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        other => other,
    }
}

/// The name of the algorithm in the content of a DER AlgorithmIdentifier (the OID, then any
/// parameters), as rustls reports an unsupported signature algorithm.
pub fn algorithm_id_name(alg_id: &[u8]) -> String {
    match alg_id {
        [0x06, len, rest @ ..] if usize::from(*len) <= rest.len() && *len < 0x80 => {
            let oid = Oid::new(Cow::Borrowed(&rest[..usize::from(*len)])).to_id_string();
            signature_name(&oid).to_owned()
        }
        _ => "(unreadable algorithm identifier)".to_owned(),
    }
}

/// `certificatePolicies (2.5.29.32)` for a registered extension, the dotted OID otherwise.
pub fn extension_name(oid: &Oid<'_>) -> String {
    let dotted = oid.to_id_string();
    match x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry()) {
        Ok(name) => format!("{name} ({dotted})"),
        Err(_) => dotted,
    }
}

/// The name of a named curve, such as `P-256`.
fn curve_name(oid: &str) -> String {
    match oid {
        "1.2.840.10045.3.1.7" => "P-256".into(),
        "1.3.132.0.34" => "P-384".into(),
        "1.3.132.0.35" => "P-521".into(),
        "1.3.132.0.33" => "P-224".into(),
        "1.2.840.10045.3.1.1" => "P-192".into(),
        "1.3.132.0.10" => "secp256k1".into(),
        other => other.into(),
    }
}

/// A key type by its SubjectPublicKeyInfo algorithm: the OID and, for EC keys, the curve OID.
pub fn key_type_name(algorithm: &str, curve: Option<&str>) -> String {
    match (algorithm, curve) {
        ("1.2.840.113549.1.1.1", _) => "RSA".into(),
        ("1.2.840.113549.1.1.10", _) => "RSASSA-PSS".into(),
        ("1.2.840.10045.2.1", Some(c)) => format!("ECDSA {}", curve_name(c)),
        ("1.2.840.10040.4.1", _) => "DSA".into(),
        ("1.3.101.112", _) => "Ed25519".into(),
        ("1.3.101.113", _) => "Ed448".into(),
        ("2.16.840.1.101.3.4.3.17", _) => "ML-DSA-44".into(),
        ("2.16.840.1.101.3.4.3.18", _) => "ML-DSA-65".into(),
        ("2.16.840.1.101.3.4.3.19", _) => "ML-DSA-87".into(),
        (other, _) => other.into(),
    }
}

/// A public key in words, with the size where it varies: `RSA-1024`, `ECDSA P-256`, `Ed448`.
pub fn key_name(spki: &SubjectPublicKeyInfo<'_>) -> String {
    let algorithm = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    let name = key_type_name(&algorithm, curve.as_deref());
    match (spki.parsed(), name.as_str()) {
        (Ok(PublicKey::RSA(rsa)), _) => format!("RSA-{}", bit_length(rsa.modulus)),
        (Ok(PublicKey::DSA(y)), _) => format!("DSA-{}", bit_length(y)),
        _ => name,
    }
}

/// Bits in a big-endian unsigned integer, ignoring leading zero bytes.
pub fn bit_length(be: &[u8]) -> usize {
    let trimmed: &[u8] = match be.iter().position(|&b| b != 0) {
        Some(p) => &be[p..],
        None => return 0,
    };
    trimmed.len() * 8 - trimmed[0].leading_zeros() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_identifiers_are_named() {
        // ecdsa-with-SHA1, no parameters.
        let sha1 = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
        assert_eq!(algorithm_id_name(&sha1), "ecdsa-with-SHA1");
        // sha1WithRSAEncryption, NULL parameters.
        let rsa = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
        ];
        assert_eq!(algorithm_id_name(&rsa), "sha1WithRSAEncryption");
        assert_eq!(
            algorithm_id_name(&[0x30]),
            "(unreadable algorithm identifier)"
        );
    }

    #[test]
    fn extensions_by_name_or_dotted_oid() {
        let policies: Oid<'_> = "2.5.29.32".parse().unwrap();
        assert_eq!(extension_name(&policies), "certificatePolicies (2.5.29.32)");
        let private: Oid<'_> = "1.3.6.1.4.1.55555.1".parse().unwrap();
        assert_eq!(extension_name(&private), "1.3.6.1.4.1.55555.1");
    }
}
