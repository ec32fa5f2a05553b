//! The Windows stage of `cargo xtask test`: the Windows build of the host and the MSI, run
//! under Wine 8.0 from Debian in a fresh prefix under `target/`, checked as an IT engineer
//! would check a rollout (`reg query`, the files, `doctor`). What Wine cannot show (card
//! operations: its winscard is a stub; Windows Installer itself) is listed in
//! `installers/README.md` for a first real Windows machine.

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use crate::{cmd, installers, setup};

/// Debian 12 puts no `wine64` on PATH.
pub const WINE64: &str = "/usr/lib/wine/wine64";
const WINESERVER: &str = "/usr/lib/wine/wineserver";
const PRODUCT_DIR: &str = "C:\\Program Files\\Smartcard Self-Service";
const POLICY_KEY: &str = "HKLM\\SOFTWARE\\Policies\\SmartcardSelfService";
const ORIGIN: &str = "https://portal.example.nhs.uk";
/// A well-formed Ed25519 public key (RFC 8032, test 1), base64.
const PORTAL_KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

/// Where each browser looks for the host, which manifest it gets, and its MSI feature.
const BROWSER_KEYS: [(&str, &str, &str); 4] = [
    ("Microsoft\\Edge", "chromium", "Edge"),
    ("Google\\Chrome", "chromium", "Chrome"),
    ("Chromium", "chromium", "Chromium"),
    ("Mozilla", "firefox", "Firefox"),
];

/// A throwaway Wine prefix; its wineserver is stopped when this is dropped, whatever happened.
struct Wine {
    prefix: PathBuf,
    started: Instant,
}

impl Drop for Wine {
    fn drop(&mut self) {
        let _ = Command::new(WINESERVER)
            .arg("-k")
            .env("WINEPREFIX", &self.prefix)
            .status();
    }
}

impl Wine {
    /// A step of this stage, with the seconds since it began (it should stay well under two
    /// minutes).
    fn step(&self, what: &str) {
        cmd::step(&format!(
            "windows (+{} s): {what}",
            self.started.elapsed().as_secs()
        ));
    }

    fn fresh(root: &Path) -> Result<Wine> {
        let prefix = root.join("target/wine-prefix");
        if prefix.exists() {
            // A previous run's server may still hold it.
            drop(Wine {
                prefix: prefix.clone(),
                started: Instant::now(),
            });
            std::fs::remove_dir_all(&prefix)
                .with_context(|| format!("removing {}", prefix.display()))?;
        }
        std::fs::create_dir_all(&prefix)?;
        let wine = Wine {
            prefix,
            started: Instant::now(),
        };
        let booted = wine.run(&["wineboot", "-i"])?;
        ensure!(
            booted.status.success(),
            "wineboot failed: {}",
            text(&booted)
        );
        // The test-only ProcessPrng forwarder (installers/windows/wine/processprng.c): Rust's std
        // needs it and Wine 8.0 lacks it. Built outside the exe's folder, into system32.
        let dll = root.join("target/wine/bcryptprimitives.dll");
        std::fs::create_dir_all(dll.parent().context("dll folder")?)?;
        cmd::run(
            "x86_64-w64-mingw32-gcc",
            &[
                "-O2",
                "-shared",
                "-o",
                dll.to_str().context("path")?,
                root.join("installers/windows/wine/processprng.c")
                    .to_str()
                    .context("path")?,
                "-ladvapi32",
            ],
        )?;
        std::fs::copy(
            &dll,
            wine.prefix
                .join("drive_c/windows/system32/bcryptprimitives.dll"),
        )?;
        Ok(wine)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(WINE64);
        command
            .args(args)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            // Started from elsewhere than any install folder, as IT would.
            .current_dir(std::env::temp_dir());
        command
    }

    /// Runs wine64 and waits for it alone. Its output goes through files, not pipes: Wine's
    /// helper processes inherit the handles and would hold a pipe open for seconds after.
    fn run(&self, args: &[&str]) -> Result<Output> {
        let (out, err) = (
            self.prefix.join("stdout.txt"),
            self.prefix.join("stderr.txt"),
        );
        let status = self
            .command(args)
            .stdout(std::fs::File::create(&out)?)
            .stderr(std::fs::File::create(&err)?)
            .status()
            .with_context(|| format!("wine64 {}", args.join(" ")))?;
        Ok(Output {
            status,
            stdout: std::fs::read(&out)?,
            stderr: std::fs::read(&err)?,
        })
    }

    /// A registry value (`None` for the key's default), if the key and value exist.
    fn reg_value(&self, key: &str, name: Option<&str>) -> Result<Option<String>> {
        let mut args = vec!["reg", "query", key];
        match name {
            Some(name) => args.extend(["/v", name]),
            None => args.push("/ve"),
        }
        let output = self.run(&args)?;
        let said = text(&output);
        if !output.status.success() {
            // Absent only when reg says so; any other failure is reported, not read as absent
            // (an intermittent "None" once could not be told apart from a missing key).
            ensure!(
                said.contains("Unable to find the specified registry"),
                "reg query {key} failed ({}): {said}",
                output.status
            );
            return Ok(None);
        }
        let shown = name.unwrap_or("(Default)");
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .find_map(|line| {
                let line = line.trim_start();
                let rest = line.strip_prefix(shown)?.trim_start();
                let (_type, value) = rest.split_once(char::is_whitespace)?;
                Some(value.trim().to_string())
            }))
    }

    /// Whether a key exists: absent only on reg's own "not found" (Wine: "reg: Unable to find
    /// the specified registry key"; Windows: "ERROR: The system was unable to find the
    /// specified registry key or value."), never on any other failure.
    fn key_exists(&self, key: &str) -> Result<bool> {
        let output = self.run(&["reg", "query", key])?;
        if output.status.success() {
            return Ok(true);
        }
        ensure!(
            output.status.code() == Some(1)
                && text(&output)
                    .to_ascii_lowercase()
                    .contains("unable to find the specified registry key"),
            "reg query {key} failed without saying the key is absent: {:?} {}",
            output.status.code(),
            text(&output)
        );
        Ok(false)
    }

    /// A Windows path (`C:\...`) inside this prefix.
    fn unix_path(&self, windows: &str) -> PathBuf {
        let rest = windows
            .strip_prefix("C:\\")
            .or_else(|| windows.strip_prefix("c:\\"))
            .unwrap_or(windows);
        self.prefix.join("drive_c").join(rest.replace('\\', "/"))
    }

    /// `doctor --json` of the given exe, as (exit success, checks).
    fn doctor(&self, exe: &str) -> Result<(bool, Vec<Value>)> {
        let output = self.run(&[exe, "doctor", "--json"])?;
        let checks: Vec<Value> = serde_json::from_slice(&output.stdout)
            .with_context(|| format!("doctor --json: {}", text(&output)))?;
        Ok((output.status.success(), checks))
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A Linux path as Wine's `Z:` drive shows it.
fn z_path(path: &Path) -> Result<String> {
    Ok(format!(
        "Z:{}",
        path.to_str().context("a UTF-8 path")?.replace('/', "\\")
    ))
}

/// The host cross-compiled for Windows in release (what the MSI carries); its path.
pub fn build_release_host() -> Result<PathBuf> {
    cmd::step("cargo build --release (host for Windows)");
    cmd::cargo(&[
        "build",
        "--release",
        "--package",
        "smartcard-selfservice",
        "--target",
        setup::WINDOWS_TARGET,
    ])?;
    Ok(cmd::root().join(format!(
        "target/{}/release/smartcard-selfservice.exe",
        setup::WINDOWS_TARGET
    )))
}

pub fn run() -> Result<()> {
    let _timing = Timing(Instant::now());
    let root = cmd::root();
    cmd::step("windows: the Windows build of the host and the MSI under Wine (a fresh prefix)");
    let wine = Wine::fresh(&root)?;
    let exe = root.join(format!(
        "target/{}/debug/smartcard-selfservice.exe",
        setup::WINDOWS_TARGET
    ));
    let exe_z = z_path(&exe)?;

    let version = wine.run(&[&exe_z, "--version"])?;
    ensure!(
        text(&version).trim() == format!("smartcard-selfservice {}", env!("CARGO_PKG_VERSION")),
        "--version under Wine: {}",
        text(&version)
    );
    user_install(&wine, &exe_z)?;
    machine_configuration(&wine, &exe_z)?;
    browser_policies(&wine, &exe_z)?;

    wine.step("the host's framing tests against the Windows build (wine64 <exe>)");
    let status = Command::new("cargo")
        // --workspace: the features the workspace build already compiled with.
        .args(["test", "--workspace", "--test", "framing"])
        .env("SMARTCARD_SELFSERVICE_TEST_WINE", WINE64)
        .env("SMARTCARD_SELFSERVICE_TEST_WINDOWS_EXE", &exe)
        .env("WINEPREFIX", &wine.prefix)
        .env("WINEDEBUG", "-all")
        .current_dir(&root)
        .status()?;
    ensure!(status.success(), "the framing tests failed under Wine");

    msi(&wine, &root, &exe)?;
    Ok(())
}

/// `install --user` writes a manifest per browser and its HKCU key; `uninstall --user` leaves
/// nothing behind: no key, no empty parent key it made, no folder.
fn user_install(wine: &Wine, exe: &str) -> Result<()> {
    wine.step("install --user and uninstall --user, every key and file checked");
    let parents = [
        "HKCU\\Software\\Microsoft\\Edge",
        "HKCU\\Software\\Google",
        "HKCU\\Software\\Chromium",
        "HKCU\\Software\\Mozilla",
    ];
    let before: Vec<bool> = parents
        .iter()
        .map(|k| wine.key_exists(k))
        .collect::<Result<_>>()?;
    let installed = wine.run(&[exe, "install", "--user"])?;
    ensure!(
        installed.status.success(),
        "install --user: {}",
        text(&installed)
    );
    let mut folders = Vec::new();
    for (vendor, _, _) in BROWSER_KEYS {
        let key = format!("HKCU\\Software\\{vendor}\\NativeMessagingHosts\\smartcard_selfservice");
        let manifest = wine
            .reg_value(&key, None)?
            .with_context(|| format!("{key} after install --user"))?;
        ensure!(manifest.ends_with(".json"), "{key} names {manifest}");
        let file = wine.unix_path(&manifest);
        let json: Value = serde_json::from_str(
            &std::fs::read_to_string(&file)
                .with_context(|| format!("{key} names {manifest}, which is not there"))?,
        )?;
        ensure!(
            json["name"] == "smartcard_selfservice"
                && json["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("smartcard-selfservice.exe")),
            "{manifest}: {json}"
        );
        folders.extend(file.parent().map(Path::to_path_buf));
    }
    let removed = wine.run(&[exe, "uninstall", "--user"])?;
    ensure!(
        removed.status.success(),
        "uninstall --user: {}",
        text(&removed)
    );
    for (vendor, _, _) in BROWSER_KEYS {
        let key = format!("HKCU\\Software\\{vendor}\\NativeMessagingHosts\\smartcard_selfservice");
        ensure!(!wine.key_exists(&key)?, "{key} left after uninstall --user");
    }
    for (parent, existed) in parents.iter().zip(before) {
        ensure!(
            wine.key_exists(parent)? == existed,
            "{parent} {} by install and uninstall",
            if existed { "removed" } else { "left behind" }
        );
    }
    for folder in folders {
        ensure!(
            !folder.exists() || std::fs::read_dir(&folder)?.next().is_some(),
            "{} left empty after uninstall --user",
            folder.display()
        );
    }
    Ok(())
}

fn reg_add(wine: &Wine, name: &str, kind: &str, value: &str) -> Result<()> {
    reg_add_at(wine, POLICY_KEY, name, kind, value)
}

fn reg_add_at(wine: &Wine, key: &str, name: &str, kind: &str, value: &str) -> Result<()> {
    let output = wine.run(&["reg", "add", key, "/v", name, "/t", kind, "/d", value, "/f"])?;
    ensure!(
        output.status.success(),
        "reg add {key} {name}: {}",
        text(&output)
    );
    Ok(())
}

/// The checks doctor reports at a level (`ok`, `warning`, `problem`), as "name: detail".
fn at_level(checks: &[Value], level: &str) -> Vec<String> {
    checks
        .iter()
        .filter(|c| c["level"] == level)
        .map(|c| {
            format!(
                "{}: {}",
                c["area"].as_str().unwrap_or(""),
                c["finding"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// The machine configuration from the policy key: good values (origins as REG_MULTI_SZ), then
/// a bad key and a bad policy, each as `doctor --json` reports it.
fn machine_configuration(wine: &Wine, exe: &str) -> Result<()> {
    wine.step("the machine configuration from HKLM\\SOFTWARE\\Policies, as doctor reads it");
    reg_add(
        wine,
        "PortalOrigins",
        "REG_MULTI_SZ",
        &format!("{ORIGIN}\\0https://second.example.nhs.uk"),
    )?;
    reg_add(wine, "PortalPublicKey", "REG_SZ", PORTAL_KEY)?;
    let (_, checks) = wine.doctor(exe)?;
    let ok = at_level(&checks, "ok");
    ensure!(
        ok.iter().any(
            |c| c.contains("read from registry HKLM\\SOFTWARE\\Policies\\SmartcardSelfService")
        ),
        "doctor did not read the policy key: {checks:?}"
    );
    ensure!(
        ok.iter()
            .any(|c| c.contains(ORIGIN) && c.contains("https://second.example.nhs.uk")),
        "doctor does not list both origins: {checks:?}"
    );
    let problems = at_level(&checks, "problem");
    ensure!(
        problems
            .iter()
            .all(|p| p.starts_with("pc/sc") || p.starts_with("browser")),
        "good values gave problems: {problems:?}"
    );
    // Wine 8.0's winscard cannot give a context: status and doctor say unavailable, as the
    // events do (never "running").
    ensure!(
        problems
            .iter()
            .any(|p| p.starts_with("pc/sc") && p.contains("not reachable")),
        "doctor under Wine must say the PC/SC service is not reachable: {checks:?}"
    );
    for (name, kind, value, expected) in [
        ("PortalPublicKey", "REG_SZ", "short", "portal public key"),
        ("PasscodePolicy", "REG_SZ", "{not json", "PasscodePolicy"),
        ("CardPinRule", "REG_SZ", "bogus", "CardPinRule"),
    ] {
        reg_add(wine, name, kind, value)?;
        let (passed, checks) = wine.doctor(exe)?;
        let problems = at_level(&checks, "problem");
        ensure!(
            !passed && problems.iter().any(|p| p.contains(expected)),
            "a bad {name} is not reported: {problems:?}"
        );
        if name == "PortalPublicKey" {
            reg_add(wine, name, kind, PORTAL_KEY)?;
        } else {
            let deleted = wine.run(&["reg", "delete", POLICY_KEY, "/v", name, "/f"])?;
            ensure!(deleted.status.success(), "reg delete {name}");
        }
    }
    let deleted = wine.run(&["reg", "delete", POLICY_KEY, "/f"])?;
    ensure!(deleted.status.success(), "reg delete the policy key");
    Ok(())
}

/// Edge's native-messaging policy in `HKLM\SOFTWARE\Policies\Microsoft\Edge`, as GPO writes it,
/// read by doctor: a blocklist of `*` refuses our host until the allowlist names it, and
/// `NativeMessagingUserLevelHosts` = 0 makes a registration for this user only count for nothing.
fn browser_policies(wine: &Wine, exe: &str) -> Result<()> {
    wine.step("Edge's native-messaging policy (HKLM\\SOFTWARE\\Policies\\Microsoft\\Edge), as doctor reads it");
    const EDGE: &str = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Edge";
    let edge_problems = || -> Result<Vec<String>> {
        let (_, checks) = wine.doctor(exe)?;
        Ok(at_level(&checks, "problem")
            .into_iter()
            .filter(|p| p.starts_with("browser Microsoft Edge"))
            .collect())
    };
    let installed = wine.run(&[exe, "install", "--user", "--browser", "edge"])?;
    ensure!(
        installed.status.success(),
        "install --user --browser edge: {}",
        text(&installed)
    );

    reg_add_at(
        wine,
        &format!("{EDGE}\\NativeMessagingBlocklist"),
        "1",
        "REG_SZ",
        "*",
    )?;
    let refused = edge_problems()?;
    ensure!(
        refused
            .iter()
            .any(|p| p.contains("the browser policy refuses the host")
                && p.contains("Policies\\Microsoft\\Edge")),
        "doctor does not report Edge's blocklist: {refused:?}"
    );
    reg_add_at(
        wine,
        &format!("{EDGE}\\NativeMessagingAllowlist"),
        "1",
        "REG_SZ",
        "smartcard_selfservice",
    )?;
    let allowed = edge_problems()?;
    ensure!(
        allowed.is_empty(),
        "the allowlist names our host, yet: {allowed:?}"
    );

    reg_add_at(
        wine,
        EDGE,
        "NativeMessagingUserLevelHosts",
        "REG_DWORD",
        "0",
    )?;
    let ignored = edge_problems()?;
    ensure!(
        ignored
            .iter()
            .any(|p| p.contains("registered for this user only")
                && p.contains("NativeMessagingUserLevelHosts is false")),
        "doctor does not report the ignored user-level registration: {ignored:?}"
    );

    let deleted = wine.run(&["reg", "delete", EDGE, "/f"])?;
    ensure!(deleted.status.success(), "reg delete {EDGE}");
    let uninstalled = wine.run(&[exe, "uninstall", "--user", "--browser", "edge"])?;
    ensure!(
        uninstalled.status.success(),
        "uninstall --user --browser edge: {}",
        text(&uninstalled)
    );
    Ok(())
}

/// What an MSI install should leave: the four browser keys (those in `browsers`), the policy
/// values, the files; and doctor, run from elsewhere, finds nothing wrong but what Wine lacks.
fn expect_installed(wine: &Wine, browsers: &[&str], origins: &str) -> Result<()> {
    expect_registered(wine, browsers, origins)?;
    let exe = format!("{PRODUCT_DIR}\\smartcard-selfservice.exe");
    let (_, checks) = wine.doctor(&exe)?;
    let problems: Vec<String> = at_level(&checks, "problem")
        .into_iter()
        .filter(|p| !p.starts_with("pc/sc"))
        .collect();
    ensure!(problems.is_empty(), "doctor after the MSI: {problems:?}");
    // Wine 8's winscard gives no PC/SC context, as a PC without a reader does when Windows has
    // stopped its Smart Card service: installed and configured is 2, and 0 for a detection rule.
    let full = wine.run(&[&exe, "doctor"])?;
    ensure!(
        full.status.code() == Some(2),
        "doctor with no smart card service: {:?} {}",
        full.status.code(),
        text(&full)
    );
    let installation = wine.run(&[&exe, "doctor", "--installation"])?;
    ensure!(
        installation.status.code() == Some(0),
        "doctor --installation after the MSI: {:?} {}",
        installation.status.code(),
        text(&installation)
    );
    Ok(())
}

/// The keys, policy values and files of an install (without asking doctor).
fn expect_registered(wine: &Wine, browsers: &[&str], origins: &str) -> Result<()> {
    for (vendor, kind, _) in BROWSER_KEYS {
        let key = format!("HKLM\\SOFTWARE\\{vendor}\\NativeMessagingHosts\\smartcard_selfservice");
        let value = wine.reg_value(&key, None)?;
        if browsers.contains(&vendor) {
            ensure!(
                value.as_deref()
                    == Some(format!("{PRODUCT_DIR}\\smartcard_selfservice.{kind}.json").as_str()),
                "{key}: {value:?}"
            );
        } else {
            ensure!(value.is_none(), "{key} is there: {value:?}");
        }
    }
    for (name, expected) in [("PortalOrigins", origins), ("PortalPublicKey", PORTAL_KEY)] {
        let value = wine.reg_value(POLICY_KEY, Some(name))?;
        ensure!(value.as_deref() == Some(expected), "{name} is {value:?}");
    }
    for file in [
        "smartcard-selfservice.exe",
        "smartcard_selfservice.chromium.json",
        "smartcard_selfservice.firefox.json",
    ] {
        let path = wine.unix_path(&format!("{PRODUCT_DIR}\\{file}"));
        ensure!(path.exists(), "{} is missing", path.display());
    }
    Ok(())
}

fn msiexec(wine: &Wine, args: &[&str]) -> Result<Output> {
    let mut all = vec!["msiexec"];
    all.extend(args);
    all.push("/qn");
    wine.run(&all)
}

/// The MSI as IT runs it: install with properties, each browser feature alone, repair, a
/// major upgrade without the properties, a refused downgrade, uninstall.
fn msi(wine: &Wine, root: &Path, exe: &Path) -> Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    let newer = bump(version)?;
    let native = root.join("target/debug/smartcard-selfservice");
    let dir = root.join("target/installers-wine");
    let (old, new) = (dir.join("current.msi"), dir.join("newer.msi"));
    installers::build_msi(version, exe, &native, &old)?;
    installers::build_msi(&newer, exe, &native, &new)?;
    let (old_z, new_z) = (z_path(&old)?, z_path(&new)?);
    let all: Vec<&str> = BROWSER_KEYS.iter().map(|(vendor, _, _)| *vendor).collect();
    let ok = |output: Output, what: &str| -> Result<()> {
        ensure!(output.status.success(), "msiexec {what}: {}", text(&output));
        Ok(())
    };

    wine.step("MSI silent install with PORTALORIGINS and PORTALPUBLICKEY");
    let origins = format!("PORTALORIGINS={ORIGIN}");
    let key = format!("PORTALPUBLICKEY={PORTAL_KEY}");
    ok(msiexec(wine, &["/i", &old_z, &origins, &key])?, "/i")?;
    expect_installed(wine, &all, ORIGIN)?;

    wine.step("MSI features one at a time (REMOVE=, ADDLOCAL=), the policy kept");
    for (vendor, _, feature) in BROWSER_KEYS {
        ok(
            msiexec(wine, &["/i", &old_z, &format!("REMOVE={feature}")])?,
            "REMOVE",
        )?;
        let rest: Vec<&str> = all.iter().copied().filter(|v| *v != vendor).collect();
        expect_registered(wine, &rest, ORIGIN)?;
        ok(
            msiexec(wine, &["/i", &old_z, &format!("ADDLOCAL={feature}")])?,
            "ADDLOCAL",
        )?;
        expect_registered(wine, &all, ORIGIN)?;
    }

    wine.step("MSI repair puts back a deleted manifest and key, the policy kept");
    std::fs::remove_file(wine.unix_path(&format!(
        "{PRODUCT_DIR}\\smartcard_selfservice.firefox.json"
    )))?;
    let deleted = wine.run(&[
        "reg",
        "delete",
        "HKLM\\SOFTWARE\\Google\\Chrome\\NativeMessagingHosts\\smartcard_selfservice",
        "/f",
    ])?;
    ensure!(deleted.status.success(), "reg delete: {}", text(&deleted));
    // REINSTALL=ALL: Wine's msiexec does not take the /f form.
    ok(
        msiexec(
            wine,
            &["/i", &old_z, "REINSTALL=ALL", "REINSTALLMODE=vomus"],
        )?,
        "repair",
    )?;
    expect_installed(wine, &all, ORIGIN)?;

    wine.step(&format!(
        "MSI major upgrade to {newer} without the properties"
    ));
    ok(msiexec(wine, &["/i", &new_z])?, "upgrade")?;
    expect_installed(wine, &all, ORIGIN)?;
    ensure!(
        installed_version(wine)?.as_deref() == Some(newer.as_str()),
        "after the upgrade: {:?}",
        installed_version(wine)?
    );

    wine.step("MSI downgrade refused");
    let downgrade = msiexec(wine, &["/i", &old_z])?;
    // MajorUpgrade's DowngradeErrorMessage ends the install with ERROR_INSTALL_FAILURE (1603);
    // any other failure (a missing file, a broken package) is not a refused downgrade. Wine
    // hands a Windows exit code to Unix as its low byte: 1603 arrives as 67.
    ensure!(
        downgrade.status.code() == Some(1603 & 0xFF),
        "the downgrade: exit {:?}, not the refusal 1603: {}",
        downgrade.status.code(),
        text(&downgrade)
    );
    ensure!(
        installed_version(wine)?.as_deref() == Some(newer.as_str()),
        "the downgrade changed the product"
    );

    wine.step("MSI uninstall leaves nothing");
    ok(msiexec(wine, &["/x", &new_z])?, "/x")?;
    for (vendor, _, _) in BROWSER_KEYS {
        let key = format!("HKLM\\SOFTWARE\\{vendor}\\NativeMessagingHosts\\smartcard_selfservice");
        ensure!(!wine.key_exists(&key)?, "{key} left after uninstall");
    }
    ensure!(
        wine.reg_value(POLICY_KEY, Some("PortalOrigins"))?.is_none()
            && wine
                .reg_value(POLICY_KEY, Some("PortalPublicKey"))?
                .is_none(),
        "policy values left after uninstall"
    );
    ensure!(
        !wine.unix_path(PRODUCT_DIR).exists(),
        "{PRODUCT_DIR} left after uninstall"
    );
    Ok(())
}

/// The product version Windows Installer has registered (Uninstall key's DisplayVersion).
fn installed_version(wine: &Wine) -> Result<Option<String>> {
    let output = wine.run(&[
        "reg",
        "query",
        "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall",
        "/s",
    ])?;
    let listing = String::from_utf8_lossy(&output.stdout).into_owned();
    // Every Uninstall entry of the product: two side by side (an upgrade that did not remove
    // the old one) is a failure, not whichever came last.
    let versions: Vec<String> = listing
        .split("\nHKEY_")
        .filter(|b| b.contains("Smartcard Self-Service"))
        .filter_map(|block| {
            block.lines().find_map(|line| {
                let rest = line
                    .trim_start()
                    .strip_prefix("DisplayVersion")?
                    .trim_start();
                rest.split_once(char::is_whitespace)
                    .map(|(_, v)| v.trim().to_string())
            })
        })
        .collect();
    ensure!(
        versions.len() <= 1,
        "more than one Smartcard Self-Service installed: {versions:?}"
    );
    Ok(versions.into_iter().next())
}

/// Says how long the stage took, however it ended.
struct Timing(Instant);

impl Drop for Timing {
    fn drop(&mut self) {
        eprintln!("    windows stage: {} s", self.0.elapsed().as_secs());
    }
}

/// The next patch version (the "newer" MSI of the upgrade test).
fn bump(version: &str) -> Result<String> {
    let mut parts: Vec<u64> = version
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("a numeric version")?;
    match parts.last_mut() {
        Some(patch) => *patch += 1,
        None => bail!("an empty version"),
    }
    Ok(parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("."))
}
