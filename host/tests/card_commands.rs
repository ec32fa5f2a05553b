//! status, prove-possession and change-passcode against the virtual card on the real pcscd.

mod common;

use base64::Engine;
use common::*;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde_json::{json, Value};
use x509_cert::der::{Decode, Encode};

fn reader(status: &Value, slot: u8) -> Value {
    let name = format!("Virtual PCD 00 {slot:02}");
    status["readers"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == name.as_str()).cloned())
        .expect("reader listed")
}

/// A world with a card in each reader, and a host that has seen both.
fn two_cards(first: &str, second: &str) -> (World, Host) {
    let mut world = World::new();
    world.insert(first, 0);
    world.insert(second, 1);
    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    host.wait_for_card(1);
    (world, host)
}

fn prove(host: &mut Host, purpose: &str, passcode: Option<&str>) -> Value {
    let mut request =
        json!({"type": "prove-possession", "purpose": purpose, "origin": ORIGIN, "nonce": NONCE});
    if let Some(passcode) = passcode {
        request["passcode"] = json!(passcode);
    }
    host.request(request)
}

/// The proof's signature checks out against its certificate, over the origin-bound digest.
fn assert_proof_verifies(proof: &Value, expected_cn: &str) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let der = b64
        .decode(proof["certificate"].as_str().expect("cert"))
        .expect("base64");
    let certificate = x509_cert::Certificate::from_der(&der).expect("X.509");
    assert!(certificate
        .tbs_certificate
        .subject
        .to_string()
        .contains(expected_cn));
    let key = VerifyingKey::from_public_key_der(
        &certificate
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .expect("spki"),
    )
    .expect("P-256");
    let signature = DerSignature::from_bytes(
        &b64.decode(proof["signature"].as_str().expect("sig"))
            .expect("b64"),
    )
    .expect("DER signature");
    let digest = digest_of(proof, ORIGIN, NONCE);
    key.verify_prehash(&digest, &signature)
        .expect("signed by the card's key");
    assert_eq!(proof["algorithm"], "ES256");
}

#[test]
fn status_shows_the_card_its_holder_expiry_passcode_state_and_rule() {
    let mut world = World::new();
    world.insert("unlocked", 0);
    world.insert("locked", 1);
    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    let status = host.wait_for_card(1);
    assert_eq!(status["service"], "running");
    let card = &reader(&status, 0)["card"];
    assert_eq!(card["profile"], "piv");
    assert_eq!(card["guid"], world.card(0).file().guid.as_str());
    assert_eq!(card["holderName"], "Mrs Amina Okafor");
    assert_eq!(
        card["expiry"],
        world.card(0).file().expiry.expect("expiry").as_str()
    );
    assert!(
        card["daysLeft"]
            .as_i64()
            .is_some_and(|d| (598..=600).contains(&d)),
        "{card}"
    );
    assert_eq!(
        card["passcode"],
        json!({"state": "usable", "retriesLeft": 3})
    );
    assert_eq!(card["pinConstraint"], "piv-strict");
    assert_eq!(card["passcodeRule"]["minLength"], 6);
    assert_eq!(card["passcodeRule"]["charset"], "digits");
    let locked = &reader(&status, 1)["card"];
    assert_eq!(locked["holderName"], "Mr John Rigby");
    assert_eq!(locked["passcode"], json!({"state": "blocked"}));
    // Reading the state spent no try.
    assert_eq!(world.card(0).file().pin_retries_left, 3);
}

#[test]
fn a_legacy_rule_card_reports_the_legacy_rule_and_an_expired_card_negative_days() {
    let mut world = World::new();
    world.insert("legacy-printable", 0);
    world.insert("expired", 1);
    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    let status = host.wait_for_card(1);
    let seed = &reader(&status, 0)["card"];
    assert_eq!(seed["pinConstraint"], "legacy-printable");
    assert_eq!(seed["passcodeRule"]["minLength"], 4);
    assert_eq!(seed["passcodeRule"]["charset"], "keyboard");
    assert!(reader(&status, 1)["card"]["daysLeft"]
        .as_i64()
        .is_some_and(|d| d < 0));
}

#[test]
fn registration_proof_needs_the_right_passcode_and_counts_down_to_blocked() {
    let mut world = World::new();
    world.insert("unlocked", 0);
    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    let wrong = prove(&mut host, "register", Some("111111"));
    assert_eq!(wrong["error"]["code"], "wrong-passcode");
    assert_eq!(wrong["error"]["retriesLeft"], 2);
    let proof = prove(&mut host, "register", Some("583920"));
    assert_eq!(
        proof["result"]["cardGuid"],
        world.card(0).file().guid.as_str()
    );
    assert_proof_verifies(&proof["result"], "Amina Okafor");
    assert!(prove(&mut host, "register", Some("111111"))["error"]["retriesLeft"] == 2);
    assert!(prove(&mut host, "register", Some("111112"))["error"]["retriesLeft"] == 1);
    let last = prove(&mut host, "register", Some("111113"));
    assert_eq!(last["error"]["code"], "passcode-blocked");
    assert_eq!(world.card(0).file().pin_retries_left, 0);
}

#[test]
fn unlock_proof_works_on_a_locked_card_without_a_passcode() {
    let mut world = World::new();
    world.insert("locked", 0);
    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    let proof = prove(&mut host, "unlock", None);
    assert_proof_verifies(&proof["result"], "John Rigby");
    assert_eq!(
        prove(&mut host, "unlock", Some("402913"))["error"]["field"],
        "passcode"
    );
    assert_eq!(
        prove(&mut host, "register", None)["error"]["field"],
        "passcode"
    );
}

#[test]
fn proofs_are_only_made_for_configured_origins_and_real_challenges() {
    let mut world = World::new();
    world.insert("locked", 0);
    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    let other = host.request(json!({"type": "prove-possession", "purpose": "unlock", "origin": "https://evil.test", "nonce": NONCE}));
    assert_eq!(other["error"]["code"], "origin-not-allowed");
    let short = host.request(
        json!({"type": "prove-possession", "purpose": "unlock", "origin": ORIGIN, "nonce": "abc"}),
    );
    assert_eq!(short["error"]["field"], "nonce");
}

#[test]
fn change_passcode_checks_the_rule_then_the_old_passcode() {
    let mut world = World::new();
    world.insert("unlocked", 0);
    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    let change = |host: &mut Host, old: &str, new: &str| {
        host.request(json!({"type": "change-passcode", "oldPasscode": old, "newPasscode": new}))
    };
    let sent = |world: &World| world.card(0).file().history.passcode_commands;
    let before = sent(&world);
    let weak = change(&mut host, "583920", "1234");
    assert_eq!(weak["error"]["code"], "policy-violation");
    assert_eq!(weak["error"]["rule"]["minLength"], 6);
    // The card would refuse "1234" too, without spending a try: only the count of commands
    // that carried a passcode shows the host checked first.
    assert_eq!(sent(&world), before, "no passcode was sent to the card");
    assert_eq!(world.card(0).file().pin_retries_left, 3);
    let wrong = change(&mut host, "000001", "246813");
    assert_eq!(wrong["error"]["code"], "wrong-passcode");
    assert_eq!(wrong["error"]["retriesLeft"], 2);
    assert_eq!(
        sent(&world),
        before + 1,
        "the wrong passcode reached the card"
    );
    let done = change(&mut host, "583920", "246813");
    assert_eq!(
        done["result"]["passcode"],
        json!({"state": "usable", "retriesLeft": 3})
    );
    assert_eq!(world.card(0).file().pin, "246813");
}

#[test]
fn with_no_card_the_host_says_so_and_can_wait_for_one() {
    let mut world = World::new();
    let mut host = world.host();
    host.hello();
    host.status_until(|s| s["readers"].as_array().is_some_and(|r| r.len() == 2));
    let none = host.request(
        json!({"type": "prove-possession", "purpose": "unlock", "origin": ORIGIN, "nonce": NONCE}),
    );
    assert_eq!(none["error"]["code"], "no-card");
    // A waiting request: status still answers meanwhile, and the card arriving completes it.
    let waiting = host.send(json!({"type": "prove-possession", "purpose": "unlock", "origin": ORIGIN, "nonce": NONCE, "waitForCardMs": 10000}));
    let status = host.request(json!({"type": "status"}));
    assert_eq!(status["result"]["service"], "running");
    world.insert("locked", 0);
    let proof = host.reply(waiting);
    assert_eq!(
        proof["result"]["cardGuid"],
        world.card(0).file().guid.as_str()
    );
}

#[test]
fn a_wait_can_be_cancelled_and_times_out_otherwise() {
    let world = World::new();
    let mut host = world.host();
    host.hello();
    let waiting = host.send(json!({"type": "prove-possession", "purpose": "unlock", "origin": ORIGIN, "nonce": NONCE, "waitForCardMs": 60000}));
    // Requests are taken in order, so the cancel finds the wait registered whether or not it
    // has reached pcscd yet: the outcome is the same either way, with no sleep to tune.
    let cancel = host.request(json!({"type": "cancel", "request": waiting}));
    assert_eq!(cancel["result"]["cancelled"], true);
    assert_eq!(host.reply(waiting)["error"]["code"], "cancelled");
    let nothing = host.request(json!({"type": "cancel", "request": 999}));
    assert_eq!(nothing["result"]["cancelled"], false);
    let short = host.request(json!({"type": "prove-possession", "purpose": "unlock", "origin": ORIGIN, "nonce": NONCE, "waitForCardMs": 300}));
    assert_eq!(short["error"]["code"], "timeout");
}

#[test]
fn two_cards_need_a_reader_named() {
    let (world, mut host) = two_cards("locked", "unlocked");
    let ambiguous = host.request(
        json!({"type": "prove-possession", "purpose": "unlock", "origin": ORIGIN, "nonce": NONCE}),
    );
    assert_eq!(ambiguous["error"]["code"], "multiple-cards");
    let named = host.request(json!({"type": "prove-possession", "purpose": "unlock", "origin": ORIGIN, "nonce": NONCE, "reader": "Virtual PCD 00 01"}));
    assert_eq!(
        named["result"]["cardGuid"],
        world.card(1).file().guid.as_str()
    );
    let missing = host.request(json!({"type": "prove-possession", "purpose": "unlock", "origin": ORIGIN, "nonce": NONCE, "reader": "No Such Reader"}));
    assert_eq!(missing["error"]["code"], "no-reader");
}

#[test]
fn a_card_without_the_piv_application_is_unsupported() {
    let mut world = World::new();
    world.insert("locked", 0);
    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    // The card answers SELECT as a non-PIV card would.
    world
        .card(0)
        .running
        .set_fault(Some(selfservice_vcard::runner::Fault::StatusWord {
            apdu: 1,
            sw: 0x6A82,
        }));
    let reply = host.request(
        json!({"type": "prove-possession", "purpose": "unlock", "origin": ORIGIN, "nonce": NONCE}),
    );
    assert_eq!(reply["error"]["code"], "unsupported-card");
    assert!(reply["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("Registration Authority"));
}

#[test]
fn find_card_is_the_hosts_one_choice_of_card_and_can_wait_for_one() {
    let mut world = World::new();
    let mut host = world.host();
    host.hello();
    host.status_until(|s| s["readers"].as_array().is_some_and(|r| r.len() == 2));
    let none = host.request(json!({"type": "find-card"}));
    assert_eq!(none["error"]["code"], "no-card", "{none}");
    assert!(none["error"]["message"].is_string());
    // Waiting: the card arriving answers it, with what status would show of that card.
    let waiting = host.send(json!({"type": "find-card", "waitForCardMs": 10000}));
    world.insert("locked", 1);
    let found = host.reply(waiting);
    assert_eq!(found["result"]["reader"], "Virtual PCD 00 01", "{found}");
    assert_eq!(found["result"]["card"]["holderName"], "Mr John Rigby");
    assert_eq!(
        found["result"]["card"]["passcode"],
        json!({"state": "blocked"})
    );
    // Two cards: the host will not guess; a named reader settles it.
    world.insert("unlocked", 0);
    host.wait_for_card(0);
    let two = host.request(json!({"type": "find-card"}));
    assert_eq!(two["error"]["code"], "multiple-cards", "{two}");
    let named = host.request(json!({"type": "find-card", "reader": "Virtual PCD 00 00"}));
    assert_eq!(
        named["result"]["card"]["guid"],
        world.card(0).file().guid.as_str()
    );
    let short = host
        .request(json!({"type": "find-card", "reader": "Virtual PCD 00 00", "waitForCardMs": 1}));
    assert!(
        short.get("result").is_some(),
        "a card present needs no wait: {short}"
    );
}

#[test]
fn status_of_the_reader_an_event_names_reads_no_other_card() {
    let (world, mut host) = two_cards("unlocked", "locked");
    world.card(0).running.start_recording();
    world.card(1).running.start_recording();
    let one = host.request(json!({"type": "status", "reader": "Virtual PCD 00 01"}));
    let readers = one["result"]["readers"].as_array().expect("readers");
    assert_eq!(readers.len(), 1, "{one}");
    assert_eq!(readers[0]["card"]["holderName"], "Mr John Rigby");
    assert!(
        world.card(0).running.take_recording().is_empty(),
        "the other card was read"
    );
    assert!(!world.card(1).running.take_recording().is_empty());
    // A reader that has gone is simply not listed.
    let gone = host.request(json!({"type": "status", "reader": "No Such Reader"}));
    assert_eq!(gone["result"]["readers"], json!([]), "{gone}");
}
