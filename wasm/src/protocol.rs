//! The native-messaging protocol between the extension and the host (DESIGN 3.1): every
//! message type, the frame limits, and the request parser that both sides rely on.
//!
//! Envelope:
//! - host, first frame: `{"type":"hello","protocol":2,"version":"<semver>","capabilities":[...]}`
//! - request: `{"id":<u32>,"type":"<command>",...}`
//! - reply: `{"id":<same>,"result":{...}}` or `{"id":<same>,"error":{"code":"...","message":"...",...}}`
//! - event: `{"type":"event","event":"<name>",...}`

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

use crate::authorization::{SignedAuthorization, UnlockReceipt};
use crate::passcode::{CardPinConstraint, PasscodeRule};
use crate::proof::ProofPurpose;
use crate::secret::Secret;

/// Bumped on any incompatible change; the extension refuses a host that speaks another.
/// Version 2: unlock secrets sealed to the host, card-signed receipts, purpose-bound proofs.
pub const PROTOCOL_VERSION: u32 = 2;
/// Largest request the host reads. Our requests are small (the biggest carries a signed
/// authorization of well under 2 KiB); the length is checked before anything is allocated.
pub const MAX_REQUEST_BYTES: u32 = 16 * 1024;
/// The longest card wait a request may ask for.
pub const MAX_WAIT_FOR_CARD_MS: u32 = 120_000;
/// Browsers refuse a host frame of 1 MiB or more; the host never writes one.
pub const MAX_HOST_FRAME_BYTES: usize = 1024 * 1024 - 1;

// ---------------------------------------------------------------------------------------------
// Requests (extension -> host)

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusParams {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvePossessionParams {
    /// The reader holding the card; may be left out when exactly one card is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub reader: Option<String>,
    /// When no card is inserted, wait this long (at most 120000 ms) for one before failing
    /// with `no-card`; `cancel` ends the wait early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub wait_for_card_ms: Option<u32>,
    pub purpose: ProofPurpose,
    /// The portal origin the proof is bound to; the host accepts only configured origins.
    pub origin: String,
    /// The portal's single-use challenge, base64url.
    pub nonce: String,
    /// Required for `register`, refused for `unlock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub passcode: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnlockParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub reader: Option<String>,
    /// When no card is inserted, wait this long (at most 120000 ms) for one before failing
    /// with `no-card`; `cancel` ends the wait early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub wait_for_card_ms: Option<u32>,
    /// The portal origin that issued the authorization.
    pub origin: String,
    pub authorization: SignedAuthorization,
    pub new_passcode: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePasscodeParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub reader: Option<String>,
    /// When no card is inserted, wait this long (at most 120000 ms) for one before failing
    /// with `no-card`; `cancel` ends the wait early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub wait_for_card_ms: Option<u32>,
    pub old_passcode: Secret,
    pub new_passcode: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelParams {
    /// The `id` of the pending request to cancel.
    pub request: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuitParams {}

/// A command and its parameters; the `type` of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Command {
    Status(StatusParams),
    ProvePossession(ProvePossessionParams),
    Unlock(UnlockParams),
    ChangePasscode(ChangePasscodeParams),
    Cancel(CancelParams),
    Quit(QuitParams),
}

impl Command {
    /// This command's `type` on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Status(_) => "status",
            Command::ProvePossession(_) => "prove-possession",
            Command::Unlock(_) => "unlock",
            Command::ChangePasscode(_) => "change-passcode",
            Command::Cancel(_) => "cancel",
            Command::Quit(_) => "quit",
        }
    }

    /// Every command's `type`, as the hello lists them.
    pub const NAMES: [&'static str; 6] = [
        "status",
        "prove-possession",
        "unlock",
        "change-passcode",
        "cancel",
        "quit",
    ];
}

/// One request as the host receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    pub id: u32,
    #[serde(flatten)]
    pub command: Command,
}

/// A request the host could not accept: answered with a `bad-request` error naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BadRequest {
    /// The request's id when it could be read, so the reply can be matched.
    pub id: Option<u32>,
    /// The offending field (`id`, `type`, `passcode`, ...), or `$` for the frame as a whole.
    pub field: String,
    pub message: String,
}

impl BadRequest {
    fn new(id: Option<u32>, field: &str, message: impl Into<String>) -> BadRequest {
        BadRequest {
            id,
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// Parses one request frame's body. Unknown fields, wrong types, a missing or unknown `type`
/// and bodies that are not JSON objects each come back as a [`BadRequest`] naming the field.
///
/// The parsed tree is wiped before it is dropped, so passcodes copied into [`Secret`]s leave
/// no plain copy behind (the caller wipes the frame buffer itself).
pub fn parse_request(body: &[u8]) -> Result<Request, BadRequest> {
    let text = std::str::from_utf8(body)
        .map_err(|_| BadRequest::new(None, "$", "The message is not valid UTF-8."))?;
    let tree = WipedValue(
        serde_json::from_str::<serde_json::Value>(text).map_err(|e| {
            BadRequest::new(None, "$", format!("The message is not valid JSON: {e}."))
        })?,
    );
    let serde_json::Value::Object(fields) = &tree.0 else {
        return Err(BadRequest::new(
            None,
            "$",
            "The message must be a JSON object.",
        ));
    };
    let id = match fields.get("id") {
        None => return Err(BadRequest::new(None, "id", "The request has no id.")),
        Some(value) => value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                BadRequest::new(
                    None,
                    "id",
                    "The id must be a whole number from 0 to 4294967295.",
                )
            })?,
    };
    let kind = match fields.get("type") {
        None => {
            return Err(BadRequest::new(
                Some(id),
                "type",
                "The request has no type.",
            ))
        }
        Some(serde_json::Value::String(kind)) => kind.as_str(),
        Some(_) => {
            return Err(BadRequest::new(
                Some(id),
                "type",
                "The type must be a string.",
            ))
        }
    };
    let mut params = serde_json::Map::new();
    for (name, value) in fields {
        if name != "id" && name != "type" {
            params.insert(name.clone(), value.clone());
        }
    }
    let params = WipedValue(serde_json::Value::Object(params));
    // Each command's parameters are read on their own, not through the tagged enum: serde
    // buffers a tagged enum's content and would lose the path to a mistyped field.
    let command = match kind {
        "status" => Command::Status(read_params(id, &params.0)?),
        "prove-possession" => Command::ProvePossession(read_params(id, &params.0)?),
        "unlock" => Command::Unlock(read_params(id, &params.0)?),
        "change-passcode" => Command::ChangePasscode(read_params(id, &params.0)?),
        "cancel" => Command::Cancel(read_params(id, &params.0)?),
        "quit" => Command::Quit(read_params(id, &params.0)?),
        other => {
            return Err(BadRequest::new(
                Some(id),
                "type",
                format!(
                    "Unknown command '{other}'. Known commands: {}.",
                    Command::NAMES.join(", ")
                ),
            ))
        }
    };
    Ok(Request { id, command })
}

/// Reads any JSON body into `T` with the same typed, field-naming errors as requests (used by
/// the portal's API for its request bodies).
pub fn read_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, BadRequest> {
    let tree = WipedValue(
        serde_json::from_slice::<serde_json::Value>(body)
            .map_err(|e| BadRequest::new(None, "$", format!("The body is not valid JSON: {e}.")))?,
    );
    if !tree.0.is_object() {
        return Err(BadRequest::new(
            None,
            "$",
            "The body must be a JSON object.",
        ));
    }
    serde_path_to_error::deserialize::<_, T>(&tree.0).map_err(|e| {
        let field = field_of(&e);
        let inner = e.into_inner().to_string();
        BadRequest::new(None, &field, format!("Field '{field}': {inner}."))
    })
}

fn read_params<T: serde::de::DeserializeOwned>(
    id: u32,
    params: &serde_json::Value,
) -> Result<T, BadRequest> {
    serde_path_to_error::deserialize::<_, T>(params).map_err(|e| {
        let field = field_of(&e);
        let inner = e.into_inner().to_string();
        BadRequest::new(Some(id), &field, format!("Field '{field}': {inner}."))
    })
}

/// The field a serde error is about: its path, or for a missing field (which serde reports
/// against the enclosing object) that object's path and the field's name.
fn field_of(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = error.path().to_string();
    let message = error.inner().to_string();
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some((name, _)) = rest.split_once('`') {
            return if path == "." {
                name.to_string()
            } else {
                format!("{path}.{name}")
            };
        }
    }
    if path == "." {
        "$".to_string()
    } else {
        path
    }
}

/// A parsed JSON tree whose strings are overwritten when it is dropped.
struct WipedValue(serde_json::Value);

impl Drop for WipedValue {
    fn drop(&mut self) {
        fn wipe(value: &mut serde_json::Value) {
            match value {
                serde_json::Value::String(s) => s.zeroize(),
                serde_json::Value::Array(items) => items.iter_mut().for_each(wipe),
                serde_json::Value::Object(map) => map.values_mut().for_each(wipe),
                _ => {}
            }
        }
        wipe(&mut self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Host -> extension

/// The host's first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(tag = "type", rename = "hello", rename_all = "camelCase")]
pub struct Hello {
    pub protocol: u32,
    /// The host's semantic version.
    pub version: String,
    pub capabilities: Vec<String>,
}

/// A change the host noticed without being asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(
    tag = "event",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum HostEvent {
    /// The PC/SC service stopped or cannot be reached.
    ServiceUnavailable,
    /// The PC/SC service is back.
    ServiceAvailable,
    ReaderAdded {
        reader: String,
    },
    ReaderRemoved {
        reader: String,
    },
    CardInserted {
        reader: String,
    },
    CardRemoved {
        reader: String,
    },
}

/// (Its TypeScript type, `HostEvent & { type: "event" }`, is declared in `wasm_api`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "event")]
pub struct EventMessage {
    #[serde(flatten)]
    pub event: HostEvent,
}

/// What the extension can do about a failure; `code` is kebab-case on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(
    tag = "code",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum HostError {
    /// No PC/SC service (pcscd stopped, Smart Card service disabled).
    ServiceUnavailable,
    NoReader,
    NoCard,
    /// More than one card is inserted and the request named no reader.
    MultipleCards,
    /// The card was removed during the operation. `state` says what the card holds now.
    CardRemoved {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(target_arch = "wasm32", tsify(optional))]
        state: Option<UnlockState>,
    },
    /// Not a card this host can work with (not PIV, or no certificate for the key needed).
    UnsupportedCard,
    /// A try was spent. `retriesLeft` is absent when the card did not say (`6300`) and
    /// could not be asked.
    WrongPasscode {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(target_arch = "wasm32", tsify(optional))]
        retries_left: Option<u8>,
    },
    PasscodeBlocked,
    /// The new passcode breaks the effective rule; `rule` is that rule.
    PolicyViolation {
        rule: PasscodeRule,
    },
    /// The unblock authorization was refused (bad signature, other card, expired, not for
    /// this host session).
    AuthorizationRejected {
        reason: String,
    },
    /// The authorization is in a format this host no longer accepts (version 1 carried the
    /// card's secrets in clear): the portal must be updated.
    AuthorizationOutdated {
        version: u32,
    },
    /// This computer's record of unlock attempts cannot be read, so the host will not risk a
    /// PUK try on a guess; IT can look at the file `doctor` names.
    UnlockRecordUnreadable,
    /// The card's PUK is blocked: only the Registration Authority can unlock it now.
    UnlockKeyBlocked,
    /// The origin is not one of the configured portal origins.
    OriginNotAllowed {
        origin: String,
    },
    /// Another operation is using the card.
    Busy,
    Timeout,
    Cancelled,
    BadRequest {
        field: String,
    },
    Internal,
}

/// An error reply's body: the code with its data, and a sentence for people.
/// (Its TypeScript type, `HostError & { message: string }`, is declared in `wasm_api`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(flatten)]
    pub error: HostError,
    pub message: String,
}

/// `result` or `error`, never both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Result(serde_json::Value),
    Error(ErrorBody),
}

/// The one reply to a request. `id` is null only for a frame so broken that its id could not
/// be read (for example, over the size cap).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub id: Option<u32>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Any frame the host writes. Used by tests and tools that read the host's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HostMessage {
    Hello(Hello),
    Event(EventMessage),
    Reply(Reply),
}

// ---------------------------------------------------------------------------------------------
// Results

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum ServiceState {
    Running,
    Unavailable,
}

/// Read without spending a try (VERIFY with no data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(
    tag = "state",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum PasscodeState {
    Usable { retries_left: u8 },
    Blocked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum CardProfile {
    Piv,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase")]
pub struct CardStatus {
    pub profile: CardProfile,
    /// What the card is, from the host's known cards or pcsc-tools' list of ATRs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub card_name: Option<String>,
    /// The CHUID GUID, 32 lower-case hex digits.
    pub guid: String,
    /// Readable only after the passcode on PIV; otherwise from the certificate subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub holder_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub certificate_subject: Option<String>,
    /// The card's expiry date, YYYY-MM-DD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub expiry: Option<String>,
    /// Where `expiry` came from: the CHUID, or (when the CHUID has none or a placeholder
    /// such as 99991231) the card authentication certificate's notAfter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub expiry_source: Option<ExpirySource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub days_left: Option<i64>,
    pub passcode: PasscodeState,
    pub pin_constraint: CardPinConstraint,
    /// Where `pinConstraint` came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub pin_rule_source: Option<PinRuleSource>,
    /// The effective passcode rule for this card in this organisation.
    pub passcode_rule: PasscodeRule,
}

/// Where a card's passcode rule came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum PinRuleSource {
    /// The machine configuration's `cardPinRule`, set by IT.
    Configuration,
    /// A card generation the host knows by its ATR.
    KnownCard,
    /// Not known: the PIV specification's rule (6 to 8 digits).
    PivDefault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum ExpirySource {
    Chuid,
    Certificate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase")]
pub struct ReaderStatus {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub card: Option<CardStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase")]
pub struct StatusResult {
    pub service: ServiceState,
    pub readers: Vec<ReaderStatus>,
}

/// Where an unblock transaction left the card, for the person (what to do next). The portal
/// does not act on it: only a card-signed [`UnlockReceipt`] moves its PUK record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase")]
pub struct UnlockState {
    /// The PIN is no longer blocked.
    pub unblocked: bool,
    /// The PIN is the user's new passcode.
    pub passcode_set: bool,
    /// The card holds the fresh PUK from the authorization.
    pub puk_rotated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase")]
pub struct UnlockResult {
    pub state: UnlockState,
    pub passcode: PasscodeState,
    /// For the portal: signed by the card, so the page can carry it but not make one up.
    pub receipt: UnlockReceipt,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase")]
pub struct ChangePasscodeResult {
    pub passcode: PasscodeState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase")]
pub struct CancelResult {
    /// False when the request had already finished.
    pub cancelled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(body: &str) -> BadRequest {
        parse_request(body.as_bytes()).expect_err("should be refused")
    }

    #[test]
    fn a_status_request_parses() {
        let request = parse_request(br#"{"id":7,"type":"status"}"#).expect("ok");
        assert_eq!(request.id, 7);
        assert_eq!(request.command, Command::Status(StatusParams {}));
    }

    #[test]
    fn a_register_proof_request_carries_its_passcode_as_a_secret() {
        let request = parse_request(
            br#"{"id":1,"type":"prove-possession","purpose":"register","origin":"https://portal.example","nonce":"abc","passcode":"123456"}"#,
        )
        .expect("ok");
        let Command::ProvePossession(params) = request.command else {
            panic!("wrong command");
        };
        assert_eq!(params.passcode.as_ref().map(Secret::expose), Some("123456"));
        assert!(!format!("{params:?}").contains("123456"));
    }

    #[test]
    fn frames_that_are_not_json_objects_are_refused_as_a_whole() {
        assert_eq!(bad("[1,2]").field, "$");
        assert_eq!(bad("\"status\"").field, "$");
        assert_eq!(bad("{\"id\":1,").field, "$");
        assert_eq!(
            parse_request(&[0xff, 0xfe]).expect_err("refused").field,
            "$"
        );
    }

    #[test]
    fn id_and_type_problems_name_their_field() {
        assert_eq!(bad(r#"{"type":"status"}"#).field, "id");
        assert_eq!(bad(r#"{"id":-1,"type":"status"}"#).field, "id");
        assert_eq!(bad(r#"{"id":"7","type":"status"}"#).field, "id");
        assert_eq!(bad(r#"{"id":4294967296,"type":"status"}"#).field, "id");
        let missing = bad(r#"{"id":3}"#);
        assert_eq!((missing.id, missing.field.as_str()), (Some(3), "type"));
        let unknown = bad(r#"{"id":4,"type":"transmit-apdu"}"#);
        assert_eq!((unknown.id, unknown.field.as_str()), (Some(4), "type"));
        assert!(unknown.message.contains("transmit-apdu"));
        assert_eq!(bad(r#"{"id":4,"type":5}"#).field, "type");
    }

    #[test]
    fn unknown_missing_and_mistyped_fields_are_named() {
        assert_eq!(
            bad(r#"{"id":1,"type":"status","apdu":"00a4"}"#).field,
            "apdu"
        );
        assert_eq!(bad(r#"{"id":1,"type":"cancel"}"#).field, "request");
        assert_eq!(
            bad(r#"{"id":1,"type":"cancel","request":"x"}"#).field,
            "request"
        );
        assert_eq!(
            bad(r#"{"id":1,"type":"prove-possession","purpose":"sign","origin":"o","nonce":"n"}"#)
                .field,
            "purpose"
        );
        let nested = bad(
            r#"{"id":1,"type":"unlock","origin":"o","newPasscode":"1","authorization":{"payload":"p","signature":"s","extra":1}}"#,
        );
        assert_eq!(nested.field, "authorization.extra");
        assert_eq!(nested.id, Some(1));
    }

    #[test]
    fn replies_events_and_hello_have_the_documented_shape() {
        let hello = HostMessage::Hello(Hello {
            protocol: PROTOCOL_VERSION,
            version: "0.1.0".into(),
            capabilities: vec!["status".into()],
        });
        assert_eq!(
            serde_json::to_string(&hello).expect("json"),
            r#"{"type":"hello","protocol":2,"version":"0.1.0","capabilities":["status"]}"#
        );
        let event = HostMessage::Event(EventMessage {
            event: HostEvent::CardInserted {
                reader: "R 00".into(),
            },
        });
        assert_eq!(
            serde_json::to_string(&event).expect("json"),
            r#"{"type":"event","event":"card-inserted","reader":"R 00"}"#
        );
        let error = HostMessage::Reply(Reply {
            id: Some(9),
            outcome: Outcome::Error(ErrorBody {
                error: HostError::WrongPasscode {
                    retries_left: Some(2),
                },
                message: "Wrong passcode.".into(),
            }),
        });
        let text = serde_json::to_string(&error).expect("json");
        assert_eq!(
            text,
            r#"{"id":9,"error":{"code":"wrong-passcode","retriesLeft":2,"message":"Wrong passcode."}}"#
        );
        // And every shape reads back as what it was.
        for message in [hello, event, error] {
            let text = serde_json::to_string(&message).expect("json");
            assert_eq!(
                serde_json::from_str::<HostMessage>(&text).expect("parse"),
                message
            );
        }
        let ok = r#"{"id":2,"result":{"cancelled":true}}"#;
        assert!(matches!(
            serde_json::from_str::<HostMessage>(ok).expect("parse"),
            HostMessage::Reply(Reply {
                id: Some(2),
                outcome: Outcome::Result(_)
            })
        ));
    }
}
