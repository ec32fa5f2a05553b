//! Unlock over HTTP: questions, lockout and the RA, the unlock code, the sealed and signed
//! authorization, the card's receipt and the PUK rotation, the notification emails.

mod common;

use base64::Engine;
use common::*;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{json, Value};

const EMAIL: &str = "john.rigby@nhs.net";

fn registered_locked_card(portal: &Portal) -> selfservice_vcard::card_file::CardFile {
    let card = portal.card("locked", None);
    portal.register(&card, EMAIL);
    card
}

fn start(portal: &Portal, card: &selfservice_vcard::card_file::CardFile) -> Value {
    let (status, started) = portal.start_flow(card, "unlock");
    assert_eq!(status, 200, "{started}");
    started
}

/// Opens a signed authorization with the portal's public key.
fn open(portal: &Portal, signed: &Value) -> Value {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = b64
        .decode(signed["payload"].as_str().expect("payload"))
        .expect("b64");
    let signature = b64
        .decode(signed["signature"].as_str().expect("sig"))
        .expect("b64");
    let key: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(&portal.public_key)
        .expect("key")
        .try_into()
        .expect("32 bytes");
    VerifyingKey::from_bytes(&key)
        .expect("key")
        .verify_strict(&payload, &Signature::from_slice(&signature).expect("sig"))
        .expect("signed by the portal");
    serde_json::from_slice(&payload).expect("json")
}

fn code_step(portal: &Portal, flow: &Value, mail_number: usize) {
    let code = portal.mail(mail_number).code().expect("code");
    let (status, body) = portal.post(
        "/api/v1/unlock/code",
        &json!({"flowId": flow, "code": code}),
    );
    assert_eq!(status, 200, "{body}");
}

/// The sealed secrets of an authorization, opened with the host key it was sealed to.
fn secrets(host: &HostKeyPair, payload: &Value) -> selfservice_rules::authorization::UnlockSecrets {
    let sealed = serde_json::from_value(payload["sealed"].clone()).expect("sealed box");
    host.open(
        &sealed,
        &selfservice_rules::authorization::seal_aad(
            payload["authorizationId"].as_str().expect("id"),
            payload["cardGuid"].as_str().expect("guid"),
        ),
    )
    .expect("opens with its host key")
}

/// A registered, locked card's unlock flow up to the new passcode (code accepted).
fn flow_at_passcode(portal: &Portal) -> (selfservice_vcard::card_file::CardFile, Value) {
    let card = registered_locked_card(portal);
    let started = start(portal, &card);
    let flow = started["flowId"].clone();
    let (status, sent) = portal.post(
        "/api/v1/unlock/answers",
        &json!({"flowId": flow, "answers": answer_all(&started["questionIds"], true)}),
    );
    assert_eq!(status, 200, "{sent}");
    code_step(portal, &flow, 2);
    (card, flow)
}

#[test]
fn an_unlock_goes_from_the_warning_to_a_sealed_authorization_and_rotates_the_puk_only_on_the_cards_receipt(
) {
    let portal = Portal::start();
    let card = registered_locked_card(&portal);
    let started = start(&portal, &card);
    assert_eq!(started["holderName"], "Mr John Rigby");
    assert_eq!(started["roundsLeft"], 3);
    let ids = started["questionIds"].as_array().expect("ids").clone();
    assert!((2..=4).contains(&ids.len()));
    let flow = started["flowId"].clone();

    // No authorization before the code.
    let (_, early, _) = portal.authorize(&card, &flow);
    assert_eq!(early["error"]["code"], "out-of-order");

    let (status, sent) = portal.post(
        "/api/v1/unlock/answers",
        &json!({"flowId": flow, "answers": answer_all(&started["questionIds"], true)}),
    );
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["sentTo"], "j***@nhs.net");
    let mail = portal.mail(2);
    assert_eq!(mail.subject(), Some("Smartcard Unlock Code"));
    assert!(mail.body().contains("This code is valid for 15 minutes."));
    assert!(mail
        .body()
        .contains("If you did not request a Smartcard Unlock Code please inform your organisation's Registration Authority"));
    let (_, early, _) = portal.authorize(&card, &flow);
    assert_eq!(early["error"]["code"], "out-of-order");
    code_step(&portal, &flow, 2);

    let (status, issued, host) = portal.authorize(&card, &flow);
    assert_eq!(status, 200, "{issued}");
    let payload = open(&portal, &issued["authorization"]);
    assert_eq!(payload["version"], 2);
    assert_eq!(payload["cardGuid"], card.guid.as_str());
    assert_eq!(payload["origin"], ORIGIN);
    assert_eq!(payload["hostKey"], host.public_base64().as_str());
    // Nothing secret in clear: not in the payload, not in the HTTP answer.
    assert!(payload.get("puk").is_none() && payload.get("newPuk").is_none());
    let opened = secrets(&host, &payload);
    assert_eq!(opened.puks.len(), 1);
    assert_eq!(opened.puks[0].puk.expose(), card.puk);
    let fresh = opened.fresh_puk.clone();
    assert_ne!(fresh.puk.expose(), card.puk);
    for secret in [
        card.puk.as_str(),
        fresh.puk.expose(),
        opened.temporary_pin.expose(),
    ] {
        assert!(
            !issued.to_string().contains(secret),
            "{secret} in the answer"
        );
    }
    // Another host session cannot open it.
    let sealed = serde_json::from_value(payload["sealed"].clone()).expect("sealed");
    assert!(HostKeyPair::generate()
        .open(
            &sealed,
            &selfservice_rules::authorization::seal_aad(
                payload["authorizationId"].as_str().expect("id"),
                &card.guid
            )
        )
        .is_err());
    assert!(payload["expiresAt"].as_i64() > payload["issuedAt"].as_i64());
    // The person hears of it before the authorization leaves the portal.
    let notice = portal.mail(3);
    assert_eq!(notice.subject(), Some("Your Smartcard is being unlocked"));
    assert!(notice.body().contains("Mr John Rigby"));

    // What the page says without the card's signature moves nothing.
    let authorization_id = issued["authorizationId"].clone();
    let (status, _) = portal.post(
        "/api/v1/unlock/result",
        &json!({"flowId": flow, "authorizationId": authorization_id, "error": "card-removed"}),
    );
    assert_eq!(status, 200);
    let (status, legacy) = portal.post(
        "/api/v1/unlock/result",
        &json!({"flowId": flow, "authorizationId": authorization_id, "state": {"unblocked": true, "passcodeSet": true, "pukRotated": true}}),
    );
    assert_eq!(
        (status, legacy["error"]["field"].as_str()),
        (400, Some("state"))
    );
    let mut forged = receipt(&card, &issued["authorization"], &fresh.id);
    let keys = card.keys.as_ref().expect("keys");
    forged["signature"] = json!(base64::engine::general_purpose::STANDARD
        .encode(sign_with(&keys.authentication_key, &[0; 32])));
    let (status, refused) = portal.post(
        "/api/v1/unlock/result",
        &json!({"flowId": flow, "authorizationId": authorization_id, "receipt": forged}),
    );
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("proof-rejected"))
    );
    let stored = || selfservice_portal::ops::stored_puk(&config(&portal), &card.guid).expect("puk");
    assert_eq!(
        stored(),
        (card.puk.clone(), Some(fresh.puk.expose().to_string()))
    );

    // A retry gets a new authorization, sealed to its own host key, with both PUKs the card
    // may now hold and the same fresh one.
    let (status, again, second_host) = portal.authorize(&card, &flow);
    assert_eq!(status, 200, "{again}");
    let second = open(&portal, &again["authorization"]);
    assert_ne!(second["authorizationId"], payload["authorizationId"]);
    let reopened = secrets(&second_host, &second);
    let held: Vec<(&str, &str)> = reopened
        .puks
        .iter()
        .map(|p| (p.id.as_str(), p.puk.expose()))
        .collect();
    assert_eq!(
        held,
        vec![
            (opened.puks[0].id.as_str(), card.puk.as_str()),
            (fresh.id.as_str(), fresh.puk.expose())
        ]
    );
    assert_eq!(reopened.fresh_puk, fresh);
    assert_eq!(
        portal.mails().len(),
        3,
        "one 'being unlocked' email per unlock"
    );

    // The card's receipt for that authorization: now the fresh PUK is the one on record.
    let (status, body) = portal.post(
        "/api/v1/unlock/result",
        &json!({"flowId": flow, "authorizationId": again["authorizationId"], "receipt": receipt(&card, &again["authorization"], &fresh.id)}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(stored(), (fresh.puk.expose().to_string(), None));
    let notice = portal.mail(4);
    assert_eq!(notice.subject(), Some("Your Smartcard has been unlocked"));
    assert!(portal.command(&["audit", "--verify"]).status.success());
}

#[test]
fn a_receipt_for_another_card_or_authorization_is_refused() {
    let portal = Portal::start();
    let (card, flow) = flow_at_passcode(&portal);
    let other = portal.card("locked", None);
    let (_, first, _) = portal.authorize(&card, &flow);
    let (_, second, host) = portal.authorize(&card, &flow);
    let fresh = secrets(&host, &open(&portal, &second["authorization"])).fresh_puk;
    for (name, receipt) in [
        (
            "signed by another card",
            receipt(&other, &second["authorization"], &fresh.id),
        ),
        (
            "over another authorization",
            receipt(&card, &first["authorization"], &fresh.id),
        ),
    ] {
        let (status, body) = portal.post(
            "/api/v1/unlock/result",
            &json!({"flowId": flow, "authorizationId": second["authorizationId"], "receipt": receipt}),
        );
        assert_eq!(status, 403, "{name}: {body}");
    }
    let (current, pending) =
        selfservice_portal::ops::stored_puk(&config(&portal), &card.guid).expect("puk");
    assert_eq!((current, pending.is_some()), (card.puk.clone(), true));
}

#[test]
fn no_authorization_without_the_being_unlocked_email_and_a_lost_unlocked_email_is_not_an_unlock_error(
) {
    let portal = Portal::start();
    let (card, flow) = flow_at_passcode(&portal);
    portal.sink.refuse(true);
    let (status, body, _) = portal.authorize(&card, &flow);
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("not been changed")));
    portal.sink.refuse(false);
    let (status, issued, host) = portal.authorize(&card, &flow);
    assert_eq!(status, 200, "{issued}");
    let fresh = secrets(&host, &open(&portal, &issued["authorization"])).fresh_puk;
    // The relay goes down after the card is unlocked: the receipt still lands.
    portal.sink.refuse(true);
    let (status, body) = portal.post(
        "/api/v1/unlock/result",
        &json!({"flowId": flow, "authorizationId": issued["authorizationId"], "receipt": receipt(&card, &issued["authorization"], &fresh.id)}),
    );
    assert_eq!(status, 200, "{body}");
    let (current, pending) =
        selfservice_portal::ops::stored_puk(&config(&portal), &card.guid).expect("puk");
    assert_eq!((current.as_str(), pending), (fresh.puk.expose(), None));
    assert!(portal
        .audit_rows()
        .iter()
        .any(|row| row["event"] == "unlock-notification" && row["outcome"] == "not-sent"));
}

#[test]
fn proofs_verify_only_with_the_key_pinned_for_their_purpose() {
    let portal = Portal::start();
    let card = portal.card("unlocked", None);
    // A register proof made with the 9E key (no PIN needed) is refused, whatever the
    // certificate says; so is an unlock proof made with the 9A key.
    let keys = card.keys.clone().expect("keys");
    let mut swapped = card.clone();
    if let Some(k) = swapped.keys.as_mut() {
        k.authentication_key = keys.card_authentication_key.clone();
        k.authentication_certificate = keys.card_authentication_certificate.clone();
        k.card_authentication_key = keys.authentication_key.clone();
        k.card_authentication_certificate = keys.authentication_certificate.clone();
    }
    for (journey, purpose) in [("registration", "register"), ("unlock", "unlock")] {
        let challenge = portal.challenge(purpose);
        let proof = proof_with(
            &swapped,
            purpose,
            ORIGIN,
            challenge["nonce"].as_str().expect("nonce"),
            (purpose == "unlock").then(HostKeyPair::generate).as_ref(),
        );
        let (status, body) = portal.post(
            &format!("/api/v1/{journey}/start"),
            &json!({"challengeId": challenge["challengeId"], "proof": proof}),
        );
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("proof-rejected")),
            "{journey}"
        );
    }
    // The right keys pass.
    assert_eq!(portal.start_flow(&card, "registration").0, 200);
}

fn config(portal: &Portal) -> selfservice_portal::config::PortalConfig {
    selfservice_portal::config::PortalConfig::load(Some(&portal.config)).expect("config")
}

#[test]
fn the_same_questions_are_asked_across_retries_and_three_wrong_rounds_lock_until_the_ra_clears_it()
{
    let portal = Portal::start();
    let card = registered_locked_card(&portal);
    let started = start(&portal, &card);
    let flow = started["flowId"].clone();
    let mails_before = portal.mails().len();
    for rounds_left in [2, 1] {
        let (status, body) = portal.post(
            "/api/v1/unlock/answers",
            &json!({"flowId": flow, "answers": answer_all(&started["questionIds"], false)}),
        );
        assert_eq!(status, 403);
        assert_eq!(body["error"]["code"], "wrong-answers");
        assert_eq!(body["error"]["roundsLeft"], rounds_left);
    }
    // One right and the rest wrong is still one generic failure, and it locks.
    let mut mixed = answer_all(&started["questionIds"], false);
    let first = mixed[0]["questionId"].as_str().expect("id").to_string();
    mixed[0]["answer"] = json!(right_answer(&first));
    let (_, body) = portal.post(
        "/api/v1/unlock/answers",
        &json!({"flowId": flow, "answers": mixed}),
    );
    assert_eq!(body["error"]["code"], "self-service-locked");
    assert_eq!(
        body["error"]["raContact"],
        "Call the RA team on 0300 123 4567."
    );
    assert_eq!(portal.mails().len(), mails_before, "no code was sent");
    // A new flow is locked too, with the right answers.
    let (status, body) = portal.start_flow(&card, "unlock");
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (403, json!("self-service-locked"))
    );

    let cleared = portal.command(&["clear-lock", "--uuid", &card.uuid, "--ra", "ra-officer-7"]);
    assert!(String::from_utf8_lossy(&cleared.stdout).contains("cleared"));
    let started = start(&portal, &card);
    assert_eq!(started["roundsLeft"], 3);
    let (status, _) = portal.post(
        "/api/v1/unlock/answers",
        &json!({"flowId": started["flowId"], "answers": answer_all(&started["questionIds"], true)}),
    );
    assert_eq!(status, 200);
    let audit = String::from_utf8_lossy(&portal.command(&["audit"]).stdout).to_string();
    assert!(
        audit.contains("ra-clear-lock")
            && audit.contains("ra-officer-7")
            && audit.contains("wrong-locked")
    );
}

#[test]
fn failed_rounds_count_across_flows() {
    let portal = Portal::start();
    let card = registered_locked_card(&portal);
    for expected in ["wrong-answers", "wrong-answers", "self-service-locked"] {
        let started = start(&portal, &card);
        let (_, body) = portal.post("/api/v1/unlock/answers", &json!({"flowId": started["flowId"], "answers": answer_all(&started["questionIds"], false)}));
        assert_eq!(body["error"]["code"], expected);
    }
}

#[test]
fn answers_must_match_the_questions_asked() {
    let portal = Portal::start();
    let card = registered_locked_card(&portal);
    let started = start(&portal, &card);
    let (status, body) = portal.post(
        "/api/v1/unlock/answers",
        &json!({"flowId": started["flowId"], "answers": [{"questionId": "favourite-toy", "answer": "Teddy"}]}),
    );
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("answers"))
    );
}

#[test]
fn an_unregistered_card_cannot_unlock_and_the_code_can_be_sent_again() {
    let portal = Portal::start();
    let unregistered = portal.card("locked", None);
    let (status, body) = portal.start_flow(&unregistered, "unlock");
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (403, json!("self-service-unavailable"))
    );

    let card = registered_locked_card(&portal);
    let started = start(&portal, &card);
    let flow = started["flowId"].clone();
    portal.post(
        "/api/v1/unlock/answers",
        &json!({"flowId": flow, "answers": answer_all(&started["questionIds"], true)}),
    );
    let first = portal.mail(2).code().expect("code");
    portal.advance_clock(901);
    let (_, body) = portal.post(
        "/api/v1/unlock/code",
        &json!({"flowId": flow, "code": first}),
    );
    assert_eq!(body["error"]["code"], "code-expired");
    // A resend: the new code works and the first no longer does. Codes are random, so a new
    // one equal to the first (one in a million) cannot show that; send another in that case.
    let mut mail = 2;
    loop {
        let (status, _) = portal.post("/api/v1/unlock/code/resend", &json!({"flowId": flow}));
        assert_eq!(status, 200);
        mail += 1;
        let code = portal.mail(mail).code().expect("code");
        if code != first {
            break;
        }
        assert!(mail < 4, "two resends in a row gave the first code again");
    }
    let (_, body) = portal.post(
        "/api/v1/unlock/code",
        &json!({"flowId": flow, "code": first}),
    );
    assert_eq!(body["error"]["code"], "code-invalid");
    code_step(&portal, &flow, mail);
}

#[test]
fn the_test_clock_and_the_outbox_exist_only_in_test_mode() {
    let portal = Portal::start_with(false);
    let (status, _) = portal.post("/api/v1/test/clock", &json!({"advanceSeconds": 3600}));
    assert_eq!(status, 404);
    assert_eq!(portal.get("/outbox").0, 404);
    assert!(!portal.get("/").1.contains("/outbox"));
    let testing = Portal::start();
    assert_eq!(testing.get("/outbox").0, 200);
}

fn outcome(portal: &Portal, started: &Value, right: bool) -> String {
    let (_, body) = portal.post(
        "/api/v1/unlock/answers",
        &json!({"flowId": started["flowId"], "answers": answer_all(&started["questionIds"], right)}),
    );
    body["error"]["code"]
        .as_str()
        .unwrap_or("right")
        .to_string()
}

/// Wrong answers for each flow, all sent at once; the outcomes in the order given.
fn wrong_at_once(portal: &Portal, flows: &[&Value]) -> Vec<String> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = flows
            .iter()
            .map(|flow| scope.spawn(|| outcome(portal, flow, false)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    })
}

fn wrong_rounds_audited(portal: &Portal) -> usize {
    portal
        .audit_rows()
        .iter()
        .filter(|row| {
            row["event"] == "unlock-answers"
                && (row["outcome"] == "wrong" || row["outcome"] == "wrong-locked")
        })
        .count()
}

#[test]
fn parallel_wrong_rounds_are_judged_one_at_a_time_and_exactly_three_lock() {
    let portal = Portal::start();
    let card = registered_locked_card(&portal);
    let flows: Vec<Value> = (0..6).map(|_| start(&portal, &card)).collect();
    let outcomes = wrong_at_once(&portal, &flows.iter().collect::<Vec<_>>());
    let count = |code: &str| outcomes.iter().filter(|o| *o == code).count();
    assert_eq!(
        (count("wrong-answers"), count("self-service-locked")),
        (2, 4),
        "{outcomes:?}"
    );
    assert_eq!(
        wrong_rounds_audited(&portal),
        3,
        "exactly three rounds counted"
    );
    // One flow's round sent four times at once: four rounds, judged in turn.
    let portal = Portal::start();
    let card = registered_locked_card(&portal);
    let flow = start(&portal, &card);
    let outcomes = wrong_at_once(&portal, &[&flow; 4]);
    let count = |code: &str| outcomes.iter().filter(|o| *o == code).count();
    assert_eq!(
        (count("wrong-answers"), count("self-service-locked")),
        (2, 2),
        "{outcomes:?}"
    );
    assert_eq!(wrong_rounds_audited(&portal), 3);
}

#[test]
fn a_right_round_after_the_third_wrong_one_is_refused_and_starting_again_rerolls_nothing() {
    let portal = Portal::start();
    let card = registered_locked_card(&portal);
    let flows: Vec<Value> = (0..4).map(|_| start(&portal, &card)).collect();
    // Every flow asks the same questions: abandoning one and starting again changes nothing.
    for flow in &flows[1..] {
        assert_eq!(flow["questionIds"], flows[0]["questionIds"]);
    }
    assert_eq!(outcome(&portal, &flows[0], false), "wrong-answers");
    assert_eq!(
        start(&portal, &card)["questionIds"],
        flows[0]["questionIds"],
        "still the same after a wrong round"
    );
    assert_eq!(outcome(&portal, &flows[1], false), "wrong-answers");
    assert_eq!(outcome(&portal, &flows[2], false), "self-service-locked");
    // The late right answers, in a flow started before the lock: refused, and the count stays.
    assert_eq!(outcome(&portal, &flows[3], true), "self-service-locked");
    assert_eq!(
        portal.start_flow(&card, "unlock").1["error"]["code"],
        "self-service-locked"
    );
}

#[test]
fn the_lock_the_count_and_the_throttles_survive_a_portal_restart() {
    let mut portal = Portal::start();
    let card = registered_locked_card(&portal);
    for _ in 0..2 {
        let flow = start(&portal, &card);
        assert_eq!(outcome(&portal, &flow, false), "wrong-answers");
    }
    portal.restart();
    let flow = start(&portal, &card);
    assert_eq!(outcome(&portal, &flow, false), "self-service-locked");
    portal.restart();
    assert_eq!(
        portal.start_flow(&card, "unlock").1["error"]["code"],
        "self-service-locked"
    );

    // Flow starts per card: 20 an hour (registering took one), counted across a restart.
    let mut portal = Portal::start();
    let card = registered_locked_card(&portal);
    for _ in 0..18 {
        start(&portal, &card);
    }
    portal.restart();
    start(&portal, &card);
    let (status, body) = portal.start_flow(&card, "unlock");
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (429, json!("throttled")),
        "{body}"
    );
}
