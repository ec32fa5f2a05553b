//! The end-to-end world: `selfservice-vcard world up` (pcscd + vpcd + cards + the reference portal +
//! an SMTP sink), the host registered for a private browser profile with its own `install
//! --browser-profile`, and a real headless browser with the extension loaded as a user has it.
//! The browser inherits the driver's environment and hands it to the host it starts: that is
//! how the host finds the world's private pcscd and configuration.

pub mod rollout;
pub mod steps;

use anyhow::{bail, ensure, Context, Result};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn binary(name: &str) -> Result<PathBuf> {
    let path = root().join("target/debug").join(name);
    if !path.exists() {
        bail!(
            "{} is missing: build the workspace first (cargo build --workspace)",
            path.display()
        );
    }
    Ok(path)
}

/// A world for one test; stopped (every process, by pid) when dropped.
pub struct World {
    pub vars: HashMap<String, String>,
}

impl World {
    pub fn up(slot0: &str) -> Result<World> {
        World::start(slot0, false)
    }

    /// A world that also serves the control page a person uses to drive the demo by hand.
    pub fn up_with_control_page(slot0: &str) -> Result<World> {
        World::start(slot0, true)
    }

    fn start(slot0: &str, control_page: bool) -> Result<World> {
        let mut command = Command::new(binary("selfservice-vcard")?);
        command.args(["world", "up", "--slot0", slot0]);
        if control_page {
            command.args(["--control-page", "127.0.0.1:0"]);
        }
        let vars = selfservice_vcard::world::up_by_command(&mut command)?;
        Ok(World { vars })
    }

    pub fn portal_url(&self) -> &str {
        &self.vars["SMARTCARD_SELFSERVICE_PORTAL_URL"]
    }

    pub fn control_page_url(&self) -> Result<&str> {
        self.vars
            .get("CONTROL_PAGE_URL")
            .map(String::as_str)
            .context("this world has no control page")
    }

    pub fn card(&self) -> Result<selfservice_vcard::card_file::CardFile> {
        selfservice_vcard::card_file::CardFile::load(Path::new(
            &self.vars["SMARTCARD_SELFSERVICE_VCARD_FILE_0"],
        ))
    }

    /// Environment the driver (and so the browser and the host) runs with.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> =
            ["PCSCLITE_CSOCK_NAME", "SMARTCARD_SELFSERVICE_CONFIG"]
                .iter()
                .map(|k| (k.to_string(), self.vars[*k].clone()))
                .collect();
        // The host's record of unlock attempts belongs to the world, not to a browser profile:
        // a browser closed and opened again (a new profile) meets the record its host left,
        // as on a real PC, and no run leaves one in the home folder.
        if let Some(dir) = self.vars.get("SMARTCARD_SELFSERVICE_WORLD") {
            env.push((
                "SMARTCARD_SELFSERVICE_STATE_DIR".into(),
                Path::new(dir).join("host-state").display().to_string(),
            ));
        }
        env
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let (Ok(program), Some(dir)) = (
            binary("selfservice-vcard"),
            self.vars.get("SMARTCARD_SELFSERVICE_WORLD"),
        ) {
            let _ = Command::new(program)
                .args(["world", "down", "--dir", dir])
                .status();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    Chromium,
    Firefox,
}

/// A driver process and a session in it.
pub struct Session {
    pub client: Client,
    pub browser: Browser,
    /// The base of the extension's own pages (`chrome-extension://ID/` or `moz-extension://UUID/`).
    pub extension_base: String,
    driver: Child,
    /// Where the recording wrapper writes the native messages.
    recorded: PathBuf,
    _profile: tempfile::TempDir,
    /// Installed by policy: the machine the browser runs in (its overlays, its package server).
    pub machine: Option<rollout::Machine>,
}

/// Every host manifest file under `dir`.
pub(crate) fn manifests_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let name = format!("{}.json", selfservice_rules::names::NATIVE_HOST_NAME);
    let mut manifests = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|n| n == name.as_str()) {
                manifests.push(path);
            }
        }
    }
    Ok(manifests)
}

/// Points every host manifest under `dir` at a wrapper that copies every byte the browser and
/// the host exchange into `out` (`to-host.bin`, `from-host.bin`): what the extension's
/// background handled, for tests that look for secrets in it.
pub(crate) fn record_native_messages_in(dir: &Path, out: &Path) -> Result<()> {
    let manifests = manifests_in(dir)?;
    ensure!(
        !manifests.is_empty(),
        "no host manifest in {}",
        dir.display()
    );
    let wrapper = out.join("record-host.sh");
    let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ntee -a {} | {} \"$@\" | tee -a {}\n",
            quote(&out.join("to-host.bin")),
            quote(&binary("smartcard-selfservice")?),
            quote(&out.join("from-host.bin")),
        ),
    )?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
    for manifest in manifests {
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&manifest)?)?;
        json["path"] = json!(wrapper.display().to_string());
        std::fs::write(&manifest, json.to_string())?;
    }
    Ok(())
}

/// Text with every base64 or base64url token of 16 characters or more decoded after it (twice
/// over, for a payload inside a payload), so a secret wrapped in base64 is still found.
pub fn with_base64_decoded(text: &str) -> String {
    use base64::Engine;
    let mut all = text.to_string();
    for _ in 0..2 {
        let mut decoded = String::new();
        for token in all.split(|c: char| !(c.is_ascii_alphanumeric() || "+/-_=".contains(c))) {
            if token.len() < 16 {
                continue;
            }
            let trimmed = token.trim_end_matches('=');
            for engine in [
                base64::engine::general_purpose::URL_SAFE_NO_PAD,
                base64::engine::general_purpose::STANDARD_NO_PAD,
            ] {
                if let Ok(bytes) = engine.decode(trimmed) {
                    decoded.push('\n');
                    decoded.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
        }
        all.push_str(&decoded);
    }
    all
}

/// The Firefox add-on's internal UUID, pinned so its pages have a known address.
pub(crate) const FIREFOX_UUID: &str = "5c3a1d2e-7f60-4b8a-9d1e-2a6b7c8d9e0f";

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

fn wait_for_port(port: u16) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the WebDriver server did not listen on {port}")
}

/// Starts a WebDriver server (`driver`, with its own arguments) on a free port, with the
/// environment the browser and the host need from the world, in its own process group (so
/// stopping it also stops the browser it started); returns once it listens.
pub(crate) fn start_driver(mut driver: Command, world: &World) -> Result<(Child, u16)> {
    let port = free_port()?;
    let child = driver
        .arg(format!("--port={port}"))
        .envs(world.env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting the WebDriver server")?;
    wait_for_port(port)?;
    Ok((child, port))
}

/// Opens a WebDriver session with these capabilities (which start the browser).
pub(crate) async fn connect(capabilities: Value, port: u16) -> Result<Client> {
    let Value::Object(capabilities) = capabilities else {
        bail!("capabilities must be an object");
    };
    ClientBuilder::native()
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .context("starting the browser")
}

/// geckodriver's vendor command for a temporary add-on.
#[derive(Debug)]
struct InstallTemporaryAddon(String);

impl WebDriverCompatibleCommand for InstallTemporaryAddon {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/moz/addon/install",
            session.unwrap_or_default()
        ))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"path": self.0, "temporary": true}).to_string()),
        )
    }
}

impl Session {
    /// Starts the browser with the extension built in `extension/dist`, and the host registered
    /// for this browser's private profile with `smartcard-selfservice install --browser-profile`.
    /// With `register_host: false` the host is not installed (the "not installed" journey).
    pub async fn start(browser: Browser, world: &World, register_host: bool) -> Result<Session> {
        announce_browsers();
        let profile = tempfile::Builder::new().prefix("e2e-").tempdir()?;
        let extension_dir = root().join("extension/dist").join(match browser {
            Browser::Chromium => "chromium",
            Browser::Firefox => "firefox",
        });
        if !extension_dir.join("manifest.json").exists() {
            bail!(
                "the extension is not built: node extension/build.mjs (cargo xtask build does it)"
            );
        }
        let extension_dir = std::fs::canonicalize(extension_dir)?;
        if register_host {
            let target = match browser {
                Browser::Chromium => "chromium",
                Browser::Firefox => "firefox",
            };
            let status = Command::new(binary("smartcard-selfservice")?)
                .args(["install", "--browser", target, "--browser-profile"])
                .arg(profile.path())
                .stdout(Stdio::null())
                .status()?;
            if !status.success() {
                bail!("smartcard-selfservice install failed");
            }
            record_native_messages_in(profile.path(), profile.path())?;
        }
        let (driver, port) = start_driver(
            match browser {
                Browser::Chromium => Command::new("chromedriver"),
                Browser::Firefox => {
                    let mut command = Command::new(geckodriver());
                    command
                        .arg("--allow-system-access")
                        .env("HOME", profile.path());
                    command
                }
            },
            world,
        )?;
        let capabilities = match browser {
            Browser::Chromium => json!({
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--window-size=1200,1000",
                        format!("--user-data-dir={}", profile.path().display()),
                        format!("--load-extension={}", extension_dir.display()),
                    ]
                }
            }),
            Browser::Firefox => json!({
                "browserName": "firefox",
                "moz:firefoxOptions": {
                    "binary": "/usr/bin/firefox-esr",
                    "args": ["-headless", "-width", "1200", "-height", "1000"],
                    "prefs": {
                        "extensions.webextensions.uuids": json!({ selfservice_rules::names::FIREFOX_ADDON_ID: FIREFOX_UUID }).to_string(),
                        "datareporting.policy.dataSubmissionEnabled": false,
                        "browser.shell.checkDefaultBrowser": false
                    }
                }
            }),
        };
        let client = connect(capabilities, port).await?;
        let extension_base = match browser {
            Browser::Chromium => format!(
                "chrome-extension://{}/",
                selfservice_rules::names::CHROMIUM_EXTENSION_ID
            ),
            Browser::Firefox => {
                client
                    .issue_cmd(InstallTemporaryAddon(extension_dir.display().to_string()))
                    .await
                    .context("installing the add-on")?;
                format!("moz-extension://{FIREFOX_UUID}/")
            }
        };
        Ok(Session {
            client,
            browser,
            extension_base,
            driver,
            recorded: profile.path().to_path_buf(),
            _profile: profile,
            machine: None,
        })
    }

    pub fn page(&self, path: &str) -> String {
        format!("{}{path}", self.extension_base)
    }

    /// Points the extension at the world's portal (what IT does by policy).
    pub async fn configure_portal(&self, portal_url: &str) -> Result<()> {
        self.store_locally(json!({"developmentConfig": {"PortalUrl": portal_url}}))
            .await
    }

    /// The pages' language, as a person chooses it on the options page (`cy`, `en-GB`, `auto`).
    pub async fn choose_language(&self, language: &str) -> Result<()> {
        self.store_locally(json!({"preferences": {"Language": language}}))
            .await
    }

    /// Writes the extension's local storage from its options page, as the page itself does.
    async fn store_locally(&self, items: Value) -> Result<()> {
        self.client.goto(&self.page("pages/options.html")).await?;
        self.client
            .execute_async(
                "const [items, done] = arguments; const api = globalThis.browser ?? globalThis.chrome; \
                 api.storage.local.set(items).then(() => done(true));",
                vec![items],
            )
            .await?;
        Ok(())
    }

    /// The `lang` attribute of the page shown.
    pub async fn page_language(&self) -> Result<String> {
        let lang = self
            .client
            .execute("return document.documentElement.lang;", vec![])
            .await?;
        Ok(lang.as_str().unwrap_or_default().to_string())
    }

    /// Waits until an element's text contains `text`; returns the text.
    pub async fn wait_text(&self, css: &str, text: &str) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                last = element.text().await.unwrap_or_default();
                if last.contains(text) {
                    return Ok(last);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Say what the page shows instead, and keep a picture of it.
        let heading = match self.client.find(Locator::Css("main")).await {
            Ok(main) => main.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let _ = self
            .screenshot(
                &root().join("target/e2e-screenshots/failures"),
                &format!("{}", std::process::id()),
            )
            .await;
        bail!("'{css}' never contained '{text}' (last: '{last}'); the page shows: {heading}")
    }

    /// Types into a field; finds it again if the page re-rendered under it.
    pub async fn fill(&self, css: &str, value: &str) -> Result<()> {
        let mut last = None;
        for _ in 0..5 {
            let attempt = async {
                let element = self.client.find(Locator::Css(css)).await?;
                element.clear().await?;
                element.send_keys(value).await
            };
            match attempt.await {
                Ok(()) => return Ok(()),
                Err(error) => last = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(last
            .map(anyhow::Error::from)
            .unwrap_or_else(|| anyhow::anyhow!("fill {css}")))
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        let mut last = None;
        for _ in 0..5 {
            match async { self.client.find(Locator::Css(css)).await?.click().await }.await {
                Ok(()) => return Ok(()),
                Err(error) => last = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(last
            .map(anyhow::Error::from)
            .unwrap_or_else(|| anyhow::anyhow!("click {css}")))
    }

    /// Saves a screenshot into `dir`.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        let png = self.client.screenshot().await?;
        std::fs::write(dir.join(format!("{name}.png")), png)?;
        Ok(())
    }

    /// Every native message the browser and the host exchanged so far (with their 4-byte
    /// length prefixes), as text.
    pub fn native_messages(&self) -> String {
        ["to-host.bin", "from-host.bin"]
            .iter()
            .map(|name| {
                String::from_utf8_lossy(
                    &std::fs::read(self.recorded.join(name)).unwrap_or_default(),
                )
                .into_owned()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub async fn close(self) -> Result<()> {
        let _ = self.client.clone().close().await;
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Prints, once per test binary, the browsers and drivers this run uses.
pub(crate) fn announce_browsers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let versions: Vec<String> = [
            (PathBuf::from("chromium"), "Chromium"),
            (PathBuf::from("chromedriver"), "ChromeDriver"),
            (PathBuf::from("firefox-esr"), "Firefox ESR"),
            (geckodriver(), "geckodriver"),
        ]
        .into_iter()
        .map(|(program, name)| {
            Command::new(&program)
                .arg("--version")
                .output()
                .ok()
                .and_then(|out| {
                    String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .next()
                        .map(|l| l.trim().to_string())
                })
                .unwrap_or_else(|| format!("{name}: not found"))
        })
        .collect();
        eprintln!("e2e browsers: {}", versions.join("; "));
    });
}

/// geckodriver from crates.io (`cargo install geckodriver`), found on PATH or in ~/.cargo/bin.
pub(crate) fn geckodriver() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let installed = home.join(".cargo/bin/geckodriver");
    if installed.exists() {
        installed
    } else {
        PathBuf::from("geckodriver")
    }
}

impl World {
    /// Runs a `selfservice-vcard ctl` command on the slot 0 card (remove, insert, fault ...).
    pub fn card_control(&self, words: &[&str]) -> Result<()> {
        let status = Command::new(binary("selfservice-vcard")?)
            .args([
                "ctl",
                "--control",
                &self.vars["SMARTCARD_SELFSERVICE_VCARD_CONTROL_0"],
            ])
            .args(words)
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("selfservice-vcard ctl {words:?} failed");
        }
        Ok(())
    }

    /// What the slot 0 card process reports: inserted, APDUs seen, the fault still armed.
    pub fn card_status(&self) -> Result<selfservice_vcard::runner::Status> {
        let output = Command::new(binary("selfservice-vcard")?)
            .args([
                "ctl",
                "--control",
                &self.vars["SMARTCARD_SELFSERVICE_VCARD_CONTROL_0"],
                "status",
            ])
            .output()?;
        let reply: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        Ok(serde_json::from_value(reply["status"].clone())?)
    }

    /// Waits until an armed fault has fired (the card pulled itself out).
    pub fn wait_fault_fired(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let status = self.card_status()?;
            if status.fault.is_none() && !status.inserted {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("the armed fault never fired")
    }

    /// Waits until pcscd itself reports slot 0 with (or without) a card: it polls the virtual
    /// reader every 400 ms, and a card put back before it looked was never seen to go.
    pub fn wait_card_seen(&self, present: bool) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let output = Command::new("opensc-tool")
                .arg("--list-readers")
                .env("PCSCLITE_CSOCK_NAME", &self.vars["PCSCLITE_CSOCK_NAME"])
                .output()?;
            let listing = String::from_utf8_lossy(&output.stdout);
            let seen = listing
                .lines()
                .find(|l| l.contains("Virtual PCD 00 00"))
                .is_some_and(|l| l.contains("Yes"));
            if seen == present {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "pcscd never saw the card {}",
            if present { "in" } else { "out" }
        )
    }

    /// The messages the portal has sent, oldest first.
    pub fn mails(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.vars["SMTP_SINK_DIR"])
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect()
    }

    /// Waits for the `n`th message and returns its six-digit code.
    pub fn code(&self, n: usize) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(mail) = self.mails().get(n - 1) {
                let body = mail.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or(mail);
                if let Some(code) = body
                    .split(|c: char| !c.is_ascii_digit())
                    .find(|run| run.len() == 6)
                {
                    return Ok(code.to_string());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("message {n} never arrived")
    }

    /// Runs a portal operator command against the world's portal.
    pub fn portal_command(&self, args: &[&str]) -> Result<String> {
        let output = Command::new(binary("selfservice-portal")?)
            .args([
                "--config",
                &self.vars["SMARTCARD_SELFSERVICE_PORTAL_CONFIG"],
            ])
            .args(args)
            .output()?;
        if !output.status.success() {
            bail!(
                "selfservice-portal {args:?} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Moves the portal's clock (the world's portal runs in test mode on a stopped clock).
    pub fn advance_portal_clock(&self, seconds: i64) -> Result<()> {
        self.portal_clock(&format!("{{\"advanceSeconds\": {seconds}}}"))
    }

    /// Sets the portal's stopped clock to this machine's time now: the host checks an unlock
    /// authorization's times against the real clock.
    pub fn portal_clock_to_now(&self) -> Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        self.portal_clock(&format!("{{\"set\": {now}}}"))
    }

    fn portal_clock(&self, body: &str) -> Result<()> {
        use std::io::{Read, Write};
        let address = self.portal_url().trim_start_matches("http://").to_string();
        let mut stream = std::net::TcpStream::connect(&address)?;
        write!(
            stream,
            "POST /api/v1/test/clock HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        if !response.starts_with("HTTP/1.1 200") {
            bail!("moving the portal clock failed: {response}");
        }
        Ok(())
    }
}

/// Where a run's screenshots go: SMARTCARD_SELFSERVICE_E2E_SCREENSHOTS, or target/e2e-screenshots.
/// A message of the extension's catalogue for `locale` (`en_GB`, `cy`), with `{name}` values
/// filled in: tests expect what the person reads without copying the sentences.
pub fn catalogue_message(locale: &str, key: &str, values: &[(&str, &str)]) -> Result<String> {
    let path = root().join(format!("extension/static/_locales/{locale}/messages.json"));
    let catalogue: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let mut message = catalogue[key]["message"]
        .as_str()
        .with_context(|| format!("{locale} has no message {key}"))?
        .to_string();
    for (name, value) in values {
        message = message.replace(&format!("{{{name}}}"), value);
    }
    Ok(message)
}

pub fn screenshot_dir(scenario: &str, browser: Browser) -> PathBuf {
    let base = std::env::var_os("SMARTCARD_SELFSERVICE_E2E_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/e2e-screenshots"));
    base.join(format!("{browser:?}").to_lowercase())
        .join(scenario)
}

impl Session {
    /// Runs axe-core on the current page; returns the violations' ids and the elements.
    pub async fn accessibility_violations(&self) -> Result<Vec<String>> {
        let axe = std::fs::read_to_string(root().join("node_modules/axe-core/axe.min.js"))
            .context("axe-core is not installed (npm ci)")?;
        self.client.execute(&axe, vec![]).await?;
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))), e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await?;
        // Anything but a list of strings is axe not having run as expected: never "clean".
        serde_json::from_value(result.clone())
            .with_context(|| format!("axe-core gave an unexpected result: {result}"))
    }

    /// Checks accessibility and saves a screenshot: one call per step of a journey.
    pub async fn step(&self, dir: &Path, name: &str) -> Result<()> {
        let heading = match self.client.find(Locator::Css("#step-heading")).await {
            Ok(h) => h.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        println!("  [{:?}] {name}: {heading}", self.browser);
        self.screenshot(dir, name).await?;
        let violations = self.accessibility_violations().await?;
        if !violations.is_empty() {
            bail!("accessibility violations on step '{name}': {violations:#?}");
        }
        Ok(())
    }
}
