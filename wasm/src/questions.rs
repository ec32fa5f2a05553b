//! Security questions: the catalogue of 20, the registration choice rule, and the answer
//! normalisation whose output the portal hashes.

use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

/// Registration sets exactly this many questions (staff guide: "set 4 security questions from a choice of 20").
pub const REGISTRATION_QUESTION_COUNT: usize = 4;
/// Unlock asks between 2 and 4 of the user's questions (staff guide).
pub const UNLOCK_QUESTIONS_MIN: usize = 2;
pub const UNLOCK_QUESTIONS_MAX: usize = 4;
/// Bumped whenever [`normalise_answer`] changes, so stored hashes say which form they hash.
pub const ANSWER_NORMALISATION_VERSION: u32 = 1;

const MIN_TEXT_ANSWER: usize = 2;
const MIN_PHONE_DIGITS: usize = 6;
const MAX_ANSWER_CHARS: usize = 100;

/// Answers that carry no secret: refused at registration.
const NON_ANSWERS: &[&str] = &[
    "n/a",
    "na",
    "none",
    "no",
    "yes",
    "unknown",
    "idk",
    "dont know",
    "don't know",
    "not sure",
    "not applicable",
    "nothing",
    "nobody",
    "test",
    "asdf",
    "qwerty",
    "answer",
    "password",
];

/// How an answer is normalised before hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum AnswerKind {
    /// Free text: case, accents' compatibility forms and spacing do not matter.
    Text,
    /// A phone number: only the digits count.
    PhoneNumber,
}

/// One question of the catalogue. Ids are stable: they are stored with the answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Question {
    pub id: &'static str,
    pub text: &'static str,
    /// Shown under the answer box: what form of answer to give.
    pub hint: &'static str,
    pub kind: AnswerKind,
}

const fn text(id: &'static str, text: &'static str, hint: &'static str) -> Question {
    Question {
        id,
        text,
        hint,
        kind: AnswerKind::Text,
    }
}

/// The 20 questions. The first four are quoted in the staff guides.
pub const CATALOGUE: [Question; 20] = [
    text(
        "millennium-location",
        "Where were you on the turn of the millennium?",
        "The town, venue or place, for example Trafalgar Square.",
    ),
    text(
        "mother-maiden-name",
        "What is your mother's maiden name?",
        "Her surname before marriage.",
    ),
    text(
        "first-car",
        "What was the make and model of your first car?",
        "Make and model, for example Ford Fiesta.",
    ),
    Question {
        id: "childhood-phone",
        text: "What was your childhood phone number, including area code?",
        hint: "Numbers only count; spaces and brackets are ignored.",
        kind: AnswerKind::PhoneNumber,
    },
    text(
        "first-teacher-surname",
        "What was the surname of your first teacher?",
        "Surname only.",
    ),
    text(
        "street-aged-ten",
        "What was the name of the street you lived on when you were ten?",
        "The street name, for example Station Road.",
    ),
    text(
        "first-concert",
        "What was the first concert or live show you went to?",
        "The performer or show.",
    ),
    text(
        "childhood-best-friend",
        "What was the first name of your childhood best friend?",
        "First name only.",
    ),
    text(
        "first-employer",
        "What was the name of the first place you worked?",
        "The employer or shop name.",
    ),
    text(
        "childhood-book",
        "What was your favourite book as a child?",
        "The title.",
    ),
    text(
        "first-holiday-abroad",
        "Where did you go on your first holiday abroad?",
        "The town or country.",
    ),
    text(
        "childhood-hero",
        "Who was your childhood hero?",
        "A name, real or fictional.",
    ),
    text(
        "first-cinema-film",
        "What was the first film you saw at the cinema?",
        "The title.",
    ),
    text(
        "parents-met-town",
        "In which town or city did your parents meet?",
        "The town or city.",
    ),
    text(
        "first-pet",
        "What was the name of your first pet?",
        "The pet's name.",
    ),
    text(
        "childhood-nickname",
        "What was your childhood nickname?",
        "The nickname.",
    ),
    text(
        "oldest-cousin",
        "What is the first name of your oldest cousin?",
        "First name only.",
    ),
    text(
        "first-mobile-phone",
        "What was the make and model of your first mobile phone?",
        "Make and model, for example Nokia 3310.",
    ),
    text(
        "dream-job-aged-ten",
        "What did you want to be when you were ten years old?",
        "The job, for example astronaut.",
    ),
    text(
        "favourite-toy",
        "What was the name of your favourite toy as a child?",
        "The toy's name.",
    ),
];

/// Looks a question up by its stable id.
pub fn question(id: &str) -> Option<&'static Question> {
    CATALOGUE.iter().find(|q| q.id == id)
}

/// One chosen question and its answer, as typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuestionAnswer {
    pub question_id: String,
    pub answer: String,
}

impl zeroize::Zeroize for QuestionAnswer {
    fn zeroize(&mut self) {
        self.answer.zeroize();
    }
}

/// Why an answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(
    tag = "code",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum AnswerRejection {
    #[error("Enter an answer.")]
    Blank,
    #[error("This answer is too short to protect your card. Use at least {min} characters.")]
    TooShort { min: u8 },
    #[error("Enter a phone number of at least {min} digits.")]
    TooFewDigits { min: u8 },
    #[error("This answer is too long. Use no more than {max} characters.")]
    TooLong { max: u8 },
    #[error("Give a real answer that only you would know.")]
    TooEasyToGuess,
}

/// Why a registration's choice of questions cannot be accepted. `index` is the position of
/// the offending entry (0-based), so the page can tie the message to its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(
    tag = "code",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum ChoiceRejection {
    #[error("Choose {expected} different security questions and answer each one.")]
    WrongCount { expected: u8, got: u32 },
    #[error("Choose a question from the list.")]
    UnknownQuestion { index: u32 },
    #[error("You have already chosen this question. Choose a different one.")]
    DuplicateQuestion { index: u32 },
    #[error("Use a different answer for each question.")]
    RepeatedAnswer { index: u32 },
    #[error("{reason}")]
    Answer { index: u32, reason: AnswerRejection },
}

/// An answer in the form the portal hashes, tagged with the normalisation version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NormalisedAnswer {
    pub question_id: String,
    pub version: u32,
    pub value: String,
}

impl zeroize::Zeroize for NormalisedAnswer {
    fn zeroize(&mut self) {
        self.value.zeroize();
    }
}

/// Normalises an answer: Unicode NFKC, case folding, trimmed and collapsed spaces; for a
/// phone number, its digits only. Version [`ANSWER_NORMALISATION_VERSION`].
pub fn normalise_answer(kind: AnswerKind, answer: &str) -> String {
    let compatible = crate::nfkc::nfkc(answer);
    match kind {
        AnswerKind::PhoneNumber => compatible.chars().filter(char::is_ascii_digit).collect(),
        AnswerKind::Text => {
            // Folding can produce non-NFKC sequences (e.g. U+0130); normalise once more.
            let folded = crate::nfkc::nfkc(&caseless::default_case_fold_str(&compatible));
            folded.split_whitespace().collect::<Vec<_>>().join(" ")
        }
    }
}

/// Checks that one answer is usable at registration, and returns its normalised form.
pub fn check_answer(kind: AnswerKind, answer: &str) -> Result<String, AnswerRejection> {
    if answer.trim().is_empty() {
        return Err(AnswerRejection::Blank);
    }
    if answer.chars().count() > MAX_ANSWER_CHARS {
        return Err(AnswerRejection::TooLong {
            max: MAX_ANSWER_CHARS as u8,
        });
    }
    let value = normalise_answer(kind, answer);
    let length = value.chars().count();
    match kind {
        AnswerKind::PhoneNumber if length < MIN_PHONE_DIGITS => {
            return Err(AnswerRejection::TooFewDigits {
                min: MIN_PHONE_DIGITS as u8,
            })
        }
        AnswerKind::Text if length < MIN_TEXT_ANSWER => {
            return Err(AnswerRejection::TooShort {
                min: MIN_TEXT_ANSWER as u8,
            })
        }
        _ => {}
    }
    let mut chars = value.chars().filter(|c| !c.is_whitespace());
    let first = chars.next();
    let all_same = chars.all(|c| Some(c) == first);
    if all_same || NON_ANSWERS.contains(&value.as_str()) {
        return Err(AnswerRejection::TooEasyToGuess);
    }
    Ok(value)
}

/// The registration rule: exactly four different questions from the catalogue, each with a
/// usable answer, no answer used twice. Returns the answers normalised for hashing.
pub fn check_registration_choice(
    choice: &[QuestionAnswer],
) -> Result<Vec<NormalisedAnswer>, ChoiceRejection> {
    if choice.len() != REGISTRATION_QUESTION_COUNT {
        return Err(ChoiceRejection::WrongCount {
            expected: REGISTRATION_QUESTION_COUNT as u8,
            got: u32::try_from(choice.len()).unwrap_or(u32::MAX),
        });
    }
    let mut accepted: Vec<NormalisedAnswer> = Vec::with_capacity(choice.len());
    for (position, entry) in choice.iter().enumerate() {
        let index = position as u32;
        let q = question(&entry.question_id).ok_or(ChoiceRejection::UnknownQuestion { index })?;
        if accepted.iter().any(|a| a.question_id == q.id) {
            return Err(ChoiceRejection::DuplicateQuestion { index });
        }
        let value = check_answer(q.kind, &entry.answer)
            .map_err(|reason| ChoiceRejection::Answer { index, reason })?;
        if accepted.iter().any(|a| a.value == value) {
            return Err(ChoiceRejection::RepeatedAnswer { index });
        }
        accepted.push(NormalisedAnswer {
            question_id: q.id.to_string(),
            version: ANSWER_NORMALISATION_VERSION,
            value,
        });
    }
    Ok(accepted)
}

#[cfg(test)]
mod tests;
