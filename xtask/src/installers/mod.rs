//! Installers (installers/README.md): the Windows MSI (wixl, `msi.rs`), the .deb
//! (cargo-deb) and .rpm (cargo-generate-rpm, `linux.rs`), the policy templates and examples
//! (`policies.rs`), the macOS payload (`macos.rs`), and the checks `cargo xtask test` runs on
//! them. What they share is here: names, the native-messaging manifests, scratch folders.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

use crate::cmd;

mod linux;
mod macos;
mod msi;
mod policies;

pub use linux::{build_linux_packages, check_deb, check_rpm};
pub use macos::check_macos_payload;
pub use msi::{build_msi, check_msi, write_golden};
pub use policies::check_policies;

pub(crate) const HOST: &str = "smartcard-selfservice";

pub(crate) const NAME: &str = "smartcard_selfservice";

pub(crate) fn root() -> PathBuf {
    cmd::root()
}

/// Both manifests, made by the host itself from the one source of names and ids.
pub(crate) fn write_manifests(host: &Path, dir: &Path, program: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for (browser, file) in [
        ("chromium", format!("{NAME}.chromium.json")),
        ("firefox", format!("{NAME}.firefox.json")),
    ] {
        let json = cmd::output(
            host.to_str().context("path")?,
            &["manifest", "--browser", browser, "--program", program],
        )
        .context("smartcard-selfservice manifest")?;
        std::fs::write(dir.join(file), json)?;
    }
    Ok(())
}

pub(crate) fn tempdir(what: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("sss-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

pub(crate) fn files_under(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path
                .strip_prefix(base)
                .map(|p| p.starts_with("var"))
                .unwrap_or(false)
            {
                continue;
            }
            if path.is_dir() && !path.is_symlink() {
                walk(&path, base, out);
            } else if let Ok(relative) = path.strip_prefix(base) {
                out.push(relative.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}
