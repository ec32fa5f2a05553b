//! The Chromium/Edge package a browser installs by policy: a CRX3 packed by Chromium itself
//! (`--pack-extension`; no hand-written CRX format) and the update manifest (`updates.xml`)
//! that `ExtensionInstallForcelist` points at.
//!
//! The key decides the extension id. The publisher's key (PEM, PKCS#8 RSA) comes from
//! `SMARTCARD_SELFSERVICE_CRX_KEY` (a file path; never committed): with the release key the id
//! is the published one, `names::CHROMIUM_EXTENSION_ID`. Without it a throwaway key is made in
//! `target/crx/throwaway-key.pem`, and the package, its id and `updates.xml` are for tests only.

use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};

use crate::cmd;

pub const KEY_VARIABLE: &str = "SMARTCARD_SELFSERVICE_CRX_KEY";
/// Where the published `updates.xml` and CRX live (`installers/policies/` names this URL).
pub const UPDATE_BASE_VARIABLE: &str = "SMARTCARD_SELFSERVICE_UPDATE_BASE";
pub const DEFAULT_UPDATE_BASE: &str = "https://selfservice.example.nhs.uk/extension/";

/// A packed CRX and what a policy needs to name it.
pub struct Packed {
    pub crx: PathBuf,
    pub updates_xml: PathBuf,
    pub id: String,
    /// Packed with a throwaway key: not the published id.
    pub throwaway: bool,
}

/// Packs `extension/dist/chromium` into `dir`: the CRX and `updates.xml` naming it at
/// `update_base` (which ends in '/').
pub fn pack(version: &str, dir: &Path, update_base: &str) -> Result<Packed> {
    ensure!(
        update_base.ends_with('/'),
        "the update base URL must end in '/'"
    );
    let root = cmd::root();
    let (key, throwaway) = match std::env::var_os(KEY_VARIABLE) {
        Some(path) => (PathBuf::from(path), false),
        None => (throwaway_key(&root.join("target/crx"))?, true),
    };
    let id = extension_id(&key)?;
    let file = format!("smartcard-selfservice-chromium-{version}.crx");
    cmd::step(&format!(
        "extension: pack {file} (id {id}{})",
        if throwaway {
            ", throwaway key: for tests only"
        } else {
            ""
        }
    ));
    // Chromium writes <folder>.crx beside the folder it packs: stage a copy whose manifest
    // names the update manifest (so installed copies update from it) and carries no `key` (the
    // CRX's own key is the one that counts).
    let stage = root.join("target/crx/smartcard-selfservice");
    if stage.exists() {
        std::fs::remove_dir_all(&stage)?;
    }
    copy_dir(&root.join("extension/dist/chromium"), &stage)?;
    let manifest_path = stage.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path)?)?;
    let fields = manifest
        .as_object_mut()
        .context("manifest.json is not an object")?;
    fields.remove("key");
    fields.insert(
        "update_url".into(),
        format!("{update_base}updates.xml").into(),
    );
    std::fs::write(&manifest_path, serde_json::to_string_pretty(&manifest)?)?;
    let packed = stage.with_extension("crx");
    let _ = std::fs::remove_file(&packed);
    // A profile of its own, so packing never touches (or waits for) another Chromium's.
    let profile = root.join("target/crx/profile");
    let _ = std::fs::remove_dir_all(&profile);
    cmd::run(
        "chromium",
        &[
            "--headless=new",
            "--no-sandbox",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--pack-extension={}", stage.display()),
            &format!("--pack-extension-key={}", key.display()),
            "--no-message-box",
        ],
    )?;
    if !packed.exists() {
        bail!("chromium --pack-extension wrote no {}", packed.display());
    }
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(dir)?;
    let crx = dir.join(&file);
    std::fs::rename(&packed, &crx).or_else(|_| {
        std::fs::copy(&packed, &crx)?;
        std::fs::remove_file(&packed)
    })?;
    // Chromium writes the package for its owner only; it is published, so readable by all.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&crx, std::fs::Permissions::from_mode(0o644))?;
    }
    let updates_xml = dir.join("updates.xml");
    std::fs::write(
        &updates_xml,
        update_manifest(&id, version, &format!("{update_base}{file}")),
    )?;
    Ok(Packed {
        crx,
        updates_xml,
        id,
        throwaway,
    })
}

/// The extension id Chromium gives a CRX signed with this key.
pub fn extension_id(key: &Path) -> Result<String> {
    let der = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(key)
        .output()
        .context("openssl")?;
    ensure!(
        der.status.success() && !der.stdout.is_empty(),
        "{} is not a PEM private key ({})",
        key.display(),
        String::from_utf8_lossy(&der.stderr).trim()
    );
    Ok(selfservice_rules::names::chromium_id_from_public_key(
        &der.stdout,
    ))
}

/// A 2048-bit RSA key for test packages, made once per target folder.
fn throwaway_key(dir: &Path) -> Result<PathBuf> {
    let key = dir.join("throwaway-key.pem");
    if !key.exists() {
        std::fs::create_dir_all(dir)?;
        cmd::run(
            "openssl",
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                key.to_str().context("non-UTF-8 path")?,
            ],
        )?;
    }
    Ok(key)
}

/// The gupdate response Chromium reads from an `ExtensionInstallForcelist` URL.
pub fn update_manifest(id: &str, version: &str, codebase: &str) -> String {
    format!(
        "<?xml version='1.0' encoding='UTF-8'?>\n\
         <gupdate xmlns='http://www.google.com/update2/response' protocol='2.0'>\n  \
         <app appid='{id}'>\n    \
         <updatecheck codebase='{codebase}' version='{version}' />\n  \
         </app>\n\
         </gupdate>\n"
    )
}

pub fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_update_manifest_names_the_id_version_and_package() {
        let xml = update_manifest(
            "abcdefghijklmnopabcdefghijklmnop",
            "0.1.0",
            "https://x.test/ext/a.crx",
        );
        assert!(xml.contains("<app appid='abcdefghijklmnopabcdefghijklmnop'>"));
        assert!(xml.contains("<updatecheck codebase='https://x.test/ext/a.crx' version='0.1.0' />"));
        assert!(xml.starts_with("<?xml"));
    }
}
