//! The JavaScript face of the rules, for the extension pages (wasm-bindgen `--target web`).
//! Inputs and outputs are plain JSON-compatible objects whose TypeScript types are generated
//! from the Rust types (tsify); every check returns a [`Verdict`].

use serde::{de::DeserializeOwned, Serialize};
use wasm_bindgen::prelude::*;

use crate::codes::{self, CodeValidity, QuestionAttempts};
use crate::email::EmailPolicy;
use crate::passcode::{CardPinConstraint, OrganisationPolicy, PasscodeRule};
use crate::protocol;
use crate::questions::{self, QuestionAnswer, CATALOGUE};
use crate::verdict::Verdict;

#[wasm_bindgen(typescript_custom_section)]
const VERDICT_TS: &str = r#"
/** What every check returns: the accepted value, or a typed reason and a sentence to show. */
export type Verdict<T, E> = { ok: true; value: T } | { ok: false; reason: E; message: string };
/** The request fields a host request check reports. */
export interface RequestSummary { id: number; type: string }
export interface RequestProblem { id?: number; field: string }
/** A host error reply's body (flattened: an interface cannot extend a union). */
export type ErrorBody = HostError & { message: string };
/** A portal error response's `error` member. */
export type ApiErrorDetail = ApiError & { message: string };
/** An event frame from the host. */
export type EventMessage = HostEvent & { type: "event" };
/** Each command's result type, by the command's `type` (the host's `CommandResult`). */
export interface CommandResults {
  status: StatusResult;
  "find-card": CardInReader;
  "prove-possession": CardProof;
  unlock: UnlockResult;
  "change-passcode": ChangePasscodeResult;
  cancel: CancelResult;
  quit: QuitResult;
}
/** What a command resolves to. */
export type ResultOf<C extends Command> = CommandResults[C["type"]];
/** A reply from the host to one request. */
export type Reply = { id: number; result: CommandResult } | { id: number | null; error: ErrorBody };
/** Each portal endpoint's request and response body, by path (the rules crate's
 * `api::paths`, which the extension has as `API_PATHS`). */
export interface PortalApi {
  "/api/v1/challenges": { request: ChallengeRequest; response: Challenge };
  "/api/v1/registration/start": { request: StartFlow; response: RegistrationStarted };
  "/api/v1/registration/questions": { request: Answers; response: Acknowledged };
  "/api/v1/registration/email": { request: EmailStep; response: CodeSent };
  "/api/v1/registration/confirm": { request: CodeStep; response: RegistrationComplete };
  "/api/v1/unlock/start": { request: StartFlow; response: UnlockStarted };
  "/api/v1/unlock/answers": { request: Answers; response: CodeSent };
  "/api/v1/unlock/code": { request: CodeStep; response: CodeAccepted };
  "/api/v1/unlock/code/resend": { request: FlowStep; response: CodeSent };
  "/api/v1/unlock/authorization": { request: AuthorizationRequest; response: AuthorizationIssued };
  "/api/v1/unlock/result": { request: UnlockReport; response: Acknowledged };
}
/** Any frame the host writes. */
export type HostMessage = Hello | EventMessage | Reply;
"#;

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    // Plain objects, not Maps, so the pages and JSON.stringify see what the Rust side sees.
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

fn from_js<T: DeserializeOwned>(value: JsValue, what: &str) -> Result<T, JsError> {
    serde_wasm_bindgen::from_value(value).map_err(|e| JsError::new(&format!("{what}: {e}")))
}

/// The effective passcode rule for a card in an organisation.
#[wasm_bindgen(js_name = passcodeRule, unchecked_return_type = "Verdict<PasscodeRule, PolicyConflict>")]
pub fn passcode_rule(
    #[wasm_bindgen(unchecked_param_type = "CardPinConstraint")] card: JsValue,
    #[wasm_bindgen(unchecked_param_type = "OrganisationPolicy | undefined")] organisation: JsValue,
) -> Result<JsValue, JsError> {
    let card: CardPinConstraint = from_js(card, "card")?;
    let organisation: OrganisationPolicy = if organisation.is_undefined() || organisation.is_null()
    {
        OrganisationPolicy::default()
    } else {
        from_js(organisation, "organisation")?
    };
    to_js(&Verdict::from(PasscodeRule::effective(card, &organisation)))
}

/// Checks one passcode as it is typed.
#[wasm_bindgen(js_name = checkPasscode, unchecked_return_type = "Verdict<null, PasscodeRejection>")]
pub fn check_passcode(
    #[wasm_bindgen(unchecked_param_type = "PasscodeRule")] rule: JsValue,
    candidate: &str,
) -> Result<JsValue, JsError> {
    let rule: PasscodeRule = from_js(rule, "rule")?;
    to_js(&Verdict::from(rule.check(candidate)))
}

/// Checks the new passcode and its confirmation.
#[wasm_bindgen(js_name = checkPasscodePair, unchecked_return_type = "Verdict<null, PasscodeRejection>")]
pub fn check_passcode_pair(
    #[wasm_bindgen(unchecked_param_type = "PasscodeRule")] rule: JsValue,
    passcode: &str,
    confirmation: &str,
) -> Result<JsValue, JsError> {
    let rule: PasscodeRule = from_js(rule, "rule")?;
    to_js(&Verdict::from(rule.check_pair(passcode, confirmation)))
}

/// Checks an email address against the approved domains (the defaults when none are given).
#[wasm_bindgen(js_name = checkEmail, unchecked_return_type = "Verdict<string, EmailRejection>")]
pub fn check_email(
    email: &str,
    #[wasm_bindgen(unchecked_param_type = "EmailPolicy | undefined")] policy: JsValue,
) -> Result<JsValue, JsError> {
    let policy: EmailPolicy = if policy.is_undefined() || policy.is_null() {
        EmailPolicy::default()
    } else {
        from_js(policy, "policy")?
    };
    to_js(&Verdict::from(policy.check(email)))
}

/// The 20 security questions.
#[wasm_bindgen(js_name = questionCatalogue, unchecked_return_type = "Question[]")]
pub fn question_catalogue() -> Result<JsValue, JsError> {
    to_js(&CATALOGUE)
}

/// Checks one registration answer as it is typed; the value is its normalised form.
#[wasm_bindgen(js_name = checkAnswer, unchecked_return_type = "Verdict<string, AnswerRejection>")]
pub fn check_answer(question_id: &str, answer: &str) -> Result<JsValue, JsError> {
    let question = questions::question(question_id)
        .ok_or_else(|| JsError::new(&format!("unknown question id '{question_id}'")))?;
    to_js(&Verdict::from(questions::check_answer(
        question.kind,
        answer,
    )))
}

/// The form of an answer the portal hashes.
#[wasm_bindgen(js_name = normaliseAnswer)]
pub fn normalise_answer(question_id: &str, answer: &str) -> Result<String, JsError> {
    let question = questions::question(question_id)
        .ok_or_else(|| JsError::new(&format!("unknown question id '{question_id}'")))?;
    Ok(questions::normalise_answer(question.kind, answer))
}

/// Checks the four chosen questions and their answers together.
#[wasm_bindgen(js_name = checkRegistrationChoice, unchecked_return_type = "Verdict<NormalisedAnswer[], ChoiceRejection>")]
pub fn check_registration_choice(
    #[wasm_bindgen(unchecked_param_type = "QuestionAnswer[]")] answers: JsValue,
) -> Result<JsValue, JsError> {
    let answers: Vec<QuestionAnswer> = from_js(answers, "answers")?;
    to_js(&Verdict::from(questions::check_registration_choice(
        &answers,
    )))
}

/// Checks a code as typed from the email; the value is its six digits.
#[wasm_bindgen(js_name = parseCode, unchecked_return_type = "Verdict<string, CodeFormatRejection>")]
pub fn parse_code(input: &str) -> Result<JsValue, JsError> {
    to_js(&Verdict::from(codes::parse_code(input)))
}

/// Whether a code issued at `issuedAt` (Unix seconds) is still valid at `now` (Unix seconds).
#[wasm_bindgen(js_name = codeStatus, unchecked_return_type = "CodeStatus")]
pub fn code_status(issued_at: f64, now: f64) -> Result<JsValue, JsError> {
    to_js(&CodeValidity::issued(issued_at as i64).status(now as i64))
}

/// How long an emailed code lasts, in seconds (the pages say it in the person's language).
#[wasm_bindgen(js_name = codeLifetimeSeconds)]
pub fn code_lifetime_seconds() -> f64 {
    codes::CODE_LIFETIME_SECONDS as f64
}

/// What follows one more failed round of questions after `failedRounds` earlier ones.
#[wasm_bindgen(js_name = recordQuestionFailure, unchecked_return_type = "AttemptOutcome")]
pub fn record_question_failure(failed_rounds: u8) -> Result<JsValue, JsError> {
    let mut attempts = QuestionAttempts { failed_rounds };
    to_js(&attempts.record_failure())
}

/// The protocol version this build speaks.
#[wasm_bindgen(js_name = protocolVersion)]
pub fn protocol_version() -> u32 {
    protocol::PROTOCOL_VERSION
}
