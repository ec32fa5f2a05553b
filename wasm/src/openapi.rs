//! The portal API as an OpenAPI 3.1 document (`docs/portal-api.openapi.json`), generated from
//! the request and response types in [`crate::api`] with `schemars`, so the published contract
//! is the one the reference portal and the extension compile against. `cargo xtask openapi`
//! writes it; `cargo xtask test` fails when the committed file is not what this produces.
//! Native builds with the `openapi` feature only (xtask).

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::api::*;
use crate::authorization::{
    PukCandidate, ReceiptOutcome, SealedBox, SignedAuthorization, UnblockAuthorization,
    UnlockReceipt, UnlockSecrets,
};
use crate::codes::{CodeFormatRejection, CODE_DIGITS, CODE_LIFETIME_SECONDS, CODE_MAX_TRIES};
use crate::email::EmailRejection;
use crate::proof::{CardProof, ProofAlgorithm, ProofPurpose};
use crate::questions::{AnswerRejection, ChoiceRejection, QuestionAnswer};
use crate::secret::Secret;

/// The journey an operation belongs to (the document's tags).
#[derive(Clone, Copy)]
enum Tag {
    Challenges,
    Registration,
    Unlock,
}

impl Tag {
    fn name(self) -> &'static str {
        match self {
            Tag::Challenges => "challenges",
            Tag::Registration => "registration",
            Tag::Unlock => "unlock",
        }
    }
}

/// One endpoint: its path, what it is for, its typed bodies with an example of each, and
/// the error codes it can answer with.
struct Endpoint {
    path: &'static str,
    operation_id: &'static str,
    tag: Tag,
    summary: &'static str,
    description: String,
    request: Body,
    response: Body,
    errors: &'static [&'static str],
}

/// A body's schema (a `$ref` into the components) and an example value of its type.
struct Body {
    schema: fn(&mut SchemaGenerator) -> Value,
    example: Value,
}

impl Body {
    fn of<T: JsonSchema + Serialize>(example: T) -> Body {
        Body {
            schema: |generator| generator.subschema_for::<T>().to_value(),
            example: to_value(&example),
        }
    }
}

fn to_value(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Every request answered with these when it goes wrong, whatever the endpoint.
const EVERY_ENDPOINT: [&str; 3] = ["bad-request", "throttled", "internal"];
/// Every step after the start of a flow.
const FLOW_STEP: [&str; 2] = ["flow-expired", "out-of-order"];

const ORIGIN: &str = "https://portal.example.nhs.uk";
const FLOW: &str = "fl_3q8S0bT2cV5xW7yZ9aB1dE";
const CHALLENGE: &str = "ch_6Hk2mN4pQ8rT0vX3zB5dF7";
const GUID: &str = "3c6a1d0e8b2f4a7c9e5d1b3f7a9c2e40";
const NOW: i64 = 1_780_000_000;

fn proof(purpose: ProofPurpose) -> CardProof {
    CardProof {
        card_guid: GUID.into(),
        certificate: "MIIBsjCCAVigAwIBAgIU...(DER, base64)".into(),
        signature: "MEUCIQDk...(DER ECDSA, base64)".into(),
        algorithm: ProofAlgorithm::ES256,
        host_key: match purpose {
            ProofPurpose::Register => None,
            ProofPurpose::Unlock => Some("q3J9vX0bR2nT5wY8zA1cE4gH7jK0mP3sU6xZ9bD2fG4".into()),
        },
    }
}

fn answers() -> Vec<QuestionAnswer> {
    [
        ("millennium-location", "Cardiff Bay"),
        ("mother-maiden-name", "Llewellyn"),
        ("first-teacher-surname", "Pritchard"),
        ("first-pet", "Biscuit"),
    ]
    .into_iter()
    .map(|(question_id, answer)| QuestionAnswer {
        question_id: question_id.into(),
        answer: answer.into(),
    })
    .collect()
}

fn code_sent(sent_to: &str) -> CodeSent {
    CodeSent {
        sent_to: sent_to.into(),
        issued_at: NOW,
        expires_at: NOW + 15 * 60,
    }
}

fn endpoints() -> Vec<Endpoint> {
    let flow = || FlowStep {
        flow_id: FLOW.into(),
    };
    vec![
        Endpoint {
            path: paths::CHALLENGES,
            operation_id: "createChallenge",
            tag: Tag::Challenges,
            summary: "A single-use nonce for the card to sign",
            description: "The first request of each journey, and again before `unlock/authorization`. The nonce has at least 256 random bits (at most 2048), is base64url, and must be answered within 5 minutes, once. The host has the card sign the proof digest over it (see `CardProof`).".into(),
            request: Body::of(ChallengeRequest {
                purpose: ProofPurpose::Register,
            }),
            response: Body::of(Challenge {
                challenge_id: CHALLENGE.into(),
                nonce: "kU0tY3cW6zB9eH2kN5qT8wZ1cF4iL7oR0uX3aD6gJ9m".into(),
                expires_at: NOW + 300,
            }),
            errors: &[],
        },
        Endpoint {
            path: paths::REGISTRATION_START,
            operation_id: "startRegistration",
            tag: Tag::Registration,
            summary: "Registration step 1: the card proves itself with its 9A key (passcode verified)",
            description: "The proof must verify with the 9A (PIV Authentication) key pinned for this card at enrolment, its certificate must chain to the trusted issuing CA and be in date, and the card must be enrolled. Starts a registration flow bound to the card.".into(),
            request: Body::of(StartFlow {
                challenge_id: CHALLENGE.into(),
                proof: proof(ProofPurpose::Register),
            }),
            response: Body::of(RegistrationStarted {
                flow_id: FLOW.into(),
                holder_name: "Jane Smith".into(),
                email_on_file: Some("jane.smith@nhs.net".into()),
                expires_at: NOW + 30 * 60,
            }),
            errors: &["challenge-invalid", "proof-rejected", "self-service-unavailable"],
        },
        Endpoint {
            path: paths::REGISTRATION_QUESTIONS,
            operation_id: "setQuestions",
            tag: Tag::Registration,
            summary: "Registration step 2: four different questions from the catalogue, each answered",
            description: "The answers are checked with the same rules the extension applies (the rules crate), normalised and stored hashed (Argon2id); they are never returned.".into(),
            request: Body::of(Answers {
                flow_id: FLOW.into(),
                answers: answers(),
            }),
            response: Body::of(flow()),
            errors: &["answers-rejected"],
        },
        Endpoint {
            path: paths::REGISTRATION_EMAIL,
            operation_id: "setEmail",
            tag: Tag::Registration,
            summary: "Registration step 3: the address for self-service; a registration code is emailed to it",
            description: format!("Only addresses at an approved domain (or a subdomain of one) are accepted. A {CODE_DIGITS}-digit code is sent; it lasts {} minutes and allows {CODE_MAX_TRIES} tries.", CODE_LIFETIME_SECONDS / 60),
            request: Body::of(EmailStep {
                flow_id: FLOW.into(),
                email: "jane.smith@nhs.net".into(),
            }),
            response: Body::of(code_sent("jane.smith@nhs.net")),
            errors: &["email-rejected"],
        },
        Endpoint {
            path: paths::REGISTRATION_CONFIRM,
            operation_id: "confirmRegistration",
            tag: Tag::Registration,
            summary: "Registration step 4: the emailed code; registration is complete",
            description: "A code is accepted once. Spaces and a hyphen as people type them (`171 887`) are allowed.".into(),
            request: Body::of(CodeStep {
                flow_id: FLOW.into(),
                code: "171887".into(),
            }),
            response: Body::of(RegistrationComplete {
                message: "Self Service Registration is complete.".into(),
            }),
            errors: &["code-format", "code-invalid", "code-expired", "code-spent"],
        },
        Endpoint {
            path: paths::UNLOCK_START,
            operation_id: "startUnlock",
            tag: Tag::Unlock,
            summary: "Unlock step 1: the locked card proves itself with its 9E key (no passcode)",
            description: "The proof must verify with the 9E (Card Authentication) key pinned at enrolment and carry `hostKey`. The answer names 2 to 4 of the person's questions, the same for every round of this flow.".into(),
            request: Body::of(StartFlow {
                challenge_id: CHALLENGE.into(),
                proof: proof(ProofPurpose::Unlock),
            }),
            response: Body::of(UnlockStarted {
                flow_id: FLOW.into(),
                holder_name: "Jane Smith".into(),
                question_ids: vec!["first-pet".into(), "first-teacher-surname".into()],
                rounds_left: 3,
                expires_at: NOW + 30 * 60,
            }),
            errors: &[
                "challenge-invalid",
                "proof-rejected",
                "self-service-unavailable",
                "self-service-locked",
            ],
        },
        Endpoint {
            path: paths::UNLOCK_ANSWERS,
            operation_id: "answerQuestions",
            tag: Tag::Unlock,
            summary: "Unlock step 2: the answers; on success an unlock code is emailed",
            description: "A wrong round is one generic failure (no hint which answer was wrong). Three failed rounds, across flows, lock self-service for the card until the Registration Authority clears it.".into(),
            request: Body::of(Answers {
                flow_id: FLOW.into(),
                answers: answers()
                    .into_iter()
                    .filter(|a| a.question_id == "first-pet" || a.question_id == "first-teacher-surname")
                    .collect(),
            }),
            response: Body::of(code_sent("j***@nhs.net")),
            errors: &["wrong-answers", "self-service-locked"],
        },
        Endpoint {
            path: paths::UNLOCK_CODE,
            operation_id: "enterUnlockCode",
            tag: Tag::Unlock,
            summary: "Unlock step 3: the emailed unlock code",
            description: "As `confirmRegistration`; a code of one journey never completes the other.".into(),
            request: Body::of(CodeStep {
                flow_id: FLOW.into(),
                code: "604 213".into(),
            }),
            response: Body::of(CodeAccepted {}),
            errors: &["code-format", "code-invalid", "code-expired", "code-spent"],
        },
        Endpoint {
            path: paths::UNLOCK_CODE_RESEND,
            operation_id: "resendUnlockCode",
            tag: Tag::Unlock,
            summary: "A new unlock code (the last one replaced)",
            description: "At most 5 codes per flow, and a limit per person across flows.".into(),
            request: Body::of(flow()),
            response: Body::of(code_sent("j***@nhs.net")),
            errors: &[],
        },
        Endpoint {
            path: paths::UNLOCK_AUTHORIZATION,
            operation_id: "authorizeUnlock",
            tag: Tag::Unlock,
            summary: "Unlock step 4: the signed, sealed unblock authorization for this host session",
            description: "Sent once the new passcode has been typed twice (it never reaches the portal), with a fresh unlock proof (a new challenge) carrying this host session's X25519 key. The portal emails \"your smartcard is being unlocked\" first (`internal`, 503, when it cannot: no email, no authorization), then returns an `UnblockAuthorization` signed with its Ed25519 key whose secrets are sealed to that key. Again for each retry.".into(),
            request: Body::of(AuthorizationRequest {
                flow_id: FLOW.into(),
                challenge_id: CHALLENGE.into(),
                proof: proof(ProofPurpose::Unlock),
            }),
            response: Body::of(AuthorizationIssued {
                authorization_id: "au_8Jd3Lf5Nh7Pj9Rl1Tn3Vp5".into(),
                authorization: SignedAuthorization {
                    payload: "eyJ2ZXJzaW9uIjoyLCJhdXRob3JpemF0aW9uSWQiOi...(base64url)".into(),
                    signature: "Zk1d...(Ed25519, 64 bytes, base64url)".into(),
                },
                expires_at: NOW + 300,
            }),
            errors: &["challenge-invalid", "proof-rejected"],
        },
        Endpoint {
            path: paths::UNLOCK_RESULT,
            operation_id: "reportUnlock",
            tag: Tag::Unlock,
            summary: "Unlock step 5: how it ended, with the card's receipt",
            description: "Only a `receipt` that verifies with the card's pinned 9E key over this authorization's payload moves the portal's PUK record, finishes the flow and sends \"your smartcard has been unlocked\". A report without one (the card was pulled) is audited and changes nothing; the flow may then be retried with a new authorization.".into(),
            request: Body::of(UnlockReport {
                flow_id: FLOW.into(),
                authorization_id: "au_8Jd3Lf5Nh7Pj9Rl1Tn3Vp5".into(),
                receipt: Some(UnlockReceipt {
                    outcome: "eyJhdXRob3JpemF0aW9uSWQiOiJhdV84SmQz...(base64url)".into(),
                    signature: "MEQCIF...(DER ECDSA, base64)".into(),
                    algorithm: ProofAlgorithm::ES256,
                }),
                error: None,
            }),
            response: Body::of(Acknowledged {}),
            errors: &["proof-rejected"],
        },
    ]
}

/// One example of every error, as the body says it.
pub fn error_examples() -> Vec<ApiError> {
    vec![
        ApiError::BadRequest {
            field: "answers[1].questionId".into(),
        },
        ApiError::ChallengeInvalid,
        ApiError::ProofRejected,
        ApiError::SelfServiceUnavailable,
        ApiError::FlowExpired,
        ApiError::OutOfOrder,
        ApiError::AnswersRejected {
            reason: ChoiceRejection::Answer {
                index: 1,
                reason: AnswerRejection::TooShort { min: 3 },
            },
        },
        ApiError::WrongAnswers { rounds_left: 2 },
        ApiError::SelfServiceLocked {
            ra_contact: "Contact your Registration Authority: ra@trust.nhs.uk, 0300 123 4567."
                .into(),
        },
        ApiError::EmailRejected {
            reason: EmailRejection::DomainNotApproved {
                approved: vec!["nhs.net".into(), "nhs.uk".into()],
            },
        },
        ApiError::CodeFormat {
            reason: CodeFormatRejection::WrongLength { digits: 6 },
        },
        ApiError::CodeInvalid { tries_left: 2 },
        ApiError::CodeExpired,
        ApiError::CodeSpent,
        ApiError::Throttled {
            retry_after_seconds: 60,
        },
        ApiError::Internal,
    ]
}

/// The error's `code`, as it travels.
pub fn code_of(error: &ApiError) -> String {
    to_value(error)
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn status_text(status: u16) -> &'static str {
    match status {
        400 => "The request or a value in it cannot be used",
        403 => "The card, or the person, may not do this",
        409 => "The step does not follow from where the flow is",
        410 => "The flow or the code is over: start again, or ask for a new code",
        413 => "The body is larger than 16 KiB",
        429 => "Too many requests: wait `retryAfterSeconds`",
        500 => "The portal failed",
        503 => "A step that must come first (an email) could not be done now: try again later",
        _ => "Error",
    }
}

/// The error responses of one endpoint, by status: each lists its codes with an example.
fn error_responses(codes: &[&str]) -> Map<String, Value> {
    let examples = error_examples();
    let mut by_status: std::collections::BTreeMap<u16, Vec<&ApiError>> = Default::default();
    for error in &examples {
        if codes.contains(&code_of(error).as_str()) {
            for status in error.statuses() {
                by_status.entry(*status).or_default().push(error);
            }
        }
    }
    let mut responses = Map::new();
    for (status, errors) in by_status {
        let mut named = Map::new();
        for error in &errors {
            let body = ApiErrorBody {
                error: ApiErrorDetail {
                    error: (*error).clone(),
                    message: "A sentence for the person, in English. Pages show their own text for each code.".into(),
                },
            };
            named.insert(code_of(error), json!({ "value": to_value(&body) }));
        }
        let listed: Vec<String> = errors.iter().map(|e| format!("`{}`", code_of(e))).collect();
        responses.insert(
            status.to_string(),
            json!({
                "description": format!("{}: {}.", status_text(status), listed.join(", ")),
                "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/ApiErrorBody" },
                    "examples": named,
                }},
            }),
        );
    }
    responses
}

const DESCRIPTION: &str = include_str!("openapi_description.md");

/// The whole document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| settings.definitions_path = "/components/schemas".into())
        .into_generator();
    let mut paths = Map::new();
    for endpoint in endpoints() {
        let mut codes: Vec<&str> = EVERY_ENDPOINT.to_vec();
        if endpoint.path != paths::CHALLENGES
            && endpoint.path != paths::REGISTRATION_START
            && endpoint.path != paths::UNLOCK_START
        {
            codes.extend(FLOW_STEP);
        }
        codes.extend(endpoint.errors);
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            json!({
                "description": "Done",
                "content": { "application/json": {
                    "schema": (endpoint.response.schema)(&mut generator),
                    "example": endpoint.response.example,
                }},
            }),
        );
        responses.extend(error_responses(&codes));
        paths.insert(
            endpoint.path.into(),
            json!({ "post": {
                "operationId": endpoint.operation_id,
                "tags": [endpoint.tag.name()],
                "summary": endpoint.summary,
                "description": endpoint.description,
                "requestBody": {
                    "required": true,
                    "content": { "application/json": {
                        "schema": (endpoint.request.schema)(&mut generator),
                        "example": endpoint.request.example,
                    }},
                },
                "responses": responses,
            }}),
        );
    }
    // The parts of the v2 protocol that travel inside other values: the signed payload, the
    // sealed box's content, and what the card signs for a receipt.
    generator.subschema_for::<UnblockAuthorization>();
    generator.subschema_for::<SealedBox>();
    generator.subschema_for::<UnlockSecrets>();
    generator.subschema_for::<PukCandidate>();
    generator.subschema_for::<ReceiptOutcome>();
    generator.subschema_for::<ApiErrorBody>();
    generator.subschema_for::<Secret>();
    let schemas = generator.take_definitions(true);
    let document = json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Smartcard Self-Service portal API",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "What a portal serves for the Smartcard Self-Service extension and host: registration and unlock of NHS smartcards.",
            "description": DESCRIPTION,
            "license": { "name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0" },
        },
        "servers": [{ "url": ORIGIN, "description": "The portal's own origin (each trust's)" }],
        "tags": [
            { "name": "challenges", "description": "Single-use nonces the card signs" },
            { "name": "registration", "description": "Register for self-service (the card unlocked, its passcode known)" },
            { "name": "unlock", "description": "Unlock a locked card and set a new passcode" },
        ],
        "paths": paths,
        "components": { "schemas": schemas },
    });
    sorted(document)
}

/// Keys in order, whatever serde_json's map keeps, so the committed file is stable.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The document as committed: pretty JSON with a final newline.
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_described_once() {
        let document = document();
        let described = document["paths"].as_object().map(Map::len);
        assert_eq!(described, Some(paths::ALL.len()));
        for (name, path) in paths::ALL {
            assert!(
                document["paths"][path]["post"]["operationId"].is_string(),
                "{name}"
            );
        }
    }

    #[test]
    fn every_error_code_has_an_example_and_a_status() {
        let document = document();
        let variants = document["components"]["schemas"]["ApiErrorDetail"]["oneOf"]
            .as_array()
            .map(Vec::len);
        assert_eq!(variants, Some(error_examples().len()));
        for error in error_examples() {
            assert!(!error.statuses().is_empty(), "{error:?}");
        }
    }

    #[test]
    fn the_example_questions_are_in_the_catalogue() {
        for answer in answers() {
            assert!(
                crate::questions::question(&answer.question_id).is_some(),
                "{}",
                answer.question_id
            );
        }
    }

    #[test]
    fn every_example_reads_back_as_its_type() {
        let document = document();
        let request = &document["paths"][paths::UNLOCK_RESULT]["post"]["requestBody"]["content"]
            ["application/json"]["example"];
        assert!(serde_json::from_value::<UnlockReport>(request.clone()).is_ok());
        for endpoint in endpoints() {
            assert!(endpoint.request.example.is_object(), "{}", endpoint.path);
            assert!(endpoint.response.example.is_object(), "{}", endpoint.path);
        }
    }
}
