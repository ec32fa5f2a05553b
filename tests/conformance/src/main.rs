//! `selfservice-conformance`: checks a portal against the published API contract
//! (`docs/portal-api.openapi.json`) the way the extension and host will use it: registration
//! and unlock over HTTP with the virtual PIV card on the real PC/SC stack and the real host,
//! and the abuse cases a portal must refuse. Prints a pass/fail table; exits 1 on a failure.
//!
//! - `run --portal URL --hooks COMMAND`: against your portal, with your test-mode hooks
//!   (`hooks.rs` says what they are).
//! - `reference [--defect code-reuse|receipt-unchecked]`: against the reference portal (`tests/portal`) in a world
//!   of its own; `--defect` starts it deliberately broken, to show the suite notices.
//! - `reference-hooks HOOK`: the reference portal's hooks (what `reference` passes as COMMAND).
//!
//! Needs `selfservice-vcard`, `smartcard-selfservice` (and for `reference`,
//! `selfservice-portal`) beside it: `cargo xtask conformance` builds them.

mod hooks;
mod host;
mod reference_hooks;
mod suite;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Parser)]
#[command(about = "Checks a Smartcard Self-Service portal against the published API contract")]
struct Cli {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Against your portal, with your test-mode hooks.
    Run {
        /// The portal's base URL, e.g. https://selfservice.test.example.nhs.uk
        #[arg(long)]
        portal: String,
        /// The origin card proofs are bound to (default: the portal URL's origin).
        #[arg(long)]
        origin: Option<String>,
        /// The hooks command, run through `sh -c` as `COMMAND HOOK` (see the README).
        #[arg(long)]
        hooks: String,
        /// Issue the virtual card from the CA in this folder (made on first use; trust its
        /// `ca.pem` once in your test portal) instead of a new CA each run.
        #[arg(long)]
        ca_dir: Option<PathBuf>,
    },
    /// Against the reference portal in a world of its own.
    Reference {
        /// Start the reference portal with a deliberate defect (test mode): `code-reuse`,
        /// `receipt-unchecked`.
        #[arg(long)]
        defect: Option<String>,
        /// Issue the world's cards from the CA in this folder (as `run --ca-dir`).
        #[arg(long)]
        ca_dir: Option<PathBuf>,
    },
    /// The reference portal's hooks, for `reference` (reads SMARTCARD_SELFSERVICE_WORLD).
    ReferenceHooks { hook: String },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.action {
        Action::Run {
            portal,
            origin,
            hooks,
            ca_dir,
        } => World::up(false, None, ca_dir.as_deref()).and_then(|world| {
            let origin = match origin {
                Some(origin) => origin,
                None => url::Url::parse(&portal)
                    .context("--portal is not a URL")?
                    .origin()
                    .ascii_serialization(),
            };
            check(&world, &portal, &origin, &hooks::Hooks::new(hooks))
        }),
        Action::Reference { defect, ca_dir } => {
            World::up(true, defect.as_deref(), ca_dir.as_deref()).and_then(|world| {
                let url = world.var("SMARTCARD_SELFSERVICE_PORTAL_URL")?;
                let program = std::env::current_exe()?;
                let hooks = hooks::Hooks::new(format!(
                    "SMARTCARD_SELFSERVICE_WORLD='{}' '{}' reference-hooks",
                    world.var("SMARTCARD_SELFSERVICE_WORLD")?,
                    program.display()
                ));
                check(&world, &url, &url, &hooks)
            })
        }
        Action::ReferenceHooks { hook } => reference_hooks::run(&hook).map(|()| 0),
    };
    match outcome {
        Ok(0) => std::process::ExitCode::SUCCESS,
        Ok(_) => std::process::ExitCode::FAILURE,
        Err(error) => {
            eprintln!("selfservice-conformance: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Enrols the world's card through the hooks, starts the host configured for this portal,
/// runs the checks and prints the table: the number of failures.
fn check(world: &World, portal: &str, origin: &str, hooks: &hooks::Hooks) -> Result<usize> {
    let card = world.card()?;
    hooks.enrol(&card).context("enrolling the card")?;
    let public_key = hooks.public_key()?;
    let state = tempfile::tempdir()?;
    let config = state.path().join("host-config.json");
    std::fs::write(
        &config,
        json!({
            "portalOrigins": [origin, suite::OTHER_ORIGIN],
            "portalPublicKey": public_key,
        })
        .to_string(),
    )?;
    let mut host = host::Host::start(
        &sibling("smartcard-selfservice")?,
        Path::new(&world.var("PCSCLITE_CSOCK_NAME")?),
        &config,
        state.path(),
    )?;
    eprintln!("conformance: {portal} (origin {origin})");
    let mut run = suite::Run::new(portal, origin, &mut host, hooks, &card);
    let outcomes = suite::run(&mut run);
    let (table, failed) = suite::table(&outcomes);
    print!("{table}");
    Ok(failed)
}

fn sibling(name: &str) -> Result<PathBuf> {
    let program = std::env::current_exe()?.with_file_name(name);
    if !program.exists() {
        bail!(
            "{} is missing: build it first (cargo xtask conformance does)",
            program.display()
        );
    }
    Ok(program)
}

/// A world of pcscd, vpcd and the virtual card (slot 0, unlocked), and for `reference` the
/// reference portal with its SMTP sink; taken down when dropped.
struct World {
    vars: HashMap<String, String>,
}

impl World {
    fn up(with_portal: bool, defect: Option<&str>, ca_dir: Option<&Path>) -> Result<World> {
        let mut command = Command::new(sibling("selfservice-vcard")?);
        if let Some(dir) = ca_dir {
            command.env(selfservice_vcard::world::TEST_CA_DIR_VARIABLE, dir);
        }
        command.args(["world", "up", "--slot0", "unlocked"]);
        if !with_portal {
            command.arg("--no-portal");
        } else {
            sibling("selfservice-portal")?;
        }
        if let Some(defect) = defect {
            command.env("SMARTCARD_SELFSERVICE_PORTAL_TEST_DEFECT", defect);
        }
        let vars = selfservice_vcard::world::up_by_command(&mut command)?;
        Ok(World { vars })
    }

    fn var(&self, name: &str) -> Result<String> {
        self.vars
            .get(name)
            .cloned()
            .with_context(|| format!("the world did not export {name}"))
    }

    /// The card as the `enrol` hook takes it, from the world's card file and CA.
    fn card(&self) -> Result<serde_json::Value> {
        let file = selfservice_vcard::card_file::CardFile::load(&PathBuf::from(
            self.var("SMARTCARD_SELFSERVICE_VCARD_FILE_0")?,
        ))?;
        let state = selfservice_vcard::world::WorldState::load(Path::new(
            &self.var("SMARTCARD_SELFSERVICE_WORLD")?,
        ))?;
        let keys = file.keys.as_ref().context("the card has no keys")?;
        Ok(json!({
            "caCertificate": std::fs::read_to_string(&state.ca_certificate)?,
            "guid": file.guid,
            "uuid": file.uuid,
            "holderName": file.holder_name,
            "emailOnFile": format!("conformance.{}@nhs.net", &file.guid[..8]),
            "puk": file.puk,
            "certificate9a": keys.authentication_certificate,
            "certificate9e": keys.card_authentication_certificate,
        }))
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let (Ok(program), Some(dir)) = (
            sibling("selfservice-vcard"),
            self.vars.get("SMARTCARD_SELFSERVICE_WORLD"),
        ) {
            let _ = Command::new(program)
                .args(["world", "down", "--dir", dir])
                .status();
        }
    }
}
