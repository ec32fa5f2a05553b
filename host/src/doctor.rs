//! `doctor`: is this machine ready? The PC/SC service, readers and cards, each browser's
//! registration (present, valid, pointing at this binary, with our ids), and the machine
//! configuration. Every problem comes with its fix; the exit code says whether there was one.

use serde::Serialize;
use std::path::Path;

use crate::browser_policy;
use crate::commands::{self, Host};
use crate::config::{ConfigSource, Overrides, OVERRIDE_VARIABLE};
use crate::install::{self, Browser, Scope, ALL_BROWSERS};
use selfservice_rules::names;
use selfservice_rules::protocol::{ExpirySource, PasscodeState, PinRuleSource, ServiceState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Problem,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub area: String,
    pub level: Level,
    pub finding: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(area: &str, level: Level, finding: impl Into<String>, fix: Option<&str>) -> Check {
    Check {
        area: area.to_string(),
        level,
        finding: finding.into(),
        fix: fix.map(str::to_string),
    }
}

/// What `doctor` looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Everything: the card side (PC/SC service, readers, cards) and the installation.
    All,
    /// The installation only (registrations, configuration, the unlock record): what a fleet
    /// tool's detection rule asks, whether or not a reader is plugged in.
    Installation,
}

/// The card side's areas: on Windows the Smart Card service runs on demand (`start="demand"`,
/// https://learn.microsoft.com/windows/security/identity-protection/smart-cards/smart-card-smart-cards-for-windows-service)
/// and is stopped while no reader is connected, so a PC without a reader is not a failed install.
const CARD_SIDE: [&str; 2] = ["pc/sc", "readers"];

pub fn run(host: &Host, program: &Path, scope: Checked) -> Vec<Check> {
    let mut checks = Vec::new();
    if scope == Checked::All {
        pcsc_checks(host, &mut checks);
    }
    browser_checks(program, &mut checks);
    config_checks(host, &mut checks);
    checks
}

/// `doctor`'s exit code (installers/README.md, "Checking a machine").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 0: ready (or, with `--installation`, installed and configured).
    Ready = 0,
    /// 1: the installation or configuration has a problem.
    Problem = 1,
    /// 2: installed and configured, but the card side is not ready (no PC/SC service: on
    /// Windows, usually no reader plugged in).
    CardSideNotReady = 2,
}

pub fn verdict(checks: &[Check]) -> Verdict {
    let problems = || checks.iter().filter(|c| c.level == Level::Problem);
    if problems().any(|c| !CARD_SIDE.contains(&c.area.as_str())) {
        Verdict::Problem
    } else if problems().next().is_some() {
        Verdict::CardSideNotReady
    } else {
        Verdict::Ready
    }
}

fn pcsc_checks(host: &Host, checks: &mut Vec<Check>) {
    let status = commands::status::run(host, &Default::default());
    if status.service == ServiceState::Unavailable {
        checks.push(check(
            "pc/sc",
            Level::Problem,
            "the PC/SC smart card service is not reachable",
            Some(if cfg!(windows) {
                "start the 'Smart Card' service (SCardSvr) and set it to start automatically"
            } else {
                "install and start pcscd (apt-get install pcscd; systemctl enable --now pcscd.socket)"
            }),
        ));
        return;
    }
    checks.push(check(
        "pc/sc",
        Level::Ok,
        "the PC/SC service is running",
        None,
    ));
    if status.readers.is_empty() {
        checks.push(check(
            "readers",
            Level::Warning,
            "no card reader is connected",
            Some("plug in the smartcard reader; for a keyboard or laptop reader, check its driver"),
        ));
    }
    for reader in &status.readers {
        let finding = match &reader.card {
            None => format!("reader '{}': no readable card", reader.name),
            Some(card) => format!(
                "reader '{}': {}, card {} of {}, expires {} ({}), passcode {}; passcode rule {}: {}",
                reader.name,
                card.card_name.as_deref().unwrap_or("PIV card"),
                card.guid,
                card.holder_name.as_deref().unwrap_or("unknown holder"),
                card.expiry.as_deref().unwrap_or("unknown"),
                match card.expiry_source {
                    Some(ExpirySource::Chuid) => "from the card's CHUID",
                    Some(ExpirySource::Certificate) =>
                        "from its certificate: the CHUID has no usable date",
                    None => "neither the CHUID nor a certificate gives it",
                },
                match card.passcode {
                    PasscodeState::Usable {
                        retries_left: Some(retries_left),
                    } => format!("usable ({retries_left} tries left)"),
                    PasscodeState::Usable { retries_left: None } =>
                        "usable (verified by another program, so the card hides its count)"
                            .to_string(),
                    PasscodeState::Blocked => "locked".to_string(),
                },
                match card.pin_rule_source {
                    Some(PinRuleSource::Configuration) => "(from this machine's cardPinRule)",
                    Some(PinRuleSource::KnownCard) => "(known for this card by its ATR)",
                    Some(PinRuleSource::PivDefault) | None =>
                        "(the PIV default: this card is not a known NHS generation and cardPinRule is not set)",
                },
                card.passcode_rule.description,
            ),
        };
        checks.push(check("readers", Level::Ok, finding, None));
    }
}

fn browser_checks(program: &Path, checks: &mut Vec<Check>) {
    let mut registered = 0;
    for browser in ALL_BROWSERS {
        let area = format!("browser {}", browser.label());
        let policy = browser_policy::read(browser);
        if policy.blocks_our_host() {
            checks.push(check(
                &area,
                Level::Problem,
                format!(
                    "the browser policy refuses the host: NativeMessagingBlocklist {:?} without {} in NativeMessagingAllowlist ({})",
                    policy.blocklist.clone().unwrap_or_default(),
                    names::NATIVE_HOST_NAME,
                    policy.sources.join(", ")
                ),
                Some(&format!(
                    "add {} to NativeMessagingAllowlist in this browser's policy (installers/README.md)",
                    names::NATIVE_HOST_NAME
                )),
            ));
        }
        let scopes: &[Scope] = if policy.ignores_user_level_hosts() {
            &[Scope::System]
        } else {
            &[Scope::User, Scope::System]
        };
        let found = scopes.iter().find_map(|&scope| {
            install::registered_manifest(browser, scope).map(|path| (scope, path))
        });
        let Some((scope, path)) = found else {
            match install::registered_manifest(browser, Scope::User) {
                Some(path) if policy.ignores_user_level_hosts() => checks.push(check(
                    &area,
                    Level::Problem,
                    format!(
                        "registered for this user only ({}), and the browser policy NativeMessagingUserLevelHosts is false, so the browser ignores it ({})",
                        path.display(),
                        policy.sources.join(", ")
                    ),
                    Some("run: smartcard-selfservice install --system (or install the package)"),
                )),
                _ => checks.push(check(
                    &area,
                    Level::Warning,
                    "the host is not registered (fine if this browser is not used)",
                    Some("run: smartcard-selfservice install --system (or reinstall the package)"),
                )),
            }
            continue;
        };
        registered += 1;
        match manifest_problem(browser, &path, program) {
            None => checks.push(check(
                &area,
                Level::Ok,
                format!("registered ({}) at {}", scope_name(scope), path.display()),
                None,
            )),
            Some(problem) => checks.push(check(
                &area,
                Level::Problem,
                format!("{}: {problem}", path.display()),
                Some("run: smartcard-selfservice install (with --system for all users)"),
            )),
        }
    }
    if registered == 0 {
        checks.push(check(
            "browsers",
            Level::Problem,
            "no browser can start the host",
            Some("run: smartcard-selfservice install --system, or install the package for this platform"),
        ));
    }
}

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::User => "this user",
        Scope::System => "all users",
    }
}

/// What is wrong with an installed manifest, if anything.
fn manifest_problem(browser: Browser, path: &Path, program: &Path) -> Option<String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return Some(format!("cannot be read: {e}")),
    };
    let manifest: serde_json::Value = match serde_json::from_str(&text) {
        Ok(m) => m,
        Err(e) => return Some(format!("is not valid JSON: {e}")),
    };
    if manifest["name"] != names::NATIVE_HOST_NAME {
        return Some(format!("has the wrong name {}", manifest["name"]));
    }
    let path_in_manifest = manifest["path"].as_str().unwrap_or_default();
    // A relative path is relative to the manifest's folder, as browsers read it (the MSI's
    // manifests name the program that way), never to wherever doctor was started.
    let named = Path::new(path_in_manifest);
    let resolved = match path.parent() {
        Some(folder) if named.is_relative() => folder.join(named),
        _ => named.to_path_buf(),
    };
    let same_program = matches!(
        (std::fs::canonicalize(&resolved), std::fs::canonicalize(program)),
        (Ok(a), Ok(b)) if a == b
    );
    if !same_program {
        return Some(format!(
            "points at '{path_in_manifest}', not at {}",
            program.display()
        ));
    }
    let expected = install::manifest(browser, program);
    let key = if browser == Browser::Firefox {
        "allowed_extensions"
    } else {
        "allowed_origins"
    };
    if manifest[key] != expected[key] {
        return Some(format!(
            "allows {} instead of {}",
            manifest[key], expected[key]
        ));
    }
    None
}

fn config_checks(host: &Host, checks: &mut Vec<Check>) {
    let loaded = &host.config;
    match &loaded.source {
        ConfigSource::Override(_) => checks.push(check(
            "configuration",
            Level::Warning,
            format!("read from {} (a development override)", loaded.source),
            Some(&format!("unset {OVERRIDE_VARIABLE} outside development and tests")),
        )),
        ConfigSource::Missing(place) => checks.push(check(
            "configuration",
            Level::Problem,
            format!("no machine configuration at {place}"),
            Some("deploy the configuration (portal origins and portal public key) with the installer or policy"),
        )),
        source => checks.push(check("configuration", Level::Ok, format!("read from {source}"), None)),
    }
    checks.push(match (loaded.overrides, &loaded.ignored_override) {
        (_, Some(path)) => check(
            "development overrides",
            Level::Warning,
            format!("{OVERRIDE_VARIABLE} names {} but is ignored: this release build honours development overrides only when the machine configuration allows them", path.display()),
            Some(&format!("unset {OVERRIDE_VARIABLE}")),
        ),
        (Overrides::DebugBuild, None) => check(
            "development overrides",
            Level::Warning,
            "honoured: this is a debug build (the environment may replace the configuration, log and state folder)".to_string(),
            Some("install a release build on staff machines"),
        ),
        (Overrides::AllowedByMachine, None) => check(
            "development overrides",
            Level::Warning,
            "honoured: the machine configuration sets allowDevelopmentOverrides".to_string(),
            Some("remove allowDevelopmentOverrides outside development machines"),
        ),
        (Overrides::NotAllowed, None) => check(
            "development overrides",
            Level::Ok,
            "not honoured (release build; the machine configuration does not allow them)".to_string(),
            None,
        ),
    });
    match host.journal.check() {
        Ok(cards) => checks.push(check(
            "unlock record",
            Level::Ok,
            format!("{} readable ({cards} cards with unfinished knowledge)", host.journal.path().display()),
            None,
        )),
        Err(error) => checks.push(check(
            "unlock record",
            Level::Problem,
            error.to_string(),
            Some("unlocks on this computer stop until it is readable; if it is damaged, keep a copy for the support team, then remove it"),
        )),
    }
    if let Some(error) = &loaded.error {
        checks.push(check(
            "configuration",
            Level::Problem,
            error.clone(),
            Some("correct the configuration; see installers/README.md"),
        ));
    }
    for problem in loaded.config.problems() {
        checks.push(check(
            "configuration",
            Level::Problem,
            problem,
            Some("set PortalOrigins and PortalPublicKey (MSI properties, /etc file or policy)"),
        ));
    }
    if loaded.config.problems().is_empty() {
        checks.push(check(
            "configuration",
            Level::Ok,
            format!(
                "portal origins: {}",
                loaded.config.portal_origins.join(", ")
            ),
            None,
        ));
    }
}

pub fn print_text(checks: &[Check], scope: Checked) {
    for c in checks {
        let mark = match c.level {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Problem => "PROBLEM",
        };
        println!("[{mark}] {}: {}", c.area, c.finding);
        if let Some(fix) = &c.fix {
            println!("        fix: {fix}");
        }
    }
    let problems = checks.iter().filter(|c| c.level == Level::Problem).count();
    match (verdict(checks), scope) {
        (Verdict::Ready, Checked::All) => {
            println!("\nThis machine is ready for Smartcard Self-Service.")
        }
        (Verdict::Ready, Checked::Installation) => {
            println!("\nSmartcard Self-Service is installed and configured.")
        }
        (Verdict::CardSideNotReady, _) => println!(
            "\nSmartcard Self-Service is installed and configured; the smart card service is not running (exit code 2)."
        ),
        (Verdict::Problem, _) => println!("\n{problems} problem(s) to fix."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest as the MSI writes it: the program named relative to the manifest's folder.
    fn installed(dir: &Path, path_in_manifest: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let program = dir.join("smartcard-selfservice.exe");
        std::fs::write(&program, b"").expect("program");
        let mut manifest = install::manifest(Browser::Edge, &program);
        manifest["path"] = serde_json::json!(path_in_manifest);
        let path = dir.join("edge.json");
        std::fs::write(&path, manifest.to_string()).expect("manifest");
        (path, program)
    }

    #[test]
    fn a_relative_program_path_is_read_from_the_manifests_folder() {
        let dir = tempfile::tempdir().expect("dir");
        let (manifest, program) = installed(dir.path(), "smartcard-selfservice.exe");
        // doctor is run from anywhere but the install folder.
        assert_ne!(std::env::current_dir().ok().as_deref(), Some(dir.path()));
        assert_eq!(manifest_problem(Browser::Edge, &manifest, &program), None);
    }

    #[test]
    fn a_manifest_naming_a_missing_program_is_a_problem() {
        let dir = tempfile::tempdir().expect("dir");
        let (manifest, _) = installed(dir.path(), "gone.exe");
        let elsewhere = dir.path().join("also-gone.exe");
        let problem = manifest_problem(Browser::Edge, &manifest, &elsewhere);
        assert!(problem.is_some_and(|p| p.contains("gone.exe")));
    }
}
