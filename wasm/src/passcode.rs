//! Passcode policy (DESIGN 4.4): the seeds' rule, narrowed by what the card accepts and by the
//! organisation's override. One effective rule, shown to the user before they type and checked
//! again by the host and the portal.

use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

/// The seeds' rule: "between 4 and 8 characters long. You can use any standard keyboard characters."
pub const SEED_MIN_LENGTH: u8 = 4;
pub const SEED_MAX_LENGTH: u8 = 8;
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
    SeedLegacy,
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
    /// The seeds' rule narrowed by the card and the organisation.
    pub fn effective(
        card: CardPinConstraint,
        org: &OrganisationPolicy,
    ) -> Result<PasscodeRule, PolicyConflict> {
        let (card_min, card_max, card_charset) = match card {
            CardPinConstraint::PivStrict => (PIV_MIN_LENGTH, PIV_MAX_LENGTH, Charset::Digits),
            CardPinConstraint::SeedLegacy => (SEED_MIN_LENGTH, SEED_MAX_LENGTH, Charset::Keyboard),
        };
        let min_length = SEED_MIN_LENGTH
            .max(card_min)
            .max(org.min_length.unwrap_or(0));
        let max_length = SEED_MAX_LENGTH
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
mod tests {
    use super::*;

    fn piv() -> PasscodeRule {
        PasscodeRule::effective(CardPinConstraint::PivStrict, &OrganisationPolicy::default())
            .expect("valid rule")
    }
    fn seed() -> PasscodeRule {
        PasscodeRule::effective(
            CardPinConstraint::SeedLegacy,
            &OrganisationPolicy::default(),
        )
        .expect("valid rule")
    }

    #[test]
    fn seed_rule_is_four_to_eight_keyboard_characters() {
        let rule = seed();
        assert_eq!((rule.min_length, rule.max_length), (4, 8));
        assert_eq!(rule.charset, Charset::Keyboard);
        assert_eq!(rule.check("Ab3$"), Ok(()));
        assert_eq!(rule.check("P@ss w0!"), Ok(()));
        assert_eq!(
            rule.check("abc"),
            Err(PasscodeRejection::TooShort { min: 4 })
        );
        assert_eq!(
            rule.check("abcdefghi"),
            Err(PasscodeRejection::TooLong { max: 8 })
        );
        assert_eq!(rule.check(""), Err(PasscodeRejection::Empty));
    }

    #[test]
    fn piv_card_narrows_to_six_to_eight_digits() {
        let rule = piv();
        assert_eq!((rule.min_length, rule.max_length), (6, 8));
        assert_eq!(rule.check("583920"), Ok(()));
        assert_eq!(
            rule.check("58392"),
            Err(PasscodeRejection::TooShort { min: 6 })
        );
        assert_eq!(rule.check("58392a"), Err(PasscodeRejection::DigitsOnly));
        assert!(rule.description.contains("between 6 and 8 numbers"));
    }

    #[test]
    fn characters_outside_the_keyboard_are_refused() {
        let rule = seed();
        for bad in [
            "caf\u{e9}12",
            "ab\u{1F600}12",
            "ab\u{7}12",
            "ab\t12",
            "\u{430}bcd1",
        ] {
            assert_eq!(
                rule.check(bad),
                Err(PasscodeRejection::CharacterNotAllowed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn non_ascii_length_counts_characters_not_bytes() {
        // Four characters, nine bytes: refused for the character, not for its length.
        assert_eq!(
            seed().check("\u{e9}\u{e9}\u{e9}\u{e9}"),
            Err(PasscodeRejection::CharacterNotAllowed)
        );
    }

    #[test]
    fn leading_or_trailing_space_is_refused_inner_space_allowed() {
        let rule = seed();
        assert_eq!(rule.check(" ab12"), Err(PasscodeRejection::EdgeSpace));
        assert_eq!(rule.check("ab12 "), Err(PasscodeRejection::EdgeSpace));
        assert_eq!(rule.check("ab 12"), Ok(()));
    }

    #[test]
    fn trivial_values_are_refused() {
        let rule = seed();
        for bad in [
            "1234", "0000", "PASSWORD", "abcd", "4321", "zzzzzz", "123456",
        ] {
            assert_eq!(
                rule.check(bad),
                Err(PasscodeRejection::TooEasyToGuess),
                "{bad}"
            );
        }
        assert_eq!(
            piv().check("11111111"),
            Err(PasscodeRejection::TooEasyToGuess)
        );
        assert_eq!(piv().check("13579135"), Ok(()));
    }

    #[test]
    fn organisation_override_narrows_and_replaces_the_blocklist() {
        let org = OrganisationPolicy {
            min_length: Some(6),
            digits_only: true,
            blocklist: Some(vec!["Winter".into()]),
            ..Default::default()
        };
        let rule = PasscodeRule::effective(CardPinConstraint::SeedLegacy, &org).expect("rule");
        assert_eq!(
            (rule.min_length, rule.max_length, rule.charset),
            (6, 8, Charset::Digits)
        );
        assert_eq!(rule.check("a83920"), Err(PasscodeRejection::DigitsOnly));
        let org = OrganisationPolicy {
            blocklist: Some(vec!["Winter".into()]),
            ..Default::default()
        };
        let rule = PasscodeRule::effective(CardPinConstraint::SeedLegacy, &org).expect("rule");
        assert_eq!(rule.check("winter"), Err(PasscodeRejection::TooEasyToGuess));
        // The replaced default list no longer applies; the straight-run check still does.
        assert_eq!(rule.check("password"), Ok(()));
        assert_eq!(rule.check("1234"), Err(PasscodeRejection::TooEasyToGuess));
    }

    #[test]
    fn override_cannot_widen_the_card_rule() {
        let org = OrganisationPolicy {
            min_length: Some(2),
            max_length: Some(12),
            ..Default::default()
        };
        let rule = PasscodeRule::effective(CardPinConstraint::PivStrict, &org).expect("rule");
        assert_eq!((rule.min_length, rule.max_length), (6, 8));
    }

    #[test]
    fn conflicting_override_is_reported() {
        let org = OrganisationPolicy {
            min_length: Some(9),
            ..Default::default()
        };
        assert_eq!(
            PasscodeRule::effective(CardPinConstraint::PivStrict, &org),
            Err(PolicyConflict::EmptyRange { min: 9, max: 8 })
        );
    }

    #[test]
    fn confirmation_must_match() {
        let rule = piv();
        assert_eq!(rule.check_pair("583920", "583920"), Ok(()));
        assert_eq!(
            rule.check_pair("583920", "583921"),
            Err(PasscodeRejection::Mismatch)
        );
        assert_eq!(
            rule.check_pair("583920", ""),
            Err(PasscodeRejection::Mismatch)
        );
        // The passcode's own problem is reported first.
        assert_eq!(
            rule.check_pair("1234", "1234"),
            Err(PasscodeRejection::TooShort { min: 6 })
        );
    }

    #[test]
    fn rejection_serialises_with_a_kebab_code() {
        let json = serde_json::to_string(&PasscodeRejection::TooShort { min: 6 }).expect("json");
        assert_eq!(json, r#"{"code":"too-short","min":6}"#);
    }
}
