//! The portal's configuration: a TOML file in which every value has a default, so
//! `selfservice-portal serve` starts with no arguments.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct PortalConfig {
    /// Address to listen on.
    pub listen: String,
    /// The portal's origin as browsers see it: card proofs are bound to it.
    pub origin: String,
    /// Database, keys and the outbox live here.
    pub data_dir: PathBuf,
    /// Email domains approved for self-service (and their subdomains).
    pub approved_domains: Vec<String>,
    pub code_lifetime_seconds: i64,
    /// How many of a user's questions an unlock asks (chosen at random in this range).
    pub unlock_questions_min: usize,
    pub unlock_questions_max: usize,
    /// Shown to a user whose self-service is locked.
    pub ra_contact: String,
    /// PEM file of the CA that issues card certificates. Without one, no card proof passes.
    pub trusted_ca: Option<PathBuf>,
    /// Allows moving the portal's clock through the API (tests only).
    pub test_mode: bool,
    /// Real time, or (test mode only) a clock that stands still until a test moves it.
    pub clock: crate::clock::ClockMode,
    pub mail: MailConfig,
    /// Test mode only: append every API answer's body to this file (JSON lines), so an
    /// end-to-end test can show that no PUK or temporary PIN ever reached a page.
    pub test_transcript: Option<PathBuf>,
    /// Test mode only: a deliberate defect, so the conformance suite's own test can show it
    /// notices one (`tests/conformance`).
    pub test_defect: Option<TestDefect>,
}

/// The deliberate defects a test can ask of the reference portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestDefect {
    /// An unlock code is accepted again after it was used (it should be single use).
    CodeReuse,
    /// A receipt is taken without checking the card's signature over it (it must be checked
    /// against the pinned 9E key before the PUK record moves).
    ReceiptUnchecked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case", deny_unknown_fields)]
pub enum MailConfig {
    /// Deliver through an SMTP server (plain SMTP, as to a local relay).
    Smtp {
        host: String,
        port: u16,
        from: String,
    },
    /// Write each message to `data_dir/outbox` and show it at /outbox. Test mode only: the
    /// page shows every code to anyone who can reach the portal.
    Outbox { from: String },
}

pub const SENDER: &str = "smartcard.servicecentre@nhs.net";

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            listen: "127.0.0.1:8640".into(),
            origin: "http://127.0.0.1:8640".into(),
            data_dir: PathBuf::from("portal-data"),
            approved_domains: selfservice_rules::email::DEFAULT_APPROVED_DOMAINS
                .iter()
                .map(|d| d.to_string())
                .collect(),
            code_lifetime_seconds: selfservice_rules::codes::CODE_LIFETIME_SECONDS,
            unlock_questions_min: selfservice_rules::questions::UNLOCK_QUESTIONS_MIN,
            unlock_questions_max: selfservice_rules::questions::UNLOCK_QUESTIONS_MAX,
            ra_contact: "Contact your Registration Authority (RA) team: smartcards@example.nhs.uk, 0300 000 0000.".into(),
            trusted_ca: None,
            test_mode: false,
            clock: crate::clock::ClockMode::Real,
            test_transcript: None,
            test_defect: None,
            // A local relay: a portal copied with its defaults sends mail, it does not show it.
            mail: MailConfig::Smtp {
                host: "127.0.0.1".into(),
                port: 25,
                from: SENDER.into(),
            },
        }
    }
}

impl PortalConfig {
    pub fn load(path: Option<&Path>) -> anyhow::Result<PortalConfig> {
        let Some(path) = path else {
            return Ok(PortalConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let config: PortalConfig =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        config.check()?;
        Ok(config)
    }

    pub fn check(&self) -> anyhow::Result<()> {
        selfservice_rules::origin::check_origin(&self.origin)
            .map_err(|e| anyhow::anyhow!("origin '{}': {e}", self.origin))?;
        let range = selfservice_rules::questions::UNLOCK_QUESTIONS_MIN
            ..=selfservice_rules::questions::UNLOCK_QUESTIONS_MAX;
        if !range.contains(&self.unlock_questions_min)
            || !range.contains(&self.unlock_questions_max)
            || self.unlock_questions_min > self.unlock_questions_max
        {
            anyhow::bail!("unlock questions must be a range within 2 to 4");
        }
        if self.code_lifetime_seconds <= 0 {
            anyhow::bail!("code-lifetime-seconds must be positive");
        }
        if self.clock == crate::clock::ClockMode::Stopped && !self.test_mode {
            anyhow::bail!("clock = \"stopped\" is for test mode only");
        }
        if self.test_transcript.is_some() && !self.test_mode {
            anyhow::bail!("test-transcript is for test mode only");
        }
        if self.test_defect.is_some() && !self.test_mode {
            anyhow::bail!("test-defect is for test mode only");
        }
        if matches!(self.mail, MailConfig::Outbox { .. }) && !self.test_mode {
            anyhow::bail!(
                "mail mode \"outbox\" is for test mode only (it shows every code at /outbox)"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_conveniences_need_test_mode_and_the_defaults_send_mail() {
        let defaults = PortalConfig::default();
        assert!(matches!(defaults.mail, MailConfig::Smtp { .. }));
        assert!(defaults.check().is_ok());
        let outbox = PortalConfig {
            mail: MailConfig::Outbox {
                from: SENDER.into(),
            },
            ..PortalConfig::default()
        };
        assert!(outbox.check().is_err(), "the outbox outside test mode");
        let in_test = PortalConfig {
            test_mode: true,
            ..outbox
        };
        assert!(in_test.check().is_ok());
    }
}
