//! Secrets in transit (a passcode, a PUK, a temporary PIN): zeroized when dropped and never
//! printed. Its own module because every other one uses it: the protocol's requests, the
//! portal's sealed authorization, the host's unblock.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

/// A passcode, PUK or temporary PIN in transit: zeroized when dropped, never printed.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct Secret(
    #[cfg_attr(target_arch = "wasm32", tsify(type = "string"))]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    Zeroizing<String>,
);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(Zeroizing::new(value))
    }
    /// The secret itself; callers keep it no longer than the operation that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}
