//! Every name and id that manifests, installers, docs and tests must agree on, defined once.

/// The product, as people see it.
pub const PRODUCT_NAME: &str = "Smartcard Self-Service";
/// The native-messaging host name registered with the browsers.
pub const NATIVE_HOST_NAME: &str = "smartcard_selfservice";
/// The host binary, which is also IT's command line.
pub const HOST_BINARY: &str = "smartcard-selfservice";
/// The Firefox add-on id (`browser_specific_settings.gecko.id`).
pub const FIREFOX_ADDON_ID: &str = "smartcard-selfservice@selfservice.nhs.invalid";
/// The Chromium/Edge extension id, pinned by [`CHROMIUM_EXTENSION_PUBLIC_KEY`] (the manifest
/// `key`). The private key that signs release CRX files is held by the release manager and is
/// never committed.
pub const CHROMIUM_EXTENSION_ID: &str = "mgjlebiaoccjmanhahjdfdjgfoddhkog";
/// The manifest `key`: the DER SubjectPublicKeyInfo of the signing key, base64.
pub const CHROMIUM_EXTENSION_PUBLIC_KEY: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnb5no4T22h/jH+NjOqMUPQhafO12awmI7o9UOoJ/kroMkvgNjfISMLl2ah8dVx91fLUv8uQke7KwoIac5/bMjUrOZ/gDGGI34Va70HpUXJ0W1FXKF9LR/wQOE7L5gMPYRzBzKzoDsocTPn8KmIbZK7zwmVISkgdlexLN+VRSGkyYYzTl+wWx36AczaF+TIIihcDiDN7iyajE7ezGAIJydWcriWSjGxgd29csfrnCAfAaMjz02J9jz2KMdm4pxdIyjmv7eIWquvh1fpUi8QQ6omrZkNUa6cLeyYekcYmfCc9s3veLPBXE1FEDuJCKtnweIMj3c7awtu4y6FNkm+6j3QIDAQAB";

/// The page bridge: `window.postMessage` between a portal page and the extension's content
/// script, on this window's own origin (`page-library/` is the page's side; its README is the
/// reference). The page sends `{source: PAGE_MESSAGE_SOURCE, type: "presence" | "open",
/// requestId, journey?: "register" | "unlock"}`; the content script answers `{source:
/// EXTENSION_MESSAGE_SOURCE, type: "presence", requestId?, bridgeVersion, version, host:
/// {installed, version?, state}, readers: [{name, card: "none" | "ready" | "locked"}]}` (also
/// once unasked, without `requestId`) or `{..., type: "opened", requestId, journey, opened}`.
/// `state` is `ready`, `not-installed`, `blocked-by-policy`, `wrong-version` or `no-answer`.
pub const PAGE_MESSAGE_SOURCE: &str = "smartcard-selfservice-page";
pub const EXTENSION_MESSAGE_SOURCE: &str = "smartcard-selfservice-extension";
/// The page bridge's version: the page library's major version. A change a page can notice
/// (a message or field removed or changed in meaning) raises it.
pub const BRIDGE_VERSION: u32 = 1;

/// The origin Chromium-family browsers pass to the host and list in `allowed_origins`.
pub fn chromium_extension_origin() -> String {
    format!("chrome-extension://{CHROMIUM_EXTENSION_ID}/")
}

/// Chromium derives an extension id from its public key: the first 128 bits of SHA-256 of
/// the DER key, each hex digit written as a letter from a to p.
pub fn chromium_id_from_public_key(der: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(der)[..16]
        .iter()
        .flat_map(|byte| [byte >> 4, byte & 0x0f])
        .map(|nibble| char::from(b'a' + nibble))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_chromium_id_matches_the_committed_key() {
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(CHROMIUM_EXTENSION_PUBLIC_KEY)
            .expect("base64");
        assert_eq!(chromium_id_from_public_key(&der), CHROMIUM_EXTENSION_ID);
    }

    #[test]
    fn host_name_is_valid_for_every_browser() {
        // Chromium and Firefox accept lower-case letters, digits, '_' and '.', no leading/trailing '.'.
        assert!(NATIVE_HOST_NAME
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'));
    }
}
