//! IT's side of the binary: install, uninstall, doctor, --version.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str], home: &Path, world: Option<&World>) -> Output {
    let mut command = Command::new(PROGRAM);
    command
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME");
    if let Some(world) = world {
        command.env("PCSCLITE_CSOCK_NAME", world.socket()).env(
            "SMARTCARD_SELFSERVICE_CONFIG",
            world.dir.path().join("config.json"),
        );
    }
    command.output().expect("runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn version_prints_the_version() {
    let home = tempfile::tempdir().expect("home");
    let output = run(&["--version"], home.path(), None);
    assert!(output.status.success());
    assert!(stdout(&output).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn install_for_a_browser_profile_writes_manifests_pointing_here_and_uninstall_removes_them() {
    let home = tempfile::tempdir().expect("home");
    let profile = tempfile::tempdir().expect("profile");
    let output = run(
        &[
            "install",
            "--browser",
            "chromium",
            "--browser",
            "firefox",
            "--browser-profile",
            &profile.path().to_string_lossy(),
        ],
        home.path(),
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let chromium = profile
        .path()
        .join("NativeMessagingHosts/smartcard_selfservice.json");
    let firefox = profile
        .path()
        .join(".mozilla/native-messaging-hosts/smartcard_selfservice.json");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&chromium).expect("chromium")).expect("json");
    assert_eq!(
        manifest["path"],
        std::fs::canonicalize(PROGRAM)
            .expect("path")
            .to_string_lossy()
            .as_ref()
    );
    assert_eq!(
        manifest["allowed_origins"][0],
        selfservice_rules::names::chromium_extension_origin()
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&firefox).expect("firefox")).expect("json");
    assert_eq!(
        manifest["allowed_extensions"][0],
        selfservice_rules::names::FIREFOX_ADDON_ID
    );
    let output = run(
        &[
            "uninstall",
            "--browser-profile",
            &profile.path().to_string_lossy(),
        ],
        home.path(),
        None,
    );
    assert!(output.status.success());
    assert!(!chromium.exists() && !firefox.exists());
}

#[test]
fn a_user_install_covers_every_browser_in_its_own_places() {
    let home = tempfile::tempdir().expect("home");
    const PLACES: [&str; 4] = [
        ".config/google-chrome/NativeMessagingHosts",
        ".config/chromium/NativeMessagingHosts",
        ".config/microsoft-edge/NativeMessagingHosts",
        ".mozilla/native-messaging-hosts",
    ];
    let manifest = |place: &str| home.path().join(place).join("smartcard_selfservice.json");
    let install = run(&["install", "--user"], home.path(), None);
    assert!(install.status.success());
    for place in PLACES {
        assert!(manifest(place).exists(), "{place}");
    }
    let uninstall = run(&["uninstall", "--user"], home.path(), None);
    assert!(
        uninstall.status.success(),
        "{}",
        String::from_utf8_lossy(&uninstall.stderr)
    );
    for place in PLACES {
        assert!(!manifest(place).exists(), "{place} left behind");
    }
}

#[test]
fn doctor_passes_a_ready_machine_and_names_each_problem_with_its_fix() {
    let mut world = World::new();
    world.insert("locked", 0);
    let home = tempfile::tempdir().expect("home");
    // Nothing registered yet: a problem, with the command that fixes it.
    let output = run(&["doctor"], home.path(), Some(&world));
    assert!(!output.status.success());
    let text = stdout(&output);
    assert!(text.contains("no browser can start the host"), "{text}");
    assert!(
        text.contains("fix: run: smartcard-selfservice install"),
        "{text}"
    );

    assert!(run(&["install", "--user"], home.path(), None)
        .status
        .success());
    // The card shows up once pcscd has polled the reader.
    let mut text = String::new();
    for _ in 0..50 {
        let output = run(&["doctor"], home.path(), Some(&world));
        text = stdout(&output);
        if output.status.success() && text.contains("Mr John Rigby") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(text.contains("the PC/SC service is running"), "{text}");
    assert!(
        text.contains("Mr John Rigby") && text.contains("locked"),
        "{text}"
    );
    assert!(
        text.contains("portal origins: https://portal.test"),
        "{text}"
    );
    assert!(text.contains("development override"), "{text}");
    assert!(text.contains("ready for Smartcard Self-Service"), "{text}");

    // A manifest pointing elsewhere is caught.
    let chrome = home
        .path()
        .join(".config/google-chrome/NativeMessagingHosts/smartcard_selfservice.json");
    let moved = std::fs::read_to_string(&chrome).expect("manifest").replace(
        &*std::fs::canonicalize(PROGRAM)
            .expect("path")
            .to_string_lossy(),
        "/opt/old/smartcard-selfservice",
    );
    std::fs::write(&chrome, moved).expect("write");
    let output = run(&["doctor", "--json"], home.path(), Some(&world));
    assert!(!output.status.success());
    let checks: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let problem = checks
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["level"] == "problem")
        .expect("a problem")
        .clone();
    assert_eq!(problem["area"], "browser Google Chrome");
    assert!(problem["finding"]
        .as_str()
        .unwrap_or_default()
        .contains("/opt/old"));
    assert!(problem["fix"].as_str().is_some());
}

#[test]
fn doctor_reports_a_stopped_service_and_a_missing_configuration() {
    let mut world = World::new();
    world.stop_pcscd();
    let home = tempfile::tempdir().expect("home");
    let output = Command::new(PROGRAM)
        .arg("doctor")
        .env("HOME", home.path())
        .env("PCSCLITE_CSOCK_NAME", world.socket())
        .env_remove("SMARTCARD_SELFSERVICE_CONFIG")
        .output()
        .expect("runs");
    let text = stdout(&output);
    assert!(!output.status.success());
    assert!(
        text.contains("PC/SC smart card service is not reachable"),
        "{text}"
    );
    assert!(
        text.contains("no machine configuration at /etc/smartcard-selfservice/config.json"),
        "{text}"
    );
}

/// A fleet tool's detection rule on a PC without a reader (Windows then stops its Smart Card
/// service): installed and configured is exit 2 for the full check and 0 for
/// `--installation`, never the 1 that would read as a failed install and reinstall forever.
#[test]
fn doctor_tells_a_missing_service_from_a_missing_installation() {
    let mut world = World::new();
    world.stop_pcscd();
    let home = tempfile::tempdir().expect("home");
    let code = |args: &[&str]| {
        let output = run(args, home.path(), Some(&world));
        (output.status.code(), stdout(&output))
    };
    // Not installed: a problem either way.
    assert_eq!(code(&["doctor"]).0, Some(1));
    let (installation, text) = code(&["doctor", "--installation"]);
    assert_eq!(installation, Some(1), "{text}");
    assert!(text.contains("no browser can start the host"), "{text}");

    assert!(run(&["install", "--user"], home.path(), None)
        .status
        .success());
    let (full, text) = code(&["doctor"]);
    assert_eq!(full, Some(2), "{text}");
    assert!(
        text.contains("PC/SC smart card service is not reachable"),
        "{text}"
    );
    assert!(text.contains("(exit code 2)"), "{text}");
    let (installation, text) = code(&["doctor", "--installation"]);
    assert_eq!(installation, Some(0), "{text}");
    assert!(
        !text.contains("PC/SC"),
        "the card side is not looked at: {text}"
    );
    assert!(text.contains("installed and configured"), "{text}");
    // Intune counts anything on standard error as "not detected".
    let output = run(&["doctor", "--installation"], home.path(), Some(&world));
    assert!(output.stderr.is_empty(), "{output:?}");
}
