//! The fault matrix for the operations other than unlock (which has its own walk in
//! unlock.rs): the card pulled before and after every APDU of the registration proof and of
//! a passcode change, and the browser closing the port while an operation holds the card.
//! Each time: a typed error that tells the truth, no passcode try spent, the PIN never left
//! verified, and the card usable again once put back.

mod common;

use common::*;
use selfservice_vcard::runner::Fault;
use serde_json::{json, Value};

const PASSCODE: &str = "583920";
const NEW_PASSCODE: &str = "246813";

fn register_proof() -> Value {
    json!({"type": "prove-possession", "purpose": "register", "origin": ORIGIN, "nonce": NONCE,
        "passcode": PASSCODE})
}

fn change() -> Value {
    json!({"type": "change-passcode", "oldPasscode": PASSCODE, "newPasscode": NEW_PASSCODE})
}

/// The command APDUs an operation sends on a clean run.
fn apdus_of(request: &Value, template: &str) -> Vec<Vec<u8>> {
    let (world, mut host) = World::with_card(template);
    world.card(0).running.start_recording();
    let reply = host.request(request.clone());
    assert!(reply.get("result").is_some(), "{reply}");
    world.card(0).running.take_recording()
}

/// The APDU (from 1) that does the operation's work: the signature for a proof (GENERAL
/// AUTHENTICATE, 87), the change for a passcode change (CHANGE REFERENCE DATA, 24). Before it
/// has run, a result would claim work the card never did.
fn essential_apdu(request: &Value, apdus: &[Vec<u8>]) -> u32 {
    let ins = if request["type"] == "change-passcode" {
        0x24
    } else {
        0x87
    };
    let at = apdus
        .iter()
        .rposition(|apdu| apdu.get(1) == Some(&ins))
        .unwrap_or_else(|| panic!("no INS {ins:02X} in a clean {}", request["type"]));
    u32::try_from(at + 1).expect("index")
}

fn pull_at_every_apdu(request: Value, changes_pin: bool) -> u32 {
    pull_at_every_apdu_of(request, "unlocked", changes_pin)
}

fn pull_at_every_apdu_of(request: Value, template: &str, changes_pin: bool) -> u32 {
    let clean = apdus_of(&request, template);
    let count = clean.len();
    assert!(count >= 4, "{count}");
    let essential = essential_apdu(&request, &clean);
    let mut faults = 0;
    for apdu in 1..=u32::try_from(count).expect("count") {
        for after in [false, true] {
            let (world, mut host) = World::with_card(template);
            let card = world.card(0);
            card.running.set_fault(Some(if after {
                Fault::RemoveAfter { apdu }
            } else {
                Fault::RemoveBefore { apdu }
            }));
            let pin_before = card.file().pin;
            let reply = host.request(request.clone());
            let case = format!(
                "{} pulled {} APDU {apdu}",
                request["type"],
                if after { "after" } else { "before" }
            );
            let status = card.running.status();
            assert_eq!(status.fault, None, "{case}: the fault never fired");
            assert!(!status.inserted, "{case}");
            faults += 1;
            // A result only once the work is done on the card; before that, card-removed.
            let work_done = if after {
                apdu >= essential
            } else {
                apdu > essential
            };
            if reply.get("result").is_none() {
                assert_eq!(reply["error"]["code"], "card-removed", "{case}: {reply}");
            } else {
                assert!(
                    work_done,
                    "{case}: a result before APDU {essential} ran: {reply}"
                );
            }
            let file = card.file();
            let tries = if template == "locked" { 0 } else { 3 };
            assert_eq!(file.pin_retries_left, tries, "{case}: a try was spent");
            assert!(!status.pin_verified, "{case}: the PIN was left verified");
            if changes_pin {
                assert!(
                    file.pin == pin_before || file.pin == NEW_PASSCODE,
                    "{case}: {}",
                    file.pin
                );
                // The error never claims the change did not happen when it did.
                if reply.get("result").is_some() {
                    assert_eq!(file.pin, NEW_PASSCODE, "{case}");
                }
            } else {
                assert_eq!(file.pin, pin_before, "{case}");
            }
            // Put back, the card answers as it is.
            card.running.insert();
            host.wait_for_card(0);
            let status = host.request(json!({"type": "status"}));
            let slot0 = status["result"]["readers"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["name"] == "Virtual PCD 00 00").cloned())
                .unwrap_or_default();
            let expected = if template == "locked" {
                json!({"state": "blocked"})
            } else {
                json!({"state": "usable", "retriesLeft": 3})
            };
            assert_eq!(slot0["card"]["passcode"], expected, "{case}: {status}");
            // Logged at trace through the fault: no passcode in the log file or on stderr.
            let written = format!("{}{}", read_log(&world.log_path()), host.stderr_text());
            assert!(
                written.contains("request"),
                "{case}: the trace log was written"
            );
            for secret in [PASSCODE, NEW_PASSCODE, pin_before.as_str()] {
                assert!(!written.contains(secret), "{case}: {secret} was logged");
            }
        }
    }
    println!("{}: {count} APDUs, {faults} pulls", request["type"]);
    faults
}

#[test]
fn a_card_pulled_at_any_apdu_of_a_registration_proof_costs_nothing() {
    assert!(pull_at_every_apdu(register_proof(), false) >= 8);
}

#[test]
fn a_card_pulled_at_any_apdu_of_an_unlock_proof_costs_nothing() {
    let request = json!({"type": "prove-possession", "purpose": "unlock", "origin": ORIGIN,
        "nonce": NONCE});
    assert!(pull_at_every_apdu_of(request, "locked", false) >= 8);
}

#[test]
fn the_pcsc_service_stopped_mid_operation_is_reported_and_the_host_carries_on() {
    let (mut world, mut host) = World::with_card("unlocked");
    world
        .card(0)
        .running
        .set_fault(Some(Fault::HoldBefore { apdu: 2 }));
    let id = host.send(change());
    assert!(world.card(0).running.wait_until_holding());
    // The service dies with the APDU in flight; the card, pulled from the dead reader, never
    // ran it.
    world.stop_pcscd();
    world.card(0).running.remove();
    let reply = host.reply(id);
    assert!(
        ["service-unavailable", "card-removed"]
            .contains(&reply["error"]["code"].as_str().unwrap_or_default()),
        "{reply}"
    );
    // The change never ran: the card is as it was, and once the service is back the same
    // host session does it.
    assert_eq!(world.card(0).file().pin, PASSCODE);
    world.restart_pcscd();
    world.card(0).running.insert();
    host.wait_for_card(0);
    let done = host.request(change());
    assert_eq!(done["result"]["passcode"]["state"], "usable", "{done}");
    assert_eq!(world.card(0).file().pin, NEW_PASSCODE);
}

#[test]
fn a_card_pulled_at_any_apdu_of_a_passcode_change_leaves_one_passcode_or_the_other() {
    assert!(pull_at_every_apdu(change(), true) >= 8);
}

#[test]
fn the_browser_closing_mid_operation_ends_the_host_and_leaves_the_card_logged_out() {
    for request in [register_proof(), change()] {
        let (world, mut host) = World::with_card("unlocked");
        let card = world.card(0);
        card.running.set_fault(Some(Fault::HoldBefore { apdu: 3 }));
        host.send(request.clone());
        assert!(card.running.wait_until_holding(), "{request}");
        host.close_input();
        card.running.release();
        assert_eq!(
            host.wait_exit(std::time::Duration::from_secs(10)),
            Some(0),
            "{request}"
        );
        let status = card.running.status();
        assert!(!status.pin_verified, "{request}: the PIN was left verified");
        assert_eq!(status.card.pin_retries_left, 3, "{request}");
    }
}
