//! The unblock authorization (DESIGN 4.3): issued and signed by the portal (Ed25519) once the
//! questions and the unlock code are accepted, verified and carried out by the host.
//!
//! The signature covers the exact payload bytes, so no canonical JSON form is needed: the host
//! verifies the bytes, then parses them.

use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

use crate::protocol::Secret;

/// The current payload format.
pub const AUTHORIZATION_VERSION: u32 = 1;
/// How long an authorization may be used after it is issued.
pub const AUTHORIZATION_LIFETIME_SECONDS: i64 = 5 * 60;

/// As it travels through the extension, which cannot read or alter what it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedAuthorization {
    /// The JSON of an [`UnblockAuthorization`], base64url without padding. It carries PUKs,
    /// so it is held as a [`Secret`] (zeroized, never printed).
    pub payload: Secret,
    /// Ed25519 signature over the decoded payload bytes, base64url without padding.
    pub signature: String,
}

/// What the portal allows the host to do to one card, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnblockAuthorization {
    pub version: u32,
    /// Unique per authorization; the host refuses an id it has already used.
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
    /// The PUK the card holds now.
    pub puk: Secret,
    /// The PUK the card will hold afterwards.
    pub new_puk: Secret,
    /// The temporary PIN set by RESET RETRY COUNTER and replaced at once by the new passcode.
    pub temporary_pin: Secret,
}
