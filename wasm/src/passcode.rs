//! Passcode policy (docs/DESIGN.md §4.4): the staff guides' rule, narrowed by what the card accepts and by the
//! organisation's override. One effective rule, shown to the user before they type and checked
//! again by the host and the portal.

use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

/// The staff guides' rule, for every card: "between 4 and 8 characters long. You can use any standard keyboard characters."
pub const GUIDE_MIN_LENGTH: u8 = 4;
pub const GUIDE_MAX_LENGTH: u8 = 8;
/// Standard PIV (SP 800-73): 6 to 8 digits, padded with 0xFF on the card.
pub const PIV_MIN_LENGTH: u8 = 6;
pub const PIV_MAX_LENGTH: u8 = 8;

/// Common passcodes refused by default (NIST SP 800-63B asks for a blocklist). An organisation
/// can replace the list; repeated characters and straight runs are refused separately.
pub const DEFAULT_BLOCKLIST: &[&str] = &[
    "1234", "12345", "123456", "1234567", "12345678", "0000", "000000", "00000000", "1111",
    "111111", "11111111", "4321", "654321", "87654321", "123123", "121212", "112233", "696969",
    "password", "passw0rd", "qwerty", "qwertyui", "abc123", "letmein", "welcome", "nhs123",
    "iloveyou", "monkey", "dragon", "abcd1234",
];

/// What the card itself accepts as a PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum CardPinConstraint {
    /// Standard PIV: 6 to 8 digits.
    PivStrict,
    /// Cards personalised for the legacy NHS rule: 4 to 8 printable keyboard characters.
    /// (`seed-legacy`, its first name, is still read, so configurations set with it work.)
    #[serde(alias = "seed-legacy")]
    LegacyPrintable,
}

/// Which characters a passcode may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum Charset {
    /// 0 to 9 only.
    Digits,
    /// Printable ASCII, the characters on a standard UK keyboard (space to tilde).
    Keyboard,
}

/// The organisation's override, set by IT through managed configuration. It can only narrow
/// the rule: a longer minimum, a shorter maximum, digits only, its own blocklist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrganisationPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub min_length: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub max_length: Option<u8>,
    #[serde(default)]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub digits_only: bool,
    /// Replaces [`DEFAULT_BLOCKLIST`] when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub blocklist: Option<Vec<String>>,
}

/// The effective rule for one card in one organisation. Serialised as-is to the pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasscodeRule {
    pub min_length: u8,
    pub max_length: u8,
    pub charset: Charset,
    /// Refused values, compared case-insensitively.
    pub blocklist: Vec<String>,
    /// The rule as the pages show it before the user types.
    pub description: String,
}

/// Why a candidate passcode was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(
    tag = "code",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum PasscodeRejection {
    #[error("Enter a passcode.")]
    Empty,
    #[error("Your passcode must be at least {min} characters long.")]
    TooShort { min: u8 },
    #[error("Your passcode must be no more than {max} characters long.")]
    TooLong { max: u8 },
    #[error("Your passcode must contain numbers only.")]
    DigitsOnly,
    #[error("Your passcode can only use standard keyboard characters (no accented letters, symbols outside the keyboard or emoji).")]
    CharacterNotAllowed,
    #[error("Your passcode cannot start or end with a space.")]
    EdgeSpace,
    #[error("This passcode is too easy to guess. Avoid repeated characters, runs like 1234 and common passcodes.")]
    TooEasyToGuess,
    #[error("The two passcodes do not match. Type the same passcode in both boxes.")]
    Mismatch,
}

/// The organisation's override cannot be applied (IT set a minimum above the maximum).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(
    tag = "code",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum PolicyConflict {
    #[error("The passcode policy cannot be met: the minimum length {min} is greater than the maximum length {max}. Ask IT to correct the passcode policy.")]
    EmptyRange { min: u8, max: u8 },
}

impl PasscodeRule {
    /// The staff guides' rule narrowed by the card and the organisation.
    pub fn effective(
        card: CardPinConstraint,
        org: &OrganisationPolicy,
    ) -> Result<PasscodeRule, PolicyConflict> {
        let (card_min, card_max, card_charset) = match card {
            CardPinConstraint::PivStrict => (PIV_MIN_LENGTH, PIV_MAX_LENGTH, Charset::Digits),
            CardPinConstraint::LegacyPrintable => {
                (GUIDE_MIN_LENGTH, GUIDE_MAX_LENGTH, Charset::Keyboard)
            }
        };
        let min_length = GUIDE_MIN_LENGTH
            .max(card_min)
            .max(org.min_length.unwrap_or(0));
        let max_length = GUIDE_MAX_LENGTH
            .min(card_max)
            .min(org.max_length.unwrap_or(u8::MAX));
        if min_length > max_length {
            return Err(PolicyConflict::EmptyRange {
                min: min_length,
                max: max_length,
            });
        }
        let charset = if org.digits_only || card_charset == Charset::Digits {
            Charset::Digits
        } else {
            Charset::Keyboard
        };
        let blocklist = match &org.blocklist {
            Some(list) => list.iter().map(|v| v.to_lowercase()).collect(),
            None => DEFAULT_BLOCKLIST.iter().map(|v| v.to_string()).collect(),
        };
        let description = describe(min_length, max_length, charset);
        Ok(PasscodeRule {
            min_length,
            max_length,
            charset,
            blocklist,
            description,
        })
    }

    /// Checks one candidate. Reports the first problem in the order a user fixes them:
    /// length, then characters, then guessability.
    pub fn check(&self, candidate: &str) -> Result<(), PasscodeRejection> {
        if candidate.is_empty() {
            return Err(PasscodeRejection::Empty);
        }
        let length = candidate.chars().count();
        if length < usize::from(self.min_length) {
            return Err(PasscodeRejection::TooShort {
                min: self.min_length,
            });
        }
        if length > usize::from(self.max_length) {
            return Err(PasscodeRejection::TooLong {
                max: self.max_length,
            });
        }
        match self.charset {
            Charset::Digits => {
                if !candidate.chars().all(|c| c.is_ascii_digit()) {
                    return Err(PasscodeRejection::DigitsOnly);
                }
            }
            Charset::Keyboard => {
                if !candidate.chars().all(|c| (' '..='~').contains(&c)) {
                    return Err(PasscodeRejection::CharacterNotAllowed);
                }
                // A masked field hides a stray space; refusing it saves a lockout later.
                if candidate.starts_with(' ') || candidate.ends_with(' ') {
                    return Err(PasscodeRejection::EdgeSpace);
                }
            }
        }
        if is_easy_to_guess(candidate, &self.blocklist) {
            return Err(PasscodeRejection::TooEasyToGuess);
        }
        Ok(())
    }

    /// Checks the new passcode and its confirmation, as typed in the two boxes.
    pub fn check_pair(&self, passcode: &str, confirmation: &str) -> Result<(), PasscodeRejection> {
        self.check(passcode)?;
        if !constant_time_eq(passcode.as_bytes(), confirmation.as_bytes()) {
            return Err(PasscodeRejection::Mismatch);
        }
        Ok(())
    }
}

fn describe(min: u8, max: u8, charset: Charset) -> String {
    let length = if min == max {
        format!("exactly {min}")
    } else {
        format!("between {min} and {max}")
    };
    match charset {
        Charset::Digits => format!(
            "Your passcode must be {length} numbers long, using the numbers 0 to 9 only. Do not use an easy-to-guess passcode such as 123456 or 000000."
        ),
        Charset::Keyboard => format!(
            "Your passcode must be {length} characters long. You can use any standard keyboard characters. Do not use an easy-to-guess passcode such as 1234 or password."
        ),
    }
}

/// All one character, a straight run up or down (1234, 8765, abcd), or on the blocklist.
fn is_easy_to_guess(candidate: &str, blocklist: &[String]) -> bool {
    let lower = candidate.to_ascii_lowercase();
    if blocklist.contains(&lower) {
        return true;
    }
    let bytes = lower.as_bytes();
    let steps: Vec<i16> = bytes
        .windows(2)
        .map(|w| i16::from(w[1]) - i16::from(w[0]))
        .collect();
    let straight = |step: i16| steps.iter().all(|s| *s == step);
    straight(0) || straight(1) || straight(-1)
}

/// Compares without an early exit, so timing does not reveal where two secrets differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
