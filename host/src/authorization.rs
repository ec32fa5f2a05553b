//! Checking the portal's unblock authorization (docs/DESIGN.md §4.3) before any card command: the
//! Ed25519 signature with the configured portal key, then the version (a version 1
//! authorization is refused with its own error), the origin, the time, and that it is sealed
//! to this host session's key. No used-once record is needed: the box opens only with the
//! ephemeral key of the session whose proof asked for it, and that key is dropped once used.

use ed25519_dalek::{Signature, VerifyingKey};
use selfservice_rules::authorization::{
    SignedAuthorization, UnblockAuthorization, VersionOnly, AUTHORIZATION_LIFETIME_SECONDS,
    AUTHORIZATION_VERSION,
};
use selfservice_rules::origin::check_origin;

use crate::config::decode_base64;

/// Clocks differ a little between the portal and this computer: an authorization issued up to
/// this far in this computer's future is accepted (its expiry is still checked against this
/// computer's clock, so a slow clock cannot stretch its life beyond the skew).
const CLOCK_SKEW_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Rejected(String),
    #[error("it is in the version {0} format, which this host no longer accepts")]
    Outdated(u32),
}

impl From<&str> for Refusal {
    fn from(reason: &str) -> Self {
        Refusal::Rejected(reason.to_string())
    }
}

/// A verified authorization and the exact payload bytes the portal signed (the receipt
/// covers them).
pub struct Opened {
    pub authorization: UnblockAuthorization,
    pub payload: zeroize::Zeroizing<Vec<u8>>,
}

/// Verifies and opens an authorization for `origin`; `now` in Unix seconds.
pub fn open(
    signed: &SignedAuthorization,
    key: &VerifyingKey,
    origin: &str,
    now: i64,
) -> Result<Opened, Refusal> {
    let payload =
        zeroize::Zeroizing::new(decode_base64(&signed.payload).ok_or("the payload is not base64")?);
    let signature = decode_base64(&signed.signature).ok_or("the signature is not base64")?;
    let signature = Signature::from_slice(&signature).map_err(|_| "the signature is malformed")?;
    key.verify_strict(&payload, &signature)
        .map_err(|_| "the signature is not the portal's")?;
    let version: VersionOnly = serde_json::from_slice(&payload)
        .map_err(|e| Refusal::Rejected(format!("the payload is not an authorization: {e}")))?;
    if version.version != AUTHORIZATION_VERSION {
        return Err(Refusal::Outdated(version.version));
    }
    let authorization: UnblockAuthorization = serde_json::from_slice(&payload)
        .map_err(|e| Refusal::Rejected(format!("the payload is not an authorization: {e}")))?;
    let same_origin = matches!(
        (check_origin(&authorization.origin), check_origin(origin)),
        (Ok(a), Ok(b)) if a == b
    );
    if !same_origin {
        return Err("it was issued for another portal".into());
    }
    // The contract's life (docs/DESIGN.md §4.3): a longer one is a portal defect, and an
    // authorization that lives longer is worth more to whoever copies it.
    let life = authorization.expires_at - authorization.issued_at;
    if !(1..=AUTHORIZATION_LIFETIME_SECONDS).contains(&life) {
        return Err(Refusal::Rejected(format!(
            "its life is {life} seconds; the contract allows at most {AUTHORIZATION_LIFETIME_SECONDS}"
        )));
    }
    if now >= authorization.expires_at {
        return Err("it has expired".into());
    }
    if authorization.issued_at > now + CLOCK_SKEW_SECONDS {
        return Err("it was issued in the future; check this computer's clock".into());
    }
    Ok(Opened {
        authorization,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use ed25519_dalek::{Signer, SigningKey};
    use selfservice_rules::authorization::SealedBox;

    const NOW: i64 = 1_790_000_000;

    fn authorization() -> UnblockAuthorization {
        UnblockAuthorization {
            version: 2,
            authorization_id: "a1".into(),
            card_guid: "00".repeat(16),
            origin: "https://portal.example".into(),
            flow_id: "f1".into(),
            issued_at: NOW,
            expires_at: NOW + 300,
            host_key: "k".into(),
            sealed: SealedBox {
                enc: "e".into(),
                ciphertext: "c".into(),
            },
        }
    }

    fn sign(key: &SigningKey, payload: &[u8]) -> SignedAuthorization {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        SignedAuthorization {
            payload: b64.encode(payload),
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
        assert_eq!(opened.authorization.authorization_id, "a1");
        assert_eq!(opened.payload.as_slice(), payload.as_slice());

        let other = SigningKey::from_bytes(&[8; 32]);
        assert!(open(
            &sign(&other, &payload),
            &key.verifying_key(),
            "https://portal.example",
            NOW
        )
        .is_err());
        let mut tampered = signed.clone();
        tampered.payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(String::from_utf8_lossy(&payload).replace("\"f1\"", "\"f2\""));
        assert!(open(
            &tampered,
            &key.verifying_key(),
            "https://portal.example",
            NOW
        )
        .is_err());
    }

    #[test]
    fn a_version_1_authorization_is_refused_as_outdated() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let v1 = serde_json::json!({"version": 1, "authorizationId": "a1", "puk": "12345678"});
        let signed = sign(&key, v1.to_string().as_bytes());
        assert_eq!(
            open(&signed, &key.verifying_key(), "https://portal.example", NOW).err(),
            Some(Refusal::Outdated(1))
        );
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
        assert!(open(&signed, &vk, "https://portal.example", NOW - 300).is_ok());
    }

    #[test]
    fn a_life_longer_than_the_contract_is_refused() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let vk = key.verifying_key();
        for (life, accepted) in [
            (300, true),
            (301, false),
            (600, false),
            (0, false),
            (-5, false),
        ] {
            let mut long = authorization();
            long.expires_at = NOW + life;
            let signed = sign(&key, &serde_json::to_vec(&long).expect("json"));
            let opened = open(&signed, &vk, "https://portal.example", NOW - 1);
            assert_eq!(opened.is_ok(), accepted, "life {life}: {:?}", opened.err());
        }
    }
}
