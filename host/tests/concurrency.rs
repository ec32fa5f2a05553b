//! Two operations on one card. From one host the second is refused at once with `busy`; from
//! two host processes (two browsers, or a browser and a second profile) PC/SC's transaction
//! makes the second wait for the first, and both finish on the card as it then is. The first
//! operation is held mid-way by the virtual card, for as long as the test needs, not by time.

mod common;

use common::*;
use selfservice_vcard::runner::Fault;
use serde_json::json;

const PASSCODE: &str = "583920";
const NEW_PASSCODE: &str = "246813";

fn change(old: &str, new: &str) -> serde_json::Value {
    json!({"type": "change-passcode", "oldPasscode": old, "newPasscode": new})
}

#[test]
fn a_second_operation_from_the_same_host_is_busy_and_the_first_finishes() {
    let (world, mut host) = World::with_card("unlocked");
    let card = world.card(0);
    card.running.set_fault(Some(Fault::HoldBefore { apdu: 2 }));
    let first = host.send(change(PASSCODE, NEW_PASSCODE));
    assert!(
        card.running.wait_until_holding(),
        "the change reached the card"
    );
    let second = host.request(json!({"type": "prove-possession", "purpose": "register",
        "origin": ORIGIN, "nonce": NONCE, "passcode": PASSCODE}));
    assert_eq!(second["error"]["code"], "busy", "{second}");
    let before = card.file().history.passcode_commands;
    card.running.release();
    let done = host.reply(first);
    assert_eq!(done["result"]["passcode"]["state"], "usable", "{done}");
    let file = card.file();
    assert_eq!(file.pin, NEW_PASSCODE);
    assert_eq!(
        file.history.passcode_commands,
        before + 1,
        "only the first operation's passcode reached the card"
    );
}

#[test]
fn two_hosts_on_one_card_take_turns_and_both_finish() {
    let mut world = World::new();
    world.insert("unlocked", 0);
    let mut first_host = world.host();
    let mut second_host = world.host();
    for host in [&mut first_host, &mut second_host] {
        host.hello();
        host.wait_for_card(0);
    }
    let card = world.card(0);
    card.running.set_fault(Some(Fault::HoldBefore { apdu: 2 }));
    let first = first_host.send(change(PASSCODE, NEW_PASSCODE));
    assert!(
        card.running.wait_until_holding(),
        "the change reached the card"
    );
    // Sent while the first holds the card: it can only run after, with the new passcode.
    let second = second_host.send(json!({"type": "prove-possession", "purpose": "register",
        "origin": ORIGIN, "nonce": NONCE, "passcode": NEW_PASSCODE}));
    card.running.release();
    let changed = first_host.reply(first);
    assert_eq!(
        changed["result"]["passcode"]["state"], "usable",
        "{changed}"
    );
    let proof = second_host.reply(second);
    assert_eq!(
        proof["result"]["cardGuid"],
        card.file().guid.as_str(),
        "{proof}"
    );
    let file = card.file();
    assert_eq!(
        (file.pin.as_str(), file.pin_retries_left),
        (NEW_PASSCODE, 3),
        "no try spent by the second host"
    );
}
