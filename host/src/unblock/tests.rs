//! Tests of `unblock`: single sequences, each a case someone found, against the virtual card's
//! PIV logic in this process (the whole search is in `model_check`).

use super::model_check::{
    locked_card, verify_command, Between, Cut, Ending, Step, World, CHANGE_PUK, FRESH_PUK,
    NEW_PASSCODE, RESET,
};
use super::*;

/// Runs `steps` (a run cut where given, actions between), then runs to the end (at most 3).
fn replay(world: &mut World, steps: &[Step]) -> Ending {
    for step in steps {
        match step {
            Step::Run(cut) => {
                let _ = world.run(Some(*cut));
            }
            Step::Then(action) => world.apply(*action),
        }
    }
    let mut ending = Ending::Other("no run".into());
    for _ in 0..3 {
        let outcome = world.run(None);
        ending = world.ending(&outcome);
        if !matches!(ending, Ending::Other(_)) {
            break;
        }
    }
    ending
}

fn every_cut(max_apdus: usize) -> Vec<Cut> {
    (1..=max_apdus)
        .flat_map(|at| [Cut { at, ran: false }, Cut { at, ran: true }])
        .collect()
}

#[test]
fn an_uninterrupted_unlock_spends_no_puk_try_and_rotates() {
    let mut world = World::new(&locked_card());
    assert_eq!(replay(&mut world, &[]), Ending::Unlocked);
    assert_eq!(world.wrong_puk_tries(), 0);
    // PIN counter, RESET, CHANGE PIN, CHANGE PUK, VERIFY: a locked card is already down.
    assert_eq!(world.last_commands.len(), 5, "{:02X?}", world.last_commands);
    assert!(!world.records[0].0.unfinished);
}

#[test]
fn any_two_cut_offs_spend_at_most_one_wrong_puk_try_and_the_card_is_unlocked() {
    let base = locked_card();
    let mut walked = 0;
    for first in every_cut(12) {
        for second in every_cut(12) {
            let mut world = World::new(&base);
            let ending = replay(&mut world, &[Step::Run(first), Step::Run(second)]);
            let case = format!("cuts {first:?} then {second:?}");
            // Two commands carrying a PUK whose fate is unknown: if the portal's record were
            // wrong each may have spent a try, and the next could be the last, so the host
            // may send none.
            if world.puk_cuts < 2 {
                assert_eq!(ending, Ending::Unlocked, "{case}");
            } else {
                assert!(ending != Ending::Other(String::new()), "{case}");
            }
            assert!(world.wrong_puk_tries() <= 1, "{case}");
            walked += 1;
        }
    }
    assert_eq!(walked, 24 * 24);
}

/// Issue 29, item 1: run 1 is cut after CHANGE PUK ran (the card holds the fresh PUK and the
/// new passcode), run 2 guesses the old PUK and is cut after its reset ran (a wrong try),
/// then the person logs on with the new passcode. Judged by the PIN counter alone, the logon
/// looked like a reset that worked, and the old PUK was sent again until the PUK blocked.
#[test]
fn a_logon_between_runs_does_not_pass_for_a_reset() {
    let mut world = World::new(&locked_card());
    let first = world.cut_at(CHANGE_PUK, 1, true);
    let _ = world.run(Some(first));
    let second = world.cut_at(RESET, 1, true);
    let _ = world.run(Some(second));
    assert_eq!(
        world.wrong_puk_tries(),
        1,
        "the guess of the old PUK was wrong"
    );
    world.apply(Between::LogsOn);
    assert_eq!(replay(&mut world, &[]), Ending::Unlocked);
    assert_eq!(world.wrong_puk_tries(), 1);
}

/// The same with a person who then mistypes: the PIN counter moves both ways between runs.
#[test]
fn a_logon_and_mistypes_between_runs_cost_nothing_more() {
    for action in [
        Between::MistypesOnce,
        Between::MistypesTwice,
        Between::LogsOn,
    ] {
        let mut world = World::new(&locked_card());
        let first = world.cut_at(RESET, 1, true);
        let _ = world.run(Some(first));
        world.apply(action);
        let second = world.cut_at(CHANGE_PUK, 1, true);
        let _ = world.run(Some(second));
        world.apply(Between::LogsOn);
        let third = world.cut_at(RESET, 1, true);
        let _ = world.run(Some(third));
        world.apply(action);
        assert_eq!(replay(&mut world, &[]), Ending::Unlocked, "{action:?}");
        assert!(world.wrong_puk_tries() <= 1, "{action:?}");
    }
}

/// Issue 29, item 2: a PUK sent as known and refused was forgotten, so the next run sent it
/// again, and the third blocked the PUK. Here the portal's record names a PUK the card does
/// not hold: one try learns that, and no run sends it again.
#[test]
fn a_refused_puk_is_never_sent_again() {
    let mut world = World::new(&locked_card());
    world.apply(Between::PortalRecordWrong);
    for _ in 0..4 {
        let outcome = world.run(None);
        assert_eq!(
            outcome,
            Err(UnblockError::NoSafePuk(NoSafePuk::AllRefused)),
            "{:?}",
            world.records[0].0
        );
    }
    // The first run names the PUK on record; the next also the fresh one, which is tried once.
    assert_eq!(world.wrong_puk_tries(), 2);
    assert_eq!(
        world.records[0].0.refused,
        vec!["old".to_string(), "fresh".to_string()]
    );
}

/// A known PUK refused, with two named: the other is tried, and the refused one never again.
#[test]
fn a_known_puk_refused_moves_to_the_other_and_stays_refused() {
    let mut world = World::new(&locked_card());
    // Another computer put the fresh PUK on the card; this one still thinks "old".
    let _ = world.run(None);
    world.reader.card.file.puk = FRESH_PUK.into();
    world.reader.card.file.pin_retries_left = 0;
    world.records[0].0 = PukKnowledge {
        holds: Some("old".into()),
        ..PukKnowledge::default()
    };
    assert_eq!(replay(&mut world, &[]), Ending::Unlocked);
    assert_eq!(world.wrong_puk_tries(), 1);
}

/// With one try possibly left the host sends nothing: contact the RA, never the last try.
#[test]
fn the_last_puk_try_is_never_spent() {
    let mut world = World::new(&locked_card());
    let _ = world.run(None);
    world.reader.card.file.pin_retries_left = 0;
    world.records[0].0 = PukKnowledge {
        puk_tries_left: Some(2),
        uncounted_tries: 1,
        ..PukKnowledge::default()
    };
    let commands_before = world.reader.card.file.history.passcode_commands;
    let outcome = world.run(None);
    assert_eq!(outcome, Err(UnblockError::NoSafePuk(NoSafePuk::LastTry)));
    assert_eq!(
        world.reader.card.file.history.passcode_commands, commands_before,
        "nothing carrying a PIN or PUK was sent"
    );
}

/// The card's refusal of a reset (here the temporary PIN breaks the card's rule) is an
/// answer, not a cut-off: the PUK it carried is not suspected, so the retry spends nothing.
#[test]
fn a_card_refusal_is_not_taken_for_a_cut_off() {
    let mut world = World::new(&locked_card());
    // A cut CHANGE PUK that never ran: the card holds the old PUK, which is unknown here.
    let cut = world.cut_at(CHANGE_PUK, 1, false);
    let _ = world.run(Some(cut));
    world.temporary_pin_override = Some("12".into());
    let refused = world.run(None);
    assert_eq!(
        refused,
        Err(UnblockError::Card(CardError::RejectedByCard)),
        "{:?}",
        world.records[0].0
    );
    assert_eq!(world.records[0].0.in_flight, None);
    world.temporary_pin_override = None;
    assert_eq!(replay(&mut world, &[]), Ending::Unlocked);
    assert_eq!(world.wrong_puk_tries(), 0);
}

/// Cut after the reset and before the new passcode: the record says the unlock is unfinished
/// until a run sets the passcode.
#[test]
fn a_reset_without_a_passcode_is_recorded_unfinished() {
    let mut world = World::new(&locked_card());
    let cut = world.cut_at((0x24, 0x80), 1, false);
    let _ = world.run(Some(cut));
    assert!(world.records[0].0.unfinished);
    assert_ne!(world.reader.card.file.pin, NEW_PASSCODE);
    assert!(world.reader.card.file.pin_retries_left > 0, "unlocked");
    assert_eq!(replay(&mut world, &[]), Ending::Unlocked);
    assert!(!world.records[0].0.unfinished);
}

#[test]
fn a_pin_verified_by_another_program_hides_its_count() {
    let mut card = locked_card();
    card.pin = NEW_PASSCODE.into();
    card.pin_retry_limit = 5;
    card.pin_retries_left = 5;
    let mut world = World::new(&card);
    let _ = world.reader.card.process(&verify_command(NEW_PASSCODE));
    assert_eq!(Piv::pin_state(&mut world.reader), Ok(PinRetries::Verified));
}
