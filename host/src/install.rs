//! `install` / `uninstall`: registers this binary as the native-messaging host with Edge,
//! Chrome, Chromium and Firefox, for the user or the whole machine, in every place each browser
//! reads: manifest files on Linux and macOS, registry keys pointing at manifests on Windows.

use anyhow::{Context, Result};
use selfservice_rules::names::{self, NATIVE_HOST_NAME};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Browser {
    Edge,
    Chrome,
    Chromium,
    Firefox,
}

pub const ALL_BROWSERS: [Browser; 4] = [
    Browser::Edge,
    Browser::Chrome,
    Browser::Chromium,
    Browser::Firefox,
];

impl Browser {
    pub fn label(self) -> &'static str {
        match self {
            Browser::Edge => "Microsoft Edge",
            Browser::Chrome => "Google Chrome",
            Browser::Chromium => "Chromium",
            Browser::Firefox => "Firefox",
        }
    }
    fn is_firefox(self) -> bool {
        self == Browser::Firefox
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    User,
    System,
}

/// The host manifest a browser family reads. One file cannot serve both families: Chromium
/// browsers want `allowed_origins`, Firefox `allowed_extensions`.
pub fn manifest(browser: Browser, program: &Path) -> serde_json::Value {
    let mut manifest = json!({
        "name": NATIVE_HOST_NAME,
        "description": format!("{} card reader bridge", names::PRODUCT_NAME),
        "path": program.to_string_lossy(),
        "type": "stdio",
    });
    if browser.is_firefox() {
        manifest["allowed_extensions"] = json!([names::FIREFOX_ADDON_ID]);
    } else {
        manifest["allowed_origins"] = json!([names::chromium_extension_origin()]);
    }
    manifest
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Where the manifest files go. `profile` is a Chromium `--user-data-dir`, or the HOME a
/// Firefox runs with (tests give each browser its own).
pub fn manifest_paths(browser: Browser, scope: Scope, profile: Option<&Path>) -> Vec<PathBuf> {
    let file = format!("{NATIVE_HOST_NAME}.json");
    if let Some(profile) = profile {
        let dir = match browser {
            Browser::Firefox if cfg!(target_os = "macos") => {
                profile.join("Library/Application Support/Mozilla/NativeMessagingHosts")
            }
            Browser::Firefox => profile.join(".mozilla/native-messaging-hosts"),
            _ => profile.join("NativeMessagingHosts"),
        };
        return vec![dir.join(file)];
    }
    let dirs: Vec<PathBuf> = if cfg!(windows) {
        vec![windows_manifest_dir(scope)]
    } else if cfg!(target_os = "macos") {
        let support = home().join("Library/Application Support");
        match (browser, scope) {
            (Browser::Chrome, Scope::User) => {
                vec![support.join("Google/Chrome/NativeMessagingHosts")]
            }
            (Browser::Chrome, Scope::System) => {
                vec!["/Library/Google/Chrome/NativeMessagingHosts".into()]
            }
            (Browser::Chromium, Scope::User) => vec![support.join("Chromium/NativeMessagingHosts")],
            (Browser::Chromium, Scope::System) => {
                vec!["/Library/Application Support/Chromium/NativeMessagingHosts".into()]
            }
            (Browser::Edge, Scope::User) => {
                vec![support.join("Microsoft Edge/NativeMessagingHosts")]
            }
            (Browser::Edge, Scope::System) => {
                vec!["/Library/Microsoft/Edge/NativeMessagingHosts".into()]
            }
            (Browser::Firefox, Scope::User) => vec![support.join("Mozilla/NativeMessagingHosts")],
            (Browser::Firefox, Scope::System) => {
                vec!["/Library/Application Support/Mozilla/NativeMessagingHosts".into()]
            }
        }
    } else {
        match (browser, scope) {
            (Browser::Chrome, Scope::User) => {
                vec![home().join(".config/google-chrome/NativeMessagingHosts")]
            }
            (Browser::Chrome, Scope::System) => {
                vec!["/etc/opt/chrome/native-messaging-hosts".into()]
            }
            (Browser::Chromium, Scope::User) => {
                vec![home().join(".config/chromium/NativeMessagingHosts")]
            }
            (Browser::Chromium, Scope::System) => {
                vec!["/etc/chromium/native-messaging-hosts".into()]
            }
            (Browser::Edge, Scope::User) => {
                vec![home().join(".config/microsoft-edge/NativeMessagingHosts")]
            }
            (Browser::Edge, Scope::System) => vec!["/etc/opt/edge/native-messaging-hosts".into()],
            (Browser::Firefox, Scope::User) => vec![home().join(".mozilla/native-messaging-hosts")],
            // Firefox picks /usr/lib or /usr/lib64 when it is built; write both.
            (Browser::Firefox, Scope::System) => vec![
                "/usr/lib/mozilla/native-messaging-hosts".into(),
                "/usr/lib64/mozilla/native-messaging-hosts".into(),
            ],
        }
    };
    let file = if cfg!(windows) {
        // On Windows the registry points at the file, so each family gets its own.
        format!(
            "{NATIVE_HOST_NAME}.{}.json",
            if browser.is_firefox() {
                "firefox"
            } else {
                "chromium"
            }
        )
    } else {
        file
    };
    dirs.into_iter().map(|d| d.join(&file)).collect()
}

fn windows_manifest_dir(scope: Scope) -> PathBuf {
    match scope {
        Scope::User => std::env::var_os("LOCALAPPDATA")
            .map(PathBuf::from)
            .unwrap_or_else(home)
            .join(names::PRODUCT_NAME),
        Scope::System => std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default(),
    }
}

/// The registry key (under HKCU or HKLM) whose default value names the manifest.
#[cfg_attr(not(windows), allow(dead_code))]
pub fn registry_key(browser: Browser) -> String {
    let vendor = match browser {
        Browser::Edge => "Microsoft\\Edge",
        Browser::Chrome => "Google\\Chrome",
        Browser::Chromium => "Chromium",
        Browser::Firefox => "Mozilla",
    };
    format!("SOFTWARE\\{vendor}\\NativeMessagingHosts\\{NATIVE_HOST_NAME}")
}

/// Writes the manifests (and on Windows the registry keys). Returns what was done.
pub fn install(
    browsers: &[Browser],
    scope: Scope,
    profile: Option<&Path>,
    program: &Path,
) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for &browser in browsers {
        let text = serde_json::to_string_pretty(&manifest(browser, program))?;
        for path in manifest_paths(browser, scope, profile) {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
            done.push(format!("{}: wrote {}", browser.label(), path.display()));
            if profile.is_none() {
                if let Some(line) = register(browser, scope, &path)? {
                    done.push(line);
                }
            }
        }
    }
    Ok(done)
}

/// Removes what `install` wrote, and nothing else.
pub fn uninstall(
    browsers: &[Browser],
    scope: Scope,
    profile: Option<&Path>,
) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for &browser in browsers {
        for path in manifest_paths(browser, scope, profile) {
            if path.exists() {
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
                done.push(format!("{}: removed {}", browser.label(), path.display()));
            }
            if let Some(folder) = path.parent().filter(|f| is_our_empty_folder(f)) {
                std::fs::remove_dir(folder)
                    .with_context(|| format!("removing {}", folder.display()))?;
                done.push(format!("removed the empty folder {}", folder.display()));
            }
            if profile.is_none() {
                if let Some(line) = unregister(browser, scope)? {
                    done.push(line);
                }
            }
        }
    }
    Ok(done)
}

/// A folder `install` made for itself (named after the product) that nothing is left in.
/// Browsers' own folders are never removed.
fn is_our_empty_folder(folder: &Path) -> bool {
    folder.file_name().is_some_and(|n| n == names::PRODUCT_NAME)
        && std::fs::read_dir(folder).is_ok_and(|mut entries| entries.next().is_none())
}

#[cfg(windows)]
fn hive(scope: Scope) -> winreg::RegKey {
    use winreg::enums::{HKEY_CURRENT_USER, HKEY_LOCAL_MACHINE};
    winreg::RegKey::predef(match scope {
        Scope::User => HKEY_CURRENT_USER,
        Scope::System => HKEY_LOCAL_MACHINE,
    })
}

#[cfg(windows)]
fn register(browser: Browser, scope: Scope, manifest: &Path) -> Result<Option<String>> {
    let (key, _) = hive(scope).create_subkey(registry_key(browser))?;
    key.set_value("", &manifest.to_string_lossy().to_string())?;
    Ok(Some(format!(
        "{}: registered {}",
        browser.label(),
        registry_key(browser)
    )))
}

#[cfg(windows)]
fn unregister(browser: Browser, scope: Scope) -> Result<Option<String>> {
    let key = registry_key(browser);
    match hive(scope).delete_subkey_all(&key) {
        Ok(()) => {
            remove_empty_parents(&hive(scope), &key);
            Ok(Some(format!("{}: removed {key}", browser.label())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Removes the parents of `key` that `register` may have created and that are now empty (no
/// subkeys, no values), up to but not including `SOFTWARE`: `...\NativeMessagingHosts`, then
/// the vendor keys of a browser that is not installed.
#[cfg(windows)]
fn remove_empty_parents(hive: &winreg::RegKey, key: &str) {
    let mut parts: Vec<&str> = key.split('\\').collect();
    while parts.len() > 2 {
        parts.pop();
        let parent = parts.join("\\");
        let empty = hive
            .open_subkey(&parent)
            .and_then(|k| k.query_info())
            .is_ok_and(|info| info.sub_keys == 0 && info.values == 0);
        if !empty || hive.delete_subkey(&parent).is_err() {
            break;
        }
    }
}

#[cfg(not(windows))]
fn register(_: Browser, _: Scope, _: &Path) -> Result<Option<String>> {
    Ok(None)
}

#[cfg(not(windows))]
fn unregister(_: Browser, _: Scope) -> Result<Option<String>> {
    Ok(None)
}

/// The manifest a browser would find for this scope, if any (for `doctor`).
#[cfg(windows)]
pub fn registered_manifest(browser: Browser, scope: Scope) -> Option<PathBuf> {
    let key = hive(scope).open_subkey(registry_key(browser)).ok()?;
    key.get_value::<String, _>("").ok().map(PathBuf::from)
}

#[cfg(not(windows))]
pub fn registered_manifest(browser: Browser, scope: Scope) -> Option<PathBuf> {
    manifest_paths(browser, scope, None)
        .into_iter()
        .find(|p| p.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uninstall_removes_the_folder_it_made_when_empty_and_never_a_browsers() {
        let dir = tempfile::tempdir().expect("dir");
        let ours = dir.path().join(names::PRODUCT_NAME);
        let browsers = dir.path().join("NativeMessagingHosts");
        for folder in [&ours, &browsers] {
            std::fs::create_dir_all(folder).expect("dir");
        }
        assert!(is_our_empty_folder(&ours));
        assert!(!is_our_empty_folder(&browsers), "a browser's folder stays");
        std::fs::write(ours.join("other.json"), "{}").expect("file");
        assert!(
            !is_our_empty_folder(&ours),
            "a folder with something left stays"
        );
    }

    #[test]
    fn manifests_carry_the_pinned_ids() {
        let chromium = manifest(Browser::Edge, Path::new("/opt/x/smartcard-selfservice"));
        assert_eq!(chromium["name"], NATIVE_HOST_NAME);
        assert_eq!(
            chromium["allowed_origins"][0],
            names::chromium_extension_origin()
        );
        assert!(chromium.get("allowed_extensions").is_none());
        let firefox = manifest(Browser::Firefox, Path::new("/opt/x/smartcard-selfservice"));
        assert_eq!(firefox["allowed_extensions"][0], names::FIREFOX_ADDON_ID);
        assert_eq!(firefox["type"], "stdio");
    }

    #[test]
    fn a_profile_install_and_uninstall_leave_nothing_behind() {
        let dir = tempfile::tempdir().expect("dir");
        let program = Path::new("/usr/bin/smartcard-selfservice");
        let done = install(&ALL_BROWSERS, Scope::User, Some(dir.path()), program).expect("install");
        assert_eq!(done.len(), 4);
        let chromium = dir
            .path()
            .join("NativeMessagingHosts/smartcard_selfservice.json");
        let text = std::fs::read_to_string(&chromium).expect("manifest written");
        assert!(text.contains("/usr/bin/smartcard-selfservice"));
        assert!(dir
            .path()
            .join(".mozilla/native-messaging-hosts/smartcard_selfservice.json")
            .exists());
        uninstall(&ALL_BROWSERS, Scope::User, Some(dir.path())).expect("uninstall");
        assert!(!chromium.exists());
    }
}
