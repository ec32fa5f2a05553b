//! The hooks for the reference portal (`tests/portal`) in a world from `selfservice-vcard
//! world up`: what a portal team writes for their own test double, here as
//! `selfservice-conformance reference-hooks <hook>`. The world is named by
//! `SMARTCARD_SELFSERVICE_WORLD`; the portal binary sits beside this one.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use selfservice_vcard::world::{WorldPortal, WorldState, WORLD_VARIABLE};

fn portal() -> Result<(WorldState, WorldPortal)> {
    let dir = std::env::var_os(WORLD_VARIABLE).context("SMARTCARD_SELFSERVICE_WORLD is not set")?;
    let state = WorldState::load(Path::new(&dir))?;
    let portal = state
        .portal
        .clone()
        .context("this world has no reference portal")?;
    Ok((state, portal))
}

pub fn run(hook: &str) -> Result<()> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let input: Value = serde_json::from_str(&input).context("the hook's input")?;
    let (state, portal) = portal()?;
    let answer = match hook {
        "enrol" => enrol(&state, &portal, &input)?,
        "code" => {
            let email = input["email"].as_str().context("no email")?;
            json!({ "code": newest_code(&portal.mail_dir, email)? })
        }
        "public-key" => json!({ "publicKey": portal.public_key }),
        other => bail!("no hook called {other}"),
    };
    println!("{answer}");
    Ok(())
}

fn enrol(state: &WorldState, portal: &WorldPortal, card: &Value) -> Result<Value> {
    let text = |field: &str| -> Result<String> {
        card[field]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("no {field}"))
    };
    // The world's portal already trusts the world's CA; a different one would be a mistake.
    let ca = std::fs::read_to_string(&state.ca_certificate)?;
    if ca.trim() != text("caCertificate")?.trim() {
        bail!("the card's CA is not the one this portal trusts");
    }
    let dir = tempfile::tempdir()?;
    let pem = |name: &str, field: &str| -> Result<PathBuf> {
        let path = dir.path().join(name);
        std::fs::write(&path, text(field)?)?;
        Ok(path)
    };
    let certificate_9a = pem("9a.pem", "certificate9a")?;
    let certificate_9e = pem("9e.pem", "certificate9e")?;
    let program = std::env::current_exe()?.with_file_name("selfservice-portal");
    let status = Command::new(program)
        .arg("--config")
        .arg(&portal.config)
        .args([
            "enrol",
            "--guid",
            &text("guid")?,
            "--holder",
            &text("holderName")?,
        ])
        .args(["--uuid", &text("uuid")?, "--puk", &text("puk")?])
        .args(["--email-on-file", &text("emailOnFile")?])
        .arg("--certificate-9a")
        .arg(certificate_9a)
        .arg("--certificate-9e")
        .arg(certificate_9e)
        .stdout(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        bail!("selfservice-portal enrol failed");
    }
    Ok(json!({}))
}

/// The code in the newest message to `email` in the world's SMTP sink.
fn newest_code(mail_dir: &Path, email: &str) -> Result<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(mail_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    for file in files.iter().rev() {
        let data = std::fs::read_to_string(file)?;
        let to_them = data
            .lines()
            .take_while(|l| !l.is_empty())
            .any(|l| l.to_ascii_lowercase().starts_with("to:") && l.contains(email));
        if !to_them {
            continue;
        }
        let mail = selfservice_vcard::smtp_sink::Mail {
            from: String::new(),
            to: vec![email.to_string()],
            data,
        };
        if let Some(code) = mail.code() {
            return Ok(code);
        }
    }
    bail!("no code has been emailed to {email}")
}
