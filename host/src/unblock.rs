//! The unblock sequence on the card (docs/DESIGN.md §4.3), and how it never guesses a PUK twice.
//!
//! In one transaction: RESET RETRY COUNTER (PUK, temporary PIN), CHANGE REFERENCE DATA PIN
//! (temporary -> new passcode), CHANGE REFERENCE DATA PUK (held -> fresh), VERIFY (new
//! passcode), then the card signs the receipt with its 9E key. The caller logs the PIN out.
//!
//! Which PUK the card holds is normally known: the portal names it, or this computer saw the
//! card take it. It is unknown only after a command carrying a PUK was cut off (card pulled,
//! host killed) with its effect unknown. So before every such command the host writes down what
//! it is about to send ([`PukKnowledge::in_flight`]), and the next run reads the card to learn
//! what happened:
//! - a cut-off CHANGE PUK leaves the card holding the old or the fresh PUK: the next run must
//!   try one (a wrong one spends a try, and then the other is known);
//! - a cut-off RESET RETRY COUNTER is judged by the PIN's retry counter, which only a
//!   successful reset can raise: before a guess the host makes sure the counter is below its
//!   limit (a PIN blocked is at 0; otherwise it spends one PIN try, which the reset restores).
//!   Raised: the guess was right. Not raised: it was wrong or never ran, so it is *suspect*
//!   and the other candidate goes next.
//!
//! So at most one try is spent on a wrong PUK unless more than two commands carrying a PUK
//! are cut off with their effect unknown; even then guesses alternate, and a right one resets
//! the counter. `tests` below checks this against the virtual card for every cut-off point.

use selfservice_rules::authorization::{PukCandidate, UnlockSecrets};
use selfservice_rules::protocol::UnlockState;
use serde::{Deserialize, Serialize};

use crate::piv::{CardError, Piv, Transmit};

/// What this computer knows of one card's PUK, by the portal's PUK ids (never the PUKs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PukKnowledge {
    /// The PUK the card was last seen to accept or take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holds: Option<String>,
    /// PUKs sent in a reset whose answer never came and that did not take: each may have
    /// spent a try. Oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suspects: Vec<String>,
    /// A command carrying a PUK that was sent and whose answer has not been handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<InFlight>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "command",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum InFlight {
    /// RESET RETRY COUNTER with this PUK; whether it was a guess; the PIN retry counter just
    /// before (0: blocked; absent: the card would not say).
    Reset {
        puk: String,
        guess: bool,
        pin_before: Option<u8>,
    },
    /// CHANGE REFERENCE DATA PUK from one PUK to another.
    Change { from: String, to: String },
}

/// Where [`PukKnowledge`] is kept between runs (a file locked across host processes).
pub trait KnowledgeStore {
    fn load(&mut self) -> Result<PukKnowledge, StoreError>;
    fn save(&mut self, knowledge: &PukKnowledge) -> Result<(), StoreError>;
}

/// The record cannot be read or written: the host stops rather than guess a PUK.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the record of unlock attempts at {place} cannot be used: {reason}")]
pub struct StoreError {
    pub place: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnblockError {
    #[error("the authorization is for another card")]
    WrongCard,
    #[error("the card holds a PUK the portal does not know")]
    UnknownPuk,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Card(#[from] CardError),
}

/// Values no passcode of ours is likely to be, to spend one PIN try on purpose.
const NOT_THE_PIN: [&str; 3] = ["00000000", "99999999", "13579246"];

/// Runs the unblock on a selected card whose GUID was checked; returns the id of the PUK the
/// card holds afterwards (the fresh one). `state` records each step as it completes.
pub fn unblock(
    card: &mut dyn Transmit,
    secrets: &UnlockSecrets,
    new_passcode: &str,
    store: &mut dyn KnowledgeStore,
    state: &mut UnlockState,
) -> Result<String, UnblockError> {
    let mut knowledge = store.load()?;
    let loaded = knowledge.clone();
    let pin_now = pin_counter(card)?;
    resolve(&mut knowledge, pin_now);
    forget_unknown_ids(&mut knowledge, &secrets.puks);
    // A durable write (fsync) costs about as much as an APDU: only when something changed.
    if knowledge != loaded {
        store.save(&knowledge)?;
    }

    let temporary = secrets.temporary_pin.expose();
    let held = loop {
        let (candidate, guessing) = match &knowledge.holds {
            Some(id) => (
                find(&secrets.puks, id).ok_or(UnblockError::UnknownPuk)?,
                false,
            ),
            None => (next_guess(&knowledge, &secrets.puks)?, true),
        };
        let pin_before = if guessing {
            room_to_witness(card, new_passcode)?
        } else {
            pin_counter(card)?
        };
        knowledge.in_flight = Some(InFlight::Reset {
            puk: candidate.id.clone(),
            guess: guessing,
            pin_before,
        });
        store.save(&knowledge)?;
        match Piv::reset_retry_counter(card, candidate.puk.expose(), temporary) {
            Ok(()) => {
                knowledge.in_flight = None;
                knowledge.holds = Some(candidate.id.clone());
                knowledge.suspects.clear();
                store.save(&knowledge)?;
                break candidate;
            }
            Err(CardError::WrongPuk { retries_left }) => {
                knowledge.in_flight = None;
                knowledge.suspects.retain(|s| s != &candidate.id);
                // Known wrong: the card holds the other candidate, if there is exactly one.
                let others: Vec<&PukCandidate> = secrets
                    .puks
                    .iter()
                    .filter(|p| p.id != candidate.id)
                    .collect();
                let exhausted = !guessing || others.len() != 1;
                knowledge.holds = if exhausted {
                    None
                } else {
                    others.first().map(|p| p.id.clone())
                };
                store.save(&knowledge)?;
                if retries_left == Some(0) {
                    return Err(CardError::PukBlocked.into());
                }
                if exhausted {
                    return Err(UnblockError::UnknownPuk);
                }
            }
            // Cut off: `in_flight` stays written for the next run to judge.
            Err(error) => return Err(error.into()),
        }
    };
    state.unblocked = true;
    Piv::change_pin(card, temporary, new_passcode)?;
    state.passcode_set = true;
    let fresh = &secrets.fresh_puk;
    if held.id != fresh.id {
        knowledge.in_flight = Some(InFlight::Change {
            from: held.id.clone(),
            to: fresh.id.clone(),
        });
        store.save(&knowledge)?;
        Piv::change_puk(card, held.puk.expose(), fresh.puk.expose())?;
        knowledge.in_flight = None;
        knowledge.holds = Some(fresh.id.clone());
        store.save(&knowledge)?;
    }
    state.puk_rotated = true;
    Piv::verify(card, new_passcode)?;
    Ok(fresh.id.clone())
}

/// Learns what a cut-off command did, from the PIN counter now.
fn resolve(knowledge: &mut PukKnowledge, pin_now: Option<u8>) {
    match knowledge.in_flight.take() {
        None => {}
        Some(InFlight::Reset {
            puk,
            guess,
            pin_before,
        }) => {
            let raised = matches!((pin_before, pin_now), (Some(before), Some(now)) if now > before);
            // A known PUK is right whether or not the reset ran.
            if raised || !guess {
                knowledge.holds = Some(puk);
                knowledge.suspects.clear();
            } else {
                knowledge.holds = None;
                knowledge.suspects.retain(|s| s != &puk);
                knowledge.suspects.push(puk);
            }
        }
        Some(InFlight::Change { .. }) => knowledge.holds = None,
    }
}

/// Ids the portal no longer names are stale (it learned better from a receipt).
fn forget_unknown_ids(knowledge: &mut PukKnowledge, puks: &[PukCandidate]) {
    if knowledge
        .holds
        .as_ref()
        .is_some_and(|id| find(puks, id).is_none())
    {
        knowledge.holds = None;
    }
    knowledge.suspects.retain(|id| find(puks, id).is_some());
    // One candidate: the portal is sure.
    if knowledge.holds.is_none() && puks.len() == 1 {
        knowledge.holds = puks.first().map(|p| p.id.clone());
    }
}

fn find<'a>(puks: &'a [PukCandidate], id: &str) -> Option<&'a PukCandidate> {
    puks.iter().find(|p| p.id == id)
}

/// The candidate to guess: one not suspected, in the portal's order; if all are suspect, the
/// one suspected longest ago (guesses alternate).
fn next_guess<'a>(
    knowledge: &PukKnowledge,
    puks: &'a [PukCandidate],
) -> Result<&'a PukCandidate, UnblockError> {
    puks.iter()
        .find(|p| !knowledge.suspects.contains(&p.id))
        .or_else(|| knowledge.suspects.iter().find_map(|id| find(puks, id)))
        .ok_or(UnblockError::UnknownPuk)
}

/// The PIN retry counter (0: blocked), `None` when the card will not say.
fn pin_counter(card: &mut dyn Transmit) -> Result<Option<u8>, CardError> {
    match Piv::pin_state(card) {
        Ok(counter) => Ok(Some(counter.unwrap_or(0))),
        Err(CardError::UnexpectedStatus(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Makes sure a successful reset would show, by the PIN counter rising: a blocked PIN is at 0;
/// a usable one is taken one try below its limit with a value that is not the PIN. Returns
/// the counter before the reset.
fn room_to_witness(card: &mut dyn Transmit, new_passcode: &str) -> Result<Option<u8>, CardError> {
    if pin_counter(card)? == Some(0) {
        return Ok(Some(0));
    }
    for value in NOT_THE_PIN.iter().filter(|v| **v != new_passcode) {
        match Piv::verify(card, value) {
            Err(CardError::WrongPin { retries_left }) => return Ok(retries_left),
            Err(CardError::PinBlocked) => return Ok(Some(0)),
            // It was the PIN after all: forget that, try another value.
            Ok(()) => Piv::logout(card)?,
            Err(error) => return Err(error),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
