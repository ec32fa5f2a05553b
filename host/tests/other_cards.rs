//! Other PIV cards' habits, as SP 800-73-4 allows them (the virtual card's quirks), through
//! the real pcscd: a blocked PIN answered `63C0`, failures without a counter (`6300`), the PIN
//! kept verified across SELECT, and a placeholder CHUID expiry. Each test names what a person
//! would see go wrong if the host assumed our own card's behaviour.

mod common;

use common::*;
use selfservice_vcard::card_file::Quirk;
use serde_json::{json, Value};

const PASSCODE: &str = "583920";
const NEW_PASSCODE: &str = "860245";
const NEW_PUK: &str = "55443322";

fn ready(world: &World) -> Host {
    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    host
}

fn card_status(host: &mut Host) -> Value {
    let status = host.request(json!({"type": "status"}));
    status["result"]["readers"][0]["card"].clone()
}

fn register_proof(host: &mut Host, passcode: &str) -> Value {
    host.request(json!({"type": "prove-possession", "purpose": "register", "origin": ORIGIN, "nonce": NONCE, "passcode": passcode}))
}

fn change_passcode(host: &mut Host, old: &str, new: &str) -> Value {
    host.request(json!({"type": "change-passcode", "oldPasscode": old, "newPasscode": new}))
}

#[test]
fn a_pin_blocked_as_63c0_is_reported_locked_not_usable() {
    let mut world = World::new();
    world.insert_quirky("locked", 0, &[Quirk::BlockedAs63c0], |_| {});
    let mut host = ready(&world);
    assert_eq!(
        card_status(&mut host)["passcode"],
        json!({"state": "blocked"})
    );
    // A passcode typed on it is refused as locked, not as "0 more tries".
    let proof = register_proof(&mut host, "402913");
    assert_eq!(proof["error"]["code"], "passcode-blocked", "{proof}");
}

#[test]
fn the_last_wrong_passcode_answered_63c0_says_the_card_locked() {
    let mut world = World::new();
    world.insert_quirky("unlocked", 0, &[Quirk::BlockedAs63c0], |file| {
        file.pin_retries_left = 1;
    });
    let mut host = ready(&world);
    let reply = register_proof(&mut host, "000000");
    assert_eq!(reply["error"]["code"], "passcode-blocked", "{reply}");
    assert_eq!(world.card(0).file().pin_retries_left, 0);
}

#[test]
fn wrong_passcodes_answered_6300_still_say_how_many_tries_are_left() {
    let mut world = World::new();
    world.insert_quirky("unlocked", 0, &[Quirk::FailureWithoutCounter], |_| {});
    let mut host = ready(&world);
    let first = change_passcode(&mut host, "000000", NEW_PASSCODE);
    assert_eq!(
        (
            first["error"]["code"].clone(),
            first["error"]["retriesLeft"].clone()
        ),
        (json!("wrong-passcode"), json!(2)),
        "{first}"
    );
    assert!(first["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("2 more tries")));
    let second = register_proof(&mut host, "000000");
    assert_eq!(second["error"]["retriesLeft"], 1, "{second}");
    let third = change_passcode(&mut host, "000000", NEW_PASSCODE);
    assert_eq!(third["error"]["code"], "passcode-blocked", "{third}");
    assert_eq!(world.card(0).file().pin_retries_left, 0);
}

#[test]
fn an_unlock_finishes_on_a_card_that_answers_6300_for_the_puk_an_earlier_run_rotated() {
    let mut world = World::new();
    // An earlier run was cut off after rotating the PUK: the card holds the fresh one.
    world.insert_quirky("locked", 0, &[Quirk::FailureWithoutCounter], |file| {
        file.puk = NEW_PUK.into();
    });
    let mut host = ready(&world);
    // The portal never saw a receipt, so it names both PUKs; the old one is tried first.
    let authorization = world.sealed_authorization(
        &mut host,
        0,
        "auth-1",
        &[("enrolled", "19283746"), ("fresh", NEW_PUK)],
        ("fresh", NEW_PUK),
    );
    let reply = host.request(json!({"type": "unlock", "origin": ORIGIN, "authorization": sign_authorization(&authorization), "newPasscode": NEW_PASSCODE}));
    assert_eq!(
        reply["result"]["state"],
        json!({"unblocked": true, "passcodeSet": true, "pukRotated": true}),
        "{reply}"
    );
    let file = world.card(0).file();
    assert_eq!(
        (file.pin.as_str(), file.puk.as_str()),
        (NEW_PASSCODE, NEW_PUK)
    );
    assert_eq!(
        file.history.wrong_puk_tries, 1,
        "one try to learn which PUK"
    );
}

/// The card's own view: is its PIN still verified, so that any program could sign with 9A?
fn left_verified(world: &World) -> bool {
    world.card(0).running.status().pin_verified
}

#[test]
fn no_operation_leaves_the_pin_verified_on_a_card_that_keeps_it_across_select() {
    let mut world = World::new();
    world.insert_quirky(
        "unlocked",
        0,
        &[Quirk::KeepsVerificationAcrossSelect],
        |_| {},
    );
    let mut host = ready(&world);
    let proof = register_proof(&mut host, PASSCODE);
    assert!(proof["result"]["signature"].is_string(), "{proof}");
    assert!(!left_verified(&world), "logged out after a register proof");
    // A wrong passcode after a good one: still logged out.
    assert_eq!(
        register_proof(&mut host, "000000")["error"]["code"],
        "wrong-passcode"
    );
    assert!(!left_verified(&world));
    let changed = change_passcode(&mut host, PASSCODE, NEW_PASSCODE);
    assert_eq!(
        changed["result"]["passcode"],
        json!({"state": "usable", "retriesLeft": 3}),
        "{changed}"
    );
    assert!(!left_verified(&world), "logged out after a passcode change");
}

#[test]
fn an_unlock_logs_out_after_proving_the_new_passcode() {
    let mut world = World::new();
    world.insert_quirky("locked", 0, &[Quirk::KeepsVerificationAcrossSelect], |_| {});
    let mut host = ready(&world);
    let authorization = world.authorization(&mut host, 0, "auth-1", NEW_PUK);
    let reply = host.request(json!({"type": "unlock", "origin": ORIGIN, "authorization": authorization, "newPasscode": NEW_PASSCODE}));
    assert_eq!(
        reply["result"]["passcode"],
        json!({"state": "usable", "retriesLeft": 3}),
        "{reply}"
    );
    assert!(!left_verified(&world), "logged out after the unlock");
}

#[test]
fn a_placeholder_chuid_expiry_gives_way_to_the_certificate() {
    let mut world = World::new();
    world.insert_quirky("expiring-soon", 0, &[Quirk::PlaceholderChuidExpiry], |_| {});
    let mut host = ready(&world);
    let card = card_status(&mut host);
    let days_left = card["daysLeft"].as_i64().expect("days left");
    assert!(
        (0..=11).contains(&days_left),
        "the certificate's date, not 9999-12-31: {card}"
    );
    assert_eq!(card["expirySource"], "certificate");
    assert_ne!(card["expiry"], "9999-12-31");

    // The same card without the quirk: the CHUID's own date.
    let mut plain = World::new();
    plain.insert("expiring-soon", 0);
    let mut host = ready(&plain);
    assert_eq!(card_status(&mut host)["expirySource"], "chuid");
}

/// A YubiKey 5 NFC's ATR as pcsc-tools lists it: a real PIV card this host has no row for.
const YUBIKEY_ATR: &str = "3B FD 13 00 00 81 31 FE 15 80 73 C0 21 C0 57 59 75 62 69 4B 65 79 40";

#[test]
fn a_real_cards_atr_names_it_and_an_unknown_card_keeps_the_piv_rule() {
    assert!(
        std::path::Path::new("/usr/share/pcsc/smartcard_list.txt").exists(),
        "pcsc-tools' smartcard_list.txt is missing (cargo xtask setup installs pcsc-tools)"
    );
    let mut world = World::new();
    world.insert_quirky("unlocked", 0, &[], |file| {
        file.atr = Some(YUBIKEY_ATR.into());
    });
    let mut host = ready(&world);
    let card = card_status(&mut host);
    // pcsc-tools' list is a Linux file: the Windows build has none, and names the card by its
    // profile.
    let windows = wine10_root().is_some();
    let name = if windows { "PIV card" } else { "YubiKey 5 NFC" };
    assert!(
        card["cardName"]
            .as_str()
            .is_some_and(|named| named.contains(name)),
        "{card}"
    );
    assert_eq!(
        (card["pinConstraint"].clone(), card["pinRuleSource"].clone()),
        (json!("piv-strict"), json!("piv-default"))
    );
    // doctor says so, in words IT can act on.
    let doctor = world.run_host(&["doctor"]);
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(report.contains(name), "{report}");
    assert!(report.contains("the PIV default"), "{report}");

    // A card generation the host knows by its ATR.
    let mut legacy = World::new();
    legacy.insert("legacy-printable", 0);
    let mut host = ready(&legacy);
    let card = card_status(&mut host);
    assert_eq!(
        (card["pinConstraint"].clone(), card["pinRuleSource"].clone()),
        (json!("legacy-printable"), json!("known-card"))
    );
}

#[test]
fn it_sets_the_passcode_rule_for_cards_the_host_cannot_tell() {
    let mut world = World::new();
    world.configure(json!({"cardPinRule": "legacy-printable"}));
    world.insert_quirky("unlocked", 0, &[], |file| {
        file.atr = Some(YUBIKEY_ATR.into());
    });
    let mut host = ready(&world);
    let card = card_status(&mut host);
    assert_eq!(
        (card["pinConstraint"].clone(), card["pinRuleSource"].clone()),
        (json!("legacy-printable"), json!("configuration")),
        "{card}"
    );
    assert_eq!(card["passcodeRule"]["minLength"], 4, "{card}");
}

/// Checks an RS256 proof as a portal does: the certificate's RSA key over the proof digest.
fn rsa_proof_verifies(proof: &Value, origin: &str, nonce: &str) -> bool {
    use base64::Engine;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::hazmat::PrehashVerifier;
    use x509_cert::der::{Decode, Encode};
    let b64 = base64::engine::general_purpose::STANDARD;
    let (Some(certificate), Some(signature)) = (
        proof["certificate"]
            .as_str()
            .and_then(|c| b64.decode(c).ok()),
        proof["signature"].as_str().and_then(|s| b64.decode(s).ok()),
    ) else {
        return false;
    };
    let Ok(certificate) = x509_cert::Certificate::from_der(&certificate) else {
        return false;
    };
    let Ok(spki) = certificate.tbs_certificate.subject_public_key_info.to_der() else {
        return false;
    };
    let (Ok(key), Ok(signature)) = (
        rsa::RsaPublicKey::from_public_key_der(&spki),
        rsa::pkcs1v15::Signature::try_from(signature.as_slice()),
    ) else {
        return false;
    };
    let digest = digest_of(proof, origin, nonce);
    rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key)
        .verify_prehash(&digest, &signature)
        .is_ok()
}

#[test]
fn an_rsa_2048_card_proves_itself_for_registration_and_unlock() {
    let mut world = World::new();
    world.insert_quirky(
        "unlocked",
        0,
        &[Quirk::KeepsVerificationAcrossSelect],
        |file| file.key_algorithm = selfservice_vcard::card_file::KeyAlgorithm::Rsa2048,
    );
    let mut host = ready(&world);
    let register = register_proof(&mut host, PASSCODE);
    assert_eq!(register["result"]["algorithm"], "RS256", "{register}");
    assert!(rsa_proof_verifies(&register["result"], ORIGIN, NONCE));
    assert!(!left_verified(&world), "logged out after an RSA proof too");
    let unlock = host.request(
        json!({"type": "prove-possession", "purpose": "unlock", "origin": ORIGIN, "nonce": NONCE}),
    );
    assert_eq!(unlock["result"]["algorithm"], "RS256", "{unlock}");
    assert!(rsa_proof_verifies(&unlock["result"], ORIGIN, NONCE));
    // A proof for another nonce does not verify for this one.
    assert!(!rsa_proof_verifies(
        &unlock["result"],
        ORIGIN,
        "another-nonce"
    ));
}
