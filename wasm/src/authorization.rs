//! The unblock authorization and its receipt (docs/DESIGN.md §4.3, protocol version 2).
//!
//! - The portal issues an [`UnblockAuthorization`], signed with its Ed25519 key. The card's
//!   secrets (every PUK the card may hold, the fresh PUK, a temporary PIN) are not in it in
//!   clear: they are an [`UnlockSecrets`] sealed (HPKE, RFC 9180) to the ephemeral key the host
//!   made for this unlock, which the card's 9E proof bound to the card. The extension carries
//!   the authorization and can read only what is outside the box.
//! - After the unblock the host has the card sign (9E) an [`UnlockReceipt`] over the
//!   authorization and the outcome; the portal believes a new PUK is on the card only then.
//!
//! The signature covers the exact payload bytes, so no canonical JSON form is needed: the host
//! verifies the bytes, then parses them. The sealing itself is in [`crate::seal`] (native
//! builds only: the extension never opens or makes a box).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

use crate::proof::ProofAlgorithm;
use crate::secret::Secret;

/// The payload format this code issues and accepts. Version 1 carried the secrets in clear.
pub const AUTHORIZATION_VERSION: u32 = 2;
/// How long an authorization may be used after it is issued.
pub const AUTHORIZATION_LIFETIME_SECONDS: i64 = 5 * 60;
/// HPKE `info`: what the box is for, so a box made for anything else does not open here.
pub const SEAL_INFO: &[u8] = b"smartcard-selfservice unlock secrets v2";
/// Domain label of the receipt digest, so no proof digest can ever be taken for a receipt.
const RECEIPT_LABEL: &[u8] = b"smartcard-selfservice unlock receipt v2";

/// As it travels through the extension, which can read the payload (nothing secret is in it in
/// clear) but not alter it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedAuthorization {
    /// The JSON of an [`UnblockAuthorization`], base64url without padding.
    pub payload: String,
    /// Ed25519 signature over the decoded payload bytes, base64url without padding.
    pub signature: String,
}

/// Just enough of a payload to see its version before trusting the rest of its shape.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct VersionOnly {
    pub version: u32,
}

/// What the portal allows the host to do to one card, once, in one host session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnblockAuthorization {
    pub version: u32,
    /// Unique per authorization; the receipt names it.
    pub authorization_id: String,
    /// The CHUID GUID of the card this is for, 32 lower-case hex digits.
    pub card_guid: String,
    /// The portal origin that issued it.
    pub origin: String,
    /// The unlock flow it belongs to.
    pub flow_id: String,
    /// Unix seconds.
    pub issued_at: i64,
    pub expires_at: i64,
    /// The host's ephemeral X25519 public key (base64url) the secrets are sealed to: the one
    /// the card's 9E proof covered.
    pub host_key: String,
    /// The sealed [`UnlockSecrets`].
    pub sealed: SealedBox,
}

/// An HPKE box: the encapsulated key and the ciphertext, both base64url without padding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealedBox {
    pub enc: String,
    pub ciphertext: String,
}

/// The HPKE associated data of a box: it belongs to this authorization of this card.
pub fn seal_aad(authorization_id: &str, card_guid: &str) -> Vec<u8> {
    [authorization_id.as_bytes(), b"\n", card_guid.as_bytes()].concat()
}

/// What only the host may read. Zeroized when dropped, never printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnlockSecrets {
    /// Every PUK the card may hold now (one or two), in the portal's order of likelihood.
    pub puks: Vec<PukCandidate>,
    /// The PUK the card is to hold afterwards. It may be one of `puks` when an earlier run
    /// already put it on the card.
    pub fresh_puk: PukCandidate,
    /// Set by RESET RETRY COUNTER and replaced at once by the new passcode.
    pub temporary_pin: Secret,
}

/// A PUK and the portal's name for it. The id is not secret: the host remembers ids, never
/// PUKs, and the receipt says by id which PUK the card holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PukCandidate {
    pub id: String,
    pub puk: Secret,
}

/// The card's word that an unlock finished: signed by the 9E key over [`receipt_digest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnlockReceipt {
    /// The JSON of a [`ReceiptOutcome`], base64url without padding.
    pub outcome: String,
    /// The card's signature (base64): DER ECDSA for ES256, the 256 bytes for RS256.
    pub signature: String,
    pub algorithm: ProofAlgorithm,
}

/// What the card signed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiptOutcome {
    pub authorization_id: String,
    pub card_guid: String,
    /// The id of the PUK the card holds now (the fresh PUK's, when the rotation is done).
    pub puk_id: String,
    /// The PIN is the person's new passcode and was verified with it.
    pub passcode_set: bool,
}

/// SHA-256 of an authorization's payload bytes: what the portal keeps to check its receipt.
pub fn payload_hash(payload: &[u8]) -> [u8; 32] {
    Sha256::digest(payload).into()
}

/// The 32 bytes the card signs for a receipt:
/// SHA-256(label || SHA-256(authorization payload bytes) || SHA-256(outcome bytes)).
pub fn receipt_digest(payload_hash: &[u8; 32], outcome: &[u8]) -> [u8; 32] {
    let mut outer = Sha256::new();
    outer.update(RECEIPT_LABEL);
    outer.update(payload_hash);
    outer.update(Sha256::digest(outcome));
    outer.finalize().into()
}

/// A filled-in box content for tests.
#[cfg(test)]
pub(crate) fn example_secrets() -> UnlockSecrets {
    UnlockSecrets {
        puks: vec![PukCandidate {
            id: "p1".into(),
            puk: Secret::new("12345678".into()),
        }],
        fresh_puk: PukCandidate {
            id: "p2".into(),
            puk: Secret::new("87654321".into()),
        },
        temporary_pin: Secret::new("11223344".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receipt_digest_binds_authorization_and_outcome() {
        let payload = payload_hash(b"payload");
        let a = receipt_digest(&payload, b"outcome");
        assert_ne!(a, receipt_digest(&payload_hash(b"payload2"), b"outcome"));
        assert_ne!(a, receipt_digest(&payload, b"outcome2"));
    }

    #[test]
    fn secrets_are_not_printed() {
        let printed = format!("{:?}", example_secrets());
        for secret in ["12345678", "87654321", "11223344"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }
}
