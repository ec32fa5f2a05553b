//! `unlock` (DESIGN 4.3): check the portal's signed authorization, then in one PC/SC
//! transaction: RESET RETRY COUNTER (PUK, temporary PIN), CHANGE REFERENCE DATA PIN
//! (temporary -> new passcode), CHANGE REFERENCE DATA PUK (old -> fresh), VERIFY (new), and
//! always VERIFY `P1=FF` (log out) before the transaction ends.
//!
//! A card pulled out part-way is reported with what it now holds, and the same authorization
//! finishes the job when the card comes back: it is recorded as used only once the card is
//! fully unlocked. Which PUK the card holds after an interruption is not always known (the
//! APDU in flight may or may not have run), so the fresh PUK is tried when the current one is
//! refused: the portal keeps both until the host reports the rotation.

use selfservice_rules::authorization::UnblockAuthorization;
use selfservice_rules::protocol::{UnlockParams, UnlockResult, UnlockState};

use super::{now, open_card, Host};
use crate::authorization;
use crate::errors::CommandError;
use crate::piv::{CardError, Piv, Transmit};
use crate::readers::Cancel;

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
    let now = now();
    let authorization = authorization::open(&params.authorization, &key, &params.origin, now)
        .map_err(CommandError::AuthorizationRejected)?;
    if host.used.is_used(&authorization.authorization_id) {
        return Err(CommandError::AuthorizationRejected(
            "it has already been used".into(),
        ));
    }
    let mut card = open_card(
        host,
        params.reader.as_deref(),
        params.wait_for_card_ms,
        cancel,
    )?;
    let rule = host.check_new_passcode(&card.profile, params.new_passcode.expose())?;
    let mut state = UnlockState {
        unblocked: false,
        passcode_set: false,
        puk_rotated: false,
    };
    let outcome = card.connection.transaction(|t| {
        // The new passcode is verified at the end to prove it works; log out after, and
        // after any failure on the way, then read the counter as the card now holds it.
        Piv::then_logout(t, |t| {
            unblock(t, &authorization, params.new_passcode.expose(), &mut state)
        })?;
        Piv::pin_state(t).map_err(UnblockError::from)
    });
    match outcome {
        Ok(retries) => {
            if let Err(error) = host.used.record(
                &authorization.authorization_id,
                authorization.expires_at,
                now,
            ) {
                tracing::warn!(%error, "could not record the used authorization");
            }
            tracing::info!(
                card = %authorization.card_guid,
                reader = %card.reader.display_name(),
                "card unlocked"
            );
            Ok(UnlockResult {
                state,
                passcode: super::passcode_state(retries),
            })
        }
        Err(UnblockError::WrongCard) => Err(CommandError::AuthorizationRejected(
            "it is for another card".into(),
        )),
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

enum UnblockError {
    WrongCard,
    Card(CardError),
}

impl From<CardError> for UnblockError {
    fn from(error: CardError) -> Self {
        UnblockError::Card(error)
    }
}

/// The unblock sequence; `state` records each step as it completes.
fn unblock(
    card: &mut dyn Transmit,
    authorization: &UnblockAuthorization,
    new_passcode: &str,
    state: &mut UnlockState,
) -> Result<(), UnblockError> {
    Piv::select(card)?;
    let identity = Piv::read_identity(card)?;
    if identity.guid_hex() != authorization.card_guid.to_ascii_lowercase() {
        return Err(UnblockError::WrongCard);
    }
    let temporary = authorization.temporary_pin.expose();
    let (puk, new_puk) = (authorization.puk.expose(), authorization.new_puk.expose());
    match Piv::reset_retry_counter(card, puk, temporary) {
        Ok(()) => {}
        // An earlier, interrupted run may already have rotated the PUK. (A card that does
        // not say how many tries are left would say blocked if none were.)
        Err(CardError::WrongPuk { retries_left }) if retries_left.is_none_or(|n| n > 0) => {
            Piv::reset_retry_counter(card, new_puk, temporary)?;
            state.puk_rotated = true;
        }
        Err(error) => return Err(error.into()),
    }
    state.unblocked = true;
    Piv::change_pin(card, temporary, new_passcode)?;
    state.passcode_set = true;
    if !state.puk_rotated {
        Piv::change_puk(card, puk, new_puk)?;
        state.puk_rotated = true;
    }
    Piv::verify(card, new_passcode)?;
    Ok(())
}
