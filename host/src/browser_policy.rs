//! What the Chromium-family browsers' managed policies say about native-messaging hosts, for
//! `doctor`: `NativeMessagingBlocklist` (`*` refuses every host not in the allowlist),
//! `NativeMessagingAllowlist` (exceptions to it) and `NativeMessagingUserLevelHosts` (false:
//! only hosts registered for all users are started). A browser that refuses our host this way
//! tells the extension only "disabled by the system administrator", or, for a user-level
//! registration it ignores, "not found"; doctor names the policy and the fix.
//!
//! Read where each browser reads them: the JSON files in `/etc/.../policies/managed/` on Linux,
//! `HKLM` and `HKCU` `SOFTWARE\Policies\...` on Windows. (macOS keeps them in configuration
//! profiles, which doctor does not read.) Firefox has no policy that refuses a host.

use selfservice_rules::names::NATIVE_HOST_NAME;
use std::path::PathBuf;

use crate::install::Browser;

/// The native-messaging part of one browser's policy, as set (None: not set).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NativeMessagingPolicy {
    pub blocklist: Option<Vec<String>>,
    pub allowlist: Option<Vec<String>>,
    pub user_level_hosts: Option<bool>,
    /// Where it was read from, for the finding.
    pub sources: Vec<String>,
}

impl NativeMessagingPolicy {
    /// Whether the blocklist refuses our host (by name or `*`) and the allowlist does not
    /// let it through.
    pub fn blocks_our_host(&self) -> bool {
        let listed = |list: &Option<Vec<String>>, wildcard: bool| {
            list.iter()
                .flatten()
                .any(|name| name == NATIVE_HOST_NAME || (wildcard && name == "*"))
        };
        listed(&self.blocklist, true) && !listed(&self.allowlist, false)
    }

    /// Whether user-level registrations are ignored.
    pub fn ignores_user_level_hosts(&self) -> bool {
        self.user_level_hosts == Some(false)
    }

    /// Folds one policy file (or registry key) in: lists add up, a `false` wins.
    fn merge(&mut self, other: NativeMessagingPolicy) {
        for (mine, theirs) in [
            (&mut self.blocklist, other.blocklist),
            (&mut self.allowlist, other.allowlist),
        ] {
            if let Some(theirs) = theirs {
                mine.get_or_insert_with(Vec::new).extend(theirs);
            }
        }
        self.user_level_hosts = match (self.user_level_hosts, other.user_level_hosts) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (a, b) => a.or(b),
        };
        self.sources.extend(other.sources);
    }
}

/// The policy as one JSON policy file sets it. Other keys (and values of the wrong type, which
/// the browser ignores too) are left out.
pub fn from_json(text: &str, source: &str) -> Option<NativeMessagingPolicy> {
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    let list = |key: &str| {
        json.get(key)?.as_array().map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
    };
    let policy = NativeMessagingPolicy {
        blocklist: list("NativeMessagingBlocklist"),
        allowlist: list("NativeMessagingAllowlist"),
        user_level_hosts: json
            .get("NativeMessagingUserLevelHosts")
            .and_then(serde_json::Value::as_bool),
        sources: vec![source.to_string()],
    };
    let sets_any = policy.blocklist.is_some()
        || policy.allowlist.is_some()
        || policy.user_level_hosts.is_some();
    sets_any.then_some(policy)
}

/// The folders of managed JSON policy a browser reads on Linux.
pub fn linux_policy_dirs(browser: Browser) -> Vec<PathBuf> {
    match browser {
        Browser::Chromium => vec![
            "/etc/chromium/policies/managed".into(),
            "/etc/chromium-browser/policies/managed".into(),
        ],
        Browser::Chrome => vec!["/etc/opt/chrome/policies/managed".into()],
        Browser::Edge => vec!["/etc/opt/edge/policies/managed".into()],
        Browser::Firefox => Vec::new(),
    }
}

/// The native-messaging policy this browser runs with on this machine.
pub fn read(browser: Browser) -> NativeMessagingPolicy {
    let mut policy = NativeMessagingPolicy::default();
    if cfg!(windows) {
        for found in read_registry(browser) {
            policy.merge(found);
        }
        return policy;
    }
    for dir in linux_policy_dirs(browser) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            if let Some(found) = std::fs::read_to_string(&file)
                .ok()
                .and_then(|text| from_json(&text, &file.display().to_string()))
            {
                policy.merge(found);
            }
        }
    }
    policy
}

/// Lists are subkeys of numbered string values (`...\NativeMessagingBlocklist\1 = "*"`),
/// the switch a DWORD on the browser's key; machine and user policy both count.
#[cfg(windows)]
fn read_registry(browser: Browser) -> Vec<NativeMessagingPolicy> {
    use winreg::enums::{HKEY_CURRENT_USER, HKEY_LOCAL_MACHINE};
    let path = match browser {
        Browser::Edge => "SOFTWARE\\Policies\\Microsoft\\Edge",
        Browser::Chrome => "SOFTWARE\\Policies\\Google\\Chrome",
        Browser::Chromium => "SOFTWARE\\Policies\\Chromium",
        Browser::Firefox => return Vec::new(),
    };
    let mut found = Vec::new();
    for (hive, name) in [(HKEY_LOCAL_MACHINE, "HKLM"), (HKEY_CURRENT_USER, "HKCU")] {
        let Ok(key) = winreg::RegKey::predef(hive).open_subkey(path) else {
            continue;
        };
        let list = |sub: &str| {
            // REG_SZ values hold UTF-16: read each by name as a string.
            key.open_subkey(sub).ok().map(|k| {
                k.enum_values()
                    .flatten()
                    .filter_map(|(name, _)| k.get_value::<String, _>(&name).ok())
                    .collect::<Vec<_>>()
            })
        };
        let policy = NativeMessagingPolicy {
            blocklist: list("NativeMessagingBlocklist"),
            allowlist: list("NativeMessagingAllowlist"),
            user_level_hosts: key
                .get_value::<u32, _>("NativeMessagingUserLevelHosts")
                .ok()
                .map(|v| v != 0),
            sources: vec![format!("{name}\\{path}")],
        };
        found.push(policy);
    }
    found
}

#[cfg(not(windows))]
fn read_registry(_: Browser) -> Vec<NativeMessagingPolicy> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> NativeMessagingPolicy {
        from_json(text, "test.json").expect("sets a native-messaging policy")
    }

    #[test]
    fn a_wildcard_blocklist_refuses_our_host_unless_the_allowlist_names_it() {
        let blocked = policy(
            r#"{"NativeMessagingBlocklist": ["*"], "NativeMessagingAllowlist": ["com.example.other"]}"#,
        );
        assert!(blocked.blocks_our_host());
        let allowed = policy(
            r#"{"NativeMessagingBlocklist": ["*"], "NativeMessagingAllowlist": ["smartcard_selfservice"]}"#,
        );
        assert!(!allowed.blocks_our_host());
        // An allowlist alone refuses nothing: it only makes exceptions to a blocklist.
        assert!(
            !policy(r#"{"NativeMessagingAllowlist": ["com.example.other"]}"#).blocks_our_host()
        );
        // A blocklist naming another host leaves ours alone; one naming ours refuses it.
        assert!(
            !policy(r#"{"NativeMessagingBlocklist": ["com.example.other"]}"#).blocks_our_host()
        );
        assert!(
            policy(r#"{"NativeMessagingBlocklist": ["smartcard_selfservice"]}"#).blocks_our_host()
        );
    }

    #[test]
    fn user_level_hosts_are_ignored_only_when_the_policy_says_false() {
        assert!(policy(r#"{"NativeMessagingUserLevelHosts": false}"#).ignores_user_level_hosts());
        assert!(!policy(r#"{"NativeMessagingUserLevelHosts": true}"#).ignores_user_level_hosts());
        // The wrong type is ignored, as the browser ignores it.
        assert_eq!(
            from_json(r#"{"NativeMessagingUserLevelHosts": "no"}"#, "x"),
            None
        );
    }

    #[test]
    fn files_add_up_and_a_false_wins() {
        let mut merged = NativeMessagingPolicy::default();
        merged.merge(policy(
            r#"{"NativeMessagingBlocklist": ["*"], "NativeMessagingUserLevelHosts": true}"#,
        ));
        merged.merge(policy(r#"{"NativeMessagingAllowlist": ["smartcard_selfservice"], "NativeMessagingUserLevelHosts": false}"#));
        assert!(!merged.blocks_our_host());
        assert!(merged.ignores_user_level_hosts());
        assert_eq!(merged.sources.len(), 2);
    }

    #[test]
    fn a_file_without_native_messaging_keys_or_not_json_sets_nothing() {
        assert_eq!(from_json(r#"{"HomepageLocation": "x"}"#, "x"), None);
        assert_eq!(from_json("not json", "x"), None);
    }

    #[test]
    fn the_shipped_example_policy_allows_our_host() {
        let example = include_str!("../../installers/policies/linux/managed-policy.json");
        let example = policy(example);
        assert!(!example.blocks_our_host());
        assert!(
            example.ignores_user_level_hosts(),
            "the example asks for system-wide hosts only"
        );
    }
}
