//! `cargo xtask demo`, the main job: sets up what it needs, then shows both journeys.
//!
//! - With no display (CI, a server): runs the registration and unlock journeys headless in
//!   Chromium and Firefox ESR against the whole world, printing each step and writing a
//!   screenshot of every step to target/demo-screenshots/.
//! - With a display: starts the world (pcscd + vpcd, a virtual card, the reference portal with
//!   its mail sink, the host registered for a private browser profile) and opens Chromium with
//!   the extension on the portal page. Ctrl-C (or closing the browser) stops everything.

use anyhow::{Context, Result};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::{cmd, extension, setup, wasm_pkg};

pub fn run() -> Result<()> {
    setup::run()?;
    wasm_pkg::build()?;
    extension::build()?;
    cmd::step("cargo build --workspace");
    cmd::cargo(&["build", "--workspace"])?;
    if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some() {
        interactive()
    } else {
        headless()
    }
}

fn headless() -> Result<()> {
    let shots = cmd::root().join("target/demo-screenshots");
    cmd::step(&format!(
        "demo (no display): register, lock, unlock in Chromium and Firefox; screenshots in {}",
        shots.display()
    ));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(cmd::root())
        .env("E2E_SCREENSHOTS", &shots)
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
    anyhow::ensure!(status.success(), "the demo journeys failed");
    println!("\nScreenshots of every step: {}", shots.display());
    Ok(())
}

fn interactive() -> Result<()> {
    let root = cmd::root();
    let virtual_card = root.join("target/debug/virtual-card");
    cmd::step(
        "demo: starting the world (pcscd + vpcd, a locked card, the portal on 127.0.0.1:8640)",
    );
    let up = Command::new(&virtual_card)
        .args(["world", "up", "--slot0", "locked"])
        .env("SELFSERVICE_PORTAL_PORT", "8640")
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
    let world = var("SELFSERVICE_WORLD");
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst)).context("Ctrl-C handler")?;
    }
    let outcome = (|| -> Result<()> {
        let profile = std::path::Path::new(&world).join("chromium-profile");
        let status = Command::new(root.join("target/debug/smartcard-selfservice"))
            .args(["install", "--browser", "chromium", "--browser-profile"])
            .arg(&profile)
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "registering the host failed");
        println!(
            "The locked card belongs to Mr John Rigby; he has not registered yet, so start with"
        );
        println!("'My Profile > Register' on the card in the other slot, or see the outbox at {}/outbox.", var("PORTAL_URL"));
        let mut browser = Command::new("chromium")
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!(
                "--load-extension={}",
                root.join("extension/dist/chromium").display()
            ))
            .args(["--no-first-run", "--disable-background-networking"])
            .arg(format!("{}/unlock", var("PORTAL_URL")))
            .envs(
                vars.iter()
                    .filter(|(k, _)| {
                        k == "PCSCLITE_CSOCK_NAME" || k == "SMARTCARD_SELFSERVICE_CONFIG"
                    })
                    .cloned(),
            )
            .spawn()
            .context("starting chromium")?;
        println!("Chromium is open on the portal. Ctrl-C here stops everything.");
        while !stop.load(Ordering::SeqCst) {
            if browser.try_wait()?.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let _ = browser.kill();
        let _ = browser.wait();
        Ok(())
    })();
    cmd::step("demo: stopping everything the world started");
    let _ = Command::new(&virtual_card)
        .args(["world", "down", "--dir", &world])
        .status();
    outcome
}
