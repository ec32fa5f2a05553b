//! The extension installed the way IT's policies install it, in this machine's real browsers:
//! the example policy files from `installers/policies/` (with a test id and loopback URLs), put
//! where each browser reads policy inside a private mount namespace (the machine's own `/etc`
//! and browser folders are never touched), the packages served over loopback HTTP. Each check
//! passes when the browser has fetched the package and installed the extension.

use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cmd;
use crate::crx::{copy_dir, pack, DEFAULT_UPDATE_BASE};

/// How long a browser may take to install; polled, so a fast machine does not wait.
const INSTALL_DEADLINE: Duration = Duration::from_secs(120);

/// Packs a test CRX and has Chromium install it the way IT's policy does: the example policy
/// (`installers/policies/linux/managed-policy.json`, with the test id and a loopback update
/// URL) in `/etc/chromium/policies/managed/`, bind-mounted in a private mount namespace so the
/// machine's own `/etc` is never touched, and the CRX and `updates.xml` served over HTTP.
/// Passes when Chromium has fetched both and unpacked the extension into its profile.
pub fn chromium(version: &str) -> Result<()> {
    cmd::step("installers: the CRX force-installed by the example policy in Chromium (private mount namespace)");
    let root = cmd::root();
    let work = root.join("target/policy-install/chromium");
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
    let deadline = Instant::now() + INSTALL_DEADLINE;
    while !has_version_dir(&installed) {
        if Instant::now() > deadline {
            let _ = chromium.kill();
            let _ = chromium.wait();
            bail!(
                "Chromium did not install the extension by policy within {} s (requests: {:?})",
                INSTALL_DEADLINE.as_secs(),
                requests.lock().map(|r| r.clone()).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
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

/// Firefox ESR: the example `policies.json` (`ExtensionSettings` force install, with a loopback
/// `install_url`) in the installation's `distribution/` folder, where every Firefox build reads
/// policy (Debian's firefox-esr does not read `/etc/firefox/policies/`), bind-mounted in a
/// private mount namespace. The xpi is unsigned: only this test profile allows that
/// (`xpinstall.signatures.required` false, honoured by ESR); a published xpi is signed by
/// Mozilla (installers/README.md).
pub fn firefox() -> Result<()> {
    cmd::step("installers: the xpi force-installed by the example policies.json in Firefox ESR (private mount namespace)");
    let root = cmd::root();
    let work = root.join("target/policy-install/firefox");
    let _ = std::fs::remove_dir_all(&work);
    let (served, distribution, profile) = (
        work.join("served"),
        work.join("distribution"),
        work.join("profile"),
    );
    for dir in [&served, &distribution, &profile] {
        std::fs::create_dir_all(dir)?;
    }
    let installed_distribution = Path::new("/usr/lib/firefox-esr/distribution");
    ensure!(
        installed_distribution.is_dir(),
        "{} is missing (Debian's firefox-esr package makes it)",
        installed_distribution.display()
    );
    // The folder is replaced as a whole in the namespace: keep what the package put there.
    copy_dir(installed_distribution, &distribution)?;
    cmd::run(
        "node_modules/.bin/web-ext",
        &[
            "build",
            "--source-dir",
            "extension/dist/firefox",
            "--artifacts-dir",
            served.to_str().context("non-UTF-8 path")?,
            "--filename",
            "smartcard-selfservice.xpi",
            "--overwrite-dest",
            "--no-input",
        ],
    )?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let base = format!(
        "http://127.0.0.1:{}/extension/",
        listener.local_addr()?.port()
    );
    let requests = serve(listener, served.clone());

    let example = std::fs::read_to_string(root.join("installers/policies/firefox/policies.json"))?;
    let published = format!("{DEFAULT_UPDATE_BASE}smartcard-selfservice.xpi");
    ensure!(
        example.contains(&published),
        "the example policies.json no longer names {published}"
    );
    std::fs::write(
        distribution.join("policies.json"),
        example.replace(&published, &format!("{base}smartcard-selfservice.xpi")),
    )?;
    std::fs::write(
        profile.join("user.js"),
        "user_pref(\"xpinstall.signatures.required\", false);\n",
    )?;

    let mut firefox = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c"])
        .arg("mount --bind \"$1\" /usr/lib/firefox-esr/distribution && exec firefox-esr --headless --no-remote --profile \"$2\" about:blank")
        .arg("sh")
        .arg(&distribution)
        .arg(&profile)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("unshare (util-linux) and firefox-esr")?;
    let id = selfservice_rules::names::FIREFOX_ADDON_ID;
    let deadline = Instant::now() + INSTALL_DEADLINE;
    while !active_in(&profile, id) {
        if Instant::now() > deadline {
            let _ = firefox.kill();
            let _ = firefox.wait();
            bail!(
                "Firefox did not install {id} by policy within {} s (requests: {:?})",
                INSTALL_DEADLINE.as_secs(),
                requests.lock().map(|r| r.clone()).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = firefox.kill();
    let _ = firefox.wait();
    let asked = requests.lock().map(|r| r.clone()).unwrap_or_default();
    ensure!(
        asked
            .iter()
            .any(|p| p.ends_with("/smartcard-selfservice.xpi")),
        "Firefox installed without asking for the xpi: {asked:?}"
    );
    println!("Firefox ESR force-installed {id} by policy");
    Ok(())
}

/// Whether the profile's add-on database lists `id` as installed and active.
fn active_in(profile: &Path, id: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(profile.join("extensions.json")) else {
        return false;
    };
    let Ok(database) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false; // being written
    };
    database["addons"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|addon| addon["id"] == id && addon["active"] == true)
}
