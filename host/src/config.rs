//! The machine configuration IT manages (docs/DESIGN.md §3.4): which portal origins may use the host,
//! the portal's public key for unblock authorizations, and the organisation's passcode policy.
//!
//! Read from the system place: a JSON file under /etc (Linux) or /Library (macOS), a policy
//! registry key on Windows. For development and tests, `SMARTCARD_SELFSERVICE_CONFIG` names a
//! JSON file instead, and `SMARTCARD_SELFSERVICE_LOG_FILE` / `SMARTCARD_SELFSERVICE_STATE_DIR`
//! move the log and the state folder. These development overrides work only in a debug build
//! or when the machine configuration itself sets `allowDevelopmentOverrides`: otherwise a
//! user's environment could replace IT's portal key and origins. `doctor` says which applies.

use base64::Engine;
use selfservice_rules::origin::check_origin;
use selfservice_rules::passcode::{CardPinConstraint, OrganisationPolicy};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub const OVERRIDE_VARIABLE: &str = "SMARTCARD_SELFSERVICE_CONFIG";
/// The state folder (the record of unlock attempts), a development override.
pub const STATE_DIR_VARIABLE: &str = "SMARTCARD_SELFSERVICE_STATE_DIR";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MachineConfig {
    /// Portal origins allowed to ask for card proofs and unlocks, e.g. `https://portal.example.nhs.uk`.
    #[serde(default)]
    pub portal_origins: Vec<String>,
    /// The portal's Ed25519 public key: 32 bytes, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal_public_key: Option<String>,
    /// The organisation's passcode rule override.
    #[serde(default)]
    pub passcode_policy: OrganisationPolicy,
    /// The passcode rule this organisation's cards enforce, when the host cannot tell from
    /// the card (`piv-strict`: 6 to 8 digits; `legacy-printable`: 4 to 8 printable characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_pin_rule: Option<CardPinConstraint>,
    /// Also write the log to this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<PathBuf>,
    /// Honour the development overrides (environment variables) in a release build. Only
    /// the system configuration can set this; never on staff machines.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_development_overrides: bool,
}

/// Whether the development overrides are honoured, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overrides {
    /// A debug build: development and tests.
    DebugBuild,
    /// The system configuration sets `allowDevelopmentOverrides`.
    AllowedByMachine,
    #[default]
    NotAllowed,
}

impl Overrides {
    pub fn allowed(self) -> bool {
        self != Overrides::NotAllowed
    }

    /// An override variable's value, if set and honoured.
    pub fn var(self, name: &str) -> Option<std::ffi::OsString> {
        std::env::var_os(name).filter(|_| self.allowed())
    }
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// The development override named by SMARTCARD_SELFSERVICE_CONFIG.
    Override(PathBuf),
    #[cfg_attr(windows, allow(dead_code))]
    File(PathBuf),
    #[cfg_attr(not(windows), allow(dead_code))]
    Registry(String),
    /// Nothing configured at the system place (named here).
    Missing(String),
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::Override(p) => {
                write!(f, "{} (override from {OVERRIDE_VARIABLE})", p.display())
            }
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::Registry(k) => write!(f, "registry {k}"),
            ConfigSource::Missing(place) => write!(f, "nothing at {place}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: MachineConfig,
    pub source: ConfigSource,
    /// Why the configuration could not be read, if it could not: the host then runs with an
    /// empty configuration (no origin allowed) and `doctor` reports this.
    pub error: Option<String>,
    pub overrides: Overrides,
    /// A configuration override that was set but not honoured (release build).
    pub ignored_override: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("no portal public key is configured")]
    NoPortalKey,
    #[error("the portal public key is not 32 bytes of base64")]
    BadPortalKey,
}

/// The system place for this platform.
pub fn system_place() -> String {
    if cfg!(windows) {
        format!("HKLM\\{}", REGISTRY_KEY)
    } else if cfg!(target_os = "macos") {
        "/Library/Application Support/Smartcard Self-Service/config.json".to_string()
    } else {
        "/etc/smartcard-selfservice/config.json".to_string()
    }
}

pub const REGISTRY_KEY: &str = "SOFTWARE\\Policies\\SmartcardSelfService";

pub fn load() -> LoadedConfig {
    let mut system = load_system();
    system.overrides = if cfg!(debug_assertions) {
        Overrides::DebugBuild
    } else if system.config.allow_development_overrides {
        Overrides::AllowedByMachine
    } else {
        Overrides::NotAllowed
    };
    match std::env::var_os(OVERRIDE_VARIABLE).map(PathBuf::from) {
        Some(path) if system.overrides.allowed() => {
            let mut loaded = from_file(path.clone(), ConfigSource::Override(path));
            loaded.overrides = system.overrides;
            loaded
        }
        Some(path) => {
            system.ignored_override = Some(path);
            system
        }
        None => system,
    }
}

impl LoadedConfig {
    fn new(config: MachineConfig, source: ConfigSource, error: Option<String>) -> LoadedConfig {
        LoadedConfig {
            config,
            source,
            error,
            overrides: Overrides::NotAllowed,
            ignored_override: None,
        }
    }
}

/// The per-user state folder, or the development override's.
pub fn state_dir(overrides: Overrides) -> PathBuf {
    overrides
        .var(STATE_DIR_VARIABLE)
        .map(PathBuf::from)
        .unwrap_or_else(crate::puk_journal::default_dir)
}

#[cfg(not(windows))]
fn load_system() -> LoadedConfig {
    let path = PathBuf::from(system_place());
    if !path.exists() {
        return LoadedConfig::new(
            MachineConfig::default(),
            ConfigSource::Missing(system_place()),
            None,
        );
    }
    from_file(path.clone(), ConfigSource::File(path))
}

#[cfg(windows)]
fn load_system() -> LoadedConfig {
    use winreg::enums::HKEY_LOCAL_MACHINE;
    let Ok(key) = winreg::RegKey::predef(HKEY_LOCAL_MACHINE).open_subkey(REGISTRY_KEY) else {
        return LoadedConfig::new(
            MachineConfig::default(),
            ConfigSource::Missing(system_place()),
            None,
        );
    };
    let origins: Vec<String> = key
        .get_value::<Vec<String>, _>("PortalOrigins")
        .or_else(|_| {
            key.get_value::<String, _>("PortalOrigins")
                .map(|s| split_list(&s))
        })
        .unwrap_or_default();
    let mut error = None;
    let passcode_policy = match key.get_value::<String, _>("PasscodePolicy") {
        Ok(json) => serde_json::from_str(&json).unwrap_or_else(|e| {
            error = Some(format!("PasscodePolicy is not valid JSON: {e}"));
            OrganisationPolicy::default()
        }),
        Err(_) => OrganisationPolicy::default(),
    };
    let card_pin_rule = match key.get_value::<String, _>("CardPinRule") {
        Ok(rule) => serde_json::from_value(serde_json::Value::String(rule.clone()))
            .map_err(|_| {
                error = Some(format!(
                    "CardPinRule '{rule}' is not piv-strict or legacy-printable"
                ))
            })
            .ok(),
        Err(_) => None,
    };
    LoadedConfig::new(
        MachineConfig {
            portal_origins: origins,
            portal_public_key: key.get_value::<String, _>("PortalPublicKey").ok(),
            passcode_policy,
            card_pin_rule,
            log_file: key
                .get_value::<String, _>("LogFile")
                .ok()
                .map(PathBuf::from),
            allow_development_overrides: key
                .get_value::<u32, _>("AllowDevelopmentOverrides")
                .is_ok_and(|v| v == 1),
        },
        ConfigSource::Registry(system_place()),
        error,
    )
}

/// Origins given as one string, separated by spaces, commas or semicolons (MSI properties).
#[cfg_attr(not(windows), allow(dead_code))]
pub fn split_list(text: &str) -> Vec<String> {
    text.split([' ', ',', ';', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn from_file(path: PathBuf, source: ConfigSource) -> LoadedConfig {
    let parsed = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
        .and_then(|text| {
            serde_json::from_str::<MachineConfig>(&text)
                .map_err(|e| format!("{} is not a valid configuration: {e}", path.display()))
        });
    match parsed {
        Ok(config) => LoadedConfig::new(config, source, None),
        Err(error) => LoadedConfig::new(MachineConfig::default(), source, Some(error)),
    }
}

impl MachineConfig {
    /// Whether `origin` is one of the configured portal origins (compared as normalised origins).
    pub fn allows_origin(&self, origin: &str) -> bool {
        let Ok(origin) = check_origin(origin) else {
            return false;
        };
        self.portal_origins
            .iter()
            .filter_map(|o| check_origin(o).ok())
            .any(|o| o == origin)
    }

    pub fn portal_key(&self) -> Result<ed25519_dalek::VerifyingKey, ConfigError> {
        let text = self
            .portal_public_key
            .as_deref()
            .ok_or(ConfigError::NoPortalKey)?;
        let bytes = decode_base64(text.trim()).ok_or(ConfigError::BadPortalKey)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| ConfigError::BadPortalKey)?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| ConfigError::BadPortalKey)
    }

    /// Problems an administrator should fix, for `doctor`.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.portal_origins.is_empty() {
            problems.push(
                "no portal origins are configured, so no portal can use the host".to_string(),
            );
        }
        for origin in &self.portal_origins {
            if let Err(e) = check_origin(origin) {
                problems.push(format!("portal origin '{origin}' is not valid: {e}"));
            }
        }
        if let Err(e) = self.portal_key() {
            problems.push(format!("{e}, so cards cannot be unlocked"));
        }
        if let Err(e) = selfservice_rules::passcode::PasscodeRule::effective(
            selfservice_rules::passcode::CardPinConstraint::PivStrict,
            &self.passcode_policy,
        ) {
            problems.push(e.to_string());
        }
        problems
    }
}

/// Standard or URL-safe base64, padded or not.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_as_origins() {
        let config = MachineConfig {
            portal_origins: vec!["https://Portal.Example".into()],
            ..Default::default()
        };
        assert!(config.allows_origin("https://portal.example"));
        assert!(!config.allows_origin("https://portal.example.evil"));
        assert!(!config.allows_origin("http://portal.example"));
        assert!(!config.allows_origin("https://portal.example/path"));
    }

    #[test]
    fn a_missing_or_bad_key_is_a_problem() {
        let mut config = MachineConfig::default();
        assert_eq!(config.portal_key().err(), Some(ConfigError::NoPortalKey));
        config.portal_public_key = Some("c2hvcnQ=".into());
        assert_eq!(config.portal_key().err(), Some(ConfigError::BadPortalKey));
        assert!(config.problems().iter().any(|p| p.contains("origins")));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<MachineConfig>(r#"{"portalOrigin":"x"}"#).is_err());
    }
}
