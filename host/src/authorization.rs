//! Checking the portal's unblock authorization (DESIGN 4.3) before any card command: the
//! Ed25519 signature with the configured portal key, the version, the origin, the time, and
//! that it has not been used to completion before.

use ed25519_dalek::{Signature, VerifyingKey};
use selfservice_rules::authorization::{
    SignedAuthorization, UnblockAuthorization, AUTHORIZATION_VERSION,
};
use selfservice_rules::proof::check_origin;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::decode_base64;

/// Clocks differ a little between the portal and this computer.
const CLOCK_SKEW_SECONDS: i64 = 300;

/// Verifies and opens an authorization for `origin`; `now` in Unix seconds.
pub fn open(
    signed: &SignedAuthorization,
    key: &VerifyingKey,
    origin: &str,
    now: i64,
) -> Result<UnblockAuthorization, String> {
    let payload = zeroize::Zeroizing::new(
        decode_base64(signed.payload.expose()).ok_or("the payload is not base64")?,
    );
    let signature = decode_base64(&signed.signature).ok_or("the signature is not base64")?;
    let signature = Signature::from_slice(&signature).map_err(|_| "the signature is malformed")?;
    key.verify_strict(&payload, &signature)
        .map_err(|_| "the signature is not the portal's")?;
    let authorization: UnblockAuthorization = serde_json::from_slice(&payload)
        .map_err(|e| format!("the payload is not an authorization: {e}"))?;
    if authorization.version != AUTHORIZATION_VERSION {
        return Err(format!(
            "unsupported authorization version {}",
            authorization.version
        ));
    }
    let same_origin = matches!(
        (check_origin(&authorization.origin), check_origin(origin)),
        (Ok(a), Ok(b)) if a == b
    );
    if !same_origin {
        return Err("it was issued for another portal".into());
    }
    if now >= authorization.expires_at {
        return Err("it has expired".into());
    }
    if authorization.issued_at > now + CLOCK_SKEW_SECONDS {
        return Err("it was issued in the future; check this computer's clock".into());
    }
    Ok(authorization)
}

/// Authorizations that have been carried out, kept until they expire so none runs twice,
/// even across host processes. An interrupted unlock is not recorded, so the same
/// authorization can finish the job when the card comes back.
pub struct UsedAuthorizations {
    path: PathBuf,
}

#[derive(Default, Serialize, Deserialize)]
struct UsedFile {
    /// Authorization id -> its expiry (Unix seconds).
    used: BTreeMap<String, i64>,
}

pub const STATE_DIR_VARIABLE: &str = "SMARTCARD_SELFSERVICE_STATE_DIR";

impl UsedAuthorizations {
    /// The per-user state folder, or the one named by SMARTCARD_SELFSERVICE_STATE_DIR.
    pub fn at_default_place() -> UsedAuthorizations {
        let dir = std::env::var_os(STATE_DIR_VARIABLE)
            .map(PathBuf::from)
            .unwrap_or_else(default_state_dir);
        UsedAuthorizations {
            path: dir.join("used-authorizations.json"),
        }
    }

    fn read(&self) -> UsedFile {
        std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn is_used(&self, id: &str) -> bool {
        self.read().used.contains_key(id)
    }

    /// Records a completed authorization; forgets expired ones.
    pub fn record(&self, id: &str, expires_at: i64, now: i64) -> std::io::Result<()> {
        let mut file = self.read();
        file.used.retain(|_, expiry| *expiry > now);
        file.used.insert(id.to_string(), expires_at);
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = self.path.with_extension("json.tmp");
        std::fs::write(&temporary, serde_json::to_vec(&file)?)?;
        std::fs::rename(temporary, &self.path)
    }
}

fn default_state_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    if cfg!(windows) {
        std::env::var_os("LOCALAPPDATA")
            .map(PathBuf::from)
            .unwrap_or(home)
            .join("Smartcard Self-Service")
    } else if cfg!(target_os = "macos") {
        home.join("Library/Application Support/Smartcard Self-Service")
    } else {
        std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".local/state"))
            .join("smartcard-selfservice")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use ed25519_dalek::{Signer, SigningKey};
    use selfservice_rules::protocol::Secret;

    const NOW: i64 = 1_790_000_000;

    fn authorization() -> UnblockAuthorization {
        UnblockAuthorization {
            version: 1,
            authorization_id: "a1".into(),
            card_guid: "00".repeat(16),
            origin: "https://portal.example".into(),
            flow_id: "f1".into(),
            issued_at: NOW,
            expires_at: NOW + 300,
            puk: Secret::new("12345678".into()),
            new_puk: Secret::new("87654321".into()),
            temporary_pin: Secret::new("11223344".into()),
        }
    }

    fn sign(key: &SigningKey, payload: &[u8]) -> SignedAuthorization {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        SignedAuthorization {
            payload: Secret::new(b64.encode(payload)),
            signature: b64.encode(key.sign(payload).to_bytes()),
        }
    }

    #[test]
    fn a_good_authorization_opens_and_tampering_does_not() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let payload = serde_json::to_vec(&authorization()).expect("json");
        let signed = sign(&key, &payload);
        let opened =
            open(&signed, &key.verifying_key(), "https://portal.example", NOW).expect("opens");
        assert_eq!(opened.authorization_id, "a1");

        let other = SigningKey::from_bytes(&[8; 32]);
        assert!(open(
            &sign(&other, &payload),
            &key.verifying_key(),
            "https://portal.example",
            NOW
        )
        .is_err());
        let mut tampered = signed.clone();
        tampered.payload = Secret::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(String::from_utf8_lossy(&payload).replace("12345678", "99999999")),
        );
        assert!(open(
            &tampered,
            &key.verifying_key(),
            "https://portal.example",
            NOW
        )
        .is_err());
    }

    #[test]
    fn origin_and_time_are_checked() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let signed = sign(&key, &serde_json::to_vec(&authorization()).expect("json"));
        let vk = key.verifying_key();
        assert!(open(&signed, &vk, "https://evil.example", NOW).is_err());
        assert!(open(&signed, &vk, "https://portal.example", NOW + 300).is_err());
        assert!(open(&signed, &vk, "https://portal.example", NOW + 299).is_ok());
        assert!(open(&signed, &vk, "https://portal.example", NOW - 301).is_err());
    }

    #[test]
    fn used_authorizations_are_remembered_until_they_expire() {
        let dir = tempfile::tempdir().expect("dir");
        let used = UsedAuthorizations {
            path: dir.path().join("used.json"),
        };
        assert!(!used.is_used("a1"));
        used.record("a1", NOW + 10, NOW).expect("record");
        assert!(used.is_used("a1"));
        used.record("a2", NOW + 100, NOW + 20).expect("record");
        assert!(!used.is_used("a1"), "expired entries are forgotten");
        assert!(used.is_used("a2"));
    }
}
