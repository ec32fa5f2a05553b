//! Sealing the card's secrets to the host (docs/DESIGN.md §4.3): HPKE (RFC 9180) base mode,
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305. The host makes one
//! [`HostKeyPair`] per unlock proof; the portal [`seal`]s to its public key; only that host
//! process can open the box, once.

use base64::Engine;
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use rand_core::{OsRng, TryRngCore};
use zeroize::Zeroizing;

use crate::authorization::{SealedBox, UnlockSecrets, SEAL_INFO};

type KemPrivate = <X25519HkdfSha256 as Kem>::PrivateKey;
type KemPublic = <X25519HkdfSha256 as Kem>::PublicKey;
type KemEncapped = <X25519HkdfSha256 as Kem>::EncappedKey;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the host key is not a 32-byte X25519 key in base64url")]
    BadHostKey,
    #[error("the box is malformed")]
    Malformed,
    #[error("the box does not open with this host's key (made for another host session?)")]
    DoesNotOpen,
    #[error("the sealing failed")]
    Seal,
}

/// The host's ephemeral key for one unlock. The private half never leaves the process and is
/// wiped when the pair is dropped (x25519-dalek zeroizes its secrets).
pub struct HostKeyPair {
    private: KemPrivate,
    public: KemPublic,
}

impl HostKeyPair {
    pub fn generate() -> HostKeyPair {
        let (private, public) = X25519HkdfSha256::gen_keypair(&mut OsRng.unwrap_err());
        HostKeyPair { private, public }
    }

    /// The public key's 32 bytes (what the proof digest covers).
    pub fn public_bytes(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&self.public.to_bytes());
        bytes
    }

    /// The public key as it travels: base64url without padding.
    pub fn public_base64(&self) -> String {
        B64.encode(self.public_bytes())
    }

    /// Opens a box sealed to this key with associated data `aad`.
    pub fn open(&self, sealed: &SealedBox, aad: &[u8]) -> Result<UnlockSecrets, SealError> {
        let enc = B64.decode(&sealed.enc).map_err(|_| SealError::Malformed)?;
        let enc = KemEncapped::from_bytes(&enc).map_err(|_| SealError::Malformed)?;
        let ciphertext = B64
            .decode(&sealed.ciphertext)
            .map_err(|_| SealError::Malformed)?;
        let plaintext = Zeroizing::new(
            hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
                &OpModeR::Base,
                &self.private,
                &enc,
                SEAL_INFO,
                &ciphertext,
                aad,
            )
            .map_err(|_| SealError::DoesNotOpen)?,
        );
        serde_json::from_slice(&plaintext).map_err(|_| SealError::Malformed)
    }
}

/// Decodes a host key as it travels.
pub fn host_key_bytes(host_key: &str) -> Result<[u8; 32], SealError> {
    B64.decode(host_key)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(SealError::BadHostKey)
}

/// Seals `secrets` to the host key `host_key` (base64url) with associated data `aad`.
pub fn seal(host_key: &str, secrets: &UnlockSecrets, aad: &[u8]) -> Result<SealedBox, SealError> {
    let public =
        KemPublic::from_bytes(&host_key_bytes(host_key)?).map_err(|_| SealError::BadHostKey)?;
    let plaintext = Zeroizing::new(serde_json::to_vec(secrets).map_err(|_| SealError::Seal)?);
    let (enc, ciphertext) =
        hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256, _>(
            &OpModeS::Base,
            &public,
            SEAL_INFO,
            &plaintext,
            aad,
            &mut OsRng.unwrap_err(),
        )
        .map_err(|_| SealError::Seal)?;
    Ok(SealedBox {
        enc: B64.encode(enc.to_bytes()),
        ciphertext: B64.encode(ciphertext),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization::example_secrets as secrets;

    #[test]
    fn only_the_host_session_it_was_sealed_to_opens_it() {
        let host = HostKeyPair::generate();
        let sealed = seal(&host.public_base64(), &secrets(), b"a1\ncard").expect("seals");
        let text = serde_json::to_string(&sealed).expect("json");
        assert!(!text.contains("12345678") && !text.contains("87654321"));
        assert_eq!(host.open(&sealed, b"a1\ncard"), Ok(secrets()));
        // Another session's key, or the box moved to another authorization: it stays shut.
        let other = HostKeyPair::generate();
        assert_eq!(
            other.open(&sealed, b"a1\ncard"),
            Err(SealError::DoesNotOpen)
        );
        assert_eq!(host.open(&sealed, b"a2\ncard"), Err(SealError::DoesNotOpen));
        let mut tampered = sealed.clone();
        tampered.ciphertext.replace_range(0..2, "AA");
        assert!(host.open(&tampered, b"a1\ncard").is_err());
    }

    #[test]
    fn bad_host_keys_are_refused() {
        assert_eq!(
            seal("not base64!", &secrets(), b"").err(),
            Some(SealError::BadHostKey)
        );
        assert_eq!(
            seal(&B64.encode([1u8; 31]), &secrets(), b"").err(),
            Some(SealError::BadHostKey)
        );
    }
}
