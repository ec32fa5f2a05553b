//! Checking a card's proof of presence (DESIGN 4.2): the certificate chains to the trusted
//! issuing CA and is in date, and its key signed SHA-256(SHA-256(origin) || SHA-256(nonce)).
//! The caller then matches the certificate to the enrolled card.

use base64::Engine;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use selfservice_rules::proof::proof_digest;
use selfservice_rules::protocol::{CardProof, ProofAlgorithm};
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode, DecodePem, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

const SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the certificate cannot be read")]
    BadCertificate,
    #[error("the certificate is not from the trusted issuing CA")]
    UntrustedIssuer,
    #[error("the certificate has expired or is not yet valid")]
    OutOfDate,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("no trusted CA is configured")]
    NoTrustedCa,
}

pub struct TrustedCa {
    certificate: Certificate,
    key: VerifyingKey,
}

impl TrustedCa {
    pub fn from_pem(pem: &str) -> anyhow::Result<TrustedCa> {
        let certificate = Certificate::from_pem(pem.as_bytes())
            .map_err(|e| anyhow::anyhow!("CA certificate: {e}"))?;
        let key =
            public_key(&certificate).ok_or_else(|| anyhow::anyhow!("the CA key is not P-256"))?;
        Ok(TrustedCa { certificate, key })
    }
}

fn public_key(certificate: &Certificate) -> Option<VerifyingKey> {
    let spki = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .ok()?;
    VerifyingKey::from_public_key_der(&spki).ok()
}

/// The card key's signature over the digest, with the algorithm the proof names, which must
/// be the certificate key's: ECDSA P-256 (DER) or RSA PKCS#1 v1.5 (many deployed PIV cards).
fn verify_card_signature(
    certificate: &Certificate,
    algorithm: ProofAlgorithm,
    digest: &[u8; 32],
    signature: &[u8],
) -> Result<(), ProofError> {
    let spki = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|_| ProofError::BadCertificate)?;
    match algorithm {
        ProofAlgorithm::ES256 => {
            let key =
                VerifyingKey::from_public_key_der(&spki).map_err(|_| ProofError::BadSignature)?;
            let signature =
                DerSignature::from_bytes(signature).map_err(|_| ProofError::BadSignature)?;
            key.verify_prehash(digest, &signature)
                .map_err(|_| ProofError::BadSignature)
        }
        ProofAlgorithm::RS256 => {
            use rsa::signature::hazmat::PrehashVerifier as _;
            let key = rsa::RsaPublicKey::from_public_key_der(&spki)
                .map_err(|_| ProofError::BadSignature)?;
            let signature = rsa::pkcs1v15::Signature::try_from(signature)
                .map_err(|_| ProofError::BadSignature)?;
            rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key)
                .verify_prehash(digest, &signature)
                .map_err(|_| ProofError::BadSignature)
        }
    }
}

/// What a verified certificate says about its card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenCard {
    pub common_name: Option<String>,
    /// The holder's identity number (subject serialNumber).
    pub holder_uuid: Option<String>,
    /// The card GUID from a `urn:uuid:` subject alternative name (Card Authentication certs).
    pub card_guid: Option<String>,
}

pub fn verify(
    proof: &CardProof,
    ca: Option<&TrustedCa>,
    origin: &str,
    nonce: &str,
    now: i64,
) -> Result<ProvenCard, ProofError> {
    let ca = ca.ok_or(ProofError::NoTrustedCa)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let der = b64
        .decode(&proof.certificate)
        .map_err(|_| ProofError::BadCertificate)?;
    let certificate = Certificate::from_der(&der).map_err(|_| ProofError::BadCertificate)?;
    let tbs = &certificate.tbs_certificate;
    if tbs.issuer != ca.certificate.tbs_certificate.subject {
        return Err(ProofError::UntrustedIssuer);
    }
    let issuer_signature = DerSignature::from_bytes(certificate.signature.raw_bytes())
        .map_err(|_| ProofError::UntrustedIssuer)?;
    let tbs_der = tbs.to_der().map_err(|_| ProofError::BadCertificate)?;
    ca.key
        .verify(&tbs_der, &issuer_signature)
        .map_err(|_| ProofError::UntrustedIssuer)?;
    let not_before = tbs.validity.not_before.to_unix_duration().as_secs() as i64;
    let not_after = tbs.validity.not_after.to_unix_duration().as_secs() as i64;
    if now < not_before || now > not_after {
        return Err(ProofError::OutOfDate);
    }
    let signature = b64
        .decode(&proof.signature)
        .map_err(|_| ProofError::BadSignature)?;
    verify_card_signature(
        &certificate,
        proof.algorithm,
        &proof_digest(origin, nonce),
        &signature,
    )?;
    Ok(ProvenCard {
        common_name: attribute(&certificate, COMMON_NAME),
        holder_uuid: attribute(&certificate, SERIAL_NUMBER),
        card_guid: san_guid(&certificate),
    })
}

fn attribute(certificate: &Certificate, oid: ObjectIdentifier) -> Option<String> {
    certificate
        .tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == oid)
        .and_then(|atv| {
            use x509_cert::der::asn1::{PrintableStringRef, Utf8StringRef};
            atv.value
                .decode_as::<Utf8StringRef<'_>>()
                .map(|s| s.as_str().to_string())
                .or_else(|_| {
                    atv.value
                        .decode_as::<PrintableStringRef<'_>>()
                        .map(|s| s.as_str().to_string())
                })
                .ok()
        })
}

fn san_guid(certificate: &Certificate) -> Option<String> {
    let extension = certificate
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == SUBJECT_ALT_NAME)?;
    let names = SubjectAltName::from_der(extension.extn_value.as_bytes()).ok()?;
    names.0.iter().find_map(|name| match name {
        GeneralName::UniformResourceIdentifier(uri) => uri
            .as_str()
            .strip_prefix("urn:uuid:")
            .map(|u| u.replace('-', "").to_ascii_lowercase()),
        _ => None,
    })
}
