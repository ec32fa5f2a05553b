//! The portal's HTTP JSON API (docs/DESIGN.md §3.3), shared by the reference portal and the extension.
//! Every path is under [`API_PREFIX`]; every body is JSON; flows are bound to the card by a
//! signed challenge and carried by a random `flowId` in the body, never in a URL.

use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

use crate::authorization::{SignedAuthorization, UnlockReceipt};
use crate::codes::CodeFormatRejection;
use crate::email::EmailRejection;
use crate::proof::{CardProof, ProofPurpose};
use crate::questions::{ChoiceRejection, QuestionAnswer};

pub const API_PREFIX: &str = "/api/v1";

/// The endpoints, one place for both sides.
pub mod paths {
    pub const CHALLENGES: &str = "/api/v1/challenges";
    pub const REGISTRATION_START: &str = "/api/v1/registration/start";
    pub const REGISTRATION_QUESTIONS: &str = "/api/v1/registration/questions";
    pub const REGISTRATION_EMAIL: &str = "/api/v1/registration/email";
    pub const REGISTRATION_CONFIRM: &str = "/api/v1/registration/confirm";
    pub const UNLOCK_START: &str = "/api/v1/unlock/start";
    pub const UNLOCK_ANSWERS: &str = "/api/v1/unlock/answers";
    pub const UNLOCK_CODE: &str = "/api/v1/unlock/code";
    pub const UNLOCK_CODE_RESEND: &str = "/api/v1/unlock/code/resend";
    pub const UNLOCK_AUTHORIZATION: &str = "/api/v1/unlock/authorization";
    pub const UNLOCK_RESULT: &str = "/api/v1/unlock/result";

    /// Every path by its constant's name (the extension's `API_PATHS`).
    pub const ALL: [(&str, &str); 11] = [
        ("CHALLENGES", CHALLENGES),
        ("REGISTRATION_START", REGISTRATION_START),
        ("REGISTRATION_QUESTIONS", REGISTRATION_QUESTIONS),
        ("REGISTRATION_EMAIL", REGISTRATION_EMAIL),
        ("REGISTRATION_CONFIRM", REGISTRATION_CONFIRM),
        ("UNLOCK_START", UNLOCK_START),
        ("UNLOCK_ANSWERS", UNLOCK_ANSWERS),
        ("UNLOCK_CODE", UNLOCK_CODE),
        ("UNLOCK_CODE_RESEND", UNLOCK_CODE_RESEND),
        ("UNLOCK_AUTHORIZATION", UNLOCK_AUTHORIZATION),
        ("UNLOCK_RESULT", UNLOCK_RESULT),
    ];
}

/// `POST challenges`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChallengeRequest {
    pub purpose: ProofPurpose,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Challenge {
    pub challenge_id: String,
    /// At least 256 random bits, base64url; the card signs it bound to the portal origin.
    pub nonce: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// `POST registration/start` and `POST unlock/start`: the card's answer to a challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartFlow {
    pub challenge_id: String,
    pub proof: CardProof,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrationStarted {
    pub flow_id: String,
    pub holder_name: String,
    /// The address from the user's contact details, offered for confirmation (staff guide: "Below
    /// email has been copied from your contact details. You can overwrite this").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub email_on_file: Option<String>,
    pub expires_at: i64,
}

/// Any step of a flow that needs nothing but the flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowStep {
    pub flow_id: String,
}

/// `POST registration/questions` and `POST unlock/answers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Answers {
    pub flow_id: String,
    pub answers: Vec<QuestionAnswer>,
}

/// `POST registration/email`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailStep {
    pub flow_id: String,
    pub email: String,
}

/// `POST registration/confirm` and `POST unlock/code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeStep {
    pub flow_id: String,
    pub code: String,
}

/// A code was emailed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeSent {
    /// The address, partly masked for unlock (`j***@nhs.net`).
    pub sent_to: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrationComplete {
    /// "Self Service Registration is complete."
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnlockStarted {
    pub flow_id: String,
    /// For "You are attempting to unlock a Smartcard issued to <name>".
    pub holder_name: String,
    /// 2 to 4 of the user's own questions, the same for every round of this flow.
    pub question_ids: Vec<String>,
    pub rounds_left: u8,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeAccepted {}

/// `POST unlock/authorization`: sent once the new passcode has been typed twice, with a fresh
/// unlock proof from the card (a new challenge) that carries this host session's key; again
/// for each retry, so every authorization is sealed to the host that will use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationRequest {
    pub flow_id: String,
    pub challenge_id: String,
    pub proof: CardProof,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationIssued {
    pub authorization_id: String,
    pub authorization: SignedAuthorization,
    pub expires_at: i64,
}

/// `POST unlock/result`: how the unlock ended. The portal moves its PUK record only on a
/// `receipt` that verifies with the card's pinned 9E key; without one it records the report
/// and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnlockReport {
    pub flow_id: String,
    pub authorization_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub receipt: Option<UnlockReceipt>,
    /// The host's error code when the transaction did not complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Acknowledged {}

/// Every failure the API reports, with what the page needs to say what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(
    tag = "code",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum ApiError {
    /// Malformed body, wrong type, unknown field.
    BadRequest {
        field: String,
    },
    /// The challenge is unknown, used or expired: ask for a new one.
    ChallengeInvalid,
    /// The card's signature, certificate or GUID did not check out.
    ProofRejected,
    /// This card cannot use self-service (not enrolled, not registered, certificates expired).
    SelfServiceUnavailable,
    /// The flow is unknown, finished or expired: start again.
    FlowExpired,
    /// The step does not follow from where the flow is.
    OutOfOrder,
    AnswersRejected {
        reason: ChoiceRejection,
    },
    /// One generic failure for wrong answers: no hint which one was wrong.
    WrongAnswers {
        rounds_left: u8,
    },
    /// Three failed rounds: the Registration Authority must clear the lock.
    SelfServiceLocked {
        ra_contact: String,
    },
    EmailRejected {
        reason: EmailRejection,
    },
    CodeFormat {
        reason: CodeFormatRejection,
    },
    CodeInvalid {
        tries_left: u8,
    },
    CodeExpired,
    /// Too many wrong tries: request a new code.
    CodeSpent,
    Throttled {
        retry_after_seconds: u32,
    },
    Internal,
}

impl ApiError {
    /// The HTTP statuses this error is sent with, the usual one first (the contract:
    /// `docs/portal-api.openapi.json`). `bad-request` is 413 for a body over the size limit;
    /// `internal` is 503 when a step could not finish for now (an email that must go first).
    pub fn statuses(&self) -> &'static [u16] {
        match self {
            ApiError::BadRequest { .. } => &[400, 413],
            ApiError::ChallengeInvalid
            | ApiError::AnswersRejected { .. }
            | ApiError::EmailRejected { .. }
            | ApiError::CodeFormat { .. }
            | ApiError::CodeInvalid { .. } => &[400],
            ApiError::ProofRejected
            | ApiError::SelfServiceUnavailable
            | ApiError::WrongAnswers { .. }
            | ApiError::SelfServiceLocked { .. } => &[403],
            ApiError::OutOfOrder => &[409],
            ApiError::FlowExpired | ApiError::CodeExpired | ApiError::CodeSpent => &[410],
            ApiError::Throttled { .. } => &[429],
            ApiError::Internal => &[500, 503],
        }
    }
}

/// The body of every non-2xx response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct ApiErrorBody {
    pub error: ApiErrorDetail,
}

/// (Its TypeScript type, `ApiError & { message: string }`, is declared in `wasm_api`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "openapi",
    schemars(
        description = "One failure: its stable `code` with the data a page needs, and `message`, an English sentence for logs (pages key their own text on `code`)."
    )
)]
pub struct ApiErrorDetail {
    #[serde(flatten)]
    pub error: ApiError,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_a_kebab_code_and_camel_fields() {
        let body = ApiErrorBody {
            error: ApiErrorDetail {
                error: ApiError::WrongAnswers { rounds_left: 2 },
                message: "m".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&body).expect("json"),
            r#"{"error":{"code":"wrong-answers","roundsLeft":2,"message":"m"}}"#
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = r#"{"flowId":"f","code":"123456","debug":true}"#;
        assert!(serde_json::from_str::<CodeStep>(text).is_err());
    }

    #[test]
    fn every_path_is_versioned() {
        for path in [
            paths::CHALLENGES,
            paths::REGISTRATION_START,
            paths::REGISTRATION_QUESTIONS,
            paths::REGISTRATION_EMAIL,
            paths::REGISTRATION_CONFIRM,
            paths::UNLOCK_START,
            paths::UNLOCK_ANSWERS,
            paths::UNLOCK_CODE,
            paths::UNLOCK_CODE_RESEND,
            paths::UNLOCK_AUTHORIZATION,
            paths::UNLOCK_RESULT,
        ] {
            assert!(path.starts_with(API_PREFIX), "{path}");
        }
    }

    #[test]
    fn every_path_has_one_typed_entry_for_the_pages() {
        // The TypeScript `PortalApi` (declared with the other page types in `wasm_api`) gives
        // each path its request and response types; the extension's client accepts no other.
        let typescript = include_str!("wasm_api.rs");
        let table = &typescript[typescript
            .find("export interface PortalApi")
            .expect("PortalApi")..];
        let table = &table[..table.find("\n}").expect("end of PortalApi")];
        for (name, path) in paths::ALL {
            assert!(path.starts_with(API_PREFIX), "{name}");
            assert_eq!(table.matches(&format!("\"{path}\":")).count(), 1, "{name}");
        }
        assert_eq!(table.matches("request:").count(), paths::ALL.len());
    }
}
