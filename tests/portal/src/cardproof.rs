//! Checking what a card signs (docs/DESIGN.md §4.2, 4.3): its certificates at enrolment (they chain to
//! the trusted issuing CA and are in date; their keys are then pinned), and afterwards each
//! proof and receipt against the pinned key of the slot its purpose needs: register proofs
//! with the 9A key, unlock proofs and receipts with the 9E key. Nothing is inferred from
//! certificate contents.

use base64::Engine;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use selfservice_rules::proof::proof_digest;
use selfservice_rules::proof::{CardProof, ProofAlgorithm, ProofPurpose};
use x509_cert::der::{Decode, DecodePem, Encode};
use x509_cert::Certificate;

use selfservice_rules::certificate::CertificateFacts;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the certificate cannot be read")]
    BadCertificate,
    #[error("the certificate is not from the trusted issuing CA")]
    UntrustedIssuer,
    #[error("the certificate has expired or is not yet valid")]
    OutOfDate,
    #[error("the signature does not verify with the card's pinned key for this purpose")]
    BadSignature,
    #[error("the unlock proof carries no usable host key")]
    BadHostKey,
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

/// A card key's signature over a digest, with the algorithm named, which must be the pinned
/// key's: ECDSA P-256 (DER) or RSA PKCS#1 v1.5 (many deployed PIV cards).
pub fn verify_signature(
    spki: &[u8],
    algorithm: ProofAlgorithm,
    digest: &[u8; 32],
    signature: &[u8],
) -> Result<(), ProofError> {
    match algorithm {
        ProofAlgorithm::ES256 => {
            let key =
                VerifyingKey::from_public_key_der(spki).map_err(|_| ProofError::BadSignature)?;
            let signature =
                DerSignature::from_bytes(signature).map_err(|_| ProofError::BadSignature)?;
            key.verify_prehash(digest, &signature)
                .map_err(|_| ProofError::BadSignature)
        }
        ProofAlgorithm::RS256 => {
            use rsa::signature::hazmat::PrehashVerifier as _;
            let key = rsa::RsaPublicKey::from_public_key_der(spki)
                .map_err(|_| ProofError::BadSignature)?;
            let signature = rsa::pkcs1v15::Signature::try_from(signature)
                .map_err(|_| ProofError::BadSignature)?;
            rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key)
                .verify_prehash(digest, &signature)
                .map_err(|_| ProofError::BadSignature)
        }
    }
}

/// Checks a card certificate (DER or PEM) against the trusted CA and, given `now`, the date;
/// returns its public key (SubjectPublicKeyInfo, DER) to pin.
pub fn certificate_key(
    certificate: &[u8],
    ca: Option<&TrustedCa>,
    now: Option<i64>,
) -> Result<Vec<u8>, ProofError> {
    let ca = ca.ok_or(ProofError::NoTrustedCa)?;
    let certificate = Certificate::from_der(certificate)
        .or_else(|_| Certificate::from_pem(certificate))
        .map_err(|_| ProofError::BadCertificate)?;
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
    if now.is_some_and(|now| !CertificateFacts::of(tbs).valid_at(now)) {
        return Err(ProofError::OutOfDate);
    }
    tbs.subject_public_key_info
        .to_der()
        .map_err(|_| ProofError::BadCertificate)
}

/// Checks a proof: the certificate it carries is still valid and holds the pinned key, and
/// the pinned key signed the digest of origin, nonce, purpose and (unlock) host key. Returns
/// the host key of an unlock proof.
pub fn verify(
    proof: &CardProof,
    ca: Option<&TrustedCa>,
    pinned: &[u8],
    origin: &str,
    nonce: &str,
    purpose: ProofPurpose,
    now: i64,
) -> Result<Option<[u8; 32]>, ProofError> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(&proof.certificate)
        .map_err(|_| ProofError::BadCertificate)?;
    // An expired card is told so, whichever key it presents.
    let presented = certificate_key(&der, ca, Some(now))?;
    if presented != pinned {
        return Err(ProofError::BadSignature);
    }
    let host_key = match (purpose, &proof.host_key) {
        (ProofPurpose::Unlock, Some(key)) => {
            Some(selfservice_rules::seal::host_key_bytes(key).map_err(|_| ProofError::BadHostKey)?)
        }
        (ProofPurpose::Unlock, None) => return Err(ProofError::BadHostKey),
        (ProofPurpose::Register, None) => None,
        (ProofPurpose::Register, Some(_)) => return Err(ProofError::BadHostKey),
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&proof.signature)
        .map_err(|_| ProofError::BadSignature)?;
    verify_signature(
        pinned,
        proof.algorithm,
        &proof_digest(origin, nonce, purpose, host_key.as_ref()),
        &signature,
    )?;
    Ok(host_key)
}
