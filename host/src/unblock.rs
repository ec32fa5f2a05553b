//! The unblock sequence on the card (docs/DESIGN.md §4.3), and how it never blocks a PUK.
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
//!   try one (a wrong one spends a try, and the card's answer says so);
//! - a cut-off RESET RETRY COUNTER is judged by the PIN's retry counter. Before every reset
//!   the host takes the PIN fully down (blocked), so the counter can rise only by a reset with
//!   the right PUK: a blocked PIN cannot be verified, so a person logging on, here or on
//!   another computer, cannot raise it. Raised: the PUK was right. Not raised: it was wrong or
//!   never ran, so a guessed PUK is *suspect* and the other candidate goes next.
//!
//! And three rules that hold whatever the record says:
//! - a PUK the card has refused is never sent again ([`PukKnowledge::refused`]) until the
//!   portal stops naming it or this computer itself may put it on the card;
//! - a PUK is never sent when, counting every try that may have been spent, it could be the
//!   last one: the host refuses with [`UnblockError::NoSafePuk`] (contact the Registration
//!   Authority) before sending;
//! - the card's own refusal of a command is an answer, not a cut-off: only a command whose
//!   answer never came stays in flight.
//!
//! `model_check` walks every sequence of up to three cut-off runs with what a person may do
//! between them against the virtual card.

use selfservice_rules::authorization::{PukCandidate, UnlockSecrets};
use selfservice_rules::protocol::UnlockState;
use serde::{Deserialize, Serialize};

use crate::piv::{CardError, PinRetries, Piv, Transmit};

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
    /// PUKs the card refused (a try spent on each): never sent again while the portal names
    /// them, unless this computer may have put one on the card since.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
    /// The PUK tries left as the card last said (in a refusal); absent: never said here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub puk_tries_left: Option<u8>,
    /// Resets cut off since the card last told its count (or last took a PUK) whose PUK may
    /// have been wrong: each may have spent a try.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub uncounted_tries: u8,
    /// A reset ran and the new passcode may not be set: the card's PIN may be a temporary PIN
    /// nobody knows, so the unlock must be finished (docs/DESIGN.md §4.3.3).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unfinished: bool,
    /// A command carrying a PUK that was sent and whose answer has not been handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<InFlight>,
}

fn is_zero(value: &u8) -> bool {
    *value == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "command",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum InFlight {
    /// RESET RETRY COUNTER with this PUK; whether it was a guess; the PIN retry counter just
    /// before (0: blocked, the only value a reset is judged from; absent: the card would not
    /// say).
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
    /// No PUK is safe to send: the card refused every PUK the portal names, or one more
    /// wrong try could block the PUK. Nothing was sent; only the Registration Authority can
    /// go on.
    #[error("no PUK is safe to send: {0}")]
    NoSafePuk(NoSafePuk),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Card(#[from] CardError),
}

/// Why no PUK is safe to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSafePuk {
    /// The card refused every PUK the portal names.
    AllRefused,
    /// A wrong try could be the card's last.
    LastTry,
}

impl std::fmt::Display for NoSafePuk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NoSafePuk::AllRefused => "the card refused every PUK the portal knows",
            NoSafePuk::LastTry => "one more wrong try could block the card's PUK",
        })
    }
}

/// What the host assumes of a card's PUK tries until the card says: SP 800-73-4 leaves the
/// limit to the issuer, and 3 is the PIV default and the least deployed cards use.
const ASSUMED_PUK_TRIES: u8 = 3;
/// The most tries a PIN counter can show (`63CX`), so taking a PIN down always ends.
const MAX_PIN_TRIES: usize = 15;
/// Values no passcode of ours is likely to be, to spend PIN tries on purpose.
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
    // Only a cut-off reset is judged from the card; anything else is written down before the
    // card is touched (a run cut at its first command still leaves what the portal said).
    if matches!(knowledge.in_flight, Some(InFlight::Reset { .. })) {
        let pin_now = pin_counter(card)?;
        resolve(&mut knowledge, pin_now);
    } else {
        resolve(&mut knowledge, None);
    }
    forget_unnamed(&mut knowledge, &secrets.puks);
    // A durable write (fsync) costs about as much as an APDU: only when something changed.
    if knowledge != loaded {
        store.save(&knowledge)?;
    }

    let temporary = secrets.temporary_pin.expose();
    let held = loop {
        let (candidate, guessing) = choose(&knowledge, &secrets.puks)?;
        if worst_tries_left(&knowledge) <= 1 {
            return Err(UnblockError::NoSafePuk(NoSafePuk::LastTry));
        }
        let pin_before = take_pin_down(card, new_passcode)?;
        knowledge.in_flight = Some(InFlight::Reset {
            puk: candidate.id.clone(),
            guess: guessing,
            pin_before,
        });
        store.save(&knowledge)?;
        match Piv::reset_retry_counter(card, candidate.puk.expose(), temporary) {
            Ok(()) => {
                knowledge.in_flight = None;
                took(&mut knowledge, &candidate.id);
                store.save(&knowledge)?;
                break candidate;
            }
            Err(CardError::WrongPuk { retries_left }) => {
                knowledge.in_flight = None;
                knowledge.holds = None;
                knowledge.suspects.retain(|s| s != &candidate.id);
                knowledge.refused.push(candidate.id.clone());
                // The card's count, or ours if it did not say: this try is spent either way.
                let left =
                    retries_left.unwrap_or_else(|| worst_tries_left(&knowledge).saturating_sub(1));
                knowledge.puk_tries_left = Some(left);
                knowledge.uncounted_tries = 0;
                store.save(&knowledge)?;
                if left == 0 {
                    return Err(CardError::PukBlocked.into());
                }
            }
            Err(error) => return Err(answered(store, &mut knowledge, error)?),
        }
    };
    state.unblocked = true;
    if let Err(error) = Piv::change_pin(card, temporary, new_passcode) {
        // The card's PIN is this run's temporary PIN (or, if the answer was lost, maybe the
        // new passcode): `unfinished` stays set for the next run to finish.
        return Err(error.into());
    }
    state.passcode_set = true;
    knowledge.unfinished = false;
    let fresh = &secrets.fresh_puk;
    if held.id != fresh.id {
        knowledge.in_flight = Some(InFlight::Change {
            from: held.id.clone(),
            to: fresh.id.clone(),
        });
        // This computer may now put the fresh PUK on the card.
        knowledge.refused.retain(|id| id != &fresh.id);
        store.save(&knowledge)?;
        match Piv::change_puk(card, held.puk.expose(), fresh.puk.expose()) {
            Ok(()) => {}
            Err(error) => return Err(answered(store, &mut knowledge, error)?),
        }
        knowledge.in_flight = None;
        knowledge.holds = Some(fresh.id.clone());
    }
    store.save(&knowledge)?;
    state.puk_rotated = true;
    Piv::verify(card, new_passcode)?;
    Ok(fresh.id.clone())
}

/// A command carrying a PUK failed. A cut-off stays in flight for the next run to judge; the
/// card's own refusal is an answer (the command did not run), so it is cleared.
fn answered(
    store: &mut dyn KnowledgeStore,
    knowledge: &mut PukKnowledge,
    error: CardError,
) -> Result<UnblockError, StoreError> {
    if !error.is_cut_off() {
        knowledge.in_flight = None;
        store.save(knowledge)?;
    }
    Ok(error.into())
}

/// The card took `id`: it holds it, and its PUK counter is full again.
fn took(knowledge: &mut PukKnowledge, id: &str) {
    knowledge.holds = Some(id.to_string());
    knowledge.suspects.clear();
    knowledge.refused.retain(|r| r != id);
    knowledge.puk_tries_left = None;
    knowledge.uncounted_tries = 0;
    knowledge.unfinished = true;
}

/// The fewest PUK tries the card may have left, counting every try that may have been spent.
fn worst_tries_left(knowledge: &PukKnowledge) -> u8 {
    knowledge
        .puk_tries_left
        .unwrap_or(ASSUMED_PUK_TRIES)
        .saturating_sub(knowledge.uncounted_tries)
}

/// Whether the card (whose PIN reads `pin` now) was left unblocked by an unlock that did not
/// set the new passcode, by this computer's record: a reset took, or a reset whose answer
/// was lost found the PIN taken down to 0 and the PIN is no longer blocked (only a reset with
/// the right PUK raises it). A blocked card is not unfinished: it is locked, and the ordinary
/// unlock serves.
pub fn unlock_unfinished(knowledge: &PukKnowledge, pin: PinRetries) -> bool {
    if pin == PinRetries::Blocked {
        return false;
    }
    knowledge.unfinished
        || matches!(
            knowledge.in_flight,
            Some(InFlight::Reset {
                pin_before: Some(0),
                ..
            })
        )
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
            // Only a PIN taken down to 0 witnesses: then nothing but a reset with the right
            // PUK raises it (a person's wrong tries after that reset take it down by at most
            // two, never back to 0).
            let raised = matches!((pin_before, pin_now), (Some(0), Some(now)) if now > 0);
            if raised {
                took(knowledge, &puk);
            } else {
                // Not run, or wrong: it may have spent a try.
                knowledge.uncounted_tries = knowledge.uncounted_tries.saturating_add(1);
                if guess {
                    knowledge.holds = None;
                    knowledge.suspects.retain(|s| s != &puk);
                    knowledge.suspects.push(puk);
                } else {
                    // A known PUK is sent again: if it was wrong, the card now says so.
                    knowledge.holds = Some(puk);
                }
            }
        }
        Some(InFlight::Change { to, .. }) => {
            knowledge.holds = None;
            knowledge.refused.retain(|id| id != &to);
        }
    }
}

/// Ids the portal no longer names are stale (it learned better from a receipt).
fn forget_unnamed(knowledge: &mut PukKnowledge, puks: &[PukCandidate]) {
    if knowledge
        .holds
        .as_ref()
        .is_some_and(|id| find(puks, id).is_none())
    {
        knowledge.holds = None;
    }
    knowledge.suspects.retain(|id| find(puks, id).is_some());
    knowledge.refused.retain(|id| find(puks, id).is_some());
    // One candidate: the portal is sure.
    if knowledge.holds.is_none() && puks.len() == 1 {
        knowledge.holds = puks
            .first()
            .filter(|p| !knowledge.refused.contains(&p.id))
            .map(|p| p.id.clone());
    }
}

fn find<'a>(puks: &'a [PukCandidate], id: &str) -> Option<&'a PukCandidate> {
    puks.iter().find(|p| p.id == id)
}

/// The PUK to send and whether it is a guess: the one the card holds if known; else one
/// neither refused nor suspected, in the portal's order; else the one suspected longest ago
/// (guesses alternate). Never a refused one.
fn choose<'a>(
    knowledge: &PukKnowledge,
    puks: &'a [PukCandidate],
) -> Result<(&'a PukCandidate, bool), UnblockError> {
    let open = |id: &str| !knowledge.refused.iter().any(|r| r == id);
    if let Some(held) = knowledge.holds.as_deref().filter(|id| open(id)) {
        if let Some(candidate) = find(puks, held) {
            return Ok((candidate, false));
        }
    }
    puks.iter()
        .find(|p| open(&p.id) && !knowledge.suspects.contains(&p.id))
        .or_else(|| {
            knowledge
                .suspects
                .iter()
                .filter(|id| open(id))
                .find_map(|id| find(puks, id))
        })
        .map(|candidate| (candidate, true))
        .ok_or(UnblockError::NoSafePuk(NoSafePuk::AllRefused))
}

/// The PIN retry counter (0: blocked), `None` when the card will not say. A PIN verified by
/// another program hides its counter: it is logged out first, then read.
fn pin_counter(card: &mut dyn Transmit) -> Result<Option<u8>, CardError> {
    let read = |card: &mut dyn Transmit| match Piv::pin_state(card) {
        Ok(PinRetries::Left(n)) => Ok(Some(Some(n))),
        Ok(PinRetries::Blocked) => Ok(Some(Some(0))),
        Ok(PinRetries::Verified) => Ok(None),
        Err(CardError::UnexpectedStatus(_)) => Ok(Some(None)),
        Err(error) => Err(error),
    };
    if let Some(counter) = read(card)? {
        return Ok(counter);
    }
    Piv::logout(card)?;
    Ok(read(card)?.flatten())
}

/// Takes the PIN fully down (blocked), so that only a reset with the right PUK can raise its
/// counter: values that are not the PIN, one try each. Returns the counter before the reset
/// (0, or `None` when the card will not say, which witnesses nothing).
fn take_pin_down(card: &mut dyn Transmit, new_passcode: &str) -> Result<Option<u8>, CardError> {
    let mut counter = pin_counter(card)?;
    let mut values: Vec<&str> = NOT_THE_PIN
        .iter()
        .copied()
        .filter(|v| *v != new_passcode)
        .collect();
    for _ in 0..MAX_PIN_TRIES + NOT_THE_PIN.len() {
        if counter.is_none_or(|n| n == 0) {
            return Ok(counter);
        }
        let Some(value) = values.first().copied() else {
            return Ok(None);
        };
        counter = match Piv::verify(card, value) {
            Err(CardError::WrongPin { retries_left }) => retries_left,
            Err(CardError::PinBlocked) => Some(0),
            // It was the PIN after all: forget that, never use that value again.
            Ok(()) => {
                Piv::logout(card)?;
                values.remove(0);
                pin_counter(card)?
            }
            Err(error) => return Err(error),
        };
    }
    Ok(None)
}

#[cfg(test)]
mod model_check;
#[cfg(test)]
mod tests;
