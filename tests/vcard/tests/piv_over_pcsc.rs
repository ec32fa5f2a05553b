//! The virtual card through the real stack: a `pcsc` client, a private pcscd, vpcd, the card.

mod common;

use common::*;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use selfservice_vcard::apdu::find_tlv;
use selfservice_vcard::piv::pem_to_der;
use selfservice_vcard::runner::Fault;
use x509_cert::der::{Decode, Encode};

const CHUID: &[u8] = &[0x5F, 0xC1, 0x02];
const CERT_9A: &[u8] = &[0x5F, 0xC1, 0x05];
const CERT_9E: &[u8] = &[0x5F, 0xC1, 0x01];
const PRINTED: &[u8] = &[0x5F, 0xC1, 0x09];

#[test]
fn select_answers_with_the_application_property_template() {
    let mut world = world();
    let card = world.insert("unlocked", 0);
    let pcsc = world.connect(&card);
    let (data, sw) = transmit(&pcsc, SELECT_PIV);
    assert_eq!(sw, 0x9000);
    let template = find_tlv(&data, &[0x61]).expect("APT");
    assert_eq!(
        find_tlv(template, &[0x4F]),
        Some(&[0x00, 0x00, 0x10, 0x00, 0x01, 0x00][..])
    );
    // Another application is not on this card.
    let other = [0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x00, 0x63];
    assert_eq!(sw_of(&pcsc, &other), 0x6A82);
    // Without the PIV application selected, PIV commands are refused.
    assert_eq!(sw_of(&pcsc, VERIFY_STATUS), 0x6985);
    disconnect(pcsc);
}

#[test]
fn chuid_carries_the_guid_and_expiry() {
    let mut world = world();
    let card = world.insert("unlocked", 0);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    let (data, sw) = transmit(&pcsc, &get_data(CHUID));
    assert_eq!(sw, 0x9000);
    let chuid = find_tlv(&data, &[0x53]).expect("53 wrapper");
    let file = card.file();
    assert_eq!(
        find_tlv(chuid, &[0x34]),
        Some(&file.guid_bytes().expect("guid")[..])
    );
    let expiry = file.expiry.expect("settled expiry").replace('-', "");
    assert_eq!(find_tlv(chuid, &[0x35]), Some(expiry.as_bytes()));
    disconnect(pcsc);
}

#[test]
fn certificates_come_back_whole_through_get_response_and_chain_to_the_test_ca() {
    let mut world = world();
    let card = world.insert("unlocked", 0);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    // The first answer is only 256 bytes and 61xx: the rest needs GET RESPONSE.
    let mut buffer = [0u8; 300];
    let first = pcsc
        .transmit(&get_data(CERT_9A), &mut buffer)
        .expect("transmit");
    assert_eq!(first.len(), 258);
    assert_eq!(first[256], 0x61);
    let ca = x509_cert::Certificate::from_der(&pem_to_der(&world.ca.cert_pem).expect("CA PEM"))
        .expect("CA");
    let ca_key = VerifyingKey::from_public_key_der(
        &ca.tbs_certificate
            .subject_public_key_info
            .to_der()
            .expect("spki"),
    )
    .expect("CA key");
    for (tag, expected_pem) in [
        (
            CERT_9A,
            card.file().keys.expect("keys").authentication_certificate,
        ),
        (
            CERT_9E,
            card.file()
                .keys
                .expect("keys")
                .card_authentication_certificate,
        ),
    ] {
        let (data, sw) = transmit(&pcsc, &get_data(tag));
        assert_eq!(sw, 0x9000);
        let object = find_tlv(&data, &[0x53]).expect("53");
        let der = find_tlv(object, &[0x70]).expect("70 certificate");
        assert!(der.len() > 256, "a certificate that needs chaining");
        assert_eq!(der, pem_to_der(&expected_pem).expect("pem"));
        let cert = x509_cert::Certificate::from_der(der).expect("X.509");
        assert_eq!(cert.tbs_certificate.issuer, ca.tbs_certificate.subject);
        let signature = DerSignature::from_bytes(cert.signature.raw_bytes()).expect("signature");
        ca_key
            .verify(&cert.tbs_certificate.to_der().expect("tbs"), &signature)
            .expect("issued by the test CA");
        assert!(cert
            .tbs_certificate
            .subject
            .to_string()
            .contains("Amina Okafor"));
    }
    disconnect(pcsc);
}

#[test]
fn printed_information_needs_the_pin() {
    let mut world = world();
    let card = world.insert("unlocked", 0);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    assert_eq!(sw_of(&pcsc, &get_data(PRINTED)), 0x6982);
    assert_eq!(sw_of(&pcsc, &verify("583920")), 0x9000);
    let (data, sw) = transmit(&pcsc, &get_data(PRINTED));
    assert_eq!(sw, 0x9000);
    let printed = find_tlv(&data, &[0x53]).expect("53");
    assert_eq!(find_tlv(printed, &[0x01]), Some(&b"Mrs Amina Okafor"[..]));
    disconnect(pcsc);
}

#[test]
fn unknown_objects_and_malformed_commands_get_their_status_words() {
    let mut world = world();
    let card = world.insert("unlocked", 0);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    assert_eq!(sw_of(&pcsc, &get_data(&[0x5F, 0xC1, 0x0F])), 0x6A82);
    // VERIFY with 7 bytes of data.
    assert_eq!(
        sw_of(&pcsc, &[0x00, 0x20, 0x00, 0x80, 0x07, 1, 2, 3, 4, 5, 6, 7]),
        0x6700
    );
    // VERIFY of an unknown reference.
    assert_eq!(sw_of(&pcsc, &[0x00, 0x20, 0x00, 0x85]), 0x6A88);
    assert_eq!(sw_of(&pcsc, &[0x00, 0xFE, 0x00, 0x00]), 0x6D00);
    assert_eq!(sw_of(&pcsc, &[0x80, 0x20, 0x00, 0x80]), 0x6E00);
    // GET RESPONSE with nothing pending.
    assert_eq!(sw_of(&pcsc, &[0x00, 0xC0, 0x00, 0x00, 0x00]), 0x6985);
    disconnect(pcsc);
}

#[test]
fn wrong_pins_count_down_to_blocked_and_reading_the_counter_spends_nothing() {
    let mut world = world();
    let card = world.insert("unlocked", 0);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    assert_eq!(sw_of(&pcsc, VERIFY_STATUS), 0x63C3);
    assert_eq!(sw_of(&pcsc, VERIFY_STATUS), 0x63C3);
    assert_eq!(sw_of(&pcsc, &verify("000001")), 0x63C2);
    assert_eq!(
        card.file().pin_retries_left,
        2,
        "the state is written back at once"
    );
    assert_eq!(sw_of(&pcsc, &verify("000002")), 0x63C1);
    assert_eq!(sw_of(&pcsc, &verify("000003")), 0x6983);
    assert_eq!(sw_of(&pcsc, VERIFY_STATUS), 0x6983);
    // Even the right PIN no longer works.
    assert_eq!(sw_of(&pcsc, &verify("583920")), 0x6983);
    assert_eq!(card.file().pin_retries_left, 0);
    disconnect(pcsc);
}

#[test]
fn a_right_pin_resets_the_counter_and_logout_forgets_it() {
    let mut world = world();
    let card = world.insert("unlocked", 0);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    assert_eq!(sw_of(&pcsc, &verify("111112")), 0x63C2);
    assert_eq!(sw_of(&pcsc, &verify("583920")), 0x9000);
    assert_eq!(sw_of(&pcsc, VERIFY_STATUS), 0x9000);
    assert_eq!(card.file().pin_retries_left, 3);
    assert_eq!(sw_of(&pcsc, &[0x00, 0x20, 0xFF, 0x80]), 0x9000);
    assert_eq!(sw_of(&pcsc, VERIFY_STATUS), 0x63C3);
    disconnect(pcsc);
}

#[test]
fn change_reference_data_changes_the_pin_and_the_puk() {
    let mut world = world();
    let card = world.insert("unlocked", 0);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    // A new PIN outside the card's rule is refused without spending a try.
    assert_eq!(sw_of(&pcsc, &change(0x80, "583920", "12ab56")), 0x6A80);
    assert_eq!(sw_of(&pcsc, &change(0x80, "583920", "12345")), 0x6A80);
    assert_eq!(card.file().pin_retries_left, 3);
    // A wrong old PIN spends one.
    assert_eq!(sw_of(&pcsc, &change(0x80, "000000", "246813")), 0x63C2);
    assert_eq!(sw_of(&pcsc, &change(0x80, "583920", "246813")), 0x9000);
    let file = card.file();
    assert_eq!((file.pin.as_str(), file.pin_retries_left), ("246813", 3));
    assert_eq!(sw_of(&pcsc, &change(0x81, "00000000", "11223344")), 0x63C2);
    assert_eq!(sw_of(&pcsc, &change(0x81, "73419265", "11223344")), 0x9000);
    let file = card.file();
    assert_eq!((file.puk.as_str(), file.puk_retries_left), ("11223344", 3));
    disconnect(pcsc);
}

#[test]
fn reset_retry_counter_unblocks_with_the_puk() {
    let mut world = world();
    let card = world.insert("locked", 0);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    assert_eq!(sw_of(&pcsc, VERIFY_STATUS), 0x6983);
    // A wrong PUK spends a PUK try and leaves the PIN blocked.
    assert_eq!(
        sw_of(&pcsc, &reset_retry_counter("00000000", "135792")),
        0x63C2
    );
    assert_eq!(card.file().puk_retries_left, 2);
    assert_eq!(sw_of(&pcsc, VERIFY_STATUS), 0x6983);
    assert_eq!(
        sw_of(&pcsc, &reset_retry_counter("19283746", "135792")),
        0x9000
    );
    let file = card.file();
    assert_eq!(
        (
            file.pin.as_str(),
            file.pin_retries_left,
            file.puk_retries_left
        ),
        ("135792", 3, 3)
    );
    assert_eq!(sw_of(&pcsc, VERIFY_STATUS), 0x63C3);
    assert_eq!(sw_of(&pcsc, &verify("135792")), 0x9000);
    disconnect(pcsc);
}

#[test]
fn a_blocked_puk_cannot_unblock() {
    let mut world = world();
    let card = world.insert("locked", 0);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    assert_eq!(
        sw_of(&pcsc, &reset_retry_counter("00000001", "135792")),
        0x63C2
    );
    assert_eq!(
        sw_of(&pcsc, &reset_retry_counter("00000002", "135792")),
        0x63C1
    );
    assert_eq!(
        sw_of(&pcsc, &reset_retry_counter("00000003", "135792")),
        0x6983
    );
    // The right PUK is now refused too: the card must go back to the RA.
    assert_eq!(
        sw_of(&pcsc, &reset_retry_counter("19283746", "135792")),
        0x6983
    );
    assert_eq!(sw_of(&pcsc, &change(0x81, "19283746", "11223344")), 0x6983);
    let file = card.file();
    assert_eq!((file.pin_retries_left, file.puk_retries_left), (0, 0));
    disconnect(pcsc);
}

#[test]
fn a_legacy_rule_card_takes_printable_passcodes_and_a_strict_card_does_not() {
    let mut world = world();
    let legacy = world.insert("legacy-printable", 0);
    let strict = world.insert("locked", 1);
    let pcsc = world.connect(&legacy);
    transmit(&pcsc, SELECT_PIV);
    assert_eq!(sw_of(&pcsc, &verify("Tea4two")), 0x9000);
    assert_eq!(sw_of(&pcsc, &change(0x80, "Tea4two", "Sun 2day")), 0x9000);
    assert_eq!(legacy.file().pin, "Sun 2day");
    assert_eq!(sw_of(&pcsc, &change(0x80, "Sun 2day", "abc")), 0x6A80);
    disconnect(pcsc);
    let pcsc = world.connect(&strict);
    transmit(&pcsc, SELECT_PIV);
    assert_eq!(
        sw_of(&pcsc, &reset_retry_counter("19283746", "Tea4two")),
        0x6A80
    );
    assert_eq!(
        strict.file().pin_retries_left,
        0,
        "a refused new PIN leaves the card locked"
    );
    disconnect(pcsc);
}

#[test]
fn the_authentication_key_signs_only_after_the_pin_and_the_card_key_always() {
    let mut world = world();
    let card = world.insert("unlocked", 0);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    let digest = selfservice_rules::proof::proof_digest(
        "https://portal.example",
        "nonce",
        selfservice_rules::proof::ProofPurpose::Register,
        None,
    );
    assert_eq!(sw_of(&pcsc, &sign(0x9A, &digest)), 0x6982);
    let keys = card.file().keys.expect("keys");
    for (slot, pem) in [
        (0x9E, keys.card_authentication_certificate.clone()),
        (0x9A, keys.authentication_certificate.clone()),
    ] {
        if slot == 0x9A {
            assert_eq!(sw_of(&pcsc, &verify("583920")), 0x9000);
        }
        let (data, sw) = transmit(&pcsc, &sign(slot, &digest));
        assert_eq!(sw, 0x9000);
        let template = find_tlv(&data, &[0x7C]).expect("7C");
        let signature = DerSignature::from_bytes(find_tlv(template, &[0x82]).expect("82"))
            .expect("DER signature");
        let cert = x509_cert::Certificate::from_der(&pem_to_der(&pem).expect("pem")).expect("cert");
        let key = VerifyingKey::from_public_key_der(
            &cert
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .expect("spki"),
        )
        .expect("P-256 key");
        key.verify_prehash(&digest, &signature)
            .expect("the certificate's key signed the digest");
    }
    // Only P-256 and only 9A/9E.
    let mut rsa = sign(0x9A, &digest);
    rsa[2] = 0x07;
    assert_eq!(sw_of(&pcsc, &rsa), 0x6A86);
    assert_eq!(sw_of(&pcsc, &sign(0x9C, &digest)), 0x6A88);
    disconnect(pcsc);
}

#[test]
fn a_reset_forgets_the_pin() {
    let mut world = world();
    let card = world.insert("unlocked", 0);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    assert_eq!(sw_of(&pcsc, &verify("583920")), 0x9000);
    let pcsc = pcsc
        .disconnect(pcsc::Disposition::ResetCard)
        .ok()
        .map(|()| world.connect(&card))
        .expect("reconnect");
    transmit(&pcsc, SELECT_PIV);
    assert_eq!(sw_of(&pcsc, VERIFY_STATUS), 0x63C3);
    disconnect(pcsc);
}

#[test]
fn removal_and_insertion_are_seen_by_a_pcsc_client() {
    let mut world = world();
    let card = world.insert("unlocked", 0);
    card.running().remove();
    world.wait_for(&card.reader, false);
    assert!(world
        .context
        .connect(&card.reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .is_err());
    card.running().insert();
    world.wait_for(&card.reader, true);
    let pcsc = world.connect(&card);
    assert_eq!(transmit(&pcsc, SELECT_PIV).1, 0x9000);
    disconnect(pcsc);
}

#[test]
fn two_cards_sit_in_the_two_slots() {
    let mut world = world();
    let first = world.insert("unlocked", 0);
    let second = world.insert("locked", 1);
    let readers = {
        let mut buffer = [0u8; 1024];
        world
            .context
            .list_readers(&mut buffer)
            .expect("readers")
            .map(|r| r.to_owned())
            .collect::<Vec<_>>()
    };
    assert!(
        readers.contains(&first.reader) && readers.contains(&second.reader),
        "{readers:?}"
    );
    for (card, expected) in [(&first, 0x63C3), (&second, 0x6983)] {
        let pcsc = world.connect(card);
        transmit(&pcsc, SELECT_PIV);
        assert_eq!(sw_of(&pcsc, VERIFY_STATUS), expected);
        disconnect(pcsc);
    }
}

#[test]
fn a_card_pulled_before_an_apdu_runs_keeps_its_state() {
    let mut world = world();
    let card = world.insert("locked", 0);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    card.fault(Fault::RemoveBefore { apdu: 1 });
    let mut buffer = [0u8; 64];
    let response = pcsc.transmit(&reset_retry_counter("19283746", "135792"), &mut buffer);
    // vpcd turns the lost connection into an empty response (or the next poll reports removal).
    assert!(
        matches!(response, Ok(r) if r.len() < 2) || response.is_err(),
        "{response:?}"
    );
    world.wait_for(&card.reader, false);
    let file = card.file();
    assert_eq!((file.pin.as_str(), file.pin_retries_left), ("402913", 0));
    drop(pcsc);
}

#[test]
fn a_card_pulled_after_an_apdu_ran_keeps_its_effect() {
    let mut world = world();
    let card = world.insert("locked", 0);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    card.fault(Fault::RemoveAfter { apdu: 1 });
    let mut buffer = [0u8; 64];
    let response = pcsc.transmit(&reset_retry_counter("19283746", "135792"), &mut buffer);
    assert!(
        matches!(response, Ok(r) if r.len() < 2) || response.is_err(),
        "{response:?}"
    );
    world.wait_for(&card.reader, false);
    let file = card.file();
    assert_eq!((file.pin.as_str(), file.pin_retries_left), ("135792", 3));
    drop(pcsc);
}

#[test]
fn a_chosen_status_word_answers_the_nth_apdu() {
    let mut world = world();
    let card = world.insert("unlocked", 0);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    card.fault(Fault::StatusWord {
        apdu: 2,
        sw: 0x6F00,
    });
    assert_eq!(sw_of(&pcsc, VERIFY_STATUS), 0x63C3);
    assert_eq!(sw_of(&pcsc, &verify("583920")), 0x6F00);
    assert_eq!(
        card.file().pin_retries_left,
        3,
        "the faulted APDU did not run"
    );
    assert_eq!(sw_of(&pcsc, &verify("583920")), 0x9000);
    disconnect(pcsc);
}

#[test]
fn quirks_answer_as_other_piv_cards_do() {
    use selfservice_vcard::card_file::Quirk;
    let mut world = world();

    // Blocked as 63C0: asked about a blocked PIN, and PUK tries run out the same way.
    let card = world.insert_quirky("locked", 0, &[Quirk::BlockedAs63c0]);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    assert_eq!(sw_of(&pcsc, VERIFY_STATUS), 0x63C0);
    assert_eq!(sw_of(&pcsc, &verify("402913")), 0x63C0);
    disconnect(pcsc);
    drop(card);

    // Failures without a counter: 6300, the try still spent, the counter still readable.
    let card = world.insert_quirky("unlocked", 0, &[Quirk::FailureWithoutCounter]);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    assert_eq!(sw_of(&pcsc, &verify("000000")), 0x6300);
    assert_eq!(sw_of(&pcsc, VERIFY_STATUS), 0x63C2);
    assert_eq!(sw_of(&pcsc, &change(0x81, "00000000", "11111111")), 0x6300);
    assert_eq!(card.file().puk_retries_left, 2);
    disconnect(pcsc);
    drop(card);

    // Verification kept across SELECT; only VERIFY P1=FF clears it.
    let card = world.insert_quirky("unlocked", 0, &[Quirk::KeepsVerificationAcrossSelect]);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    assert_eq!(sw_of(&pcsc, &verify("583920")), 0x9000);
    transmit(&pcsc, SELECT_PIV);
    assert_eq!(sw_of(&pcsc, &sign(0x9A, &[1; 32])), 0x9000);
    assert_eq!(sw_of(&pcsc, &[0x00, 0x20, 0xFF, 0x80]), 0x9000);
    assert_eq!(sw_of(&pcsc, &sign(0x9A, &[1; 32])), 0x6982);
    disconnect(pcsc);
    drop(card);
    // Our own card forgets it on SELECT.
    let card = world.insert("unlocked", 0);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    assert_eq!(sw_of(&pcsc, &verify("583920")), 0x9000);
    transmit(&pcsc, SELECT_PIV);
    assert_eq!(sw_of(&pcsc, &sign(0x9A, &[1; 32])), 0x6982);
    disconnect(pcsc);
    drop(card);

    // A placeholder CHUID expiry.
    let card = world.insert_quirky("unlocked", 0, &[Quirk::PlaceholderChuidExpiry]);
    let pcsc = world.connect(&card);
    transmit(&pcsc, SELECT_PIV);
    let (data, _) = transmit(&pcsc, &get_data(CHUID));
    let chuid = find_tlv(&data, &[0x53]).expect("53 wrapper");
    assert_eq!(find_tlv(chuid, &[0x35]), Some(&b"99991231"[..]));
    disconnect(pcsc);
}
