//! The unblock sequence on the card (DESIGN 4.3), and how it never guesses a PUK twice.
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
mod tests {
    //! Every cut-off point, against the virtual card's PIV logic in this process: a command is
    //! cut either before the card runs it or after (its effect kept, its answer lost), as a
    //! card pulled mid-command or a host killed would.

    use super::*;
    use crate::piv::transport::Response;
    use selfservice_rules::secret::Secret;
    use virtual_card::card_file::CardFile;
    use virtual_card::piv::PivCard;

    const NEW_PASSCODE: &str = "860245";
    const OLD_PUK: &str = "19283746";
    const FRESH_PUK: &str = "55443322";

    #[derive(Clone, Copy, Debug)]
    struct Cut {
        /// The APDU of the run (from 1) that is cut.
        at: usize,
        /// Whether the card ran it before the cut.
        ran: bool,
    }

    /// The card in a reader that can be pulled at a chosen APDU.
    struct Reader {
        card: PivCard,
        sent: usize,
        cut: Option<Cut>,
        gone: bool,
    }

    impl Transmit for Reader {
        fn transmit(&mut self, command: &[u8]) -> Result<Response, CardError> {
            if self.gone {
                return Err(CardError::CardRemoved);
            }
            self.sent += 1;
            let cut_here = self.cut.filter(|c| c.at == self.sent);
            if cut_here.is_some_and(|c| !c.ran) {
                self.gone = true;
                return Err(CardError::CardRemoved);
            }
            let (raw, _) = self.card.process(command);
            if cut_here.is_some() {
                self.gone = true;
                return Err(CardError::CardRemoved);
            }
            Response::from_raw(&raw)
        }
    }

    #[derive(Default)]
    struct Memory(PukKnowledge);

    impl KnowledgeStore for Memory {
        fn load(&mut self) -> Result<PukKnowledge, StoreError> {
            Ok(self.0.clone())
        }
        fn save(&mut self, knowledge: &PukKnowledge) -> Result<(), StoreError> {
            self.0 = knowledge.clone();
            Ok(())
        }
    }

    fn candidate(id: &str, puk: &str) -> PukCandidate {
        PukCandidate {
            id: id.into(),
            puk: Secret::new(puk.into()),
        }
    }

    /// What the portal seals for run `n`: before any authorization it knows one PUK; from
    /// then on (no receipt yet) both, with the same fresh one.
    fn secrets(run: usize) -> UnlockSecrets {
        let puks = if run == 0 {
            vec![candidate("old", OLD_PUK)]
        } else {
            vec![candidate("old", OLD_PUK), candidate("fresh", FRESH_PUK)]
        };
        UnlockSecrets {
            puks,
            fresh_puk: candidate("fresh", FRESH_PUK),
            temporary_pin: Secret::new(format!("{:08}", 31_415_926 + run)),
        }
    }

    fn locked_card() -> PivCard {
        let dir = tempfile::tempdir().expect("dir");
        let ca = virtual_card::ca::TestCa::load_or_create(dir.path()).expect("ca");
        let path = dir.path().join("card.toml");
        std::fs::copy(
            virtual_card::world::resolve_card("locked").expect("template"),
            &path,
        )
        .expect("copy");
        virtual_card::runner::prepare_card(&path, &ca).expect("card")
    }

    /// Runs the unlock once per cut, then clean runs until it finishes (at most 3).
    fn walk(base: &CardFile, cuts: &[Cut]) -> (Reader, Result<String, UnblockError>) {
        let mut reader = Reader {
            card: PivCard::new(base.clone()).expect("card"),
            sent: 0,
            cut: None,
            gone: false,
        };
        let mut memory = Memory::default();
        let mut outcome = Err(UnblockError::UnknownPuk);
        let runs = cuts.iter().map(|c| Some(*c)).chain([None, None, None]);
        for (run, cut) in runs.enumerate() {
            // Put back: powered up afresh, nothing verified.
            reader.card.reset();
            reader.gone = false;
            reader.cut = None;
            Piv::select(&mut reader).expect("select");
            reader.sent = 0;
            reader.cut = cut;
            let mut state = UnlockState {
                unblocked: false,
                passcode_set: false,
                puk_rotated: false,
            };
            outcome = unblock(
                &mut reader,
                &secrets(run),
                NEW_PASSCODE,
                &mut memory,
                &mut state,
            );
            if cut.is_none() && outcome.is_ok() {
                break;
            }
        }
        (reader, outcome)
    }

    fn every_cut(max_apdus: usize) -> Vec<Cut> {
        (1..=max_apdus)
            .flat_map(|at| [Cut { at, ran: false }, Cut { at, ran: true }])
            .collect()
    }

    #[test]
    fn an_uninterrupted_unlock_spends_no_puk_try_and_rotates() {
        let base = locked_card().file;
        let (reader, outcome) = walk(&base, &[]);
        assert_eq!(outcome, Ok("fresh".to_string()));
        assert_eq!(reader.card.file.pin, NEW_PASSCODE);
        assert_eq!(reader.card.file.puk, FRESH_PUK);
        assert_eq!(reader.card.file.history.wrong_puk_tries, 0);
    }

    #[test]
    fn any_two_cut_offs_spend_at_most_one_wrong_puk_try_and_the_card_is_unlocked() {
        let base = locked_card().file;
        let mut walked = 0;
        for first in every_cut(12) {
            for second in every_cut(12) {
                let (reader, outcome) = walk(&base, &[first, second]);
                let file = &reader.card.file;
                let case = format!("cuts {first:?} then {second:?}");
                assert_eq!(outcome, Ok("fresh".to_string()), "{case}");
                assert_eq!(
                    (file.pin.as_str(), file.puk.as_str()),
                    (NEW_PASSCODE, FRESH_PUK),
                    "{case}"
                );
                assert!(
                    reader.card.file.history.wrong_puk_tries <= 1,
                    "{case}: {} wrong",
                    reader.card.file.history.wrong_puk_tries
                );
                assert_eq!(file.puk_retries_left, file.puk_retry_limit, "{case}");
                walked += 1;
            }
        }
        assert_eq!(walked, 24 * 24);
    }

    #[test]
    fn three_cut_offs_never_block_the_puk() {
        let base = locked_card().file;
        let mut worst = 0;
        for first in every_cut(10) {
            for second in every_cut(10) {
                for third in every_cut(10) {
                    let (reader, outcome) = walk(&base, &[first, second, third]);
                    let case = format!("cuts {first:?}, {second:?}, {third:?}");
                    assert_eq!(outcome, Ok("fresh".to_string()), "{case}");
                    assert_eq!(reader.card.file.pin, NEW_PASSCODE, "{case}");
                    worst = worst.max(reader.card.file.history.wrong_puk_tries);
                }
            }
        }
        assert!(worst <= 2, "{worst} wrong PUK tries");
    }
}
