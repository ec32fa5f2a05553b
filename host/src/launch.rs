//! How the browser started us: Chromium-family browsers pass the caller's origin
//! (`chrome-extension://ID/`, plus `--parent-window=N` on Windows); Firefox passes the path
//! of our host manifest and the add-on id.

use selfservice_rules::names;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    Chromium {
        origin: String,
        parent_window: Option<String>,
    },
    Firefox {
        manifest: String,
        addon_id: String,
    },
    Unknown(Vec<String>),
}

impl Launch {
    /// Whether `args` (without the program name) look like a browser starting a host.
    pub fn from_args(args: &[String]) -> Option<Launch> {
        let origin = args.iter().find(|a| a.starts_with("chrome-extension://"));
        if let Some(origin) = origin {
            let parent_window = args
                .iter()
                .find_map(|a| a.strip_prefix("--parent-window=").map(str::to_string));
            return Some(Launch::Chromium {
                origin: origin.clone(),
                parent_window,
            });
        }
        if let [manifest, addon_id] = args {
            if manifest.ends_with(".json") {
                return Some(Launch::Firefox {
                    manifest: manifest.clone(),
                    addon_id: addon_id.clone(),
                });
            }
        }
        None
    }

    /// Whether the caller is our extension (the browser already enforces this through the
    /// host manifest; a mismatch means a stale or tampered manifest and is logged).
    pub fn is_our_extension(&self) -> bool {
        match self {
            Launch::Chromium { origin, .. } => *origin == names::chromium_extension_origin(),
            Launch::Firefox { addon_id, .. } => addon_id == names::FIREFOX_ADDON_ID,
            Launch::Unknown(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn recognises_each_browser() {
        let chromium = Launch::from_args(&args(&["chrome-extension://abc/", "--parent-window=42"]));
        assert_eq!(
            chromium,
            Some(Launch::Chromium {
                origin: "chrome-extension://abc/".into(),
                parent_window: Some("42".into())
            })
        );
        let firefox = Launch::from_args(&args(&[
            "/usr/lib/mozilla/native-messaging-hosts/x.json",
            "a@b",
        ]));
        assert!(matches!(firefox, Some(Launch::Firefox { .. })));
        assert_eq!(Launch::from_args(&args(&["doctor"])), None);
    }

    #[test]
    fn knows_our_own_extension() {
        let ours = Launch::Chromium {
            origin: names::chromium_extension_origin(),
            parent_window: None,
        };
        assert!(ours.is_our_extension());
        let firefox = Launch::Firefox {
            manifest: "m.json".into(),
            addon_id: "other@example".into(),
        };
        assert!(!firefox.is_our_extension());
    }
}
