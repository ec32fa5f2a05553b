//! Registration and unlock codes (format, 15-minute life) and the attempt counters of the
//! journeys. Every time is passed in as Unix seconds: nothing here reads a clock.

use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

/// Digits in an emailed code (the staff guide's example is 171887).
pub const CODE_DIGITS: usize = 6;
/// "valid for 15 minutes".
pub const CODE_LIFETIME_SECONDS: i64 = 15 * 60;
/// Wrong entries of one code before it is spent and a new one must be requested.
pub const CODE_MAX_TRIES: u8 = 5;
/// "after 3 failed attempts at answering your security questions, you will not be able to proceed".
pub const MAX_FAILED_QUESTION_ROUNDS: u8 = 3;

/// Which journey a code belongs to; a code of one kind never completes the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum CodePurpose {
    Registration,
    Unlock,
}

/// Why a typed code cannot be a code at all (checked before anything is sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(
    tag = "code",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum CodeFormatRejection {
    #[error("Enter the code from the email.")]
    Empty,
    #[error("The code is {digits} numbers. Check the email and try again.")]
    WrongLength { digits: u8 },
    #[error("The code contains numbers only. Check the email and try again.")]
    NotDigits,
}

/// Accepts a code as a person types it from an email ("171 887", "171-887") and returns
/// its six digits.
pub fn parse_code(input: &str) -> Result<String, CodeFormatRejection> {
    // NFKC first, so digits typed in a full-width keyboard mode count as digits.
    let compact: String = crate::nfkc::nfkc(input)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if compact.is_empty() {
        return Err(CodeFormatRejection::Empty);
    }
    if !compact.chars().all(|c| c.is_ascii_digit()) {
        return Err(CodeFormatRejection::NotDigits);
    }
    if compact.len() != CODE_DIGITS {
        return Err(CodeFormatRejection::WrongLength {
            digits: CODE_DIGITS as u8,
        });
    }
    Ok(compact)
}

/// The life of one issued code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeValidity {
    /// Unix seconds when the code was issued.
    pub issued_at: i64,
    /// Unix seconds from which the code is refused.
    pub expires_at: i64,
}

/// Whether a code can still be used, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(
    tag = "state",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum CodeStatus {
    Valid { seconds_left: i64 },
    Expired,
}

impl CodeValidity {
    pub fn issued(issued_at: i64) -> CodeValidity {
        CodeValidity {
            issued_at,
            expires_at: issued_at.saturating_add(CODE_LIFETIME_SECONDS),
        }
    }

    /// Valid while `now` is before `expires_at`: a code issued at T works at T+899 s and is
    /// refused at T+900 s.
    pub fn status(&self, now: i64) -> CodeStatus {
        if now < self.expires_at {
            CodeStatus::Valid {
                seconds_left: self.expires_at - now,
            }
        } else {
            CodeStatus::Expired
        }
    }
}

/// Counts failed rounds of security questions for one user, across flows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuestionAttempts {
    pub failed_rounds: u8,
}

/// What follows a failed round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(
    tag = "outcome",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum AttemptOutcome {
    TryAgain {
        rounds_left: u8,
    },
    /// Self-service is locked for this user until the Registration Authority clears it.
    LockedOut,
}

impl QuestionAttempts {
    pub fn is_locked_out(&self) -> bool {
        self.failed_rounds >= MAX_FAILED_QUESTION_ROUNDS
    }

    pub fn rounds_left(&self) -> u8 {
        MAX_FAILED_QUESTION_ROUNDS.saturating_sub(self.failed_rounds)
    }

    pub fn record_failure(&mut self) -> AttemptOutcome {
        self.failed_rounds = self.failed_rounds.saturating_add(1);
        if self.is_locked_out() {
            AttemptOutcome::LockedOut
        } else {
            AttemptOutcome::TryAgain {
                rounds_left: self.rounds_left(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_790_000_000;

    #[test]
    fn codes_are_six_digits_typed_loosely() {
        assert_eq!(parse_code("171887"), Ok("171887".into()));
        assert_eq!(parse_code(" 171 887 "), Ok("171887".into()));
        assert_eq!(parse_code("171-887"), Ok("171887".into()));
        assert_eq!(parse_code(""), Err(CodeFormatRejection::Empty));
        assert_eq!(
            parse_code("17188"),
            Err(CodeFormatRejection::WrongLength { digits: 6 })
        );
        assert_eq!(
            parse_code("1718870"),
            Err(CodeFormatRejection::WrongLength { digits: 6 })
        );
        assert_eq!(parse_code("17188O"), Err(CodeFormatRejection::NotDigits));
        assert_eq!(parse_code("１７１８８７"), Ok("171887".into()));
    }

    #[test]
    fn a_code_lives_fifteen_minutes() {
        let code = CodeValidity::issued(T);
        assert_eq!(code.status(T), CodeStatus::Valid { seconds_left: 900 });
        assert_eq!(code.status(T + 899), CodeStatus::Valid { seconds_left: 1 });
        assert_eq!(code.status(T + 900), CodeStatus::Expired);
        assert_eq!(code.status(T + 901), CodeStatus::Expired);
    }

    #[test]
    fn three_failed_rounds_lock_self_service() {
        let mut attempts = QuestionAttempts::default();
        assert_eq!(
            attempts.record_failure(),
            AttemptOutcome::TryAgain { rounds_left: 2 }
        );
        assert_eq!(
            attempts.record_failure(),
            AttemptOutcome::TryAgain { rounds_left: 1 }
        );
        assert!(!attempts.is_locked_out());
        assert_eq!(attempts.record_failure(), AttemptOutcome::LockedOut);
        assert!(attempts.is_locked_out());
        assert_eq!(attempts.record_failure(), AttemptOutcome::LockedOut);
        assert_eq!(attempts.rounds_left(), 0);
    }
}
