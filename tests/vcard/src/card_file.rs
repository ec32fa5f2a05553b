//! A card described in TOML: who it belongs to, its PIN and PUK, retry counters, PIN rule, keys
//! and certificates. The card writes its state back after every change, atomically, so a test
//! can read what the card holds.

use anyhow::{bail, Context, Result};
use selfservice_rules::passcode::CardPinConstraint;
use serde::{Deserialize, Serialize};
use std::path::Path;
use time::Date;

pub const DEFAULT_RETRY_LIMIT: u8 = 3;

fn default_limit() -> u8 {
    DEFAULT_RETRY_LIMIT
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CardFile {
    /// As printed on the card and in the certificates' common name.
    pub holder_name: String,
    /// The holder's NHS user identity number (12 digits).
    pub uuid: String,
    /// The card's CHUID GUID: 32 hex digits.
    pub guid: String,
    /// The card's expiry date, YYYY-MM-DD. Templates may give `expires-in-days` instead; it
    /// is turned into a date when the card is first loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<i64>,
    /// `piv-strict` (6 to 8 digits) or `legacy-printable` (4 to 8 printable characters).
    pub pin_rule: CardPinConstraint,
    pub pin: String,
    pub puk: String,
    pub pin_retries_left: u8,
    #[serde(default = "default_limit")]
    pub pin_retry_limit: u8,
    pub puk_retries_left: u8,
    #[serde(default = "default_limit")]
    pub puk_retry_limit: u8,
    /// Generated on first use from the test CA, then kept here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<CardKeys>,
    /// The 9A and 9E keys' algorithm: `p256` (the default) or `rsa-2048`, as many deployed
    /// PIV cards carry.
    #[serde(default, skip_serializing_if = "KeyAlgorithm::is_default")]
    pub key_algorithm: KeyAlgorithm,
    /// The ATR to present, as hex (e.g. a real card's from pcsc-tools' list); by default the
    /// test ATR of the card's PIN rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atr: Option<String>,
    /// Behaviours SP 800-73-4 allows that other PIV cards show and this card does not by
    /// default, so the host is tested against them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quirks: Vec<Quirk>,
    /// What this card saw over its life, for tests (a real card keeps no such record).
    #[serde(default, skip_serializing_if = "CardHistory::is_empty")]
    pub history: CardHistory,
}

/// The virtual card's own record of what it was asked, for tests to check what a real card
/// would not tell: wrong PUK tries even after a right one reset the counter, and every PIN
/// and PUK it was given (so a test can look for them where they must never appear).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CardHistory {
    #[serde(default)]
    pub wrong_puk_tries: u32,
    /// Commands that carried a PIN or PUK (VERIFY with data, CHANGE REFERENCE DATA, RESET
    /// RETRY COUNTER), right or wrong: a test can tell "refused before the card" from
    /// "refused by the card", which the replies alone may not show.
    #[serde(default)]
    pub passcode_commands: u32,
    /// PINs set by RESET RETRY COUNTER (temporary PINs), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reset_pins: Vec<String>,
    /// Every PUK the card has held, the first first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub puks: Vec<String>,
}

impl CardHistory {
    fn is_empty(&self) -> bool {
        *self == CardHistory::default()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    #[default]
    P256,
    #[serde(rename = "rsa-2048")]
    Rsa2048,
}

impl KeyAlgorithm {
    fn is_default(&self) -> bool {
        *self == KeyAlgorithm::P256
    }
}

/// One way a real PIV card may differ from this card's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quirk {
    /// A blocked PIN or PUK answers `63C0` (no tries left) instead of `6983`.
    #[serde(rename = "blocked-as-63c0")]
    BlockedAs63c0,
    /// A wrong PIN or PUK answers `6300` (verification failed, no counter); the try is
    /// still spent, and VERIFY without data still reports the PIN counter.
    FailureWithoutCounter,
    /// The PIN stays verified across SELECT (only VERIFY `P1=FF` or a reset clears it).
    KeepsVerificationAcrossSelect,
    /// The CHUID carries the placeholder expiry `99991231`; the certificates say when the
    /// card really expires.
    PlaceholderChuidExpiry,
    /// No discovery object (`7E`), as on cards older than SP 800-73-3.
    NoDiscoveryObject,
    /// No Printed Information object (`5FC109`); it is optional.
    NoPrintedInformation,
}

impl CardFile {
    pub fn has(&self, quirk: Quirk) -> bool {
        self.quirks.contains(&quirk)
    }

    /// The `atr` field's bytes, if given and valid hex (spaces allowed).
    pub fn atr_bytes(&self) -> Option<Vec<u8>> {
        let hex: String = self.atr.as_ref()?.split_whitespace().collect();
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect()
    }
}

/// The two P-256 key pairs and their certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CardKeys {
    /// PIV Authentication (slot 9A): PKCS#8 PEM key and PEM certificate.
    pub authentication_key: String,
    pub authentication_certificate: String,
    /// Card Authentication (slot 9E).
    pub card_authentication_key: String,
    pub card_authentication_certificate: String,
}

impl CardFile {
    pub fn load(path: &Path) -> Result<CardFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading card file {}", path.display()))?;
        let card: CardFile = toml::from_str(&text)
            .with_context(|| format!("parsing card file {}", path.display()))?;
        card.validate()?;
        Ok(card)
    }

    /// Writes to a temporary file beside the card file, then renames it over: a reader sees
    /// the old state or the new one, never half a file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string(self).context("serialising card file")?;
        let file_name = path
            .file_name()
            .context("card file path has no file name")?
            .to_string_lossy();
        let temporary = path.with_file_name(format!(".{file_name}.tmp"));
        std::fs::write(&temporary, text)
            .with_context(|| format!("writing {}", temporary.display()))?;
        std::fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))
    }

    fn validate(&self) -> Result<()> {
        if self.guid.len() != 32 || !self.guid.chars().all(|c| c.is_ascii_hexdigit()) {
            bail!("guid must be 32 hex digits");
        }
        if self.expiry.is_none() && self.expires_in_days.is_none() {
            bail!("give expiry (YYYY-MM-DD) or expires-in-days");
        }
        if let Some(expiry) = &self.expiry {
            parse_date(expiry)?;
        }
        if self.atr.is_some() && self.atr_bytes().is_none() {
            bail!("atr must be hex bytes");
        }
        if self.puk.len() != 8 {
            bail!("puk must be 8 characters");
        }
        if self.pin.is_empty() || self.pin.len() > 8 {
            bail!("pin must be 1 to 8 characters");
        }
        Ok(())
    }

    /// Fixes a relative expiry to a date, counted from `today`.
    pub fn settle_expiry(&mut self, today: Date) -> Result<bool> {
        match (self.expiry.is_some(), self.expires_in_days.take()) {
            (false, Some(days)) => {
                let date = today
                    .checked_add(time::Duration::days(days))
                    .context("expiry out of range")?;
                self.expiry = Some(format_date(date));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    pub fn expiry_date(&self) -> Result<Date> {
        parse_date(self.expiry.as_deref().context("expiry not settled")?)
    }

    pub fn guid_bytes(&self) -> Result<[u8; 16]> {
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&self.guid[2 * i..2 * i + 2], 16)?;
        }
        Ok(out)
    }
}

const DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

pub fn parse_date(text: &str) -> Result<Date> {
    Date::parse(text, DATE).with_context(|| format!("'{text}' is not a YYYY-MM-DD date"))
}

pub fn format_date(date: Date) -> String {
    date.format(DATE).unwrap_or_default()
}
