//! The portal's keys and everything done with them: random ids and codes, code MACs, answer
//! hashes (Argon2id), PUK encryption at rest (XChaCha20-Poly1305) and the Ed25519 signature
//! on unblock authorizations.

use anyhow::{Context, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use selfservice_rules::authorization::{SignedAuthorization, UnblockAuthorization};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::path::Path;
use zeroize::Zeroizing;

pub const KEYS_FILE: &str = "keys.json";

pub struct Keys {
    signing: SigningKey,
    mac: Zeroizing<[u8; 32]>,
    puk: Zeroizing<[u8; 32]>,
}

#[derive(Serialize, Deserialize)]
struct KeysFile {
    signing: String,
    mac: String,
    puk: String,
}

fn random_32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

fn decode_32(text: &str) -> Result<[u8; 32]> {
    STANDARD
        .decode(text)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("a key is not 32 bytes"))
}

impl Keys {
    /// Loads the keys from the data folder, creating them (readable by the owner only) on
    /// first start.
    pub fn load_or_create(dir: &Path) -> Result<Keys> {
        let path = dir.join(KEYS_FILE);
        if path.exists() {
            let file: KeysFile = serde_json::from_str(&std::fs::read_to_string(&path)?)
                .context("reading keys.json")?;
            return Ok(Keys {
                signing: SigningKey::from_bytes(&decode_32(&file.signing)?),
                mac: Zeroizing::new(decode_32(&file.mac)?),
                puk: Zeroizing::new(decode_32(&file.puk)?),
            });
        }
        let keys = Keys {
            signing: SigningKey::from_bytes(&random_32()),
            mac: Zeroizing::new(random_32()),
            puk: Zeroizing::new(random_32()),
        };
        let file = KeysFile {
            signing: STANDARD.encode(keys.signing.to_bytes()),
            mac: STANDARD.encode(*keys.mac),
            puk: STANDARD.encode(*keys.puk),
        };
        write_private(&path, serde_json::to_string(&file)?.as_bytes())?;
        Ok(keys)
    }

    /// The audit chain's keyed hash: HMAC-SHA-256 under a key derived from the portal's MAC
    /// key, so that nobody without the keys can recompute a chain over altered rows.
    pub fn audit_mac(&self) -> Hmac<Sha256> {
        let mut derive =
            <Hmac<Sha256> as Mac>::new_from_slice(&*self.mac).expect("HMAC takes any key length");
        derive.update(b"selfservice-portal audit chain v1");
        let key = Zeroizing::new(derive.finalize().into_bytes());
        <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length")
    }

    /// The public key hosts are configured with (base64 of 32 bytes).
    pub fn public_key_base64(&self) -> String {
        STANDARD.encode(self.signing.verifying_key().to_bytes())
    }

    pub fn code_mac(&self, flow: &str, code: &str) -> Vec<u8> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&*self.mac).expect("HMAC takes any key length");
        mac.update(flow.as_bytes());
        mac.update(b"\0");
        mac.update(code.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Constant-time comparison of a typed code with the stored MAC.
    pub fn code_matches(&self, flow: &str, code: &str, stored: &[u8]) -> bool {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&*self.mac).expect("HMAC takes any key length");
        mac.update(flow.as_bytes());
        mac.update(b"\0");
        mac.update(code.as_bytes());
        mac.verify_slice(stored).is_ok()
    }

    pub fn encrypt_puk(&self, puk: &str) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new((&*self.puk).into());
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        // Encryption with a valid key and nonce cannot fail.
        out.extend(
            cipher
                .encrypt(XNonce::from_slice(&nonce), puk.as_bytes())
                .unwrap_or_default(),
        );
        out
    }

    pub fn decrypt_puk(&self, blob: &[u8]) -> Result<Zeroizing<String>> {
        if blob.len() < 24 {
            anyhow::bail!("stored PUK is too short");
        }
        let cipher = XChaCha20Poly1305::new((&*self.puk).into());
        let plain = Zeroizing::new(
            cipher
                .decrypt(XNonce::from_slice(&blob[..24]), &blob[24..])
                .map_err(|_| anyhow::anyhow!("stored PUK does not decrypt"))?,
        );
        Ok(Zeroizing::new(String::from_utf8(plain.to_vec())?))
    }

    /// The signed authorization and the hash of its payload (kept to check the receipt).
    pub fn sign_authorization(
        &self,
        authorization: &UnblockAuthorization,
    ) -> Result<(SignedAuthorization, [u8; 32])> {
        let payload = serde_json::to_vec(authorization)?;
        Ok((
            SignedAuthorization {
                payload: URL_SAFE_NO_PAD.encode(&payload),
                signature: URL_SAFE_NO_PAD.encode(self.signing.sign(&payload).to_bytes()),
            },
            selfservice_rules::authorization::payload_hash(&payload),
        ))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

/// 128 random bits, base64url: flow, challenge and authorization ids.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// 256 random bits, base64url: challenge nonces.
pub fn nonce() -> String {
    URL_SAFE_NO_PAD.encode(random_32())
}

/// A string of random decimal digits (codes, PUKs, temporary PINs).
pub fn digits(count: usize) -> Zeroizing<String> {
    Zeroizing::new(
        (0..count)
            .map(|_| char::from(b'0' + OsRng.gen_range(0..10u8)))
            .collect(),
    )
}

/// Argon2id (the crate's defaults: 19 MiB, 2 passes) with a random salt, as a PHC string.
pub fn hash_answer(normalised: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(normalised.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing an answer: {e}"))
}

pub fn answer_matches(normalised: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|hash| {
            Argon2::default()
                .verify_password(normalised.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_and_secrets_round_trip() {
        let dir = tempfile::tempdir().expect("dir");
        let keys = Keys::load_or_create(dir.path()).expect("create");
        let again = Keys::load_or_create(dir.path()).expect("load");
        assert_eq!(keys.public_key_base64(), again.public_key_base64());
        let blob = keys.encrypt_puk("12345678");
        assert!(
            !blob.windows(8).any(|w| w == b"12345678"),
            "stored encrypted"
        );
        assert_eq!(
            again.decrypt_puk(&blob).expect("decrypts").as_str(),
            "12345678"
        );
        let mac = keys.code_mac("flow", "171887");
        assert!(again.code_matches("flow", "171887", &mac));
        assert!(!again.code_matches("flow", "171888", &mac));
        assert!(!again.code_matches("other", "171887", &mac));
    }

    #[test]
    fn answers_hash_with_argon2id_and_verify() {
        let hash = hash_answer("vauxhall nova").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(answer_matches("vauxhall nova", &hash));
        assert!(!answer_matches("vauxhall astra", &hash));
    }

    #[test]
    fn random_values_have_their_shape() {
        assert_eq!(digits(6).len(), 6);
        assert!(digits(8).chars().all(|c| c.is_ascii_digit()));
        assert_ne!(random_id(), random_id());
        assert_eq!(URL_SAFE_NO_PAD.decode(nonce()).expect("b64").len(), 32);
    }
}
