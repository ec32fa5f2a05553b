//! Unlock over HTTP: questions, lockout and the RA, the unlock code, the signed authorization,
//! the host's report and the PUK rotation.

mod common;

use base64::Engine;
use common::*;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{json, Value};

const EMAIL: &str = "john.rigby@nhs.net";

fn registered_locked_card(portal: &Portal) -> virtual_card::card_file::CardFile {
    let card = portal.card("locked", None);
    portal.register(&card, EMAIL);
    card
}

fn start(portal: &Portal, card: &virtual_card::card_file::CardFile) -> Value {
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

#[test]
fn an_unlock_goes_from_the_warning_to_a_signed_authorization_and_rotates_the_puk_on_success() {
    let portal = Portal::start();
    let card = registered_locked_card(&portal);
    let started = start(&portal, &card);
    assert_eq!(started["holderName"], "Mr John Rigby");
    assert_eq!(started["roundsLeft"], 3);
    let ids = started["questionIds"].as_array().expect("ids").clone();
    assert!((2..=4).contains(&ids.len()));
    let flow = started["flowId"].clone();

    // No authorization before the code.
    let (_, early) = portal.post("/api/v1/unlock/authorization", &json!({"flowId": flow}));
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
    let (_, early) = portal.post("/api/v1/unlock/authorization", &json!({"flowId": flow}));
    assert_eq!(early["error"]["code"], "out-of-order");
    code_step(&portal, &flow, 2);

    let (status, issued) = portal.post("/api/v1/unlock/authorization", &json!({"flowId": flow}));
    assert_eq!(status, 200, "{issued}");
    let payload = open(&portal, &issued["authorization"]);
    assert_eq!(payload["cardGuid"], card.guid.as_str());
    assert_eq!(payload["origin"], ORIGIN);
    assert_eq!(payload["puk"], card.puk.as_str());
    let new_puk = payload["newPuk"].as_str().expect("new puk").to_string();
    assert_ne!(new_puk, card.puk);
    assert!(payload["expiresAt"].as_i64() > payload["issuedAt"].as_i64());

    // The host's report: until it says the PUK rotated, the old one is kept.
    let report = |state: Value| {
        portal.post(
            "/api/v1/unlock/result",
            &json!({"flowId": flow, "authorizationId": issued["authorizationId"], "state": state}),
        )
    };
    let (status, _) = report(json!({"unblocked": true, "passcodeSet": false, "pukRotated": false}));
    assert_eq!(status, 200);
    let stored = portal.command(&["audit"]);
    assert!(String::from_utf8_lossy(&stored.stdout).contains("unlock-result"));
    let (current, pending) =
        selfservice_portal::ops::stored_puk(&config(&portal), &card.guid).expect("puk");
    assert_eq!(
        (current.as_str(), pending.as_deref()),
        (card.puk.as_str(), Some(new_puk.as_str()))
    );

    // A retry gets a new authorization carrying the same PUK pair.
    let (_, again) = portal.post("/api/v1/unlock/authorization", &json!({"flowId": flow}));
    let second = open(&portal, &again["authorization"]);
    assert_eq!(
        (second["puk"].clone(), second["newPuk"].clone()),
        (json!(card.puk), json!(new_puk))
    );
    assert_ne!(second["authorizationId"], payload["authorizationId"]);
    let (status, _) = portal.post(
        "/api/v1/unlock/result",
        &json!({"flowId": flow, "authorizationId": again["authorizationId"], "state": {"unblocked": true, "passcodeSet": true, "pukRotated": true}}),
    );
    assert_eq!(status, 200);
    let (current, pending) =
        selfservice_portal::ops::stored_puk(&config(&portal), &card.guid).expect("puk");
    assert_eq!((current, pending), (new_puk, None));
    // The notification after every unlock.
    let notice = portal.mail(3);
    assert_eq!(notice.subject(), Some("Your Smartcard has been unlocked"));
    assert!(notice.body().contains("Mr John Rigby"));
    assert!(portal.command(&["audit", "--verify"]).status.success());
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
