//! The macOS payload: the layout a pkg installs, checked file by file.

use anyhow::{ensure, Context, Result};
use std::path::Path;

use super::*;
use crate::cmd;

/// The macOS payload staged here (with the Linux binary standing in for the Mac one): paths,
/// modes, and manifests that are valid and point at the installed program.
pub fn check_macos_payload(host: &Path) -> Result<()> {
    cmd::step("installers: macOS payload staged and checked");
    let out = root().join("target/macos-stage");
    cmd::run(
        "sh",
        &[
            "installers/macos/stage-payload.sh",
            host.to_str().context("path")?,
            out.to_str().context("path")?,
        ],
    )?;
    let payload = out.join("payload");
    let program = "/Library/Application Support/Smartcard Self-Service/smartcard-selfservice";
    let mode = |p: &Path| -> Result<u32> {
        use std::os::unix::fs::PermissionsExt;
        Ok(std::fs::metadata(p)?.permissions().mode() & 0o777)
    };
    ensure!(
        mode(&payload.join(program.trim_start_matches('/')))? == 0o755,
        "the program is 0755"
    );
    for (dir, key) in [
        (
            "Library/Google/Chrome/NativeMessagingHosts",
            "allowed_origins",
        ),
        (
            "Library/Microsoft/Edge/NativeMessagingHosts",
            "allowed_origins",
        ),
        (
            "Library/Application Support/Chromium/NativeMessagingHosts",
            "allowed_origins",
        ),
        (
            "Library/Application Support/Mozilla/NativeMessagingHosts",
            "allowed_extensions",
        ),
    ] {
        let path = payload.join(dir).join(format!("{NAME}.json"));
        ensure!(mode(&path)? == 0o644, "{} is 0644", path.display());
        let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        ensure!(
            manifest["path"] == program,
            "{dir}: path {}",
            manifest["path"]
        );
        ensure!(
            manifest["name"] == NAME && manifest.get(key).is_some(),
            "{dir}: {manifest}"
        );
    }
    ensure!(
        mode(&out.join("scripts/postinstall"))? == 0o755,
        "postinstall is executable"
    );
    let staged = files_under(&payload);
    ensure!(
        staged.len() == 5,
        "exactly the program and four manifests: {staged:?}"
    );
    // The uninstall script removes exactly what was staged.
    let uninstall = std::fs::read_to_string(root().join("installers/macos/uninstall.sh"))?;
    for file in &staged {
        let target = format!("/{file}");
        ensure!(
            uninstall.contains(&target)
                || target.starts_with("/Library/Application Support/Smartcard Self-Service/"),
            "uninstall.sh does not remove {target}"
        );
    }
    Ok(())
}
