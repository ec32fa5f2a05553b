//! unlock: the signed authorization, the one-transaction unblock, a card pulled at every APDU,
//! and no secret in any log.

mod common;

use base64::Engine;
use common::*;
use ed25519_dalek::SigningKey;
use selfservice_rules::authorization::UnblockAuthorization;
use selfservice_vcard::runner::Fault;
use serde_json::{json, Value};

const NEW_PASSCODE: &str = "860245";
const NEW_PUK: &str = "55443322";

fn unlock(host: &mut Host, authorization: &Value, new_passcode: &str) -> Value {
    host.request(json!({"type": "unlock", "origin": ORIGIN, "authorization": authorization, "newPasscode": new_passcode}))
}

fn locked_world() -> (World, Host) {
    let mut world = World::new();
    world.insert("locked", 0);
    let mut host = world.host_with(&[("SMARTCARD_SELFSERVICE_LOG", "trace")]);
    host.hello();
    host.wait_for_card(0);
    (world, host)
}

/// The locked card is as it was: still blocked, its PUK and every PUK try intact.
fn assert_untouched(world: &World) {
    let file = world.card(0).file();
    assert_eq!(
        (
            file.pin_retries_left,
            file.puk_retries_left,
            file.puk.as_str()
        ),
        (0, 3, "19283746")
    );
}

fn base(world: &World, host: &mut Host) -> UnblockAuthorization {
    world.unsigned_authorization(host, 0, "auth-1", NEW_PUK)
}

#[test]
fn an_authorized_unlock_sets_the_new_passcode_and_rotates_the_puk_once() {
    let (world, mut host) = locked_world();
    let authorization = world.authorization(&mut host, 0, "auth-1", NEW_PUK);
    let reply = unlock(&mut host, &authorization, NEW_PASSCODE);
    assert_eq!(
        (&reply["result"]["state"], &reply["result"]["passcode"]),
        (
            &json!({"unblocked": true, "passcodeSet": true, "pukRotated": true}),
            &json!({"state": "usable", "retriesLeft": 3})
        ),
        "{reply}"
    );
    // The card's receipt names the authorization and the fresh PUK's id, signed with 9E.
    let receipt = &reply["result"]["receipt"];
    let outcome: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(receipt["outcome"].as_str().expect("outcome"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(
        outcome,
        json!({"authorizationId": "auth-1", "cardGuid": world.card(0).file().guid, "pukId": "fresh", "passcodeSet": true})
    );
    assert_eq!(receipt["algorithm"], "ES256");
    let file = world.card(0).file();
    assert_eq!(
        (file.pin.as_str(), file.pin_retries_left),
        (NEW_PASSCODE, 3)
    );
    assert_eq!((file.puk.as_str(), file.puk_retries_left), (NEW_PUK, 3));
    // The same authorization never runs twice, not even in a new host process: its box
    // opened once, with a session key that is gone.
    let again = unlock(&mut host, &authorization, "135790");
    assert_eq!(again["error"]["code"], "authorization-rejected");
    drop(host);
    let mut second = world.host();
    second.hello();
    second.wait_for_card(0);
    assert_eq!(
        unlock(&mut second, &authorization, "135790")["error"]["code"],
        "authorization-rejected"
    );
    assert_eq!(world.card(0).file().pin, NEW_PASSCODE);
}

#[test]
fn forged_expired_misdirected_and_other_card_authorizations_are_refused_before_the_card_changes() {
    let (world, mut host) = locked_world();
    let base = base(&world, &mut host);
    let forged = sign_with(&SigningKey::from_bytes(&[1; 32]), &base);
    let expired = sign_authorization(&UnblockAuthorization {
        issued_at: now() - 600,
        expires_at: now() - 1,
        ..base.clone()
    });
    let other_portal = sign_authorization(&UnblockAuthorization {
        origin: "https://other.test".into(),
        ..base.clone()
    });
    let other_card = sign_authorization(&UnblockAuthorization {
        card_guid: "0".repeat(32),
        ..base.clone()
    });
    for (name, authorization) in [
        ("forged", forged),
        ("expired", expired),
        ("other portal", other_portal),
        ("other card", other_card),
    ] {
        let reply = unlock(&mut host, &authorization, NEW_PASSCODE);
        assert_eq!(
            reply["error"]["code"], "authorization-rejected",
            "{name}: {reply}"
        );
        assert!(reply["error"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()));
    }
    let wrong_origin = host.request(json!({"type": "unlock", "origin": "https://evil.test", "authorization": sign_authorization(&base), "newPasscode": NEW_PASSCODE}));
    assert_eq!(wrong_origin["error"]["code"], "origin-not-allowed");
    assert_untouched(&world);
}

fn base_signed(world: &World, host: &mut Host) -> Value {
    sign_authorization(&base(world, host))
}

#[test]
fn a_new_passcode_outside_the_rule_is_refused_before_anything_reaches_the_card() {
    let (world, mut host) = locked_world();
    let authorization = base_signed(&world, &mut host);
    for weak in ["1234", "12345a", "123456", "111111111"] {
        let reply = unlock(&mut host, &authorization, weak);
        assert_eq!(
            reply["error"]["code"], "policy-violation",
            "{weak}: {reply}"
        );
        assert_eq!(reply["error"]["rule"]["minLength"], 6);
        assert!(reply["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("6 and 8"));
    }
    let file = world.card(0).file();
    assert_eq!((file.pin_retries_left, file.puk_retries_left), (0, 3));
    // The refused attempts did not use the authorization up.
    assert!(unlock(&mut host, &authorization, NEW_PASSCODE)
        .get("result")
        .is_some());
}

#[test]
fn a_legacy_rule_card_accepts_a_printable_passcode() {
    let mut world = World::new();
    world.insert("legacy-printable", 0);
    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    let authorization = world.authorization(&mut host, 0, "auth-legacy", NEW_PUK);
    assert_eq!(
        unlock(&mut host, &authorization, "ab1")["error"]["rule"]["minLength"],
        4
    );
    let reply = unlock(&mut host, &authorization, "Sun 2day");
    assert!(reply.get("result").is_some(), "{reply}");
    assert_eq!(world.card(0).file().pin, "Sun 2day");
}

/// The unblock transaction's APDUs on a locked card, counted from the unlock request: SELECT,
/// GET DATA CHUID, VERIFY status (the PIN is down already, so the reset can be judged),
const RESET_RETRY_COUNTER_APDU: u32 = 4;
const CHANGE_PIN_APDU: u32 = 5;
const CHANGE_PUK_APDU: u32 = 6;

#[test]
fn a_card_pulled_at_any_apdu_is_reported_and_a_new_authorization_finishes_the_job() {
    {
        let (world, mut host) = locked_world();
        assert_eq!(
            world.clean_unlock_apdus(&mut host, 0),
            u64::from(UNLOCK_APDUS),
            "the unlock's APDU count changed"
        );
    }
    for apdu in 1..=UNLOCK_APDUS {
        for after in [false, true] {
            let (world, mut host) = locked_world();
            let authorization = base_signed(&world, &mut host);
            let card = world.card(0);
            card.running.set_fault(Some(if after {
                Fault::RemoveAfter { apdu }
            } else {
                Fault::RemoveBefore { apdu }
            }));
            let reply = unlock(&mut host, &authorization, NEW_PASSCODE);
            let case = format!(
                "pulled {} APDU {apdu}",
                if after { "after" } else { "before" }
            );
            // The fault fired (an unlock that sent fewer APDUs would otherwise pass unseen).
            let status = card.running.status();
            assert_eq!(status.fault, None, "{case}: the fault never fired");
            assert!(!status.inserted, "{case}: the card was not pulled");
            let file = card.file();
            let on_card = [
                ("unblocked", file.pin_retries_left == 3),
                ("passcodeSet", file.pin == NEW_PASSCODE),
                ("pukRotated", file.puk == NEW_PUK),
            ];
            if let Some(result) = reply.get("result") {
                // Pulled after the last APDU ran: the unlock is complete.
                assert_eq!(result["state"]["pukRotated"], true, "{case}");
                assert!(on_card.iter().all(|(_, done)| *done), "{case}: {on_card:?}");
                continue;
            }
            assert_eq!(reply["error"]["code"], "card-removed", "{case}: {reply}");
            // What the report says of the card is what the card holds, both ways. The one
            // allowed difference: a step whose APDU ran but whose answer was lost with the
            // card may be done on the card and not known to the host.
            let in_flight = match (after, apdu) {
                (true, RESET_RETRY_COUNTER_APDU) => Some("unblocked"),
                (true, CHANGE_PIN_APDU) => Some("passcodeSet"),
                (true, CHANGE_PUK_APDU) => Some("pukRotated"),
                _ => None,
            };
            let state = &reply["error"]["state"];
            for (step, done) in on_card {
                let reported = state[step] == true;
                if reported {
                    assert!(done, "{case}: {step} reported done, but the card disagrees");
                } else if done {
                    assert_eq!(
                        in_flight,
                        Some(step),
                        "{case}: {step} done on the card but reported not done"
                    );
                }
            }
            // Put the card back: a new proof and authorization (with both PUKs the card may
            // hold, as the portal sends them) finish the unlock.
            card.running.insert();
            host.wait_for_card(0);
            // A card left unblocked with a temporary PIN nobody knows is reported unfinished
            // (the page offers "finish unlocking", not "not locked"). The one other case
            // reported so: the new passcode's answer was lost, so the host cannot know it took.
            let file = card.file();
            let stranded = file.pin_retries_left > 0 && file.pin != NEW_PASSCODE;
            let status = host.request(json!({"type": "status"}));
            let unfinished = status["result"]["readers"][0]["card"]["unlockUnfinished"] == true;
            assert_eq!(
                unfinished,
                stranded || (after && apdu == CHANGE_PIN_APDU),
                "{case}: status says unfinished {unfinished}, the card's PIN is {} with {} tries",
                if file.pin == NEW_PASSCODE {
                    "the new passcode"
                } else {
                    "not the new passcode"
                },
                file.pin_retries_left
            );
            let again = sign_authorization(&world.sealed_authorization(
                &mut host,
                0,
                "auth-2",
                &[("enrolled", "19283746"), ("fresh", NEW_PUK)],
                ("fresh", NEW_PUK),
            ));
            let retry = unlock(&mut host, &again, NEW_PASSCODE);
            assert!(retry.get("result").is_some(), "{case}: retry {retry}");
            let file = card.file();
            assert_eq!(
                (file.pin.as_str(), file.pin_retries_left),
                (NEW_PASSCODE, 3),
                "{case}"
            );
            assert_eq!(file.puk, NEW_PUK, "{case}");
            assert!(
                file.history.wrong_puk_tries <= 1,
                "{case}: at most one PUK try spent finding the PUK"
            );
            let status = host.request(json!({"type": "status"}));
            assert!(
                status["result"]["readers"][0]["card"]
                    .get("unlockUnfinished")
                    .is_none(),
                "{case}: finished, yet {status}"
            );
        }
    }
}

#[test]
fn no_passcode_puk_or_temporary_pin_reaches_the_logs() {
    let (world, mut host) = locked_world();
    let authorization = world.authorization(&mut host, 0, "auth-log", NEW_PUK);
    assert!(unlock(&mut host, &authorization, NEW_PASSCODE)
        .get("result")
        .is_some());
    let registered = host.request(json!({"type": "prove-possession", "purpose": "register", "origin": ORIGIN, "nonce": NONCE, "passcode": NEW_PASSCODE}));
    assert!(registered.get("result").is_some());
    host.request(
        json!({"type": "change-passcode", "oldPasscode": NEW_PASSCODE, "newPasscode": "731904"}),
    );
    let stderr = host.stderr_at_exit();
    let log = read_log(&world.log_path());
    assert!(
        log.contains("card unlocked"),
        "the trace log was written: {log}"
    );
    assert!(stderr.contains("card unlocked"));
    for secret in [NEW_PASSCODE, NEW_PUK, "19283746", "90817263", "731904"] {
        assert!(!log.contains(secret), "{secret} found in the log file");
        assert!(!stderr.contains(secret), "{secret} found on stderr");
    }
}

#[test]
fn a_version_1_authorization_is_refused_as_outdated_and_the_card_is_untouched() {
    let (world, mut host) = locked_world();
    // What a v1 portal sent: the PUKs in clear.
    let v1 = json!({"version": 1, "authorizationId": "old", "cardGuid": world.card(0).file().guid,
        "origin": ORIGIN, "flowId": "f", "issuedAt": now(), "expiresAt": now() + 300,
        "puk": "19283746", "newPuk": NEW_PUK, "temporaryPin": "90817263"});
    let payload = v1.to_string();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::Signer;
    let signed = json!({"payload": b64.encode(&payload),
        "signature": b64.encode(SigningKey::from_bytes(&PORTAL_KEY).sign(payload.as_bytes()).to_bytes())});
    let reply = unlock(&mut host, &signed, NEW_PASSCODE);
    assert_eq!(reply["error"]["code"], "authorization-outdated", "{reply}");
    assert_eq!(reply["error"]["version"], 1);
    assert_untouched(&world);
}

#[test]
fn an_authorization_sealed_to_another_session_is_refused() {
    let (world, mut host) = locked_world();
    let mut other = world.host();
    other.hello();
    // Issued for the other host process's proof: this host cannot open it.
    let authorization = world.authorization(&mut other, 0, "auth-other", NEW_PUK);
    let reply = unlock(&mut host, &authorization, NEW_PASSCODE);
    assert_eq!(reply["error"]["code"], "authorization-rejected", "{reply}");
    assert!(reply["error"]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("session")));
    assert_eq!(world.card(0).file().pin_retries_left, 0);
}

#[test]
fn a_damaged_record_of_unlock_attempts_stops_the_unlock_before_any_puk_is_sent() {
    let (world, mut host) = locked_world();
    let record = world.state_dir().join("unlock-record.json");
    std::fs::create_dir_all(world.state_dir()).expect("dir");
    std::fs::write(&record, "{ damaged").expect("write");
    let authorization = world.authorization(&mut host, 0, "auth-1", NEW_PUK);
    let reply = unlock(&mut host, &authorization, NEW_PASSCODE);
    assert_eq!(
        reply["error"]["code"], "unlock-record-unreadable",
        "{reply}"
    );
    assert!(reply["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("unlock-record.json")));
    assert_untouched(&world);
    assert_eq!(std::fs::read_to_string(&record).expect("kept"), "{ damaged");
}
