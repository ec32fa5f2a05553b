//! `prove-possession` (docs/DESIGN.md §4.2): the card signs the proof digest over origin, nonce and
//! purpose. Registration proves the passcode too (VERIFY, then the 9A key, then log out);
//! unlock works on a locked card with the 9E key, which needs no passcode, and its digest also
//! covers a fresh ephemeral key of this host session, which the portal seals the card's
//! secrets to.

use base64::Engine;
use selfservice_rules::proof::{proof_digest, MAX_NONCE_BYTES, MIN_NONCE_BYTES};
use selfservice_rules::proof::{CardProof, ProofAlgorithm, ProofPurpose};
use selfservice_rules::protocol::ProvePossessionParams;
use selfservice_rules::seal::HostKeyPair;

use super::{open_card, status::certificate_base64, Host};
use crate::config::decode_base64;
use crate::errors::CommandError;
use crate::piv::apdu::Slot;
use crate::piv::{CardError, KeyKind, Piv};
use crate::readers::Cancel;

pub fn run(
    host: &Host,
    params: &ProvePossessionParams,
    cancel: &Cancel,
) -> Result<CardProof, CommandError> {
    if !host.config.config.allows_origin(&params.origin) {
        return Err(CommandError::OriginNotAllowed(params.origin.clone()));
    }
    let nonce_bytes = MIN_NONCE_BYTES..=MAX_NONCE_BYTES;
    if decode_base64(&params.nonce).is_none_or(|n| !nonce_bytes.contains(&n.len())) {
        return Err(CommandError::bad_request(
            "nonce",
            "The challenge must be 256 to 2048 bits, base64url.",
        ));
    }
    let (slot, passcode) = match (params.purpose, &params.passcode) {
        (ProofPurpose::Register, Some(passcode)) => (Slot::Authentication, Some(passcode)),
        (ProofPurpose::Register, None) => {
            return Err(CommandError::bad_request(
                "passcode",
                "Registration needs the card's passcode.",
            ))
        }
        (ProofPurpose::Unlock, None) => (Slot::CardAuthentication, None),
        (ProofPurpose::Unlock, Some(_)) => {
            return Err(CommandError::bad_request(
                "passcode",
                "An unlock proof takes no passcode.",
            ))
        }
    };
    let host_key = (params.purpose == ProofPurpose::Unlock).then(HostKeyPair::generate);
    let digest = proof_digest(
        &params.origin,
        &params.nonce,
        params.purpose,
        host_key.as_ref().map(HostKeyPair::public_bytes).as_ref(),
    );
    let mut card = open_card(
        host,
        params.reader.as_deref(),
        params.wait_for_card_ms,
        cancel,
    )?;
    let (identity, certificate, key, signature) = card.connection.transaction(|t| {
        Piv::select(t)?;
        let identity = Piv::read_identity(t)?;
        let certificate = Piv::read_certificate(t, slot)?;
        let key = KeyKind::of_certificate(&certificate)?;
        let signature = match passcode {
            // The 9A key needs the PIN; log out straight after, whatever happened, so no other
            // program can sign with it (many cards keep the PIN verified across SELECT).
            Some(passcode) => Piv::then_logout(t, |t| {
                Piv::verify(t, passcode.expose())?;
                Piv::sign(t, slot, key, &digest)
            })?,
            None => Piv::sign(t, slot, key, &digest)?,
        };
        Ok::<_, CardError>((identity, certificate, key, signature))
    })?;
    tracing::info!(
        purpose = ?params.purpose,
        card = %identity.guid_hex(),
        reader = %card.reader.display_name(),
        "card proved possession"
    );
    let host_key_text = host_key.as_ref().map(HostKeyPair::public_base64);
    if let Some(pair) = host_key {
        // The newest unlock proof's key replaces any older one (which is wiped).
        *host
            .unlock_key
            .lock()
            .map_err(|_| CommandError::Internal("unlock key lock poisoned".into()))? = Some(pair);
    }
    Ok(CardProof {
        host_key: host_key_text,
        card_guid: identity.guid_hex(),
        certificate: certificate_base64(&certificate),
        signature: base64::engine::general_purpose::STANDARD.encode(signature),
        algorithm: match key {
            KeyKind::P256 => ProofAlgorithm::ES256,
            KeyKind::Rsa2048 => ProofAlgorithm::RS256,
        },
    })
}
