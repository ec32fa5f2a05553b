//! Tests of `unblock`.

//! Every cut-off point, against the virtual card's PIV logic in this process: a command is
//! cut either before the card runs it or after (its effect kept, its answer lost), as a
//! card pulled mid-command or a host killed would.

use super::*;
use crate::piv::transport::Response;
use selfservice_rules::secret::Secret;
use selfservice_vcard::card_file::CardFile;
use selfservice_vcard::piv::PivCard;

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
    let ca = selfservice_vcard::ca::TestCa::load_or_create(dir.path()).expect("ca");
    let path = dir.path().join("card.toml");
    std::fs::copy(
        selfservice_vcard::world::resolve_card("locked").expect("template"),
        &path,
    )
    .expect("copy");
    selfservice_vcard::runner::prepare_card(&path, &ca).expect("card")
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
