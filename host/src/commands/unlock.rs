//! `unlock` (docs/DESIGN.md §4.3): check the portal's signed authorization, open its sealed box with
//! this session's ephemeral key, then in one PC/SC transaction run the unblock (see
//! [`crate::unblock`]), have the card sign the receipt with its 9E key, and log the PIN out
//! (VERIFY `P1=FF`) whatever happened.
//!
//! The key is taken when the box is opened, so an authorization serves one attempt in this
//! session; a retry after a card was pulled gets a fresh proof and a fresh authorization.

use base64::Engine;
use selfservice_rules::authorization::{
    payload_hash, receipt_digest, seal_aad, ReceiptOutcome, UnblockAuthorization, UnlockReceipt,
};
use selfservice_rules::proof::ProofAlgorithm;
use selfservice_rules::protocol::{UnlockParams, UnlockResult, UnlockState};
use selfservice_rules::seal::host_key_bytes;

use super::{now, open_card, Host};
use crate::authorization::{self, Refusal};
use crate::errors::CommandError;
use crate::piv::apdu::Slot;
use crate::piv::{CardError, KeyKind, Piv, Transmit};
use crate::readers::Cancel;
use crate::unblock::{self, UnblockError};

pub fn run(
    host: &Host,
    params: &UnlockParams,
    cancel: &Cancel,
) -> Result<UnlockResult, CommandError> {
    if !host.config.config.allows_origin(&params.origin) {
        return Err(CommandError::OriginNotAllowed(params.origin.clone()));
    }
    let key = host.config.config.portal_key().map_err(|e| {
        CommandError::AuthorizationRejected(format!("this computer is not set up to check it: {e}"))
    })?;
    let opened = authorization::open(&params.authorization, &key, &params.origin, now()).map_err(
        |refusal| match refusal {
            Refusal::Outdated(version) => CommandError::AuthorizationOutdated(version),
            Refusal::Rejected(reason) => CommandError::AuthorizationRejected(reason),
        },
    )?;
    let authorization = &opened.authorization;
    let mut card = open_card(
        host,
        params.reader.as_deref(),
        params.wait_for_card_ms,
        cancel,
    )?;
    let rule = host.check_new_passcode(&card.profile, params.new_passcode.expose())?;
    // The session's key, taken: whatever happens next it is wiped when this returns.
    let pair = {
        let mut slot = host
            .unlock_key
            .lock()
            .map_err(|_| CommandError::Internal("unlock key lock poisoned".into()))?;
        let sealed_to_us = slot.as_ref().is_some_and(|pair| {
            host_key_bytes(&authorization.host_key).is_ok_and(|k| k == pair.public_bytes())
        });
        if !sealed_to_us {
            return Err(CommandError::AuthorizationRejected(
                "it is not for this session (prove the card again, then ask for a new one)".into(),
            ));
        }
        slot.take()
    };
    let secrets = pair
        .as_ref()
        .ok_or_else(|| CommandError::Internal("no unlock key".into()))?
        .open(
            &authorization.sealed,
            &seal_aad(&authorization.authorization_id, &authorization.card_guid),
        )
        .map_err(|e| CommandError::AuthorizationRejected(e.to_string()))?;
    drop(pair);
    let mut state = UnlockState {
        unblocked: false,
        passcode_set: false,
        puk_rotated: false,
    };
    let journal = &host.journal;
    let outcome = card.connection.transaction(|t| {
        let receipt = Piv::then_logout(t, |t| {
            Piv::select(t)?;
            let identity = Piv::read_identity(t)?;
            if identity.guid_hex() != authorization.card_guid.to_ascii_lowercase() {
                return Err(UnblockError::WrongCard);
            }
            let puk_id = unblock::unblock(
                t,
                &secrets,
                params.new_passcode.expose(),
                &mut journal.card(&authorization.card_guid),
                &mut state,
            )?;
            sign_receipt(t, authorization, &opened.payload, puk_id).map_err(UnblockError::from)
        })?;
        let retries = Piv::pin_state(t).map_err(UnblockError::from)?;
        Ok::<_, UnblockError>((receipt, retries))
    });
    match outcome {
        Ok((receipt, retries)) => {
            tracing::info!(
                card = %authorization.card_guid,
                reader = %card.reader.display_name(),
                "card unlocked"
            );
            Ok(UnlockResult {
                state,
                passcode: super::passcode_state(retries),
                receipt,
            })
        }
        Err(UnblockError::WrongCard) => Err(CommandError::AuthorizationRejected(
            "it is for another card".into(),
        )),
        Err(UnblockError::NoSafePuk(why)) => {
            tracing::warn!(card = %authorization.card_guid, %why, "no PUK is safe to send");
            Err(CommandError::NoSafePuk(why))
        }
        Err(UnblockError::Store(error)) => Err(CommandError::UnlockRecord(error)),
        Err(UnblockError::Card(CardError::CardRemoved)) => {
            tracing::warn!(?state, "card removed during the unlock");
            Err(CommandError::RemovedDuringUnlock { state })
        }
        Err(UnblockError::Card(CardError::RejectedByCard)) => {
            Err(CommandError::PolicyViolation { rule })
        }
        Err(UnblockError::Card(error)) => Err(error.into()),
    }
}

/// The card's 9E signature over the authorization it carried out and the PUK it now holds.
fn sign_receipt(
    card: &mut dyn Transmit,
    authorization: &UnblockAuthorization,
    payload: &[u8],
    puk_id: String,
) -> Result<UnlockReceipt, CardError> {
    let outcome = serde_json::to_vec(&ReceiptOutcome {
        authorization_id: authorization.authorization_id.clone(),
        card_guid: authorization.card_guid.to_ascii_lowercase(),
        puk_id,
        passcode_set: true,
    })
    .map_err(|e| CardError::Malformed(e.to_string()))?;
    let certificate = Piv::read_certificate(card, Slot::CardAuthentication)?;
    let key = KeyKind::of_certificate(&certificate)?;
    let signature = Piv::sign(
        card,
        Slot::CardAuthentication,
        key,
        &receipt_digest(&payload_hash(payload), &outcome),
    )?;
    Ok(UnlockReceipt {
        outcome: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(outcome),
        signature: base64::engine::general_purpose::STANDARD.encode(signature),
        algorithm: match key {
            KeyKind::P256 => ProofAlgorithm::ES256,
            KeyKind::Rsa2048 => ProofAlgorithm::RS256,
        },
    })
}
