//! Binding a card's signature to one portal origin, one challenge, one purpose and (for an
//! unlock) one host session (docs/DESIGN.md §4.2). Like Web eID the card signs hashes of the origin and
//! the nonce; the purpose is in the digest so a proof made for one journey never passes for the
//! other, and an unlock proof covers the host's ephemeral key so the portal seals the card's
//! secrets to the host session the card was in.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

/// Challenge nonces carry at least 256 bits.
pub const MIN_NONCE_BYTES: usize = 32;
/// And at most 2048: a portal has no reason to send more, and a host has none to sign it.
pub const MAX_NONCE_BYTES: usize = 256;
/// A challenge must be answered within this time.
pub const CHALLENGE_LIFETIME_SECONDS: i64 = 5 * 60;

/// Which key proves the card is present (docs/DESIGN.md §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum ProofPurpose {
    /// Card unlocked: verify the passcode, sign with the 9A (PIV Authentication) key.
    Register,
    /// Card locked: sign with the 9E (Card Authentication) key, which needs no passcode.
    Unlock,
}

/// The card's answer to a portal challenge (docs/DESIGN.md §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CardProof {
    pub card_guid: String,
    /// The X.509 certificate of the key that signed, DER, base64.
    pub certificate: String,
    /// The card's signature (base64) over [`crate::proof::proof_digest`]: DER ECDSA for
    /// ES256, the 256 bytes for RS256.
    pub signature: String,
    pub algorithm: ProofAlgorithm,
    /// Unlock proofs only: the host's ephemeral X25519 public key for this unlock (base64url),
    /// covered by the digest; the portal seals the card's secrets to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub host_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub enum ProofAlgorithm {
    /// ECDSA P-256 with SHA-256; the signature DER-encoded.
    ES256,
    /// RSA-2048 PKCS#1 v1.5 with SHA-256; the signature's 256 bytes.
    RS256,
}

impl ProofPurpose {
    /// The purpose as the digest carries it.
    pub fn label(self) -> &'static str {
        match self {
            ProofPurpose::Register => "register",
            ProofPurpose::Unlock => "unlock",
        }
    }
}

/// The 32 bytes the card signs: SHA-256(SHA-256(origin) || SHA-256(nonce) || purpose
/// [|| SHA-256(host key)]), origin and nonce as transmitted (UTF-8), the purpose as its label,
/// the host key's 32 raw bytes for an unlock.
pub fn proof_digest(
    origin: &str,
    nonce: &str,
    purpose: ProofPurpose,
    host_key: Option<&[u8; 32]>,
) -> [u8; 32] {
    let mut outer = Sha256::new();
    outer.update(Sha256::digest(origin.as_bytes()));
    outer.update(Sha256::digest(nonce.as_bytes()));
    outer.update(purpose.label().as_bytes());
    if let Some(key) = host_key {
        outer.update(Sha256::digest(key));
    }
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTER: ProofPurpose = ProofPurpose::Register;
    const UNLOCK: ProofPurpose = ProofPurpose::Unlock;

    #[test]
    fn digest_binds_origin_nonce_purpose_and_host_key() {
        let a = proof_digest("https://portal.example", "n1", REGISTER, None);
        assert_ne!(
            a,
            proof_digest("https://evil.example", "n1", REGISTER, None)
        );
        assert_ne!(
            a,
            proof_digest("https://portal.example", "n2", REGISTER, None)
        );
        assert_ne!(
            a,
            proof_digest("https://portal.example", "n1", UNLOCK, None)
        );
        let keyed = proof_digest("https://portal.example", "n1", UNLOCK, Some(&[1; 32]));
        assert_ne!(
            keyed,
            proof_digest("https://portal.example", "n1", UNLOCK, Some(&[2; 32]))
        );
        assert_ne!(
            keyed,
            proof_digest("https://portal.example", "n1", UNLOCK, None)
        );
        // Concatenating hashes, not strings, so shifting a character between the two differs.
        assert_ne!(
            proof_digest("ab", "c", REGISTER, None),
            proof_digest("a", "bc", REGISTER, None)
        );
    }

    #[test]
    fn digest_matches_its_definition() {
        let mut inner = Vec::new();
        inner.extend_from_slice(&Sha256::digest(b"https://portal.example"));
        inner.extend_from_slice(&Sha256::digest(b"nonce"));
        inner.extend_from_slice(b"unlock");
        inner.extend_from_slice(&Sha256::digest([7u8; 32]));
        let expected: [u8; 32] = Sha256::digest(&inner).into();
        assert_eq!(
            proof_digest("https://portal.example", "nonce", UNLOCK, Some(&[7; 32])),
            expected
        );
    }
}
