//! Fidelity, checked with tools nobody here wrote: Debian's OpenSC drives the virtual card
//! through the same private pcscd, and the card file shows what the tools did. Every check
//! runs for each quirk profile (other PIV cards' habits), which OpenSC must still accept.

mod common;

use common::*;
use std::process::{Command, Output};

fn opensc(tool: &str, args: &[&str]) -> Output {
    // PCSCLITE_CSOCK_NAME was set for this process by the world and is inherited.
    Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} not runnable (install opensc): {e}"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn opensc_tool_lists_the_reader_and_recognises_a_piv_card() {
    for quirks in quirk_profiles() {
        recognised(&quirks);
    }
}

fn recognised(quirks: &[selfservice_vcard::card_file::Quirk]) {
    let mut world = world();
    let _card = world.insert_quirky("unlocked", 0, quirks);
    let list = opensc("opensc-tool", &["--list-readers"]);
    assert!(text(&list).contains("Virtual PCD 00 00"), "{}", text(&list));
    let name = opensc("opensc-tool", &["--reader", "0", "--name"]);
    assert!(name.status.success(), "{}", text(&name));
    assert!(
        text(&name).contains("Personal Identity Verification Card"),
        "{quirks:?}: {}",
        text(&name)
    );
}

#[test]
fn pkcs15_tool_lists_and_reads_the_certificates() {
    for quirks in quirk_profiles() {
        certificates_read(&quirks);
    }
}

fn certificates_read(quirks: &[selfservice_vcard::card_file::Quirk]) {
    let mut world = world();
    let card = world.insert_quirky("unlocked", 0, quirks);
    let list = opensc("pkcs15-tool", &["--reader", "0", "--list-certificates"]);
    let listing = text(&list);
    assert!(
        listing.contains("Certificate for PIV Authentication"),
        "{listing}"
    );
    assert!(
        listing.contains("Certificate for Card Authentication"),
        "{listing}"
    );
    // ID 01 is the 9A certificate in OpenSC's PIV emulation.
    let read = opensc(
        "pkcs15-tool",
        &["--reader", "0", "--read-certificate", "01"],
    );
    assert!(read.status.success(), "{}", text(&read));
    let keys = card.file().keys.expect("keys");
    assert_eq!(
        String::from_utf8_lossy(&read.stdout).trim(),
        keys.authentication_certificate.trim()
    );
}

#[test]
fn pkcs15_tool_verifies_and_changes_the_pin() {
    for quirks in quirk_profiles() {
        pin_verified_and_changed(&quirks);
    }
}

fn pin_verified_and_changed(quirks: &[selfservice_vcard::card_file::Quirk]) {
    let mut world = world();
    let card = world.insert_quirky("unlocked", 0, quirks);
    let wrong = opensc(
        "pkcs15-tool",
        &[
            "--reader",
            "0",
            "--verify-pin",
            "--auth-id",
            "01",
            "--pin",
            "999999",
        ],
    );
    assert!(
        !wrong.status.success(),
        "{quirks:?}: a wrong PIN must fail: {}",
        text(&wrong)
    );
    assert_eq!(card.file().pin_retries_left, 2, "{quirks:?}");
    let right = opensc(
        "pkcs15-tool",
        &[
            "--reader",
            "0",
            "--verify-pin",
            "--auth-id",
            "01",
            "--pin",
            "583920",
        ],
    );
    assert!(right.status.success(), "{quirks:?}: {}", text(&right));
    assert_eq!(card.file().pin_retries_left, 3, "{quirks:?}");
    let change = opensc(
        "pkcs15-tool",
        &[
            "--reader",
            "0",
            "--change-pin",
            "--auth-id",
            "01",
            "--pin",
            "583920",
            "--new-pin",
            "246813",
        ],
    );
    assert!(change.status.success(), "{quirks:?}: {}", text(&change));
    assert_eq!(card.file().pin, "246813", "{quirks:?}");
}

#[test]
fn pkcs15_tool_unblocks_a_locked_card_with_the_puk() {
    for quirks in quirk_profiles() {
        unblocked(&quirks);
    }
}

fn unblocked(quirks: &[selfservice_vcard::card_file::Quirk]) {
    let mut world = world();
    let card = world.insert_quirky("locked", 0, quirks);
    let unblock = opensc(
        "pkcs15-tool",
        &[
            "--reader",
            "0",
            "--unblock-pin",
            "--auth-id",
            "01",
            "--puk",
            "19283746",
            "--new-pin",
            "135792",
        ],
    );
    assert!(unblock.status.success(), "{quirks:?}: {}", text(&unblock));
    let file = card.file();
    assert_eq!(
        (
            file.pin.as_str(),
            file.pin_retries_left,
            file.puk_retries_left
        ),
        ("135792", 3, 3),
        "{quirks:?}"
    );
    let verify = opensc(
        "pkcs15-tool",
        &[
            "--reader",
            "0",
            "--verify-pin",
            "--auth-id",
            "01",
            "--pin",
            "135792",
        ],
    );
    assert!(verify.status.success(), "{quirks:?}: {}", text(&verify));
}

#[test]
fn opensc_reads_an_rsa_2048_card_and_verifies_its_pin() {
    let mut world = world();
    let card = world.insert_changed("unlocked", 0, |file| {
        file.key_algorithm = selfservice_vcard::card_file::KeyAlgorithm::Rsa2048;
    });
    let list = opensc("pkcs15-tool", &["--reader", "0", "--list-public-keys"]);
    let listing = text(&list);
    assert!(listing.contains("RSA"), "{listing}");
    let read = opensc(
        "pkcs15-tool",
        &["--reader", "0", "--read-certificate", "01"],
    );
    assert!(read.status.success(), "{}", text(&read));
    assert_eq!(
        String::from_utf8_lossy(&read.stdout).trim(),
        card.file()
            .keys
            .expect("keys")
            .authentication_certificate
            .trim()
    );
    let verify = opensc(
        "pkcs15-tool",
        &[
            "--reader",
            "0",
            "--verify-pin",
            "--auth-id",
            "01",
            "--pin",
            "583920",
        ],
    );
    assert!(verify.status.success(), "{}", text(&verify));
}
