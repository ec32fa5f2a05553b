//! `cargo xtask demo`, the main job: sets up only what it needs, then shows both journeys.
//!
//! - With no display (CI, a server), or with `--headless`: runs the registration and unlock
//!   journeys headless in Chromium and Firefox ESR against the whole world, printing each step
//!   and writing a screenshot of every step to target/demo-screenshots/. `--runs N` repeats
//!   them and reports how many passed.
//! - With a display: starts the world (pcscd + vpcd, an unlocked virtual card, the reference
//!   portal on its real clock with its mail sink, the control page, the host registered for a
//!   private browser profile) and opens Chromium (or Firefox ESR with `--firefox`) on the
//!   portal and the control page, for a person to drive. Ctrl-C (or closing the browser)
//!   stops everything it started.

use anyhow::{bail, Context, Result};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::setup::Need;
use crate::{cmd, extension, setup, wasm_pkg};

/// The extension's built-in portal address, so the person configures nothing.
const PORTAL_PORT: &str = "8640";
const CONTROL_PAGE: &str = "127.0.0.1:8641";

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub firefox: bool,
    pub headless: bool,
    pub runs: u32,
}

pub fn run(options: Options) -> Result<()> {
    setup::run(Need::Demo)?;
    announce_browsers();
    wasm_pkg::build()?;
    extension::build()?;
    cmd::step("cargo build --workspace");
    cmd::cargo(&["build", "--workspace"])?;
    let display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if display && !options.headless && options.runs <= 1 {
        interactive(options.firefox)
    } else {
        headless(options.runs.max(1))
    }
}

/// Prints the browsers and drivers a run uses, so a report names what it ran on.
pub fn announce_browsers() {
    let home = std::env::var("HOME").unwrap_or_default();
    let geckodriver = format!("{home}/.cargo/bin/geckodriver");
    let mut lines = Vec::new();
    for (program, args) in [
        ("chromium", &["--version"][..]),
        ("chromedriver", &["--version"][..]),
        ("firefox-esr", &["--version"][..]),
        (geckodriver.as_str(), &["--version"][..]),
    ] {
        let version = cmd::output(program, args)
            .and_then(|text| text.lines().next().map(str::trim).map(str::to_string))
            .unwrap_or_else(|| format!("{program}: not found"));
        lines.push(version);
    }
    cmd::step(&format!("browsers: {}", lines.join("; ")));
}

fn headless(runs: u32) -> Result<()> {
    let shots = cmd::root().join("target/demo-screenshots");
    cmd::step(&format!(
        "demo (headless): register, lock, unlock in Chromium and Firefox{}; screenshots in {}",
        if runs > 1 {
            format!(", {runs} times in a row")
        } else {
            String::new()
        },
        shots.display()
    ));
    let mut passed = 0;
    for run in 1..=runs {
        let started = Instant::now();
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(cmd::root())
            .env("SMARTCARD_SELFSERVICE_E2E_SCREENSHOTS", &shots)
            .args([
                "test",
                "--quiet",
                "--package",
                "selfservice-e2e",
                "--test",
                "journeys",
                "register_lock_and_unlock_with_every_detour",
                "--",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .status()?;
        let seconds = started.elapsed().as_secs();
        if status.success() {
            passed += 1;
        }
        if runs > 1 {
            eprintln!(
                "demo run {run} of {runs}: {} in {seconds} s ({passed} passed so far)",
                if status.success() { "passed" } else { "FAILED" }
            );
        }
    }
    println!("\nScreenshots of every step: {}", shots.display());
    if passed != runs {
        bail!(
            "the demo journeys failed in {} of {runs} runs",
            runs - passed
        );
    }
    if runs > 1 {
        println!("The demo passed {passed} of {runs} runs in both browsers.");
    }
    Ok(())
}

fn is_root() -> bool {
    cmd::output("id", &["-u"]).is_some_and(|uid| uid.trim() == "0")
}

fn interactive(firefox: bool) -> Result<()> {
    let root = cmd::root();
    let selfservice_vcard = root.join("target/debug/selfservice-vcard");
    for address in [format!("127.0.0.1:{PORTAL_PORT}"), CONTROL_PAGE.to_string()] {
        if std::net::TcpListener::bind(&address).is_err() {
            bail!("{address} is taken (is another demo running?); stop it and try again");
        }
    }
    cmd::step(
        "demo: starting the world (pcscd + vpcd, an unlocked card, the portal, the control page)",
    );
    let up = Command::new(&selfservice_vcard)
        .args([
            "world",
            "up",
            "--slot0",
            "unlocked",
            "--control-page",
            CONTROL_PAGE,
        ])
        .env("SMARTCARD_SELFSERVICE_PORTAL_PORT", PORTAL_PORT)
        // A person takes real minutes: the emailed code's 15 minutes run on the real clock.
        .env("SMARTCARD_SELFSERVICE_PORTAL_CLOCK", "real")
        .output()?;
    anyhow::ensure!(
        up.status.success(),
        "world up: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let vars: Vec<(String, String)> = String::from_utf8_lossy(&up.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect();
    let var = |name: &str| {
        vars.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let world = var("SMARTCARD_SELFSERVICE_WORLD");
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst)).context("Ctrl-C handler")?;
    }
    let outcome = (|| -> Result<()> {
        let profile = Path::new(&world).join("browser-profile");
        std::fs::create_dir_all(&profile)?;
        let status = Command::new(root.join("target/debug/smartcard-selfservice"))
            .args(["install", "--browser"])
            .arg(if firefox { "firefox" } else { "chromium" })
            .arg("--browser-profile")
            .arg(&profile)
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "registering the host failed");
        let portal = format!("{}/profile", var("SMARTCARD_SELFSERVICE_PORTAL_URL"));
        let control = var("CONTROL_PAGE_URL");
        let world_env: Vec<(String, String)> = vars
            .iter()
            .filter(|(k, _)| k == "PCSCLITE_CSOCK_NAME" || k == "SMARTCARD_SELFSERVICE_CONFIG")
            .cloned()
            .collect();
        let mut browser = if firefox {
            // web-ext (from npm) runs Firefox with the add-on in a fresh profile; HOME is where
            // Firefox looks for the host's manifest (.mozilla/native-messaging-hosts).
            let mut command = Command::new(root.join("node_modules/.bin/web-ext"));
            command
                .args([
                    "run",
                    "--no-reload",
                    "--no-input",
                    "--firefox",
                    "firefox-esr",
                ])
                .arg("--source-dir")
                .arg(root.join("extension/dist/firefox"))
                .args(["--start-url", &portal, "--start-url", &control])
                .env("HOME", &profile);
            command
        } else {
            let mut command = Command::new("chromium");
            command
                .arg(format!("--user-data-dir={}", profile.display()))
                .arg(format!(
                    "--load-extension={}",
                    root.join("extension/dist/chromium").display()
                ))
                .args(["--no-first-run", "--disable-background-networking"]);
            if is_root() {
                println!(
                    "Running as root: Chromium refuses its sandbox to root, so this demo starts it with --no-sandbox. Run the demo as a normal user to keep the sandbox."
                );
                command.arg("--no-sandbox");
            }
            command.args([&portal, &control]);
            command
        };
        // The browser's own chatter (and the host's log, which goes to the browser's stderr)
        // stays out of the instructions.
        let log = Path::new(&world).join("browser.log");
        let log_file = std::fs::File::create(&log)?;
        let mut browser = browser
            .envs(world_env)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            // Its own process group, so stopping the demo stops everything the browser started.
            .process_group(0)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {}",
                    if firefox {
                        "Firefox (web-ext)"
                    } else {
                        "Chromium"
                    }
                )
            })?;
        println!(
            "\n{} is open on two tabs:\n  the portal        {portal}\n  the control page  {control}\n",
            if firefox { "Firefox ESR" } else { "Chromium" }
        );
        println!("Try it as a nurse would:");
        println!(
            "  1. Portal tab: My Profile > Register. Passcode 583920; any four questions; the"
        );
        println!("     emailed code is on the control page's mailbox.");
        println!("  2. Control page: 'Lock it' types wrong passcodes until the card blocks.");
        println!(
            "  3. Portal tab: Smartcard Unlock > Start. Answer the questions, enter the code,"
        );
        println!("     choose a new passcode; take the card out and put it back when asked.");
        println!(
            "The browser's and the host's log: {}. Ctrl-C here stops everything.",
            log.display()
        );
        while !stop.load(Ordering::SeqCst) {
            if browser.try_wait()?.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let group = format!("-{}", browser.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = browser.wait();
        Ok(())
    })();
    cmd::step("demo: stopping everything the world started");
    let _ = Command::new(&selfservice_vcard)
        .args(["world", "down", "--dir", &world])
        .status();
    outcome
}
