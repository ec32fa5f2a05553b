//! Registration over HTTP, and the rules it enforces.

mod common;

use common::*;
use selfservice_vcard::card_file::CardFile;
use serde_json::{json, Value};

#[test]
fn a_card_registers_from_proof_to_complete_and_the_audit_chain_verifies() {
    let portal = Portal::start();
    let card = portal.card("unlocked", Some("amina.okafor@nhs.net"));
    let (status, started) = portal.start_flow(&card, "registration");
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["holderName"], "Mrs Amina Okafor");
    assert_eq!(started["emailOnFile"], "amina.okafor@nhs.net");
    let flow = started["flowId"].clone();
    let (status, _) = portal.post(
        "/api/v1/registration/questions",
        &json!({"flowId": flow, "answers": answers()}),
    );
    assert_eq!(status, 200);
    let (status, sent) = portal.post(
        "/api/v1/registration/email",
        &json!({"flowId": flow, "email": "Amina.Okafor@NHS.net"}),
    );
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["sentTo"], "amina.okafor@nhs.net");
    assert_eq!(
        sent["expiresAt"].as_i64().unwrap_or(0) - sent["issuedAt"].as_i64().unwrap_or(0),
        900
    );
    let mail = portal.mail(1);
    assert_eq!(mail.to, vec!["amina.okafor@nhs.net".to_string()]);
    assert_eq!(
        mail.subject(),
        Some("Smartcard Self Service Registration Code")
    );
    let code = mail.code().expect("code");
    let (status, done) = portal.post(
        "/api/v1/registration/confirm",
        &json!({"flowId": flow, "code": code}),
    );
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["message"], "Self Service Registration is complete.");

    // Answers are stored only as Argon2id hashes.
    let database = std::fs::read(portal.dir.path().join("data/portal.sqlite3")).expect("db");
    let wal = std::fs::read(portal.dir.path().join("data/portal.sqlite3-wal")).unwrap_or_default();
    for plain in ["adeyemi", "vauxhall", "biscuit", "01214960000"] {
        assert!(
            !database.windows(plain.len()).any(|w| w == plain.as_bytes()),
            "{plain} stored in clear"
        );
        assert!(
            !wal.windows(plain.len()).any(|w| w == plain.as_bytes()),
            "{plain} in the WAL in clear"
        );
    }
    let events: Vec<String> = portal
        .audit_rows()
        .iter()
        .map(|r| r["event"].as_str().unwrap_or("").to_string())
        .collect();
    for event in [
        "card-enrolled",
        "challenge",
        "register-proof",
        "registration-start",
        "registration-questions",
        "registration-code-sent",
        "registration-confirm",
    ] {
        assert!(
            events.iter().any(|e| e == event),
            "{event} not audited: {events:?}"
        );
    }
    let verify = portal.command(&["audit", "--verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    // No secret in the audit log.
    let audit = String::from_utf8_lossy(&portal.command(&["audit"]).stdout).to_string();
    assert!(!audit.contains(&code) && !audit.contains("Adeyemi") && !audit.contains(&card.puk));
}

#[test]
fn a_proof_for_another_origin_a_reused_challenge_or_the_wrong_key_is_refused() {
    let portal = Portal::start();
    let card = portal.card("unlocked", None);
    let challenge = portal.challenge("register");
    let nonce = challenge["nonce"].as_str().expect("nonce");
    let elsewhere = portal.proof(&card, "register", "https://evil.test", nonce);
    let (status, body) = portal.post(
        "/api/v1/registration/start",
        &json!({"challengeId": challenge["challengeId"], "proof": elsewhere}),
    );
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (403, json!("proof-rejected"))
    );
    // The challenge was spent by that attempt, even with a good proof now.
    let good = portal.proof(&card, "register", ORIGIN, nonce);
    let (status, body) = portal.post(
        "/api/v1/registration/start",
        &json!({"challengeId": challenge["challengeId"], "proof": good}),
    );
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("challenge-invalid"))
    );
    // The card key (9E, no passcode) cannot stand in for the passcode-protected 9A key.
    let challenge = portal.challenge("register");
    let card_key = portal.proof(
        &card,
        "unlock",
        ORIGIN,
        challenge["nonce"].as_str().expect("nonce"),
    );
    let (_, body) = portal.post(
        "/api/v1/registration/start",
        &json!({"challengeId": challenge["challengeId"], "proof": card_key}),
    );
    assert_eq!(body["error"]["code"], "proof-rejected");
    // An unlock challenge does not start a registration.
    let challenge = portal.challenge("unlock");
    let proof = portal.proof(
        &card,
        "register",
        ORIGIN,
        challenge["nonce"].as_str().expect("nonce"),
    );
    let (_, body) = portal.post(
        "/api/v1/registration/start",
        &json!({"challengeId": challenge["challengeId"], "proof": proof}),
    );
    assert_eq!(body["error"]["code"], "challenge-invalid");
    // A challenge at exactly its five minutes is refused; a second before, it works.
    let (_, body) = register_after(&portal, &card, 300);
    assert_eq!(body["error"]["code"], "challenge-invalid");
    let (status, body) = register_after(&portal, &card, 299);
    assert_eq!(status, 200, "{body}");
}

/// A register challenge answered `seconds` after it was issued (the portal's clock is stopped).
fn register_after(portal: &Portal, card: &CardFile, seconds: i64) -> (u16, Value) {
    let challenge = portal.challenge("register");
    portal.advance_clock(seconds);
    let proof = portal.proof(
        card,
        "register",
        ORIGIN,
        challenge["nonce"].as_str().expect("nonce"),
    );
    portal.post(
        "/api/v1/registration/start",
        &json!({"challengeId": challenge["challengeId"], "proof": proof}),
    )
}

#[test]
fn a_card_from_another_ca_or_not_enrolled_or_expired_cannot_register() {
    let portal = Portal::start();
    // A card whose certificates another CA issued.
    let other_ca =
        selfservice_vcard::ca::TestCa::load_or_create(&portal.dir.path().join("other-ca"))
            .expect("ca");
    let path = portal.dir.path().join("stranger.toml");
    std::fs::copy(
        selfservice_vcard::world::resolve_card("unlocked").expect("t"),
        &path,
    )
    .expect("copy");
    let stranger = selfservice_vcard::runner::prepare_card(&path, &other_ca)
        .expect("card")
        .file;
    let (status, body) = portal.start_flow(&stranger, "registration");
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (403, json!("proof-rejected"))
    );
    // A card from the trusted CA that card management never enrolled.
    let path = portal.dir.path().join("unenrolled.toml");
    std::fs::copy(
        selfservice_vcard::world::resolve_card("legacy-printable").expect("t"),
        &path,
    )
    .expect("copy");
    let unenrolled = selfservice_vcard::runner::prepare_card(&path, &portal.ca)
        .expect("card")
        .file;
    let (_, body) = portal.start_flow(&unenrolled, "registration");
    assert_eq!(body["error"]["code"], "self-service-unavailable");
    let expired = portal.card("expired", None);
    let (_, body) = portal.start_flow(&expired, "registration");
    assert_eq!(body["error"]["code"], "self-service-unavailable");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("expired"));
}

#[test]
fn only_approved_email_domains_are_accepted() {
    let portal = Portal::start();
    let card = portal.card("unlocked", None);
    let (_, started) = portal.start_flow(&card, "registration");
    let flow = started["flowId"].clone();
    portal.post(
        "/api/v1/registration/questions",
        &json!({"flowId": flow, "answers": answers()}),
    );
    for (email, reason) in [
        ("a@gmail.com", "domain-not-approved"),
        ("a@nhs.net.evil.com", "domain-not-approved"),
        ("a@evil-nhs.net", "domain-not-approved"),
        ("a@nhs.net.", "trailing-dot"),
        ("not an email", "missing-at"),
    ] {
        let (status, body) = portal.post(
            "/api/v1/registration/email",
            &json!({"flowId": flow, "email": email}),
        );
        assert_eq!(status, 400, "{email}");
        assert_eq!(body["error"]["code"], "email-rejected", "{email}");
        assert_eq!(body["error"]["reason"]["code"], reason, "{email}");
    }
    assert!(portal.mails().is_empty(), "no code was sent");
}

#[test]
fn registration_answers_follow_the_choice_rule() {
    let portal = Portal::start();
    let card = portal.card("unlocked", None);
    let (_, started) = portal.start_flow(&card, "registration");
    let flow = started["flowId"].clone();
    let mut three = answers();
    three.as_array_mut().expect("list").pop();
    let (status, body) = portal.post(
        "/api/v1/registration/questions",
        &json!({"flowId": flow, "answers": three}),
    );
    assert_eq!(
        (status, body["error"]["reason"]["code"].clone()),
        (400, json!("wrong-count"))
    );
    let mut duplicate = answers();
    duplicate[3]["questionId"] = json!("first-car");
    let (_, body) = portal.post(
        "/api/v1/registration/questions",
        &json!({"flowId": flow, "answers": duplicate}),
    );
    assert_eq!(body["error"]["reason"]["code"], "duplicate-question");
    // The email step cannot come first.
    let (_, body) = portal.post(
        "/api/v1/registration/email",
        &json!({"flowId": flow, "email": "a@nhs.net"}),
    );
    assert_eq!(body["error"]["code"], "out-of-order");
}

#[test]
fn a_code_works_at_14_59_is_refused_at_15_00_and_is_single_use() {
    let portal = Portal::start();
    let card = portal.card("unlocked", None);
    let (_, started) = portal.start_flow(&card, "registration");
    let flow = started["flowId"].clone();
    portal.post(
        "/api/v1/registration/questions",
        &json!({"flowId": flow, "answers": answers()}),
    );
    portal.post(
        "/api/v1/registration/email",
        &json!({"flowId": flow, "email": "a@nhs.net"}),
    );
    let code = portal.mail(1).code().expect("code");
    portal.advance_clock(900);
    let (status, body) = portal.post(
        "/api/v1/registration/confirm",
        &json!({"flowId": flow, "code": code}),
    );
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (410, json!("code-expired"))
    );
    // A new code, entered at 14:59, works once.
    portal.post(
        "/api/v1/registration/email",
        &json!({"flowId": flow, "email": "a@nhs.net"}),
    );
    let code = portal.mail(2).code().expect("code");
    portal.advance_clock(899);
    let (status, _) = portal.post(
        "/api/v1/registration/confirm",
        &json!({"flowId": flow, "code": code}),
    );
    assert_eq!(status, 200);
    let (status, body) = portal.post(
        "/api/v1/registration/confirm",
        &json!({"flowId": flow, "code": code}),
    );
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (410, json!("flow-expired"))
    );
}

#[test]
fn wrong_codes_run_out_of_tries() {
    let portal = Portal::start();
    let card = portal.card("unlocked", None);
    let (_, started) = portal.start_flow(&card, "registration");
    let flow = started["flowId"].clone();
    portal.post(
        "/api/v1/registration/questions",
        &json!({"flowId": flow, "answers": answers()}),
    );
    portal.post(
        "/api/v1/registration/email",
        &json!({"flowId": flow, "email": "a@nhs.net"}),
    );
    let code = portal.mail(1).code().expect("code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (1..=4).rev() {
        let (_, body) = portal.post(
            "/api/v1/registration/confirm",
            &json!({"flowId": flow, "code": wrong}),
        );
        assert_eq!(
            body["error"],
            json!({"code": "code-invalid", "triesLeft": left, "message": body["error"]["message"]})
        );
    }
    let (_, body) = portal.post(
        "/api/v1/registration/confirm",
        &json!({"flowId": flow, "code": wrong}),
    );
    assert_eq!(body["error"]["code"], "code-spent");
    // Even the right code is refused now.
    let (_, body) = portal.post(
        "/api/v1/registration/confirm",
        &json!({"flowId": flow, "code": code}),
    );
    assert_eq!(body["error"]["code"], "code-spent");
    let (_, body) = portal.post(
        "/api/v1/registration/confirm",
        &json!({"flowId": flow, "code": "12a"}),
    );
    assert_eq!(body["error"]["code"], "code-format");
}
