//! The extension and the host as IT rolls them out, in the machine's real browsers: the example
//! policy files from `installers/policies/` (with the test package's id and loopback URLs) where
//! each browser reads managed policy, the packages served over loopback HTTP, and the host
//! registered for all users with its own `install --system`. All of it happens in private mount
//! namespaces whose `/etc` and `/usr` are overlays on folders of the test's: the machine's own
//! `/etc`, `/usr` and browsers are never touched, and nothing is loaded unpacked.
//!
//! The packages come from `target/rollout/` (`cargo xtask rollout-packages`; `cargo xtask test`
//! makes them first): the CRX packed by Chromium with the throwaway test key and its
//! `updates.xml`, and the unsigned xpi. The throwaway key gives the CRX an id of its own, so the
//! test's host manifest allows that id where a published one allows the pinned id.

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use crate::{binary, root, Browser};

/// Where the example policies name the published packages and portal.
const PUBLISHED_UPDATE_BASE: &str = "https://selfservice.example.nhs.uk/extension/";
const PUBLISHED_PORTAL: &str = "https://selfservice.example.nhs.uk";

/// How the host is registered on the test machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// `install --system`: what the packages do.
    AllUsers,
    /// `install` for this user only (ignored where `NativeMessagingUserLevelHosts` is false).
    ThisUserOnly,
    /// Not registered at all.
    Nowhere,
}

/// One rollout to test: how the host is registered and whether the browser policy allows it.
#[derive(Debug, Clone, Copy)]
pub struct Rollout {
    pub registration: Registration,
    /// The Chromium policy always refuses every host (`NativeMessagingBlocklist: ["*"]`) but
    /// those in `NativeMessagingAllowlist`: the example's (ours), or with false one that does
    /// not name ours.
    pub policy_allows_host: bool,
}

impl Rollout {
    pub const AS_IT_DOES_IT: Rollout = Rollout {
        registration: Registration::AllUsers,
        policy_allows_host: true,
    };
}

/// The test machine's managed side: overlays for `/etc` and `/usr`, a home, the package server.
pub struct Machine {
    dir: tempfile::TempDir,
    /// The Chromium extension id of the served package.
    pub extension_id: String,
    /// Every path the browser asked the package server for.
    pub requests: Arc<Mutex<Vec<String>>>,
    mounts: std::sync::atomic::AtomicUsize,
    /// The system folders overlaid: only those this browser reads policy and hosts from
    /// (no more of the machine than each needs is replaced).
    layers: &'static [&'static str],
}

impl Machine {
    /// Lays out the policy and the packages for `browser` and registers the host as asked.
    pub fn prepare(browser: Browser, portal_url: &str, rollout: Rollout) -> Result<Machine> {
        let dir = tempfile::Builder::new().prefix("rollout-").tempdir()?;
        for sub in ["etc/upper", "usr/upper", "home", "served"] {
            std::fs::create_dir_all(dir.path().join(sub))?;
        }
        let packages = root().join("target/rollout");
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let base = format!(
            "http://127.0.0.1:{}/extension/",
            listener.local_addr()?.port()
        );
        let served = dir.path().join("served");
        let missing = || {
            format!(
                "{} has no packages: run `cargo xtask rollout-packages` (cargo xtask test does)",
                packages.display()
            )
        };
        let mut machine = Machine {
            extension_id: String::new(),
            requests: serve(listener, served.clone()),
            mounts: Default::default(),
            layers: match browser {
                Browser::Chromium => &["etc"],
                Browser::Firefox => &["usr"],
            },
            dir,
        };
        let (example, policy_file) = match browser {
            Browser::Chromium => {
                let chromium = packages.join("chromium");
                let id = std::fs::read_to_string(chromium.join("id")).with_context(missing)?;
                machine.extension_id = id.trim().to_string();
                for entry in std::fs::read_dir(&chromium).with_context(missing)? {
                    let path = entry?.path();
                    if path.extension().is_some_and(|x| x == "crx") {
                        std::fs::copy(&path, served.join(path.file_name().context("name")?))?;
                    }
                }
                let updates =
                    std::fs::read_to_string(chromium.join("updates.xml")).with_context(missing)?;
                std::fs::write(
                    served.join("updates.xml"),
                    updates.replace(PUBLISHED_UPDATE_BASE, &base),
                )?;
                (
                    "installers/policies/linux/managed-policy.json",
                    "etc/upper/chromium/policies/managed/smartcard-selfservice.json",
                )
            }
            Browser::Firefox => {
                std::fs::copy(
                    packages.join("firefox/smartcard-selfservice.xpi"),
                    served.join("smartcard-selfservice.xpi"),
                )
                .with_context(missing)?;
                (
                    "installers/policies/firefox/policies.json",
                    "usr/upper/lib/firefox-esr/distribution/policies.json",
                )
            }
        };
        // The example policy as IT deploys it, pointed at this machine's server and portal.
        let example = std::fs::read_to_string(root().join(example))?;
        ensure!(
            example.contains(PUBLISHED_UPDATE_BASE) && example.contains(PUBLISHED_PORTAL),
            "{} no longer names {PUBLISHED_UPDATE_BASE} and {PUBLISHED_PORTAL}",
            root().join(example).display()
        );
        let text = example
            .replace(
                selfservice_rules::names::CHROMIUM_EXTENSION_ID,
                &machine.extension_id,
            )
            .replace(PUBLISHED_UPDATE_BASE, &base)
            .replace(PUBLISHED_PORTAL, portal_url.trim_end_matches('/'));
        let mut policy: Value = serde_json::from_str(&text)?;
        if browser == Browser::Chromium {
            // Hardened as a locked-down clinical machine is: every host refused but the
            // allowlist's, so the example's allowlist is what lets ours through.
            policy["NativeMessagingBlocklist"] = json!(["*"]);
            if !rollout.policy_allows_host {
                policy["NativeMessagingAllowlist"] = json!(["com.example.other_host"]);
            }
            // The one setting only the test adds: by default (0) Chromium detaches DevTools,
            // and so WebDriver, from the pages of an extension installed by policy. Staff
            // machines keep that default.
            policy["DeveloperToolsAvailability"] = json!(1);
        }
        let path = machine.dir.path().join(policy_file);
        std::fs::create_dir_all(path.parent().context("policy folder")?)?;
        std::fs::write(&path, serde_json::to_string_pretty(&policy)?)?;

        match rollout.registration {
            Registration::AllUsers => machine.install(browser, true)?,
            Registration::ThisUserOnly => machine.install(browser, false)?,
            Registration::Nowhere => {}
        }
        Ok(machine)
    }

    /// `install` (`--system` or for this user) run inside the machine, then the manifests it
    /// wrote pointed at the test package's id and at the recording wrapper.
    fn install(&self, browser: Browser, system: bool) -> Result<()> {
        let target = match browser {
            Browser::Chromium => "chromium",
            Browser::Firefox => "firefox",
        };
        let mut args = vec!["install", "--browser", target];
        if system {
            args.push("--system");
        }
        let mut command = self.command(&binary("smartcard-selfservice")?);
        let output = command.args(&args).output()?;
        ensure!(
            output.status.success(),
            "smartcard-selfservice {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let manifests = crate::manifests_in(self.dir.path())?;
        ensure!(
            !manifests.is_empty(),
            "install wrote no manifest inside the test machine"
        );
        if browser == Browser::Chromium {
            for manifest in &manifests {
                let mut json: Value = serde_json::from_str(&std::fs::read_to_string(manifest)?)?;
                json["allowed_origins"] =
                    json!([format!("chrome-extension://{}/", self.extension_id)]);
                std::fs::write(manifest, json.to_string())?;
            }
        }
        crate::record_native_messages_in(self.dir.path(), self.dir.path())
    }

    /// The home folder of the person at this machine (a user-level host lives under it).
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A command that runs inside this machine: its own mount namespace, `/etc` and `/usr`
    /// overlaid with the test's layers, HOME the machine's home.
    pub fn command(&self, program: &Path) -> Command {
        // Each mount gets a work folder of its own: overlayfs wants it empty and unshared.
        let n = self
            .mounts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut script = String::new();
        for layer in self.layers {
            let work = self.dir.path().join(format!("{layer}/work-{n}"));
            let _ = std::fs::create_dir_all(&work);
            script.push_str(&format!(
                "mount -t overlay overlay -o lowerdir=/{layer},upperdir='{}',workdir='{}' /{layer} && ",
                self.dir.path().join(format!("{layer}/upper")).display(),
                work.display(),
            ));
        }
        script.push_str("exec \"$0\" \"$@\"");
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .arg(program)
            .env("HOME", self.home());
        command
    }

    /// `smartcard-selfservice doctor` as IT runs it on this machine: what it printed, and
    /// whether it found a problem.
    pub fn doctor(&self, env: &[(String, String)]) -> Result<(String, bool)> {
        let output = self
            .command(&binary("smartcard-selfservice")?)
            .arg("doctor")
            .envs(env.iter().cloned())
            .output()?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if text.is_empty() {
            bail!(
                "doctor printed nothing: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok((text, !output.status.success()))
    }

    /// Native messages recorded by the wrapper the manifests point at.
    pub fn recorded(&self) -> &Path {
        self.dir.path()
    }
}

/// Serves the files in `dir` under `/extension/` on `listener`, on a thread of its own, until
/// the process ends; records each request's path.
fn serve(listener: std::net::TcpListener, dir: PathBuf) -> Arc<Mutex<Vec<String>>> {
    use std::io::{BufRead, BufReader, Write};
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_err() {
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
                .filter(|n| !n.is_empty() && !n.contains('/') && !n.contains(".."))
                .unwrap_or("");
            let kind = match name.rsplit('.').next() {
                Some("crx") => "application/x-chrome-extension",
                Some("xpi") => "application/x-xpinstall",
                _ => "text/xml",
            };
            let (status, kind, body) = match std::fs::read(dir.join(name)) {
                Ok(body) if !name.is_empty() => ("200 OK", kind, body),
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

/// How long a browser may take to fetch and install a policy's package; polled, so a fast
/// machine does not wait (a deadline, not a timed assertion).
const INSTALL_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

impl crate::Session {
    /// Starts `browser` on a machine IT has set up: the extension only from the policy (never
    /// loaded unpacked), its portal from the policy's managed storage, the host as `rollout`
    /// registers it. Returns once the browser has installed the extension and handed it the
    /// policy's settings, with the extension's options page open.
    pub async fn start_by_policy(
        browser: Browser,
        world: &crate::World,
        rollout: Rollout,
    ) -> Result<crate::Session> {
        crate::announce_browsers();
        let machine = Machine::prepare(browser, world.portal_url(), rollout)?;
        let profile = tempfile::Builder::new().prefix("e2e-policy-").tempdir()?;
        let (driver, port) = crate::start_driver(
            match browser {
                Browser::Chromium => machine.command(Path::new("chromedriver")),
                Browser::Firefox => {
                    let mut command = machine.command(&crate::geckodriver());
                    command.arg("--allow-system-access");
                    command
                }
            },
            world,
        )?;
        let capabilities = match browser {
            // Chromium's own user folder under the machine's home: where a user-level host is
            // looked for. Background networking stays on: it is what fetches a policy's package.
            Browser::Chromium => json!({
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "excludeSwitches": ["disable-background-networking"],
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-component-update", "--disable-sync", "--window-size=1200,1000",
                        format!("--user-data-dir={}", machine.home().join(".config/chromium").display()),
                    ]
                }
            }),
            // Only this test profile accepts the unsigned xpi; a published one is signed.
            Browser::Firefox => json!({
                "browserName": "firefox",
                "moz:firefoxOptions": {
                    "binary": "/usr/bin/firefox-esr",
                    "args": ["-headless", "-width", "1200", "-height", "1000"],
                    "prefs": {
                        "extensions.webextensions.uuids": json!({ selfservice_rules::names::FIREFOX_ADDON_ID: crate::FIREFOX_UUID }).to_string(),
                        "xpinstall.signatures.required": false,
                        "datareporting.policy.dataSubmissionEnabled": false,
                        "browser.shell.checkDefaultBrowser": false
                    }
                }
            }),
        };
        let client = crate::connect(capabilities, port).await?;
        let extension_base = match browser {
            Browser::Chromium => format!("chrome-extension://{}/", machine.extension_id),
            Browser::Firefox => format!("moz-extension://{}/", crate::FIREFOX_UUID),
        };
        let session = crate::Session {
            client,
            browser,
            extension_base,
            driver,
            recorded: machine.recorded().to_path_buf(),
            _profile: profile,
            machine: Some(machine),
        };
        session.wait_installed_by_policy().await?;
        Ok(session)
    }

    /// Whether the options page shows a value the policy set: the browser hands an extension
    /// its managed settings a moment after installing it.
    async fn policy_settings_shown(&self) -> bool {
        use fantoccini::Locator;
        for _ in 0..20 {
            if self
                .client
                .find(Locator::Css(".config-source[data-source=policy]"))
                .await
                .is_ok()
            {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        false
    }

    /// Waits until the policy's package is installed and its settings have arrived (its
    /// options page opens and shows them; the page is left open). Chromium
    /// is watched through its profile (the unpacked copy appears): a navigation to an
    /// extension page it does not have yet detaches the tab, which no later command survives.
    async fn wait_installed_by_policy(&self) -> Result<()> {
        let deadline = std::time::Instant::now() + INSTALL_DEADLINE;
        let machine = self.machine.as_ref().context("installed by policy")?;
        let unpacked = machine
            .home()
            .join(".config/chromium/Default/Extensions")
            .join(&machine.extension_id);
        let installed = || {
            std::fs::read_dir(&unpacked).is_ok_and(|entries| {
                entries
                    .flatten()
                    .any(|e| e.path().join("manifest.json").is_file())
            })
        };
        let options = self.page("pages/options.html");
        let mut last_error = String::new();
        loop {
            let ready = self.browser == Browser::Firefox || installed();
            if ready {
                match self.client.goto(&options).await {
                    Ok(()) if self.policy_settings_shown().await => return Ok(()),
                    Ok(()) => {
                        last_error = "the options page shows no setting from the policy yet".into()
                    }
                    Err(e) => last_error = e.to_string(),
                }
            }
            if std::time::Instant::now() > deadline {
                let asked = machine
                    .requests
                    .lock()
                    .map(|r| r.clone())
                    .unwrap_or_default();
                bail!(
                    "{:?} did not install the extension by policy within {} s (it asked the package server for {asked:?}; last: {last_error})",
                    self.browser,
                    INSTALL_DEADLINE.as_secs()
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
}
