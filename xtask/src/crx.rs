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

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
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

/// Packs a test CRX and has Chromium install it the way IT's policy does: the example policy
/// (`installers/policies/linux/managed-policy.json`, with the test id and a loopback update
/// URL) in `/etc/chromium/policies/managed/`, bind-mounted in a private mount namespace so the
/// machine's own `/etc` is never touched, and the CRX and `updates.xml` served over HTTP.
/// Passes when Chromium has fetched both and unpacked the extension into its profile.
pub fn check_policy_install(version: &str) -> Result<()> {
    cmd::step("installers: the CRX force-installed by the example policy in Chromium (private mount namespace)");
    let root = cmd::root();
    let work = root.join("target/crx/policy-check");
    let _ = std::fs::remove_dir_all(&work);
    let (served, policy_dir, profile) = (
        work.join("served"),
        work.join("policy"),
        work.join("profile"),
    );
    for dir in [&served, &policy_dir, &profile] {
        std::fs::create_dir_all(dir)?;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let base = format!(
        "http://127.0.0.1:{}/extension/",
        listener.local_addr()?.port()
    );
    let packed = pack(version, &served, &base)?;
    let requests = serve(listener, served.clone());

    let example =
        std::fs::read_to_string(root.join("installers/policies/linux/managed-policy.json"))?;
    let published_url = format!("{DEFAULT_UPDATE_BASE}updates.xml");
    ensure!(
        example.contains(&published_url)
            && example.contains(selfservice_rules::names::CHROMIUM_EXTENSION_ID),
        "the example policy no longer names {published_url}"
    );
    let policy = example
        .replace(selfservice_rules::names::CHROMIUM_EXTENSION_ID, &packed.id)
        .replace(&published_url, &format!("{base}updates.xml"));
    std::fs::write(policy_dir.join("smartcard-selfservice.json"), policy)?;

    let managed = Path::new("/etc/chromium/policies/managed");
    ensure!(
        managed.is_dir(),
        "{} is missing (Debian's chromium package makes it)",
        managed.display()
    );
    let mut chromium = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c"])
        .arg("mount --bind \"$1\" /etc/chromium/policies/managed && exec chromium --headless=new --no-sandbox --user-data-dir=\"$2\" about:blank")
        .arg("sh")
        .arg(&policy_dir)
        .arg(&profile)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("unshare (util-linux) and chromium")?;
    // Chromium fetches force-installed extensions shortly after start; poll for the unpacked
    // copy (a deadline, not a timed assertion: a slow machine only waits longer).
    let installed = profile.join("Default/Extensions").join(&packed.id);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !has_version_dir(&installed) {
        if std::time::Instant::now() > deadline {
            let _ = chromium.kill();
            let _ = chromium.wait();
            bail!(
                "Chromium did not install the extension by policy within 120 s (requests: {:?})",
                requests.lock().map(|r| r.clone()).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let _ = chromium.kill();
    let _ = chromium.wait();
    let asked = requests.lock().map(|r| r.clone()).unwrap_or_default();
    ensure!(
        asked
            .iter()
            .any(|p| p.starts_with("/extension/updates.xml"))
            && asked.iter().any(|p| p.ends_with(".crx")),
        "Chromium installed without asking for updates.xml and the CRX: {asked:?}"
    );
    println!(
        "Chromium force-installed {} by policy (id {})",
        packed.crx.display(),
        packed.id
    );
    Ok(())
}

/// Chromium unpacks into `<id>/<version>_0`.
fn has_version_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.path().join("manifest.json").is_file())
        })
        .unwrap_or(false)
}

/// Serves the files in `dir` under `/extension/` on `listener`, on a thread of its own, until
/// the process ends; records each request's path.
fn serve(
    listener: std::net::TcpListener,
    dir: PathBuf,
) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::io::{BufRead, BufReader, Write};
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(&stream);
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            if let Ok(mut seen) = seen.lock() {
                seen.push(path.clone());
            }
            let name = path
                .split('?')
                .next()
                .and_then(|p| p.strip_prefix("/extension/"))
                .filter(|n| !n.contains('/') && !n.contains(".."))
                .unwrap_or("");
            let (status, kind, body) = match std::fs::read(dir.join(name)) {
                Ok(body) if !name.is_empty() => {
                    let kind = if name.ends_with(".crx") {
                        "application/x-chrome-extension"
                    } else {
                        "text/xml"
                    };
                    ("200 OK", kind, body)
                }
                _ => ("404 Not Found", "text/plain", b"not found".to_vec()),
            };
            let mut stream = &stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    requests
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
