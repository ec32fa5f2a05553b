//! The suite against the reference portal passes, and against the reference portal with a
//! deliberate defect (an unlock code accepted twice) fails on exactly that check. Needs the
//! workspace's binaries (`cargo test --workspace` builds them).

use std::process::Command;

fn conformance(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_selfservice-conformance"))
        .args(args)
        .output()
        .expect("selfservice-conformance");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    (output.status.success(), stdout)
}

fn row<'a>(table: &'a str, check: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(&format!("| {check} |")))
        .unwrap_or_else(|| panic!("no row for {check} in\n{table}"))
}

#[test]
fn the_reference_portal_passes_every_check() {
    let (passed, table) = conformance(&["reference"]);
    assert!(passed, "{table}");
    for check in [
        "bad-request",
        "wrong-origin",
        "wrong-purpose",
        "register",
        "wrong-code",
        "unlock",
        "lockout",
        "throttle",
    ] {
        assert!(row(&table, check).ends_with("| pass |"), "{check}: {table}");
    }
    assert!(table.contains("8 passed, 0 failed"), "{table}");
}

#[test]
fn a_portal_that_takes_a_code_twice_fails_the_unlock_check_and_only_that() {
    let (passed, table) = conformance(&["reference", "--defect", "code-reuse"]);
    assert!(!passed, "{table}");
    let unlock = row(&table, "unlock");
    assert!(
        unlock.contains("FAIL") && unlock.contains("an unlock code used twice: accepted"),
        "{unlock}"
    );
    assert!(table.contains("7 passed, 1 failed"), "{table}");
}

/// What a portal team does: their portal runs on its own (here the reference portal in a world
/// of its own, trusting a CA kept in a folder), and `run` checks it through their hooks,
/// issuing its card from that same CA.
#[test]
fn a_portal_running_on_its_own_is_checked_through_its_hooks() {
    let suite = std::path::PathBuf::from(env!("CARGO_BIN_EXE_selfservice-conformance"));
    let vcard = suite.with_file_name("selfservice-vcard");
    let ca = tempfile::tempdir().expect("ca dir");
    let vars = selfservice_vcard::world::up_by_command(
        Command::new(&vcard)
            .args(["world", "up"])
            .env(selfservice_vcard::world::TEST_CA_DIR_VARIABLE, ca.path()),
    )
    .expect("world up");
    let world = vars["SMARTCARD_SELFSERVICE_WORLD"].clone();
    let hooks = format!(
        "SMARTCARD_SELFSERVICE_WORLD='{world}' '{}' reference-hooks",
        suite.display()
    );
    let (passed, table) = conformance(&[
        "run",
        "--portal",
        &vars["SMARTCARD_SELFSERVICE_PORTAL_URL"],
        "--hooks",
        &hooks,
        "--ca-dir",
        &ca.path().to_string_lossy(),
    ]);
    let _ = Command::new(&vcard)
        .args(["world", "down", "--dir", &world])
        .status();
    assert!(passed, "{table}");
    assert!(table.contains("8 passed, 0 failed"), "{table}");
}

/// A portal that takes a receipt without checking the card's signature would move its PUK
/// record on a forgery: the suite's forged receipt is valid JSON and base64url (only the
/// signature is wrong), so only that check refuses it.
#[test]
fn a_portal_that_skips_the_receipt_signature_fails_the_unlock_check_and_only_that() {
    let (passed, table) = conformance(&["reference", "--defect", "receipt-unchecked"]);
    assert!(!passed, "{table}");
    let unlock = row(&table, "unlock");
    assert!(
        unlock.contains("FAIL") && unlock.contains("a receipt the card did not sign: accepted"),
        "{unlock}"
    );
    assert!(table.contains("7 passed, 1 failed"), "{table}");
}
