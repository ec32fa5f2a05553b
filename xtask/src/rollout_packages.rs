//! The packages the rollout tests install by policy (`tests/e2e/src/rollout.rs`), in
//! `target/rollout/`: the CRX packed by Chromium and its `updates.xml`, both naming the
//! published update URL the example policies name (the test serves them on loopback and
//! rewrites that URL, as it rewrites the policies), the CRX's id in `chromium/id`, and the
//! unsigned xpi in `firefox/`. Without `SMARTCARD_SELFSERVICE_CRX_KEY` the CRX is signed
//! with the throwaway test key, so its id is not the published one; the tests read it.

use anyhow::{Context, Result};

use crate::cmd;
use crate::crx::{pack, DEFAULT_UPDATE_BASE};

pub fn packages(version: &str) -> Result<()> {
    cmd::step(
        "rollout packages: the CRX, updates.xml and xpi the policy tests install (target/rollout)",
    );
    let out = cmd::root().join("target/rollout");
    let _ = std::fs::remove_dir_all(&out);
    let chromium = out.join("chromium");
    let packed = pack(version, &chromium, DEFAULT_UPDATE_BASE)?;
    std::fs::write(chromium.join("id"), &packed.id)?;
    let firefox = out.join("firefox");
    std::fs::create_dir_all(&firefox)?;
    cmd::run(
        "node_modules/.bin/web-ext",
        &[
            "build",
            "--source-dir",
            "extension/dist/firefox",
            "--artifacts-dir",
            firefox.to_str().context("non-UTF-8 path")?,
            "--filename",
            "smartcard-selfservice.xpi",
            "--overwrite-dest",
            "--no-input",
        ],
    )?;
    println!(
        "{} (id {}) and {}",
        packed.crx.display(),
        packed.id,
        firefox.join("smartcard-selfservice.xpi").display()
    );
    Ok(())
}
